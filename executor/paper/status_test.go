package paper_test

import (
	"context"
	"errors"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// TestMaintenance: in maintenance the paper exchange reports it and
// refuses new orders the way Binance does (503, -1016), while an order
// already resting stays and still fills; out of maintenance orders are
// taken again.
func TestMaintenance(t *testing.T) {
	ctx := context.Background()
	x := newPaper(t, nil)
	var _ executor.StatusReader = x
	if s, err := x.SystemStatus(ctx); err != nil || s != executor.SystemNormal {
		t.Fatalf("SystemStatus() = %q, %v; want normal", s, err)
	}
	place(t, x, limit("rest", schemas.SideBuy, "0.01", "49000"))
	x.SetMaintenance(true)
	if s, err := x.SystemStatus(ctx); err != nil || s != executor.SystemMaintenance {
		t.Fatalf("SystemStatus() in maintenance = %q, %v; want maintenance", s, err)
	}
	_, err := x.PlaceOrder(ctx, limit("new", schemas.SideBuy, "0.01", "49000"))
	var xe *executor.Error
	if !errors.As(err, &xe) || xe.Kind != executor.KindUnavailable || xe.Code != "-1016" {
		t.Fatalf("PlaceOrder in maintenance error = %v; want unavailable -1016", err)
	}
	if _, err := x.FetchOrder(ctx, btc, "new"); executor.KindOf(err) != executor.KindNotFound {
		t.Fatalf("the refused order exists: %v", err)
	}
	feed(t, x, candle(1, 50000, 50000, 48000, 48500, 100))
	if r := fetch(t, x, "rest"); r.Status != schemas.OrderFilled {
		t.Fatalf("resting order in maintenance = %s; want filled", r.Status)
	}
	x.SetMaintenance(false)
	place(t, x, limit("after", schemas.SideBuy, "0.01", "48000"))
}

// TestMarketStatus: a market set to BREAK is listed with that status and
// refuses new orders; set back to TRADING it takes them again.
func TestMarketStatus(t *testing.T) {
	ctx := context.Background()
	x := newPaper(t, nil)
	ms, err := x.Markets(ctx)
	if err != nil || ms[btc].Status != executor.MarketTrading || ms[btc].TradingStatus() != executor.MarketTrading {
		t.Fatalf("Markets() = %+v, %v; want BTC/USDT TRADING", ms[btc], err)
	}
	if err := x.SetMarketStatus(btc, "BREAK"); err != nil {
		t.Fatal(err)
	}
	ms, _ = x.Markets(ctx)
	if ms[btc].Status != "BREAK" || ms[btc].Active || ms["ETH/USDT"].Status != executor.MarketTrading {
		t.Fatalf("after BREAK: BTC %+v ETH %+v", ms[btc], ms["ETH/USDT"])
	}
	if _, err := x.PlaceOrder(ctx, limit("b", schemas.SideBuy, "0.01", "49000")); executor.KindOf(err) != executor.KindRejected {
		t.Fatalf("PlaceOrder in a market on a break error = %v; want rejected", err)
	}
	if err := x.SetMarketStatus("DOGE/USDT", "BREAK"); err == nil {
		t.Error("SetMarketStatus of an unknown market: no error")
	}
	if err := x.SetMarketStatus(btc, ""); err == nil {
		t.Error("SetMarketStatus with an empty status: no error")
	}
	if err := x.SetMarketStatus(btc, executor.MarketTrading); err != nil {
		t.Fatal(err)
	}
	place(t, x, limit("b2", schemas.SideBuy, "0.01", "49000"))
}

// TestModelledBook: the paper book starts at the ticker's bid and ask,
// levels about 1 bp apart on the price step, holding together the share of
// the last candle's volume an order may take.
func TestModelledBook(t *testing.T) {
	ctx := context.Background()
	x := newPaper(t, nil) // one candle at 50,000, volume 100, participation 0.1
	var _ executor.BookReader = x
	ob, err := x.OrderBook(ctx, btc, 20)
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := x.Ticker(ctx, btc)
	if len(ob.Bids) != 20 || len(ob.Asks) != 20 || !ob.Bids[0].Price.Equal(tk.Bid) || !ob.Asks[0].Price.Equal(tk.Ask) || !ob.Time.Equal(tk.Time) {
		t.Fatalf("book = %d bids from %v, %d asks from %v at %s; ticker %s/%s at %s", len(ob.Bids), ob.Bids[0].Price, len(ob.Asks), ob.Asks[0].Price, ob.Time, tk.Bid, tk.Ask, tk.Time)
	}
	total := decimal.Zero
	for i, l := range ob.Asks {
		total = total.Add(l.Qty)
		if i > 0 && !l.Price.Sub(ob.Asks[i-1].Price).Equal(d("5")) { // 1 bp of 50,000
			t.Errorf("ask level %d at %s; want 5 above the previous", i, l.Price)
		}
		if i > 0 && !ob.Bids[i-1].Price.Sub(ob.Bids[i].Price).Equal(d("5")) {
			t.Errorf("bid level %d at %s; want 5 below the previous", i, ob.Bids[i].Price)
		}
	}
	if !total.Equal(d("10")) { // 0.1 × 100
		t.Errorf("ask depth = %s BTC; want 10 (participation × candle volume)", total)
	}
	if _, err := x.OrderBook(ctx, "DOGE/USDT", 20); err == nil {
		t.Error("OrderBook of an unknown symbol: no error")
	}
}
