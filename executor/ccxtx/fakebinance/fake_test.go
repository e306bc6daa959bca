package fakebinance

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	testKey    = "fake-key-0123456789"
	testSecret = "fake-secret-9876543210"
)

type client struct {
	t    *testing.T
	base string
	key  string
	sec  string
	now  func() time.Time
}

func newFake(t *testing.T, opts Options) (*Server, *client) {
	t.Helper()
	if opts.APIKey == "" {
		opts.APIKey, opts.Secret = testKey, testSecret
	}
	if opts.HangLimit == 0 {
		opts.HangLimit = 200 * time.Millisecond
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	return s, &client{t: t, base: ts.URL, key: testKey, sec: testSecret, now: time.Now}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	list   []any
	err    error
}

func (r reply) code() int {
	if r.body == nil {
		return 0
	}
	n, _ := r.body["code"].(float64)
	return int(n)
}

// do sends one request, signed when signed is true, the way ccxt does:
// params urlencoded, then &signature=hex(hmac_sha256(secret, params)).
func (c *client) do(method, path string, p url.Values, signed bool) reply {
	c.t.Helper()
	if p == nil {
		p = url.Values{}
	}
	q := p.Encode()
	if signed {
		p.Set("timestamp", strconv.FormatInt(c.now().UnixMilli(), 10))
		q = p.Encode()
		m := hmac.New(sha256.New, []byte(c.sec))
		m.Write([]byte(q))
		q += "&signature=" + hex.EncodeToString(m.Sum(nil))
	}
	var body io.Reader
	u := c.base + path
	if method == http.MethodPost {
		body = strings.NewReader(q)
	} else if q != "" {
		u += "?" + q
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if signed {
		req.Header.Set("X-MBX-APIKEY", c.key)
	}
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header}
	if len(b) > 0 && b[0] == '[' {
		_ = json.Unmarshal(b, &r.list)
	} else {
		_ = json.Unmarshal(b, &r.body)
	}
	return r
}

func orderParams(cid, side, typ, qty, price string) url.Values {
	p := url.Values{"symbol": {"BTCUSDT"}, "side": {side}, "type": {typ}, "quantity": {qty}, "newClientOrderId": {cid}, "newOrderRespType": {"FULL"}}
	if price != "" {
		p.Set("price", price)
		p.Set("timeInForce", "GTC")
	}
	return p
}

func TestSigning(t *testing.T) {
	_, c := newFake(t, Options{})
	if r := c.do("GET", "/api/v3/account", nil, true); r.status != 200 {
		t.Fatalf("signed account: status %d body %v; want 200", r.status, r.body)
	}
	bad := *c
	bad.key = "other"
	if r := bad.do("GET", "/api/v3/account", nil, true); r.status != 401 || r.code() != -2015 {
		t.Errorf("wrong key: %d %v; want 401 -2015", r.status, r.body)
	}
	bad = *c
	bad.sec = "other"
	if r := bad.do("GET", "/api/v3/account", nil, true); r.code() != -1022 {
		t.Errorf("wrong secret: %v; want -1022", r.body)
	}
	stale := *c
	stale.now = func() time.Time { return time.Now().Add(-time.Minute) }
	if r := stale.do("GET", "/api/v3/account", nil, true); r.code() != -1021 {
		t.Errorf("stale timestamp: %v; want -1021", r.body)
	}
	ahead := *c
	ahead.now = func() time.Time { return time.Now().Add(3 * time.Second) }
	if r := ahead.do("GET", "/api/v3/account", nil, true); r.code() != -1021 {
		t.Errorf("timestamp ahead: %v; want -1021", r.body)
	}
	if r := c.do("GET", "/api/v3/account", nil, false); r.code() != -2015 {
		t.Errorf("unsigned account: %v; want -2015", r.body)
	}
	if r := c.do("GET", "/api/v3/ticker/24hr", url.Values{"symbol": {"BTCUSDT"}}, false); r.status != 200 || r.body["lastPrice"] != "73369.84000000" {
		t.Errorf("public ticker: %d %v", r.status, r.body)
	}
}

func TestOrderLifecycle(t *testing.T) {
	s, c := newFake(t, Options{})
	// resting buy below the ask
	r := c.do("POST", "/api/v3/order", orderParams("w-1", "BUY", "LIMIT", "0.01000", "70000.00"), true)
	if r.status != 200 || r.body["status"] != "NEW" || r.body["clientOrderId"] != "w-1" {
		t.Fatalf("place: %d %v", r.status, r.body)
	}
	if free, locked := s.Balance("USDT"); !locked.Equal(dec("700")) || !free.Equal(dec("99300")) {
		t.Errorf("USDT after place = %s free %s locked; want 99300 / 700", free, locked)
	}
	if r := c.do("POST", "/api/v3/order", orderParams("w-1", "BUY", "LIMIT", "0.01000", "70000.00"), true); r.code() != -2010 || r.body["msg"] != MsgDuplicate {
		t.Errorf("duplicate open client id: %v; want -2010 %q", r.body, MsgDuplicate)
	}
	q := url.Values{"symbol": {"BTCUSDT"}, "origClientOrderId": {"w-1"}}
	if r := c.do("GET", "/api/v3/order", q, true); r.body["status"] != "NEW" {
		t.Errorf("query: %v", r.body)
	}
	if r := c.do("GET", "/api/v3/openOrders", nil, true); len(r.list) != 1 {
		t.Errorf("openOrders = %d orders; want 1", len(r.list))
	}
	if r := c.do("DELETE", "/api/v3/order", q, true); r.body["status"] != "CANCELED" || r.body["origClientOrderId"] != "w-1" {
		t.Errorf("cancel: %v", r.body)
	}
	if free, locked := s.Balance("USDT"); !locked.IsZero() || !free.Equal(dec("100000")) {
		t.Errorf("USDT after cancel = %s / %s; want 100000 / 0", free, locked)
	}
	if r := c.do("DELETE", "/api/v3/order", q, true); r.code() != -2011 {
		t.Errorf("second cancel: %v; want -2011", r.body)
	}
	if r := c.do("GET", "/api/v3/order", url.Values{"symbol": {"BTCUSDT"}, "origClientOrderId": {"nope"}}, true); r.code() != -2013 || r.body["msg"] != MsgNoSuchOrder {
		t.Errorf("unknown order: %v; want -2013", r.body)
	}
	// like Binance, a finished order's client id can be used again: the
	// fake counts it as a duplicate placement
	r = c.do("POST", "/api/v3/order", orderParams("w-1", "BUY", "LIMIT", "0.01000", "80000.00"), true)
	if r.body["status"] != "FILLED" || len(r.body["fills"].([]any)) != 1 {
		t.Fatalf("marketable buy: %v", r.body)
	}
	if got := s.Placements("w-1"); got != 2 {
		t.Errorf("Placements(w-1) = %d; want 2", got)
	}
	if d := s.Duplicates(); d["w-1"] != 2 {
		t.Errorf("Duplicates() = %v; want w-1:2", d)
	}
	if free, _ := s.Balance("BTC"); !free.Equal(dec("1.00999")) { // 1 + 0.01 - 0.1 % fee
		t.Errorf("BTC after fill = %s; want 1.00999", free)
	}
	if r := c.do("GET", "/api/v3/myTrades", url.Values{"symbol": {"BTCUSDT"}}, true); len(r.list) != 1 {
		t.Errorf("myTrades = %v; want 1 trade", r.list)
	}
}

func TestRejections(t *testing.T) {
	_, c := newFake(t, Options{Balances: map[string]string{"USDT": "100"}})
	for _, tc := range []struct {
		name string
		p    url.Values
		code int
		msg  string
	}{
		{"lot size", orderParams("a", "BUY", "LIMIT", "0.000015", "70000.00"), -1013, "Filter failure: LOT_SIZE"},
		{"price filter", orderParams("b", "BUY", "LIMIT", "0.001", "70000.005"), -1013, "Filter failure: PRICE_FILTER"},
		{"notional", orderParams("c", "BUY", "LIMIT", "0.00001", "70000.00"), -1013, "Filter failure: NOTIONAL"},
		{"insufficient", orderParams("d", "BUY", "LIMIT", "0.01", "70000.00"), -2010, MsgInsufficient},
		{"sell without base", orderParams("e", "SELL", "LIMIT", "0.01", "80000.00"), -2010, MsgInsufficient},
		{"bad symbol", url.Values{"symbol": {"NOPE"}, "side": {"BUY"}, "type": {"LIMIT"}, "quantity": {"1"}, "price": {"1"}, "timeInForce": {"GTC"}}, -1121, MsgInvalidSymbol},
		{"long client id", orderParams(strings.Repeat("x", 37), "BUY", "LIMIT", "0.001", "70000.00"), -1100, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("POST", "/api/v3/order", tc.p, true)
			if r.status != 400 || r.code() != tc.code || (tc.msg != "" && r.body["msg"] != tc.msg) {
				t.Errorf("place = %d %v; want 400 %d %q", r.status, r.body, tc.code, tc.msg)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		kind    FaultKind
		status  int
		code    int
		placed  bool
		dropped bool
	}{
		{FaultUnavailable, 503, -1007, false, false},
		{FaultAcceptUnavailable, 503, -1007, true, false},
		{FaultRateLimit, 429, -1003, false, false},
		{FaultBan, 418, -1003, false, false},
		{FaultTimestamp, 400, -1021, false, false},
		{FaultInsufficient, 400, -2010, false, false},
		{FaultFilter, 400, -1013, false, false},
		{FaultHang, 503, -1007, false, false},
		{FaultDrop, 0, 0, false, true},
		{FaultAcceptDrop, 0, 0, true, true},
		{FaultAcceptHang, 200, 0, true, false},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			s, c := newFake(t, Options{})
			if err := s.Inject(Fault{Method: "POST", Path: "/api/v3/order", Kind: tc.kind, RetryAfter: 3 * time.Second}); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r := c.do("POST", "/api/v3/order", orderParams("f-1", "BUY", "LIMIT", "0.001", "70000.00"), true)
			if tc.dropped {
				if r.err == nil {
					t.Errorf("dropped connection: got reply %d %v; want a transport error", r.status, r.body)
				}
			} else if r.status != tc.status || r.code() != tc.code {
				t.Errorf("reply = %d %v (err %v); want %d %d", r.status, r.body, r.err, tc.status, tc.code)
			}
			if tc.kind == FaultRateLimit || tc.kind == FaultBan {
				if got := r.header.Get("Retry-After"); got != "3" {
					t.Errorf("Retry-After = %q; want 3", got)
				}
			}
			if tc.kind == FaultHang || tc.kind == FaultAcceptHang {
				if el := time.Since(start); el < 150*time.Millisecond || el > 2*time.Second {
					t.Errorf("hang took %v; want about the 200 ms limit", el)
				}
			}
			if got, want := s.Placements("f-1"), map[bool]int{true: 1}[tc.placed]; got != want {
				t.Errorf("Placements = %d; want %d", got, want)
			}
			if s.FaultsServed()[tc.kind] != 1 {
				t.Errorf("FaultsServed = %v; want %s:1", s.FaultsServed(), tc.kind)
			}
			// the fault is spent: the next request is normal
			if r := c.do("GET", "/api/v3/openOrders", nil, true); r.status != 200 {
				t.Errorf("after fault: %d %v", r.status, r.body)
			}
		})
	}
}

func TestPartialFillsOverPolls(t *testing.T) {
	s, c := newFake(t, Options{})
	if err := s.Inject(Fault{Method: "POST", Path: "/api/v3/order", Kind: FaultPartialFills, Polls: 3}); err != nil {
		t.Fatal(err)
	}
	r := c.do("POST", "/api/v3/order", orderParams("p-1", "BUY", "LIMIT", "0.00300", "80000.00"), true)
	if r.body["status"] != "NEW" {
		t.Fatalf("place: %v; want NEW (fills come with polls)", r.body)
	}
	q := url.Values{"symbol": {"BTCUSDT"}, "origClientOrderId": {"p-1"}}
	want := []struct{ status, exec string }{
		{"PARTIALLY_FILLED", "0.00100000"}, {"PARTIALLY_FILLED", "0.00200000"}, {"FILLED", "0.00300000"}, {"FILLED", "0.00300000"},
	}
	for i, w := range want {
		r := c.do("GET", "/api/v3/order", q, true)
		if r.body["status"] != w.status || r.body["executedQty"] != w.exec {
			t.Errorf("poll %d = %v %v; want %s %s", i+1, r.body["status"], r.body["executedQty"], w.status, w.exec)
		}
	}
}

func TestLateVisible(t *testing.T) {
	s, c := newFake(t, Options{})
	if err := s.Inject(Fault{Method: "POST", Path: "/api/v3/order", Kind: FaultLateVisible, Polls: 2}); err != nil {
		t.Fatal(err)
	}
	r := c.do("POST", "/api/v3/order", orderParams("l-1", "BUY", "LIMIT", "0.001", "70000.00"), true)
	if r.status != 200 { // the reply came after the hang
		t.Fatalf("place: %d %v", r.status, r.body)
	}
	q := url.Values{"symbol": {"BTCUSDT"}, "origClientOrderId": {"l-1"}}
	for i, want := range []int{-2013, -2013, 0} {
		if got := c.do("GET", "/api/v3/order", q, true).code(); got != want {
			t.Errorf("lookup %d code = %d; want %d", i+1, got, want)
		}
	}
}

func TestHangEndsOnClose(t *testing.T) {
	s, c := newFake(t, Options{HangLimit: time.Minute})
	if err := s.Inject(Fault{Path: "/api/v3/time", Kind: FaultHang}); err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(100 * time.Millisecond); s.Close() }()
	start := time.Now()
	c.do("GET", "/api/v3/time", nil, false)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("hang lasted %v after Close", el)
	}
}

func TestInjectValidates(t *testing.T) {
	s, _ := newFake(t, Options{})
	for _, f := range []Fault{{Kind: FaultHang}, {Path: "/x", Kind: 99}, {Path: "/api/v3/order", Method: "GET", Kind: FaultPartialFills}} {
		if err := s.Inject(f); err == nil {
			t.Errorf("Inject(%+v) = nil; want an error", f)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without credentials = nil error; want one")
	}
	if _, err := New(Options{APIKey: "k", Secret: "s", Balances: map[string]string{"USDT": "-1"}}); err == nil {
		t.Error("New with negative balance = nil error; want one")
	}
}

func TestMarketOrderFaults(t *testing.T) {
	s, c := newFake(t, Options{})
	if err := s.Inject(Fault{Method: "POST", Path: "/api/v3/order", Kind: FaultPartialFills, Polls: 2}); err != nil {
		t.Fatal(err)
	}
	if r := c.do("POST", "/api/v3/order", orderParams("m-1", "BUY", "MARKET", "0.002", ""), true); r.body["status"] != "NEW" {
		t.Fatalf("market with partial fills: %v; want NEW", r.body)
	}
	q := url.Values{"symbol": {"BTCUSDT"}, "origClientOrderId": {"m-1"}}
	c.do("GET", "/api/v3/order", q, true)
	r := c.do("GET", "/api/v3/order", q, true)
	if r.body["status"] != "FILLED" || r.body["cummulativeQuoteQty"] != "146.73968000" {
		t.Errorf("market after 2 polls: %v %v; want FILLED at the ask (146.73968)", r.body["status"], r.body["cummulativeQuoteQty"])
	}
	// a late-visible market order executes at once; only the lookup lags
	if err := s.Inject(Fault{Method: "POST", Path: "/api/v3/order", Kind: FaultLateVisible, Polls: 1}); err != nil {
		t.Fatal(err)
	}
	c.do("POST", "/api/v3/order", orderParams("m-2", "BUY", "MARKET", "0.001", ""), true)
	q.Set("origClientOrderId", "m-2")
	if got := c.do("GET", "/api/v3/order", q, true).code(); got != -2013 {
		t.Errorf("first lookup code = %d; want -2013", got)
	}
	if r := c.do("GET", "/api/v3/order", q, true); r.body["status"] != "FILLED" {
		t.Errorf("second lookup = %v; want FILLED", r.body)
	}
	if free, locked := s.Balance("USDT"); !locked.IsZero() || free.GreaterThanOrEqual(dec("100000")) {
		t.Errorf("USDT = %s free %s locked; want spent, nothing locked", free, locked)
	}
}
