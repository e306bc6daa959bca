package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// slowModel is the level model (breakers_test.go) answering each call
// after delay; asked receives a value when a call arrives.
func slowModel(t *testing.T, mode string, delay time.Duration) (m *levelModel, proxyURL string, asked chan struct{}) {
	t.Helper()
	m = newLevelModel(t)
	m.mode.Store(mode)
	target, err := url.Parse(strings.TrimSuffix(m.url, "/v1"))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	asked = make(chan struct{}, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked <- struct{}{}
		time.Sleep(delay)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return m, srv.URL + "/v1", asked
}

// TestKilledCycleReportSaysWithheld, as cron runs it: `warden kill` from
// a second terminal while `run --once` waits for the model, which then
// answers a buy. The report on stdout (cron's cycles.log) heads the run
// killed, as `audit runs` and exit 3 do, and says the approved order was
// withheld and why; it once read "— ok" with the order approved and no
// word of it being held back. The next run, under the switch, reads
// killed too.
func TestKilledCycleReportSaysWithheld(t *testing.T) {
	t.Chdir(t.TempDir())
	_, u, asked := slowModel(t, "buy2", 2*time.Second)
	writeDipConfig(t, u, "@every 1h")
	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
		done <- result{code, out, errOut}
	}()
	select {
	case <-asked:
	case r := <-done:
		t.Fatalf("run --once ended before asking the model: %d\n%s\n%s", r.code, r.out, r.errOut)
	case <-time.After(60 * time.Second):
		t.Fatal("the model was not asked within 60 s")
	}
	if code, out, errOut := runMain(t, "kill", "--config", "warden.yaml", "--reason", "test"); code != 0 {
		t.Fatalf("kill = %d\n%s\n%s", code, out, errOut)
	}
	r := <-done
	if r.code != exitHalted {
		t.Fatalf("run --once killed mid-cycle = %d; want 3\n%s\n%s", r.code, r.out, r.errOut)
	}
	head, _, _ := strings.Cut(r.out, "\n")
	if !strings.HasSuffix(head, "— killed") {
		t.Errorf("headline %q; want it to end — killed\n%s", head, r.out)
	}
	if !strings.Contains(r.out, "withheld (approved, not placed):") ||
		!regexp.MustCompile(`(?m)^  \S+ limit buy BTC/USDT [0-9.]+ @ [0-9.]+: withheld, the kill switch was set during the cycle`).MatchString(r.out) {
		t.Errorf("the report does not say the approved buy was withheld and why:\n%s", r.out)
	}
	if code, js, _ := runMain(t, "audit", "runs", "--json"); code != 0 || !strings.Contains(js, `"outcome": "killed"`) {
		t.Errorf("audit runs = %d %s; want the run killed", code, js)
	}

	// The next cycle, under the switch: killed as well, not ok.
	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	head, _, _ = strings.Cut(out, "\n")
	if code != exitHalted || !strings.HasSuffix(head, "— killed") {
		t.Errorf("run --once under the kill switch = %d, headline %q; want 3, — killed\n%s", code, head, errOut)
	}
}

// TestServiceShutdownMidCycleLogsNoError: SIGTERM (the context cancelled)
// while a cycle of `warden run` waits for the model: the cycle finishes,
// the service exits 0 and logs no ERROR. The approval loop, waiting for
// the cycle, once woke to a cancelled context ("approval: list proposals:
// context canceled", with approval not even configured) or, outliving the
// store, to "sql: database is closed".
func TestServiceShutdownMidCycleLogsNoError(t *testing.T) {
	t.Chdir(t.TempDir())
	_, u, asked := slowModel(t, "hold", 5*time.Second)
	t.Setenv("WARDEN_TEST_BREAKER_KEY", "sk-test-shutdown-0123456789abcdef")
	cfg := fmt.Sprintf(`advisor:
  kind: openai
  openai: {base_url: %s, model: gpt-4o-mini, api_key_env: WARDEN_TEST_BREAKER_KEY, max_retries: -1, timeout: 20s, deadline: 30s}
paper: {replay_start: "%s"}
schedule: "@every 1s"
`, u, quietStart)
	if err := os.WriteFile("warden.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		svc := startService(t)
		select {
		case <-asked:
		case <-time.After(60 * time.Second):
			t.Fatal("the model was not asked within 60 s")
		}
		// The approval loop's next tick (every 2 s) falls in the cycle.
		time.Sleep(3 * time.Second)
		svc.stop()
		code, stderr, ok := svc.wait(60 * time.Second)
		if !ok {
			t.Fatal("warden run did not stop within 60 s")
		}
		if code != 0 || strings.Contains(stderr, "level=ERROR") {
			t.Fatalf("warden run stopped mid-cycle = %d; want 0 and no ERROR; stderr:\n%s", code, stderr)
		}
	}
}

// TestWaitingForTheLockSaysForWhom: a `run --once` that finds another
// brief holder (the previous hour's run --once, approvals --process) on
// the database waits for it, saying so in one line on stderr (cron's
// mail, or the journal) naming the holder, then runs its cycle.
func TestWaitingForTheLockSaysForWhom(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, out, errOut := runMain(t, "run", "--once"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	held, err := lockDBKind("warden.db", "approvals --process")
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(context.Background(), []string{"run", "--once"}, strings.NewReader(""), &out, &errOut)
	}()
	want := regexp.MustCompile(`(?m)^warden: waiting up to 2m0s for pid \d+ \(approvals --process\), which holds .*warden\.db, to finish$`)
	deadline := time.Now().Add(30 * time.Second)
	for !want.MatchString(errOut.String()) {
		select {
		case code := <-done:
			held.Close()
			t.Fatalf("run --once beside a brief holder ended = %d without waiting; stderr:\n%s", code, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			held.Close()
			t.Fatalf("no line saying whom run --once waits for within 30 s; stderr:\n%s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	held.Close()
	select {
	case code := <-done:
		if code != 0 || strings.Count(errOut.String(), "waiting") != 1 {
			t.Fatalf("run --once after the wait = %d; want 0 and one waiting line\nstderr:\n%s", code, errOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("run --once did not finish within 60 s of the lock's release")
	}
	if !strings.Contains(out.String(), "audit: ") {
		t.Errorf("run --once after the wait ran no cycle:\n%s", out.String())
	}
}
