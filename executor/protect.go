package executor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// Protection event kinds.
const (
	// ProtStopPlaced: a protective stop now covers the entry's fill.
	ProtStopPlaced = "stop_placed"
	// ProtStopResized: more of the entry filled; the stop was replaced by
	// one covering the new filled quantity.
	ProtStopResized = "stop_resized"
	// ProtClosed: the stop could not be placed, so the rest of the entry
	// was cancelled and an exit order sells the filled quantity.
	ProtClosed = "stop_failed_closed"
	// ProtExitFailed: neither a stop nor an exit could be placed: the
	// filled quantity is unprotected and needs an operator.
	ProtExitFailed = "exit_failed"
	// ProtDeferred: the fill so far is below the market's minimum order;
	// the stop waits for more fills while the entry is open.
	ProtDeferred = "protection_deferred"
	// ProtReleased: a sell decision on the symbol cancelled the stops so
	// the position can be sold; they come back (resized to what is still
	// held) if the sell does not sell it.
	ProtReleased = "protection_released"
	// ProtStopTrailed: the stop was raised (Executor.Trail): a new stop at
	// the higher price replaced the live one, cancel then place, both
	// journaled.
	ProtStopTrailed = "stop_trailed"
	// ProtDust: the entry is final and what is left unprotected is below
	// the minimum order: it can be neither protected nor sold.
	ProtDust = "unprotected_dust"
)

// ProtectionEvent is something the executor did (or could not do) to
// protect a filled entry, for the audit log and notifications. The orders
// themselves are in the journal.
type ProtectionEvent struct {
	Kind               string          `json:"kind"`
	DecisionID         string          `json:"decision_id"`
	Symbol             string          `json:"symbol"`
	EntryClientOrderID string          `json:"entry_client_order_id"`
	ClientOrderID      string          `json:"client_order_id,omitempty"` // the stop or exit order
	Quantity           decimal.Decimal `json:"quantity"`
	StopPrice          decimal.Decimal `json:"stop_price"`
	Reason             string          `json:"reason,omitempty"`
	At                 time.Time       `json:"at"`
}

// needsProtection: a buy entry with a stop loss.
func needsProtection(ev schemas.OrderEvent) bool {
	return ev.Role == RoleEntry && ev.Side == schemas.SideBuy && ev.StopPrice.Sign() > 0
}

// seqRole is the role string that derives the client id of the n-th stop
// or exit of a decision: "stop", "stop.2", "stop.3"...
func seqRole(kind string, n int) string {
	if n == 1 {
		return kind
	}
	return kind + "." + strconv.Itoa(n)
}

type protState struct {
	entry        schemas.OrderEvent
	stops, exits []schemas.OrderEvent // newest event of each, in sequence
}

func (e *Executor) loadProt(ctx context.Context, decisionID string) (protState, bool, error) {
	var ps protState
	entry, ok, err := e.j.LastOrderEvent(ctx, ClientOrderID(decisionID, RoleEntry))
	if err != nil || !ok {
		return ps, false, err
	}
	ps.entry = entry
	for _, kind := range []string{RoleStop, RoleExit} {
		for n := 1; ; n++ {
			ev, ok, err := e.j.LastOrderEvent(ctx, ClientOrderID(decisionID, seqRole(kind, n)))
			if err != nil {
				return ps, false, err
			}
			if !ok {
				break
			}
			if kind == RoleStop {
				ps.stops = append(ps.stops, ev)
			} else {
				ps.exits = append(ps.exits, ev)
			}
		}
	}
	return ps, true, nil
}

// netQty is what the entry put in the account: the filled quantity less a
// fee paid in the base asset, rounded down to the amount step.
func netQty(entry schemas.OrderEvent, m Market) decimal.Decimal {
	q := entry.FilledQty
	if entry.FeeCurrency != "" && entry.FeeCurrency == m.Base {
		q = q.Sub(entry.Fee)
	}
	return FloorToStep(q, m.AmountStep)
}

func sold(evs ...[]schemas.OrderEvent) decimal.Decimal {
	s := decimal.Zero
	for _, l := range evs {
		for _, ev := range l {
			s = s.Add(ev.FilledQty)
		}
	}
	return s
}

func isLive(s schemas.OrderState) bool {
	return s == schemas.OrderAcknowledged || s == schemas.OrderPartiallyFilled
}

func isUnresolved(s schemas.OrderState) bool {
	return s == schemas.OrderSubmitted || s == schemas.OrderUnknown
}

func belowMin(m Market, qty, price decimal.Decimal) bool {
	return qty.LessThan(m.AmountStep) || qty.LessThan(m.MinAmount) || qty.Mul(price).LessThan(m.MinNotional)
}

func (e *Executor) stopPrices(entry schemas.OrderEvent, m Market) (stop, limit decimal.Decimal) {
	return e.stopAt(entry.StopPrice, m)
}

// stopAt is a stop's trigger on the price step and its limit below it.
func (e *Executor) stopAt(trigger decimal.Decimal, m Market) (stop, limit decimal.Decimal) {
	stop = FloorToStep(trigger, m.PriceStep)
	limit = FloorToStep(stop.Mul(decimal.NewFromInt(1).Sub(e.opt.StopLimitOffset)), m.PriceStep)
	return stop, limit
}

// levelPrices are the prices of the decision's stop: the highest trigger
// journaled for it (the entry's stop, or a stop a trail raised), so a
// stop replaced for any reason never comes back lower.
func (e *Executor) levelPrices(entry schemas.OrderEvent, stops []schemas.OrderEvent, m Market) (stop, limit decimal.Decimal) {
	lvl := entry.StopPrice
	for _, s := range stops {
		if s.StopPrice.GreaterThan(lvl) {
			lvl = s.StopPrice
		}
	}
	return e.stopAt(lvl, m)
}

// ensureIntent returns the pending (journaled, never sent) order of kind
// for qty, journaling a new intent, and superseding a pending one of
// another quantity, as needed.
func (e *Executor) ensureIntent(ctx context.Context, entry schemas.OrderEvent, list []schemas.OrderEvent, kind string, qty decimal.Decimal, m Market) (schemas.OrderEvent, error) {
	n := len(list)
	if n > 0 && list[n-1].State == schemas.OrderIntent {
		if list[n-1].Quantity.Equal(qty) {
			return list[n-1], nil
		}
		sup := e.next(list[n-1], schemas.OrderRejected, "never sent: superseded by a stop for the changed fill")
		if err := e.append(ctx, sup); err != nil {
			return schemas.OrderEvent{}, err
		}
	}
	role := seqRole(kind, n+1)
	ev := schemas.OrderEvent{
		ClientOrderID: ClientOrderID(entry.DecisionID, role), DecisionID: entry.DecisionID, Role: kind,
		State: schemas.OrderIntent, Symbol: entry.Symbol, Side: schemas.SideSell, Quantity: qty, At: e.now().UTC(),
	}
	if kind == RoleStop {
		ev.Type = TypeStopLossLimit
		ev.StopPrice, ev.Price = e.levelPrices(entry, list, m)
		ev.Reason = "protects " + entry.ClientOrderID
	} else {
		ev.Type = TypeMarket
		ev.Reason = "closes " + entry.ClientOrderID
	}
	if err := e.append(ctx, ev); err != nil {
		return schemas.OrderEvent{}, err
	}
	return ev, nil
}

// planStop journals the stop a grown fill needs before the fill itself is
// journaled (see record).
func (e *Executor) planStop(ctx context.Context, entry schemas.OrderEvent) error {
	m, err := e.market(ctx, entry.Symbol)
	if err != nil {
		return err
	}
	ps, ok, err := e.loadProt(ctx, entry.DecisionID)
	if err != nil || !ok || len(ps.exits) > 0 {
		return err
	}
	need := FloorToStep(netQty(entry, m).Sub(sold(ps.stops)), m.AmountStep)
	live := decimal.Zero
	for _, s := range ps.stops {
		if isLive(s.State) || isUnresolved(s.State) {
			live = live.Add(s.Quantity.Sub(s.FilledQty))
		}
	}
	_, limit := e.stopPrices(entry, m)
	if need.Sign() <= 0 || live.Equal(need) || belowMin(m, need, limit) {
		return nil
	}
	_, err = e.ensureIntent(ctx, entry, ps.stops, RoleStop, need, m)
	return err
}

func (e *Executor) emit(p ProtectionEvent) {
	p.At = e.now().UTC()
	switch p.Kind {
	case ProtExitFailed, ProtDust, ProtClosed:
		e.log.Error("executor: protection", "kind", p.Kind, "decision_id", p.DecisionID, "symbol", p.Symbol, "qty", p.Quantity, "reason", p.Reason)
	default:
		e.log.Info("executor: protection", "kind", p.Kind, "decision_id", p.DecisionID, "symbol", p.Symbol, "qty", p.Quantity)
	}
	if e.prots != nil {
		*e.prots = append(*e.prots, p)
	}
	if e.opt.OnProtection != nil {
		e.opt.OnProtection(p)
	}
}

// warnOnce emits a warning-type event once per decision and quantity.
func (e *Executor) warnOnce(p ProtectionEvent) {
	key := p.Kind + " " + p.Quantity.String()
	if e.warned[p.DecisionID] == key {
		return
	}
	e.warned[p.DecisionID] = key
	e.emit(p)
}

func (e *Executor) protectDecision(ctx context.Context, decisionID string) {
	if err := e.protect(ctx, decisionID); err != nil {
		e.log.Error("executor: protecting a fill failed; retried on the next poll", "decision_id", decisionID, "err", err)
	}
}

// cancel cancels one of our open orders (one attempt: writes are not
// retried; the next poll tries again) and journals what the exchange says.
// An order that is no longer open is fetched instead.
func (e *Executor) cancel(ctx context.Context, ev schemas.OrderEvent) (schemas.OrderEvent, error) {
	c, stop := context.WithTimeout(ctx, e.opt.ReadTimeout)
	rep, err := e.ex.CancelOrder(c, ev.Symbol, ev.ClientOrderID)
	stop()
	cancelled := err == nil
	if KindOf(err) == KindNotFound {
		rep, err = e.fetch(ctx, ev.Symbol, ev.ClientOrderID)
	}
	if err != nil {
		return ev, err
	}
	out, err := e.record(ctx, ev, rep)
	if err == nil && cancelled {
		e.trackCancelled(ev, out)
	}
	return out, err
}

// protect makes the protection of one decision's entry match its fill:
// one live stop covering the filled quantity not yet sold, or, when the
// stop cannot be placed, an exit selling it. Safe to call any time; it only
// acts on a difference.
func (e *Executor) protect(ctx context.Context, decisionID string) error {
	for round := 0; round < 4; round++ {
		ps, ok, err := e.loadProt(ctx, decisionID)
		if err != nil || !ok || !needsProtection(ps.entry) {
			return err
		}
		entry := ps.entry
		if entry.FilledQty.Sign() == 0 {
			return nil
		}
		m, err := e.market(ctx, entry.Symbol)
		if err != nil {
			return err
		}
		want := netQty(entry, m)
		if len(ps.exits) > 0 {
			return e.closeRest(ctx, ps, m, want)
		}
		unresolved, changedState := false, false
		for _, s := range ps.stops {
			if !isUnresolved(s.State) {
				continue
			}
			r, err := e.resolve(ctx, s)
			switch {
			case err == nil && !isUnresolved(r.State):
				changedState = true
			case e.mayBeLive(ctx, r):
				unresolved = true
			default:
				// Never seen on the exchange and too old to arrive
				// there: it protects nothing. If it is there after all,
				// it holds its quantity, which the free balance below
				// then lacks, so the new stop cannot sell it twice.
				e.log.Warn("executor: unresolved stop never seen on the exchange; protecting the position anew", "client_order_id", s.ClientOrderID)
			}
		}
		if unresolved {
			return nil // the stop may exist or still arrive: wait until it is resolved
		}
		if changedState {
			continue // reload with the resolved states
		}
		var live []schemas.OrderEvent
		liveRem := decimal.Zero
		var pending *schemas.OrderEvent
		placedBefore := false
		for i, s := range ps.stops {
			if s.ExchangeOrderID != "" {
				placedBefore = true
			}
			switch {
			case isLive(s.State):
				live = append(live, s)
				liveRem = liveRem.Add(s.Quantity.Sub(s.FilledQty))
			case s.State == schemas.OrderIntent && i == len(ps.stops)-1:
				pending = &ps.stops[i]
			}
		}
		stopPx, limitPx := e.levelPrices(entry, ps.stops, m)
		held := FloorToStep(want.Sub(sold(ps.stops)), m.AmountStep)
		avail, sellsOpen, err := e.protectable(ctx, decisionID, entry.Symbol, m)
		if err != nil {
			// No stop is sized without this cycle's balance: one larger
			// than what is held would be refused (-2010) and close the
			// position. The next poll tries again.
			return err
		}
		need := held
		if avail.LessThan(need) {
			need = FloorToStep(avail, m.AmountStep)
		}
		base := ProtectionEvent{DecisionID: decisionID, Symbol: entry.Symbol, EntryClientOrderID: entry.ClientOrderID, StopPrice: stopPx}
		if need.Sign() <= 0 {
			if pending != nil && !sellsOpen {
				if err := e.append(ctx, e.next(*pending, schemas.OrderRejected, "never sent: nothing left to protect")); err != nil {
					return err
				}
			}
			return nil
		}
		// A pending stop above every live one is a trail (Executor.Trail):
		// the live stops are replaced by it, cancel then place.
		trailing := pending != nil && len(live) > 0
		for _, s := range live {
			if pending != nil && !pending.StopPrice.GreaterThan(s.StopPrice) {
				trailing = false
			}
		}
		if len(live) > 0 && liveRem.Equal(need) && !trailing {
			if pending != nil {
				if err := e.append(ctx, e.next(*pending, schemas.OrderRejected, "never sent: the live stop covers the position")); err != nil {
					return err
				}
			}
			return nil // protected
		}
		if belowMin(m, need, limitPx) {
			p := base
			p.Quantity = need.Sub(liveRem)
			if !entry.State.Final() {
				p.Kind, p.Reason = ProtDeferred, fmt.Sprintf("filled %s is below the minimum order (amount %s, notional %s); waiting for more fills", need, m.MinAmount, m.MinNotional)
			} else {
				p.Kind, p.Reason = ProtDust, fmt.Sprintf("%s %s below the minimum order can be neither protected nor sold", p.Quantity, m.Base)
				if pending != nil && !sellsOpen && belowMin(m, held, limitPx) && len(live) == 0 {
					// Dust for good: the pending stop can never be sent.
					if err := e.append(ctx, e.next(*pending, schemas.OrderRejected, "never sent: "+p.Reason)); err != nil {
						return err
					}
				}
			}
			e.warnOnce(p)
			return nil
		}
		if len(live) > 0 {
			// Replace: cancel, then place one stop for the whole fill.
			for _, s := range live {
				if _, err := e.cancel(ctx, s); err != nil {
					return fmt.Errorf("cancel stop %s to resize it: %w", s.ClientOrderID, err)
				}
			}
			continue // reload: the cancelled stops may have filled meanwhile
		}
		intent, err := e.ensureIntent(ctx, entry, ps.stops, RoleStop, need, m)
		if err != nil {
			return err
		}
		e.limiter.Record()
		ev, err := e.submit(ctx, intent)
		p := base
		p.ClientOrderID, p.Quantity = ev.ClientOrderID, ev.Quantity
		switch ev.State {
		case schemas.OrderAcknowledged, schemas.OrderPartiallyFilled, schemas.OrderFilled:
			p.Kind = ProtStopPlaced
			switch {
			case strings.HasPrefix(intent.Reason, trailReason):
				p.Kind = ProtStopTrailed
			case placedBefore:
				p.Kind = ProtStopResized
			}
			p.StopPrice = intent.StopPrice
			e.emit(p)
			return nil
		case schemas.OrderRejected:
			return e.failStop(ctx, decisionID, ev.Reason)
		}
		return err // unknown: resolved on a later poll
	}
	return errors.New("protection did not settle; retried on the next poll")
}

// failStop handles a stop the exchange refused: cancel what is left of the
// entry, then sell what filled.
func (e *Executor) failStop(ctx context.Context, decisionID, reason string) error {
	e.log.Error("executor: protective stop refused; closing the filled entry", "decision_id", decisionID, "reason", reason)
	ps, ok, err := e.loadProt(ctx, decisionID)
	if err != nil || !ok {
		return err
	}
	if isLive(ps.entry.State) {
		if _, err := e.cancel(ctx, ps.entry); err != nil {
			e.log.Error("executor: cannot cancel the rest of an unprotected entry", "client_order_id", ps.entry.ClientOrderID, "err", err)
		}
		if ps, ok, err = e.loadProt(ctx, decisionID); err != nil || !ok {
			return err
		}
	}
	m, err := e.market(ctx, ps.entry.Symbol)
	if err != nil {
		return err
	}
	return e.closeRest(ctx, ps, m, netQty(ps.entry, m))
}

// closeRest sells, with a market exit, what the entry filled and no stop or
// exit has sold yet.
func (e *Executor) closeRest(ctx context.Context, ps protState, m Market, want decimal.Decimal) error {
	entry := ps.entry
	why := "protective stop could not be placed"
	for _, s := range ps.stops {
		if s.State == schemas.OrderRejected && s.Reason != "" {
			why = "protective stop refused: " + s.Reason
		}
	}
	base := ProtectionEvent{DecisionID: entry.DecisionID, Symbol: entry.Symbol, EntryClientOrderID: entry.ClientOrderID, StopPrice: entry.StopPrice}
	if isLive(entry.State) {
		if _, err := e.cancel(ctx, entry); err != nil {
			e.log.Error("executor: cannot cancel the rest of an unprotected entry", "client_order_id", entry.ClientOrderID, "err", err)
		}
	}
	for _, x := range ps.exits {
		if isUnresolved(x.State) {
			if r, err := e.resolve(ctx, x); err != nil || isUnresolved(r.State) {
				return err
			}
			return nil // resolved: the next poll continues from the new state
		}
		if isLive(x.State) {
			return nil // still executing; Poll refreshes it
		}
	}
	for _, s := range ps.stops {
		if s.State == schemas.OrderIntent {
			// The exit takes over: a stop journaled but never sent is not.
			if err := e.append(ctx, e.next(s, schemas.OrderRejected, "never sent: the position is being closed")); err != nil {
				return err
			}
		}
	}
	need := FloorToStep(want.Sub(sold(ps.stops, ps.exits)), m.AmountStep)
	avail, _, err := e.protectable(ctx, entry.DecisionID, entry.Symbol, m)
	if err != nil {
		return err
	}
	if avail.LessThan(need) {
		need = FloorToStep(avail, m.AmountStep)
	}
	if need.Sign() <= 0 {
		return nil
	}
	n := len(ps.exits)
	if n > 0 && ps.exits[n-1].State == schemas.OrderRejected {
		p := base
		p.Kind, p.ClientOrderID, p.Quantity = ProtExitFailed, ps.exits[n-1].ClientOrderID, need
		p.Reason = why + "; exit refused: " + ps.exits[n-1].Reason
		e.warnOnce(p)
		return nil // not retried automatically: an operator decides
	}
	if belowMin(m, need, entry.AvgPrice) {
		p := base
		p.Kind, p.Quantity, p.Reason = ProtDust, need, why+"; the rest is below the minimum order"
		e.warnOnce(p)
		return nil
	}
	intent, err := e.ensureIntent(ctx, entry, ps.exits, RoleExit, need, m)
	if err != nil {
		return err
	}
	e.limiter.Record()
	ev, err := e.submit(ctx, intent)
	p := base
	p.ClientOrderID, p.Quantity = ev.ClientOrderID, need
	switch ev.State {
	case schemas.OrderAcknowledged, schemas.OrderPartiallyFilled, schemas.OrderFilled:
		p.Kind, p.Reason = ProtClosed, why
		e.emit(p)
		return nil
	case schemas.OrderRejected:
		p.Kind, p.Reason = ProtExitFailed, why+"; exit refused: "+ev.Reason
		e.warnOnce(p)
		return nil
	}
	return err
}

// protectable is how much of the base asset one decision's protection may
// sell now: the free balance read in this cycle (less what this cycle has
// sent since), plus what this decision's own live stops lock (they are
// replaced when resized), less what our unresolved sells that may still be
// live could take. Orders resting on the exchange already lock what they
// sell, so nothing sized by the free balance can sell it twice. sellsOpen
// says a sell entry on the symbol may still sell (its protection comes
// back if it does not). Without a balance read in this cycle there is no
// answer: the error says why.
func (e *Executor) protectable(ctx context.Context, decisionID, symbol string, m Market) (avail decimal.Decimal, sellsOpen bool, err error) {
	bals, err := e.balances(ctx)
	if err != nil {
		return decimal.Zero, false, fmt.Errorf("balances unreadable, so no protective order is sized this cycle: %w", err)
	}
	open, err := e.j.OpenOrderEvents(ctx)
	if err != nil {
		return decimal.Zero, false, fmt.Errorf("journal unreadable, so no protective order is sized this cycle: %w", err)
	}
	avail = bals[m.Base].Free
	for _, ev := range open {
		if ev.Symbol != symbol || ev.Side != schemas.SideSell {
			continue
		}
		rem := ev.Quantity.Sub(ev.FilledQty)
		switch {
		case isLive(ev.State):
			if ev.Role == RoleEntry {
				sellsOpen = true
			}
			if ev.Role == RoleStop && ev.DecisionID == decisionID {
				avail = avail.Add(rem)
			}
		case isUnresolved(ev.State):
			if !e.mayBeLive(ctx, ev) {
				continue // never reached the exchange and cannot any more
			}
			if ev.Role == RoleEntry {
				sellsOpen = true
			}
			avail = avail.Sub(rem)
		}
	}
	if avail.Sign() < 0 {
		avail = decimal.Zero
	}
	return avail, sellsOpen, nil
}

// releaseStops cancels our live stops on a symbol before a sell entry is
// sent, so the position they lock can be sold: as few as free the sell's
// quantity beyond what is already free (newest first), not every stop on
// the symbol. Each released decision first gets a pending stop (journaled,
// not sent): if the sell does not sell the position, the next protection
// pass places it again, resized to what is still held; if it does, the
// pending stop is dropped. Without this cycle's balance nothing is
// released (the sell then goes out against what is free).
func (e *Executor) releaseStops(ctx context.Context, sell schemas.OrderEvent) error {
	open, err := e.j.OpenOrderEvents(ctx)
	if err != nil {
		return err
	}
	var decisions []string
	live := map[string][]schemas.OrderEvent{}
	for _, ev := range open {
		if ev.Role == RoleStop && ev.Symbol == sell.Symbol && isLive(ev.State) {
			if live[ev.DecisionID] == nil {
				decisions = append(decisions, ev.DecisionID)
			}
			live[ev.DecisionID] = append(live[ev.DecisionID], ev)
		}
	}
	if len(decisions) == 0 {
		return nil
	}
	m, err := e.market(ctx, sell.Symbol)
	if err != nil {
		return err
	}
	bals, err := e.balances(ctx)
	if err != nil {
		return fmt.Errorf("balances unreadable, so no stop is released for the sell: %w", err)
	}
	short := sell.Quantity.Sub(bals[m.Base].Free)
	var errs []error
	for i := len(decisions) - 1; i >= 0 && short.Sign() > 0; i-- {
		dec := decisions[i]
		ps, ok, err := e.loadProt(ctx, dec)
		if err != nil || !ok {
			errs = append(errs, err)
			continue
		}
		qty := decimal.Zero
		for _, s := range live[dec] {
			qty = qty.Add(s.Quantity.Sub(s.FilledQty))
		}
		if _, err := e.ensureIntent(ctx, ps.entry, ps.stops, RoleStop, qty, m); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range live[dec] {
			if _, err := e.cancel(ctx, s); err != nil {
				errs = append(errs, fmt.Errorf("release stop %s: %w", s.ClientOrderID, err))
			}
		}
		short = short.Sub(qty)
		e.emit(ProtectionEvent{Kind: ProtReleased, DecisionID: dec, Symbol: sell.Symbol, EntryClientOrderID: ps.entry.ClientOrderID,
			Quantity: qty, StopPrice: ps.entry.StopPrice, Reason: "sell decision " + sell.DecisionID + " (" + sell.ClientOrderID + ")"})
	}
	return errors.Join(errs...)
}
