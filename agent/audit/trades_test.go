package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

var dd = decimal.RequireFromString

func fill(sym string, side schemas.Side, qty, price, fee, feeCur string, at time.Time, role string, intended string) FillRecord {
	f := FillRecord{Trade: executor.Trade{Symbol: sym, Side: side, Quantity: dd(qty), Price: dd(price), Fee: dd(fee), FeeCurrency: feeCur, Time: at},
		Role: role, DecisionID: "d-" + at.Format("150405")}
	if intended != "" {
		f.Intended = dd(intended)
	}
	return f
}

// minBTC is BTC/USDT's minimums on Binance: step 0.00001, notional 5.
var minBTC = MinOrderFromState(schemas.State{Markets: map[string]schemas.Market{
	"BTC/USDT": {AmountStep: dd("0.00001"), MinAmount: dd("0.00001"), MinNotional: dd("5")},
}})

// TestBookConservesCash: whatever the fills, fees and rounding, the
// realised PnL of every trip plus the cost still held equals the cash the
// fills moved, exactly.
func TestBookConservesCash(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	fills := []FillRecord{
		// buy 0.00238 @ 42010.5, fee in BTC; two partial sells (one a stop),
		// fee in USDT; a third of the basis does not divide exactly
		fill("BTC/USDT", schemas.SideBuy, "0.00238", "42010.5", "0.00000238", "BTC", h(0), "entry", "42010.5"),
		fill("BTC/USDT", schemas.SideSell, "0.00079", "42500", "0.033575", "USDT", h(1), "entry", "42510"),
		fill("BTC/USDT", schemas.SideSell, "0.00158", "41190.1", "0.06508036", "USDT", h(2), "stop", "41200"),
		// a second trip: buy with the fee in USDT, still open
		fill("BTC/USDT", schemas.SideBuy, "0.001", "40000", "0.04", "USDT", h(3), "entry", "40000"),
		// another symbol, a fee in BNB (unvalued)
		fill("ETH/USDT", schemas.SideBuy, "0.1", "2000", "0.0001", "BNB", h(4), "entry", ""),
	}
	b := BuildBook(fills, minBTC)
	cash := decimal.Zero
	for _, f := range fills {
		n := f.Quantity.Mul(f.Price)
		if f.Side == schemas.SideBuy {
			cash = cash.Sub(n)
			if f.FeeCurrency == "USDT" {
				cash = cash.Sub(f.Fee)
			}
		} else {
			cash = cash.Add(n)
			if f.FeeCurrency == "USDT" {
				cash = cash.Sub(f.Fee)
			}
		}
	}
	realised, basis := decimal.Zero, decimal.Zero
	for _, tr := range b.Trips {
		realised, basis = realised.Add(tr.Realised), basis.Add(tr.Basis)
	}
	if got := realised.Sub(basis); !got.Equal(cash) {
		t.Fatalf("realised %s - basis %s = %s; the fills moved %s", realised, basis, got, cash)
	}
	if len(b.Trips) != 3 {
		t.Fatalf("%d trips; want 3 (BTC closed, BTC open, ETH open): %+v", len(b.Trips), b.Trips)
	}
	first := b.Trips[0]
	// 0.00238 - 0.00000238 = 0.00237762 held; 0.00237 sold; 0.00000762 dust
	// is below the 0.00001 step: the trip closed and its dust moved on.
	if first.Open || !first.ClosedAt.Equal(h(2)) || first.CarriedTo != 2 || !first.Held.IsZero() {
		t.Errorf("trip 1 = open %v closed %v carried to %d held %s; want closed at h2, dust carried to trip 2", first.Open, first.ClosedAt, first.CarriedTo, first.Held)
	}
	if second := b.Trips[1]; !second.CarriedIn.Equal(dd("0.00000762")) || !second.Held.Equal(dd("0.00100762")) || !second.Open {
		t.Errorf("trip 2 carried in %s, holds %s; want 0.00000762 and 0.00100762", second.CarriedIn, second.Held)
	}
	// Fees: 0.00000238 BTC at 42010.5 plus the two USDT fees.
	if want := dd("0.00000238").Mul(dd("42010.5")).Add(dd("0.033575")).Add(dd("0.06508036")); !first.Fees.Equal(want) {
		t.Errorf("trip 1 fees %s; want %s", first.Fees, want)
	}
	if !first.ExitPrice.Equal(dd("0.00079").Mul(dd("42500")).Add(dd("0.00158").Mul(dd("41190.1"))).DivRound(dd("0.00237"), 8)) {
		t.Errorf("exit price %s", first.ExitPrice)
	}
	// Slippage: sell 0.00079 at 42500 vs 42510 intended (10 worse), stop at
	// 41190.1 vs trigger 41200 (9.9 worse), buy at its limit.
	if want := dd("0.00079").Mul(dd("10")).Add(dd("0.00158").Mul(dd("9.9"))); !first.Slippage.Equal(want) {
		t.Errorf("slippage %s; want %s", first.Slippage, want)
	}
	if got := first.ExitRoles; len(got) != 2 || got[0] != "sell" || got[1] != "stop" {
		t.Errorf("exit roles %v; want [sell stop]", got)
	}
	if eth := b.Trips[2]; eth.FeesOther["BNB"].String() != "0.0001" || !eth.Fees.IsZero() {
		t.Errorf("ETH fees %s, other %v; want 0 valued and 0.0001 BNB listed", eth.Fees, eth.FeesOther)
	}

	// Profit: totals equal the trips; unrealised at marks; by day sums up.
	p := b.Profit(Marks{"BTC/USDT": dd("41000")})
	if !p.Total.Realised.Equal(realised) {
		t.Errorf("profit realised %s; trips %s", p.Total.Realised, realised)
	}
	btc := b.Positions["BTC/USDT"]
	if want := btc.Qty.Mul(dd("41000")).Sub(btc.Basis); !p.Total.Unrealised.Equal(want) {
		t.Errorf("unrealised %s; want %s", p.Total.Unrealised, want)
	}
	if len(p.Total.UnknownMark) != 1 || p.Total.UnknownMark[0] != "ETH/USDT" {
		t.Errorf("unknown marks %v; want ETH/USDT (no mark given: not counted, and said so)", p.Total.UnknownMark)
	}
	if p.Total.Closed != 1 || p.Total.Wins+p.Total.Losses != 1 {
		t.Errorf("closed %d wins %d losses %d", p.Total.Closed, p.Total.Wins, p.Total.Losses)
	}
}

// TestTripClosesAtTheMinimum: what is left after a sell closes the trip
// when it is below the exchange's smallest order, and not when it is
// exactly the smallest order.
func TestTripClosesAtTheMinimum(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		sell   string
		closed bool
	}{
		{"0.00088", false}, // 0.00012 left at 50000 = 6 USDT: a sellable order
		{"0.00090", false}, // 0.0001 left = 5 USDT: exactly the minimum notional, sellable
		{"0.00091", true},  // 0.00009 left = 4.5 USDT: one step below it, dust
		{"0.00099", true},  // 0.00001 left = 0.5 USDT
		{"0.001", true},    // nothing left
	} {
		fills := []FillRecord{
			fill("BTC/USDT", schemas.SideBuy, "0.001", "50000", "0", "", t0, "entry", ""),
			fill("BTC/USDT", schemas.SideSell, c.sell, "50000", "0", "", t0.Add(time.Hour), "entry", ""),
		}
		if got := !BuildBook(fills, minBTC).Trips[0].Open; got != c.closed {
			t.Errorf("sell %s of 0.001 at 50000 (min notional 5): closed %v; want %v", c.sell, got, c.closed)
		}
	}
	// The amount step alone (no minimum notional): exactly one step left is
	// an order, less is dust.
	stepOnly := MinOrderFromState(schemas.State{Markets: map[string]schemas.Market{"BTC/USDT": {AmountStep: dd("0.00001")}}})
	for _, c := range []struct {
		sell   string
		closed bool
	}{{"0.00099", false}, {"0.000991", true}} {
		fills := []FillRecord{
			fill("BTC/USDT", schemas.SideBuy, "0.001", "50000", "0", "", t0, "entry", ""),
			fill("BTC/USDT", schemas.SideSell, c.sell, "50000", "0", "", t0.Add(time.Hour), "entry", ""),
		}
		if got := !BuildBook(fills, stepOnly).Trips[0].Open; got != c.closed {
			t.Errorf("sell %s of 0.001 (step 0.00001): closed %v; want %v", c.sell, got, c.closed)
		}
	}
	// Without minimums only nothing left closes a trip.
	fills := []FillRecord{
		fill("BTC/USDT", schemas.SideBuy, "0.001", "50000", "0", "", t0, "entry", ""),
		fill("BTC/USDT", schemas.SideSell, "0.000999", "50000", "0", "", t0.Add(time.Hour), "entry", ""),
	}
	if !BuildBook(fills, nil).Trips[0].Open {
		t.Errorf("with no minimums a trip holding 0.000001 closed")
	}
}

// TestFillsFromTheJournal: an order without recorded fills gets its fills
// from its journal events (each growth of the filled quantity); one with
// recorded fills uses those, never both.
func TestFillsFromTheJournal(t *testing.T) {
	ctx := context.Background()
	st, _ := openTest(t, Options{})
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := schemas.OrderEvent{ClientOrderID: "wdA", DecisionID: "r:0", Role: "entry", State: schemas.OrderIntent, Symbol: "BTC/USDT",
		Side: schemas.SideBuy, Type: "limit", Quantity: dd("0.003"), Price: dd("40000"), At: t0}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.AppendOrderEvent(ctx, ev))
	ev.State, ev.FilledQty, ev.AvgPrice, ev.Fee, ev.FeeCurrency, ev.At = schemas.OrderPartiallyFilled, dd("0.001"), dd("40000"), dd("0.000001"), "BTC", t0.Add(time.Minute)
	must(st.AppendOrderEvent(ctx, ev))
	ev.State, ev.At = schemas.OrderAcknowledged, t0.Add(2*time.Minute) // no growth: no fill
	must(st.AppendOrderEvent(ctx, ev))
	ev.State, ev.FilledQty, ev.AvgPrice, ev.Fee, ev.At = schemas.OrderFilled, dd("0.003"), dd("39990"), dd("0.000003"), t0.Add(3*time.Minute)
	must(st.AppendOrderEvent(ctx, ev))
	// A second order with a recorded fill.
	ev2 := schemas.OrderEvent{ClientOrderID: "wdB", DecisionID: "r:1", Role: "stop", State: schemas.OrderIntent, Symbol: "BTC/USDT",
		Side: schemas.SideSell, Type: "stop_loss_limit", Quantity: dd("0.002"), Price: dd("38800"), StopPrice: dd("39000"), At: t0.Add(4 * time.Minute)}
	must(st.AppendOrderEvent(ctx, ev2))
	ev2.State, ev2.FilledQty, ev2.AvgPrice, ev2.At = schemas.OrderFilled, dd("0.002"), dd("38950"), t0.Add(5*time.Minute)
	must(st.AppendOrderEvent(ctx, ev2))
	if _, err := st.RecordFill(ctx, executor.Trade{ID: "77", ClientOrderID: "wdB", Symbol: "BTC/USDT", Side: schemas.SideSell, Price: dd("38950"), Quantity: dd("0.002"), Fee: dd("0.0779"), FeeCurrency: "USDT", Time: t0.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	fills, err := st.FillRecords(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, f := range fills {
		got += fmt.Sprintf("%s %s %s@%s fee %s %s intended %s; ", f.ID, f.Side, f.Quantity, f.Price, f.Fee, f.Role, f.Intended)
	}
	// 0.003 × 39990 = 119.97 in all; 0.001 × 40000 = 40 first; the second
	// fill is 79.97 for 0.002: 39985.
	want := "wdA#1 buy 0.001@40000 fee 0.000001 entry intended 40000; wdA#2 buy 0.002@39985 fee 0.000002 entry intended 40000; 77 sell 0.002@38950 fee 0.0779 stop intended 39000; "
	if got != want {
		t.Errorf("fills:\n%s\nwant\n%s", got, want)
	}
	if bps, ok := fills[2].SlippageBps(); !ok || !bps.Equal(dd("12.8205")) {
		t.Errorf("stop slippage %s bps; want 12.8205 (50 under the 39000 trigger)", bps)
	}
	// Windows filter by the fill's time.
	if fs, _ := st.FillRecords(ctx, t0.Add(2*time.Minute), t0.Add(5*time.Minute)); len(fs) != 1 || fs[0].ID != "wdA#2" {
		t.Errorf("fills in [2m, 5m) = %v; want wdA#2 only", fs)
	}
}

func BenchmarkBuildBook(b *testing.B) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var fills []FillRecord
	for i := range 10000 {
		at := t0.Add(time.Duration(i) * time.Hour)
		if i%2 == 0 {
			fills = append(fills, fill("BTC/USDT", schemas.SideBuy, "0.00238", "42010.5", "0.00000238", "BTC", at, "entry", "42010.5"))
		} else {
			fills = append(fills, fill("BTC/USDT", schemas.SideSell, "0.00237", "42100.1", "0.09977724", "USDT", at, "stop", "42110"))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		bk := BuildBook(fills, minBTC)
		_ = bk.Profit(Marks{"BTC/USDT": dd("42000")})
	}
}
