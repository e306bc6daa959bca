package approval

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/notify"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// Result is what one Process pass did.
type Result struct {
	Placed  []schemas.OrderEvent
	Void    map[string]string // decision id -> reason
	Expired []string
	Errors  []error
}

// Process is the scheduler's approval step, run by the one process that
// places orders (it holds the database lock): it expires proposals past
// their time, resumes a placement a crash interrupted (the executor
// places once per decision id), and re-checks and places each approved
// proposal, voiding those that fail the re-check.
func (g *Gate) Process(ctx context.Context, judge Judge, orders Orders) Result {
	res := Result{Void: map[string]string{}}
	if g.clock == nil {
		res.Errors = append(res.Errors, errors.New("approval: Process needs the decision clock"))
		return res
	}
	now := g.clock().UTC()
	rows, err := g.store.Approvals(ctx, audit.ApprovalPending, audit.ApprovalApproved, audit.ApprovalPlacing)
	if err != nil {
		res.Errors = append(res.Errors, err)
		return res
	}
	for _, row := range rows {
		if err := g.processOne(ctx, row, now, judge, orders, &res); err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("%s: %w", row.DecisionID, err))
		}
	}
	return res
}

func (g *Gate) processOne(ctx context.Context, row audit.ApprovalRow, now time.Time, judge Judge, orders Orders, res *Result) error {
	_, p, err := Load(ctx, g.store, row.DecisionID)
	if err != nil {
		return err
	}
	switch row.Status {
	case audit.ApprovalPlacing:
		// Re-checked and handed to the executor, then interrupted. When the
		// executor journaled the order, hand it the same decision id and
		// order again: it never sends twice. When nothing was journaled the
		// process died before sending: re-check from the start, as if just
		// approved (the kill switch, expiry and the market may have changed).
		sent, err := g.journaled(ctx, row.DecisionID)
		if err != nil {
			return err // left placing: retried next pass
		}
		if sent {
			return g.place(ctx, row, p, orders, res)
		}
	case audit.ApprovalPending:
		if now.After(row.ExpiresAt) {
			return g.expire(ctx, row, now, res)
		}
		return nil
	}
	// Approved: the re-check.
	if now.After(row.ExpiresAt) {
		return g.void(ctx, row, fmt.Sprintf("expired at %s before it could be placed", row.ExpiresAt.Format(time.RFC3339)), nil, res)
	}
	if why, err := g.halted(ctx, now); err != nil {
		return err // left approved: retried, or expires
	} else if why != "" {
		return g.void(ctx, row, why, nil, res)
	}
	if judge == nil || orders == nil {
		return errors.New("approval: nothing to re-judge with or place through")
	}
	v, st, policyHash, err := judge.Rejudge(ctx, p.Recommendation)
	if err != nil {
		return g.void(ctx, row, "the market could not be read again: "+err.Error(), nil, res)
	}
	rej := map[string]any{"decision": v.Decision, "order": v.Order, "violations": v.Violations, "policy_hash": policyHash, "judged_at": st.Now}
	if moved, ok := PriceMove(p.State.Markets[p.Order.Symbol], st.Markets[p.Order.Symbol]); !ok {
		return g.void(ctx, row, "no price to compare for "+p.Order.Symbol, rej, res)
	} else if moved.GreaterThan(g.cfg.MaxPriceMoveBps) {
		return g.void(ctx, row, fmt.Sprintf("the price moved %s bps since the proposal (at most %s)", moved.StringFixed(2), g.cfg.MaxPriceMoveBps), rej, res)
	}
	if v.Decision != schemas.DecisionApproved || v.Order == nil {
		return g.void(ctx, row, "judged again, the recommendation is "+string(v.Decision)+violationText(v.Violations), rej, res)
	}
	if why := sameOrder(p.Order, *v.Order, st.Markets[p.Order.Symbol]); why != "" {
		return g.void(ctx, row, "judged again, the order differs: "+why, rej, res)
	}
	// Read again right before the order goes: the re-judging read the
	// market (a network call, seconds in live mode), and a `warden kill`
	// or safe mode that came meanwhile stops this order as it stops a
	// cycle's.
	if why, err := g.halted(ctx, now); err != nil {
		return err // left approved: retried, or expires
	} else if why != "" {
		return g.void(ctx, row, why, rej, res)
	}
	row, err = g.store.TransitionApproval(ctx, row.DecisionID, []string{audit.ApprovalApproved, audit.ApprovalPlacing}, audit.ApprovalPlacing, audit.ApprovalChange{},
		map[string]any{"decision_id": row.DecisionID, "rejudged": rej, "approved_by": row.DecidedBy, "channel": row.Channel, "hash_seen": row.HashSeen})
	if err != nil {
		return err
	}
	return g.place(ctx, row, p, orders, res)
}

// halted says why no approved order may be placed now (the kill switch,
// safe mode), or "" when one may.
func (g *Gate) halted(ctx context.Context, now time.Time) (string, error) {
	kill, err := g.store.KillSwitch(ctx)
	if err != nil {
		return "", fmt.Errorf("read kill switch: %w", err)
	}
	if kill {
		return "the kill switch is on", nil
	}
	lv, err := g.store.Level(ctx, now)
	if err != nil {
		return "", fmt.Errorf("read breaker level: %w", err)
	}
	if lv.Level == audit.LevelSafeMode {
		return "safe mode is on: " + lv.Reason, nil
	}
	return "", nil
}

// journaled reports whether the executor's journal holds the entry order
// of the decision.
func (g *Gate) journaled(ctx context.Context, decisionID string) (bool, error) {
	_, ok, err := g.store.LastOrderEvent(ctx, executor.ClientOrderID(decisionID, executor.RoleEntry))
	if err != nil {
		return false, fmt.Errorf("read the order journal: %w", err)
	}
	return ok, nil
}

// place hands the approved order to the executor under the decision id
// and records the outcome.
func (g *Gate) place(ctx context.Context, row audit.ApprovalRow, p Proposal, orders Orders, res *Result) error {
	if orders == nil {
		return errors.New("approval: no executor to place through")
	}
	ev, err := orders.Place(ctx, row.DecisionID, p.Order)
	if ev.State == schemas.OrderRejected {
		// Journaled, but refused, or never sent (a process that died
		// before submitting it, resumed here): nothing was placed.
		why := "the order was not placed: " + ev.Reason
		if ev.Reason == "" && err != nil {
			why = "the order was not placed: " + err.Error()
		}
		return g.void(ctx, row, why, nil, res)
	}
	if err != nil {
		if ev.ClientOrderID == "" {
			// Nothing journaled for it: the executor refused before sending.
			return g.void(ctx, row, "the executor refused the order: "+err.Error(), nil, res)
		}
		// Sent, outcome unknown: reconciliation resolves the journaled
		// order; the proposal is placed as far as approval goes.
		err = fmt.Errorf("placed with an error (reconciliation resolves it): %w", err)
	}
	if g.afterPlace != nil {
		if herr := g.afterPlace(row.DecisionID); herr != nil {
			return errors.Join(err, herr)
		}
	}
	row, terr := g.store.TransitionApproval(ctx, row.DecisionID, []string{audit.ApprovalPlacing}, audit.ApprovalPlaced, audit.ApprovalChange{},
		map[string]any{"decision_id": row.DecisionID, "client_order_id": ev.ClientOrderID, "order_state": ev.State})
	if terr != nil {
		return errors.Join(err, terr)
	}
	res.Placed = append(res.Placed, ev)
	g.publish(ctx, Outcome{Row: row, Status: audit.ApprovalPlaced, Reason: "client order id " + ev.ClientOrderID})
	// As a cycle's own order: a fill at placement is notified (an order
	// placed through approval sent no Filled notice).
	if ev.State == schemas.OrderFilled || ev.State == schemas.OrderPartiallyFilled {
		g.publish(ctx, notify.Fill{RunID: row.RunID, Event: ev})
	}
	return err
}

func (g *Gate) expire(ctx context.Context, row audit.ApprovalRow, now time.Time, res *Result) error {
	why := fmt.Sprintf("not approved by %s", row.ExpiresAt.Format(time.RFC3339))
	row, err := g.store.TransitionApproval(ctx, row.DecisionID, []string{audit.ApprovalPending}, audit.ApprovalExpired, audit.ApprovalChange{Reason: why},
		map[string]any{"decision_id": row.DecisionID, "expires_at": row.ExpiresAt, "now": now})
	if errors.Is(err, audit.ErrApprovalState) {
		return nil // decided meanwhile by a vote: the next pass handles it
	}
	if err != nil {
		return err
	}
	res.Expired = append(res.Expired, row.DecisionID)
	g.publish(ctx, Outcome{Row: row, Status: audit.ApprovalExpired, Reason: why})
	return nil
}

func (g *Gate) void(ctx context.Context, row audit.ApprovalRow, why string, rejudged map[string]any, res *Result) error {
	detail := map[string]any{"decision_id": row.DecisionID, "reason": why, "approved_by": row.DecidedBy, "channel": row.Channel, "hash_seen": row.HashSeen}
	if rejudged != nil {
		detail["rejudged"] = rejudged
	}
	row, err := g.store.TransitionApproval(ctx, row.DecisionID, []string{row.Status}, audit.ApprovalVoid, audit.ApprovalChange{Reason: why}, detail)
	if err != nil {
		return err
	}
	res.Void[row.DecisionID] = why
	g.publish(ctx, Outcome{Row: row, Status: audit.ApprovalVoid, Reason: why})
	return nil
}

var tenThousand = decimal.NewFromInt(10000)

// PriceMove is how far the mid price moved from then to now, in basis
// points of then (absolute). ok is false when either has no price.
func PriceMove(then, now schemas.Market) (bps decimal.Decimal, ok bool) {
	a, b := mid(then), mid(now)
	if !a.IsPositive() || !b.IsPositive() {
		return decimal.Zero, false
	}
	return b.Sub(a).Abs().Mul(tenThousand).Div(a), true
}

func mid(m schemas.Market) decimal.Decimal {
	if m.Bid.IsPositive() && m.Ask.IsPositive() {
		return m.Bid.Add(m.Ask).Div(decimal.NewFromInt(2))
	}
	return m.Last
}

// sameOrder is empty when now is the order approved: the same symbol,
// side and type, and quantity and price each within one step of the
// market (exactly equal when the market names no step).
func sameOrder(approved, now schemas.Order, m schemas.Market) string {
	if approved.Symbol != now.Symbol || approved.Side != now.Side || approved.Type != now.Type {
		return fmt.Sprintf("%s %s %s now, %s %s %s approved", now.Side, now.Type, now.Symbol, approved.Side, approved.Type, approved.Symbol)
	}
	if d := now.Quantity.Sub(approved.Quantity).Abs(); d.GreaterThan(m.AmountStep) {
		return fmt.Sprintf("quantity %s now, %s approved (step %s)", now.Quantity, approved.Quantity, m.AmountStep)
	}
	if d := now.Price.Sub(approved.Price).Abs(); d.GreaterThan(m.PriceStep) {
		return fmt.Sprintf("price %s now, %s approved (step %s)", now.Price, approved.Price, m.PriceStep)
	}
	return ""
}

func violationText(vs []schemas.Violation) string {
	if len(vs) == 0 {
		return ""
	}
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		parts = append(parts, v.Rule)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
