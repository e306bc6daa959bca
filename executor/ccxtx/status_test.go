package ccxtx

import (
	"errors"
	"net/http"
	"testing"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/ccxtx/fakebinance"
	"github.com/warden-trading/warden/schemas"
)

// TestSystemStatusAndMaintenance: ccxt's fetchStatus against the fake
// Binance: normal, then maintenance (orders refused 503 -1016 and mapped
// to an unavailable error, market data still served), a failed status read
// is an error (the agent's unknown), and a market's exchangeInfo status
// reaches Market.Status.
func TestSystemStatusAndMaintenance(t *testing.T) {
	r := newRig(t, fakebinance.Options{}, nil)
	ctx := tctx(t)
	if s, err := r.ex.SystemStatus(ctx); err != nil || s != executor.SystemNormal {
		t.Fatalf("SystemStatus() = %q, %v; want normal", s, err)
	}
	ms, err := r.ex.Markets(ctx)
	if err != nil || ms[btcusdt].Status != executor.MarketTrading || ms[btcusdt].TradingStatus() != executor.MarketTrading {
		t.Fatalf("Markets()[BTC/USDT] = %+v, %v; want status TRADING", ms[btcusdt], err)
	}

	r.fake.SetMaintenance(true)
	if s, err := r.ex.SystemStatus(ctx); err != nil || s != executor.SystemMaintenance {
		t.Fatalf("SystemStatus() in maintenance = %q, %v; want maintenance", s, err)
	}
	req := executor.OrderRequest{ClientOrderID: "wd-maint", Symbol: btcusdt, Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: d("0.001"), Price: d("60000")}
	_, err = r.ex.PlaceOrder(ctx, req)
	var xe *executor.Error
	if !errors.As(err, &xe) || xe.Kind != executor.KindUnavailable || xe.Code != "-1016" {
		t.Fatalf("PlaceOrder in maintenance = %v; want unavailable -1016", err)
	}
	if _, err := r.ex.Ticker(ctx, btcusdt); err != nil {
		t.Errorf("Ticker in maintenance = %v; market data is still served", err)
	}
	r.fake.SetMaintenance(false)
	if s, err := r.ex.SystemStatus(ctx); err != nil || s != executor.SystemNormal {
		t.Fatalf("SystemStatus() after maintenance = %q, %v; want normal", s, err)
	}

	// The status endpoint itself answering 503 -1016: a failed read.
	if err := r.fake.Inject(fakebinance.Fault{Method: http.MethodGet, Path: "/sapi/v1/system/status", Kind: fakebinance.FaultMaintenance}); err != nil {
		t.Fatal(err)
	}
	if s, err := r.ex.SystemStatus(ctx); err == nil {
		t.Fatalf("SystemStatus() on a 503 = %q, nil; want an error (unknown)", s)
	} else if executor.KindOf(err) != executor.KindUnavailable {
		t.Errorf("SystemStatus() on a 503 error kind = %v; want unavailable", executor.KindOf(err))
	}
	if err := r.fake.Inject(fakebinance.Fault{Path: "/sapi/v1/system/status", Kind: fakebinance.FaultDrop, Times: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ex.SystemStatus(ctx); err == nil {
		t.Fatal("SystemStatus() on a dropped connection: no error")
	}

	// A symbol on a break: a new process (a new adapter; ccxt caches the
	// markets within one) sees it.
	r.fake.SetSymbolStatus("BTCUSDT", "BREAK")
	ex2, err := New(Config{Exchange: "binance", Credentials: NewCredentials(canaryKey, canarySecret), BaseURL: r.srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ms, err = ex2.Markets(ctx)
	if err != nil || ms[btcusdt].Status != "BREAK" || ms["ETH/USDT"].Status != executor.MarketTrading {
		t.Fatalf("Markets() with BTCUSDT on a break = BTC %q ETH %q, %v", ms[btcusdt].Status, ms["ETH/USDT"].Status, err)
	}
	for _, q := range r.fake.Requests() {
		if q.Path == "/sapi/v1/system/status" && q.Signed {
			t.Errorf("the system status request was signed: %+v", q)
		}
	}
}

// TestOrderBook: ccxt's fetchOrderBook against the fake Binance: 20
// levels a side from the touch, a thin book when the fake is told so, and
// the error of a failed read.
func TestOrderBook(t *testing.T) {
	r := newRig(t, fakebinance.Options{}, nil)
	ctx := tctx(t)
	ob, err := r.ex.OrderBook(ctx, btcusdt, 20)
	if err != nil {
		t.Fatalf("OrderBook() = %v", err)
	}
	tk, err := r.ex.Ticker(ctx, btcusdt)
	if err != nil {
		t.Fatal(err)
	}
	if len(ob.Bids) != 20 || len(ob.Asks) != 20 || ob.Time.IsZero() || !ob.Bids[0].Price.LessThan(ob.Asks[0].Price) ||
		!ob.Asks[1].Price.GreaterThan(ob.Asks[0].Price) || !ob.Asks[0].Qty.Equal(d("1")) || !ob.Asks[1].Qty.Equal(d("2")) {
		t.Fatalf("OrderBook() = %d bids %d asks, best %v/%v, time %s", len(ob.Bids), len(ob.Asks), ob.Bids[0], ob.Asks[0], ob.Time)
	}
	_ = tk
	var sawLimit bool
	for _, q := range r.fake.Requests() {
		if q.Path == "/api/v3/depth" && q.Params.Get("limit") == "20" {
			sawLimit = true
		}
	}
	if !sawLimit {
		t.Error("no GET /api/v3/depth?limit=20 request")
	}
	r.fake.SetThinBook("BTCUSDT", true)
	ob, err = r.ex.OrderBook(ctx, btcusdt, 20)
	if err != nil || !ob.Asks[0].Qty.Equal(d("0.00001")) || !ob.Asks[19].Qty.Equal(d("0.00001")) {
		t.Fatalf("thin OrderBook() = %v, %v", ob.Asks, err)
	}
	if err := r.fake.Inject(fakebinance.Fault{Path: "/api/v3/depth", Kind: fakebinance.FaultMaintenance}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ex.OrderBook(ctx, btcusdt, 20); executor.KindOf(err) != executor.KindUnavailable {
		t.Errorf("OrderBook() in maintenance = %v; want unavailable", err)
	}
}
