package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/advisor/openai"
	"github.com/warden-trading/warden/agent/advisor/transform"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

// shownAskRe reads BTC/USDT's ask from the prompt the model was sent (on
// the anonymised scale when prompts are anonymised).
var shownAskRe = regexp.MustCompile(`Market BTC/USDT [^\n]*\n- ticker: bid ([0-9.]+), ask ([0-9.]+)`)

// extremeAdvisor is the openai advisor against fake, plain or behind the
// anonymising wrapper that warden run puts in front of it by default.
func extremeAdvisor(t *testing.T, fake *fakeOpenAI, anonymise bool) advisor.Advisor {
	t.Helper()
	adv, err := openai.New(openai.Config{
		BaseURL: fake.URL + "/v1", Model: "gpt-4o-2024-08-06", APIKeyEnv: "WARDEN_TEST_OPENAI_KEY",
		Timeout: time.Second, MaxRetries: -1, RepairAttempts: -1,
	}, openai.Deps{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if !anonymise {
		return adv
	}
	w, err := transform.Wrap(adv, transform.Config{Mode: transform.Anonymise})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestExtremeNumbersEndInAVerdict: a BTC/USDT buy whose size_pct,
// confidence, limit_price or stop_loss is absurdly tiny or large, through
// the real go-openai client and a real SQLite store, with and without
// anonymised prompts. Each run either judges the buy (rejected, with the
// rule that refused it, recorded as a decision) or fails with the reason
// on record; it never ends ok without a decision for it, and never
// approves. Black-box finding: with anonymised prompts, size_pct 1e-320
// was written back as a 322-digit literal that the parser refuses, and
// the run ended ok with no decision at all.
func TestExtremeNumbersEndInAVerdict(t *testing.T) {
	t.Setenv("WARDEN_TEST_OPENAI_KEY", "sk-test-canary-123456")
	type want struct {
		rule   string // the rule that rejects the buy; "" when the run must fail instead
		status string // the run's status when it fails
	}
	cases := []struct {
		field, lit string
		want       want
		anonymised *want // when prompts are anonymised, if different
	}{
		{"size_pct", "1e-320", want{rule: "sizing_quantity_zero"}, nil},
		{"size_pct", "1e-300", want{rule: "sizing_quantity_zero"}, nil},
		{"size_pct", "-0", want{rule: "sizing_size_pct"}, nil},
		{"size_pct", "1e-400", want{status: "advisor_error"}, nil},
		{"size_pct", "1e308", want{status: "advisor_error"}, nil},
		{"size_pct", "1" + strings.Repeat("0", 399), want{status: "advisor_error"}, nil},
		{"confidence", "1e-320", want{rule: "buy_confidence"}, nil},
		{"confidence", "-0", want{rule: "buy_confidence"}, nil},
		{"confidence", "1e308", want{status: "advisor_error"}, nil},
		{"confidence", "0." + strings.Repeat("0", 398) + "1", want{status: "advisor_error"}, nil},
		// A price too small to map back from the anonymised scale exactly
		// is a failed call (transform.Scale.Back).
		{"limit_price", "1e-320", want{rule: "sizing_price_zero"}, &want{status: "advisor_error"}},
		{"limit_price", "-0", want{status: "advisor_error"}, nil},
		{"limit_price", "1e-400", want{status: "advisor_error"}, nil},
		{"limit_price", "1e300", want{rule: "sizing_quantity_zero"}, nil},
		{"stop_loss", "1e-320", want{rule: "buy_stop_distance"}, &want{status: "advisor_error"}},
		{"stop_loss", "-0", want{status: "advisor_error"}, nil},
		{"stop_loss", "1e300", want{rule: "buy_stop_loss"}, nil},
		{"stop_loss", "1" + strings.Repeat("0", 399), want{status: "advisor_error"}, nil},
	}
	for _, anonymise := range []bool{false, true} {
		for _, tc := range cases {
			name := fmt.Sprintf("anonymise=%v/%s=%.20s", anonymise, tc.field, tc.lit)
			tc := tc
			if anonymise && tc.anonymised != nil {
				tc.want = *tc.anonymised
			}
			t.Run(name, func(t *testing.T) {
				var fake *fakeOpenAI
				content := func() string {
					var req struct {
						Messages []struct{ Content string } `json:"messages"`
					}
					_ = json.Unmarshal([]byte(fake.requests[len(fake.requests)-1]), &req)
					var m []string
					if n := len(req.Messages); n > 0 {
						m = shownAskRe.FindStringSubmatch(req.Messages[n-1].Content)
					}
					if m == nil {
						t.Error("no BTC/USDT ticker in the prompt")
						return "{}"
					}
					ask := decimalOf(m[2])
					vals := map[string]string{"size_pct": "1", "confidence": "0.7", "limit_price": ask.String(), "stop_loss": ask.Mul(decimalOf("0.97")).Round(2).String()}
					vals[tc.field] = tc.lit
					return fmt.Sprintf(`{"rationale":"Extreme numbers.","recommendations":[{"symbol":"BTC/USDT","action":"buy","confidence":%s,"size_pct":%s,"order_type":"limit","limit_price":%s,"stop_loss":%s,"take_profit":null,"reason":"Trend intact."},{"symbol":"ETH/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"No edge."}]}`,
						vals["confidence"], vals["size_pct"], vals["limit_price"], vals["stop_loss"])
				}
				fake = newFakeOpenAI(t, content, reply{status: 200, file: "good.json", price: true})
				h := newHarness(t, extremeAdvisor(t, fake, anonymise), "")
				res := h.step()
				story, err := h.store.Show(context.Background(), res.RunID)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range res.Verdicts {
					if v.Decision == schemas.DecisionApproved {
						t.Fatalf("%s = %s approved: %+v", tc.field, tc.lit, v)
					}
				}
				if len(res.Orders) > 0 {
					t.Fatalf("orders placed: %+v", res.Orders)
				}
				if res.Status == "ok" && len(res.Verdicts) != 2 {
					t.Fatalf("run ok with %d verdicts (schema errors %v); want one per recommendation", len(res.Verdicts), res.SchemaError)
				}
				if len(story.Decisions) != len(res.Verdicts) {
					t.Fatalf("%d decisions on record; want %d", len(story.Decisions), len(res.Verdicts))
				}
				if tc.want.rule == "" {
					if res.Status != tc.want.status || res.Reason == "" || len(res.Verdicts) != 0 {
						t.Fatalf("status %q (%s), %d verdicts; want %s with its reason and none", res.Status, res.Reason, len(res.Verdicts), tc.want.status)
					}
					return
				}
				if res.Status != "ok" {
					t.Fatalf("status %q (%s); want ok with the buy rejected by %s", res.Status, res.Reason, tc.want.rule)
				}
				buy := res.Verdicts[0]
				var rules []string
				for _, v := range buy.Violations {
					rules = append(rules, v.Rule)
				}
				if buy.Decision != schemas.DecisionRejected || !strings.Contains(" "+strings.Join(rules, " ")+" ", " "+tc.want.rule+" ") {
					t.Fatalf("buy %s by %v; want rejected by %s", buy.Decision, rules, tc.want.rule)
				}
				if got := story.Decisions[0].Decision; got != schemas.DecisionRejected {
					t.Fatalf("recorded decision %q; want rejected", got)
				}
			})
		}
	}
}

// TestSchemaErrorInTheAgentFailsTheRun: a response that reaches the
// validator and fails the schema there (a replayed recording, an advisor
// that does not check its answers) ends the run as schema_error, a failed
// run, not ok with no decision.
func TestSchemaErrorInTheAgentFailsTheRun(t *testing.T) {
	h := newHarness(t, fixed{`{"rationale":"r","recommendations":[{"symbol":"BTC/USDT","action":"buy"}]}`}, "")
	res := h.step()
	if res.Status != agent.StatusSchemaError || !strings.Contains(res.Reason, "missing required property") || len(res.SchemaError) == 0 {
		t.Fatalf("status %q (%s); want %s naming the schema errors", res.Status, res.Reason, agent.StatusSchemaError)
	}
	runs, err := h.store.ListRuns(context.Background(), audit.RunFilter{RunID: res.RunID})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %v, %v", runs, err)
	}
	if r := runs[0]; r.Status != agent.StatusSchemaError || r.Outcome != audit.OutcomeFailed || !strings.Contains(r.Reason, "schema") {
		t.Fatalf("recorded run %s/%s (%s); want schema_error, failed, with the reason", r.Status, r.Outcome, r.Reason)
	}
}
