package executor

import (
	"context"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// trailReason starts the journaled reason of a stop that a trail raised.
const trailReason = "trails "

// Trail raises the protective stop of decisionID's entry to trigger
// (floored to the price step) when that is at least one price step above
// the stop in force: a stop is raised, never lowered. The new stop is
// journaled first (an intent at the higher price), then the live stop is
// cancelled and the new one placed, each step journaled; a process that
// dies between the cancel and the place leaves the intent, and the next
// start (Reconcile, Poll) places it, so the position is never left
// without a stop by a restart. It reports whether the stop was raised (or
// is being raised: the new stop may still be resolving).
func (e *Executor) Trail(ctx context.Context, decisionID string, trigger decimal.Decimal) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.trail(ctx, decisionID, trigger)
}

// TrailSymbol trails (see Trail) the stop of every decision with a live
// protective stop on symbol to trigger, and returns the decisions whose
// stop was raised.
func (e *Executor) TrailSymbol(ctx context.Context, symbol string, trigger decimal.Decimal) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	open, err := e.j.OpenOrderEvents(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var raised []string
	for _, ev := range open {
		if ev.Role != RoleStop || ev.Symbol != symbol || !isLive(ev.State) || seen[ev.DecisionID] {
			continue
		}
		seen[ev.DecisionID] = true
		ok, err := e.trail(ctx, ev.DecisionID, trigger)
		if err != nil {
			return raised, err
		}
		if ok {
			raised = append(raised, ev.DecisionID)
		}
	}
	return raised, nil
}

func (e *Executor) trail(ctx context.Context, decisionID string, trigger decimal.Decimal) (bool, error) {
	ps, ok, err := e.loadProt(ctx, decisionID)
	if err != nil || !ok || !needsProtection(ps.entry) || len(ps.exits) > 0 {
		return false, err
	}
	m, err := e.market(ctx, ps.entry.Symbol)
	if err != nil {
		return false, err
	}
	cur, _ := e.levelPrices(ps.entry, ps.stops, m)
	stop, limit := e.stopAt(trigger, m)
	if stop.Sub(cur).LessThan(m.PriceStep) || !limit.IsPositive() {
		return false, nil
	}
	var live []schemas.OrderEvent
	rem := decimal.Zero
	for _, s := range ps.stops {
		switch {
		case isUnresolved(s.State):
			return false, nil // wait until the stop in flight is resolved
		case isLive(s.State):
			live = append(live, s)
			rem = rem.Add(s.Quantity.Sub(s.FilledQty))
		}
	}
	if len(live) == 0 || belowMin(m, rem, limit) {
		return false, nil // nothing resting to raise
	}
	n := len(ps.stops)
	ev := schemas.OrderEvent{
		ClientOrderID: ClientOrderID(decisionID, seqRole(RoleStop, n+1)), DecisionID: decisionID, Role: RoleStop,
		State: schemas.OrderIntent, Symbol: ps.entry.Symbol, Side: schemas.SideSell, Type: TypeStopLossLimit,
		Quantity: rem, StopPrice: stop, Price: limit, At: e.now().UTC(),
		Reason: trailReason + live[len(live)-1].ClientOrderID + " from " + cur.String() + " to " + stop.String(),
	}
	if err := e.append(ctx, ev); err != nil {
		return false, err
	}
	// The raised stop is journaled before a pending one it supersedes is
	// closed (as in ensureIntent): a process that dies in between leaves
	// a pending stop, never none.
	if ps.stops[n-1].State == schemas.OrderIntent {
		if err := e.append(ctx, e.next(ps.stops[n-1], schemas.OrderRejected, "never sent: superseded by a raised stop")); err != nil {
			return false, err
		}
	}
	return true, e.protect(ctx, decisionID)
}
