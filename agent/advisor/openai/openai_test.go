package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/prompts"
	"github.com/warden-trading/warden/schemas"
)

const testKey = "sk-test-CANARY-1234567890abcdef"

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/openai/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// step is one scripted answer of the fake server.
type step struct {
	status int
	body   []byte
	header map[string]string
	delay  time.Duration
}

// fakeServer is an OpenAI-compatible chat-completions endpoint answering
// with a script of real wire samples; the last step repeats.
type fakeServer struct {
	*httptest.Server
	mu       sync.Mutex
	script   []step
	requests [][]byte
	auth     []string
}

func newServer(t *testing.T, script ...step) *fakeServer {
	t.Helper()
	f := &fakeServer{script: script}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		n := len(f.requests)
		f.requests = append(f.requests, body)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		s := f.script[min(n, len(f.script)-1)]
		f.mu.Unlock()
		if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		if s.delay > 0 {
			select {
			case <-time.After(s.delay):
			case <-r.Context().Done():
				return
			}
		}
		for k, v := range s.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.status)
		w.Write(s.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fakeServer) request(t *testing.T, i int) map[string]any {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var m map[string]any
	if err := json.Unmarshal(f.requests[i], &m); err != nil {
		t.Fatalf("request %d is not JSON: %v\n%s", i, err, f.requests[i])
	}
	return m
}

type sleeper struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	return ctx.Err()
}

type fixedBudget struct {
	used  int64
	err   error
	since []time.Time
}

func (b *fixedBudget) TokensUsedSince(_ context.Context, t time.Time) (int64, error) {
	b.since = append(b.since, t)
	return b.used, b.err
}

var _ Budget = (*fixedBudget)(nil)

var clock = time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC)

func newAdvisor(t *testing.T, srv *fakeServer, mod func(*Config, *Deps)) (*Advisor, *sleeper) {
	t.Helper()
	sl := &sleeper{}
	cfg := Config{BaseURL: srv.URL + "/v1", Model: "gpt-4o-2024-08-06", APIKeyEnv: "WARDEN_TEST_OPENAI_KEY", Timeout: 5 * time.Second}
	deps := Deps{
		Now:    func() time.Time { return clock },
		Getenv: func(k string) string { return map[string]string{"WARDEN_TEST_OPENAI_KEY": testKey}[k] },
		Sleep:  sl.sleep,
		Jitter: func() float64 { return 0.5 },
	}
	if mod != nil {
		mod(&cfg, &deps)
	}
	a, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return a, sl
}

func request() advisor.Request {
	return advisor.Request{RunID: "run-1", Now: clock, Prompt: prompts.Rendered{System: "You are the analyst. Reply in JSON.", User: "Market BTC/USDT: close 42005."}}
}

func ok(t *testing.T, name string) step { return step{status: 200, body: fixture(t, name)} }

func noSecret(t *testing.T, rep advisor.Reply, err error) {
	t.Helper()
	for i, c := range rep.Calls {
		for what, b := range map[string][]byte{"RequestJSON": c.RequestJSON, "ResponseBody": c.ResponseBody, "Err": []byte(c.Err)} {
			if bytes.Contains(b, []byte(testKey)) {
				t.Errorf("Calls[%d].%s contains the API key", i, what)
			}
		}
	}
	if err != nil && strings.Contains(err.Error(), testKey) {
		t.Errorf("error contains the API key: %v", err)
	}
}

func TestGoodResponse(t *testing.T) {
	srv := newServer(t, ok(t, "good.json"))
	a, _ := newAdvisor(t, srv, nil)
	rep, err := a.Advise(context.Background(), request())
	noSecret(t, rep, err)
	if err != nil {
		t.Fatalf("Advise = %v", err)
	}
	if want := fixture(t, "recommendation.json"); !bytes.Equal(rep.Raw, want) {
		t.Errorf("Raw = %s; want %s", rep.Raw, want)
	}
	if _, err := schemas.ParseResponse(rep.Raw); err != nil {
		t.Errorf("ParseResponse(Raw) = %v", err)
	}
	if rep.Advisor != "openai" || rep.Model != "gpt-4o-2024-08-06" || rep.Repairs != 0 || len(rep.Calls) != 1 {
		t.Fatalf("Reply = %s/%s repairs %d calls %d", rep.Advisor, rep.Model, rep.Repairs, len(rep.Calls))
	}
	c := rep.Calls[0]
	if c.Attempt != 1 || c.Purpose != "initial" || c.HTTPStatus != 200 || c.PromptTokens != 79 || c.CompletionTokens != 14 ||
		c.TotalTokens != 93 || c.FinishReason != "stop" || c.Err != "" || c.Latency <= 0 || !c.Started.Equal(clock) {
		t.Errorf("Calls[0] = %+v", c)
	}
	if !bytes.Equal(c.ResponseBody, fixture(t, "good.json")) {
		t.Errorf("Calls[0].ResponseBody is not the exact body received")
	}
	srv.mu.Lock()
	sent, auth := srv.requests[0], srv.auth[0]
	srv.mu.Unlock()
	if !bytes.Equal(c.RequestJSON, sent) {
		t.Errorf("Calls[0].RequestJSON is not the exact body sent:\n%s\n%s", c.RequestJSON, sent)
	}
	if auth != "Bearer "+testKey {
		t.Errorf("Authorization = %q; want the key from the environment", auth)
	}
	body := srv.request(t, 0)
	msgs, _ := body["messages"].([]any)
	if len(msgs) != 2 || body["model"] != "gpt-4o-2024-08-06" {
		t.Fatalf("request body = %v", body)
	}
	if m := msgs[0].(map[string]any); m["role"] != "system" || m["content"] != request().Prompt.System {
		t.Errorf("messages[0] = %v", m)
	}
	if m := msgs[1].(map[string]any); m["role"] != "user" || m["content"] != request().Prompt.User {
		t.Errorf("messages[1] = %v", m)
	}
	if rf, _ := body["response_format"].(map[string]any); rf["type"] != "json_object" {
		t.Errorf("response_format = %v; want JSON mode", body["response_format"])
	}
	if _, has := body["temperature"]; has {
		t.Errorf("temperature sent although not configured")
	}
}

func TestRejections(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		kind  advisor.Kind
		calls int
	}{
		{"refusal", []step{ok(t, "refusal.json")}, advisor.KindRefusal, 1},
		{"truncated", []step{ok(t, "truncated.json")}, advisor.KindTruncated, 1},
		{"401 no retry", []step{{status: 401, body: fixture(t, "401_invalid_api_key.json")}}, advisor.KindAuth, 1},
		{"400 no retry", []step{{status: 400, body: []byte(`{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`)}}, advisor.KindBadRequest, 1},
		{"500 forever", []step{{status: 500, body: fixture(t, "500_server_error.json")}}, advisor.KindTransport, 3},
		{"429 forever", []step{{status: 429, body: fixture(t, "429_rate_limit_exceeded_tpm.json")}}, advisor.KindRateLimited, 3},
		// Quota exhausted is not a rate limit: never retried, even when the
		// server adds a Retry-After.
		{"429 insufficient_quota no retry", []step{{status: 429, body: fixture(t, "429_insufficient_quota.json")}, ok(t, "good.json")}, advisor.KindQuota, 1},
		{"429 insufficient_quota with Retry-After no retry", []step{{status: 429, body: fixture(t, "429_insufficient_quota.json"), header: map[string]string{"Retry-After": "1"}}, ok(t, "good.json")}, advisor.KindQuota, 1},
		{"no choices", []step{{status: 200, body: []byte(`{"id":"x","object":"chat.completion","model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":0,"total_tokens":1}}`)}}, advisor.KindBadResponse, 1},
		{"content filter", []step{{status: 200, body: bytes.Replace(fixture(t, "good.json"), []byte(`"finish_reason": "stop"`), []byte(`"finish_reason": "content_filter"`), 1)}}, advisor.KindRefusal, 1},
		{"garbage 200 body", []step{{status: 200, body: []byte("<html>bad gateway</html>")}}, advisor.KindTransport, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.steps...)
			a, _ := newAdvisor(t, srv, nil)
			rep, err := a.Advise(context.Background(), request())
			noSecret(t, rep, err)
			if advisor.KindOf(err) != tt.kind {
				t.Fatalf("Advise = %v; want kind %s", err, tt.kind)
			}
			if rep.Raw != nil {
				t.Errorf("Raw = %s; want nothing on error", rep.Raw)
			}
			if srv.count() != tt.calls || len(rep.Calls) != tt.calls {
				t.Errorf("server saw %d requests, Calls has %d; want %d", srv.count(), len(rep.Calls), tt.calls)
			}
			last := rep.Calls[len(rep.Calls)-1]
			if last.Err == "" || last.HTTPStatus != tt.steps[0].status {
				t.Errorf("last call Err=%q status=%d", last.Err, last.HTTPStatus)
			}
		})
	}
}

// TestQuotaExhaustedIsNamed: OpenAI's 429 insufficient_quota (the
// recorded wire sample) ends the advice at once as quota_exhausted, with
// a message that tells the operator it is the plan or billing, not load;
// the call is recorded with its status and OpenAI's body.
func TestQuotaExhaustedIsNamed(t *testing.T) {
	srv := newServer(t, step{status: 429, body: fixture(t, "429_insufficient_quota.json")}, ok(t, "good.json"))
	a, sl := newAdvisor(t, srv, nil)
	rep, err := a.Advise(context.Background(), request())
	if advisor.KindOf(err) != advisor.KindQuota || srv.count() != 1 || len(sl.delays) != 0 {
		t.Fatalf("Advise = %v after %d requests and %d waits; want quota_exhausted, one request, no wait", err, srv.count(), len(sl.delays))
	}
	for _, want := range []string{"quota_exhausted", "insufficient_quota", "not retried", "You exceeded your current quota"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if c := rep.Calls[0]; c.HTTPStatus != 429 || !strings.Contains(string(c.ResponseBody), `"code": "insufficient_quota"`) {
		t.Errorf("recorded call: status %d body %s", c.HTTPStatus, c.ResponseBody)
	}
	// A plain rate limit is still retried.
	srv = newServer(t, step{status: 429, body: fixture(t, "429_rate_limit_exceeded_tpm.json")}, ok(t, "good.json"))
	a, _ = newAdvisor(t, srv, nil)
	if _, err := a.Advise(context.Background(), request()); err != nil || srv.count() != 2 {
		t.Fatalf("rate limit then good: %v after %d requests; want success after a retry", err, srv.count())
	}
}

func TestRefusalMessage(t *testing.T) {
	srv := newServer(t, ok(t, "refusal.json"))
	a, _ := newAdvisor(t, srv, nil)
	_, err := a.Advise(context.Background(), request())
	if !strings.Contains(err.Error(), "I'm very sorry, but I can't assist with that.") {
		t.Errorf("refusal error = %v; want the model's refusal text", err)
	}
}

func TestRetries(t *testing.T) {
	t.Run("429 with Retry-After then success", func(t *testing.T) {
		srv := newServer(t, step{status: 429, body: fixture(t, "429_rate_limit_exceeded_tpm.json"), header: map[string]string{"Retry-After": "7"}}, ok(t, "good.json"))
		a, sl := newAdvisor(t, srv, nil)
		rep, err := a.Advise(context.Background(), request())
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Calls) != 2 || rep.Calls[0].HTTPStatus != 429 || rep.Calls[0].RetryAfter != 7*time.Second || rep.Calls[1].Purpose != "retry" || rep.Calls[1].Attempt != 2 {
			t.Fatalf("Calls = %+v", rep.Calls)
		}
		if len(sl.delays) != 1 || sl.delays[0] != 7*time.Second {
			t.Errorf("waited %v; want exactly the Retry-After of 7s", sl.delays)
		}
	})
	t.Run("retry-after-ms", func(t *testing.T) {
		srv := newServer(t, step{status: 429, body: fixture(t, "429_rate_limit_exceeded_tpm.json"), header: map[string]string{"Retry-After-Ms": "2500"}}, ok(t, "good.json"))
		a, sl := newAdvisor(t, srv, func(c *Config, _ *Deps) { c.BackoffBase = time.Millisecond })
		if _, err := a.Advise(context.Background(), request()); err != nil {
			t.Fatal(err)
		}
		if len(sl.delays) != 1 || sl.delays[0] != 2500*time.Millisecond {
			t.Errorf("waited %v; want 2.5s", sl.delays)
		}
	})
	t.Run("Retry-After too long gives up", func(t *testing.T) {
		srv := newServer(t, step{status: 429, body: fixture(t, "429_rate_limit_exceeded_tpm.json"), header: map[string]string{"Retry-After": "3600"}}, ok(t, "good.json"))
		a, sl := newAdvisor(t, srv, nil)
		_, err := a.Advise(context.Background(), request())
		if advisor.KindOf(err) != advisor.KindRateLimited || srv.count() != 1 || len(sl.delays) != 0 {
			t.Errorf("Advise = %v after %d calls, %d waits; want rate_limited after 1 call, no wait", err, srv.count(), len(sl.delays))
		}
	})
	t.Run("500 then success with backoff", func(t *testing.T) {
		srv := newServer(t, step{status: 500, body: fixture(t, "500_server_error.json")}, step{status: 503, body: []byte("upstream down")}, ok(t, "good.json"))
		a, sl := newAdvisor(t, srv, nil)
		rep, err := a.Advise(context.Background(), request())
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Calls) != 3 || rep.Calls[0].HTTPStatus != 500 || rep.Calls[1].HTTPStatus != 503 || rep.Calls[2].HTTPStatus != 200 {
			t.Fatalf("Calls statuses = %d %d %d", rep.Calls[0].HTTPStatus, rep.Calls[1].HTTPStatus, rep.Calls[2].HTTPStatus)
		}
		// Jitter 0.5 → 3/4 of the exponential step: 375ms, 750ms.
		if want := []time.Duration{375 * time.Millisecond, 750 * time.Millisecond}; !reflect.DeepEqual(sl.delays, want) {
			t.Errorf("waits = %v; want %v", sl.delays, want)
		}
	})
	t.Run("slow response past the timeout", func(t *testing.T) {
		srv := newServer(t, step{status: 200, body: fixture(t, "good.json"), delay: 2 * time.Second})
		a, _ := newAdvisor(t, srv, func(c *Config, _ *Deps) { c.Timeout = 100 * time.Millisecond; c.MaxRetries = 1 })
		start := time.Now()
		rep, err := a.Advise(context.Background(), request())
		if advisor.KindOf(err) != advisor.KindTransport || len(rep.Calls) != 2 || rep.Raw != nil {
			t.Fatalf("Advise = %v with %d calls; want transport error after 2 calls", err, len(rep.Calls))
		}
		if el := time.Since(start); el > 1500*time.Millisecond {
			t.Errorf("took %s; the timeout did not cut the calls", el)
		}
		if rep.Calls[0].HTTPStatus != 0 || rep.Calls[0].Err == "" {
			t.Errorf("timed-out call = %+v", rep.Calls[0])
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := newServer(t, ok(t, "good.json"))
		srv.Close()
		a, sl := newAdvisor(t, srv, func(c *Config, _ *Deps) { c.MaxRetries = 2 })
		rep, err := a.Advise(context.Background(), request())
		if advisor.KindOf(err) != advisor.KindTransport || len(rep.Calls) != 3 || len(sl.delays) != 2 {
			t.Errorf("Advise = %v, %d calls, %d waits; want transport after 3 calls", err, len(rep.Calls), len(sl.delays))
		}
	})
	t.Run("canceled context stops retrying", func(t *testing.T) {
		srv := newServer(t, step{status: 500, body: fixture(t, "500_server_error.json")})
		ctx, cancel := context.WithCancel(context.Background())
		a, _ := newAdvisor(t, srv, func(_ *Config, d *Deps) {
			d.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
		})
		_, err := a.Advise(ctx, request())
		if advisor.KindOf(err) != advisor.KindCanceled || srv.count() != 1 {
			t.Errorf("Advise = %v after %d calls; want canceled after 1", err, srv.count())
		}
	})
}

func TestRepair(t *testing.T) {
	t.Run("schema-invalid then repaired", func(t *testing.T) {
		srv := newServer(t, ok(t, "schema_invalid.json"), ok(t, "good.json"))
		a, _ := newAdvisor(t, srv, nil)
		rep, err := a.Advise(context.Background(), request())
		if err != nil {
			t.Fatal(err)
		}
		if rep.Repairs != 1 || len(rep.Calls) != 2 || rep.Calls[1].Purpose != "repair" || !bytes.Equal(rep.Raw, fixture(t, "recommendation.json")) {
			t.Fatalf("Reply repairs=%d calls=%d purpose=%q raw=%s", rep.Repairs, len(rep.Calls), rep.Calls[1].Purpose, rep.Raw)
		}
		msgs := srv.request(t, 1)["messages"].([]any)
		if len(msgs) != 4 {
			t.Fatalf("repair request has %d messages; want 4", len(msgs))
		}
		bad := msgs[2].(map[string]any)
		if bad["role"] != "assistant" || bad["content"] != `{"city":"San Francisco","temperature":65,"units":"f"}` {
			t.Errorf("messages[2] = %v; want the bad answer as the assistant turn", bad)
		}
		fix := msgs[3].(map[string]any)
		content, _ := fix["content"].(string)
		if fix["role"] != "user" || !strings.Contains(content, "not valid against the response JSON schema") || !strings.Contains(content, "rationale") {
			t.Errorf("messages[3] = %v; want the schema errors", fix)
		}
	})
	t.Run("malformed then repaired", func(t *testing.T) {
		srv := newServer(t, ok(t, "malformed.json"), ok(t, "good.json"))
		a, _ := newAdvisor(t, srv, nil)
		rep, err := a.Advise(context.Background(), request())
		if err != nil || rep.Repairs != 1 {
			t.Fatalf("Advise = %v, repairs %d", err, rep.Repairs)
		}
	})
	t.Run("repair fails", func(t *testing.T) {
		srv := newServer(t, ok(t, "malformed.json"), ok(t, "schema_invalid.json"))
		a, _ := newAdvisor(t, srv, nil)
		rep, err := a.Advise(context.Background(), request())
		var ae *advisor.Error
		if !errors.As(err, &ae) || ae.Kind != advisor.KindSchemaInvalid || len(ae.Violations) == 0 {
			t.Fatalf("Advise = %v; want schema_invalid_after_repair with violations", err)
		}
		if len(rep.Calls) != 2 || rep.Repairs != 1 || rep.Raw != nil {
			t.Errorf("calls=%d repairs=%d raw=%s; want 2 calls, 1 repair, no raw", len(rep.Calls), rep.Repairs, rep.Raw)
		}
	})
	t.Run("repairs disabled", func(t *testing.T) {
		srv := newServer(t, ok(t, "malformed.json"), ok(t, "good.json"))
		a, _ := newAdvisor(t, srv, func(c *Config, _ *Deps) { c.RepairAttempts = -1 })
		_, err := a.Advise(context.Background(), request())
		if advisor.KindOf(err) != advisor.KindSchemaInvalid || srv.count() != 1 {
			t.Errorf("Advise = %v after %d calls; want schema_invalid after 1", err, srv.count())
		}
	})
	t.Run("two repairs allowed", func(t *testing.T) {
		srv := newServer(t, ok(t, "malformed.json"), ok(t, "schema_invalid.json"), ok(t, "good.json"))
		a, _ := newAdvisor(t, srv, func(c *Config, _ *Deps) { c.RepairAttempts = 2 })
		rep, err := a.Advise(context.Background(), request())
		if err != nil || rep.Repairs != 2 || len(rep.Calls) != 3 {
			t.Errorf("Advise = %v, repairs %d, calls %d", err, rep.Repairs, len(rep.Calls))
		}
	})
}

func TestTemperatureOnTheWire(t *testing.T) {
	zero, warm := 0.0, 0.7
	tests := []struct {
		name string
		temp *float64
		want string // substring of the wire body; "" means absent
	}{
		{"zero", &zero, `"temperature":0,`},
		{"0.7", &warm, `"temperature":0.7,`},
		{"unset", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, ok(t, "good.json"))
			a, _ := newAdvisor(t, srv, func(c *Config, _ *Deps) { c.Temperature = tt.temp })
			rep, err := a.Advise(context.Background(), request())
			if err != nil {
				t.Fatal(err)
			}
			srv.mu.Lock()
			wireBody := string(srv.requests[0])
			srv.mu.Unlock()
			if tt.want == "" {
				if strings.Contains(wireBody, "temperature") {
					t.Errorf("wire body has a temperature: %s", wireBody)
				}
				return
			}
			if !strings.Contains(wireBody, tt.want) || strings.Count(wireBody, `"temperature"`) != 1 {
				t.Errorf("wire body lacks %s exactly once: %s", tt.want, wireBody)
			}
			if got := srv.request(t, 0)["temperature"]; got != *tt.temp {
				t.Errorf("temperature on the wire = %v; want %v", got, *tt.temp)
			}
			if !bytes.Equal(rep.Calls[0].RequestJSON, []byte(wireBody)) {
				t.Errorf("recorded RequestJSON differs from the wire body")
			}
		})
	}
}

func TestInjectTemperatureZero(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"model":"m"}`, `{"temperature":0,"model":"m"}`},
		{`{}`, `{"temperature":0}`},
		{`{"temperature":0.5,"model":"m"}`, `{"temperature":0.5,"model":"m"}`},
		{`{"messages":[{"content":"\"temperature\": hot"}],"model":"m"}`, `{"temperature":0,"messages":[{"content":"\"temperature\": hot"}],"model":"m"}`},
		{`{"nested":{"temperature":1}}`, `{"temperature":0,"nested":{"temperature":1}}`},
		{`[]`, `[]`},
	}
	for _, tt := range tests {
		if got := string(injectTemperatureZero([]byte(tt.in))); got != tt.want {
			t.Errorf("injectTemperatureZero(%s) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

func TestStructuredOutputs(t *testing.T) {
	srv := newServer(t, ok(t, "good.json"))
	seed := 42
	a, _ := newAdvisor(t, srv, func(c *Config, _ *Deps) { c.StructuredOutputs = true; c.Seed = &seed; c.MaxTokens = 900 })
	if _, err := a.Advise(context.Background(), request()); err != nil {
		t.Fatal(err)
	}
	body := srv.request(t, 0)
	rf, _ := body["response_format"].(map[string]any)
	js, _ := rf["json_schema"].(map[string]any)
	if rf["type"] != "json_schema" || js["strict"] != true || js["name"] != "warden_response" {
		t.Fatalf("response_format = %v; want json_schema, strict", rf)
	}
	want, err := schemas.OpenAISchema()
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	var wantAny any
	json.Unmarshal(wantJSON, &wantAny)
	if !reflect.DeepEqual(js["schema"], wantAny) {
		t.Errorf("schema on the wire differs from schemas.OpenAISchema():\n%v\n%v", js["schema"], wantAny)
	}
	if body["seed"] != float64(42) || body["max_tokens"] != float64(900) {
		t.Errorf("seed/max_tokens on the wire = %v/%v", body["seed"], body["max_tokens"])
	}
}

func TestBudget(t *testing.T) {
	t.Run("exhausted: no call", func(t *testing.T) {
		srv := newServer(t, ok(t, "good.json"))
		b := &fixedBudget{used: 1000}
		a, _ := newAdvisor(t, srv, func(c *Config, d *Deps) { c.DailyTokenBudget = 1000; d.Budget = b })
		rep, err := a.Advise(context.Background(), request())
		if advisor.KindOf(err) != advisor.KindBudgetExhausted || srv.count() != 0 || len(rep.Calls) != 0 {
			t.Fatalf("Advise = %v after %d calls; want budget_exhausted and no call", err, srv.count())
		}
		if want := time.Date(2024, 1, 10, 0, 0, 0, 0, time.UTC); len(b.since) != 1 || !b.since[0].Equal(want) {
			t.Errorf("usage asked since %v; want the start of the UTC day %s", b.since, want)
		}
	})
	// request() is 35 + 29 bytes in two messages: (64+2)/3 = 22 prompt
	// tokens, 4 × 3 for the messages and the reply, and max_tokens 100.
	const cost = 22 + 12 + 100
	t.Run("a call that fits exactly is made", func(t *testing.T) {
		srv := newServer(t, ok(t, "good.json"))
		a, _ := newAdvisor(t, srv, func(c *Config, d *Deps) {
			c.MaxTokens = 100
			c.DailyTokenBudget = 1000 + cost
			d.Budget = &fixedBudget{used: 1000}
		})
		if _, err := a.Advise(context.Background(), request()); err != nil || srv.count() != 1 {
			t.Fatalf("Advise = %v after %d calls; want the call made", err, srv.count())
		}
	})
	t.Run("a call one token over is not made", func(t *testing.T) {
		// Before, a call was made whenever anything was left (999 of 1000
		// used): the budget was overshot by up to one call.
		srv := newServer(t, ok(t, "good.json"))
		a, _ := newAdvisor(t, srv, func(c *Config, d *Deps) {
			c.MaxTokens = 100
			c.DailyTokenBudget = 1000 + cost - 1
			d.Budget = &fixedBudget{used: 1000}
		})
		rep, err := a.Advise(context.Background(), request())
		if advisor.KindOf(err) != advisor.KindBudgetExhausted || srv.count() != 0 || len(rep.Calls) != 0 {
			t.Fatalf("Advise = %v after %d calls; want budget_exhausted and no call", err, srv.count())
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("may use up to %d", cost)) || !strings.Contains(err.Error(), "1 over the budget") {
			t.Errorf("error %q does not say what the call would cost", err)
		}
	})
	t.Run("max_tokens unset: the schema's largest answer is the cost", func(t *testing.T) {
		n, err := MaxAnswerTokens()
		if err != nil {
			t.Fatal(err)
		}
		for _, slack := range []int64{0, -1} {
			srv := newServer(t, ok(t, "good.json"))
			budget := 1000 + 22 + 12 + int64(n) + slack
			a, _ := newAdvisor(t, srv, func(c *Config, d *Deps) { c.DailyTokenBudget = budget; d.Budget = &fixedBudget{used: 1000} })
			_, err := a.Advise(context.Background(), request())
			if made := srv.count() == 1; made != (slack == 0) || (err != nil) == made {
				t.Errorf("budget %d (slack %d): Advise = %v after %d calls", budget, slack, err, srv.count())
			}
		}
	})
	t.Run("this run's tokens count before the repair", func(t *testing.T) {
		// The first call (93 tokens used) fits; the repair, which sends the
		// bad answer and its errors back, no longer does.
		srv := newServer(t, ok(t, "schema_invalid.json"), ok(t, "good.json"))
		a, _ := newAdvisor(t, srv, func(c *Config, d *Deps) {
			c.MaxTokens = 100
			c.DailyTokenBudget = 10 + cost + 50
			d.Budget = &fixedBudget{used: 10}
		})
		rep, err := a.Advise(context.Background(), request())
		if advisor.KindOf(err) != advisor.KindBudgetExhausted || srv.count() != 1 || len(rep.Calls) != 1 {
			t.Fatalf("Advise = %v after %d calls; want budget_exhausted before the repair", err, srv.count())
		}
	})
	t.Run("unreadable usage fails closed", func(t *testing.T) {
		srv := newServer(t, ok(t, "good.json"))
		a, _ := newAdvisor(t, srv, func(c *Config, d *Deps) {
			c.DailyTokenBudget = 100
			d.Budget = &fixedBudget{err: errors.New("db locked")}
		})
		if _, err := a.Advise(context.Background(), request()); advisor.KindOf(err) != advisor.KindBudgetExhausted || srv.count() != 0 {
			t.Errorf("Advise = %v after %d calls; want budget_exhausted and no call", err, srv.count())
		}
	})
}

func TestNew(t *testing.T) {
	env := func(k string) string { return "" }
	bad := []struct {
		name string
		cfg  Config
		deps Deps
	}{
		{"no base url", Config{Model: "m"}, Deps{Getenv: env}},
		{"no model", Config{BaseURL: "http://x/v1"}, Deps{Getenv: env}},
		{"key env unset", Config{BaseURL: "http://x/v1", Model: "m", APIKeyEnv: "NOPE"}, Deps{Getenv: env}},
		{"budget without store", Config{BaseURL: "http://x/v1", Model: "m", DailyTokenBudget: 5}, Deps{Getenv: env}},
		{"temperature 3", Config{BaseURL: "http://x/v1", Model: "m", Temperature: ptr(3.0)}, Deps{Getenv: env}},
		{"api type", Config{BaseURL: "http://x/v1", Model: "m", APIType: "bedrock"}, Deps{Getenv: env}},
	}
	for _, tt := range bad {
		if _, err := New(tt.cfg, tt.deps); err == nil {
			t.Errorf("New(%s) = nil error; want error", tt.name)
		}
	}
	// No key variable: a local server without auth.
	srv := newServer(t, ok(t, "good.json"))
	a, err := New(Config{BaseURL: srv.URL + "/v1", Model: "llama3"}, Deps{Getenv: env})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Advise(context.Background(), request()); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	auth := srv.auth[0]
	srv.mu.Unlock()
	if auth != "" {
		t.Errorf("Authorization = %q; want none without a key", auth)
	}
	if _, err := a.Advise(context.Background(), advisor.Request{}); advisor.KindOf(err) != advisor.KindInput {
		t.Errorf("Advise(empty prompt) = %v; want kind input", err)
	}
}

// TestKeyRedactedEvenIfEchoed: a server that echoes the key back (a
// misbehaving proxy) still leaves no key in the recorded calls.
func TestKeyRedactedEvenIfEchoed(t *testing.T) {
	srv := newServer(t, step{status: 401, body: []byte(fmt.Sprintf(`{"error":{"message":"bad key %s","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, testKey))})
	a, _ := newAdvisor(t, srv, nil)
	rep, err := a.Advise(context.Background(), request())
	noSecret(t, rep, err)
	if advisor.KindOf(err) != advisor.KindAuth || !strings.Contains(string(rep.Calls[0].ResponseBody), "[REDACTED]") {
		t.Errorf("Advise = %v, body %s", err, rep.Calls[0].ResponseBody)
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{"Retry-After": {"-4"}}, 0},
		{http.Header{"Retry-After-Ms": {"120"}, "Retry-After": {"1"}}, 120 * time.Millisecond},
		{nil, 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.h, now); got != tt.want {
			t.Errorf("retryAfter(%v) = %s; want %s", tt.h, got, tt.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestConcurrentAdvise: one advisor serves concurrent runs; each reply
// records only its own calls (run with -race).
func TestConcurrentAdvise(t *testing.T) {
	srv := newServer(t, ok(t, "good.json"))
	a, _ := newAdvisor(t, srv, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req := request()
			req.Prompt.User = fmt.Sprintf("run %d", i)
			rep, err := a.Advise(context.Background(), req)
			if err != nil {
				errs <- err
				return
			}
			if len(rep.Calls) != 1 || !strings.Contains(string(rep.Calls[0].RequestJSON), fmt.Sprintf("run %d", i)) {
				errs <- fmt.Errorf("run %d recorded %d calls: %s", i, len(rep.Calls), rep.Calls[0].RequestJSON)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRefusedBeforeSending: go-openai refuses some requests itself; that
// is a bad request, not retried, and never reaches the server.
func TestRefusedBeforeSending(t *testing.T) {
	srv := newServer(t, ok(t, "good.json"))
	a, sl := newAdvisor(t, srv, func(c *Config, _ *Deps) { c.Model = "o1-mini"; c.Temperature = ptr(0.5) })
	rep, err := a.Advise(context.Background(), request())
	if advisor.KindOf(err) != advisor.KindBadRequest || srv.count() != 0 || len(sl.delays) != 0 || len(rep.Calls) != 1 {
		t.Errorf("Advise = %v, %d requests, %d waits, %d calls; want bad_request, nothing sent, no retry", err, srv.count(), len(sl.delays), len(rep.Calls))
	}
}

func TestMaxCompletionTokensForReasoningModels(t *testing.T) {
	srv := newServer(t, ok(t, "good.json"))
	a, _ := newAdvisor(t, srv, func(c *Config, _ *Deps) { c.Model = "gpt-5-mini"; c.MaxTokens = 500 })
	if _, err := a.Advise(context.Background(), request()); err != nil {
		t.Fatal(err)
	}
	body := srv.request(t, 0)
	if body["max_completion_tokens"] != float64(500) || body["max_tokens"] != nil {
		t.Errorf("max tokens on the wire: max_completion_tokens=%v max_tokens=%v", body["max_completion_tokens"], body["max_tokens"])
	}
}
