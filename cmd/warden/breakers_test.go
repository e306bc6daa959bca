package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
)

// levelModel is an OpenAI-compatible server whose answer the test
// switches between runs: "fail" answers HTTP 500 with the recorded OpenAI
// error body; "hold" a valid answer holding both symbols; "buy2" a buy of
// BTC/USDT for 2 % of equity at the ask shown in the prompt, with a stop
// 3 % below; "dip" a buy for 1 % of equity 49 bps under the mid, which
// rests.
type levelModel struct {
	mode  atomic.Value // string
	calls atomic.Int64
	url   string
}

var askRe = regexp.MustCompile(`Market BTC/USDT [^\n]*\n- ticker: bid ([0-9.]+), ask ([0-9.]+)`)

func newLevelModel(t *testing.T) *levelModel {
	t.Helper()
	fail500, err := os.ReadFile(filepath.Join(openaiFixturesDir(), "500_server_error.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := &levelModel{}
	m.mode.Store("fail")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		m.calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		hold := func(sym string) map[string]any {
			return map[string]any{"symbol": sym, "action": "hold", "confidence": 0.5, "size_pct": 0, "order_type": "limit",
				"limit_price": nil, "stop_loss": nil, "take_profit": nil, "reason": "No clear edge."}
		}
		var recs []map[string]any
		switch m.mode.Load().(string) {
		case "fail":
			w.WriteHeader(http.StatusInternalServerError)
			w.Write(fail500)
			return
		case "hold":
			recs = []map[string]any{hold("BTC/USDT"), hold("ETH/USDT")}
		case "buy2":
			user := ""
			if len(req.Messages) > 0 {
				user = req.Messages[len(req.Messages)-1].Content
			}
			mm := askRe.FindStringSubmatch(user)
			if mm == nil {
				http.Error(w, "no BTC/USDT ticker in the prompt", http.StatusBadRequest)
				return
			}
			ask, _ := strconv.ParseFloat(mm[2], 64)
			recs = []map[string]any{{"symbol": "BTC/USDT", "action": "buy", "confidence": 0.7, "size_pct": 2, "order_type": "limit",
				"limit_price": ask, "stop_loss": float64(int(ask*0.97*100)) / 100, "take_profit": nil, "reason": "test buy at the position cap"},
				hold("ETH/USDT")}
		case "dip":
			user := ""
			if len(req.Messages) > 0 {
				user = req.Messages[len(req.Messages)-1].Content
			}
			mm := askRe.FindStringSubmatch(user)
			if mm == nil {
				http.Error(w, "no BTC/USDT ticker in the prompt", http.StatusBadRequest)
				return
			}
			bid, _ := strconv.ParseFloat(mm[1], 64)
			ask, _ := strconv.ParseFloat(mm[2], 64)
			limit := math.Floor((bid+ask)/2*0.9951*100) / 100 // as far under the mid as limit_near_mid allows
			recs = []map[string]any{{"symbol": "BTC/USDT", "action": "buy", "confidence": 0.7, "size_pct": 1, "order_type": "limit",
				"limit_price": limit, "stop_loss": math.Floor(limit*0.97*100) / 100, "take_profit": nil, "reason": "test buy under the market"},
				hold("ETH/USDT")}
		}
		content, _ := json.Marshal(map[string]any{"rationale": "test model", "recommendations": recs})
		body, _ := json.Marshal(map[string]any{
			"id": "chatcmpl-test", "object": "chat.completion", "created": 1727346143, "model": "gpt-4o-mini",
			"choices": []map[string]any{{"index": 0, "message": map[string]any{"role": "assistant", "content": string(content), "refusal": nil},
				"logprobs": nil, "finish_reason": "stop"}},
			"usage": map[string]any{"prompt_tokens": 79, "completion_tokens": 14, "total_tokens": 93},
		})
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	m.url = srv.URL + "/v1"
	return m
}

// openaiFixturesDir is agent/advisor/testdata/openai, resolved from the
// package directory (tests change directory later).
var openaiFixturesAbs, _ = filepath.Abs(filepath.Join("..", "..", "agent", "advisor", "testdata", "openai"))

func openaiFixturesDir() string { return openaiFixturesAbs }

// writeBreakerConfig writes warden.yaml: the openai advisor at url (no
// retries), the bundled replay from start, and extra YAML under
// breakers.
func writeBreakerConfig(t *testing.T, url, start, breakers string) {
	t.Helper()
	t.Setenv("WARDEN_TEST_BREAKER_KEY", "sk-test-breakers-0123456789abcdef")
	cfg := fmt.Sprintf(`advisor:
  kind: openai
  openai: {base_url: %s, model: gpt-4o-mini, api_key_env: WARDEN_TEST_BREAKER_KEY, max_retries: -1, timeout: 10s}
paper: {replay_start: "%s"}
breakers: %s
`, url, start, breakers)
	if err := os.WriteFile("warden.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// storeState reads the error count and the level at `at` as another
// process would.
func storeState(t *testing.T, at time.Time) (int, audit.LevelState) {
	t.Helper()
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.ConsecutiveErrors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	lv, err := st.Level(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	return n, lv
}

// quietStart is a stretch of the bundled replay where no market breaker
// trips for the hours these tests run.
const quietStart = "2022-06-01T00:00:00Z"

func hour(i int) time.Time {
	t, _ := time.Parse(time.RFC3339, quietStart)
	return t.Add(time.Duration(i) * time.Hour)
}

// TestErrorSpikeAcrossOnceRuns: five `run --once` processes against a
// model answering 500 trip safe mode at exactly the configured count:
// the fourth failure does not, the fifth does.
func TestErrorSpikeAcrossOnceRuns(t *testing.T) {
	t.Chdir(t.TempDir())
	m := newLevelModel(t)
	writeBreakerConfig(t, m.url, quietStart, "{error_spike: {max_consecutive: 5}}")
	for i := 1; i <= 5; i++ {
		_, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
		n, lv := storeState(t, hour(i-1))
		if n != i {
			t.Fatalf("run %d: error count in the store = %d; want %d\n%s\n%s", i, n, i, out, errOut)
		}
		tripped := strings.Contains(out, "breaker error_spike")
		if i < 5 && (tripped || lv.Level != audit.LevelActive || strings.Contains(out, "safe mode on")) {
			t.Fatalf("run %d (below the count 5): tripped %v, level %s\n%s", i, tripped, lv.Level, out)
		}
		if i == 5 && (!tripped || lv.Level != audit.LevelSafeMode || !strings.Contains(out, "safe mode on") || !strings.Contains(lv.Reason, "5 failed cycles in a row")) {
			t.Fatalf("run 5 (at the count): tripped %v, level %+v; want safe mode for error_spike\n%s\n%s", tripped, lv, out, errOut)
		}
		if strings.Contains(out, "breaker volatility_shock") || strings.Contains(out, "breaker data_gap") || strings.Contains(out, "breaker drift") {
			t.Fatalf("run %d: a market breaker tripped in the quiet stretch; the test needs another start\n%s", i, out)
		}
	}
	if m.calls.Load() != 5 {
		t.Errorf("model called %d times; want 5 (no retries)", m.calls.Load())
	}
}

// TestGoodCycleResetsTheCountAcrossProcesses: fail, fail, a good answer,
// fail, fail: with a count of 3 nothing trips, because the good cycle (a
// process of its own) reset the count the earlier processes built.
func TestGoodCycleResetsTheCountAcrossProcesses(t *testing.T) {
	t.Chdir(t.TempDir())
	m := newLevelModel(t)
	writeBreakerConfig(t, m.url, quietStart, "{error_spike: {max_consecutive: 3}}")
	for i, mode := range []string{"fail", "fail", "hold", "fail", "fail"} {
		m.mode.Store(mode)
		_, out, _ := runMain(t, "run", "--once", "--config", "warden.yaml")
		if strings.Contains(out, "breaker error_spike") {
			t.Fatalf("run %d (%s) tripped the error spike: the good cycle did not reset the count\n%s", i+1, mode, out)
		}
	}
	if n, lv := storeState(t, hour(4)); n != 2 || lv.Level != audit.LevelActive {
		t.Fatalf("after fail, fail, ok, fail, fail: count %d, level %s; want 2, active", n, lv.Level)
	}
	m.mode.Store("fail")
	if _, out, _ := runMain(t, "run", "--once", "--config", "warden.yaml"); !strings.Contains(out, "breaker error_spike") {
		t.Fatalf("the third failure in a row did not trip\n%s", out)
	}
}

// TestCooldownExpiresAcrossProcesses: safe mode raised by one process
// holds in the next for the cool-down and ends in the process that runs
// when it has passed.
func TestCooldownExpiresAcrossProcesses(t *testing.T) {
	t.Chdir(t.TempDir())
	m := newLevelModel(t)
	writeBreakerConfig(t, m.url, quietStart, "{error_spike: {max_consecutive: 2, cooldown: 2h}}")
	runMain(t, "run", "--once", "--config", "warden.yaml")
	if _, out, _ := runMain(t, "run", "--once", "--config", "warden.yaml"); !strings.Contains(out, "breaker error_spike") {
		t.Fatalf("second failure did not trip\n%s", out)
	}
	m.mode.Store("hold")
	// One hour later: still in safe mode (cool-down 2h), exit 3.
	code, out, _ := runMain(t, "run", "--once", "--config", "warden.yaml")
	if !strings.Contains(out, "safe mode on until 2022-06-01 03:00 UTC") || code != 3 {
		t.Fatalf("run 1h after the trip = exit %d; want safe mode until 03:00 and exit 3\n%s", code, out)
	}
	// Two hours later, the cool-down has passed: active again.
	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	if strings.Contains(out, "safe mode") || code != 0 {
		t.Fatalf("run at the end of the cool-down = exit %d; want active and exit 0\n%s\n%s", code, out, errOut)
	}
	if _, lv := storeState(t, hour(3)); lv.Level != audit.LevelActive {
		t.Fatalf("level at 03:00 = %+v; want active", lv)
	}
}

// TestDriftReducesNotHalts: on the bundled replay at 2022-05-22 20:00 the
// drift breaker trips (ETH/USDT's recent volatility left its reference
// distribution); the level is reduce, not safe mode, and the run is a
// normal one (exit 0).
func TestDriftReducesNotHalts(t *testing.T) {
	t.Chdir(t.TempDir())
	os.WriteFile("warden.yaml", []byte("paper: {replay_start: \"2022-05-22T20:00:00Z\"}\n"), 0o600)
	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	if code != 0 {
		t.Fatalf("run --once = exit %d; want 0 (reduce is not a halt)\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "breaker drift ETH/USDT") || !strings.Contains(out, "→ reduce") || !strings.Contains(out, "level reduce (caps × 0.5)") {
		t.Fatalf("drift did not raise the reduce level:\n%s", out)
	}
	if strings.Contains(out, "safe mode") {
		t.Fatalf("drift switched to safe mode:\n%s", out)
	}
	at, _ := time.Parse(time.RFC3339, "2022-05-22T20:00:00Z")
	if _, lv := storeState(t, at); lv.Level != audit.LevelReduce || !lv.Until.Equal(at.Add(4*time.Hour)) {
		t.Fatalf("stored level = %+v; want reduce until 4h later", lv)
	}
}

// TestRiskScaleReachesTheValidator: a buy at 2 % of equity (the default
// position cap) is rejected at the reduce level (caps × 0.5, set by
// another process), and approved once `warden resume` has ended it.
func TestRiskScaleReachesTheValidator(t *testing.T) {
	t.Chdir(t.TempDir())
	m := newLevelModel(t)
	m.mode.Store("buy2")
	writeBreakerConfig(t, m.url, quietStart, "{}")
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.RaiseLevel(context.Background(), audit.LevelTrip{Level: audit.LevelReduce, At: hour(0), Until: hour(48), Reason: "test: drift"}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	if !strings.Contains(out, "level reduce (caps × 0.5)") {
		t.Fatalf("run under reduce does not say so (exit %d):\n%s\n%s", code, out, errOut)
	}
	if !regexp.MustCompile(`rejected\s+buy\s+BTC/USDT`).MatchString(out) || !strings.Contains(out, "max_position") || !strings.Contains(out, "scaled by 0.5") {
		t.Fatalf("the 2 %% buy was not rejected by the scaled position cap:\n%s", out)
	}
	t.Logf("under reduce:\n%s", out)
	if code, out, errOut := runMain(t, "resume", "--config", "warden.yaml", "--reason", "checked"); code != 0 {
		t.Fatalf("resume = %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "run", "--once", "--config", "warden.yaml")
	if strings.Contains(out, "level reduce") || !regexp.MustCompile(`approved\s+buy\s+BTC/USDT`).MatchString(out) {
		t.Fatalf("after resume the 2 %% buy was not approved (exit %d):\n%s\n%s", code, out, errOut)
	}
	t.Logf("after resume:\n%s", out)
}
