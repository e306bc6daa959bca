package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

// openaiFixtures holds the recorded OpenAI responses, found before any
// test changes directory.
var openaiFixtures, _ = filepath.Abs(filepath.Join("..", "..", "agent", "advisor", "testdata", "openai"))

// fakeModel is an OpenAI-compatible server that answers every chat
// completion with status and the recorded body of that failure
// (agent/advisor/testdata/openai), as the real API does.
func fakeModel(t *testing.T, status int, fixture string) (url string, calls *atomic.Int64) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(openaiFixtures, fixture))
	if err != nil {
		t.Fatal(err)
	}
	calls = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1", calls
}

// failingModelConfig writes warden.yaml for an openai advisor at url,
// without retries, and sets its key.
func failingModelConfig(t *testing.T, url string) {
	t.Helper()
	t.Setenv("WARDEN_TEST_OPENAI_KEY", "sk-test-ops-0123456789abcdef")
	cfg := "advisor:\n  kind: openai\n  openai:\n    base_url: " + url + "\n    model: gpt-4o-mini\n    api_key_env: WARDEN_TEST_OPENAI_KEY\n    max_retries: -1\n    timeout: 10s\n"
	if err := os.WriteFile("warden.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

var runIDRe = regexp.MustCompile(`warden audit show (\S+)\)`)

// TestRunOnceExitCodes: each outcome of one cycle, as cron sees it, and
// the same outcome in `warden audit runs`.
func TestRunOnceExitCodes(t *testing.T) {
	t.Chdir(t.TempDir())

	// 0: the cycle ran.
	code, out, errOut := runMain(t, "run", "--once")
	if code != exitOK {
		t.Fatalf("run --once = %d; want 0\n%s\n%s", code, out, errOut)
	}

	// 3: under the kill switch, from another command.
	if code, out, errOut := runMain(t, "kill"); code != exitOK {
		t.Fatalf("kill = %d %s %s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "run", "--once")
	if code != exitHalted || !strings.Contains(errOut, "kill switch") {
		t.Fatalf("run --once under the kill switch = %d %q; want 3 naming the kill switch", code, errOut)
	}
	killedRun := runIDRe.FindStringSubmatch(out)
	if code, _, errOut := runMain(t, "resume", "--reason", "checked"); code != exitOK {
		t.Fatalf("resume = %d %s", code, errOut)
	}

	// 3: in safe mode (set as a breaker would, by another process).
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetSafeMode(context.Background(), true, time.Time{}, "test: safe mode"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out, errOut = runMain(t, "run", "--once")
	if code != exitHalted || !strings.Contains(errOut, "safe mode") {
		t.Fatalf("run --once in safe mode = %d %q; want 3 naming safe mode\n%s", code, errOut, out)
	}
	if code, _, _ := runMain(t, "resume", "--reason", "checked"); code != exitOK {
		t.Fatal("resume failed")
	}
	if code, out, errOut := runMain(t, "run", "--once"); code != exitOK {
		t.Fatalf("run --once after resume = %d\n%s\n%s", code, out, errOut)
	}

	// 1: the model answers 500 (recorded OpenAI error body).
	url, calls := fakeModel(t, http.StatusInternalServerError, "500_server_error.json")
	failingModelConfig(t, url)
	code, out, errOut = runMain(t, "run", "--once", "--config", "warden.yaml")
	if code != exitFailed || !strings.Contains(errOut, "failed") {
		t.Fatalf("run --once with a failing model = %d %q; want 1\n%s", code, errOut, out)
	}
	if calls.Load() == 0 {
		t.Fatal("the fake model was never called")
	}
	failedRun := runIDRe.FindStringSubmatch(out)
	if failedRun == nil || !strings.Contains(errOut, failedRun[1]) {
		t.Errorf("the failure on stderr does not name the run:\nstdout %s\nstderr %s", out, errOut)
	}

	// 2: a config that does not load.
	os.WriteFile("bad.yaml", []byte("advisor: {kind: oracle}\n"), 0o600)
	if code, _, errOut := runMain(t, "run", "--once", "--config", "bad.yaml"); code != exitUsage {
		t.Fatalf("run --once with a bad config = %d %q; want 2", code, errOut)
	}
	// 2: usage.
	if code, _, _ := runMain(t, "run", "--once", "--no-such-flag"); code != exitUsage {
		t.Fatalf("run with an unknown flag = %d; want 2", code)
	}

	// The same outcomes in the audit log.
	code, out, errOut = runMain(t, "audit", "runs", "--json", "--limit", "0")
	if code != 0 {
		t.Fatalf("audit runs = %d %s", code, errOut)
	}
	var runs []audit.RunRow
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int{}
	byID := map[string]audit.RunRow{}
	for _, r := range runs {
		outcomes[r.Outcome]++
		byID[r.RunID] = r
	}
	if outcomes[audit.OutcomeOK] != 2 || outcomes[audit.OutcomeKilled] != 1 || outcomes[audit.OutcomeSafeMode] != 1 || outcomes[audit.OutcomeFailed] != 1 || len(runs) != 5 {
		t.Errorf("audit runs outcomes = %v over %d runs; want 2 ok, 1 killed, 1 safe_mode, 1 failed", outcomes, len(runs))
	}
	if killedRun == nil || byID[killedRun[1]].Outcome != audit.OutcomeKilled {
		t.Errorf("the run exit 3 reported for the kill switch is not listed as killed: %v", killedRun)
	}
	if f := byID[failedRun[1]]; f.Status != "advisor_error" || !strings.Contains(f.Reason, "500") {
		t.Errorf("failed run listed as %+v; want status advisor_error and the HTTP 500 in the reason", f)
	}
}

// TestFailedCyclesInPlainSight: seven --once cycles against a failing model;
// each is a failed run with its reason in `audit runs`, filterable, in the
// table, the JSON and the export, and the breaker's events are listed.
func TestFailedCyclesInPlainSight(t *testing.T) {
	t.Chdir(t.TempDir())
	url, _ := fakeModel(t, http.StatusTooManyRequests, "429_rate_limit_exceeded_tpm.json")
	failingModelConfig(t, url)
	for i := 0; i < 4; i++ {
		if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != exitFailed {
			t.Fatalf("cycle %d against a 429 model = %d; want 1\n%s\n%s", i+1, code, out, errOut)
		}
	}
	code, out, errOut := runMain(t, "audit", "list")
	if code != 0 || !strings.Contains(out, "no decisions recorded") {
		t.Fatalf("audit list = %d %q %q", code, out, errOut)
	}
	code, out, _ = runMain(t, "audit", "runs", "--status", "failed")
	if code != 0 || strings.Count(out, "advisor_error") != 4 || !strings.Contains(out, "429") {
		t.Fatalf("audit runs --status failed:\n%s\nwant 4 advisor_error runs with the 429 reason", out)
	}
	if code, out, _ := runMain(t, "audit", "runs", "--status", "ok"); code != 0 || !strings.Contains(out, "no runs recorded") {
		t.Errorf("audit runs --status ok = %d:\n%s", code, out)
	}
	// Runs are stamped with the decision clock: the replay's hours here.
	if code, out, _ := runMain(t, "audit", "runs", "--since", "2022-06-01T01:00:00Z", "--limit", "2", "--json"); code != 0 || strings.Count(out, `"outcome": "failed"`) != 2 || strings.Contains(out, "T000000Z") {
		t.Errorf("audit runs --since 2022-06-01T01:00:00Z --limit 2 --json = %d:\n%s", code, out)
	}
	if code, out, _ := runMain(t, "audit", "runs", "--since", "2022-06-01T02:00:00Z", "--until", "2022-06-01T03:00:00Z"); code != 0 || strings.Count(out, "advisor_error") != 1 {
		t.Errorf("audit runs --since --until one hour = %d:\n%s", code, out)
	}

	// The error-spike breaker tripped at the configured count; its events
	// are listed with every other kind.
	code, out, _ = runMain(t, "audit", "events")
	if code != 0 || !strings.Contains(out, "breaker") || !strings.Contains(out, "safe_mode") {
		t.Errorf("audit events lacks the breaker trip and safe mode:\n%s", out)
	}
	code, out, _ = runMain(t, "audit", "events", "--kind", "safe_mode", "--json")
	var evs []audit.EventRow
	if code != 0 || json.Unmarshal([]byte(out), &evs) != nil || len(evs) == 0 {
		t.Fatalf("audit events --kind safe_mode --json = %d %s", code, out)
	}
	for _, e := range evs {
		if e.Kind != "safe_mode" {
			t.Errorf("--kind safe_mode listed a %s event", e.Kind)
		}
	}
	if code, out, _ := runMain(t, "audit", "events", "--kinds"); code != 0 || !strings.Contains(out, "safe_mode") {
		t.Errorf("audit events --kinds = %d:\n%s", code, out)
	}

	// Export: runs as CSV, events as JSON lines.
	code, out, errOut = runMain(t, "audit", "export", "--runs", "--format", "csv", "--status", "failed")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(recs) != 5 || recs[1][9] != "failed" || !strings.Contains(recs[1][10], "429") {
		t.Errorf("export --runs csv = %d %v %q:\n%s", code, err, errOut, out)
	}
	code, out, _ = runMain(t, "audit", "export", "--events", "--kind", "breaker")
	if code != 0 || !strings.Contains(out, `"kind":"breaker"`) {
		t.Errorf("export --events --kind breaker = %d:\n%s", code, out)
	}
	if code, _, errOut := runMain(t, "audit", "export", "--runs", "--rule", "max_position_pct"); code != exitUsage || !strings.Contains(errOut, "--rule") {
		t.Errorf("export --runs --rule = %d %q; want a usage error naming --rule", code, errOut)
	}
	if code, _, _ := runMain(t, "audit", "export", "--runs", "--events"); code != exitUsage {
		t.Errorf("export --runs --events = %d; want 2", code)
	}
}

// TestKillRefusesAMissingDatabase: a kill switch in a file no run uses
// would stop nothing; a typo or the wrong directory is refused, and
// nothing is created.
func TestKillRefusesAMissingDatabase(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, args := range [][]string{
		{"kill"},
		{"kill", "--db", "wardne.db"},
		{"resume", "--reason", "x"},
	} {
		code, out, errOut := runMain(t, args...)
		if code != exitUsage || !strings.Contains(errOut, filepath.Join(dir, strings.TrimPrefix(dbArg(args), "./"))) || strings.Contains(out, "ON") {
			t.Errorf("%v on a missing database = %d %q %q; want exit 2 naming the absolute path", args, code, out, errOut)
		}
	}
	os.WriteFile("empty.db", nil, 0o600)
	if code, _, errOut := runMain(t, "kill", "--db", "empty.db"); code != exitUsage || !strings.Contains(errOut, "empty") {
		t.Errorf("kill on an empty file = %d %q; want a refusal", code, errOut)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("refused kills left files: %v", names)
	}

	// --create makes it, and says no run has used it.
	code, out, errOut := runMain(t, "kill", "--create", "--db", "new.db")
	if code != 0 || !strings.Contains(out, "kill switch ON in "+filepath.Join(dir, "new.db")) || !strings.Contains(out, "last run: never") || !strings.Contains(errOut, "no run has ever used") {
		t.Fatalf("kill --create = %d %q %q", code, out, errOut)
	}
}

func dbArg(args []string) string {
	for i, a := range args {
		if a == "--db" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return "warden.db"
}

// TestKillTakesTheDatabaseFromTheConfig: from another directory, kill
// --config changes the database the config names, as run does; the reason
// defaults to "manual"; it prints the absolute path and when a run last
// used it, and warns when that is long ago.
func TestKillTakesTheDatabaseFromTheConfig(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.Mkdir("etc", 0o755)
	os.Mkdir("var", 0o755)
	dbPath := filepath.Join(dir, "var", "bot.db")
	os.WriteFile("etc/warden.yaml", []byte("db: "+dbPath+"\nschedule: \"@every 1h\"\n"), 0o600)
	if code, out, errOut := runMain(t, "run", "--once", "--config", "etc/warden.yaml"); code != 0 {
		t.Fatalf("run = %d\n%s\n%s", code, out, errOut)
	}
	t.Chdir(filepath.Join(dir, "etc")) // a shell somewhere else
	code, out, errOut := runMain(t, "kill", "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "kill switch ON in "+dbPath) || !strings.Contains(out, "manual") || !strings.Contains(out, "last run: ") {
		t.Fatalf("kill --config = %d %q %q", code, out, errOut)
	}
	if strings.Contains(errOut, "warning") {
		t.Errorf("kill right after a run warned: %q", errOut)
	}
	if _, err := os.Stat("warden.db"); err == nil {
		t.Error("kill created warden.db in the working directory")
	}
	st, err := audit.Open(context.Background(), dbPath, audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.ListEvents(context.Background(), audit.EventFilter{Kinds: []string{audit.EventKillSwitch}})
	st.Close()
	if err != nil || len(evs) != 1 || evs[0].State != "on" || !strings.Contains(string(evs[0].Detail), `"reason":"manual"`) {
		t.Fatalf("kill switch events = %+v, %v; want one, on, reason manual", evs, err)
	}

	// A database whose last run is 3 h old, on an hourly schedule.
	old := filepath.Join(dir, "var", "old.db")
	ost, err := audit.Open(context.Background(), old, audit.Options{Clock: func() time.Time { return time.Now().Add(-3 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	ost.BeginRun(context.Background(), audit.Run{ID: "r-old", Mode: "paper", Advisor: "baseline"})
	ost.EndRun(context.Background(), "r-old", "ok", nil)
	ost.Close()
	// The config replays the bundled candles (the offline default), whose
	// runs are dated by the replay's clock: the file's last write says
	// how long ago a run used it.
	ago := func(path string, d time.Duration) {
		for _, f := range []string{path, path + "-wal"} {
			os.Chtimes(f, time.Now().Add(-d), time.Now().Add(-d))
		}
	}
	ago(old, 3*time.Hour)
	code, out, errOut = runMain(t, "kill", "--config", "warden.yaml", "--db", old, "--reason", "news")
	if code != 0 || !strings.Contains(out, "news") || !strings.Contains(errOut, "warning: "+old+" was last written 3h0m ago") {
		t.Errorf("kill on a database last used 3 h ago (hourly schedule) = %d %q %q; want a warning", code, out, errOut)
	}
	// 1 h 50 m is within twice the hourly schedule: no warning.
	recent := filepath.Join(dir, "var", "recent.db")
	rst, _ := audit.Open(context.Background(), recent, audit.Options{Clock: func() time.Time { return time.Now().Add(-110 * time.Minute) }})
	rst.BeginRun(context.Background(), audit.Run{ID: "r-recent", Mode: "paper", Advisor: "baseline"})
	rst.EndRun(context.Background(), "r-recent", "ok", nil)
	rst.Close()
	ago(recent, 110*time.Minute)
	if code, _, errOut := runMain(t, "kill", "--config", "warden.yaml", "--db", recent); code != 0 || strings.Contains(errOut, "warning") {
		t.Errorf("kill on a database last used 1h50m ago (hourly schedule) = %d %q; want no warning", code, errOut)
	}
}

// TestKillWhileRunHoldsTheLock: `warden kill` from a second terminal while
// a scheduled `warden run` holds the database: the next cycle of the run
// sees the switch and places nothing.
func TestKillWhileRunHoldsTheLock(t *testing.T) {
	t.Chdir(t.TempDir())
	os.WriteFile("warden.yaml", []byte("schedule: \"@every 1s\"\n"), 0o600)
	svc := startService(t)
	waitRuns := func(n int) []audit.RunRow {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := os.Stat("warden.db"); err == nil {
				code, js, _ := runMain(t, "audit", "runs", "--json", "--limit", "0")
				var rows []audit.RunRow
				if code == 0 && json.Unmarshal([]byte(js), &rows) == nil {
					ended := 0
					for _, r := range rows {
						if r.Status != "" {
							ended++
						}
					}
					if ended >= n {
						return rows
					}
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("fewer than %d runs ended within 30 s", n)
		return nil
	}
	before := waitRuns(1)
	code, kout, kerr := runMain(t, "kill", "--config", "warden.yaml", "--reason", "drill")
	if code != 0 || !strings.Contains(kout, "kill switch ON") {
		t.Fatalf("kill beside a running warden = %d %q %q", code, kout, kerr)
	}
	killSeq := func() int64 {
		code, js, _ := runMain(t, "audit", "events", "--kind", "kill_switch", "--json")
		var evs []audit.EventRow
		if code != 0 || json.Unmarshal([]byte(js), &evs) != nil || len(evs) == 0 {
			t.Fatalf("the kill switch event: %s", js)
		}
		return evs[0].Seq
	}()
	rows := waitRuns(len(before) + 2)
	svc.stop()
	if code, stderr, ok := svc.wait(30 * time.Second); !ok {
		t.Fatal("warden run did not stop")
	} else if code != 0 {
		t.Fatalf("warden run = %d; stderr:\n%s", code, stderr)
	}
	sawKilled := false
	for _, r := range rows {
		// The replay dates runs by its own clock: the chain's order says
		// which began after the kill.
		if r.Status == "" || r.Seq < killSeq {
			continue
		}
		if r.Outcome != audit.OutcomeKilled {
			t.Errorf("run %s after the kill: outcome %s; want killed", r.RunID, r.Outcome)
		}
		if r.Orders != 0 || r.Decisions["approved"] != 0 {
			t.Errorf("run %s under the kill switch approved or placed: %+v", r.RunID, r)
		}
		sawKilled = true
	}
	if !sawKilled {
		t.Errorf("no run of the running warden began after the kill: %+v", rows)
	}
}

// TestFailedStartLeavesNothing: a start refused for its configuration or
// its policy creates no database and no lock file; one that fails after
// creating them (the replay advisor's recording is not a database) removes
// them.
func TestFailedStartLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if code, _, errOut := runMain(t, "policy", "init", "--out", "p.yaml"); code != 0 {
		t.Fatalf("policy init = %d %s", code, errOut)
	}
	src, _ := os.ReadFile("p.yaml")
	os.WriteFile("p.yaml", []byte(strings.Replace(string(src), "max_position_pct: 2 ", "max_position_pct: 50 ", 1)), 0o600)
	os.WriteFile("policy.yaml", []byte("policy: p.yaml\ndb: data/w.db\n"), 0o600)
	os.WriteFile("typo.yaml", []byte("db: data/w.db\nsymbolz: [BTC/USDT]\n"), 0o600)
	os.WriteFile("replay.yaml", []byte("db: data/w.db\nadvisor: {kind: replay, replay: {db: missing-recording.db}}\n"), 0o600)
	// A recording that exists but is no Warden database: found only when
	// the replay advisor opens it, after the database and lock were made.
	os.WriteFile("not-a-recording.db", nil, 0o600)
	os.WriteFile("late.yaml", []byte("db: data/w.db\nadvisor: {kind: replay, replay: {db: not-a-recording.db}}\n"), 0o600)
	for _, cfg := range []string{"policy.yaml", "typo.yaml", "replay.yaml", "late.yaml"} {
		code, _, errOut := runMain(t, "run", "--once", "--config", cfg)
		if code != exitUsage {
			t.Errorf("run with %s = %d %q; want 2", cfg, code, errOut)
		}
		for _, f := range []string{"data/w.db", "data/w.db.lock", "data/w.db-wal", "data/w.db-shm", "warden.db", "warden.db.lock"} {
			if _, err := os.Stat(f); err == nil {
				t.Errorf("run with %s left %s behind", cfg, f)
			}
		}
	}
}

// TestAuditReadsAReadOnlyCopy: every audit read command works on an
// archived copy in a read-only directory and writes nothing there. Tests
// may run as root, whom chmod does not stop: the proof is that the
// directory holds the same files with the same bytes and times afterwards.
func TestAuditReadsAReadOnlyCopy(t *testing.T) {
	work := t.TempDir()
	t.Chdir(work)
	code, out, errOut := runMain(t, "run", "--once")
	if code != 0 {
		t.Fatalf("run = %d %s", code, errOut)
	}
	runID := runIDRe.FindStringSubmatch(out)[1]
	runMain(t, "kill", "--reason", "archive")
	archive := filepath.Join(t.TempDir(), "archive")
	os.Mkdir(archive, 0o755)
	b, err := os.ReadFile("warden.db")
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(archive, "warden-2022.db")
	os.WriteFile(db, b, 0o444)
	os.Chmod(archive, 0o555)
	t.Cleanup(func() { os.Chmod(archive, 0o755) })
	type stamp struct {
		size int64
		mod  time.Time
		body string
	}
	snap := func() map[string]stamp {
		ents, _ := os.ReadDir(archive)
		m := map[string]stamp{}
		for _, e := range ents {
			fi, _ := e.Info()
			body, _ := os.ReadFile(filepath.Join(archive, e.Name()))
			m[e.Name()] = stamp{fi.Size(), fi.ModTime(), string(body)}
		}
		return m
	}
	before := snap()
	t.Chdir(archive)
	for _, args := range [][]string{
		{"audit", "list", "--db", db},
		{"audit", "show", runID, "--db", db},
		{"audit", "runs", "--db", db},
		{"audit", "events", "--db", db},
		{"audit", "export", "--db", db},
		{"audit", "export", "--runs", "--format", "csv", "--db", db},
		{"audit", "export", "--events", "--db", db},
		{"audit", "verify", "--db", db},
	} {
		code, out, errOut := runMain(t, args...)
		if code != 0 || out == "" {
			t.Errorf("%v on a read-only copy = %d %q", args, code, errOut)
		}
	}
	after := snap()
	if len(after) != len(before) {
		t.Errorf("reading created files: %d before, %d after", len(before), len(after))
	}
	for name, s := range before {
		if after[name] != s {
			t.Errorf("reading changed %s", name)
		}
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(db + suffix); err == nil {
			t.Errorf("reading created %s", filepath.Base(db+suffix))
		}
	}
}

// TestKillFromTheCLIIsNotified: `warden kill` and `warden resume` from the
// command line queue the same notification the console's switch does, for
// the configured channels (delivered by the running warden or the next
// run --once); they were recorded but never notified.
func TestKillFromTheCLIIsNotified(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_TEST_KILL_SLACK", "xoxb-test-kill-0123456789")
	cfg := "notify: {slack: {token_env: WARDEN_TEST_KILL_SLACK, channel: '#ops', api_url: 'http://127.0.0.1:1/'}}\n"
	os.WriteFile("warden.yaml", []byte(cfg), 0o600)
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	for _, c := range []struct {
		cmd, want string
	}{{"kill", "engaged"}, {"resume", "released"}} {
		code, out, errOut := runMain(t, c.cmd, "--reason", "exchange incident", "--by", "oncall", "--config", "warden.yaml")
		if code != 0 || !strings.Contains(out, "notification queued") {
			t.Fatalf("%s = %d\n%s\n%s", c.cmd, code, out, errOut)
		}
		db, err := sql.Open("sqlite3", "file:warden.db?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = db.QueryRow(`SELECT COUNT(*) FROM records WHERE kind = 'notification' AND ref = 'slack' AND body LIKE '%Kill switch%' AND body LIKE ?`, "%"+c.want+"%").Scan(&n)
		db.Close()
		if err != nil || n != 1 {
			t.Errorf("after %s: %d kill-switch notifications (%s) queued for slack, %v; want 1", c.cmd, n, c.want, err)
		}
	}
}

// TestStopFillIsNotified: a protective stop that triggers cycles after its
// entry (found by the next cycle's poll) is notified like a fill at
// placement; only fills at placement were, so a stop-loss hitting went
// unnoticed. Each fill is notified once, however many cycles follow.
func TestStopFillIsNotified(t *testing.T) {
	t.Chdir(t.TempDir())
	m := newOperatorModel(t, "buyBTC") // then holds
	t.Setenv("WARDEN_TEST_OPS_KEY", "sk-test-ops-0123456789abcdef")
	t.Setenv("WARDEN_TEST_STOP_SLACK", "xoxb-test-stop-0123456789")
	cfg := fmt.Sprintf("advisor:\n  kind: openai\n  openai: {base_url: %s, model: gpt-4o-mini, api_key_env: WARDEN_TEST_OPS_KEY, max_retries: -1, timeout: 10s}\n"+
		"notify: {slack: {token_env: WARDEN_TEST_STOP_SLACK, channel: '#ops', api_url: 'http://127.0.0.1:1/'}}\n", m.url)
	os.WriteFile("warden.yaml", []byte(cfg), 0o600)
	count := func(q string, args ...any) int {
		db, err := sql.Open("sqlite3", "file:warden.db?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	stopFilled := `SELECT COUNT(*) FROM records WHERE kind = 'order_event' AND state = 'filled' AND body LIKE '%"role":"stop"%'`
	cycles := 0
	for ; cycles < 72 && (cycles == 0 || count(stopFilled) == 0); cycles++ {
		if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
			t.Fatalf("cycle %d: run --once = %d\n%s\n%s", cycles, code, out, errOut)
		}
	}
	if count(stopFilled) == 0 {
		t.Fatalf("the stop 3%% below the June 2022 entry did not fill in %d hourly cycles", cycles)
	}
	for i := 0; i < 2; i++ { // later cycles poll again: nothing new
		if code, _, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
			t.Fatalf("run --once = %d %s", code, errOut)
		}
	}
	if n := count(`SELECT COUNT(*) FROM records WHERE kind = 'notification' AND ref = 'slack' AND body LIKE '%"kind":"fill"%' AND body LIKE '%Role: stop%'`); n != 1 {
		t.Errorf("%d stop fill notifications queued after %d cycles; want 1", n, cycles)
	}
}

// TestKillFromAShellWithoutTheSecretsIsNotified: the operator's terminal
// rarely has the notifiers' variables (they live in the service's
// environment file). `warden kill` from such a shell still queues the
// notification for every channel the config sets up, e-mail included; the
// running warden, or the next run, which has the secrets, delivers it.
func TestKillFromAShellWithoutTheSecretsIsNotified(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_TEST_KILL_SLACK2", "xoxb-test-kill-0123456789")
	cfg := "notify:\n  slack: {token_env: WARDEN_TEST_KILL_SLACK2, channel: '#ops', api_url: 'http://127.0.0.1:1/'}\n" +
		"  email: {host: 127.0.0.1, port: 1, from: warden@example.com, to: [ops@example.com]}\n"
	os.WriteFile("warden.yaml", []byte(cfg), 0o600)
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	t.Setenv("WARDEN_TEST_KILL_SLACK2", "") // the operator's shell
	code, out, errOut := runMain(t, "kill", "--reason", "exchange incident", "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "notification queued") {
		t.Fatalf("kill from a shell without the variables = %d\n%s\n%s", code, out, errOut)
	}
	db, err := sql.Open("sqlite3", "file:warden.db?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, ch := range []string{"slack", "email"} {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM records WHERE kind = 'notification' AND ref = ? AND body LIKE '%Kill switch%'`, ch).Scan(&n); err != nil || n != 1 {
			t.Errorf("kill-switch notifications queued for %s: %d, %v; want 1", ch, n, err)
		}
	}
}

// TestExportNeverOverwritesTheHistory: `audit export --out` naming the
// database being read (a typo away from export.jsonl), another SQLite
// database, an archive file or a file in --archive is refused (exit 2)
// before anything is opened or written; the database still verifies. A new
// file is written as before.
func TestExportNeverOverwritesTheHistory(t *testing.T) {
	t.Chdir(t.TempDir())
	for i := 0; i < 3; i++ {
		if code, out, errOut := runMain(t, "run", "--once"); code != 0 {
			t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
		}
	}
	before, _ := os.ReadFile("warden.db")
	os.MkdirAll("archive", 0o700)
	os.WriteFile("archive/notes.txt", []byte("keep"), 0o600)
	os.WriteFile("warden-audit-20220601T000000Z-seq1-10.jsonl.gz", []byte("\x1f\x8bkeep"), 0o600)
	if code, _, errOut := runMain(t, "audit", "export", "--db", "warden.db", "--out", "copy.db"); code != 0 {
		t.Fatalf("export to a new file = %d %s", code, errOut)
	}
	os.WriteFile("other.db", before, 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", "warden.db"}, "is the audit database being read"},
		{[]string{"--out", "./warden.db"}, "is the audit database being read"},
		{[]string{"--out", "other.db"}, "is a SQLite database"},
		{[]string{"--out", "warden-audit-20220601T000000Z-seq1-10.jsonl.gz"}, "is an audit archive"},
		{[]string{"--out", "archive/notes.txt", "--archive", "archive"}, "is in the --archive directory"},
		{[]string{"--records", "--out", "warden.db"}, "is the audit database being read"},
	} {
		args := append([]string{"audit", "export", "--db", "warden.db"}, tc.args...)
		code, _, errOut := runMain(t, args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v = %d %q; want exit 2 saying it %s", args, code, errOut, tc.want)
		}
	}
	if after, _ := os.ReadFile("warden.db"); !bytes.Equal(before, after) {
		t.Fatal("a refused export changed warden.db")
	}
	if b, _ := os.ReadFile("archive/notes.txt"); string(b) != "keep" {
		t.Error("a refused export wrote into the archive directory")
	}
	if code, out, errOut := runMain(t, "audit", "verify", "--db", "warden.db"); code != 0 {
		t.Fatalf("verify after the refused exports = %d\n%s\n%s", code, out, errOut)
	}
}

// TestShowPrintsWhatWasPaid: `audit show` of a decision whose orders
// filled prints each fill event's filled quantity at its average price
// and its fee, from the journal, not the order's limit price as if it had
// been paid (a stop sell fills under its limit's trigger, a market order
// has no price at all).
func TestShowPrintsWhatWasPaid(t *testing.T) {
	t.Chdir(t.TempDir())
	for i := 0; i < 16; i++ {
		if code, out, errOut := runMain(t, "run", "--once"); code != 0 {
			t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
		}
	}
	code, js, errOut := runMain(t, "audit", "list", "--decision", "approved", "--json", "--limit", "0")
	if code != 0 {
		t.Fatalf("audit list = %d %s", code, errOut)
	}
	var rows []struct {
		DecisionID string `json:"decision_id"`
	}
	if err := json.Unmarshal([]byte(js), &rows); err != nil || len(rows) == 0 {
		t.Fatalf("approved decisions: %v %s", err, js)
	}
	seen := 0
	for _, r := range rows {
		code, out, errOut := runMain(t, "audit", "show", r.DecisionID)
		if code != 0 {
			t.Fatalf("audit show %s = %d %s", r.DecisionID, code, errOut)
		}
		code, sj, _ := runMain(t, "audit", "show", r.DecisionID, "--json")
		if code != 0 {
			t.Fatal(sj)
		}
		var story struct {
			Decisions []struct {
				Orders []struct {
					Events []schemas.OrderEvent `json:"events"`
				} `json:"orders"`
			} `json:"decisions"`
		}
		if err := json.Unmarshal([]byte(sj), &story); err != nil {
			t.Fatalf("show --json: %v", err)
		}
		for _, d := range story.Decisions {
			for _, o := range d.Orders {
				for _, ev := range o.Events {
					if !ev.FilledQty.IsPositive() {
						continue
					}
					want := fmt.Sprintf("filled %s at avg %s, fee %s %s", ev.FilledQty, ev.AvgPrice, ev.Fee, ev.FeeCurrency)
					if !strings.Contains(out, want) {
						t.Errorf("audit show %s lacks %q:\n%s", r.DecisionID, want, out)
					}
					seen++
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("no filled order event in 16 offline runs: the test proves nothing")
	}
}

// TestRetentionNeverSplitsAReplayRun: the offline replay stamps a run with
// the replay's clock and its end with the wall clock; with audit.retention
// the daily archive used to move a run's start into the archive and leave
// its end in the database, so `audit runs` no longer listed it. Every run
// of three `run --once` processes stays listed, whole.
func TestRetentionNeverSplitsAReplayRun(t *testing.T) {
	t.Chdir(t.TempDir())
	os.WriteFile("warden.yaml", []byte("audit:\n  retention: 1d\n"), 0o600)
	for i := 0; i < 3; i++ {
		if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
			t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
		}
	}
	code, js, errOut := runMain(t, "audit", "runs", "--config", "warden.yaml", "--json")
	if code != 0 {
		t.Fatalf("audit runs = %d %s", code, errOut)
	}
	var runs []struct {
		RunID   string    `json:"run_id"`
		EndedAt time.Time `json:"ended_at"`
	}
	if err := json.Unmarshal([]byte(js), &runs); err != nil {
		t.Fatalf("%v: %s", err, js)
	}
	if len(runs) != 3 {
		t.Fatalf("audit runs lists %d runs; want the 3 (none split by the archive): %s", len(runs), js)
	}
	for _, r := range runs {
		if r.EndedAt.IsZero() {
			t.Errorf("run %s is listed without its end", r.RunID)
		}
	}
	if code, out, errOut := runMain(t, "audit", "verify", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("verify = %d\n%s\n%s", code, out, errOut)
	}
}

// TestInterruptedReadIsNotAFinding: a command stopped by Ctrl-C exits 130
// saying it was interrupted; what failed after the signal (a read cut
// short, "statement is closed") was once reported as a tampered archive
// (exit 1).
func TestInterruptedReadIsNotAFinding(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, out, errOut := runMain(t, "run", "--once"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C
	for _, args := range [][]string{{"audit", "verify"}, {"audit", "list", "--limit", "0"}} {
		var out, errOut bytes.Buffer
		if code := Main(ctx, args, strings.NewReader(""), &out, &errOut); code != exitInterrupted || !strings.Contains(errOut.String(), "interrupted") {
			t.Errorf("%v after Ctrl-C = %d %q; want 130, interrupted", args, code, errOut.String())
		}
	}
}
