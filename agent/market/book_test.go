package market

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
)

func TestCheckBook(t *testing.T) {
	d := decimal.RequireFromString
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	good := func() executor.OrderBook {
		return executor.OrderBook{Symbol: "BTC/USDT", Time: now.Add(-time.Second),
			Bids: []executor.Level{{Price: d("99.9"), Qty: d("1")}, {Price: d("99.8"), Qty: d("2")}},
			Asks: []executor.Level{{Price: d("100.1"), Qty: d("1")}, {Price: d("100.2"), Qty: d("2")}}}
	}
	if ps := CheckBook(good(), now, time.Minute); len(ps) != 0 {
		t.Fatalf("good book: %v", ps)
	}
	at := good()
	at.Time = now.Add(-time.Minute)
	if ps := CheckBook(at, now, time.Minute); len(ps) != 0 {
		t.Errorf("book exactly max age old: %v; want accepted", ps)
	}
	for name, tc := range map[string]struct {
		mod  func(*executor.OrderBook)
		kind ProblemKind
		want string
	}{
		"crossed":    {func(b *executor.OrderBook) { b.Bids[0].Price = d("100.1") }, ProblemBook, "crossed: best bid 100.1 is not below best ask 100.1"},
		"empty asks": {func(b *executor.OrderBook) { b.Asks = nil }, ProblemBook, "no asks"},
		"empty bids": {func(b *executor.OrderBook) { b.Bids = nil }, ProblemBook, "no bids"},
		"unsorted":   {func(b *executor.OrderBook) { b.Asks[1].Price = d("100.05") }, ProblemBook, "asks level 1 at 100.05 is out of order"},
		"zero qty":   {func(b *executor.OrderBook) { b.Bids[1].Qty = d("0") }, ProblemBook, "not positive"},
		"stale":      {func(b *executor.OrderBook) { b.Time = now.Add(-time.Minute - time.Millisecond) }, ProblemBookAge, "old (max 1m0s)"},
		"future":     {func(b *executor.OrderBook) { b.Time = now.Add(time.Second) }, ProblemBookAge, "after the decision time"},
		"no time":    {func(b *executor.OrderBook) { b.Time = time.Time{} }, ProblemBookAge, "no time"},
	} {
		b := good()
		tc.mod(&b)
		ps := CheckBook(b, now, time.Minute)
		if len(ps) == 0 || ps[0].Kind != tc.kind || !strings.Contains(ps[0].Detail, tc.want) {
			t.Errorf("%s: problems %+v; want %s %q", name, ps, tc.kind, tc.want)
		}
	}
}
