package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// bookOf reads the order book of snap's symbol when the market data source
// serves books (executor.BookReader: the paper exchange, ccxt), checks it
// (market.CheckBook: a crossed, empty or stale book rejects the snapshot)
// and puts it in the snapshot. A failed read is an error: the run is
// skipped, never decided on a book it could not see.
func (a *Agent) bookOf(ctx context.Context, snap *market.Snapshot, now time.Time) error {
	br, ok := a.d.Market.(executor.BookReader)
	if !ok {
		return nil
	}
	ob, err := br.OrderBook(ctx, snap.Symbol, executor.BookDepth)
	if err != nil {
		return fmt.Errorf("order book: %w", err)
	}
	if ob.Symbol == "" {
		ob.Symbol = snap.Symbol
	}
	if d := ob.Time.Sub(now); d > 0 && d <= maxFetchSkew {
		ob.Time = now // fetched after the cycle began: latency, not the future
	}
	if ps := market.CheckBook(ob, now, a.o.MaxDataAge); len(ps) > 0 {
		return &market.SnapshotError{Symbol: snap.Symbol, Timeframe: snap.Timeframe, Problems: ps}
	}
	snap.Book = &ob
	return nil
}

// stateBook is the snapshot's book in the state contract's form.
func stateBook(ob *executor.OrderBook) *schemas.Book {
	if ob == nil {
		return nil
	}
	b := &schemas.Book{Bids: make([]schemas.BookLevel, len(ob.Bids)), Asks: make([]schemas.BookLevel, len(ob.Asks))}
	for i, l := range ob.Bids {
		b.Bids[i] = schemas.BookLevel{Price: l.Price, Qty: l.Qty}
	}
	for i, l := range ob.Asks {
		b.Asks[i] = schemas.BookLevel{Price: l.Price, Qty: l.Qty}
	}
	return b
}

// Trailer raises protective stops (executor.Executor.TrailSymbol).
type Trailer interface {
	TrailSymbol(ctx context.Context, symbol string, trigger decimal.Decimal) ([]string, error)
}

// trailStops applies the policy's trailing stop (params.trailing) at each
// cycle: for every symbol, the stops resting on it are raised to the last
// close less the trail's distance when that is at least one price step
// higher (the executor never lowers a stop and journals the replacement).
// A failure is logged; the next cycle tries again.
func (a *Agent) trailStops(ctx context.Context, snaps map[string]market.Snapshot, p *policy.Policy) {
	tr := p.Trailing()
	t, ok := a.d.Orders.(Trailer)
	if tr == nil || !ok {
		return
	}
	for _, sym := range a.o.Symbols {
		snap, ok := snaps[sym]
		if !ok {
			continue
		}
		last, ok := snap.Last()
		if !ok {
			continue
		}
		trigger, ok := tr.Trigger(last.Close, snap.Indicators.ATR14)
		if !ok {
			continue
		}
		raised, err := t.TrailSymbol(ctx, sym, trigger)
		if err != nil {
			a.d.Logger.Warn("trailing stop: not raised this cycle", "symbol", sym, "err", err)
		}
		for _, id := range raised {
			a.d.Logger.Info("trailing stop raised", "symbol", sym, "decision", id, "stop", trigger.String())
		}
	}
}

// RequestCounter is a market data source that counts the exchange calls
// it sends (the ccxt adapter).
type RequestCounter interface {
	Requests() int64
}

// RequestObserver receives each cycle's exchange request count
// (agent/metrics: warden_exchange_requests_per_cycle).
type RequestObserver interface {
	ObserveExchangeRequests(n int64)
}

func (a *Agent) requestsSent() int64 {
	if c, ok := a.d.Market.(RequestCounter); ok {
		return c.Requests()
	}
	return -1
}

// countRequests sets the cycle's exchange request count from the counter
// read before it (before < 0: the source does not count).
func (a *Agent) countRequests(res *CycleResult, before int64) {
	if before < 0 {
		return
	}
	res.ExchangeRequests = a.requestsSent() - before
	if o, ok := a.d.Observer.(RequestObserver); ok {
		o.ObserveExchangeRequests(res.ExchangeRequests)
	}
	a.d.Logger.Debug("exchange requests this cycle", "n", res.ExchangeRequests)
}

// trailingWords is the policy's trailing stop for the prompt ("" without).
func trailingWords(p *policy.Policy) string {
	if t := p.Trailing(); t != nil {
		return t.Describe()
	}
	return ""
}
