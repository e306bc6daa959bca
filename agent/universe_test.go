package agent_test

import (
	"context"
	"strings"
	"testing"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// fixed is an advisor that always sends the same response.
type fixed struct{ raw string }

func (f fixed) Name() string { return "fixed" }
func (f fixed) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	return advisor.Reply{Advisor: "fixed", Model: "fixed", Raw: []byte(f.raw)}, nil
}

// TestUniverseMissingIsRecordedOnTheRun: a response that leaves out a
// configured symbol is a named warning on the run (in the cycle result and
// in the run's end summary, which warden audit show prints); a second
// recommendation for a symbol is rejected by one_per_symbol.
func TestUniverseMissingIsRecordedOnTheRun(t *testing.T) {
	hold := `{"symbol":"BTC/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"no edge"}`
	h := newHarness(t, fixed{raw: `{"rationale":"only BTC","recommendations":[` + hold + `,` + hold + `]}`}, "")
	res := h.step()
	if len(res.Warnings) != 1 || res.Warnings[0].Rule != policy.RuleUniverseMissing || !strings.Contains(res.Warnings[0].Message, "ETH/USDT") {
		t.Fatalf("Warnings = %+v; want one universe_missing naming ETH/USDT", res.Warnings)
	}
	if len(res.Verdicts) != 2 || res.Verdicts[0].Decision != schemas.DecisionNoAction ||
		res.Verdicts[1].Decision != schemas.DecisionRejected || !hasRule(res.Verdicts[1], policy.RuleOnePerSymbol) {
		t.Fatalf("verdicts = %+v; want no_action, then rejected by one_per_symbol", res.Verdicts)
	}
	story, err := h.store.Show(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if story.End == nil || !strings.Contains(string(story.End.Summary), `"rule":"universe_missing"`) {
		t.Errorf("run end summary = %+v; want the universe_missing warning", story.End)
	}

	// A response covering every symbol has no warning.
	h2 := newHarness(t, fixed{raw: `{"rationale":"both","recommendations":[` + hold + `,` +
		strings.Replace(hold, "BTC/USDT", "ETH/USDT", 1) + `]}`}, "")
	if res := h2.step(); len(res.Warnings) != 0 {
		t.Errorf("Warnings = %+v; want none", res.Warnings)
	}
}
