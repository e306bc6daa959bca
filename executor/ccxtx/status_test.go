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
