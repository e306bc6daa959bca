package policyreplay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// BenchmarkReplay replays 1000 recorded three-recommendation responses
// (3000 decisions) under a changed policy, from memory: the cost of the
// re-validation and comparison, without the database.
func BenchmarkReplay(b *testing.B) {
	def, err := policy.Default()
	if err != nil {
		b.Fatal(err)
	}
	old := policy.NewValidator(def, policy.Limits{})
	tight := policy.NewValidator(editedPolicy(b, "max_position_pct: 2 ", "max_position_pct: 1 "), policy.Limits{})
	st := baseState(b)
	resp := schemas.Response{Recommendations: []schemas.Recommendation{btcBuy("1"), btcBuy("0.9"), ethSell("5")}}
	vs := old.Validate(resp, st)
	src := &fakeSource{}
	for r := range 1000 {
		run := fmt.Sprintf("run-%04d", r)
		at := t0.Add(time.Duration(r) * time.Minute)
		for i := range resp.Recommendations {
			src.decs = append(src.decs, audit.RecordedDecision{DecisionID: audit.DecisionID(run, i), RunID: run, At: at, PolicyHash: def.Hash(), Recommendation: &resp.Recommendations[i], State: st, Verdict: vs[i]})
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rep, err := Replay(ctx, src, tight, time.Time{})
		if err != nil || rep.Totals.ApprovedToRejected != 1000 {
			b.Fatalf("Replay = %+v, %v", rep.Totals, err)
		}
	}
}
