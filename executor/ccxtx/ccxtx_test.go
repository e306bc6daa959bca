package ccxtx

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/ccxtx/fakebinance"
	"github.com/warden-trading/warden/executor/exchangetest"
	"github.com/warden-trading/warden/schemas"
)

// The canary credentials: these exact strings must never show up in a log,
// an error or the journal.
const (
	canaryKey    = "CANARYKEYvmZq8w2T4kN7pXr3Lb9Hc6Yd1Fs5Ug0Je"
	canarySecret = "CANARYSECRETa7Qw3Er5Ty8Ui1Op4As6Df9Gh2Jk0L"
	btcusdt      = "BTC/USDT"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// syncBuffer is a log sink the adapter's background goroutines may write
// to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type rig struct {
	ex   *Exchange
	fake *fakebinance.Server
	srv  *httptest.Server
	logs *syncBuffer
}

// newRig points ccxt's real Binance class at a fresh fake Binance.
func newRig(t *testing.T, fopts fakebinance.Options, mutate func(*Config)) *rig {
	t.Helper()
	fopts.APIKey, fopts.Secret = canaryKey, canarySecret
	if fopts.HangLimit == 0 {
		fopts.HangLimit = time.Second
	}
	fake, err := fakebinance.New(fopts)
	if err != nil {
		t.Fatalf("fakebinance.New() = %v", err)
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(func() { fake.Close(); srv.Close() })
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := Config{
		Exchange:    "binance",
		Credentials: NewCredentials(canaryKey, canarySecret),
		BaseURL:     srv.URL,
		RateLimit:   time.Millisecond, // ccxt's limiter stays on, just fast
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ex, err := New(cfg, logger)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(func() { assertNoCanary(t, "logs", logs.String()); assertNoSignature(t, "logs", logs.String()) })
	return &rig{ex: ex, fake: fake, srv: srv, logs: logs}
}

func assertNoCanary(t *testing.T, where, s string) {
	t.Helper()
	for _, c := range []string{canaryKey, canarySecret} {
		if strings.Contains(s, c) {
			t.Errorf("%s contain a secret canary (%.12s…)", where, c)
		}
	}
}

var signedRe = regexp.MustCompile(`signature=[0-9a-fA-F]{8,}`)

// assertNoSignature: a request signature must never be printed either.
func assertNoSignature(t *testing.T, where, s string) {
	t.Helper()
	if m := signedRe.FindString(s); m != "" {
		t.Errorf("%s contain a request signature (%.20s…)", where, m)
	}
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestMarketData(t *testing.T) {
	r := newRig(t, fakebinance.Options{}, nil)
	ctx := tctx(t)
	ms, err := r.ex.Markets(ctx)
	if err != nil {
		t.Fatalf("Markets() = %v", err)
	}
	want := map[string]executor.Market{
		"BTC/USDT": {Symbol: "BTC/USDT", ID: "BTCUSDT", Base: "BTC", Quote: "USDT", Active: true, AmountStep: d("0.00001"), PriceStep: d("0.01"), MinAmount: d("0.00001"), MinNotional: d("5")},
		"ETH/USDT": {Symbol: "ETH/USDT", ID: "ETHUSDT", Base: "ETH", Quote: "USDT", Active: true, AmountStep: d("0.0001"), PriceStep: d("0.01"), MinAmount: d("0.0001"), MinNotional: d("5")},
	}
	if len(ms) != len(want) {
		t.Errorf("Markets() has %d markets; want %d", len(ms), len(want))
	}
	for sym, w := range want {
		g := ms[sym]
		if g.Symbol != w.Symbol || g.ID != w.ID || g.Base != w.Base || g.Quote != w.Quote || g.Active != w.Active ||
			!g.AmountStep.Equal(w.AmountStep) || !g.PriceStep.Equal(w.PriceStep) || !g.MinAmount.Equal(w.MinAmount) || !g.MinNotional.Equal(w.MinNotional) {
			t.Errorf("Markets()[%q] = %+v; want %+v", sym, g, w)
		}
	}
	// ccxt's own unified precision must say the same (TICK_SIZE mode: the
	// precision is the step itself), so the float path is right for
	// exchanges without Binance's filter strings.
	raw, err := r.ex.ex.LoadMarkets()
	if err != nil {
		t.Fatal(err)
	}
	if mode := precisionMode(r.ex.ex); mode != tickSize {
		t.Errorf("precisionMode(binance) = %d; want TICK_SIZE (%d)", mode, tickSize)
	}
	for sym, w := range want {
		m := raw[sym]
		m.Info = nil
		g := convertMarket(m, precisionMode(r.ex.ex))
		if !g.AmountStep.Equal(w.AmountStep) || !g.PriceStep.Equal(w.PriceStep) || !g.MinAmount.Equal(w.MinAmount) || !g.MinNotional.Equal(w.MinNotional) {
			t.Errorf("ccxt unified market %q = steps %s/%s mins %s/%s; want %s/%s %s/%s", sym, g.AmountStep, g.PriceStep, g.MinAmount, g.MinNotional, w.AmountStep, w.PriceStep, w.MinAmount, w.MinNotional)
		}
	}

	tk, err := r.ex.Ticker(ctx, btcusdt)
	if err != nil {
		t.Fatalf("Ticker() = %v", err)
	}
	if !tk.Bid.Equal(d("73369.83")) || !tk.Ask.Equal(d("73369.84")) || !tk.Last.Equal(d("73369.84")) || !tk.QuoteVolume24h.Equal(d("5167027510.68728707")) || tk.Time.IsZero() {
		t.Errorf("Ticker(%q) = %+v; want the recorded 24 h ticker", btcusdt, tk)
	}

	since := time.Date(2024, 1, 30, 16, 0, 0, 0, time.UTC)
	cs, err := r.ex.OHLCV(ctx, btcusdt, "1h", since, 3)
	if err != nil {
		t.Fatalf("OHLCV() = %v", err)
	}
	if len(cs) != 3 || !cs[0].Time.Equal(since) || cs[0].Open != 43519.34 || cs[2].Close != 43361.11 || cs[1].Volume != 21.80865 {
		t.Errorf("OHLCV(%q, 1h, %v, 3) = %+v; want the 3 recorded bars", btcusdt, since, cs)
	}
	recent, err := r.ex.OHLCV(ctx, "ETH/USDT", "5m", time.Time{}, 10)
	if err != nil || len(recent) != 10 || !recent[0].Time.Before(recent[9].Time) {
		t.Errorf("OHLCV(ETH/USDT, 5m, latest 10) = %d candles, %v; want 10 oldest first", len(recent), err)
	}

	bals, err := r.ex.Balances(ctx)
	if err != nil {
		t.Fatalf("Balances() = %v", err)
	}
	if b := bals["USDT"]; !b.Free.Equal(d("100000")) || !b.Locked.IsZero() || b.Asset != "USDT" {
		t.Errorf("Balances()[USDT] = %+v; want 100000 free", b)
	}
	if b := bals["BTC"]; !b.Free.Equal(d("1")) {
		t.Errorf("Balances()[BTC] = %+v; want 1 free", b)
	}
	if u := r.fake.Unhandled(); len(u) > 0 {
		t.Errorf("the fake got requests it does not answer: %v", u)
	}
	for _, q := range r.fake.Requests() {
		if strings.HasPrefix(q.Path, "/sapi/") {
			t.Errorf("LoadMarkets with keys called %s %s; want the margin/currency side-fetches off", q.Method, q.Path)
		}
	}
}

func TestPublicDataWithoutKeys(t *testing.T) {
	r := newRig(t, fakebinance.Options{}, func(c *Config) { c.Credentials = Credentials{} })
	if _, err := r.ex.Ticker(tctx(t), btcusdt); err != nil {
		t.Fatalf("Ticker() without keys = %v", err)
	}
	for _, q := range r.fake.Requests() {
		if q.Signed || strings.HasPrefix(q.Path, "/sapi/") {
			t.Errorf("keyless adapter sent a signed or sapi request: %s %s", q.Method, q.Path)
		}
	}
	_, err := r.ex.Balances(tctx(t))
	if k := executor.KindOf(err); k != executor.KindAuth {
		t.Errorf("Balances() without keys = %v (kind %v); want auth", err, k)
	}
}

func TestPlaceFetchCancelByClientID(t *testing.T) {
	r := newRig(t, fakebinance.Options{}, nil)
	ctx := tctx(t)
	id := executor.ClientOrderID("decision-1", executor.RoleEntry)
	req := executor.OrderRequest{ClientOrderID: id, Symbol: btcusdt, Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: d("0.00123"), Price: d("60000.01")}
	rep, err := r.ex.PlaceOrder(ctx, req)
	if err != nil {
		t.Fatalf("PlaceOrder() = %v", err)
	}
	if rep.ClientOrderID != id || rep.Status != schemas.OrderAcknowledged || rep.ExchangeOrderID == "" ||
		!rep.Quantity.Equal(req.Quantity) || !rep.Price.Equal(req.Price) || rep.Symbol != btcusdt || rep.Side != schemas.SideBuy || rep.Type != executor.TypeLimit {
		t.Errorf("PlaceOrder() = %+v; want acknowledged %s", rep, id)
	}
	var posts int
	for _, q := range r.fake.Requests() {
		if q.Method == http.MethodPost && q.Path == "/api/v3/order" {
			posts++
			if got := q.Params.Get("newClientOrderId"); got != id {
				t.Errorf("newClientOrderId on the wire = %q; want %q", got, id)
			}
			if got := q.Params.Get("quantity"); got != "0.00123" {
				t.Errorf("quantity on the wire = %q; want 0.00123 (no float drift)", got)
			}
			if got := q.Params.Get("price"); got != "60000.01" {
				t.Errorf("price on the wire = %q; want 60000.01", got)
			}
			if !q.Signed {
				t.Error("the order was not signed")
			}
		}
	}
	if posts != 1 {
		t.Errorf("POST /api/v3/order sent %d times; want 1", posts)
	}

	got, err := r.ex.FetchOrder(ctx, btcusdt, id)
	if err != nil {
		t.Fatalf("FetchOrder() = %v", err)
	}
	if got.ClientOrderID != id || got.ExchangeOrderID != rep.ExchangeOrderID || got.Status != schemas.OrderAcknowledged || !got.FilledQty.IsZero() {
		t.Errorf("FetchOrder() = %+v; want the acknowledged order", got)
	}
	open, err := r.ex.OpenOrders(ctx, "")
	if err != nil || len(open) != 1 || open[0].ClientOrderID != id {
		t.Errorf("OpenOrders(\"\") = %+v, %v; want our order", open, err)
	}

	cancelled, err := r.ex.CancelOrder(ctx, btcusdt, id)
	if err != nil {
		t.Fatalf("CancelOrder() = %v", err)
	}
	if cancelled.ClientOrderID != id || cancelled.Status != schemas.OrderCancelled {
		t.Errorf("CancelOrder() = %+v; want cancelled %s", cancelled, id)
	}
	for _, q := range r.fake.Requests() {
		if q.Method == http.MethodDelete && q.Params.Get("origClientOrderId") != id {
			t.Errorf("cancel sent origClientOrderId %q; want %q", q.Params.Get("origClientOrderId"), id)
		}
		if q.Method == http.MethodGet && q.Path == "/api/v3/order" && q.Params.Get("origClientOrderId") != id {
			t.Errorf("fetch sent origClientOrderId %q; want %q", q.Params.Get("origClientOrderId"), id)
		}
	}
	if _, err := r.ex.CancelOrder(ctx, btcusdt, id); executor.KindOf(err) != executor.KindNotFound {
		t.Errorf("second CancelOrder() = %v; want not found", err)
	}

	// a marketable buy fills at once; the fee comes from the order's trades
	fill := executor.OrderRequest{ClientOrderID: executor.ClientOrderID("decision-2", executor.RoleEntry), Symbol: btcusdt, Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: d("0.001"), Price: d("75000")}
	fr, err := r.ex.PlaceOrder(ctx, fill)
	if err != nil {
		t.Fatalf("PlaceOrder(marketable) = %v", err)
	}
	if fr.Status != schemas.OrderFilled || !fr.FilledQty.Equal(d("0.001")) || !fr.AvgPrice.Equal(d("73369.84")) || !fr.Fee.Equal(d("0.000001")) || fr.FeeCurrency != "BTC" {
		t.Errorf("PlaceOrder(marketable) = %+v; want filled 0.001 at 73369.84, fee 0.000001 BTC", fr)
	}
	ff, err := r.ex.FetchOrder(ctx, btcusdt, fill.ClientOrderID)
	if err != nil || ff.Status != schemas.OrderFilled || !ff.Fee.Equal(d("0.000001")) || ff.FeeCurrency != "BTC" || !ff.AvgPrice.Equal(d("73369.84")) {
		t.Errorf("FetchOrder(filled) = %+v, %v; want filled with fee 0.000001 BTC", ff, err)
	}
	trades, err := r.ex.MyTrades(ctx, btcusdt, time.Time{})
	if err != nil || len(trades) != 1 || trades[0].ClientOrderID != fill.ClientOrderID || !trades[0].Quantity.Equal(d("0.001")) || trades[0].Side != schemas.SideBuy {
		t.Errorf("MyTrades() = %+v, %v; want our one fill", trades, err)
	}

	// a protective stop
	stop := executor.OrderRequest{ClientOrderID: executor.ClientOrderID("decision-2", executor.RoleStop), Symbol: btcusdt, Side: schemas.SideSell, Type: executor.TypeStopLossLimit, Quantity: d("0.00099"), Price: d("69000"), StopPrice: d("69100")}
	sr, err := r.ex.PlaceOrder(ctx, stop)
	if err != nil {
		t.Fatalf("PlaceOrder(stop) = %v", err)
	}
	if sr.Type != executor.TypeStopLossLimit || !sr.StopPrice.Equal(d("69100")) || sr.Status != schemas.OrderAcknowledged {
		t.Errorf("PlaceOrder(stop) = %+v; want an acknowledged stop_loss_limit at 69100", sr)
	}
	last := r.fake.Requests()
	if q := last[len(last)-1]; q.Params.Get("type") != "STOP_LOSS_LIMIT" || q.Params.Get("stopPrice") != "69100" {
		t.Errorf("stop on the wire: type %q stopPrice %q; want STOP_LOSS_LIMIT 69100", q.Params.Get("type"), q.Params.Get("stopPrice"))
	}
}

func TestLocalRefusals(t *testing.T) {
	r := newRig(t, fakebinance.Options{}, nil)
	ok := executor.OrderRequest{ClientOrderID: "wd-local", Symbol: btcusdt, Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: d("0.001"), Price: d("60000")}
	for _, tc := range []struct {
		name string
		mod  func(*executor.OrderRequest)
	}{
		{"off amount step", func(o *executor.OrderRequest) { o.Quantity = d("0.000015") }},
		{"off price tick", func(o *executor.OrderRequest) { o.Price = d("60000.005") }},
		{"bad client id", func(o *executor.OrderRequest) { o.ClientOrderID = "has space" }},
		{"no quantity", func(o *executor.OrderRequest) { o.Quantity = decimal.Zero }},
		{"bad side", func(o *executor.OrderRequest) { o.Side = "hold" }},
		{"bad type", func(o *executor.OrderRequest) { o.Type = "iceberg" }},
		{"stop without stop price", func(o *executor.OrderRequest) { o.Type = executor.TypeStopLossLimit }},
		{"unknown symbol", func(o *executor.OrderRequest) { o.Symbol = "DOGE/EUR" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := ok
			tc.mod(&req)
			_, err := r.ex.PlaceOrder(tctx(t), req)
			if k := executor.KindOf(err); k != executor.KindRejected {
				t.Errorf("PlaceOrder(%s) = %v (kind %v); want rejected", tc.name, err, k)
			}
		})
	}
	for _, q := range r.fake.Requests() {
		if q.Method == http.MethodPost {
			t.Errorf("a refused order reached the exchange: %v", q.Params)
		}
	}
}

func TestFaultsMapToKinds(t *testing.T) {
	const path = "/api/v3/order"
	for _, tc := range []struct {
		fault      fakebinance.FaultKind
		kind       executor.Kind
		code       string
		retryAfter time.Duration
		placed     bool
	}{
		{fakebinance.FaultUnavailable, executor.KindUnavailable, "-1007", 0, false},
		{fakebinance.FaultAcceptUnavailable, executor.KindUnavailable, "-1007", 0, true},
		{fakebinance.FaultRateLimit, executor.KindRateLimited, "-1003", 7 * time.Second, false},
		{fakebinance.FaultBan, executor.KindBanned, "-1003", 7 * time.Second, false},
		{fakebinance.FaultTimestamp, executor.KindTimestamp, "-1021", 0, false},
		{fakebinance.FaultInsufficient, executor.KindRejected, "-2010", 0, false},
		{fakebinance.FaultFilter, executor.KindRejected, "-1013", 0, false},
		{fakebinance.FaultDrop, executor.KindNetwork, "", 0, false},
		{fakebinance.FaultAcceptDrop, executor.KindNetwork, "", 0, true},
	} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			r := newRig(t, fakebinance.Options{}, nil)
			if _, err := r.ex.Markets(tctx(t)); err != nil {
				t.Fatal(err)
			}
			if err := r.fake.Inject(fakebinance.Fault{Method: http.MethodPost, Path: path, Kind: tc.fault, RetryAfter: 7 * time.Second}); err != nil {
				t.Fatal(err)
			}
			id := executor.ClientOrderID(t.Name(), executor.RoleEntry)
			_, err := r.ex.PlaceOrder(tctx(t), executor.OrderRequest{ClientOrderID: id, Symbol: btcusdt, Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: d("0.001"), Price: d("60000")})
			var xe *executor.Error
			if !errors.As(err, &xe) {
				t.Fatalf("PlaceOrder() = %v; want an *executor.Error", err)
			}
			if xe.Kind != tc.kind || xe.Code != tc.code {
				t.Errorf("PlaceOrder() = %v (kind %v code %q); want kind %v code %q", err, xe.Kind, xe.Code, tc.kind, tc.code)
			}
			if tc.retryAfter > 0 && (xe.RetryAfter < tc.retryAfter-time.Second || xe.RetryAfter > tc.retryAfter+time.Second) {
				t.Errorf("RetryAfter = %v; want about %v", xe.RetryAfter, tc.retryAfter)
			}
			if got := executor.OutcomeUnknown(err); got != tc.placed && tc.placed {
				t.Errorf("OutcomeUnknown(%v) = %v; want true (the order was placed)", err, got)
			}
			assertNoCanary(t, "error text", err.Error())
			// whatever happened, a lookup by client id tells the truth
			got, ferr := r.ex.FetchOrder(tctx(t), btcusdt, id)
			if tc.placed && (ferr != nil || got.Status != schemas.OrderAcknowledged) {
				t.Errorf("FetchOrder after %s = %+v, %v; want the acknowledged order", tc.fault, got, ferr)
			}
			if !tc.placed && executor.KindOf(ferr) != executor.KindNotFound {
				t.Errorf("FetchOrder after %s = %v; want not found", tc.fault, ferr)
			}
			if n := r.fake.Placements(id); n != map[bool]int{true: 1}[tc.placed] {
				t.Errorf("orders placed = %d; want placed=%v", n, tc.placed)
			}
		})
	}
}

func TestReadFaults(t *testing.T) {
	for _, tc := range []struct {
		fault fakebinance.FaultKind
		kind  executor.Kind
	}{
		{fakebinance.FaultUnavailable, executor.KindUnavailable},
		{fakebinance.FaultRateLimit, executor.KindRateLimited},
		{fakebinance.FaultTimestamp, executor.KindTimestamp},
		{fakebinance.FaultDrop, executor.KindNetwork},
	} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			r := newRig(t, fakebinance.Options{}, nil)
			if err := r.fake.Inject(fakebinance.Fault{Path: "/api/v3/account", Kind: tc.fault, Times: 3}); err != nil {
				t.Fatal(err)
			}
			_, err := r.ex.Balances(tctx(t))
			if k := executor.KindOf(err); k != tc.kind {
				t.Errorf("Balances() = %v (kind %v); want %v", err, k, tc.kind)
			}
			assertNoSignature(t, "error text", err.Error())
			assertNoCanary(t, "error text", err.Error())
			if tc.fault == fakebinance.FaultDrop && !strings.Contains(err.Error(), "signature="+Redacted) {
				t.Errorf("Balances() = %v; want the signed URL ccxt prints, redacted", err)
			}
		})
	}
}

func TestContextBoundsHungCall(t *testing.T) {
	r := newRig(t, fakebinance.Options{HangLimit: 2 * time.Second}, nil)
	if _, err := r.ex.Markets(tctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := r.fake.Inject(fakebinance.Fault{Method: http.MethodPost, Path: "/api/v3/order", Kind: fakebinance.FaultAcceptHang}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	id := executor.ClientOrderID("hang", executor.RoleEntry)
	_, err := r.ex.PlaceOrder(ctx, executor.OrderRequest{ClientOrderID: id, Symbol: btcusdt, Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: d("0.001"), Price: d("60000")})
	if el := time.Since(start); el > time.Second {
		t.Errorf("PlaceOrder with a 150 ms context took %v; want it to return at the deadline", el)
	}
	if k := executor.KindOf(err); k != executor.KindNetwork || !executor.OutcomeUnknown(err) {
		t.Errorf("PlaceOrder(hung) = %v (kind %v); want network, outcome unknown", err, k)
	}
	got, err := r.ex.FetchOrder(tctx(t), btcusdt, id)
	if err != nil || got.Status != schemas.OrderAcknowledged {
		t.Errorf("FetchOrder after the hang = %+v, %v; want the order the exchange accepted", got, err)
	}
	// an already-cancelled context sends nothing
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	before := len(r.fake.Requests())
	if _, err := r.ex.Ticker(done, btcusdt); executor.KindOf(err) != executor.KindNetwork {
		t.Errorf("Ticker(cancelled ctx) = %v; want network", err)
	}
	if after := len(r.fake.Requests()); after != before {
		t.Errorf("a cancelled context still sent %d requests", after-before)
	}
}

func TestPartialFillsAndLateOrder(t *testing.T) {
	r := newRig(t, fakebinance.Options{}, nil)
	ctx := tctx(t)
	if _, err := r.ex.Markets(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.fake.Inject(fakebinance.Fault{Method: http.MethodPost, Path: "/api/v3/order", Kind: fakebinance.FaultPartialFills, Polls: 3}); err != nil {
		t.Fatal(err)
	}
	id := executor.ClientOrderID("partial", executor.RoleEntry)
	rep, err := r.ex.PlaceOrder(ctx, executor.OrderRequest{ClientOrderID: id, Symbol: btcusdt, Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: d("0.003"), Price: d("60000")})
	if err != nil || rep.Status != schemas.OrderAcknowledged {
		t.Fatalf("PlaceOrder() = %+v, %v", rep, err)
	}
	for i, want := range []struct {
		st  schemas.OrderState
		qty string
	}{{schemas.OrderPartiallyFilled, "0.001"}, {schemas.OrderPartiallyFilled, "0.002"}, {schemas.OrderFilled, "0.003"}} {
		got, err := r.ex.FetchOrder(ctx, btcusdt, id)
		if err != nil || got.Status != want.st || !got.FilledQty.Equal(d(want.qty)) || !got.AvgPrice.Equal(d("60000")) {
			t.Errorf("poll %d: FetchOrder() = %s filled %s avg %s, %v; want %s %s at 60000", i+1, got.Status, got.FilledQty, got.AvgPrice, err, want.st, want.qty)
		}
		if err == nil && !got.Fee.Equal(d(want.qty).Mul(d("0.001"))) {
			t.Errorf("poll %d: fee = %s %s; want 0.1%% of %s", i+1, got.Fee, got.FeeCurrency, want.qty)
		}
	}

	if err := r.fake.Inject(fakebinance.Fault{Method: http.MethodPost, Path: "/api/v3/order", Kind: fakebinance.FaultLateVisible, Polls: 2}); err != nil {
		t.Fatal(err)
	}
	late := executor.ClientOrderID("late", executor.RoleEntry)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = r.ex.PlaceOrder(short, executor.OrderRequest{ClientOrderID: late, Symbol: btcusdt, Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: d("0.001"), Price: d("60000")})
	if !executor.OutcomeUnknown(err) {
		t.Fatalf("PlaceOrder(late) = %v; want an unknown outcome", err)
	}
	for i, want := range []executor.Kind{executor.KindNotFound, executor.KindNotFound} {
		if _, err := r.ex.FetchOrder(ctx, btcusdt, late); executor.KindOf(err) != want {
			t.Errorf("lookup %d = %v; want %v", i+1, err, want)
		}
	}
	if got, err := r.ex.FetchOrder(ctx, btcusdt, late); err != nil || got.Status != schemas.OrderAcknowledged {
		t.Errorf("third lookup = %+v, %v; want the order, finally visible", got, err)
	}
}

func TestContract(t *testing.T) {
	exchangetest.Run(t, func(t *testing.T) exchangetest.Harness {
		r := newRig(t, fakebinance.Options{}, nil)
		return exchangetest.Harness{
			Exchange:        r.ex,
			Symbol:          btcusdt,
			RestingBuyPrice: d("60000.00"),
			Fill: func(t *testing.T, clientOrderID string) {
				if err := r.fake.FillOrder(clientOrderID, "1000"); err != nil {
					t.Fatalf("FillOrder(%q) = %v", clientOrderID, err)
				}
			},
		}
	})
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Exchange: "no-such-exchange"},
		{Exchange: "binance", BaseURL: "ftp://x"},
		{Exchange: "binance", BaseURL: "::"},
		{Exchange: "binance", RateLimit: -time.Second},
	} {
		if _, err := New(cfg, nil); err == nil {
			t.Errorf("New(%+v) = nil error; want one", cfg)
		}
	}
	// any ccxt id builds; the sandbox switch uses the exchange's testnet
	ex, err := New(Config{Exchange: "Kraken"}, nil)
	if err != nil || ex.Name() != "kraken" {
		t.Errorf("New(kraken) = %v, %v", ex, err)
	}
	sb, err := New(Config{Exchange: "binance", Sandbox: true}, nil)
	if err != nil {
		t.Fatalf("New(binance sandbox) = %v", err)
	}
	api := sb.ex.GetUrls().(map[string]any)["api"].(map[string]any)
	if got := api["public"]; got != "https://testnet.binance.vision/api/v3" {
		t.Errorf("sandbox public url = %v; want the testnet", got)
	}
}

func TestBaseURLRewritesEveryAPIURL(t *testing.T) {
	ex, err := New(Config{Exchange: "binance", BaseURL: "http://127.0.0.1:9/prefix/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	api := ex.ex.GetUrls().(map[string]any)["api"].(map[string]any)
	if len(api) < 10 {
		t.Fatalf("binance api urls = %d; want many", len(api))
	}
	for k, v := range api {
		s, _ := v.(string)
		if !strings.HasPrefix(s, "http://127.0.0.1:9/prefix/") {
			t.Errorf("api[%q] = %q; want it rewritten to the base URL", k, s)
		}
	}
	if api["public"] != "http://127.0.0.1:9/prefix/api/v3" || api["sapi"] != "http://127.0.0.1:9/prefix/sapi/v1" {
		t.Errorf("public, sapi = %v, %v; want paths kept", api["public"], api["sapi"])
	}
}

// ccxt marks its markets loaded even when the load failed; the adapter
// must reload rather than serve the empty cache.
func TestMarketsRecoverAfterFailedLoad(t *testing.T) {
	r := newRig(t, fakebinance.Options{}, nil)
	if err := r.fake.Inject(fakebinance.Fault{Path: "/api/v3/exchangeInfo", Kind: fakebinance.FaultUnavailable}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ex.Markets(tctx(t)); executor.KindOf(err) != executor.KindUnavailable {
		t.Fatalf("Markets() during a 503 = %v; want unavailable", err)
	}
	ms, err := r.ex.Markets(tctx(t))
	if err != nil || len(ms) != 2 {
		t.Fatalf("Markets() after the 503 = %d markets, %v; want 2", len(ms), err)
	}
	if _, err := r.ex.Ticker(tctx(t), btcusdt); err != nil {
		t.Errorf("Ticker() after the reload = %v", err)
	}
}

// An order that cannot even be prepared (no markets) is refused unsent,
// not left with an unknown outcome.
func TestPlaceOrderWithoutMarketsIsNotSent(t *testing.T) {
	r := newRig(t, fakebinance.Options{}, nil)
	if err := r.fake.Inject(fakebinance.Fault{Path: "/api/v3/exchangeInfo", Kind: fakebinance.FaultUnavailable}); err != nil {
		t.Fatal(err)
	}
	req := executor.OrderRequest{ClientOrderID: "wd-nomarkets", Symbol: btcusdt, Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: d("0.001"), Price: d("60000")}
	_, err := r.ex.PlaceOrder(tctx(t), req)
	if k := executor.KindOf(err); k != executor.KindRejected || !strings.Contains(err.Error(), "not sent") {
		t.Errorf("PlaceOrder() without markets = %v (kind %v); want rejected, not sent", err, k)
	}
	if n := r.fake.Submits(req.ClientOrderID); n != 0 {
		t.Errorf("order sent %d times; want 0", n)
	}
}

// The fake checks ccxt's real HMAC signature and key header: a wrong secret
// or key is refused like Binance refuses it.
func TestSigningIsVerified(t *testing.T) {
	for _, tc := range []struct {
		name        string
		key, secret string
		code        string
	}{
		{"wrong secret", canaryKey, "not-the-secret", "-1022"},
		{"wrong key", "not-the-key", canarySecret, "-2015"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, fakebinance.Options{}, func(c *Config) { c.Credentials = NewCredentials(tc.key, tc.secret) })
			_, err := r.ex.Balances(tctx(t))
			var xe *executor.Error
			if !errors.As(err, &xe) || xe.Kind != executor.KindAuth || xe.Code != tc.code {
				t.Errorf("Balances() = %v; want auth %s", err, tc.code)
			}
		})
	}
}
