package agent_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor/openai"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
)

// invalidThenRepaired is an OpenAI advisor over a fake whose first answer
// of each of the cycles is not schema-valid and whose repair is good (a
// hold for *h's market).
func invalidThenRepaired(t *testing.T, h **harness, cycles int) *openai.Advisor {
	t.Helper()
	var queue []reply
	for range cycles {
		queue = append(queue, reply{status: 200, file: "malformed.json"}, reply{status: 200, file: "good.json", price: true})
	}
	fake := newFakeOpenAI(t, answerFor(t, h, "hold", "", ""), queue...)
	zero := 0.0
	adv, err := openai.New(openai.Config{
		BaseURL: fake.URL + "/v1", Model: "gpt-4o-2024-08-06", APIKeyEnv: "WARDEN_TEST_OPENAI_KEY",
		Temperature: &zero, Timeout: time.Second, MaxRetries: 0, StructuredOutputs: true, RepairAttempts: 1,
	}, openai.Deps{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return adv
}

// TestInvalidOutputBreaker runs cycles whose first answer is not
// schema-valid and whose repair is good: each cycle adds one invalid call
// out of two. Four invalid calls are 20 % of the default window of 20 (at
// the limit: no trip); the fifth is over it: safe mode, in the store, seen
// by a second process. The reliability figures count the same calls.
func TestInvalidOutputBreaker(t *testing.T) {
	t.Setenv("WARDEN_TEST_OPENAI_KEY", "sk-test-canary-123456")
	var h *harness
	adv := invalidThenRepaired(t, &h, 6)
	h = newHarness(t, adv, "")
	for i := 1; i <= 5; i++ {
		res := h.step()
		if res.Status != "ok" {
			t.Fatalf("cycle %d: %s (%s)", i, res.Status, res.Reason)
		}
		tripped := false
		for _, tr := range res.Trips {
			if tr.Breaker == agent.BreakerInvalidOutput {
				tripped = true
			}
		}
		if want := i == 5; tripped != want || res.SafeMode != want {
			t.Fatalf("cycle %d (%d invalid of %d calls): tripped %v, safe mode %v; want %v (trips %+v)", i, i, 2*i, tripped, res.SafeMode, want, res.Trips)
		}
	}
	// Another process reads the level from the same database.
	other, err := audit.Open(context.Background(), h.store.Path(), audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lv, err := other.Level(context.Background(), h.now)
	if err != nil {
		t.Fatal(err)
	}
	if lv.Level != audit.LevelSafeMode || !strings.Contains(lv.Reason, agent.BreakerInvalidOutput) {
		t.Fatalf("stored level %+v; want safe_mode by invalid_output", lv)
	}

	rel, err := other.Reliability(context.Background(), time.Time{}, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rel) != 1 {
		t.Fatalf("reliability rows %+v; want one model and prompt", rel)
	}
	r := rel[0]
	if r.Calls != 10 || r.SchemaFailures != 5 || r.Repairs != 5 || r.OK != 5 || r.Runs != 5 || r.Cost != nil || r.CostText() != "unknown" {
		t.Fatalf("reliability %+v; want 10 calls, 5 schema failures, 5 repairs, 5 ok, 5 runs, cost unknown", r)
	}
	if r.PromptTokens == 0 || r.LatencyP50 <= 0 || r.LatencyP99 < r.LatencyP50 {
		t.Fatalf("tokens or latency missing: %+v", r)
	}
	priced, err := other.Reliability(context.Background(), time.Time{}, time.Time{}, map[string]audit.Price{
		r.Model: {InputPerMTok: decimalOf("2.5"), OutputPerMTok: decimalOf("10")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := decimalOf("2.5").Mul(decimalFromInt(r.PromptTokens)).Add(decimalOf("10").Mul(decimalFromInt(r.CompletionTokens))).Div(decimalOf("1000000"))
	if priced[0].Cost == nil || !priced[0].Cost.Equal(want) {
		t.Fatalf("cost %v; want %s", priced[0].Cost, want)
	}
}

func decimalFromInt(n int64) decimal.Decimal { return decimal.NewFromInt(n) }

// TestInvalidOutputBreakerFromConfig: the window, pct and level of
// breakers.invalid_output in YAML are what the agent uses. Each cycle adds
// one invalid call out of two. With window 4, pct 25 is at the limit
// after the first cycle (1 of 4: no trip) and over it after the second
// (2 of 4), pct 24 trips at once; pct 50 is at the limit after the second
// cycle (no trip), pct 49 trips there. The
// default (20 of 20) would trip neither. The trip raises the configured
// level, reduce, seen by a second store.
func TestInvalidOutputBreakerFromConfig(t *testing.T) {
	for _, tt := range []struct {
		pct  int
		trip int // the first cycle that trips; 0: none in two cycles
	}{{50, 0}, {49, 2}, {25, 2}, {24, 1}} {
		t.Run(fmt.Sprint("pct ", tt.pct), func(t *testing.T) {
			t.Setenv("WARDEN_TEST_OPENAI_KEY", "sk-test-canary-123456")
			cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf("breakers: {invalid_output: {level: reduce, cooldown: 2h, window: 4, pct: %d}}", tt.pct)))
			if err != nil {
				t.Fatal(err)
			}
			var h *harness
			adv := invalidThenRepaired(t, &h, 2)
			h = newHarnessBreakers(t, adv, "", agent.BreakersFromConfig(cfg.Breakers))
			for i := 1; i <= 2; i++ {
				res := h.step()
				if res.Status != "ok" {
					t.Fatalf("cycle %d: %s (%s)", i, res.Status, res.Reason)
				}
				var tr *agent.Trip
				for j := range res.Trips {
					if res.Trips[j].Breaker == agent.BreakerInvalidOutput {
						tr = &res.Trips[j]
					}
				}
				if want := tt.trip != 0 && i >= tt.trip; (tr != nil) != want {
					t.Fatalf("cycle %d (%d invalid of %d calls, window 4, pct %d): tripped %v; want %v (trips %+v)", i, i, 2*i, tt.pct, tr != nil, want, res.Trips)
				}
				if tr != nil && (tr.Level != audit.LevelReduce || res.SafeMode || !strings.Contains(tr.Reason, fmt.Sprintf("more than %d %% of 4", tt.pct))) {
					t.Fatalf("trip %+v, safe mode %v; want the configured level reduce and limit", *tr, res.SafeMode)
				}
			}
			other, err := audit.Open(context.Background(), h.store.Path(), audit.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			lv, err := other.Level(context.Background(), h.now)
			if err != nil {
				t.Fatal(err)
			}
			want := audit.LevelActive
			if tt.trip != 0 {
				want = audit.LevelReduce
			}
			if lv.Level != want {
				t.Fatalf("stored level %+v; want %s", lv, want)
			}
		})
	}
}
