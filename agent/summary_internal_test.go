package agent

import (
	"encoding/json"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/prompts"
	"github.com/warden-trading/warden/schemas"
)

// TestRunSummaryEncodesAsTheMap: the run summary struct encodes byte for
// byte as the map the run_end records held before it, with and without
// warnings, trips and order errors, and with equity null when the cycle
// never read the account.
func TestRunSummaryEncodesAsTheMap(t *testing.T) {
	full := CycleResult{Reason: "r <&> \"q\"", Equity: decimal.RequireFromString("10015.52242592"), KillSwitch: true, SafeMode: true, Level: "safe_mode",
		RiskScale: decimal.RequireFromString("0.5"), Trips: []Trip{{Breaker: BreakerShock, Symbol: "BTC/USDT", Reason: "5σ", Level: "safe_mode"}},
		OrderErrors: []string{"bt-1:0: refused"}, Orders: []schemas.OrderEvent{{ClientOrderID: "x"}},
		Warnings: []schemas.Violation{{Rule: "universe_missing", Message: "ETH/USDT left out"}},
		Verdicts: []schemas.Verdict{{Decision: schemas.DecisionApproved}, {Decision: schemas.DecisionRejected}, {Decision: schemas.DecisionApproved}}}
	full.equityRead = true
	for _, res := range []CycleResult{{}, {Level: "active", RiskScale: decimal.NewFromInt(1)}, full} {
		counts := map[schemas.Decision]int{}
		for _, v := range res.Verdicts {
			counts[v.Decision]++
		}
		// A cycle that never read the account says null, not a false 0.
		var equity any
		if res.equityRead {
			equity = res.Equity
		}
		m := map[string]any{
			"reason": res.Reason, "equity": equity, "decisions": counts,
			"orders": len(res.Orders), "order_errors": res.OrderErrors, "trips": res.Trips,
			"kill_switch": res.KillSwitch, "safe_mode": res.SafeMode, "level": res.Level, "risk_scale": res.RiskScale,
		}
		if len(res.Warnings) > 0 {
			m["warnings"] = res.Warnings
		}
		want, _ := json.Marshal(m)
		got, err := json.Marshal(runSummary(res))
		if err != nil || string(got) != string(want) {
			t.Errorf("summary encodes as\n%s (%v); the map as\n%s", got, err, want)
		}
	}
}

// TestOfflineRequestIsTheMap: the offline call's request is byte for byte
// json.Marshal of {"system", "user"}, also when the system text changes
// between cycles.
func TestOfflineRequestIsTheMap(t *testing.T) {
	a := &Agent{}
	for _, p := range []prompts.Rendered{
		{System: "You advise <b>&</b> \"q\" \u2028 é", User: "BTC at 42005\n- line\t<tab>"},
		{System: "You advise <b>&</b> \"q\" \u2028 é", User: "second cycle"},
		{System: "another system text", User: ""},
		{},
	} {
		want, _ := json.Marshal(map[string]string{"system": p.System, "user": p.User})
		if got := a.offlineRequest(p); got != string(want) {
			t.Errorf("offlineRequest = %s; json.Marshal gives %s", got, want)
		}
	}
}
