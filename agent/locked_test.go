package agent

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// TestLockedBySells: open plain sells lock their unfilled quantity; stops
// (released before a sell) and buys do not.
func TestLockedBySells(t *testing.T) {
	d := decimal.RequireFromString
	got := lockedBySells([]executor.OrderReport{
		{Symbol: "ETH/USDT", Side: schemas.SideSell, Type: "limit", Quantity: d("0.2"), FilledQty: d("0.05")},
		{Symbol: "ETH/USDT", Side: schemas.SideSell, Type: "limit", Quantity: d("0.1")},
		{Symbol: "ETH/USDT", Side: schemas.SideSell, Type: "stop_loss_limit", Quantity: d("0.35"), StopPrice: d("2100")},
		{Symbol: "BTC/USDT", Side: schemas.SideBuy, Type: "limit", Quantity: d("0.01")},
		{Symbol: "BTC/USDT", Side: schemas.SideSell, Type: "limit", Quantity: d("0.01"), FilledQty: d("0.01")},
	})
	if len(got) != 1 || !got["ETH/USDT"].Equal(d("0.25")) {
		t.Errorf("lockedBySells = %v; want ETH/USDT 0.25 only", got)
	}
}
