package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// PollResult is what one Poll changed.
type PollResult struct {
	// Events are the journal events appended, in order.
	Events []schemas.OrderEvent `json:"events"`
	// Protections are the protection events emitted.
	Protections []ProtectionEvent `json:"protections"`
	// Unknown are orders whose outcome is still unknown afterwards.
	Unknown []schemas.OrderEvent `json:"unknown"`
}

// Poll brings every order the journal holds as not final up to date:
// acknowledged and partially filled orders are fetched by client id (fills
// arrive over several polls), unknown and submitted ones are resolved,
// entries journaled but never submitted are recorded as rejected, and the
// protective stop of every filled entry is placed or resized to cover what
// filled. Nothing is ever sent twice. Errors of single orders are joined;
// the others are still processed.
func (e *Executor) Poll(ctx context.Context) (PollResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	defer e.begin()()
	return e.poll(ctx)
}

// Sync is Poll.
func (e *Executor) Sync(ctx context.Context) (PollResult, error) { return e.Poll(ctx) }

func (e *Executor) poll(ctx context.Context) (PollResult, error) {
	var res PollResult
	e.appended, e.prots = &res.Events, &res.Protections
	defer func() { e.appended, e.prots = nil, nil }()
	open, err := e.j.OpenOrderEvents(ctx)
	if err != nil {
		return res, fmt.Errorf("executor: journal open orders: %w", err)
	}
	var errs []error
	var decisions []string
	seen := map[string]bool{}
	for _, ev := range open {
		if _, err := e.refresh(ctx, ev); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", ev.ClientOrderID, ev.State, err))
		}
		if ev.DecisionID != "" && !seen[ev.DecisionID] {
			seen[ev.DecisionID] = true
			decisions = append(decisions, ev.DecisionID)
		}
	}
	for _, d := range decisions {
		if err := e.protect(ctx, d); err != nil {
			errs = append(errs, fmt.Errorf("protect decision %s: %w", d, err))
		}
	}
	if after, err := e.j.OpenOrderEvents(ctx); err == nil {
		for _, ev := range after {
			if isUnresolved(ev.State) {
				res.Unknown = append(res.Unknown, ev)
			}
		}
	} else {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// Mismatch is one of our orders whose exchange state contradicts a final
// journal state (e.g. open on the exchange, final in the journal).
type Mismatch struct {
	Exchange OrderReport        `json:"exchange"`
	Journal  schemas.OrderEvent `json:"journal"`
}

// BalanceDiff is an asset whose exchange total differs from the total at
// the previous Reconcile plus what the fills journaled since imply.
type BalanceDiff struct {
	Asset    string          `json:"asset"`
	Expected decimal.Decimal `json:"expected"`
	Actual   decimal.Decimal `json:"actual"`
	Diff     decimal.Decimal `json:"diff"` // actual - expected
}

// Report is the outcome of one Reconcile. It is a report only: nothing in
// it is "fixed" by trading.
type Report struct {
	At time.Time `json:"at"`
	PollResult
	// Foreign are open orders on the exchange that Warden did not place
	// (client id without our prefix, or unknown to the journal). They are
	// left alone.
	Foreign []OrderReport `json:"foreign"`
	// Mismatches are our orders open on the exchange but final in the
	// journal. They are left alone and need an operator.
	Mismatches []Mismatch `json:"mismatches"`
	// Balances are the exchange's balances now.
	Balances map[string]Balance `json:"balances"`
	// BalanceDiffs compare them with the previous Reconcile plus journaled
	// fills; empty on the first Reconcile of a process.
	BalanceDiffs []BalanceDiff `json:"balance_diffs"`
}

// Reconcile compares the journal and the exchange: at start (before the
// first Place) and periodically. It polls every open order (resolving
// unknown ones), lists the exchange's open orders to find foreign orders and
// contradictions, and compares balances with what the journaled fills
// imply. It never places or cancels anything that is not Warden's.
func (e *Executor) Reconcile(ctx context.Context) (Report, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	defer e.begin()()
	var errs []error
	res, err := e.poll(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	rep := Report{At: e.now().UTC(), PollResult: res}
	if len(res.Events) > 0 {
		// The poll changed orders after this cycle's reads: read again,
		// so that a stop just cancelled is not reported as a mismatch nor
		// a fill as a balance difference.
		e.cyc = &cycle{}
	}
	open, _, err := e.openOrders(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("executor: open orders: %w", err))
	}
	for _, o := range open {
		if !strings.HasPrefix(o.ClientOrderID, ClientIDPrefix) {
			rep.Foreign = append(rep.Foreign, o)
			continue
		}
		last, ok, err := e.j.LastOrderEvent(ctx, o.ClientOrderID)
		switch {
		case err != nil:
			errs = append(errs, err)
		case !ok:
			rep.Foreign = append(rep.Foreign, o)
		case last.State.Final():
			rep.Mismatches = append(rep.Mismatches, Mismatch{Exchange: o, Journal: last})
			e.log.Error("executor: order open on the exchange but final in the journal", "client_order_id", o.ClientOrderID, "journal_state", last.State)
		}
	}
	for _, o := range rep.Foreign {
		e.log.Warn("executor: foreign order on the exchange; left alone", "client_order_id", o.ClientOrderID, "symbol", o.Symbol, "side", o.Side)
	}
	if e.cyc.fillsAfterRead {
		e.cyc.balRead = false
	}
	bals, err := e.balances(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("executor: balances: %w", err))
	} else {
		rep.Balances = bals
		rep.BalanceDiffs = e.compareBalances(bals)
	}
	return rep, errors.Join(errs...)
}

func (e *Executor) compareBalances(bals map[string]Balance) []BalanceDiff {
	now := make(map[string]decimal.Decimal, len(bals))
	for a, b := range bals {
		now[a] = b.Total()
	}
	var diffs []BalanceDiff
	if e.baseline != nil {
		assets := map[string]bool{}
		for a := range e.baseline {
			assets[a] = true
		}
		for a := range e.delta {
			assets[a] = true
		}
		for a := range now {
			assets[a] = true
		}
		for a := range assets {
			exp := e.baseline[a].Add(e.delta[a])
			act := now[a]
			diff := act.Sub(exp)
			tol := e.opt.BalanceTolerance.Add(exp.Abs().Mul(decimal.New(1, -6)))
			if diff.Abs().GreaterThan(tol) {
				diffs = append(diffs, BalanceDiff{Asset: a, Expected: exp, Actual: act, Diff: diff})
				e.log.Warn("executor: balance differs from what the journal implies", "asset", a, "expected", exp, "actual", act)
			}
		}
	}
	e.baseline = now
	e.delta = map[string]decimal.Decimal{}
	return diffs
}
