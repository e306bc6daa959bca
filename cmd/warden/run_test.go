package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
)

func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestRunOnceOfflineOnAFreshMachine is README's first command: no config,
// no network, no key. It must leave a warden.db holding the run's full
// prompt and response.
func TestRunOnceOfflineOnAFreshMachine(t *testing.T) {
	t.Chdir(t.TempDir())
	var runIDs []string
	for i := 0; i < 2; i++ {
		code, out, errOut := runMain(t, "run", "--once")
		if code != 0 {
			t.Fatalf("warden run --once = exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		for _, want := range []string{"rationale:", "verdicts:", "audit: ./warden.db"} {
			if !strings.Contains(out, want) {
				t.Errorf("run --once output lacks %q:\n%s", want, out)
			}
		}
		m := regexp.MustCompile(`warden audit show (\S+)\)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no run id in output:\n%s", out)
		}
		runIDs = append(runIDs, m[1])
	}
	if runIDs[0] == runIDs[1] {
		t.Fatalf("two runs share the id %s", runIDs[0])
	}
	if _, err := os.Stat("warden.db"); err != nil {
		t.Fatalf("warden.db not written: %v", err)
	}
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	story, err := st.Show(context.Background(), runIDs[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(story.LLMCalls) == 0 || len(story.Responses) == 0 {
		t.Fatalf("story of %s has %d calls and %d responses; want the prompt and the response", runIDs[1], len(story.LLMCalls), len(story.Responses))
	}
	var req map[string]string
	if err := json.Unmarshal([]byte(story.LLMCalls[0].Request), &req); err != nil {
		t.Fatalf("stored request is not the prompt JSON: %v", err)
	}
	if !strings.Contains(req["user"], "BTC/USDT") || !strings.Contains(req["system"], "recommendations") {
		t.Errorf("stored prompt lacks the market data or the response schema:\n%.600s", req["user"])
	}
	if !strings.Contains(story.Responses[0].Raw, `"recommendations"`) {
		t.Errorf("stored raw response = %.300s", story.Responses[0].Raw)
	}
	// The second run advanced the replay by one candle.
	if !strings.Contains(runIDs[0], "T000000Z") || !strings.Contains(runIDs[1], "T010000Z") {
		t.Errorf("run ids %v; want consecutive hours of the replay", runIDs)
	}
}

func TestKillAndResume(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, out, errOut := runMain(t, "run", "--once"); code != 0 {
		t.Fatalf("first run = %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := runMain(t, "resume"); code != exitUsage || !strings.Contains(errOut, "--reason") {
		t.Fatalf("resume without --reason = %d %q; want a usage error", code, errOut)
	}
	// An emergency needs one command: the reason defaults to "manual".
	if code, out, errOut := runMain(t, "kill"); code != 0 || !strings.Contains(out, "kill switch ON") || !strings.Contains(out, "manual") {
		t.Fatalf("kill = %d %q %q", code, out, errOut)
	}
	code, out, _ := runMain(t, "run", "--once")
	if code != exitHalted || !strings.Contains(out, "KILL SWITCH ON") {
		t.Fatalf("run after kill = %d:\n%s", code, out)
	}
	if strings.Contains(out, "\norders:") || strings.Contains(out, "approved ") {
		t.Fatalf("run with the kill switch on approved or placed something:\n%s", out)
	}
	if code, out, _ := runMain(t, "resume", "--reason", "drill over"); code != 0 || !strings.Contains(out, "OFF") {
		t.Fatalf("resume = %d %q", code, out)
	}
	if code, out, _ := runMain(t, "run", "--once"); code != 0 || strings.Contains(out, "KILL SWITCH ON") {
		t.Fatalf("run after resume = %d:\n%s", code, out)
	}
}

func TestRunRefusesLiveWithoutBothSwitches(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if code, _, errOut := runMain(t, "run", "--once", "--live"); code != exitUsage || !strings.Contains(errOut, "mode: live") {
		t.Fatalf("run --live with paper config = %d %q; want a refusal naming mode: live", code, errOut)
	}
	// The refusal happens before anything is opened or written.
	if _, err := os.Stat(filepath.Join(dir, "warden.db")); !os.IsNotExist(err) {
		t.Fatalf("warden.db after the refusal: stat err = %v; want not created", err)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("mode: paper\nsymbols: [BTC/USDT]\n"), 0o600)
	os.WriteFile(bad, []byte("mode: paper\nsymbolz: [BTC/USDT]\n"), 0o600)
	if code, out, errOut := runMain(t, "config", "check", good); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("config check good = %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runMain(t, "config", "check", bad); code != exitRejected || !strings.Contains(errOut, "symbolz") {
		t.Fatalf("config check bad = %d %q; want exit 1 naming the unknown key", code, errOut)
	}
	if code, _, _ := runMain(t, "config", "check", filepath.Join(dir, "missing.yaml")); code != exitRejected {
		t.Fatalf("config check missing = %d; want 1", code)
	}
	if code, _, errOut := runMain(t, "run", "--once", "--config", bad); code != exitUsage || !strings.Contains(errOut, "symbolz") {
		t.Fatalf("run with a bad config = %d %q; want exit 2", code, errOut)
	}
}

// TestRunScheduledStopsGracefully runs `warden run` on a one-second
// schedule and cancels it the way SIGINT does: it must exit 0 after the
// running cycle finished, with every cycle recorded as ended.
func TestRunScheduledStopsGracefully(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("warden.yaml", []byte("schedule: \"@every 1s\"\n"), 0o600)
	svc := startService(t)
	// Long enough for two cycles on a 1 s schedule even on a loaded machine.
	time.Sleep(6 * time.Second)
	svc.stop()
	if code, stderr, ok := svc.wait(30 * time.Second); !ok {
		t.Fatal("warden run did not stop within 30s of cancellation")
	} else if code != 0 {
		t.Fatalf("warden run = exit %d; stderr:\n%s", code, stderr)
	}
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.List(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]bool{}
	for _, r := range rows {
		runs[r.RunID] = true
	}
	if len(runs) < 2 {
		t.Fatalf("%d runs recorded in 6 s on a 1 s schedule; want at least 2", len(runs))
	}
	for id := range runs {
		story, err := st.Show(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if story.End == nil {
			t.Errorf("run %s has no end record: a cycle was cut off by the shutdown", id)
		}
	}
}

// TestRunRefusesAPolicyThatFailsItsTests: a policy file is started on only
// if it passes the tests beside it, the bar a hot reload must clear too.
func TestRunRefusesAPolicyThatFailsItsTests(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, _, errOut := runMain(t, "policy", "init", "--out", "p.yaml"); code != 0 {
		t.Fatalf("policy init = %d %s", code, errOut)
	}
	os.WriteFile("warden.yaml", []byte("policy: p.yaml\n"), 0o600)
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run with the untouched policy = %d\n%s\n%s", code, out, errOut)
	}
	src, _ := os.ReadFile("p.yaml")
	loose := strings.Replace(string(src), "max_position_pct: 2 ", "max_position_pct: 50 ", 1)
	if loose == string(src) {
		t.Fatal("could not loosen max_position_pct in the written policy")
	}
	os.WriteFile("p.yaml", []byte(loose), 0o600)
	code, _, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	if code != exitUsage || !strings.Contains(errOut, "fails") || !strings.Contains(errOut, "p_test.yaml") {
		t.Fatalf("run with a policy failing its tests = %d %q; want exit 2 naming the tests", code, errOut)
	}
}

// TestOneTradingProcessPerDatabase: a second runtime on the same database
// refuses to start while the first holds it, and starts once it is closed.
func TestOneTradingProcessPerDatabase(t *testing.T) {
	t.Chdir(t.TempDir())
	ctx := context.Background()
	opts := runtimeOptions{output: io.Discard, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	first, err := newRuntime(ctx, config.Default(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newRuntime(ctx, config.Default(), opts); err == nil || !strings.Contains(err.Error(), "another warden run") {
		t.Fatalf("second runtime on the same db = %v; want a refusal", err)
	}
	code, _, errOut := runMain(t, "run", "--once")
	if code != exitUsage || !strings.Contains(errOut, "another warden run") {
		t.Fatalf("run --once beside a running warden = %d %q; want exit 2", code, errOut)
	}
	first.Close()
	second, err := newRuntime(ctx, config.Default(), opts)
	if err != nil {
		t.Fatalf("runtime after the first closed = %v", err)
	}
	second.Close()
}

// TestRunStopsWhenTheDatabaseIsReplaced: `warden run` keeps its database
// open; when the file at its path is deleted and a new one made there (an
// operator starting over, a restored backup) its kill switch is no longer
// the one `warden kill` sets. The service stops (exit 1) at its next cycle
// instead of trading on, and places nothing in the meantime.
func TestRunStopsWhenTheDatabaseIsReplaced(t *testing.T) {
	t.Chdir(t.TempDir())
	os.WriteFile("warden.yaml", []byte("schedule: \"@every 1s\"\n"), 0o600)
	// (A second test below uses an hourly schedule: noticed between cycles.)
	svc := startService(t)
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ran := func() bool {
			st, err := audit.Open(ctx, "warden.db", audit.Options{ReadOnly: true})
			if err != nil {
				return false
			}
			defer st.Close()
			_, ok, _ := st.LastRun(ctx)
			return ok
		}(); ran {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no cycle ran in 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, f := range []string{"warden.db", "warden.db-wal", "warden.db-shm"} {
		os.Rename(f, "old-"+f)
	}
	if code, o, e := runMain(t, "kill", "--create", "--db", "warden.db", "--reason", "stop everything"); code != 0 {
		t.Fatalf("kill --create = %d %s %s", code, o, e)
	}
	code, stderr, ok := svc.wait(30 * time.Second)
	if !ok {
		t.Fatal("warden run kept running on a database no longer at its path")
	}
	if code != exitFailed || !strings.Contains(stderr, "deleted after this process opened it") && !strings.Contains(stderr, "replaced by another file") {
		t.Fatalf("warden run = exit %d; stderr:\n%s\nwant 1, naming the changed database", code, stderr)
	}
}

// TestRunStopsBetweenCyclesWhenTheDatabaseIsReplaced: on an hourly
// schedule the service does not wait for its next cycle to notice.
func TestRunStopsBetweenCyclesWhenTheDatabaseIsReplaced(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, o, e := runMain(t, "run", "--once"); code != 0 {
		t.Fatalf("run --once = %d %s %s", code, o, e)
	}
	os.WriteFile("warden.yaml", []byte("schedule: \"@hourly\"\n"), 0o600)
	svc := startService(t)
	time.Sleep(2 * time.Second) // started, waiting for the hour
	os.Rename("warden.db", "old.db")
	if code, stderr, ok := svc.wait(30 * time.Second); !ok {
		t.Fatal("warden run on an hourly schedule kept running on a deleted database")
	} else if code != exitFailed {
		t.Fatalf("warden run = exit %d; stderr:\n%s", code, stderr)
	}
}

// service is `warden run --config warden.yaml` running in the background,
// as under a supervisor; stop cancels it as SIGINT does.
type service struct {
	stop func()
	done chan int
	errb bytes.Buffer // safe to read once it has exited (wait)
}

func startService(t *testing.T) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &service{stop: cancel, done: make(chan int, 1)}
	go func() {
		s.done <- Main(ctx, []string{"run", "--config", "warden.yaml"}, strings.NewReader(""), io.Discard, &s.errb)
	}()
	return s
}

// wait is the service's exit code and stderr once it exits; ok is false
// when it is still running after timeout.
func (s *service) wait(timeout time.Duration) (code int, stderr string, ok bool) {
	select {
	case code := <-s.done:
		return code, s.errb.String(), true
	case <-time.After(timeout):
		return 0, "", false
	}
}
