package policy

import (
	"math"
	"testing"

	"github.com/warden-trading/warden/schemas"
)

func TestNumberParam(t *testing.T) {
	p := mustDefault(t)
	for name, want := range map[string]string{"max_day_loss_pct": "3", "max_drawdown_pct": "10", "max_exposure_pct": "30", "min_buy_confidence": "0.55"} {
		got, ok := p.NumberParam(name)
		if !ok || got.String() != want {
			t.Errorf("NumberParam(%q) = %s, %v; want %s", name, got, ok, want)
		}
	}
	if _, ok := p.NumberParam("allowed_symbols"); ok {
		t.Error("NumberParam of a list: ok")
	}
	if _, ok := p.NumberParam("no_such_param"); ok {
		t.Error("NumberParam of a missing param: ok")
	}
	var nilp *Policy
	if _, ok := nilp.NumberParam("max_day_loss_pct"); ok {
		t.Error("NumberParam on a nil policy: ok")
	}
}

// TestBookWalk: expected slippage for a buy and a sell, a book too thin,
// and the depth map on the order's side.
func TestBookWalk(t *testing.T) {
	bk := &schemas.Book{
		Bids: []schemas.BookLevel{{Price: d("99.9"), Qty: d("1")}, {Price: d("99.8"), Qty: d("1")}, {Price: d("98"), Qty: d("10")}},
		Asks: []schemas.BookLevel{{Price: d("100.1"), Qty: d("1")}, {Price: d("100.3"), Qty: d("1")}, {Price: d("102"), Qty: d("10")}},
	}
	if got := expectedSlippage(bk, schemas.SideBuy, d("1")); got != 0 {
		t.Errorf("buy of the first level: %v bps; want 0", got)
	}
	// 2 at 100.1 and 100.3: average 100.2, 0.1 over 100.1 = 9.99000999... bps, rounded up.
	if got := expectedSlippage(bk, schemas.SideBuy, d("2")); got != 9.99000999001 {
		t.Errorf("buy of two levels: %v bps", got)
	}
	// Sell 2 at 99.9 and 99.8: average 99.85, 0.05 under 99.9.
	if got := expectedSlippage(bk, schemas.SideSell, d("2")); got != 5.00500500500501 {
		t.Errorf("sell of two levels: %v bps", got)
	}
	if got := expectedSlippage(bk, schemas.SideBuy, d("12.001")); !math.IsInf(got, 1) {
		t.Errorf("buy larger than the book: %v; want +Inf", got)
	}
	m, ok := depthWithin(bk, schemas.SideBuy, d("100")).Value().(map[int64]float64)
	if !ok {
		t.Fatalf("depth map type %T", depthWithin(bk, schemas.SideBuy, d("100")).Value())
	}
	// within 5 bps of 100 (≤ 100.05): nothing; 10 bps (≤ 100.1): 100.1; 50 bps (≤ 100.5): 200.4; 100 bps: 200.4.
	if m[5] != 0 || m[10] != 100.1 || m[25] != 100.1 || m[50] != 200.4 || m[100] != 200.4 {
		t.Errorf("buy depth = %v", m)
	}
	ms := depthWithin(bk, schemas.SideSell, d("100")).Value().(map[int64]float64)
	if ms[10] != 99.9 || ms[25] != 199.7 || ms[100] != 199.7 {
		t.Errorf("sell depth = %v", ms)
	}
}
