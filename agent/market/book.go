package market

import (
	"fmt"
	"time"

	"github.com/warden-trading/warden/executor"
)

// Book problems.
const (
	ProblemBook    ProblemKind = "bad_book"   // a side empty, crossed, unsorted or a level not positive
	ProblemBookAge ProblemKind = "stale_book" // book too old, without a time or from the future
)

// CheckBook checks an order book before it reaches the state: both sides
// non-empty, every price and quantity above 0, bids strictly falling and
// asks strictly rising from the best, the best bid below the best ask,
// and a time neither after now nor more than maxAge before it. Any
// problem rejects the snapshot: sizing never walks a book it cannot trust.
func CheckBook(ob executor.OrderBook, now time.Time, maxAge time.Duration) []Problem {
	var ps []Problem
	bad := func(kind ProblemKind, format string, args ...any) {
		ps = append(ps, Problem{Kind: kind, Index: -1, Detail: ob.Symbol + " book: " + fmt.Sprintf(format, args...)})
	}
	side := func(name string, ls []executor.Level, falling bool) {
		if len(ls) == 0 {
			bad(ProblemBook, "no %s", name)
			return
		}
		for i, l := range ls {
			if !l.Price.IsPositive() || !l.Qty.IsPositive() {
				bad(ProblemBook, "%s level %d at %s × %s is not positive", name, i, l.Price, l.Qty)
				return
			}
			if i > 0 && ((falling && !l.Price.LessThan(ls[i-1].Price)) || (!falling && !l.Price.GreaterThan(ls[i-1].Price))) {
				bad(ProblemBook, "%s level %d at %s is out of order after %s", name, i, l.Price, ls[i-1].Price)
				return
			}
		}
	}
	side("bids", ob.Bids, true)
	side("asks", ob.Asks, false)
	if len(ob.Bids) > 0 && len(ob.Asks) > 0 && !ob.Bids[0].Price.LessThan(ob.Asks[0].Price) {
		bad(ProblemBook, "crossed: best bid %s is not below best ask %s", ob.Bids[0].Price, ob.Asks[0].Price)
	}
	switch {
	case ob.Time.IsZero():
		bad(ProblemBookAge, "no time")
	case ob.Time.After(now):
		bad(ProblemBookAge, "time %s is after the decision time %s", ob.Time.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case maxAge > 0 && now.Sub(ob.Time) > maxAge:
		bad(ProblemBookAge, "%s old (max %s)", now.Sub(ob.Time), maxAge)
	}
	return ps
}
