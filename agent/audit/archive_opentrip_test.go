package audit

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// TestArchiveKeepsOpenTrips: archiving keeps the order events and fills of
// every round trip still open, so the database alone still knows an open
// position's buy and its cost; a closed trip's records go to the archive.
// Both chains verify.
func TestArchiveKeepsOpenTrips(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, path := openTest(t, Options{Clock: clk.Now})
	dir := path + "-archive"
	t0 := day0
	order := func(id, sym string, side schemas.Side, qty, price string, at time.Time) {
		t.Helper()
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
	clk.t = t0
	order("btc-buy", "BTC/USDT", schemas.SideBuy, "0.01", "40000", t0) // still held
	order("eth-buy", "ETH/USDT", schemas.SideBuy, "0.5", "2000", t0)   // sold below: closed
	order("eth-sell", "ETH/USDT", schemas.SideSell, "0.5", "2100", t0.Add(time.Hour))
	history(t, s, clk, 1, 4)
	before, err := s.FillRecords(ctx, time.Time{}, time.Time{})
	if err != nil || len(before) != 3 {
		t.Fatalf("fills before = %d, %v", len(before), err)
	}
	bookBefore := BuildBook(before, nil)
	res, err := s.Archive(ctx, ArchiveOptions{Before: t0.Add(3 * 24 * time.Hour), Dir: dir})
	if err != nil || res.File.Name == "" {
		t.Fatalf("Archive = %+v, %v", res, err)
	}
	after, err := s.FillRecords(ctx, time.Time{}, time.Time{})
	if err != nil || len(after) != 1 || after[0].ClientOrderID != "btc-buy" {
		t.Fatalf("live fills after archiving = %+v, %v; want the open BTC buy only", after, err)
	}
	if after[0].Role != "entry" || !after[0].Intended.Equal(decimal.RequireFromString("40000")) {
		t.Errorf("the kept buy lost its order (role %q, intended %s)", after[0].Role, after[0].Intended)
	}
	bookAfter := BuildBook(after, nil)
	var openBefore, openAfter *RoundTrip
	for i := range bookBefore.Trips {
		if bookBefore.Trips[i].Open {
			openBefore = &bookBefore.Trips[i]
		}
	}
	for i := range bookAfter.Trips {
		if bookAfter.Trips[i].Open {
			openAfter = &bookAfter.Trips[i]
		}
	}
	if openBefore == nil || openAfter == nil || !openAfter.Cost.Equal(openBefore.Cost) || !openAfter.Held.Equal(openBefore.Held) {
		t.Errorf("open trip before %+v, after %+v; want the same cost and holding", openBefore, openAfter)
	}
	for _, ref := range []string{"eth-buy", "eth-sell"} {
		if n := count(t, s, `SELECT COUNT(*) FROM records WHERE ref = ?`, ref); n != 0 {
			t.Errorf("%d records of the closed trip's order %s are still live", n, ref)
		}
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
	if rep, err := s.VerifyArchives(ctx, dir, VerifyOptions{}); err != nil || !rep.OK {
		t.Errorf("VerifyArchives = %+v, %v", rep, err)
	}
	// Sold later: the next archive lets the whole trip go.
	clk.t = t0.Add(5 * 24 * time.Hour)
	order("btc-sell", "BTC/USDT", schemas.SideSell, "0.01", "41000", clk.t)
	history(t, s, clk, 6, 2)
	if _, err := s.Archive(ctx, ArchiveOptions{Before: t0.Add(7 * 24 * time.Hour), Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if after, err := s.FillRecords(ctx, time.Time{}, time.Time{}); err != nil || len(after) != 0 {
		t.Errorf("live fills after the trip closed and was archived = %d, %v; want none", len(after), err)
	}
	if rep, err := s.VerifyArchives(ctx, dir, VerifyOptions{}); err != nil || !rep.OK {
		t.Errorf("VerifyArchives after the second archive = %+v, %v", rep, err)
	}
}
