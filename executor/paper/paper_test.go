package paper_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/exchangetest"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/schemas"
)

var (
	d   = decimal.RequireFromString
	t0  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	btc = "BTC/USDT"
)

func candle(min int, o, h, l, c, v float64) executor.Candle {
	return executor.Candle{Time: t0.Add(time.Duration(min) * time.Minute), Open: o, High: h, Low: l, Close: c, Volume: v}
}

// newPaper is the default config with no slippage and a flat market at
// 50,000 fed once.
func newPaper(t testing.TB, mod func(*paper.Config)) *paper.Exchange {
	t.Helper()
	cfg := paper.DefaultConfig()
	cfg.SlippageBps = 0
	if mod != nil {
		mod(&cfg)
	}
	x, err := paper.New(cfg)
	if err != nil {
		t.Fatalf("paper.New() error = %v", err)
	}
	if err := x.OnCandle(btc, candle(0, 50000, 50000, 50000, 50000, 100)); err != nil {
		t.Fatalf("OnCandle() error = %v", err)
	}
	return x
}

func TestContract(t *testing.T) {
	exchangetest.Run(t, func(t *testing.T) exchangetest.Harness {
		x := newPaper(t, nil)
		return exchangetest.Harness{
			Exchange:        x,
			Symbol:          btc,
			RestingBuyPrice: d("40000"),
			Fill: func(t *testing.T, clientOrderID string) {
				r, err := x.FetchOrder(context.Background(), btc, clientOrderID)
				if err != nil {
					t.Fatalf("FetchOrder(%q) error = %v", clientOrderID, err)
				}
				p, _ := r.Price.Float64()
				next := x.Now().Add(time.Minute)
				c := executor.Candle{Time: next, Open: p * 1.01, High: p * 1.02, Low: p * 0.99, Close: p, Volume: 1000}
				if err := x.OnCandle(btc, c); err != nil {
					t.Fatalf("OnCandle() error = %v", err)
				}
			},
		}
	})
}

func place(t *testing.T, x *paper.Exchange, req executor.OrderRequest) executor.OrderReport {
	t.Helper()
	r, err := x.PlaceOrder(context.Background(), req)
	if err != nil {
		t.Fatalf("PlaceOrder(%+v) error = %v", req, err)
	}
	return r
}

func fetch(t *testing.T, x *paper.Exchange, id string) executor.OrderReport {
	t.Helper()
	r, err := x.FetchOrder(context.Background(), btc, id)
	if err != nil {
		t.Fatalf("FetchOrder(%q) error = %v", id, err)
	}
	return r
}

func bal(t *testing.T, x *paper.Exchange, asset string) executor.Balance {
	t.Helper()
	b, err := x.Balances(context.Background())
	if err != nil {
		t.Fatalf("Balances() error = %v", err)
	}
	return b[asset]
}

func feed(t *testing.T, x *paper.Exchange, c executor.Candle) {
	t.Helper()
	if err := x.OnCandle(btc, c); err != nil {
		t.Fatalf("OnCandle(%v) error = %v", c, err)
	}
}

func limit(id string, side schemas.Side, qty, price string) executor.OrderRequest {
	return executor.OrderRequest{ClientOrderID: id, Symbol: btc, Side: side, Type: executor.TypeLimit, Quantity: d(qty), Price: d(price)}
}

func TestLimitBuyFillsAsMakerAndLocksQuote(t *testing.T) {
	x := newPaper(t, nil)
	place(t, x, limit("b1", schemas.SideBuy, "0.1", "49000"))
	if got := bal(t, x, "USDT"); !got.Free.Equal(d("5100")) || !got.Locked.Equal(d("4900")) {
		t.Fatalf("USDT after placing = %+v; want free 5100 locked 4900", got)
	}
	feed(t, x, candle(1, 50000, 50100, 49100, 49500, 100)) // low above the price
	if r := fetch(t, x, "b1"); r.Status != schemas.OrderAcknowledged {
		t.Fatalf("status after a candle above the limit = %q; want acknowledged", r.Status)
	}
	feed(t, x, candle(2, 49500, 49600, 48000, 48500, 100))
	r := fetch(t, x, "b1")
	if r.Status != schemas.OrderFilled || !r.AvgPrice.Equal(d("49000")) || !r.Fee.Equal(d("0.0001")) || r.FeeCurrency != "BTC" {
		t.Fatalf("after crossing = %+v; want filled at 49000 with fee 0.0001 BTC", r)
	}
	if got := bal(t, x, "USDT"); !got.Free.Equal(d("5100")) || !got.Locked.IsZero() {
		t.Errorf("USDT after fill = %+v; want free 5100 locked 0", got)
	}
	if got := bal(t, x, "BTC"); !got.Free.Equal(d("0.0999")) {
		t.Errorf("BTC after fill = %+v; want 0.0999 (fee taken in base)", got)
	}
	trades, err := x.MyTrades(context.Background(), btc, time.Time{})
	if err != nil || len(trades) != 1 || trades[0].ClientOrderID != "b1" || !trades[0].Price.Equal(d("49000")) {
		t.Errorf("MyTrades() = %+v, %v; want one fill of b1 at 49000", trades, err)
	}
}

func TestMarketableLimitFillsAsTakerWithSlippage(t *testing.T) {
	x := newPaper(t, func(c *paper.Config) { c.SlippageBps = 10; c.SpreadBps = 2 })
	// ask = 50000 × 1.0001 = 50005; taker price = 50005 × 1.001 = 50055.005 → 50055.01 (nearest step)
	r := place(t, x, limit("b1", schemas.SideBuy, "0.01", "51000"))
	if r.Status != schemas.OrderFilled || !r.AvgPrice.Equal(d("50055.01")) {
		t.Fatalf("marketable buy = status %q avg %s; want filled at 50055.01", r.Status, r.AvgPrice)
	}
	if !r.Fee.Equal(d("0.00001")) {
		t.Errorf("taker fee = %s; want 0.00001", r.Fee)
	}
	// capped at the limit
	r = place(t, x, limit("b2", schemas.SideBuy, "0.01", "50010"))
	if r.Status != schemas.OrderFilled || !r.AvgPrice.Equal(d("50010")) {
		t.Errorf("marketable buy with a tight limit = status %q avg %s; want filled at the limit 50010", r.Status, r.AvgPrice)
	}
	want := d("10000").Sub(d("500.5501")).Sub(d("500.10"))
	if got := bal(t, x, "USDT"); !got.Free.Equal(want) || !got.Locked.IsZero() {
		t.Errorf("USDT = %+v; want free %s", got, want)
	}
}

func TestPartialFillsBoundedByVolume(t *testing.T) {
	x := newPaper(t, nil) // 10% participation
	place(t, x, limit("b1", schemas.SideBuy, "0.05", "49000"))
	wants := []struct {
		vol    float64
		filled string
		status schemas.OrderState
	}{
		{0.2, "0.02", schemas.OrderPartiallyFilled},
		{0.15, "0.035", schemas.OrderPartiallyFilled},
		{5, "0.05", schemas.OrderFilled},
	}
	for i, w := range wants {
		feed(t, x, candle(i+1, 49500, 49500, 48900, 49000, w.vol))
		r := fetch(t, x, "b1")
		if r.Status != w.status || !r.FilledQty.Equal(d(w.filled)) {
			t.Fatalf("after candle %d (volume %v) = %q %s; want %q %s", i+1, w.vol, r.Status, r.FilledQty, w.status, w.filled)
		}
	}
	if got := bal(t, x, "USDT"); !got.Locked.IsZero() || !got.Free.Equal(d("7550")) {
		t.Errorf("USDT = %+v; want free 7550 locked 0", got)
	}
}

func TestLatencyDelaysEligibility(t *testing.T) {
	x := newPaper(t, func(c *paper.Config) { c.Latency = 90 * time.Second })
	r := place(t, x, limit("b1", schemas.SideBuy, "0.01", "51000")) // marketable, but not yet
	if r.Status != schemas.OrderAcknowledged {
		t.Fatalf("with latency, marketable order at placement = %q; want acknowledged", r.Status)
	}
	feed(t, x, candle(1, 50000, 50000, 50000, 50000, 100))
	if r := fetch(t, x, "b1"); r.Status != schemas.OrderAcknowledged {
		t.Fatalf("after 60 s of 90 s latency = %q; want acknowledged", r.Status)
	}
	feed(t, x, candle(2, 50100, 50200, 50000, 50100, 100))
	if r := fetch(t, x, "b1"); r.Status != schemas.OrderFilled || !r.AvgPrice.Equal(d("50100")) {
		t.Fatalf("after latency = %q at %s; want filled as taker at the open 50100", r.Status, r.AvgPrice)
	}
}

func TestStopLossLimit(t *testing.T) {
	x := newPaper(t, nil)
	place(t, x, limit("b1", schemas.SideBuy, "0.1", "51000"))
	held := bal(t, x, "BTC").Free // 0.0999
	stop := func(id, qty, stopPx, px string) executor.OrderRequest {
		return executor.OrderRequest{ClientOrderID: id, Symbol: btc, Side: schemas.SideSell, Type: executor.TypeStopLossLimit,
			Quantity: d(qty), StopPrice: d(stopPx), Price: d(px)}
	}
	if _, err := x.PlaceOrder(context.Background(), stop("s0", "0.0999", "50500", "50400")); executor.KindOf(err) != executor.KindRejected {
		t.Errorf("stop above the bid error = %v; want rejected (would trigger immediately)", err)
	}
	if _, err := x.PlaceOrder(context.Background(), stop("s0b", "0.2", "48000", "47900")); executor.KindOf(err) != executor.KindRejected {
		t.Errorf("stop for more than held error = %v; want rejected", err)
	}
	place(t, x, stop("s1", held.String(), "48000", "47900"))
	if got := bal(t, x, "BTC"); !got.Locked.Equal(held) || !got.Free.IsZero() {
		t.Fatalf("BTC with a resting stop = %+v; want all %s locked", got, held)
	}
	feed(t, x, candle(1, 50000, 50000, 48100, 48500, 100))
	if r := fetch(t, x, "s1"); r.Status != schemas.OrderAcknowledged {
		t.Fatalf("stop before trigger = %q; want acknowledged", r.Status)
	}
	feed(t, x, candle(2, 48500, 48600, 47000, 47500, 100))
	r := fetch(t, x, "s1")
	if r.Status != schemas.OrderFilled || !r.AvgPrice.Equal(d("48000")) {
		t.Fatalf("stop after low crossed = %q at %s; want filled at the stop 48000", r.Status, r.AvgPrice)
	}

	// A gap below the limit leaves the triggered stop resting as a limit.
	place(t, x, limit("b2", schemas.SideBuy, "0.01", "48000"))
	place(t, x, stop("s2", "0.0099", "46000", "45900"))
	feed(t, x, candle(3, 45000, 45500, 44000, 45000, 100))
	if r := fetch(t, x, "s2"); r.Status != schemas.OrderAcknowledged {
		t.Fatalf("stop gapped through = %q; want still open below its limit", r.Status)
	}
	feed(t, x, candle(4, 45000, 46000, 45000, 45950, 100))
	if r := fetch(t, x, "s2"); r.Status != schemas.OrderFilled || !r.AvgPrice.Equal(d("45900")) {
		t.Fatalf("triggered stop after recovery = %q at %s; want filled at its limit 45900", r.Status, r.AvgPrice)
	}
}

func TestRefusals(t *testing.T) {
	x := newPaper(t, nil)
	tests := []struct {
		name string
		req  executor.OrderRequest
		code string
	}{
		{"sell not held", limit("r1", schemas.SideSell, "0.01", "50000"), "-2010"},
		{"cash exceeded", limit("r2", schemas.SideBuy, "1", "49000"), "-2010"},
		{"lot size", limit("r3", schemas.SideBuy, "0.000015", "49000"), "-1013"},
		{"price step", limit("r4", schemas.SideBuy, "0.001", "49000.005"), "-1013"},
		{"min notional", limit("r5", schemas.SideBuy, "0.0001", "49000"), "-1013"},
		{"bad client id", limit("bad id!", schemas.SideBuy, "0.001", "49000"), "-1100"},
		{"unknown symbol", executor.OrderRequest{ClientOrderID: "r6", Symbol: "DOGE/USDT", Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: d("1"), Price: d("1")}, "-1121"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := x.PlaceOrder(context.Background(), tc.req)
			e, ok := err.(*executor.Error)
			if !ok || e.Kind != executor.KindRejected || e.Code != tc.code {
				t.Fatalf("PlaceOrder(%s) error = %v; want rejected %s", tc.name, err, tc.code)
			}
		})
	}
	if got := bal(t, x, "USDT"); !got.Free.Equal(d("10000")) || !got.Locked.IsZero() {
		t.Errorf("USDT after refusals = %+v; want untouched", got)
	}
	place(t, x, limit("ok", schemas.SideBuy, "0.001", "49000"))
	if _, err := x.PlaceOrder(context.Background(), limit("ok", schemas.SideBuy, "0.001", "49000")); executor.KindOf(err) != executor.KindRejected || !strings.Contains(err.Error(), "Duplicate") {
		t.Errorf("duplicate error = %v; want rejected Duplicate order sent", err)
	}
	if _, err := x.CancelOrder(context.Background(), btc, "nope"); executor.KindOf(err) != executor.KindNotFound {
		t.Errorf("CancelOrder(unknown) error = %v; want not found", err)
	}
}

func TestTickerAndOHLCV(t *testing.T) {
	x, err := paper.New(paper.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Ticker(context.Background(), btc); executor.KindOf(err) != executor.KindUnavailable {
		t.Errorf("Ticker() before data error = %v; want unavailable", err)
	}
	for h := 0; h < 30; h++ {
		feed(t, x, candle(h*60, 100, 110, 90, 100, 2))
	}
	tk, err := x.Ticker(context.Background(), btc)
	if err != nil {
		t.Fatal(err)
	}
	// 24 candles inside (t-24h, t], each 2×100
	if !tk.QuoteVolume24h.Equal(d("4800")) || !tk.Bid.Equal(d("99.99")) || !tk.Ask.Equal(d("100.01")) || !tk.Last.Equal(d("100")) {
		t.Errorf("Ticker() = %+v; want bid 99.99 ask 100.01 last 100 volume 4800", tk)
	}
	cs, err := x.OHLCV(context.Background(), btc, "1h", time.Time{}, 5)
	if err != nil || len(cs) != 5 || !cs[4].Time.Equal(t0.Add(29*time.Hour)) {
		t.Fatalf("OHLCV(1h, last 5) = %d candles, %v; want 5 ending at the newest fed", len(cs), err)
	}
	cs, err = x.OHLCV(context.Background(), btc, "4h", t0.Add(4*time.Hour), 2)
	if err != nil || len(cs) != 2 || !cs[0].Time.Equal(t0.Add(4*time.Hour)) || cs[0].Volume != 8 {
		t.Fatalf("OHLCV(4h) = %+v, %v; want 2 aggregated buckets from +4h of volume 8", cs, err)
	}
	cs, _ = x.OHLCV(context.Background(), btc, "4h", time.Time{}, 0)
	if last := cs[len(cs)-1]; !last.Time.Equal(t0.Add(28*time.Hour)) || last.Volume != 4 {
		t.Errorf("newest 4h bucket = %+v; want the open bucket at +28h with 2 candles", last)
	}
	if _, err := x.OHLCV(context.Background(), btc, "1m", time.Time{}, 0); err == nil {
		t.Errorf("OHLCV(1m) over an hourly feed error = nil; want refused")
	}
	if err := x.OnCandle(btc, candle(0, 1, 1, 1, 1, 1)); err == nil {
		t.Errorf("OnCandle(older candle) error = nil; want refused")
	}
}

func TestStateRoundTrip(t *testing.T) {
	x := newPaper(t, nil)
	place(t, x, limit("b1", schemas.SideBuy, "0.05", "49000"))
	feed(t, x, candle(1, 49500, 49500, 48900, 49000, 0.2)) // partial 0.02
	data, err := x.MarshalState()
	if err != nil {
		t.Fatalf("MarshalState() error = %v", err)
	}
	y := newPaper(t, nil)
	if err := y.RestoreState(data); err != nil {
		t.Fatalf("RestoreState() error = %v", err)
	}
	if r := fetch(t, y, "b1"); r.Status != schemas.OrderPartiallyFilled || !r.FilledQty.Equal(d("0.02")) {
		t.Fatalf("restored order = %q %s; want partially filled 0.02", r.Status, r.FilledQty)
	}
	feed(t, y, candle(2, 49500, 49500, 48900, 49000, 10))
	if r := fetch(t, y, "b1"); r.Status != schemas.OrderFilled {
		t.Fatalf("restored order after another candle = %q; want filled", r.Status)
	}
	if got := bal(t, y, "USDT"); !got.Free.Equal(d("7550")) || !got.Locked.IsZero() {
		t.Errorf("restored USDT = %+v; want free 7550", got)
	}
	if _, err := y.PlaceOrder(context.Background(), limit("b1", schemas.SideBuy, "0.001", "1000")); executor.KindOf(err) != executor.KindRejected {
		t.Errorf("reusing a restored client id error = %v; want rejected", err)
	}
	if err := y.RestoreState([]byte(`{"version":1,"books":{"XRP/USDT":{}}}`)); err == nil {
		t.Errorf("RestoreState(unknown market) error = nil; want refused")
	}
	if r := fetch(t, y, "b1"); r.Status != schemas.OrderFilled {
		t.Errorf("after a refused restore = %q; want the state unchanged", r.Status)
	}
}

func TestConcurrentUse(t *testing.T) {
	x := newPaper(t, func(c *paper.Config) { c.Balances["USDT"] = d("1000000") })
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				id := "g" + strconv.Itoa(g) + "-" + strconv.Itoa(i)
				if _, err := x.PlaceOrder(context.Background(), limit(id, schemas.SideBuy, "0.001", "49900")); err != nil {
					t.Errorf("PlaceOrder(%s) error = %v", id, err)
					return
				}
				if i%2 == 0 {
					x.CancelOrder(context.Background(), btc, id)
				}
				x.Ticker(context.Background(), btc)
				x.Balances(context.Background())
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= 200; i++ {
			x.OnCandle(btc, candle(i, 50000, 50000, 49800, 50000, 1))
		}
	}()
	wg.Wait()
	if got := bal(t, x, "USDT"); got.Free.Sign() < 0 || got.Locked.Sign() < 0 {
		t.Errorf("USDT = %+v; want no negative part", got)
	}
	open, _ := x.OpenOrders(context.Background(), btc)
	locked := decimal.Zero
	for _, o := range open {
		locked = locked.Add(o.Quantity.Sub(o.FilledQty).Mul(o.Price))
	}
	if got := bal(t, x, "USDT"); !got.Locked.Equal(locked) {
		t.Errorf("USDT locked = %s; want the open orders' remaining %s", got.Locked, locked)
	}
}

func loadCandles(tb testing.TB) []executor.Candle {
	tb.Helper()
	f, err := os.Open("testdata/btc-usdt-1h.csv.gz")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var out []executor.Candle
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		p := strings.Split(sc.Text(), ",")
		if len(p) != 6 {
			continue
		}
		v := make([]float64, 6)
		for i := range p {
			v[i], _ = strconv.ParseFloat(p[i], 64)
		}
		out = append(out, executor.Candle{Time: time.UnixMilli(int64(v[0])).UTC(), Open: v[1], High: v[2], Low: v[3], Close: v[4], Volume: v[5]})
	}
	return out
}

// BenchmarkPaperOnCandle feeds replayed hourly candles with one resting
// buy and one resting stop on the book, as a backtest would.
func BenchmarkPaperOnCandle(b *testing.B) {
	cs := loadCandles(b)
	cfg := paper.DefaultConfig()
	cfg.Balances["USDT"] = d("1000000000")
	cfg.Balances["BTC"] = d("1000")
	x, err := paper.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	at := cs[0].Time
	x.OnCandle(btc, cs[0])
	x.PlaceOrder(ctx, limit("rest-buy", schemas.SideBuy, "0.001", "1000"))
	x.PlaceOrder(ctx, executor.OrderRequest{ClientOrderID: "rest-stop", Symbol: btc, Side: schemas.SideSell,
		Type: executor.TypeStopLossLimit, Quantity: d("0.001"), StopPrice: d("1000"), Price: d("990")})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := cs[1+i%(len(cs)-1)]
		at = at.Add(time.Hour)
		c.Time = at
		if err := x.OnCandle(btc, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPaperPlaceAndFill places a resting limit buy and feeds the
// candle that fills it: the cost of one traded bar.
func BenchmarkPaperPlaceAndFill(b *testing.B) {
	cfg := paper.DefaultConfig()
	cfg.Balances["USDT"] = d("1000000000000")
	x, err := paper.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	at := t0
	x.OnCandle(btc, executor.Candle{Time: at, Open: 50000, High: 50000, Low: 50000, Close: 50000, Volume: 100})
	req := limit("", schemas.SideBuy, "0.001", "49000")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.ClientOrderID = "b" + strconv.Itoa(i)
		if _, err := x.PlaceOrder(ctx, req); err != nil {
			b.Fatal(err)
		}
		at = at.Add(time.Minute)
		x.OnCandle(btc, executor.Candle{Time: at, Open: 50000, High: 50000, Low: 48000, Close: 50000, Volume: 100})
	}
}

// TestFillTimesNeverPrecedeTheQuote: an order that fills on arrival fills
// when the quote it met holds (the newest candle's close, as Ticker says),
// not at that candle's open, which on hourly candles is an hour before
// the decision that placed it; a resting order fills at the open of the
// candle that reaches it, never before it was placed.
func TestFillTimesNeverPrecedeTheQuote(t *testing.T) {
	ctx := context.Background()
	x := newPaper(t, nil) // a candle at t0
	feed(t, x, candle(60, 50000, 50000, 50000, 50000, 100))
	tk, err := x.Ticker(ctx, btc)
	if err != nil || !tk.Time.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("Ticker = %+v, %v; want the 01:00 candle's close, 02:00", tk, err)
	}
	now := place(t, x, limit("taker", schemas.SideBuy, "0.01", "51000")) // marketable: fills on arrival
	rest := place(t, x, limit("maker", schemas.SideBuy, "0.01", "49000"))
	if now.Status != schemas.OrderFilled || rest.Status != schemas.OrderAcknowledged {
		t.Fatalf("placed: %s and %s; want filled and resting", now.Status, rest.Status)
	}
	if !now.Updated.Equal(tk.Time) {
		t.Errorf("the order filled on arrival was updated at %s; want the quote's %s", now.Updated, tk.Time)
	}
	feed(t, x, candle(120, 50000, 50100, 48900, 49500, 100)) // the 02:00 candle reaches 49000
	trades, err := x.MyTrades(ctx, btc, time.Time{})
	if err != nil || len(trades) != 2 {
		t.Fatalf("MyTrades = %+v, %v; want two fills", trades, err)
	}
	want := map[string]time.Time{"taker": tk.Time, "maker": t0.Add(2 * time.Hour)}
	for _, tr := range trades {
		if !tr.Time.Equal(want[tr.ClientOrderID]) {
			t.Errorf("fill of %s at %s; want %s", tr.ClientOrderID, tr.Time, want[tr.ClientOrderID])
		}
		if tr.Time.Before(tk.Time) {
			t.Errorf("fill of %s at %s, before the quote the order was placed on (%s)", tr.ClientOrderID, tr.Time, tk.Time)
		}
	}
}
