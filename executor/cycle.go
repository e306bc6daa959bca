package executor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// OrderHistorian is optionally implemented by a Journal (agent/audit does):
// every event of one client order id, oldest first. With it the executor
// keeps what decides an unknown order's fate (how often the exchange
// answered "not found", since when it is unresolved) in the journal, so a
// process started by cron resolves it exactly as a long-running one does.
// Without it those counts live in the process's memory.
type OrderHistorian interface {
	OrderHistory(ctx context.Context, clientOrderID string) ([]schemas.OrderEvent, error)
}

// notFoundReason starts the reason of the unknown event that journals one
// "not found" answer to a lookup by client order id.
const notFoundReason = "not found by client order id"

// cycle is what one Place, Poll or Reconcile call reads from the exchange
// at most once and then reuses, so that the calls of an idle cycle do not
// grow with the journal: the balances (adjusted for what the cycle itself
// places, cancels and fills) and the list of open orders.
type cycle struct {
	balRead bool
	bals    map[string]Balance
	balErr  error
	// fillsAfterRead: fills were recorded after the balances were read, so
	// the read no longer tells the exchange's totals exactly.
	fillsAfterRead bool
	// sent: our sells this cycle sent after reading the balances, already
	// taken off the free balance above (trackSent). One whose outcome is
	// unknown is not taken off again as a sell that may still land.
	sent map[string]bool
	// alloc: each symbol's allocation (allocate), until the cycle journals
	// an event or its balances move.
	alloc map[string]allocation

	openRead bool
	open     map[string]OrderReport // by client order id
	openList []OrderReport
	openErr  error
}

// begin starts a cycle (the caller holds e.mu); the returned func ends it.
func (e *Executor) begin() func() {
	if e.cyc != nil {
		return func() {}
	}
	e.cyc = &cycle{}
	return func() { e.cyc = nil }
}

// balances are the account's balances as read once in this cycle. A failed
// read is not repeated within the cycle: its error is returned again.
func (e *Executor) balances(ctx context.Context) (map[string]Balance, error) {
	c := e.cyc
	if c == nil {
		return read(ctx, e, "balances", e.ex.Balances)
	}
	if !c.balRead {
		c.balRead = true
		c.bals, c.balErr = read(ctx, e, "balances", e.ex.Balances)
		c.alloc = nil
	}
	return c.bals, c.balErr
}

// adjust moves the cycle's balance of asset by dFree and dLocked.
func (e *Executor) adjust(asset string, dFree, dLocked decimal.Decimal) {
	if e.cyc == nil || e.cyc.bals == nil || asset == "" {
		return
	}
	e.cyc.alloc = nil
	b := e.cyc.bals[asset]
	b.Asset = asset
	b.Free, b.Locked = b.Free.Add(dFree), b.Locked.Add(dLocked)
	e.cyc.bals[asset] = b
}

// openOrders is the exchange's list of open orders as read once in this
// cycle.
func (e *Executor) openOrders(ctx context.Context) ([]OrderReport, map[string]OrderReport, error) {
	c := e.cyc
	if c == nil {
		l, err := read(ctx, e, "open orders", func(c context.Context) ([]OrderReport, error) { return e.ex.OpenOrders(c, "") })
		m := map[string]OrderReport{}
		for _, o := range l {
			m[o.ClientOrderID] = o
		}
		return l, m, err
	}
	if !c.openRead {
		c.openRead = true
		c.openList, c.openErr = read(ctx, e, "open orders", func(c context.Context) ([]OrderReport, error) { return e.ex.OpenOrders(c, "") })
		c.open = make(map[string]OrderReport, len(c.openList))
		for _, o := range c.openList {
			if o.ClientOrderID != "" {
				c.open[o.ClientOrderID] = o
			}
		}
	}
	return c.openList, c.open, c.openErr
}

// trackSent updates the cycle's balances for a sell this cycle sent after
// it read them: all of it leaves the free balance (what rests is locked,
// what filled is sold, and an unknown outcome may be either).
func (e *Executor) trackSent(ev schemas.OrderEvent) {
	if ev.Side != schemas.SideSell || ev.State == schemas.OrderRejected || ev.State == schemas.OrderIntent {
		return
	}
	rem := decimal.Zero
	if isLive(ev.State) {
		rem = ev.Quantity.Sub(ev.FilledQty)
	}
	if e.cyc != nil && e.cyc.bals != nil {
		if e.cyc.sent == nil {
			e.cyc.sent = map[string]bool{}
		}
		e.cyc.sent[ev.ClientOrderID] = true
	}
	e.adjust(e.base(ev.Symbol), ev.Quantity.Neg(), rem)
}

// sentThisCycle reports whether trackSent already took the sell cid off
// this cycle's free balance.
func (e *Executor) sentThisCycle(cid string) bool {
	return e.cyc != nil && e.cyc.sent[cid]
}

// trackCancelled updates the cycle's balances for a sell of ours this
// cycle cancelled: what it locked is free again. Fills learnt of otherwise
// never raise the free balance (the read may already include them), so the
// balance a stop is sized by is never above what the exchange reported.
func (e *Executor) trackCancelled(prev, ev schemas.OrderEvent) {
	if ev.Side != schemas.SideSell || ev.State != schemas.OrderCancelled || !isLive(prev.State) {
		return
	}
	rem := ev.Quantity.Sub(ev.FilledQty)
	e.adjust(e.base(ev.Symbol), rem, rem.Neg())
}

func (e *Executor) base(symbol string) string {
	if m, ok := e.markets[symbol]; ok {
		return m.Base
	}
	b, _ := splitSymbol(symbol)
	return b
}

// unresolvedRun looks at the journal history of an unresolved (submitted
// or unknown) order: how many "not found" answers are journaled since it
// was submitted, and when it was submitted (the start of its newest run of
// submitted and unknown events). history is false when the journal keeps
// no history; then the counts are the process's own.
func (e *Executor) unresolvedRun(ctx context.Context, ev schemas.OrderEvent) (lookups int, since time.Time, history bool, err error) {
	h, ok := e.j.(OrderHistorian)
	if !ok {
		return e.notFound[ev.ClientOrderID], ev.At, false, nil
	}
	evs, err := h.OrderHistory(ctx, ev.ClientOrderID)
	if err != nil {
		return 0, ev.At, true, fmt.Errorf("executor: order history %s: %w", ev.ClientOrderID, err)
	}
	since = ev.At
	for i := len(evs) - 1; i >= 0; i-- {
		x := evs[i]
		if !isUnresolved(x.State) {
			break
		}
		since = x.At
		if x.State == schemas.OrderUnknown && strings.HasPrefix(x.Reason, notFoundReason) {
			lookups++
		}
	}
	return lookups, since, true, nil
}

// mayBeLive reports whether an unresolved order may be, or may still come
// to be, on the exchange: it was seen there (it has an exchange order id or
// a late reply accepted it), or it was submitted less than LandWindow ago
// (a delayed request may still arrive; Binance refuses one older than its
// recvWindow, at most 60 s). An unresolved order for which neither holds
// has not reached the exchange and cannot any more: it neither protects
// a position nor holds what a stop may sell.
func (e *Executor) mayBeLive(ctx context.Context, ev schemas.OrderEvent) bool {
	if ev.ExchangeOrderID != "" {
		return true
	}
	if _, ok := e.lateReply(ev.ClientOrderID); ok {
		return true
	}
	_, since, _, err := e.unresolvedRun(ctx, ev)
	if err != nil {
		return true // cannot tell: assume it may be there
	}
	return e.now().Sub(since) < e.opt.LandWindow
}
