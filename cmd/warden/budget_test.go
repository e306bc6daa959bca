package main

import (
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
)

// TestDailyTokenBudgetAcrossReplayCycles: the daily token budget counts
// the tokens of the wall clock's day across `run --once` processes on the
// offline replay, whose decision clock is years behind: a call that fits
// the budget alone is made once, and the next process refuses it because
// of the tokens the first one used (it counted 0 when calls were dated by
// the replay's clock, and the budget never ran out).
func TestDailyTokenBudgetAcrossReplayCycles(t *testing.T) {
	t.Chdir(t.TempDir())
	good, err := os.ReadFile(filepath.Join(openaiFixtures, "good.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The recorded answer, with a realistic usage.
	body := strings.NewReplacer(`"prompt_tokens": 79`, `"prompt_tokens": 4900`, `"completion_tokens": 14`, `"completion_tokens": 100`, `"total_tokens": 93`, `"total_tokens": 5000`).Replace(string(good))
	if !strings.Contains(body, `"total_tokens": 5000`) {
		t.Fatal("good.json's usage changed: the test cannot set it")
	}
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
	defer srv.Close()
	t.Setenv("WARDEN_TEST_OPENAI_KEY", "sk-test-budget-0123456789abcdef")
	config := func(budget int64) {
		cfg := "advisor:\n  kind: openai\n  openai:\n    base_url: " + srv.URL + "/v1\n    model: gpt-4o-mini\n    api_key_env: WARDEN_TEST_OPENAI_KEY\n    max_retries: -1\n    daily_token_budget: " + strconv.FormatInt(budget, 10) + "\n"
		if err := os.WriteFile("warden.yaml", []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	today := time.Now().UTC().Format(time.DateOnly)

	// What a call may cost, as the refusal of a budget of 1 says.
	config(1)
	_, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	m := regexp.MustCompile(`0 tokens used since (\S+); the next call may use up to (\d+) `).FindStringSubmatch(out + errOut)
	if m == nil || calls.Load() != 0 {
		t.Fatalf("budget 1: %d calls; want none and the cost named\n%s\n%s", calls.Load(), out, errOut)
	}
	if m[1] != today {
		t.Errorf("the budget's day is %s; want the wall clock's %s (the replay's clock is years behind)", m[1], today)
	}
	cost, _ := strconv.ParseInt(m[2], 10, 64)

	// A budget one call fits, with room for the prompt to grow a little.
	config(cost + 2000)
	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	if code != exitOK || calls.Load() != 1 {
		t.Fatalf("first call: exit %d, %d calls; want 0 and one call\n%s\n%s", code, calls.Load(), out, errOut)
	}
	// The call is recorded at the replay's decision time, and says when
	// it was sent.
	run := runIDRe.FindStringSubmatch(out)
	if run == nil {
		t.Fatalf("no run id in %s", out)
	}
	if _, show, _ := runMain(t, "audit", "show", run[1], "--config", "warden.yaml"); !strings.Contains(show, ", sent "+today) {
		t.Errorf("audit show %s does not say when the call was sent by the wall clock:\n%s", run[1], show)
	}
	// A new process: the 5,000 tokens spent today leave no room.
	code, out, errOut = runMain(t, "run", "--once", "--config", "warden.yaml")
	if calls.Load() != 1 {
		t.Fatalf("second process: %d calls; want the budget to refuse the second (exit %d)\n%s\n%s", calls.Load(), code, out, errOut)
	}
	if want := "5000 tokens used since " + today; !strings.Contains(out+errOut, want) || code == exitOK {
		t.Errorf("second process: exit %d; want a failed cycle saying %q\n%s\n%s", code, want, out, errOut)
	}
}
