package executor

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
// another quantity, as needed. The new intent is journaled before the old
// one is closed: a process that dies in between leaves both (the next
// pass drops the older, dropSuperseded), never none, which would drop the
// position from view. note is added to a new stop's reason (releasedFor).
func (e *Executor) ensureIntent(ctx context.Context, entry schemas.OrderEvent, list []schemas.OrderEvent, kind string, qty decimal.Decimal, m Market, note string) (schemas.OrderEvent, error) {
	n := len(list)
	var old *schemas.OrderEvent
	if n > 0 && list[n-1].State == schemas.OrderIntent {
		if list[n-1].Quantity.Equal(qty) {
			return list[n-1], nil
		}
		old = &list[n-1]
	}
	role := seqRole(kind, n+1)
	ev := schemas.OrderEvent{
		ClientOrderID: ClientOrderID(entry.DecisionID, role), DecisionID: entry.DecisionID, Role: kind,
		State: schemas.OrderIntent, Symbol: entry.Symbol, Side: schemas.SideSell, Quantity: qty, At: e.now().UTC(),
	}
	if kind == RoleStop {
		ev.Type = TypeStopLossLimit
		ev.StopPrice, ev.Price = e.levelPrices(entry, list, m)
		ev.Reason = "protects " + entry.ClientOrderID + note
	} else {
		ev.Type = TypeMarket
		ev.Reason = "closes " + entry.ClientOrderID
	}
	if err := e.append(ctx, ev); err != nil {
		return schemas.OrderEvent{}, err
	}
	if old != nil {
		if err := e.append(ctx, e.next(*old, schemas.OrderRejected, "never sent: superseded by a stop for the changed fill")); err != nil {
			return schemas.OrderEvent{}, err
		}
	}
	return ev, nil
}

// dropSuperseded closes the intents of list that a newer order replaced
// (only the last can be pending; see ensureIntent) and reports whether it
// closed any.
func (e *Executor) dropSuperseded(ctx context.Context, list []schemas.OrderEvent) (bool, error) {
	dropped := false
	for _, ev := range list[:max(len(list)-1, 0)] {
		if ev.State != schemas.OrderIntent {
			continue
		}
		if err := e.append(ctx, e.next(ev, schemas.OrderRejected, "never sent: superseded")); err != nil {
			return dropped, err
		}
		dropped = true
	}
	return dropped, nil
}

// planStop journals the stop a grown fill needs before the fill itself is
// journaled (see record). The stop grows by what the fill adds to what the
// decision's protection covered (or had pending): what a sell took from
// the decision stays sold, and is not claimed back from the free balance
// another decision needs (see allocate).
func (e *Executor) planStop(ctx context.Context, entry schemas.OrderEvent) error {
	m, err := e.market(ctx, entry.Symbol)
	if err != nil {
		return err
	}
	ps, ok, err := e.loadProt(ctx, entry.DecisionID)
	if err != nil || !ok || len(ps.exits) > 0 {
		return err
	}
	held := FloorToStep(netQty(entry, m).Sub(sold(ps.stops)), m.AmountStep)
	covered := decimal.Zero
	for _, s := range ps.stops {
		if isLive(s.State) || isUnresolved(s.State) {
			covered = covered.Add(s.Quantity.Sub(s.FilledQty))
		}
	}
	need, base := held, covered
	if n := len(ps.stops); n > 0 {
		if ps.stops[n-1].State == schemas.OrderIntent {
			base = ps.stops[n-1].Quantity
		}
		need = decimal.Min(held, base.Add(netQty(entry, m).Sub(netQty(ps.entry, m))))
	}
	_, limit := e.stopPrices(entry, m)
	if need.Sign() <= 0 || need.Equal(base) || belowMin(m, need, limit) {
		return nil
	}
	_, err = e.ensureIntent(ctx, entry, ps.stops, RoleStop, need, m, "")
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
	return e.cancelWhy(ctx, ev, "")
}

// cancelWhy is cancel; the journaled cancellation carries reason.
func (e *Executor) cancelWhy(ctx context.Context, ev schemas.OrderEvent, reason string) (schemas.OrderEvent, error) {
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
	why := ""
	if cancelled && rep.Status == schemas.OrderCancelled {
		why = reason
	}
	out, err := e.recordWhy(ctx, ev, rep, why)
	if err == nil && cancelled {
		e.trackCancelled(ev, out)
	}
	return out, err
}

// protect makes the protection of one decision's entry match its share of
// the symbol's base asset (allocate): one live stop covering it, or, when
// the stop cannot be placed, an exit selling it. Safe to call any time; it
// only acts on a difference.
func (e *Executor) protect(ctx context.Context, decisionID string) error {
	for round := 0; round < 4; round++ {
		ps, ok, err := e.loadProt(ctx, decisionID)
		if err != nil || !ok || !needsProtection(ps.entry) {
			return err
		}
		entry := ps.entry
		if entry.FilledQty.Sign() == 0 {
			if entry.State.Final() {
				// The entry ended without a fill (never placed, rejected,
				// cancelled): a stop journaled for it but never sent
				// protects nothing and is closed, not left open.
				for _, st := range ps.stops {
					if st.State == schemas.OrderIntent {
						if err := e.append(ctx, e.next(st, schemas.OrderRejected, "never sent: its entry ended without a fill")); err != nil {
							return err
						}
					}
				}
			}
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
		if dropped, err := e.dropSuperseded(ctx, ps.stops); err != nil || dropped {
			if err != nil {
				return err
			}
			continue
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
		sh, err := e.share(ctx, decisionID, entry.Symbol, m)
		if err != nil {
			// No stop is sized without this cycle's balance: one larger
			// than what is held would be refused (-2010) and close the
			// position. The next poll tries again.
			return err
		}
		need := sh.target
		base := ProtectionEvent{DecisionID: decisionID, Symbol: entry.Symbol, EntryClientOrderID: entry.ClientOrderID, StopPrice: stopPx}
		if need.Sign() <= 0 {
			return e.nothingToPlace(ctx, base, entry, pending, belowMin(m, held, limitPx), sh, m)
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
			// Covered. A pending stop for more stays while a sell that
			// may not sell is open: its share may come back.
			if pending != nil && (!sh.transient || !pending.Quantity.GreaterThan(need)) {
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
				if pending != nil && !sh.transient && belowMin(m, held, limitPx) && len(live) == 0 {
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
			// Replace: journal the stop for the new size (so a process
			// that dies after the cancel still has the position in view),
			// cancel, then place one stop for the whole share.
			if _, err := e.ensureIntent(ctx, entry, ps.stops, RoleStop, need, m, ""); err != nil {
				return err
			}
			for _, s := range live {
				if _, err := e.cancel(ctx, s); err != nil {
					return fmt.Errorf("cancel stop %s to resize it: %w", s.ClientOrderID, err)
				}
			}
			continue // reload: the cancelled stops may have filled meanwhile
		}
		intent, err := e.ensureIntent(ctx, entry, ps.stops, RoleStop, need, m, "")
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

// nothingToPlace handles a decision whose share of the free balance is
// nothing, or too small for an order of its own. Its pending stop is
// closed only when that cannot change: while a sell that may still sell,
// or turn out never placed, is open on the symbol, the share may come back
// and the pending stop keeps the decision in view. dustHeld: what the
// decision holds is itself below the minimum order.
func (e *Executor) nothingToPlace(ctx context.Context, base ProtectionEvent, entry schemas.OrderEvent, pending *schemas.OrderEvent, dustHeld bool, sh share, m Market) error {
	why := "never sent: nothing left to protect"
	if sh.dust.Sign() > 0 && dustHeld {
		p := base
		p.Quantity = sh.dust
		if !entry.State.Final() {
			p.Kind, p.Reason = ProtDeferred, fmt.Sprintf("filled %s is below the minimum order (amount %s, notional %s); waiting for more fills", sh.dust, m.MinAmount, m.MinNotional)
			e.warnOnce(p)
			return nil
		}
		p.Kind, p.Reason = ProtDust, fmt.Sprintf("%s %s below the minimum order can be neither protected nor sold", sh.dust, m.Base)
		e.warnOnce(p)
		why = "never sent: " + p.Reason
	}
	if pending == nil || sh.transient {
		return nil
	}
	return e.append(ctx, e.next(*pending, schemas.OrderRejected, why))
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
	if dropped, err := e.dropSuperseded(ctx, ps.exits); err != nil || dropped {
		return err // the next poll continues from the new state
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
	sh, err := e.share(ctx, entry.DecisionID, entry.Symbol, m)
	if err != nil {
		return err
	}
	need = decimal.Min(need, sh.target)
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
	intent, err := e.ensureIntent(ctx, entry, ps.exits, RoleExit, need, m, "")
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

// releasedFor follows, in the reason of a stop journaled because a sell
// released it (releaseStops), "protects <entry>"; the sell's client order
// id comes after it.
const releasedFor = "; released for sell "

// position is one protected decision's hold on its symbol's base asset, as
// allocate sees it.
type position struct {
	ps   protState
	held decimal.Decimal // what its entry put in the account, less what its stops and exits sold
	// covered is what its live stops and exits lock; claim is what its
	// protection is sized for: the pending stop or exit, else a stop sent
	// but never seen on the exchange, else what is covered.
	covered, claim decimal.Decimal
	released       bool            // the claim is a stop released for a sell that may still sell it
	soldBy         string          // the claim is a stop released for a sell that has ended: its client id
	waiting        bool            // its own stop or exit may be live: it waits until that is resolved
	limit          decimal.Decimal // its stop's limit price, for the minimum order
}

// share is one decision's part of an allocation.
type share struct {
	target    decimal.Decimal // what its protection should cover now
	dust      decimal.Decimal // the share it would get, too small for an order of its own
	transient bool            // see allocation
}

// allocation shares out a symbol's free base balance among the protected
// decisions on it.
type allocation struct {
	pos    []position // oldest entry first
	target []decimal.Decimal
	dust   []decimal.Decimal
	// unclaimed is the free balance that no pending protection claims: a
	// sell takes it before it releases any stop.
	unclaimed decimal.Decimal
	// transient: a sell on the symbol may still sell, or turn out never
	// placed (a sell entry resting, or any sell of ours unresolved and
	// inside LandWindow): the shares may still change.
	transient bool
	// extra: it includes a decision with no order open (allocate's also),
	// so it is not the symbol's allocation for other decisions.
	extra bool
}

// allocate shares out the free balance of symbol's base asset among the
// protected decisions with an order open on the symbol (and also, when
// set). The free balance is the one read in this cycle (less what this
// cycle has sold or locked since), less what our unresolved sells that may
// still arrive could take; what live stops and exits lock stays with their
// decision. Orders resting on the exchange already lock what they sell, so
// nothing sized from this can sell it twice, nor be refused for balance.
//
// Each decision keeps what its live stops cover. The rest goes, oldest
// entry first (the newest position bears a sell, as releaseStops releases
// the newest first), to:
//  1. pending claims: a stop journaled for a fill, or for a position
//     whose stop never reached the exchange (what the decision holds);
//  2. stops released for a sell that may still sell them (what that sell
//     leaves);
//  3. what a decision bought and no longer covers (a share that a sell
//     took earlier, or that came back): only what nobody else claims.
//
// A share too small for a first order goes to whoever can add it to a live
// stop. Without a balance read in this cycle there is no answer: the error
// says why.
func (e *Executor) allocate(ctx context.Context, symbol string, m Market, also string) (allocation, error) {
	if a, ok := e.cachedAllocation(symbol, also); ok {
		return a, nil
	}
	var a allocation
	bals, err := e.balances(ctx)
	if err != nil {
		return a, fmt.Errorf("balances unreadable, so no protective order is sized this cycle: %w", err)
	}
	open, err := e.j.OpenOrderEvents(ctx)
	if err != nil {
		return a, fmt.Errorf("journal unreadable, so no protective order is sized this cycle: %w", err)
	}
	free := bals[m.Base].Free
	for _, ev := range open {
		if ev.Symbol != symbol || ev.Side != schemas.SideSell {
			continue
		}
		switch {
		case isLive(ev.State):
			a.transient = a.transient || ev.Role == RoleEntry
		case isUnresolved(ev.State) && e.mayBeLive(ctx, ev):
			a.transient = true
			if !e.sentThisCycle(ev.ClientOrderID) {
				free = free.Sub(ev.Quantity.Sub(ev.FilledQty))
			}
		}
	}
	if a.pos, a.extra, err = e.positions(ctx, symbol, m, open, also); err != nil {
		return a, err
	}
	if err := e.chargeSells(ctx, a.pos); err != nil {
		return a, err
	}
	left := decimal.Max(free, decimal.Zero)
	a.target = make([]decimal.Decimal, len(a.pos))
	a.dust = make([]decimal.Decimal, len(a.pos))
	give := func(i int, want decimal.Decimal) {
		q := FloorToStep(decimal.Min(want, left), m.AmountStep)
		switch {
		case q.Sign() <= 0:
		case a.target[i].IsZero() && belowMin(m, q, a.pos[i].limit):
			a.dust[i] = decimal.Max(a.dust[i], q) // left to a position that can use it
		default:
			a.target[i] = a.target[i].Add(q)
			left = left.Sub(q)
		}
	}
	for i, p := range a.pos {
		a.target[i] = p.covered
	}
	for _, released := range []bool{false, true} {
		for i, p := range a.pos {
			if !p.waiting && p.released == released {
				give(i, decimal.Min(p.claim, p.held).Sub(a.target[i]))
			}
		}
	}
	a.unclaimed = left
	for i, p := range a.pos {
		if !p.waiting {
			give(i, p.held.Sub(a.target[i]))
		}
	}
	if e.cyc != nil && !a.extra {
		if e.cyc.alloc == nil {
			e.cyc.alloc = map[string]allocation{}
		}
		e.cyc.alloc[symbol] = a
	}
	return a, nil
}

// cachedAllocation is symbol's allocation computed earlier in this cycle,
// when nothing has changed since and it includes also. An idle cycle so
// shares each symbol out once, not once per decision.
func (e *Executor) cachedAllocation(symbol, also string) (allocation, bool) {
	if e.cyc == nil {
		return allocation{}, false
	}
	a, ok := e.cyc.alloc[symbol]
	if !ok || also == "" {
		return a, ok
	}
	for _, p := range a.pos {
		if p.ps.entry.DecisionID == also {
			return a, true
		}
	}
	return allocation{}, false
}

// chargeSells takes what a sell that has ended sold off the claims of the
// positions it released, the newest first (as releaseStops released
// them). A sell that also sold what was free is charged in full to them:
// a position's claim may end below what it still holds, and the rest
// comes back to it as what it no longer covers (the last part of the
// allocation), never before another decision's claim.
func (e *Executor) chargeSells(ctx context.Context, pos []position) error {
	left := map[string]decimal.Decimal{} // sell → what is not charged yet
	for i := len(pos) - 1; i >= 0; i-- {
		p := &pos[i]
		if p.soldBy == "" {
			continue
		}
		f, ok := left[p.soldBy]
		if !ok {
			sell, found, err := e.j.LastOrderEvent(ctx, p.soldBy)
			if err != nil {
				return fmt.Errorf("journal unreadable, so no protective order is sized this cycle: %w", err)
			}
			if found {
				f = sell.FilledQty
			}
		}
		c := decimal.Min(f, p.claim)
		p.claim = p.claim.Sub(c)
		left[p.soldBy] = f.Sub(c)
	}
	return nil
}

// share is decisionID's part of the allocation of symbol.
func (e *Executor) share(ctx context.Context, decisionID, symbol string, m Market) (share, error) {
	a, err := e.allocate(ctx, symbol, m, decisionID)
	if err != nil {
		return share{}, err
	}
	sh := share{transient: a.transient}
	for i, p := range a.pos {
		if p.ps.entry.DecisionID == decisionID && !p.waiting {
			sh.target, sh.dust = a.target[i], a.dust[i]
		}
	}
	return sh, nil
}

// positions loads the protected decisions with an order open on symbol
// (and also: extra says it has none), oldest entry first: by when the
// journal last recorded the entry (its last fill), then by decision id.
func (e *Executor) positions(ctx context.Context, symbol string, m Market, open []schemas.OrderEvent, also string) (out []position, extra bool, err error) {
	var ids []string
	seen := map[string]bool{}
	byID := map[string]schemas.OrderEvent{}
	for _, ev := range open {
		byID[ev.ClientOrderID] = ev
		if ev.Symbol == symbol && ev.DecisionID != "" && !seen[ev.DecisionID] {
			seen[ev.DecisionID] = true
			ids = append(ids, ev.DecisionID)
		}
	}
	if also != "" && !seen[also] {
		ids, extra = append(ids, also), true
	}
	for _, id := range ids {
		ps, ok, err := e.loadProt(ctx, id)
		if err != nil {
			return nil, extra, err
		}
		if !ok || !needsProtection(ps.entry) || ps.entry.FilledQty.Sign() == 0 || ps.entry.Symbol != symbol {
			continue
		}
		out = append(out, e.position(ctx, ps, m, byID))
	}
	slices.SortStableFunc(out, func(a, b position) int {
		if c := a.ps.entry.At.Compare(b.ps.entry.At); c != 0 {
			return c
		}
		return strings.Compare(a.ps.entry.DecisionID, b.ps.entry.DecisionID)
	})
	return out, extra, nil
}

// position is what one decision holds, covers and claims; open are the
// journal's open orders by client id.
func (e *Executor) position(ctx context.Context, ps protState, m Market, open map[string]schemas.OrderEvent) position {
	p := position{ps: ps, held: FloorToStep(netQty(ps.entry, m).Sub(sold(ps.stops, ps.exits)), m.AmountStep)}
	_, p.limit = e.levelPrices(ps.entry, ps.stops, m)
	var pending *schemas.OrderEvent
	lost := decimal.Zero
	for _, list := range [][]schemas.OrderEvent{ps.stops, ps.exits} {
		for i, s := range list {
			last := i == len(list)-1
			switch {
			case isLive(s.State):
				p.covered = p.covered.Add(s.Quantity.Sub(s.FilledQty))
			case isUnresolved(s.State) && e.mayBeLive(ctx, s):
				p.waiting = true
			case isUnresolved(s.State) && last:
				lost = s.Quantity // never reached the exchange: the position needs it anew
			case s.State == schemas.OrderIntent && last:
				pending = &list[i]
			}
		}
	}
	p.claim = decimal.Max(p.covered, lost)
	if pending != nil {
		p.claim = pending.Quantity
		if _, cid, ok := strings.Cut(pending.Reason, releasedFor); ok {
			sell, open := open[cid]
			p.released = open && (isLive(sell.State) || isUnresolved(sell.State) && e.mayBeLive(ctx, sell))
			if !p.released {
				p.soldBy = cid
			}
		}
	}
	return p
}

// releaseStops cancels our live stops on a symbol before a sell entry is
// sent, so the position they lock can be sold: the sell first takes what
// no pending protection claims (allocation.unclaimed), then as few stops
// as free the rest, newest entry first, not every stop on the symbol. Each
// released decision first gets a pending stop (journaled, not sent) for
// its claim: if the sell does not sell the position, the next protection
// pass places it again for what the sell left (allocate); if it does, the
// pending stop is dropped. Without this cycle's balance nothing is
// released (the sell then goes out against what is free).
func (e *Executor) releaseStops(ctx context.Context, sell schemas.OrderEvent) (sold decimal.Decimal, err error) {
	open, err := e.j.OpenOrderEvents(ctx)
	if err != nil {
		return sold, err
	}
	if !slices.ContainsFunc(open, func(ev schemas.OrderEvent) bool {
		return ev.Role == RoleStop && ev.Symbol == sell.Symbol && isLive(ev.State)
	}) {
		return sold, nil
	}
	m, err := e.market(ctx, sell.Symbol)
	if err != nil {
		return sold, err
	}
	a, err := e.allocate(ctx, sell.Symbol, m, "")
	if err != nil {
		return sold, fmt.Errorf("no stop is released for the sell: %w", err)
	}
	short := sell.Quantity.Sub(a.unclaimed)
	var errs []error
	for i := len(a.pos) - 1; i >= 0 && short.Sign() > 0; i-- {
		p := a.pos[i]
		var live []schemas.OrderEvent
		qty := decimal.Zero
		for _, s := range p.ps.stops {
			if isLive(s.State) {
				live = append(live, s)
				qty = qty.Add(s.Quantity.Sub(s.FilledQty))
			}
		}
		if len(live) == 0 {
			continue
		}
		entry := p.ps.entry
		if _, err := e.ensureIntent(ctx, entry, p.ps.stops, RoleStop, decimal.Max(qty, p.claim), m, releasedFor+sell.ClientOrderID); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range live {
			out, err := e.cancel(ctx, s)
			if err != nil {
				errs = append(errs, fmt.Errorf("release stop %s: %w", s.ClientOrderID, err))
			}
			if out.FilledQty.GreaterThan(s.FilledQty) {
				// It triggered before it could be cancelled: it sold.
				sold = sold.Add(out.FilledQty.Sub(s.FilledQty))
			}
		}
		short = short.Sub(qty)
		e.emit(ProtectionEvent{Kind: ProtReleased, DecisionID: entry.DecisionID, Symbol: sell.Symbol, EntryClientOrderID: entry.ClientOrderID,
			Quantity: qty, StopPrice: entry.StopPrice, Reason: "sell decision " + sell.DecisionID + " (" + sell.ClientOrderID + ")"})
	}
	return sold, errors.Join(errs...)
}
