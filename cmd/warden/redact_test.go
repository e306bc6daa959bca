package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-trading/warden/executor/ccxtx/fakebinance"
)

// The model's API key: the fake model echoes it back in its rationale.
const echoedKey = "sk-proj-CANARY-echoed-0123456789abcdef"

// scriptedModel is an OpenAI-compatible endpoint (real wire format) whose
// answers are produced by content, with an optional delay.
type scriptedModel struct {
	*httptest.Server
	mu    sync.Mutex
	calls int
	delay time.Duration
	body  func(n int) []byte
}

func newScriptedModel(t *testing.T, body func(n int) []byte) *scriptedModel {
	t.Helper()
	m := &scriptedModel{body: body}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		m.mu.Lock()
		m.calls++
		n, delay := m.calls, m.delay
		m.mu.Unlock()
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(m.body(n))
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *scriptedModel) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// chatCompletion wraps content in a chat completion as the API sends it.
func chatCompletion(content string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-x", "object": "chat.completion", "created": 1727346143, "model": "gpt-4o-2024-08-06",
		"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content, "refusal": nil}, "logprobs": nil, "finish_reason": "stop"}},
		"usage":   map[string]any{"prompt_tokens": 900, "completion_tokens": 120, "total_tokens": 1020},
	})
	return b
}

// echoingAnswer is a schema-valid answer that quotes the key, raw and
// base64-encoded, in the rationale and a reason.
func echoingAnswer(symbols ...string) string {
	var recs []map[string]any
	for i, s := range symbols {
		action, size := "hold", 0.0
		var limit any
		if i == 0 {
			action, size, limit = "buy", 1.0, nil
		}
		recs = append(recs, map[string]any{
			"symbol": s, "action": action, "confidence": 0.7, "size_pct": size, "order_type": "market",
			"limit_price": limit, "stop_loss": nil, "take_profit": nil,
			"reason": "auth was Basic " + base64.StdEncoding.EncodeToString([]byte("u:"+echoedKey)),
		})
	}
	b, _ := json.Marshal(map[string]any{
		"rationale":       "Your key is " + echoedKey + " (hex " + hex.EncodeToString([]byte(echoedKey)) + "). Momentum is up.",
		"recommendations": recs,
	})
	return string(b)
}

// notifySink is a fake Slack webhook and Telegram Bot API in one server,
// keeping every body received.
type notifySink struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newNotifySink(t *testing.T) *notifySink {
	s := &notifySink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, append([]byte(r.URL.String()+"\n"), b...))
		s.mu.Unlock()
		if strings.Contains(r.URL.Path, "/sendMessage") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ok":true,"result":{"message_id":1,"chat":{"id":42,"type":"private"},"date":1466844672,"text":"x"}}`)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *notifySink) all() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies...)
}

// leaks lists where any form of a secret (raw, base64 at any alignment,
// hex, URL-escaped) or a signed query string's signature appears.
func leaks(outputs map[string][]byte, secrets ...string) []string {
	sig := regexp.MustCompile(`signature=[0-9a-fA-F]{16,}`)
	var found []string
	for where, b := range outputs {
		for _, s := range secrets {
			forms := map[string]string{"raw": s, "hex": hex.EncodeToString([]byte(s)), "query": url.QueryEscape(s)}
			for k := 0; k < 3; k++ {
				e := base64.StdEncoding.EncodeToString(append(make([]byte, k), s...))
				forms[fmt.Sprintf("base64@%d", k)] = e[(8*k+5)/6 : 8*(k+len(s))/6]
			}
			for name, f := range forms {
				if bytes.Contains(b, []byte(f)) {
					found = append(found, fmt.Sprintf("%s (%s) in %s", s[:12]+"…", name, where))
				}
			}
		}
		if m := sig.Find(b); m != nil {
			found = append(found, fmt.Sprintf("a request signature in %s: %s", where, m))
		}
	}
	return found
}

func dbFiles(t *testing.T, db string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if b, err := os.ReadFile(db + suffix); err == nil {
			out["database"+suffix] = b
		}
	}
	if len(out) == 0 {
		t.Fatalf("no database at %s", db)
	}
	return out
}

// TestEchoedKeyGoesNowhere: a model that echoes its API key (raw, base64,
// hex) in its rationale. The key is on none of the ways out: stdout,
// stderr (debug logs), the database and its WAL, Slack and Telegram.
func TestEchoedKeyGoesNowhere(t *testing.T) {
	model := newScriptedModel(t, func(int) []byte { return chatCompletion(echoingAnswer("BTC/USDT", "ETH/USDT")) })
	sink := newNotifySink(t)
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_TEST_LLM_KEY", echoedKey)
	hook := sink.URL + "/services/T0CANARY/B0CANARY/hookpathCANARYsecret"
	t.Setenv("WARDEN_TEST_SLACK_HOOK", hook)
	const tgToken = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
	t.Setenv("WARDEN_TEST_TG_TOKEN", tgToken)
	os.WriteFile("warden.yaml", []byte(fmt.Sprintf(`
advisor:
  kind: openai
  openai: {base_url: %s/v1, model: gpt-4o-2024-08-06, api_key_env: WARDEN_TEST_LLM_KEY, structured_outputs: false}
notify:
  slack: {webhook_url_env: WARDEN_TEST_SLACK_HOOK}
  telegram: {token_env: WARDEN_TEST_TG_TOKEN, chat_id: "42", server_url: %s}
`, model.URL, sink.URL)), 0o600)

	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml", "--log-level", "debug")
	if code != 0 {
		t.Fatalf("run --once = exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "Momentum is up") || !strings.Contains(out, "[REDACTED]") {
		t.Fatalf("stdout does not show the redacted rationale:\n%s", out)
	}
	notes := sink.all()
	if len(notes) == 0 {
		t.Fatal("no notification reached the fake Slack/Telegram")
	}
	outputs := dbFiles(t, "warden.db")
	outputs["stdout"], outputs["stderr"] = []byte(out), []byte(errOut)
	for i, n := range notes {
		// The Telegram token is in the request path by design of the Bot
		// API; the message body must not hold it.
		_, body, _ := bytes.Cut(n, []byte("\n"))
		outputs[fmt.Sprintf("notification %d", i)] = body
	}
	for _, l := range leaks(outputs, echoedKey, tgToken, "hookpathCANARYsecret") {
		t.Error(l)
	}
}

// TestExchangeSignatureGoesNowhere: live, against the fake Binance through
// the real ccxt client, with connections dropped so ccxt's errors carry
// the signed URL; the model echoes its key. Neither the signature, the
// exchange key and secret nor the model key reaches any way out.
func TestExchangeSignatureGoesNowhere(t *testing.T) {
	fake, burl := startFakeBinance(t, fakebinance.Options{})
	for _, f := range []fakebinance.Fault{
		{Method: "GET", Path: "/api/v3/account", Kind: fakebinance.FaultDrop, Times: 2},
	} {
		if err := fake.Inject(f); err != nil {
			t.Fatal(err)
		}
	}
	model := newScriptedModel(t, func(int) []byte { return chatCompletion(echoingAnswer("BTC/USDT", "ETH/USDT")) })
	sink := newNotifySink(t)
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_API_KEY", fakeKey)
	t.Setenv("WARDEN_API_SECRET", fakeSecret)
	t.Setenv("WARDEN_TEST_LLM_KEY", echoedKey)
	t.Setenv("WARDEN_TEST_SLACK_HOOK", sink.URL+"/services/T0/B0/hookpathCANARYsecret")
	os.WriteFile("warden.yaml", []byte(fmt.Sprintf(`
mode: live
exchange: {base_url: %s}
advisor:
  kind: openai
  openai: {base_url: %s/v1, model: gpt-4o-2024-08-06, api_key_env: WARDEN_TEST_LLM_KEY, structured_outputs: false}
notify:
  slack: {webhook_url_env: WARDEN_TEST_SLACK_HOOK}
`, burl, model.URL)), 0o600)

	code, out, errOut := runMain(t, "run", "--once", "--live", "--config", "warden.yaml", "--log-level", "debug")
	if code == exitUsage {
		t.Fatalf("live run did not start: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out+errOut, "signature=[REDACTED]") {
		t.Errorf("no redacted signed URL in the output: the dropped connections did not surface as errors\n%s\n%s", out, errOut)
	}
	outputs := dbFiles(t, "warden.db")
	outputs["stdout"], outputs["stderr"] = []byte(out), []byte(errOut)
	for i, n := range sink.all() {
		_, body, _ := bytes.Cut(n, []byte("\n")) // after the request line, which is the webhook URL by design
		outputs[fmt.Sprintf("notification %d", i)] = body
	}
	for _, l := range leaks(outputs, echoedKey, fakeKey, fakeSecret, "hookpathCANARYsecret") {
		t.Error(l)
	}
}

// TestEchoedKeyNotInBacktestReports: a backtest with the echoing model
// writes its report, summary and recording without the key.
func TestEchoedKeyNotInBacktestReports(t *testing.T) {
	model := newScriptedModel(t, func(int) []byte { return chatCompletion(echoingAnswer("BTC/USDT")) })
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_TEST_LLM_KEY", echoedKey)
	os.WriteFile("warden.yaml", []byte(fmt.Sprintf(`
symbols: [BTC/USDT]
advisor:
  kind: openai
  openai: {base_url: %s/v1, model: gpt-4o-2024-08-06, api_key_env: WARDEN_TEST_LLM_KEY, structured_outputs: false}
`, model.URL)), 0o600)
	code, out, errOut := runMain(t, "backtest", "--config", "warden.yaml", "--from", "2022-06-01", "--to", "2022-06-02",
		"--compare-baseline=false", "--out", "report", "--record", "rec.jsonl", "--audit")
	if code != 0 {
		t.Fatalf("backtest = exit %d\n%s\n%s", code, out, errOut)
	}
	if model.count() == 0 {
		t.Fatal("the backtest never asked the model")
	}
	outputs := map[string][]byte{"stdout": []byte(out), "stderr": []byte(errOut)}
	filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && p != "warden.yaml" {
			b, _ := os.ReadFile(p)
			outputs[p] = b
		}
		return nil
	})
	if _, ok := outputs["rec.jsonl"]; !ok {
		t.Fatalf("no recording written; files: %v", keys(outputs))
	}
	for _, l := range leaks(outputs, echoedKey) {
		t.Error(l)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRunawayModelBounded: a model that answers 5 MB costs one call, is
// recorded once in bounded form, and the cycle fails (exit 1).
func TestRunawayModelBounded(t *testing.T) {
	model := newScriptedModel(t, func(int) []byte { return chatCompletion(strings.Repeat("x", 5<<20)) })
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_TEST_LLM_KEY", echoedKey)
	os.WriteFile("warden.yaml", []byte(fmt.Sprintf("advisor:\n  kind: openai\n  openai: {base_url: %s/v1, model: gpt-4o-2024-08-06, api_key_env: WARDEN_TEST_LLM_KEY}\n", model.URL)), 0o600)
	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	if code != exitFailed || !strings.Contains(errOut, "without a repair turn") {
		t.Fatalf("run --once with a 5 MB answer = exit %d; want 1 naming the cap\n%s\n%s", code, out, errOut)
	}
	if model.count() != 1 {
		t.Errorf("the model was called %d times; want 1 (no retry, no repair)", model.count())
	}
	var size int
	for _, b := range dbFiles(t, "warden.db") {
		size += len(b)
	}
	if size > 2<<20 {
		t.Errorf("database and WAL hold %d bytes after one 5 MB answer; want under 2 MiB", size)
	}
}

// TestSlowModelOneDeadline: a model slower than the cycle's deadline costs
// the deadline, not attempts × timeout.
func TestSlowModelOneDeadline(t *testing.T) {
	model := newScriptedModel(t, func(int) []byte { return chatCompletion(echoingAnswer("BTC/USDT", "ETH/USDT")) })
	model.delay = 30 * time.Second
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_TEST_LLM_KEY", echoedKey)
	os.WriteFile("warden.yaml", []byte(fmt.Sprintf("advisor:\n  kind: openai\n  openai: {base_url: %s/v1, model: gpt-4o-2024-08-06, api_key_env: WARDEN_TEST_LLM_KEY, timeout: 60s, max_retries: 3, deadline: 2s}\n", model.URL)), 0o600)
	start := time.Now()
	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("run --once took %s against a model slower than the 2s deadline", el)
	}
	if code != exitFailed || !strings.Contains(errOut, "deadline of 2s") {
		t.Fatalf("run --once = exit %d; want 1 naming the deadline\n%s\n%s", code, out, errOut)
	}
	if model.count() != 1 {
		t.Errorf("%d calls; want 1 (the deadline cuts the first)", model.count())
	}
}
