package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// TestInventedSymbolIsRejectedAloneEndToEnd: an answer with a good
// BTC/USDT buy, an ETH/USDT hold and buys of symbols outside the universe
// (an invented DOGE/USDT, a lookalike BTC/USDTT), through the real
// go-openai client against the fake and a real SQLite store, plain and
// with anonymised prompts (warden run's default on the bundled replay).
// The invented ones are rejected by symbol_allowlist, each with its
// decision on record and never rewritten; the others are judged as ever
// and the BTC/USDT buy is placed. Black-box finding: with anonymised
// prompts the whole answer was dropped (its prices could not be mapped
// back), with no symbol_allowlist verdict.
func TestInventedSymbolIsRejectedAloneEndToEnd(t *testing.T) {
	t.Setenv("WARDEN_TEST_OPENAI_KEY", "sk-test-canary-123456")
	invented := []string{"DOGE/USDT", "BTC/USDTT"}
	for _, anonymise := range []bool{false, true} {
		t.Run(fmt.Sprintf("anonymise=%v", anonymise), func(t *testing.T) {
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
				stop := ask.Mul(decimalOf("0.97")).Round(2)
				recs := fmt.Sprintf(`{"symbol":"BTC/USDT","action":"buy","confidence":0.7,"size_pct":1,"order_type":"limit","limit_price":%s,"stop_loss":%s,"take_profit":null,"reason":"Trend intact."},{"symbol":"ETH/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"No edge."}`, ask, stop)
				for _, sym := range invented {
					recs += fmt.Sprintf(`,{"symbol":%q,"action":"buy","confidence":0.9,"size_pct":1,"order_type":"limit","limit_price":%s,"stop_loss":%s,"take_profit":null,"reason":"Looks cheap."}`, sym, ask, stop)
				}
				return `{"rationale":"BTC trend; two more ideas.","recommendations":[` + recs + `]}`
			}
			fake = newFakeOpenAI(t, content, reply{status: 200, file: "good.json", price: true})
			h := newHarness(t, extremeAdvisor(t, fake, anonymise), "")
			res := h.step()
			if res.Status != "ok" || len(res.Verdicts) != 4 {
				t.Fatalf("status %q (%s), %d verdicts, schema errors %v; want ok with 4", res.Status, res.Reason, len(res.Verdicts), res.SchemaError)
			}
			if v := res.Verdicts[0]; v.Symbol != "BTC/USDT" || v.Decision != schemas.DecisionApproved {
				t.Fatalf("BTC/USDT buy %s %v; want approved", v.Decision, v.Violations)
			}
			if len(res.Orders) != 1 || res.Orders[0].Symbol != "BTC/USDT" {
				t.Fatalf("orders %+v; want the BTC/USDT buy only", res.Orders)
			}
			if res.Verdicts[1].Decision != schemas.DecisionNoAction {
				t.Fatalf("ETH/USDT hold %s", res.Verdicts[1].Decision)
			}
			story, err := h.store.Show(context.Background(), res.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if len(story.Decisions) != 4 {
				t.Fatalf("%d decisions on record; want 4", len(story.Decisions))
			}
			for i, sym := range invented {
				v := res.Verdicts[2+i]
				var rules []string
				for _, x := range v.Violations {
					rules = append(rules, x.Rule)
				}
				if v.Symbol != sym || v.Decision != schemas.DecisionRejected || !slices.Contains(rules, "symbol_allowlist") || v.Order != nil {
					t.Fatalf("%s: verdict %s %s by %v (order %v); want %s rejected by symbol_allowlist, unsized", sym, v.Symbol, v.Decision, rules, v.Order, sym)
				}
				if !slices.Contains(rules, policy.RuleSizingMarket) {
					t.Errorf("%s: rules %v; want %s too (no market to size against)", sym, rules, policy.RuleSizingMarket)
				}
				if d := story.Decisions[2+i]; d.Symbol != sym || d.Decision != schemas.DecisionRejected {
					t.Fatalf("recorded decision %s %s; want %s rejected", d.Symbol, d.Decision, sym)
				}
			}
		})
	}
}

// TestMalformedSymbolVoidsTheAnswer pins the other side, by contract: a
// symbol that is not BASE/QUOTE in upper-case ASCII ("doge/usdt", a
// Cyrillic "BTC/USDТ") fails the response schema's pattern, and an
// answer that fails the schema is refused whole (after the repair turns),
// with the pointer and the reason on the run; nothing of it is judged.
func TestMalformedSymbolVoidsTheAnswer(t *testing.T) {
	t.Setenv("WARDEN_TEST_OPENAI_KEY", "sk-test-canary-123456")
	content := func() string {
		return `{"rationale":"r","recommendations":[{"symbol":"ETH/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"No edge."},{"symbol":"BTC/USDТ","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"x"}]}`
	}
	fake := newFakeOpenAI(t, content, reply{status: 200, file: "good.json", price: true})
	h := newHarness(t, extremeAdvisor(t, fake, false), "")
	res := h.step()
	if res.Status != "advisor_error" || len(res.Verdicts) != 0 || !strings.Contains(res.Reason, "schema") {
		t.Fatalf("status %q (%s), %d verdicts; want advisor_error naming the schema, none judged", res.Status, res.Reason, len(res.Verdicts))
	}
	story, err := h.store.Show(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	last := story.Responses[len(story.Responses)-1]
	if b, _ := json.Marshal(last); !strings.Contains(string(b), "/recommendations/1/symbol") || !strings.Contains(string(b), "U+0422") {
		t.Fatalf("recorded response does not name the symbol's pointer and the lookalike: %s", b)
	}
}
