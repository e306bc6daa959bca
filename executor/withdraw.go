package executor

import (
	"context"
	"errors"
	"fmt"

	"github.com/warden-trading/warden/schemas"
)

// WithdrawBuys cancels every buy entry of Warden's still resting on the
// exchange, for the kill switch and safe mode: neither lets a new buy be
// placed, and a buy placed earlier that fills now would add exposure just
// the same. An acknowledged or partly filled entry is cancelled (one
// attempt each; what fails is tried again at the next call); one whose
// outcome is unknown is resolved first and cancelled if it turns out to be
// resting. A part that filled before the cancellation keeps its protective
// stop (protect runs for it). Stops and exits are left alone: they only
// reduce a position. The journaled cancellation carries reason.
func (e *Executor) WithdrawBuys(ctx context.Context, reason string) (PollResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	defer e.begin()()
	var res PollResult
	e.appended, e.prots = &res.Events, &res.Protections
	defer func() { e.appended, e.prots = nil, nil }()
	open, err := e.j.OpenOrderEvents(ctx)
	if err != nil {
		return res, fmt.Errorf("executor: journal open orders: %w", err)
	}
	var errs []error
	for _, ev := range open {
		if ev.Role != RoleEntry || ev.Side != schemas.SideBuy {
			continue
		}
		if isUnresolved(ev.State) {
			r, err := e.resolve(ctx, ev)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %w", ev.ClientOrderID, ev.State, err))
				continue
			}
			ev = r
		}
		if isUnresolved(ev.State) {
			errs = append(errs, fmt.Errorf("%s: outcome still unknown, not cancelled yet", ev.ClientOrderID))
			continue
		}
		if !isLive(ev.State) {
			continue
		}
		out, err := e.cancelWhy(ctx, ev, reason)
		if err != nil {
			errs = append(errs, fmt.Errorf("cancel %s: %w", ev.ClientOrderID, err))
			continue
		}
		if out.FilledQty.Sign() > 0 && ev.DecisionID != "" {
			if err := e.protect(ctx, ev.DecisionID); err != nil {
				errs = append(errs, fmt.Errorf("protect decision %s: %w", ev.DecisionID, err))
			}
		}
	}
	return res, errors.Join(errs...)
}
