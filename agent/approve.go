package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/notify"
	"github.com/warden-trading/warden/schemas"
)

// Approvals holds approved orders for a person (agent/approval.Gate).
// Hold returns held true when the order must wait (it is then recorded
// as a proposal and announced); an error means it could not be decided
// or recorded, and then nothing is placed either.
type Approvals interface {
	Hold(ctx context.Context, decisionID, runID, rationale string, rec schemas.Recommendation, v schemas.Verdict, policyHash string, st schemas.State) (held bool, err error)
}

// hold asks the approval gate, when there is one, whether verdict i may be
// placed now. It reports true when the order must not be placed in this
// cycle: held for a person, or the gate failed (fail closed, recorded as
// an order error).
func (a *Agent) hold(ctx context.Context, res *CycleResult, resp *schemas.Response, policyHash string, st schemas.State, v schemas.Verdict, i int) (bool, error) {
	if a.d.Approvals == nil {
		return false, nil
	}
	id := res.DecisionIDs[i]
	var err error
	held := true
	if resp == nil || v.Index < 0 || v.Index >= len(resp.Recommendations) {
		err = fmt.Errorf("approval: no recommendation %d to propose", v.Index)
	} else {
		held, err = a.d.Approvals.Hold(ctx, id, res.RunID, res.Rationale, resp.Recommendations[v.Index], v, policyHash, st)
	}
	if err != nil {
		res.OrderErrors = append(res.OrderErrors, fmt.Sprintf("%s: %v", id, err))
		a.publish(ctx, notify.Error{Component: "approval", Err: err.Error(), Key: id, RunID: res.RunID, At: res.At})
		return true, err
	}
	if held {
		res.Held = append(res.Held, id)
	}
	return held, nil
}

// Rejudge judges rec again against the market and account now, under the
// validator in force now, with the kill switch and the breakers' level
// read again: the re-check of human approval before an approved proposal
// is placed. It returns the verdict, the state and the policy's hash. The
// caller must not run it concurrently with a cycle.
func (a *Agent) Rejudge(ctx context.Context, rec schemas.Recommendation) (schemas.Verdict, schemas.State, string, error) {
	now := a.d.Clock().UTC()
	val := a.validator.Load()
	res := CycleResult{At: now}
	a.setLevel(&res, audit.LevelState{Level: audit.LevelActive})
	if a.d.Store != nil {
		kill, err := a.d.Store.KillSwitch(ctx)
		if err != nil {
			return schemas.Verdict{}, schemas.State{}, "", fmt.Errorf("audit: read kill switch: %w", err)
		}
		lv, err := a.d.Store.Level(ctx, now)
		if err != nil {
			return schemas.Verdict{}, schemas.State{}, "", fmt.Errorf("audit: read breaker level: %w", err)
		}
		res.KillSwitch = kill
		a.setLevel(&res, lv)
	}
	snaps, _, err := a.snapshots(ctx, now)
	if err != nil {
		return schemas.Verdict{}, schemas.State{}, "", err
	}
	st, err := a.state(ctx, now, snaps, &res)
	if err != nil {
		return schemas.Verdict{}, schemas.State{}, "", err
	}
	vs := val.Validate(schemas.Response{Recommendations: []schemas.Recommendation{rec}}, st)
	if len(vs) != 1 {
		return schemas.Verdict{}, st, "", errors.New("validator: no verdict for the recommendation")
	}
	return vs[0], st, val.Policy().Hash(), nil
}
