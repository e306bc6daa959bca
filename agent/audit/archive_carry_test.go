package audit

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// TestArchiveCarriesWhatArchivedFillsLeftHeld: an archive removes the fills
// of closed round trips, but what those fills left held still counts. BTC:
// a buy of 0.01 and a sell of 0.00999 leave 0.00001 of dust (under the
// minimum order: the trip is closed), which the next, still open, trip
// takes over; ETH: a buy before the archive's boundary and its sell after
// it. After archiving, the live database alone gives the same positions
// (quantity, cost, average entry), the same open trip and the same
// realised profit for the sell still in it (ETH's, against the archived
// buy's cost), and so does a second archive on top; with the archives
// merged back in, nothing is counted twice.
func TestArchiveCarriesWhatArchivedFillsLeftHeld(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, path := openTest(t, Options{Clock: clk.Now})
	dir := path + "-archive"
	t0 := day0
	fill := func(id, sym string, side schemas.Side, qty, price string, at time.Time) {
		t.Helper()
		clk.t = at
		ev := orderEvent(id, schemas.OrderAcknowledged, at)
		ev.Symbol, ev.Side, ev.Quantity, ev.Price = sym, side, decimal.RequireFromString(qty), decimal.RequireFromString(price)
		if err := s.AppendOrderEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordFill(ctx, executor.Trade{ID: "t-" + id, ClientOrderID: id, Symbol: sym, Side: side, Price: decimal.RequireFromString(price),
			Quantity: decimal.RequireFromString(qty), Fee: decimal.RequireFromString("0.1"), FeeCurrency: "USDT", Time: at}); err != nil {
			t.Fatal(err)
		}
		ev.State, ev.At = schemas.OrderFilled, at
		if err := s.AppendOrderEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	market := schemas.Market{Bid: decimal.NewFromInt(42000), Ask: decimal.NewFromInt(42001), Last: decimal.NewFromInt(42000),
		AmountStep: decimal.RequireFromString("0.00001"), PriceStep: decimal.RequireFromString("0.01"),
		MinAmount: decimal.RequireFromString("0.00001"), MinNotional: decimal.NewFromInt(5)}
	state := func(at time.Time) {
		t.Helper()
		clk.t = at
		id := "state-" + at.Format("20060102T15")
		if err := s.BeginRun(ctx, Run{ID: id, StartedAt: at, Mode: "paper", Advisor: "baseline"}); err != nil {
			t.Fatal(err)
		}
		st := schemas.State{Now: at, Mode: "paper", Markets: map[string]schemas.Market{"BTC/USDT": market, "ETH/USDT": market, "SOL/USDT": market}}
		if _, err := s.RecordVerdicts(ctx, id, "p", st, nil); err != nil {
			t.Fatal(err)
		}
	}
	fill("btc-b1", "BTC/USDT", schemas.SideBuy, "0.01", "40000", t0)
	fill("btc-s1", "BTC/USDT", schemas.SideSell, "0.00999", "41000", t0.Add(time.Hour)) // 0.00001 left: dust
	fill("btc-b2", "BTC/USDT", schemas.SideBuy, "0.01", "42000", t0.Add(2*time.Hour))   // open, with the dust
	fill("eth-b1", "ETH/USDT", schemas.SideBuy, "0.5", "2000", t0.Add(3*time.Hour))
	fill("sol-b1", "SOL/USDT", schemas.SideBuy, "1", "100", t0.Add(4*time.Hour))
	fill("sol-s1", "SOL/USDT", schemas.SideSell, "0.999", "110", t0.Add(5*time.Hour)) // 0.001 of dust, no fill after
	history(t, s, clk, 1, 4)
	fill("eth-s1", "ETH/USDT", schemas.SideSell, "0.5", "2100", t0.Add(4*24*time.Hour)) // after the boundary
	state(t0.Add(5 * 24 * time.Hour))

	book := func() Book {
		t.Helper()
		fills, err := s.FillRecords(ctx, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		st, _, err := s.LatestState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		carried, err := s.Carried(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return BuildBookCarried(fills, MinOrderFromState(st), carried)
	}
	open := func(b Book, sym string) RoundTrip {
		t.Helper()
		for _, tr := range b.Trips {
			if tr.Open && tr.Symbol == sym {
				return tr
			}
		}
		t.Fatalf("no open %s trip in %+v", sym, b.Trips)
		return RoundTrip{}
	}
	// same compares the positions, the open trip, and the realised profit
	// of the symbols named (those whose sells are all still read).
	same := func(what string, before, after Book, realised ...string) {
		t.Helper()
		for _, sym := range []string{"BTC/USDT", "ETH/USDT"} {
			pb, pa := before.Positions[sym], after.Positions[sym]
			if !pb.Qty.Equal(pa.Qty) || !pb.Basis.Equal(pa.Basis) || !pb.AvgEntry.Equal(pa.AvgEntry) {
				t.Errorf("%s: %s position %+v; before archiving %+v", what, sym, pa, pb)
			}
		}
		for _, sym := range realised {
			if !before.Realised[sym].Equal(after.Realised[sym]) {
				t.Errorf("%s: %s realised %s; before archiving %s", what, sym, after.Realised[sym], before.Realised[sym])
			}
		}
		ob, oa := open(before, "BTC/USDT"), open(after, "BTC/USDT")
		if !oa.Held.Equal(ob.Held) || !oa.Basis.Equal(ob.Basis) || !oa.CarriedIn.Equal(ob.CarriedIn) {
			t.Errorf("%s: open BTC trip held %s basis %s carried in %s; before archiving %s, %s, %s", what, oa.Held, oa.Basis, oa.CarriedIn, ob.Held, ob.Basis, ob.CarriedIn)
		}
	}
	before := book()
	if tr := open(before, "BTC/USDT"); !tr.CarriedIn.Equal(decimal.RequireFromString("0.00001")) {
		t.Fatalf("the open BTC trip carries in %s; want the 0.00001 of dust", tr.CarriedIn)
	}
	if _, err := s.Archive(ctx, ArchiveOptions{Before: t0.Add(3 * 24 * time.Hour), Dir: dir}); err != nil {
		t.Fatal(err)
	}
	fills, _ := s.FillRecords(ctx, time.Time{}, time.Time{})
	for _, f := range fills {
		if f.ClientOrderID == "btc-b1" || f.ClientOrderID == "btc-s1" || f.ClientOrderID == "eth-b1" {
			t.Fatalf("the fill of %s is still live: the archive has nothing to carry", f.ClientOrderID)
		}
	}
	// ETH's sell is still live: it realises against the archived buy's cost.
	same("after archiving", before, book(), "ETH/USDT")

	// A second archive on top carries the carry on.
	state(t0.Add(9 * 24 * time.Hour))
	history(t, s, clk, 10, 2)
	state(t0.Add(12 * 24 * time.Hour))
	if _, err := s.Archive(ctx, ArchiveOptions{Before: t0.Add(11 * 24 * time.Hour), Dir: dir}); err != nil {
		t.Fatal(err)
	}
	same("after a second archive", before, book())
	if p := book().Positions["SOL/USDT"]; !p.Qty.Equal(decimal.RequireFromString("0.001")) {
		t.Errorf("SOL dust after archiving every SOL fill = %+v; want 0.001 held", p)
	}

	// SOL trades again: the new buy adds to the carried dust, as it does
	// over every fill.
	fill("sol-b2", "SOL/USDT", schemas.SideBuy, "1", "120", t0.Add(12*24*time.Hour+time.Hour))
	live := book()
	mergedNow := func() Book {
		t.Helper()
		m, err := s.WithArchives(ctx, dir, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		mf, err := m.FillRecords(ctx, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		carried, err := m.Carried(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st, _, _ := m.LatestState(ctx)
		return BuildBookCarried(mf, MinOrderFromState(st), carried)
	}
	full := mergedNow()
	if lp, fp := live.Positions["SOL/USDT"], full.Positions["SOL/USDT"]; !lp.Qty.Equal(decimal.RequireFromString("1.001")) || !lp.Qty.Equal(fp.Qty) || !lp.Basis.Equal(fp.Basis) {
		t.Errorf("SOL after a new buy: live %+v, every fill %+v; want 1.001 and the same basis", lp, fp)
	}

	// The archives merged back in: the carried fills are there, and the
	// carry is not added to them.
	m, err := s.WithArchives(ctx, dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mf, err := m.FillRecords(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	carried, err := m.Carried(ctx)
	if err != nil || len(carried) == 0 {
		t.Fatalf("merged store's carry = %v, %v; want the archive's", carried, err)
	}
	st, _, _ := m.LatestState(ctx)
	same("merged with the archives", before, BuildBookCarried(mf, MinOrderFromState(st), carried), "BTC/USDT", "ETH/USDT")
	if rep, err := s.VerifyArchives(ctx, dir, VerifyOptions{}); err != nil || !rep.OK {
		t.Errorf("VerifyArchives = %+v, %v", rep, err)
	}
}
