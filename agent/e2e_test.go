package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor/openai"
	"github.com/warden-trading/warden/agent/advisor/replay"
)

// reply is one canned answer of the fake OpenAI-compatible server.
type reply struct {
	status int
	file   string            // body from testdata/openai
	header map[string]string // extra headers (Retry-After)
	delay  time.Duration     // answer late
	price  bool              // replace the message content by a BTC buy at the market
}

// fakeOpenAI answers POST /v1/chat/completions with the queued replies in
// order (the last one repeats) and records every request body.
type fakeOpenAI struct {
	*httptest.Server
	mu       sync.Mutex
	queue    []reply
	requests []string
	content  func() string
}

func newFakeOpenAI(t *testing.T, content func() string, queue ...reply) *fakeOpenAI {
	f := &fakeOpenAI{queue: queue, content: content}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, string(body))
		rp := f.queue[0]
		if len(f.queue) > 1 {
			f.queue = f.queue[1:]
		}
		f.mu.Unlock()
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-test-canary-123456" {
			http.Error(w, `{"error":{"message":"bad path or key","type":"invalid_request_error"}}`, http.StatusUnauthorized)
			return
		}
		if rp.delay > 0 {
			select {
			case <-time.After(rp.delay):
			case <-r.Context().Done():
				return
			}
		}
		data, err := os.ReadFile(filepath.Join("testdata", "openai", rp.file))
		if err != nil {
			t.Errorf("fixture: %v", err)
			return
		}
		if rp.price {
			var doc map[string]any
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Errorf("fixture %s: %v", rp.file, err)
				return
			}
			doc["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"] = f.content()
			data, _ = json.Marshal(doc)
		}
		for k, v := range rp.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rp.status)
		w.Write(data)
	}))
	t.Cleanup(f.Close)
	return f
}

// TestOpenAIEndToEnd drives whole cycles with the real go-openai client
// against a local server answering in OpenAI's wire format. Every failed
// call yields an audited rejection and never an order.
func TestOpenAIEndToEnd(t *testing.T) {
	t.Setenv("WARDEN_TEST_OPENAI_KEY", "sk-test-canary-123456")
	tests := []struct {
		name       string
		queue      []reply
		wantStatus string
		wantOrder  bool
		wantCalls  int
		wantInErr  string
	}{
		{"good", []reply{{status: 200, file: "good.json", price: true}}, "ok", true, 1, ""},
		{"refusal", []reply{{status: 200, file: "refusal.json"}}, "advisor_error", false, 1, "refus"},
		{"truncated", []reply{{status: 200, file: "truncated.json"}}, "advisor_error", false, 1, "trunc"},
		{"malformed then malformed", []reply{{status: 200, file: "malformed.json"}}, "advisor_error", false, 2, "schema"},
		{"malformed then repaired", []reply{{status: 200, file: "malformed.json"}, {status: 200, file: "good.json", price: true}}, "ok", true, 2, ""},
		{"429 then good", []reply{{status: 429, file: "429_rate_limit_exceeded_tpm.json", header: map[string]string{"Retry-After": "0"}}, {status: 200, file: "good.json", price: true}}, "ok", true, 2, ""},
		{"429 insufficient_quota: not retried, named", []reply{{status: 429, file: "429_insufficient_quota.json", header: map[string]string{"Retry-After": "0"}}, {status: 200, file: "good.json", price: true}}, "advisor_error", false, 1, "quota_exhausted"},
		{"500 forever", []reply{{status: 500, file: "500_server_error.json"}}, "advisor_error", false, 3, "500"},
		{"slow past the timeout (retried, then given up)", []reply{{status: 200, file: "good.json", price: true, delay: 3 * time.Second}}, "advisor_error", false, 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h *harness
			content := func() string {
				tk, err := h.px.Ticker(context.Background(), "BTC/USDT")
				if err != nil {
					t.Errorf("ticker: %v", err)
				}
				price := tk.Ask
				stop := price.Mul(decimalOf("0.97")).Round(2)
				return fmt.Sprintf(`{"rationale":"BTC holds its trend; a small long with a 3%% stop.","recommendations":[{"symbol":"BTC/USDT","action":"buy","confidence":0.7,"size_pct":1,"order_type":"limit","limit_price":%s,"stop_loss":%s,"take_profit":null,"reason":"Trend intact."},{"symbol":"ETH/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"No edge."}]}`, price, stop)
			}
			fake := newFakeOpenAI(t, content, tt.queue...)
			zero := 0.0
			adv, err := openai.New(openai.Config{
				BaseURL: fake.URL + "/v1", Model: "gpt-4o-2024-08-06", APIKeyEnv: "WARDEN_TEST_OPENAI_KEY",
				Temperature: &zero, Timeout: time.Second, MaxRetries: 2, StructuredOutputs: true, RepairAttempts: 1,
				BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
			}, openai.Deps{Logger: quiet, Sleep: func(ctx context.Context, d time.Duration) error { return nil }})
			if err != nil {
				t.Fatal(err)
			}
			h = newHarness(t, adv, "")
			res := h.step()
			if res.Status != tt.wantStatus {
				t.Fatalf("status = %q (%s); want %q", res.Status, res.Reason, tt.wantStatus)
			}
			if tt.wantInErr != "" && !strings.Contains(strings.ToLower(res.Reason), tt.wantInErr) {
				t.Errorf("reason %q does not mention %q", res.Reason, tt.wantInErr)
			}
			if got := len(res.Orders) > 0; got != tt.wantOrder {
				t.Fatalf("orders = %+v; want order placed = %v (verdicts %+v)", res.Orders, tt.wantOrder, res.Verdicts)
			}
			if !tt.wantOrder {
				trades, _ := h.px.MyTrades(context.Background(), "", time.Time{})
				opens, _ := h.px.OpenOrders(context.Background(), "")
				if len(trades)+len(opens) != 0 {
					t.Fatalf("a failed call left %d trades and %d open orders on the exchange", len(trades), len(opens))
				}
			}
			story, err := h.store.Show(context.Background(), res.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if len(story.LLMCalls) != tt.wantCalls {
				t.Errorf("audited model calls = %d; want %d (one per attempt)", len(story.LLMCalls), tt.wantCalls)
			}
			for _, c := range story.LLMCalls {
				if !strings.Contains(c.Request, `"messages"`) || !strings.Contains(c.Request, "BTC/USDT") {
					t.Errorf("audited request lacks the full messages: %.300s", c.Request)
				}
				if strings.Contains(c.Request+c.Response+c.Error, "sk-test-canary") {
					t.Fatal("the API key reached the audit store")
				}
			}
			if tt.wantStatus == "ok" {
				if len(story.Responses) == 0 || !strings.Contains(story.Responses[len(story.Responses)-1].Raw, "BTC holds its trend") {
					t.Errorf("the raw response is not in the audit store")
				}
				if !strings.Contains(fake.requests[0], `"temperature":0`) || !strings.Contains(fake.requests[0], `"json_schema"`) {
					t.Errorf("request lacks temperature 0 or the strict schema: %.400s", fake.requests[0])
				}
			}
			db, _ := os.ReadFile(h.store.Path())
			if bytes.Contains(db, []byte("sk-test-canary")) {
				t.Fatal("the API key is in the database file")
			}
		})
	}
}

// TestReplayReproducesVerdictsByteForByte records a day of runs with the
// baseline advisor, then replays the recorded responses into a fresh
// database over the same market: every verdict must be byte-identical.
func TestReplayReproducesVerdictsByteForByte(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	orig := newHarness(t, nil, filepath.Join(dir, "orig.db"))
	var want [][]byte
	for i := 0; i < 24; i++ {
		res := orig.step()
		b, _ := json.Marshal(res.Verdicts)
		want = append(want, b)
	}
	recs, err := agent.LoadRecordings(ctx, orig.store, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if recs.Len() != 24 {
		t.Fatalf("recordings = %d; want 24", recs.Len())
	}
	again := newHarness(t, replay.New(recs, "replay"), filepath.Join(dir, "replay.db"))
	for i := 0; i < 24; i++ {
		res := again.step()
		got, _ := json.Marshal(res.Verdicts)
		if !bytes.Equal(got, want[i]) {
			t.Fatalf("run %d verdicts differ:\n got %s\nwant %s", i, got, want[i])
		}
	}
	// A run with no recording is an error, never a default answer.
	res := again.step()
	if res.Status != "advisor_error" || len(res.Verdicts) != 0 {
		t.Fatalf("run past the recordings = %q with %d verdicts; want advisor_error and none", res.Status, len(res.Verdicts))
	}
}

func decimalOf(s string) decimal.Decimal { return decimal.RequireFromString(s) }
