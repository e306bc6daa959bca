package agent

import (
	"context"
	"fmt"
)

// BreakerInvalidOutput trips when too many of the last model calls had
// invalid output: refusals, truncated answers, answers that were not
// schema-valid (repaired or not) and bad responses.
const BreakerInvalidOutput = "invalid_output"

// Defaults of the invalid-output breaker: more than 20 % of the last 20
// model calls.
const (
	DefaultInvalidOutputWindow = 20
	DefaultInvalidOutputPct    = 20
)

// InvalidOutputCounter is the audit store's count of invalid output over
// the last n model calls, across processes (audit.Store implements it).
type InvalidOutputCounter interface {
	RecentInvalidOutput(ctx context.Context, n int) (calls, invalid int, err error)
}

// checkInvalidOutput trips the invalid-output breaker when more than
// InvalidOutputPct percent of the last InvalidOutputWindow model calls on
// record had invalid output. Calls not yet made count as valid: with
// fewer calls than the window, it takes as many invalid ones as over a
// full window. A count that cannot be read fails closed (a trip).
func (a *Agent) checkInvalidOutput(ctx context.Context, res *CycleResult) {
	c, ok := a.d.Store.(InvalidOutputCounter)
	if !ok || !a.keepsRecords() {
		return
	}
	win, pct := a.o.Breakers.InvalidOutputWindow, a.o.Breakers.InvalidOutputPct
	if win <= 0 {
		win = DefaultInvalidOutputWindow
	}
	if pct <= 0 {
		pct = DefaultInvalidOutputPct
	}
	calls, invalid, err := c.RecentInvalidOutput(ctx, win)
	var reason string
	switch {
	case err != nil:
		a.d.Logger.Error("audit: count invalid model output; tripping the invalid-output breaker", "err", err)
		reason = "the invalid-output count could not be read: " + err.Error()
	case invalid*100 > pct*win:
		reason = fmt.Sprintf("%d of the last %d model calls had invalid output (limit: more than %d %% of %d)", invalid, calls, pct, win)
	default:
		return
	}
	tr := Trip{Breaker: BreakerInvalidOutput, Reason: reason, Level: a.o.Breakers.Rule(BreakerInvalidOutput).Level}
	res.Trips = append(res.Trips, tr)
	a.trip(ctx, res, []Trip{tr})
}
