package baseline

import (
	"context"
	"testing"
	"time"

	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// TestDefaultPolicyApprovesBaseline: over the bundled history, every buy
// and sell the baseline writes passes the default policy and the hard
// limits — the baseline is sized and priced inside the rules.
func TestDefaultPolicyApprovesBaseline(t *testing.T) {
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	v := policy.NewValidator(pol, policy.Limits{})
	f := newFeed(t)
	a := mustNew(t, DefaultParams())
	approved := map[schemas.Action]int{}
	for now := time.Date(2017, 10, 1, 0, 0, 0, 0, time.UTC); now.Before(time.Date(2022, 10, 1, 0, 0, 0, 0, time.UTC)); now = now.Add(53 * time.Hour) {
		for _, positions := range []map[string]schemas.Position{
			nil,
			{"BTC/USDT": {Qty: dec("0.002"), AvgPrice: dec("20000")}, "ETH/USDT": {Qty: dec("0.06"), AvgPrice: dec("1000")}},
		} {
			req, ok := f.request(t, now, positions)
			if !ok {
				continue
			}
			rep, err := a.Advise(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			res := v.ValidateRaw(rep.Raw, req.State)
			if len(res.SchemaErrors) > 0 {
				t.Fatalf("at %s: schema errors %v", now, res.SchemaErrors)
			}
			for _, vd := range res.Verdicts {
				switch vd.Decision {
				case schemas.DecisionApproved:
					approved[vd.Action]++
				case schemas.DecisionRejected:
					t.Errorf("at %s: %s %s rejected: %+v", now, vd.Action, vd.Symbol, vd.Violations)
				}
			}
		}
	}
	t.Logf("approved: %v", approved)
	if approved[schemas.ActionBuy] < 20 || approved[schemas.ActionSell] < 20 {
		t.Errorf("approved %v; want many buys and sells", approved)
	}
}
