// Package fakebinance is a fake Binance spot REST server for tests. It is a
// plain net/http.Handler (tests wrap it with httptest.NewServer) that answers
// in Binance's wire format, from samples recorded from the real exchange
// (testdata/SOURCES.md), so that ccxt's real Binance class can be pointed at
// it: requests are really signed and verified, responses really parsed.
//
// It keeps honest state (balances, orders, trades) and can inject the faults
// that make exchanges dangerous to trade on: 5xx with unknown execution
// status, 429 and 418 with Retry-After, -1021 timestamp refusals, -2010 and
// -1013 rejections, hangs, an order accepted and then the connection dropped
// or the reply never sent, partial fills over several polls, and an order that
// only becomes visible some lookups after it was accepted. It counts the
// orders accepted per client order id, so a test can assert that nothing was
// placed twice.
//
// Like the real exchange, a client order id is unique only among open orders:
// once an order is filled or cancelled, sending its client id again places a
// new order. That is exactly the duplicate a careless retry causes.
package fakebinance

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

//go:embed testdata/*.json
var wire embed.FS

// Binance's error texts, verbatim (see testdata/SOURCES.md).
const (
	MsgUnknownStatus  = "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
	MsgInsufficient   = "Account has insufficient balance for requested action."
	MsgDuplicate      = "Duplicate order sent."
	MsgNoSuchOrder    = "Order does not exist."
	MsgUnknownOrder   = "Unknown order sent."
	MsgInvalidKey     = "Invalid API-key, IP, or permissions for action."
	MsgBadSignature   = "Signature for this request is not valid."
	MsgTimestampAhead = "Timestamp for this request was 1000ms ahead of the server's time."
	MsgRecvWindow     = "Timestamp for this request is outside of the recvWindow."
	MsgInvalidSymbol  = "Invalid symbol."
	// MsgMaintenance is Binance's answer (HTTP 503, -1016) to a request
	// it does not serve during system maintenance.
	MsgMaintenance = "This service is no longer available."
	MsgWouldTake   = "Order would immediately match and take."
	MsgRateLimited = "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."
)

// Options configures a Server.
type Options struct {
	// APIKey and Secret are the only credentials the server accepts; every
	// signed request must carry APIKey in X-MBX-APIKEY and an HMAC-SHA256
	// signature made with Secret.
	APIKey string
	Secret string
	// Clock is the server's time (timestamps, recvWindow). Default time.Now.
	Clock func() time.Time
	// Balances are the free balances at start, e.g. {"USDT": "100000"}.
	// Default: 100000 USDT, 1 BTC, 10 ETH.
	Balances map[string]string
	// HangLimit bounds every injected hang; default 1 s. A hang also ends
	// when the request's context ends or Close is called.
	HangLimit time.Duration
	// Restrictions is what GET /sapi/v1/account/apiRestrictions answers.
	// Default: reading and spot trading enabled, withdrawals disabled.
	Restrictions *Restrictions
	// FeeRate is the commission on every fill, charged in the asset
	// received. Default 0.001.
	FeeRate decimal.Decimal
}

// Restrictions are an API key's permissions as Binance reports them.
type Restrictions struct {
	IPRestrict                 bool
	EnableReading              bool
	EnableSpotAndMarginTrading bool
	EnableWithdrawals          bool
	EnableInternalTransfer     bool
	EnableMargin               bool
	EnableFutures              bool
	CreateTime                 time.Time
}

// Request is one request the server received, without headers.
type Request struct {
	Method string
	Path   string
	Params url.Values // signature removed
	Signed bool
}

// Order is a snapshot of one order on the fake exchange.
type Order struct {
	Symbol        string
	OrderID       int64
	ClientOrderID string
	Side          string // BUY, SELL
	Type          string // LIMIT, MARKET, STOP_LOSS_LIMIT, LIMIT_MAKER
	Status        string // NEW, PARTIALLY_FILLED, FILLED, CANCELED
	Price         decimal.Decimal
	StopPrice     decimal.Decimal
	OrigQty       decimal.Decimal
	ExecutedQty   decimal.Decimal
	CumQuote      decimal.Decimal
	Time          time.Time
}

// Open reports whether the order can still fill.
func (o Order) Open() bool { return o.Status == "NEW" || o.Status == "PARTIALLY_FILLED" }

type order struct {
	Order
	updated   time.Time
	triggered bool
	// fault-driven behaviour
	pollsLeft  int // partial fills: each poll (GET order or open orders) advances the fill
	pollsTotal int
	hidden     int             // GET answers -2013 this many more times
	fillPx     decimal.Decimal // where a market order fills
}

type trade struct {
	ID         int64
	OrderID    int64
	Symbol     string
	Price      decimal.Decimal
	Qty        decimal.Decimal
	Commission decimal.Decimal
	CommAsset  string
	Time       time.Time
	IsBuyer    bool
	IsMaker    bool
}

type balance struct{ free, locked decimal.Decimal }

type symbolInfo struct {
	Symbol, Base, Quote string
	MinPrice, MaxPrice  decimal.Decimal
	TickSize            decimal.Decimal
	MinQty, MaxQty      decimal.Decimal
	StepSize            decimal.Decimal
	MinNotional         decimal.Decimal
}

type book struct {
	bid, ask, last decimal.Decimal
	ticker         map[string]any // the recorded 24 h ticker this book started from
}

// Server is the fake exchange. Use New; it is safe for concurrent use.
type Server struct {
	apiKey, secret string
	clock          func() time.Time
	hangLimit      time.Duration
	feeRate        decimal.Decimal

	exchangeInfo map[string]any
	account      map[string]any
	klines       []any
	depth        map[string]any
	symbols      map[string]*symbolInfo

	closeOnce sync.Once
	closed    chan struct{}

	mu           sync.Mutex
	restrictions Restrictions
	books        map[string]*book
	balances     map[string]*balance
	orders       []*order // in placement order
	trades       []trade
	nextOrderID  int64
	nextTradeID  int64
	placements   map[string]int // accepted orders per client order id
	submits      map[string]int // POST /api/v3/order attempts per client order id
	faults       []*Fault
	faultsServed map[FaultKind]int
	// maintenance (SetMaintenance): /sapi/v1/system/status says so and
	// orders are refused 503 -1016; market data is still served.
	maintenance bool
	// symbolStatus overrides exchangeInfo's status of a symbol
	// (SetSymbolStatus).
	symbolStatus map[string]string
	// thinBook makes a symbol's depth thin (SetThinBook).
	thinBook  map[string]bool
	requests  []Request
	unhandled []string
}

// New builds a Server from the embedded wire samples.
func New(opts Options) (*Server, error) {
	if opts.APIKey == "" || opts.Secret == "" {
		return nil, errors.New("fakebinance: APIKey and Secret are required")
	}
	s := &Server{
		apiKey:       opts.APIKey,
		secret:       opts.Secret,
		clock:        opts.Clock,
		hangLimit:    opts.HangLimit,
		feeRate:      opts.FeeRate,
		closed:       make(chan struct{}),
		books:        map[string]*book{},
		balances:     map[string]*balance{},
		symbols:      map[string]*symbolInfo{},
		placements:   map[string]int{},
		submits:      map[string]int{},
		faultsServed: map[FaultKind]int{},
		nextOrderID:  9780331417, // the recorded SOLUSDT order's id
		nextTradeID:  309520010,
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.hangLimit <= 0 {
		s.hangLimit = time.Second
	}
	if s.feeRate.IsZero() {
		s.feeRate = decimal.RequireFromString("0.001")
	}
	if opts.Restrictions != nil {
		s.restrictions = *opts.Restrictions
	} else {
		s.restrictions = Restrictions{EnableReading: true, EnableSpotAndMarginTrading: true, CreateTime: s.clock().AddDate(0, 0, -30)}
	}
	bal := opts.Balances
	if bal == nil {
		bal = map[string]string{"USDT": "100000", "BTC": "1", "ETH": "10"}
	}
	for asset, v := range bal {
		d, err := decimal.NewFromString(v)
		if err != nil || d.IsNegative() {
			return nil, fmt.Errorf("fakebinance: balance %s = %q: not a non-negative decimal", asset, v)
		}
		s.balances[asset] = &balance{free: d}
	}
	if err := s.loadWire(); err != nil {
		return nil, err
	}
	return s, nil
}

func readJSON(name string, v any) error {
	b, err := wire.ReadFile("testdata/" + name)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("fakebinance: %s: %w", name, err)
	}
	return nil
}

func (s *Server) loadWire() error {
	if err := readJSON("exchangeInfo.json", &s.exchangeInfo); err != nil {
		return err
	}
	if err := readJSON("account_spot.json", &s.account); err != nil {
		return err
	}
	if err := readJSON("klines_BTCUSDT_1h_3.json", &s.klines); err != nil {
		return err
	}
	if err := readJSON("depth_BTCUSDT_limit2.json", &s.depth); err != nil {
		return err
	}
	syms, _ := s.exchangeInfo["symbols"].([]any)
	for _, raw := range syms {
		m, _ := raw.(map[string]any)
		si := &symbolInfo{Symbol: str(m["symbol"]), Base: str(m["baseAsset"]), Quote: str(m["quoteAsset"])}
		filters, _ := m["filters"].([]any)
		for _, fr := range filters {
			f, _ := fr.(map[string]any)
			switch str(f["filterType"]) {
			case "PRICE_FILTER":
				si.MinPrice, si.MaxPrice, si.TickSize = dec(f["minPrice"]), dec(f["maxPrice"]), dec(f["tickSize"])
			case "LOT_SIZE":
				si.MinQty, si.MaxQty, si.StepSize = dec(f["minQty"]), dec(f["maxQty"]), dec(f["stepSize"])
			case "NOTIONAL", "MIN_NOTIONAL":
				si.MinNotional = dec(f["minNotional"])
			}
		}
		s.symbols[si.Symbol] = si
	}
	var btc map[string]any
	if err := readJSON("ticker_24hr_BTCUSDT.json", &btc); err != nil {
		return err
	}
	s.books["BTCUSDT"] = &book{bid: dec(btc["bidPrice"]), ask: dec(btc["askPrice"]), last: dec(btc["lastPrice"]), ticker: btc}
	var rolling []map[string]any
	if err := readJSON("ticker_rolling_BTCUSDT_ETHUSDT.json", &rolling); err != nil {
		return err
	}
	for _, t := range rolling {
		sym := str(t["symbol"])
		if _, ok := s.books[sym]; ok {
			continue
		}
		si := s.symbols[sym]
		last := dec(t["lastPrice"])
		tick := decimal.RequireFromString("0.01")
		if si != nil {
			tick = si.TickSize
		}
		s.books[sym] = &book{bid: last.Sub(tick), ask: last, last: last, ticker: t}
	}
	for sym := range s.symbols {
		if _, ok := s.books[sym]; !ok {
			return fmt.Errorf("fakebinance: no ticker sample for %s", sym)
		}
	}
	return nil
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func dec(v any) decimal.Decimal {
	d, err := decimal.NewFromString(str(v))
	if err != nil {
		return decimal.Zero
	}
	return d
}

func fmt8(d decimal.Decimal) string { return d.StringFixed(8) }

func ms(t time.Time) int64 { return t.UnixMilli() }

// Close releases every hung request; call it when the test ends.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.closed) }) }

// SetBook moves a symbol's top of book (and last price to the ask); resting
// orders the new prices cross fill at their limit price, triggered stops
// become limit orders.
func (s *Server) SetBook(symbol, bid, ask string) error {
	b, err := decimal.NewFromString(bid)
	if err != nil {
		return fmt.Errorf("fakebinance: bid %q: %w", bid, err)
	}
	a, err := decimal.NewFromString(ask)
	if err != nil {
		return fmt.Errorf("fakebinance: ask %q: %w", ask, err)
	}
	if !b.IsPositive() || a.LessThan(b) {
		return fmt.Errorf("fakebinance: book %s/%s: need 0 < bid <= ask", bid, ask)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	bk, ok := s.books[symbol]
	if !ok {
		return fmt.Errorf("fakebinance: unknown symbol %q", symbol)
	}
	bk.bid, bk.ask, bk.last = b, a, a
	now := s.clock()
	for _, o := range s.orders {
		if o.Symbol != symbol || !o.Open() || o.hidden > 0 || o.pollsLeft > 0 {
			continue
		}
		if o.Type == "STOP_LOSS_LIMIT" && !o.triggered {
			if (o.Side == "SELL" && bk.last.LessThanOrEqual(o.StopPrice)) || (o.Side == "BUY" && bk.last.GreaterThanOrEqual(o.StopPrice)) {
				o.triggered = true
			} else {
				continue
			}
		}
		if o.Side == "BUY" && o.Price.GreaterThanOrEqual(bk.ask) || o.Side == "SELL" && o.Price.LessThanOrEqual(bk.bid) {
			s.fill(o, o.OrigQty.Sub(o.ExecutedQty), o.Price, true, now)
		}
	}
	return nil
}

// SetRestrictions changes what the API-restrictions endpoint answers.
func (s *Server) SetRestrictions(r Restrictions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restrictions = r
}

// FillOrder fills qty of an open order (by client order id) at its limit
// price, as if a counterparty had traded against it.
func (s *Server) FillOrder(clientOrderID, qty string) error {
	q, err := decimal.NewFromString(qty)
	if err != nil || !q.IsPositive() {
		return fmt.Errorf("fakebinance: fill qty %q: not a positive decimal", qty)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.lookup(clientOrderID)
	if o == nil || !o.Open() {
		return fmt.Errorf("fakebinance: no open order %q", clientOrderID)
	}
	if rem := o.OrigQty.Sub(o.ExecutedQty); q.GreaterThan(rem) {
		q = rem
	}
	s.fill(o, q, o.Price, true, s.clock())
	return nil
}

// Orders returns every order ever accepted, oldest first.
func (s *Server) Orders() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Order, len(s.orders))
	for i, o := range s.orders {
		out[i] = o.Order
	}
	return out
}

// Placements is how many orders were accepted with clientOrderID.
func (s *Server) Placements(clientOrderID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.placements[clientOrderID]
}

// Submits is how many times POST /api/v3/order carried clientOrderID,
// accepted or not.
func (s *Server) Submits(clientOrderID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.submits[clientOrderID]
}

// Duplicates returns every client order id accepted more than once, with
// its count.
func (s *Server) Duplicates() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for id, n := range s.placements {
		if n > 1 {
			out[id] = n
		}
	}
	return out
}

// Balance returns one asset's free and locked amounts.
func (s *Server) Balance(asset string) (free, locked decimal.Decimal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.balances[asset]; ok {
		return b.free, b.locked
	}
	return decimal.Zero, decimal.Zero
}

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Unhandled lists "METHOD path" of requests no route answered.
func (s *Server) Unhandled() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.unhandled...)
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeErr(w, http.StatusBadRequest, -1100, "Illegal characters found in a parameter.")
			return
		}
		if len(b) > 0 {
			if raw != "" {
				raw += "&"
			}
			raw += string(b)
		}
	}
	payload, sig, signed := raw, "", false
	if i := strings.LastIndex(raw, "signature="); i == 0 || i > 0 && raw[i-1] == '&' {
		payload, sig, signed = raw[:max(i-1, 0)], raw[i+len("signature="):], true
	}
	params, err := url.ParseQuery(payload)
	if err != nil {
		writeErr(w, http.StatusBadRequest, -1100, "Illegal characters found in a parameter.")
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Params: params, Signed: signed})
	if r.Method == http.MethodPost && r.URL.Path == "/api/v3/order" {
		if id := params.Get("newClientOrderId"); id != "" {
			s.submits[id]++
		}
	}
	f := s.takeFault(r.Method, r.URL.Path)

	maint := s.maintenance && strings.HasPrefix(r.URL.Path, "/api/v3/order") && r.Method != http.MethodGet
	s.mu.Unlock()

	if f != nil && !f.Kind.processes() {
		s.serveFault(w, r, f)
		return
	}
	if maint {
		writeErr(w, http.StatusServiceUnavailable, -1016, MsgMaintenance)
		return
	}
	if needsSignature(r.URL.Path) {
		if r.Header.Get("X-MBX-APIKEY") != s.apiKey {
			writeErr(w, http.StatusUnauthorized, -2015, MsgInvalidKey)
			return
		}
		if !signed || !s.validSignature(payload, sig) {
			writeErr(w, http.StatusBadRequest, -1022, MsgBadSignature)
			return
		}
		if status, code, msg := s.checkTimestamp(params); code != 0 {
			writeErr(w, status, code, msg)
			return
		}
	}
	status, body := s.route(r.Method, r.URL.Path, params, f)
	if f != nil && status == http.StatusOK {
		switch f.Kind {
		case FaultAcceptDrop:
			panic(http.ErrAbortHandler) // closes the connection, no reply
		case FaultAcceptUnavailable:
			writeErr(w, http.StatusServiceUnavailable, -1007, MsgUnknownStatus)
			return
		case FaultAcceptHang, FaultLateVisible:
			s.hang(r)
		}
	}
	writeJSON(w, status, body)
}

func needsSignature(path string) bool {
	switch path {
	case "/api/v3/account", "/api/v3/order", "/api/v3/openOrders", "/api/v3/myTrades", "/api/v3/allOrders":
		return true
	}
	// The system status is public (ccxt does not sign it either).
	return strings.HasPrefix(path, "/sapi/") && path != "/sapi/v1/system/status"
}

// SetMaintenance puts the exchange into system maintenance or takes it
// out: /sapi/v1/system/status answers {"status": 1, "msg":
// "system_maintenance"} and every order request (new, cancel) is refused
// with HTTP 503 -1016 MsgMaintenance; market data and account reads are
// still served.
func (s *Server) SetMaintenance(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maintenance = on
}

// thinQty is the quantity of every level of a thin book.
const thinQty = "0.00001000"

// SetThinBook makes GET /api/v3/depth for a symbol (Binance id,
// "BTCUSDT") answer with thinQty at every level, or restores the normal
// depth.
func (s *Server) SetThinBook(id string, thin bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.thinBook == nil {
		s.thinBook = map[string]bool{}
	}
	s.thinBook[id] = thin
}

// SetSymbolStatus sets the status exchangeInfo reports for a symbol
// (Binance id, "BTCUSDT"): TRADING, BREAK, HALT, ... An empty status
// restores the sample's.
func (s *Server) SetSymbolStatus(id, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.symbolStatus == nil {
		s.symbolStatus = map[string]string{}
	}
	if status == "" {
		delete(s.symbolStatus, id)
		return
	}
	s.symbolStatus[id] = status
}

func (s *Server) validSignature(payload, sig string) bool {
	mac := hmac.New(sha256.New, []byte(s.secret))
	mac.Write([]byte(payload))
	want := mac.Sum(nil)
	got, err := hex.DecodeString(sig)
	return err == nil && hmac.Equal(got, want)
}

func (s *Server) checkTimestamp(p url.Values) (status, code int, msg string) {
	ts, err := strconv.ParseInt(p.Get("timestamp"), 10, 64)
	if err != nil {
		return http.StatusBadRequest, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
	}
	recv := int64(5000)
	if rw := p.Get("recvWindow"); rw != "" {
		if recv, err = strconv.ParseInt(rw, 10, 64); err != nil || recv <= 0 || recv > 60000 {
			return http.StatusBadRequest, -1131, "recvWindow must be less than 60000"
		}
	}
	now := ms(s.clock())
	if ts-now > 1000 {
		return http.StatusBadRequest, -1021, MsgTimestampAhead
	}
	if now-ts > recv {
		return http.StatusBadRequest, -1021, MsgRecvWindow
	}
	return 0, 0, ""
}

func (s *Server) hang(r *http.Request) {
	t := time.NewTimer(s.hangLimit)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-s.closed:
	case <-t.C:
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":-1000,"msg":"An unknown error occurred while processing the request."}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeErr(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "msg": msg})
}

type apiErr struct {
	status, code int
	msg          string
}

func errBody(e apiErr) (int, any) {
	return e.status, map[string]any{"code": e.code, "msg": e.msg}
}

func (s *Server) route(method, path string, p url.Values, f *Fault) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	switch method + " " + path {
	case "GET /api/v3/ping":
		return http.StatusOK, map[string]any{}
	case "GET /api/v3/time":
		return http.StatusOK, map[string]any{"serverTime": ms(now)}
	case "GET /sapi/v1/system/status":
		if s.maintenance {
			return http.StatusOK, map[string]any{"status": 1, "msg": "system_maintenance"}
		}
		return http.StatusOK, map[string]any{"status": 0, "msg": "normal"}
	case "GET /api/v3/exchangeInfo":
		info := map[string]any{}
		for k, v := range s.exchangeInfo {
			info[k] = v
		}
		info["serverTime"] = ms(now)
		if len(s.symbolStatus) > 0 {
			syms, _ := s.exchangeInfo["symbols"].([]any)
			out := make([]any, len(syms))
			for i, x := range syms {
				sm, _ := x.(map[string]any)
				id, _ := sm["symbol"].(string)
				if st, ok := s.symbolStatus[id]; ok {
					c := make(map[string]any, len(sm))
					for k, v := range sm {
						c[k] = v
					}
					c["status"] = st
					x = c
				}
				out[i] = x
			}
			info["symbols"] = out
		}
		return http.StatusOK, info
	case "GET /api/v3/ticker/24hr":
		return s.ticker24(p, now)
	case "GET /api/v3/ticker/bookTicker":
		return s.bookTicker(p)
	case "GET /api/v3/klines", "GET /api/v3/uiKlines":
		return s.klinesFor(p, now)
	case "GET /api/v3/depth":
		return s.depthFor(p)
	case "GET /api/v3/account":
		return s.accountInfo(now)
	case "POST /api/v3/order":
		return s.createOrder(p, f, now)
	case "GET /api/v3/order":
		return s.queryOrder(p, now)
	case "DELETE /api/v3/order":
		return s.cancelOrder(p, now)
	case "GET /api/v3/openOrders":
		return s.openOrders(p, now)
	case "GET /api/v3/myTrades":
		return s.myTrades(p)
	case "GET /sapi/v1/account/apiRestrictions":
		r := s.restrictions
		return http.StatusOK, map[string]any{
			"ipRestrict":                   r.IPRestrict,
			"createTime":                   ms(r.CreateTime),
			"enableInternalTransfer":       r.EnableInternalTransfer,
			"enableFutures":                r.EnableFutures,
			"enablePortfolioMarginTrading": false,
			"enableVanillaOptions":         false,
			"permitsUniversalTransfer":     r.EnableInternalTransfer,
			"enableReading":                r.EnableReading,
			"enableSpotAndMarginTrading":   r.EnableSpotAndMarginTrading,
			"enableWithdrawals":            r.EnableWithdrawals,
			"enableMargin":                 r.EnableMargin,
		}
	case "GET /sapi/v1/capital/config/getall", "GET /sapi/v1/margin/allPairs", "GET /sapi/v1/margin/isolated/allPairs":
		return http.StatusOK, []any{}
	}
	s.unhandled = append(s.unhandled, method+" "+path)
	return http.StatusNotFound, map[string]any{"code": -1000, "msg": "An unknown error occurred while processing the request."}
}

func (s *Server) symbolParam(p url.Values) (*symbolInfo, *apiErr) {
	sym := p.Get("symbol")
	if sym == "" {
		return nil, &apiErr{http.StatusBadRequest, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."}
	}
	si, ok := s.symbols[sym]
	if !ok {
		return nil, &apiErr{http.StatusBadRequest, -1121, MsgInvalidSymbol}
	}
	return si, nil
}

func (s *Server) tickerFor(sym string, now time.Time) map[string]any {
	bk := s.books[sym]
	t := map[string]any{}
	for k, v := range bk.ticker {
		t[k] = v
	}
	t["symbol"] = sym
	t["lastPrice"] = fmt8(bk.last)
	t["bidPrice"] = fmt8(bk.bid)
	t["askPrice"] = fmt8(bk.ask)
	if _, ok := t["bidQty"]; !ok {
		t["bidQty"], t["askQty"], t["lastQty"] = "1.00000000", "1.00000000", "0.10000000"
	}
	if _, ok := t["prevClosePrice"]; !ok {
		t["prevClosePrice"] = t["openPrice"]
	}
	t["closeTime"] = ms(now)
	t["openTime"] = ms(now.Add(-24 * time.Hour))
	return t
}

func (s *Server) ticker24(p url.Values, now time.Time) (int, any) {
	if p.Get("symbol") == "" {
		out := []any{}
		for _, sym := range s.sortedSymbols() {
			out = append(out, s.tickerFor(sym, now))
		}
		return http.StatusOK, out
	}
	si, e := s.symbolParam(p)
	if e != nil {
		return errBody(*e)
	}
	return http.StatusOK, s.tickerFor(si.Symbol, now)
}

func (s *Server) sortedSymbols() []string {
	out := make([]string, 0, len(s.symbols))
	for sym := range s.symbols {
		out = append(out, sym)
	}
	sort.Strings(out)
	return out
}

func (s *Server) bookTicker(p url.Values) (int, any) {
	one := func(sym string) map[string]any {
		bk := s.books[sym]
		return map[string]any{"symbol": sym, "bidPrice": fmt8(bk.bid), "bidQty": "1.00000000", "askPrice": fmt8(bk.ask), "askQty": "1.00000000"}
	}
	if p.Get("symbol") == "" {
		out := []any{}
		for _, sym := range s.sortedSymbols() {
			out = append(out, one(sym))
		}
		return http.StatusOK, out
	}
	si, e := s.symbolParam(p)
	if e != nil {
		return errBody(*e)
	}
	return http.StatusOK, one(si.Symbol)
}

var intervals = map[string]time.Duration{
	"1s": time.Second, "1m": time.Minute, "3m": 3 * time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute,
	"30m": 30 * time.Minute, "1h": time.Hour, "2h": 2 * time.Hour, "4h": 4 * time.Hour, "6h": 6 * time.Hour,
	"8h": 8 * time.Hour, "12h": 12 * time.Hour, "1d": 24 * time.Hour, "3d": 72 * time.Hour, "1w": 7 * 24 * time.Hour,
	"1M": 30 * 24 * time.Hour,
}

// klinesFor serves the recorded BTCUSDT 1h bars when the request covers
// them, and otherwise synthetic bars around the current book, closed bars
// only, oldest first.
func (s *Server) klinesFor(p url.Values, now time.Time) (int, any) {
	si, e := s.symbolParam(p)
	if e != nil {
		return errBody(*e)
	}
	iv, ok := intervals[p.Get("interval")]
	if !ok {
		return errBody(apiErr{http.StatusBadRequest, -1120, "Invalid interval."})
	}
	limit := 500
	if l := p.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 || n > 1000 {
			return errBody(apiErr{http.StatusBadRequest, -1100, "Illegal characters found in parameter 'limit'; legal range is '1-1000'."})
		}
		limit = n
	}
	var start int64
	if st := p.Get("startTime"); st != "" {
		v, err := strconv.ParseInt(st, 10, 64)
		if err != nil {
			return errBody(apiErr{http.StatusBadRequest, -1100, "Illegal characters found in parameter 'startTime'."})
		}
		start = v
	}
	if si.Symbol == "BTCUSDT" && iv == time.Hour && start > 0 && len(s.klines) > 0 {
		first, _ := s.klines[0].([]any)
		last, _ := s.klines[len(s.klines)-1].([]any)
		if start >= dec(first[0]).IntPart()-int64(iv/time.Millisecond) && start <= dec(last[0]).IntPart() {
			out := []any{}
			for _, k := range s.klines {
				row, _ := k.([]any)
				if dec(row[0]).IntPart() >= start && len(out) < limit {
					out = append(out, row)
				}
			}
			return http.StatusOK, out
		}
	}
	step := int64(iv / time.Millisecond)
	end := ms(now)/step*step - step // open time of the newest closed bar
	from := end - int64(limit-1)*step
	if start > 0 {
		from = (start + step - 1) / step * step
	}
	price := s.books[si.Symbol].last
	out := []any{}
	for t := from; t <= end && len(out) < limit; t += step {
		// a deterministic wiggle of at most ±0.5 % so indicators see movement
		w := decimal.NewFromInt((t/step)%11 - 5).Div(decimal.NewFromInt(1000))
		o := price.Mul(decimal.NewFromInt(1).Add(w)).Round(2)
		c := price.Mul(decimal.NewFromInt(1).Sub(w)).Round(2)
		hi, lo := decimal.Max(o, c).Mul(decimal.RequireFromString("1.001")).Round(2), decimal.Min(o, c).Mul(decimal.RequireFromString("0.999")).Round(2)
		out = append(out, []any{t, fmt8(o), fmt8(hi), fmt8(lo), fmt8(c), "12.50000000", t + step - 1, fmt8(c.Mul(decimal.NewFromFloat(12.5))), 1000, "6.25000000", fmt8(c.Mul(decimal.NewFromFloat(6.25))), "0"})
	}
	return http.StatusOK, out
}

func (s *Server) depthFor(p url.Values) (int, any) {
	si, e := s.symbolParam(p)
	if e != nil {
		return errBody(*e)
	}
	bk := s.books[si.Symbol]
	// Binance's default limit is 100; levels one tick apart, 1 at the
	// touch and 2 behind it, or thinQty each in a thin book (SetThinBook).
	n := 100
	if l, err := strconv.Atoi(p.Get("limit")); err == nil && l > 0 {
		n = min(l, 5000)
	}
	d := map[string]any{"lastUpdateId": s.depth["lastUpdateId"]}
	var bids, asks []any
	for i := 0; i < n; i++ {
		qty := "2.00000000"
		if i == 0 {
			qty = "1.00000000"
		}
		if s.thinBook[si.Symbol] {
			qty = thinQty
		}
		off := si.TickSize.Mul(decimal.NewFromInt(int64(i)))
		if px := bk.bid.Sub(off); px.IsPositive() {
			bids = append(bids, []any{fmt8(px), qty})
		}
		asks = append(asks, []any{fmt8(bk.ask.Add(off)), qty})
	}
	d["bids"], d["asks"] = bids, asks
	return http.StatusOK, d
}

func (s *Server) accountInfo(now time.Time) (int, any) {
	acc := map[string]any{}
	for k, v := range s.account {
		acc[k] = v
	}
	assets := make([]string, 0, len(s.balances))
	for a := range s.balances {
		assets = append(assets, a)
	}
	sort.Strings(assets)
	bals := []any{}
	for _, a := range assets {
		b := s.balances[a]
		bals = append(bals, map[string]any{"asset": a, "free": fmt8(b.free), "locked": fmt8(b.locked)})
	}
	acc["balances"] = bals
	acc["updateTime"] = ms(now)
	acc["canWithdraw"] = s.restrictions.EnableWithdrawals
	return http.StatusOK, acc
}

func (s *Server) bal(asset string) *balance {
	b, ok := s.balances[asset]
	if !ok {
		b = &balance{}
		s.balances[asset] = b
	}
	return b
}

var clientIDPattern = regexp.MustCompile(`^[\.A-Z\:/a-z0-9_-]{1,36}$`)

func positive(p url.Values, name string) (decimal.Decimal, *apiErr) {
	v := p.Get(name)
	if v == "" {
		return decimal.Zero, &apiErr{http.StatusBadRequest, -1102, fmt.Sprintf("Mandatory parameter '%s' was not sent, was empty/null, or malformed.", name)}
	}
	d, err := decimal.NewFromString(v)
	if err != nil || !d.IsPositive() {
		return decimal.Zero, &apiErr{http.StatusBadRequest, -1100, fmt.Sprintf("Illegal characters found in parameter '%s'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.", name)}
	}
	return d, nil
}

func onStep(v, min, step decimal.Decimal) bool {
	return step.IsZero() || v.Sub(min).Mod(step).IsZero()
}

func (s *Server) createOrder(p url.Values, f *Fault, now time.Time) (int, any) {
	si, e := s.symbolParam(p)
	if e != nil {
		return errBody(*e)
	}
	side, typ := p.Get("side"), p.Get("type")
	if side != "BUY" && side != "SELL" {
		return errBody(apiErr{http.StatusBadRequest, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed."})
	}
	switch typ {
	case "LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS_LIMIT":
	default:
		return errBody(apiErr{http.StatusBadRequest, -1116, "Invalid orderType."})
	}
	qty, e := positive(p, "quantity")
	if e != nil {
		return errBody(*e)
	}
	var price, stop decimal.Decimal
	if typ != "MARKET" {
		if price, e = positive(p, "price"); e != nil {
			return errBody(*e)
		}
		if !price.GreaterThanOrEqual(si.MinPrice) || price.GreaterThan(si.MaxPrice) || !onStep(price, si.MinPrice, si.TickSize) {
			return errBody(apiErr{http.StatusBadRequest, -1013, "Filter failure: PRICE_FILTER"})
		}
	}
	if (typ == "LIMIT" || typ == "STOP_LOSS_LIMIT") && p.Get("timeInForce") == "" {
		return errBody(apiErr{http.StatusBadRequest, -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."})
	}
	if typ == "STOP_LOSS_LIMIT" {
		if stop, e = positive(p, "stopPrice"); e != nil {
			return errBody(*e)
		}
		if !onStep(stop, si.MinPrice, si.TickSize) {
			return errBody(apiErr{http.StatusBadRequest, -1013, "Filter failure: PRICE_FILTER"})
		}
	}
	if qty.LessThan(si.MinQty) || qty.GreaterThan(si.MaxQty) || !onStep(qty, si.MinQty, si.StepSize) {
		return errBody(apiErr{http.StatusBadRequest, -1013, "Filter failure: LOT_SIZE"})
	}
	bk := s.books[si.Symbol]
	ref := price
	if typ == "MARKET" {
		ref = bk.ask
		if side == "SELL" {
			ref = bk.bid
		}
	}
	if qty.Mul(ref).LessThan(si.MinNotional) {
		return errBody(apiErr{http.StatusBadRequest, -1013, "Filter failure: NOTIONAL"})
	}
	cid := p.Get("newClientOrderId")
	if cid == "" {
		cid = fmt.Sprintf("fake%d", s.nextOrderID+1)
	} else if !clientIDPattern.MatchString(cid) {
		return errBody(apiErr{http.StatusBadRequest, -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'."})
	}
	for _, o := range s.orders {
		if o.ClientOrderID == cid && o.Open() && o.hidden == 0 {
			return errBody(apiErr{http.StatusBadRequest, -2010, MsgDuplicate})
		}
	}
	marketable := side == "BUY" && price.GreaterThanOrEqual(bk.ask) || side == "SELL" && price.LessThanOrEqual(bk.bid)
	if typ == "LIMIT_MAKER" && marketable {
		return errBody(apiErr{http.StatusBadRequest, -2010, MsgWouldTake})
	}
	// reserve the funds the order may spend
	var need decimal.Decimal
	var asset string
	if side == "BUY" {
		asset, need = si.Quote, qty.Mul(ref)
	} else {
		asset, need = si.Base, qty
	}
	if s.bal(asset).free.LessThan(need) {
		return errBody(apiErr{http.StatusBadRequest, -2010, MsgInsufficient})
	}
	s.nextOrderID++
	o := &order{Order: Order{
		Symbol: si.Symbol, OrderID: s.nextOrderID, ClientOrderID: cid, Side: side, Type: typ, Status: "NEW",
		Price: price, StopPrice: stop, OrigQty: qty, Time: now,
	}, updated: now}
	s.orders = append(s.orders, o)
	s.placements[cid]++
	b := s.bal(asset)
	b.free, b.locked = b.free.Sub(need), b.locked.Add(need)
	if f != nil {
		switch f.Kind {
		case FaultPartialFills:
			o.pollsTotal = max(f.Polls, 2)
			o.pollsLeft = o.pollsTotal
		case FaultLateVisible:
			o.hidden = max(f.Polls, 1)
		}
	}
	o.fillPx = ref
	var fills []any
	if o.pollsLeft == 0 { // a hidden (late-visible) order executes all the same
		switch {
		case typ == "MARKET":
			fills = append(fills, s.fill(o, qty, ref, false, now))
		case (typ == "LIMIT") && marketable:
			px := bk.ask
			if side == "SELL" {
				px = bk.bid
			}
			fills = append(fills, s.fill(o, qty, px, false, now))
		}
	}
	resp := s.orderJSON(o)
	resp["transactTime"] = ms(now)
	delete(resp, "time")
	delete(resp, "updateTime")
	delete(resp, "isWorking")
	switch p.Get("newOrderRespType") {
	case "ACK":
		return http.StatusOK, map[string]any{"symbol": o.Symbol, "orderId": o.OrderID, "orderListId": -1, "clientOrderId": o.ClientOrderID, "transactTime": ms(now)}
	case "RESULT":
	default:
		if fills == nil {
			fills = []any{}
		}
		resp["fills"] = fills
	}
	return http.StatusOK, resp
}

// fill executes qty of o at px and books the balances; it returns the fill
// as Binance's FULL response lists it.
func (s *Server) fill(o *order, qty, px decimal.Decimal, maker bool, now time.Time) map[string]any {
	si := s.symbols[o.Symbol]
	quote := qty.Mul(px)
	var comm decimal.Decimal
	var commAsset string
	if o.Side == "BUY" {
		reserved := qty.Mul(o.Price)
		if o.Type == "MARKET" {
			reserved = quote
		}
		qb := s.bal(si.Quote)
		qb.locked = qb.locked.Sub(reserved)
		qb.free = qb.free.Add(reserved.Sub(quote)) // price improvement comes back
		comm, commAsset = qty.Mul(s.feeRate), si.Base
		bb := s.bal(si.Base)
		bb.free = bb.free.Add(qty.Sub(comm))
	} else {
		bb := s.bal(si.Base)
		bb.locked = bb.locked.Sub(qty)
		comm, commAsset = quote.Mul(s.feeRate), si.Quote
		qb := s.bal(si.Quote)
		qb.free = qb.free.Add(quote.Sub(comm))
	}
	o.ExecutedQty = o.ExecutedQty.Add(qty)
	o.CumQuote = o.CumQuote.Add(quote)
	o.Status = "PARTIALLY_FILLED"
	if o.ExecutedQty.Equal(o.OrigQty) {
		o.Status = "FILLED"
	}
	o.updated = now
	s.nextTradeID++
	s.trades = append(s.trades, trade{
		ID: s.nextTradeID, OrderID: o.OrderID, Symbol: o.Symbol, Price: px, Qty: qty,
		Commission: comm, CommAsset: commAsset, Time: now, IsBuyer: o.Side == "BUY", IsMaker: maker,
	})
	return map[string]any{"price": fmt8(px), "qty": fmt8(qty), "commission": fmt8(comm), "commissionAsset": commAsset, "tradeId": s.nextTradeID}
}

func (s *Server) orderJSON(o *order) map[string]any {
	return map[string]any{
		"symbol":                  o.Symbol,
		"orderId":                 o.OrderID,
		"orderListId":             -1,
		"clientOrderId":           o.ClientOrderID,
		"price":                   fmt8(o.Price),
		"origQty":                 fmt8(o.OrigQty),
		"executedQty":             fmt8(o.ExecutedQty),
		"cummulativeQuoteQty":     fmt8(o.CumQuote),
		"status":                  o.Status,
		"timeInForce":             "GTC",
		"type":                    o.Type,
		"side":                    o.Side,
		"stopPrice":               fmt8(o.StopPrice),
		"icebergQty":              "0.00000000",
		"time":                    ms(o.Time),
		"updateTime":              ms(o.updated),
		"isWorking":               o.Type != "STOP_LOSS_LIMIT" || o.triggered,
		"workingTime":             ms(o.Time),
		"origQuoteOrderQty":       "0.00000000",
		"selfTradePreventionMode": "EXPIRE_MAKER",
	}
}

// lookup finds the newest order with a client order id; nil when none.
func (s *Server) lookup(cid string) *order {
	for i := len(s.orders) - 1; i >= 0; i-- {
		if s.orders[i].ClientOrderID == cid {
			return s.orders[i]
		}
	}
	return nil
}

func (s *Server) findOrder(p url.Values, si *symbolInfo) *order {
	var o *order
	if cid := p.Get("origClientOrderId"); cid != "" {
		o = s.lookup(cid)
	} else if id, err := strconv.ParseInt(p.Get("orderId"), 10, 64); err == nil {
		for _, x := range s.orders {
			if x.OrderID == id {
				o = x
			}
		}
	}
	if o == nil || o.Symbol != si.Symbol {
		return nil
	}
	return o
}

func (s *Server) queryOrder(p url.Values, now time.Time) (int, any) {
	si, e := s.symbolParam(p)
	if e != nil {
		return errBody(*e)
	}
	if p.Get("origClientOrderId") == "" && p.Get("orderId") == "" {
		return errBody(apiErr{http.StatusBadRequest, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"})
	}
	o := s.findOrder(p, si)
	if o == nil {
		return errBody(apiErr{http.StatusBadRequest, -2013, MsgNoSuchOrder})
	}
	if o.hidden > 0 {
		o.hidden--
		return errBody(apiErr{http.StatusBadRequest, -2013, MsgNoSuchOrder})
	}
	s.advance(o, now)
	return http.StatusOK, s.orderJSON(o)
}

// advance moves an order with partial fills (FaultPartialFills) one step:
// each poll of it, by itself (GET /api/v3/order) or in the open-orders
// list, fills one more part, as a market trading through it would.
func (s *Server) advance(o *order, now time.Time) {
	if o.pollsLeft > 0 && o.Open() {
		o.pollsLeft--
		q := o.OrigQty.Div(decimal.NewFromInt(int64(o.pollsTotal)))
		if step := s.symbols[o.Symbol].StepSize; step.IsPositive() {
			q = q.Div(step).Floor().Mul(step)
		}
		if rem := o.OrigQty.Sub(o.ExecutedQty); o.pollsLeft == 0 || q.GreaterThan(rem) {
			q = rem
		}
		if q.IsPositive() {
			px := o.Price
			if o.Type == "MARKET" {
				px = o.fillPx
			}
			s.fill(o, q, px, o.Type != "MARKET", now)
		}
	}
}

func (s *Server) cancelOrder(p url.Values, now time.Time) (int, any) {
	si, e := s.symbolParam(p)
	if e != nil {
		return errBody(*e)
	}
	o := s.findOrder(p, si)
	if o == nil || o.hidden > 0 || !o.Open() {
		return errBody(apiErr{http.StatusBadRequest, -2011, MsgUnknownOrder})
	}
	rem := o.OrigQty.Sub(o.ExecutedQty)
	if o.Side == "BUY" {
		qb := s.bal(si.Quote)
		amt := rem.Mul(o.Price)
		qb.locked, qb.free = qb.locked.Sub(amt), qb.free.Add(amt)
	} else {
		bb := s.bal(si.Base)
		bb.locked, bb.free = bb.locked.Sub(rem), bb.free.Add(rem)
	}
	o.Status, o.updated, o.pollsLeft = "CANCELED", now, 0
	resp := s.orderJSON(o)
	resp["origClientOrderId"] = o.ClientOrderID
	resp["clientOrderId"] = fmt.Sprintf("cancel%d", o.OrderID)
	resp["transactTime"] = ms(now)
	for _, k := range []string{"time", "updateTime", "isWorking", "workingTime", "stopPrice", "icebergQty"} {
		delete(resp, k)
	}
	return http.StatusOK, resp
}

func (s *Server) openOrders(p url.Values, now time.Time) (int, any) {
	var si *symbolInfo
	if p.Get("symbol") != "" {
		var e *apiErr
		if si, e = s.symbolParam(p); e != nil {
			return errBody(*e)
		}
	}
	out := []any{}
	for _, o := range s.orders {
		if o.Open() && o.hidden == 0 && (si == nil || o.Symbol == si.Symbol) {
			s.advance(o, now)
			if o.Open() {
				out = append(out, s.orderJSON(o))
			}
		}
	}
	return http.StatusOK, out
}

func (s *Server) myTrades(p url.Values) (int, any) {
	si, e := s.symbolParam(p)
	if e != nil {
		return errBody(*e)
	}
	var start int64
	if v := p.Get("startTime"); v != "" {
		start, _ = strconv.ParseInt(v, 10, 64)
	}
	var orderID int64
	if v := p.Get("orderId"); v != "" {
		orderID, _ = strconv.ParseInt(v, 10, 64)
	}
	limit := 500
	if v := p.Get("limit"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n <= 1000 {
			limit = n
		}
	}
	out := []any{}
	for _, t := range s.trades {
		if t.Symbol != si.Symbol || ms(t.Time) < start || (orderID != 0 && t.OrderID != orderID) {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, map[string]any{
			"symbol": t.Symbol, "id": t.ID, "orderId": t.OrderID, "orderListId": -1,
			"price": fmt8(t.Price), "qty": fmt8(t.Qty), "quoteQty": fmt8(t.Price.Mul(t.Qty)),
			"commission": fmt8(t.Commission), "commissionAsset": t.CommAsset, "time": ms(t.Time),
			"isBuyer": t.IsBuyer, "isMaker": t.IsMaker, "isBestMatch": true,
		})
	}
	return http.StatusOK, out
}
