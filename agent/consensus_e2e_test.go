package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/advisor/consensus"
	"github.com/warden-trading/warden/agent/advisor/openai"
	"github.com/warden-trading/warden/agent/advisor/transform"
	"github.com/warden-trading/warden/schemas"
)

// answerFor is a model answer for BTC/USDT (action buy at the ask with a
// stop, or hold) and a hold for ETH/USDT, at the harness's current prices.
func answerFor(t *testing.T, h **harness, action string, sizePct, stopPct string) func() string {
	return func() string {
		tk, err := (*h).px.Ticker(context.Background(), "BTC/USDT")
		if err != nil {
			t.Errorf("ticker: %v", err)
		}
		btc := `{"symbol":"BTC/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"No edge."}`
		if action == "buy" {
			stop := tk.Ask.Mul(decimalOf(stopPct)).Round(2)
			btc = fmt.Sprintf(`{"symbol":"BTC/USDT","action":"buy","confidence":0.7,"size_pct":%s,"order_type":"limit","limit_price":%s,"stop_loss":%s,"take_profit":null,"reason":"Trend intact."}`, sizePct, tk.Ask, stop)
		}
		return `{"rationale":"BTC: ` + action + `.","recommendations":[` + btc + `,{"symbol":"ETH/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"No edge."}]}`
	}
}

func memberFor(t *testing.T, name string, fake *fakeOpenAI) consensus.Member {
	t.Helper()
	zero := 0.0
	adv, err := openai.New(openai.Config{
		BaseURL: fake.URL + "/v1", Model: "model-" + name, APIKeyEnv: "WARDEN_TEST_OPENAI_KEY",
		Temperature: &zero, Timeout: time.Second, MaxRetries: 2, StructuredOutputs: true, RepairAttempts: 1,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
	}, openai.Deps{Logger: quiet, Sleep: func(ctx context.Context, d time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return consensus.Member{Name: name, Advisor: adv, Model: "model-" + name}
}

// TestConsensusEndToEnd drives whole cycles (paper exchange, real SQLite
// audit store, executor) with a consensus of real OpenAI clients talking
// to fake servers in OpenAI's wire format: agreeing members place the
// smaller order with the higher stop; a disagreeing or failing member
// gives a "no consensus" hold and no order, unless a majority still holds.
func TestConsensusEndToEnd(t *testing.T) {
	t.Setenv("WARDEN_TEST_OPENAI_KEY", "sk-test-canary-123456")
	type srv struct {
		name           string
		action         string // buy or hold; "" for a failing server (500)
		size, stopFrac string
	}
	tests := []struct {
		name      string
		require   string
		servers   []srv
		wantOrder bool
		wantNC    bool
		wantCalls int
	}{
		{"agreeing", "all", []srv{{"a", "buy", "2", "0.95"}, {"b", "buy", "1", "0.97"}}, true, false, 2},
		{"disagreeing", "all", []srv{{"a", "buy", "2", "0.95"}, {"b", "hold", "", ""}}, false, true, 2},
		{"failing under all", "all", []srv{{"a", "buy", "2", "0.95"}, {"b", "buy", "1", "0.97"}, {"c", "", "", ""}}, false, true, 5},
		{"failing under majority", "majority", []srv{{"a", "buy", "2", "0.95"}, {"b", "buy", "1", "0.97"}, {"c", "", "", ""}}, true, false, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h *harness
			var members []consensus.Member
			for _, s := range tt.servers {
				var fake *fakeOpenAI
				if s.action == "" {
					fake = newFakeOpenAI(t, nil, reply{status: 500, file: "500_server_error.json"})
				} else {
					fake = newFakeOpenAI(t, answerFor(t, &h, s.action, s.size, s.stopFrac), reply{status: 200, file: "good.json", price: true})
				}
				members = append(members, memberFor(t, s.name, fake))
			}
			adv, err := consensus.New(consensus.Config{Members: members, Samples: 1, Require: tt.require, Size: consensus.SizeMin})
			if err != nil {
				t.Fatal(err)
			}
			h = newHarness(t, adv, "")
			res := h.step()
			if res.Status != "ok" {
				t.Fatalf("status = %q (%s)", res.Status, res.Reason)
			}
			resp, err := schemas.ParseResponse(res.Raw)
			if err != nil {
				t.Fatalf("the combined response is not schema-valid: %v", err)
			}
			btc := resp.Recommendations[0]
			if consensus.IsNoConsensus(btc) != tt.wantNC {
				t.Fatalf("BTC recommendation %+v; want no consensus = %v", btc, tt.wantNC)
			}
			if got := len(res.Orders) > 0; got != tt.wantOrder {
				t.Fatalf("orders = %+v; want an order = %v (verdicts %+v)", res.Orders, tt.wantOrder, res.Verdicts)
			}
			if tt.wantOrder {
				// The smaller size (1 %) and the higher, more protective, stop.
				if !btc.SizePct.Equal(decimalOf("1")) || btc.StopLoss == nil {
					t.Fatalf("combined %+v; want size 1 and a stop", btc)
				}
				ask := res.Verdicts[0].Order.Price
				if want := ask.Mul(decimalOf("0.97")).Round(2); !btc.StopLoss.Equal(want) {
					t.Errorf("stop %s; want the most protective %s", btc.StopLoss, want)
				}
				if res.Verdicts[0].Decision != schemas.DecisionApproved {
					t.Fatalf("verdict %+v", res.Verdicts[0])
				}
			} else {
				trades, _ := h.px.MyTrades(context.Background(), "", time.Time{})
				opens, _ := h.px.OpenOrders(context.Background(), "")
				if len(trades)+len(opens) != 0 {
					t.Fatalf("no consensus left %d trades and %d open orders", len(trades), len(opens))
				}
				if res.Verdicts[0].Decision == schemas.DecisionApproved && res.Verdicts[0].Order != nil {
					t.Fatalf("a no-consensus hold was approved with an order: %+v", res.Verdicts[0])
				}
				if !strings.Contains(btc.Reason, "a buy 2%") {
					t.Errorf("the reason does not name every answer: %s", btc.Reason)
				}
			}
			story, err := h.store.Show(context.Background(), res.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if story.Run == nil || story.Run.Advisor != "consensus" {
				t.Errorf("run advisor = %+v; want consensus", story.Run)
			}
			if len(story.LLMCalls) != tt.wantCalls {
				t.Fatalf("audited calls = %d; want %d (each member's attempts)", len(story.LLMCalls), tt.wantCalls)
			}
			seen := map[string]bool{}
			for _, c := range story.LLMCalls {
				seen[c.Advisor] = true
				if !strings.HasPrefix(c.Advisor, "consensus/") || c.Model == "" {
					t.Errorf("call not recorded under its member: advisor %q model %q", c.Advisor, c.Model)
				}
				if strings.Contains(c.Request+c.Response+c.Error, "sk-test-canary") {
					t.Fatal("the API key reached the audit store")
				}
			}
			if len(seen) != len(tt.servers) {
				t.Errorf("members audited %v; want all %d", seen, len(tt.servers))
			}
			last := story.Responses[len(story.Responses)-1].Raw
			if tt.wantNC && !strings.Contains(last, "no consensus") {
				t.Errorf("the recorded response lacks the no-consensus reason: %.400s", last)
			}
		})
	}
}

// scaledAnswerServer is a fake model that reads the BTC ask shown in the
// prompt (on whatever scale) and answers action there: a buy at that ask
// with a stop 3 % below, or a hold.
func scaledAnswerServer(t *testing.T, action string) *httptest.Server {
	t.Helper()
	askRe := regexp.MustCompile(`Market BTC/USDT \([^)]*\):\n- ticker: bid [0-9.]+, ask ([0-9.]+)`)
	fixture, err := os.ReadFile(filepath.Join("testdata", "openai", "good.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) < 2 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		m := askRe.FindStringSubmatch(req.Messages[1].Content)
		if m == nil {
			t.Errorf("no BTC ask in the prompt:\n%s", req.Messages[1].Content)
			http.Error(w, "no ask", http.StatusBadRequest)
			return
		}
		ask := decimalOf(m[1])
		btc := `{"symbol":"BTC/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"No edge."}`
		if action == "buy" {
			btc = fmt.Sprintf(`{"symbol":"BTC/USDT","action":"buy","confidence":0.7,"size_pct":1,"order_type":"limit","limit_price":%s,"stop_loss":%s,"take_profit":null,"reason":"Trend intact."}`, ask, ask.Mul(decimalOf("0.97")).Round(4))
		}
		content := `{"rationale":"BTC: ` + action + `.","recommendations":[` + btc + `,{"symbol":"ETH/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"No edge."}]}`
		var doc map[string]any
		_ = json.Unmarshal(fixture, &doc)
		doc["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"] = content
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestStabilityProbeEndToEnd: a consensus of a model and the same model
// asked through the stability probe (no dates, prices rescaled by a
// random factor). When the probe's answer, mapped back, agrees, the order
// is placed at the real price; when the action flips under perturbation,
// no consensus and no order.
func TestStabilityProbeEndToEnd(t *testing.T) {
	t.Setenv("WARDEN_TEST_OPENAI_KEY", "sk-test-canary-123456")
	for _, tt := range []struct {
		name      string
		probe     string
		wantOrder bool
	}{
		{"stable", "buy", true},
		{"flips under perturbation", "hold", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plain := memberFor(t, "plain", &fakeOpenAI{Server: scaledAnswerServer(t, "buy")})
			probeSrv := memberFor(t, "probe", &fakeOpenAI{Server: scaledAnswerServer(t, tt.probe)})
			wrapped, err := transform.Wrap(probeSrv.Advisor, transform.Config{Mode: transform.Perturb, Rand: rand.New(rand.NewPCG(7, 7))})
			if err != nil {
				t.Fatal(err)
			}
			probeSrv.Advisor = wrapped
			adv, err := consensus.New(consensus.Config{Members: []consensus.Member{plain, probeSrv}, Samples: 1, Require: consensus.RequireAll, Size: consensus.SizeMin})
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, adv, "")
			res := h.step()
			if res.Status != "ok" {
				t.Fatalf("status %s (%s)", res.Status, res.Reason)
			}
			if got := len(res.Orders) > 0; got != tt.wantOrder {
				t.Fatalf("orders %+v; want an order = %v (verdicts %+v)", res.Orders, tt.wantOrder, res.Verdicts)
			}
			resp, err := schemas.ParseResponse(res.Raw)
			if err != nil {
				t.Fatal(err)
			}
			btc := resp.Recommendations[0]
			if !strings.Contains(resp.Rationale, "probe saw perturb (dates relative; BTC/USDT real = shown × ") {
				t.Errorf("the probe's factor is not on record: %s", resp.Rationale)
			}
			story, err := h.store.Show(context.Background(), res.RunID)
			if err != nil {
				t.Fatal(err)
			}
			var probeReq string
			hashes := map[string]string{}
			for _, c := range story.LLMCalls {
				hashes[c.Advisor] = c.PromptHash
				if c.Advisor == "consensus/probe" {
					probeReq = c.Request
				}
			}
			if hashes["consensus/probe"] == "" || hashes["consensus/probe"] == hashes["consensus/plain"] {
				t.Errorf("the probe's calls are not recorded under their own prompt version: %v", hashes)
			}
			if probeReq == "" || !strings.Contains(probeReq, "t-1 |") || dateInPrompt.MatchString(userOf(t, probeReq)) {
				t.Fatalf("the probe's audited request is missing or shows dates: %.600s", probeReq)
			}
			if tt.wantOrder {
				// The probe's limit, mapped back, is the real ask to the
				// digits shown; the combined limit is the lower one.
				if btc.LimitPrice == nil || btc.Action != schemas.ActionBuy {
					t.Fatalf("combined %+v", btc)
				}
				tk, err := h.px.Ticker(context.Background(), "BTC/USDT")
				if err != nil {
					t.Fatal(err)
				}
				if off := btc.LimitPrice.Sub(tk.Ask).Abs().Div(tk.Ask); off.GreaterThan(decimalOf("0.000001")) {
					t.Fatalf("mapped-back limit %s is not the real ask %s", btc.LimitPrice, tk.Ask)
				}
			} else if !consensus.IsNoConsensus(btc) || !strings.Contains(btc.Reason, "probe hold") {
				t.Fatalf("want a no-consensus hold naming the flip: %+v", btc)
			}
		})
	}
}

var dateInPrompt = regexp.MustCompile(`(19|20)\d\d-\d\d-\d\d`)

// userOf is the user message of an audited chat request.
func userOf(t *testing.T, request string) string {
	var req struct {
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(request), &req); err != nil {
		t.Fatalf("audited request: %v", err)
	}
	for _, m := range req.Messages {
		if m.Role == "user" {
			return m.Content
		}
	}
	return ""
}
