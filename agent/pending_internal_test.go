package agent

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// TestPendingBuysFromOpenOrders: what resting buys still buy, by symbol,
// at their limit prices; filled parts, sells and stops do not count.
func TestPendingBuysFromOpenOrders(t *testing.T) {
	d := decimal.RequireFromString
	got := pendingBuys([]executor.OrderReport{
		{Symbol: "BTC/USDT", Side: schemas.SideBuy, Quantity: d("0.003"), FilledQty: d("0.001"), Price: d("40000")},
		{Symbol: "BTC/USDT", Side: schemas.SideBuy, Quantity: d("0.001"), Price: d("39000")},
		{Symbol: "BTC/USDT", Side: schemas.SideSell, Quantity: d("0.002"), Price: d("38000"), StopPrice: d("38100")},
		{Symbol: "ETH/USDT", Side: schemas.SideBuy, Quantity: d("0.5"), FilledQty: d("0.5"), Price: d("2000")},
	})
	want := schemas.PendingBuy{Qty: d("0.003"), Notional: d("119")} // 0.002×40000 + 0.001×39000
	if len(got) != 1 || !got["BTC/USDT"].Qty.Equal(want.Qty) || !got["BTC/USDT"].Notional.Equal(want.Notional) {
		t.Fatalf("pendingBuys = %+v; want only BTC/USDT %+v", got, want)
	}
	if pendingBuys(nil) != nil {
		t.Fatal("no open order: want nil (pending_buys omitted from the state)")
	}
}
