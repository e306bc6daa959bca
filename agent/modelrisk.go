package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/advisor/consensus"
	"github.com/warden-trading/warden/prompts"
	"github.com/warden-trading/warden/schemas"
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

// callStatus is a model call's status in the audit log: ok,
// transport_error, http_error, truncated, refusal, schema_invalid,
// bad_response or error.
func callStatus(c advisor.Call) string {
	switch {
	case c.Err != "" && c.HTTPStatus == 0 && c.Purpose != "member":
		return "transport_error"
	case c.HTTPStatus >= 400:
		return "http_error"
	case c.FinishReason == "length" || c.Kind == advisor.KindTruncated:
		return "truncated"
	case c.Kind == advisor.KindRefusal:
		return "refusal"
	case c.Kind == advisor.KindSchemaInvalid:
		return "schema_invalid"
	case c.Kind == advisor.KindBadResponse:
		return "bad_response"
	case c.Err != "":
		return "error"
	}
	return "ok"
}

// ModelObserver receives each model call under its model and prompt
// version, and each hold for want of consensus (agent/metrics.Metrics
// implements it); an Observer without it gets the totals only.
type ModelObserver interface {
	ObserveModelCall(model, prompt, status string, latency time.Duration, promptTokens, completionTokens int)
	ObserveNoConsensus()
}

func (a *Agent) observeModelCall(reply advisor.Reply, p prompts.Rendered, c advisor.Call) {
	mo, ok := a.d.Observer.(ModelObserver)
	if !ok {
		return
	}
	model := reply.Model
	if c.Advisor != "" {
		model = c.Model
	}
	mo.ObserveModelCall(model, promptVersion(callPromptHash(p, c)), callStatus(c), c.Latency, c.PromptTokens, c.CompletionTokens)
}

// callPromptHash is the "system:user" template hashes of the prompt a
// call sent: its own when a transformation changed it.
func callPromptHash(p prompts.Rendered, c advisor.Call) string {
	if c.PromptHash != "" {
		return c.PromptHash
	}
	return p.SystemHash + ":" + p.UserHash
}

func (a *Agent) observeNoConsensus(r schemas.Response) {
	mo, ok := a.d.Observer.(ModelObserver)
	if !ok {
		return
	}
	for _, rec := range r.Recommendations {
		if consensus.IsNoConsensus(rec) {
			mo.ObserveNoConsensus()
		}
	}
}

// promptVersion is the short form of the templates' hashes, as the
// review shows it.
func promptVersion(hash string) string {
	s, u, _ := strings.Cut(hash, ":")
	if len(s) > 8 {
		s = s[:8]
	}
	if len(u) > 8 {
		u = u[:8]
	}
	return s + ":" + u
}
