package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/warden-trading/warden/agent/redact"
)

func TestBacktestWritesReports(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "report")
	code, out, errOut := run(t, "", "backtest", "--from", "2022-01-01", "--to", "2022-01-20", "--symbols", "BTC/USDT",
		"--every", "candle", "--out", dir, "--audit", "--progress", "always")
	if code != 0 {
		t.Fatalf("backtest exit = %d; want 0\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	for _, want := range []string{"backtest baseline on BTC/USDT 1h", "buy and hold", "report.html", "audit.db", "equity.csv", "trades.csv",
		"Total return", "CAGR", "n/a", "decisions: ", "cycles by level: active"} {
		if !strings.Contains(out, want) {
			t.Errorf("backtest output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "100.0%") {
		t.Errorf("no finished progress bar on stderr with --progress always: %q", errOut)
	}
	if strings.Contains(out, "map[") {
		t.Errorf("backtest output prints a Go map:\n%s", out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Schema string `json:"schema"`
		Run    struct {
			Advisor string `json:"advisor"`
			Candles int    `json:"candles"`
			Audit   bool   `json:"audit"`
		} `json:"run"`
		Decisions struct {
			Cycles int `json:"cycles"`
		} `json:"decisions"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	if s.Schema != "warden.backtest.summary/v2" || s.Run.Advisor != "baseline" || !s.Run.Audit || s.Run.Candles < 19*24-5 || s.Decisions.Cycles != s.Run.Candles {
		t.Errorf("summary = %+v", s)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil || !strings.Contains(string(page), "<svg") {
		t.Errorf("report.html missing or without its SVG charts (err %v)", err)
	}
	for _, f := range []string{"audit.db", "equity.csv", "trades.csv"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".*partial*")); len(left) > 0 {
		t.Errorf("staging left behind: %v", left)
	}
	// A second run into the same audit database is refused.
	code, _, errOut = run(t, "", "backtest", "--from", "2022-01-01", "--to", "2022-01-03", "--out", dir, "--audit", "--quiet")
	if code != exitUsage || !strings.Contains(errOut, "exists") {
		t.Errorf("backtest --audit into an existing database: exit %d, stderr %q; want %d and 'exists'", code, errOut, exitUsage)
	}
}

func TestBacktestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad date", []string{"--from", "01/02/2022"}, "--from"},
		{"bad cadence", []string{"--every", "week"}, "--every"},
		{"bad advisor", []string{"--advisor", "oracle"}, "--advisor"},
		{"openai without a model", []string{"--advisor", "openai"}, "advisor.openai.model"},
		{"replay without a recording", []string{"--advisor", "replay"}, "--replay-from"},
		{"missing policy", []string{"--policy", "/nonexistent/policy.yaml"}, "policy"},
		{"bad cutoff", []string{"--training-cutoff", "soon"}, "training cutoff"},
		{"no data in range", []string{"--from", "2030-01-01", "--to", "2030-02-01"}, "no candles"},
		{"unknown symbol", []string{"--symbols", "DOGE/USDT"}, "DOGE/USDT"},
		{"walk-forward without a train window", []string{"--walk-forward", "--train-months", "0"}, "--train-months"},
		{"--audit-db without --audit", []string{"--audit-db", "x.db"}, "--audit-db has no effect without --audit"},
		{"--replay-from without the replay advisor", []string{"--replay-from", "r.jsonl"}, "--replay-from has no effect without --advisor replay"},
		{"--train-months without --walk-forward", []string{"--train-months", "3"}, "--train-months has no effect without --walk-forward"},
		{"--min-trades without --walk-forward", []string{"--min-trades", "0"}, "--min-trades has no effect without --walk-forward"},
		{"walk-forward over too short a span", []string{"--walk-forward", "--from", "2021-01-01", "--to", "2021-03-01", "--every", "day"}, "too short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"backtest", "--quiet", "--out", t.TempDir()}, tc.args...)
			code, _, errOut := run(t, "", args...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("backtest %v: exit %d, stderr %q; want %d mentioning %q", tc.args, code, errOut, exitUsage, tc.want)
			}
		})
	}
}

// TestBacktestRecordAndReplay: --record writes every raw response; a replay
// backtest from that file decides the same.
func TestBacktestRecordAndReplay(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.jsonl")
	args := []string{"backtest", "--quiet", "--from", "2022-02-01", "--to", "2022-02-06", "--symbols", "BTC/USDT"}
	code, out1, errOut := run(t, "", append(args, "--out", filepath.Join(dir, "a"), "--record", rec)...)
	if code != 0 {
		t.Fatalf("backtest --record: exit %d\n%s\n%s", code, out1, errOut)
	}
	code, out2, errOut := run(t, "", append(args, "--out", filepath.Join(dir, "b"), "--advisor", "replay", "--replay-from", rec)...)
	if code != 0 {
		t.Fatalf("backtest --advisor replay: exit %d\n%s\n%s", code, out2, errOut)
	}
	decisions := func(out string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "decisions:") {
				return l
			}
		}
		return ""
	}
	if d1, d2 := decisions(out1), decisions(out2); d1 == "" || d1 != d2 {
		t.Errorf("replayed decisions %q; recorded %q", d2, d1)
	}
	if !strings.Contains(out2, "NOT EVIDENCE") {
		t.Errorf("a replay of an unknown model is not flagged as not evidence:\n%s", out2)
	}
}

// TestBacktestReplayFromAuditDB: a replay backtest answers from the audit
// database of an earlier `backtest --audit` (as --help says it can) and
// decides the same; a database with no model responses is refused, never
// replayed as nothing.
func TestBacktestReplayFromAuditDB(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "rec.db")
	args := []string{"backtest", "--quiet", "--from", "2022-02-01", "--to", "2022-02-04", "--symbols", "BTC/USDT"}
	code, out1, errOut := run(t, "", append(args, "--out", filepath.Join(dir, "a"), "--audit", "--audit-db", db)...)
	if code != 0 {
		t.Fatalf("backtest --audit: exit %d\n%s\n%s", code, out1, errOut)
	}
	code, out2, errOut := run(t, "", append(args, "--out", filepath.Join(dir, "b"), "--advisor", "replay", "--replay-from", db)...)
	if code != 0 {
		t.Fatalf("backtest --advisor replay --replay-from %s: exit %d\n%s\n%s", db, code, out2, errOut)
	}
	line := func(out, prefix string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return l
			}
		}
		return ""
	}
	if d1, d2 := line(out1, "decisions:"), line(out2, "decisions:"); d1 == "" || d1 != d2 || strings.Contains(d2, "error") {
		t.Errorf("replayed decisions %q; recorded %q", d2, d1)
	}
	r1, r2 := line(out1, "Total return"), line(out2, "Total return")
	if r1 == "" || strings.Fields(r1)[2] != strings.Fields(r2)[2] {
		t.Errorf("replayed return %q; recorded %q", r2, r1)
	}

	// A Warden database without a single model response: refused.
	code, _, errOut = run(t, "", "kill", "--create", "--db", filepath.Join(dir, "bare.db"))
	if code != 0 {
		t.Fatalf("kill --create: exit %d: %s", code, errOut)
	}
	code, _, errOut = run(t, "", append(args, "--out", filepath.Join(dir, "c"), "--advisor", "replay", "--replay-from", filepath.Join(dir, "bare.db"))...)
	if code != exitUsage || !strings.Contains(errOut, "no recorded model responses") {
		t.Errorf("replay from a database without responses: exit %d, stderr %q; want %d naming the missing responses", code, errOut, exitUsage)
	}
	if _, err := os.Stat(filepath.Join(dir, "c")); err == nil {
		t.Errorf("a refused replay left a report directory")
	}
}

func TestBacktestWalkForward(t *testing.T) {
	code, out, errOut := run(t, "", "backtest", "--quiet", "--symbols", "BTC/USDT", "--from", "2020-01-01", "--to", "2021-01-01",
		"--every", "day", "--walk-forward", "--min-trades", "1", "--out", t.TempDir())
	if code != 0 || !strings.Contains(out, "walk-forward (2 test windows)") {
		t.Errorf("backtest --walk-forward: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestBacktestProgressOnlyOnATerminal: by default the progress bar is
// drawn only when stderr is a terminal; a pipe or a file gets none.
func TestBacktestProgressOnlyOnATerminal(t *testing.T) {
	code, out, errOut := run(t, "", "backtest", "--from", "2022-01-01", "--to", "2022-01-03", "--symbols", "BTC/USDT", "--out", t.TempDir())
	if code != 0 || strings.Contains(errOut, "candles/s") || strings.Contains(errOut, "\r") {
		t.Errorf("backtest with stderr not a terminal: exit %d, stderr %q; want 0 and no progress bar\n%s", code, errOut, out)
	}
	code, _, errOut = run(t, "", "backtest", "--progress", "sometimes", "--out", t.TempDir())
	if code != exitUsage || !strings.Contains(errOut, "--progress") {
		t.Errorf("--progress sometimes: exit %d, stderr %q; want %d", code, errOut, exitUsage)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	red := redact.New()
	for _, tc := range []struct {
		name string
		w    io.Writer
		want bool
	}{
		{"a buffer", &bytes.Buffer{}, false},
		{"a regular file", file, false},
		{"a character device", devnull, true},
		{"a character device behind the redactor", red.Writer(devnull), true},
		{"a file behind the redactor", red.Writer(file), false},
	} {
		if got := isTerminal(tc.w); got != tc.want {
			t.Errorf("isTerminal(%s) = %v; want %v", tc.name, got, tc.want)
		}
	}
}

// cancelOnWrite cancels a context at the first write that reaches it.
type cancelOnWrite struct {
	bytes.Buffer
	cancel context.CancelFunc
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	c.cancel()
	return c.Buffer.Write(p)
}

// TestBacktestInterrupted: Ctrl-C during a backtest exits 130 with the
// simulated date it had reached, writes no report, leaves an earlier
// report, no partial audit database and no partial recording; the same
// command with --audit then runs.
func TestBacktestInterrupted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "report")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "report.html")
	if err := os.WriteFile(old, []byte("the earlier report"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "rec.jsonl")
	args := []string{"backtest", "--from", "2022-01-01", "--to", "2022-06-01", "--symbols", "BTC/USDT", "--out", dir, "--audit", "--record", rec}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	// The progress bar's second line reaches stderr after the first
	// candles: the interrupt comes mid-run.
	errW := &cancelOnWrite{cancel: cancel}
	code := Main(ctx, append(args, "--progress", "always"), strings.NewReader(""), &out, errW)
	errOut := errW.String()
	if code != 130 || !strings.Contains(errOut, "interrupted at 2022-") || !strings.Contains(errOut, "no report written") {
		t.Fatalf("interrupted backtest: exit %d, stderr %q; want 130, 'interrupted at 2022-…, no report written'", code, errOut)
	}
	if b, err := os.ReadFile(old); err != nil || string(b) != "the earlier report" {
		t.Errorf("the earlier report.html = %q, %v; want it untouched", b, err)
	}
	for _, f := range []string{"summary.json", "equity.csv", "trades.csv", "audit.db", "rec.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after the interrupt: %v; want none", f, err)
		}
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if left, _ := filepath.Glob(filepath.Join(d, ".*partial*")); len(left) > 0 {
			t.Errorf("staging left behind: %v", left)
		}
	}
	if strings.Contains(out.String(), "report:") {
		t.Errorf("an interrupted backtest printed a summary:\n%s", out.String())
	}

	code, stdout, errOut2 := run(t, "", append(args[:len(args)-2], "--to", "2022-01-03", "--quiet")...)
	if code != 0 {
		t.Fatalf("rerun with --audit after the interrupt: exit %d\n%s\n%s", code, stdout, errOut2)
	}
	if b, _ := os.ReadFile(old); string(b) == "the earlier report" {
		t.Errorf("the rerun did not replace report.html")
	}
	if _, err := os.Stat(filepath.Join(dir, "audit.db")); err != nil {
		t.Errorf("the rerun's audit.db: %v", err)
	}
}

// TestBacktestInterruptedCreatesNothing: an interrupted backtest into an
// --out that did not exist leaves no directory behind (the results are
// staged beside the nearest directory that exists).
func TestBacktestInterruptedCreatesNothing(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "new", "report")
	args := []string{"backtest", "--from", "2022-01-01", "--to", "2022-06-01", "--symbols", "BTC/USDT", "--out", dir, "--audit", "--record", filepath.Join(base, "new", "rec.jsonl")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errW := &cancelOnWrite{cancel: cancel}
	if code := Main(ctx, append(args, "--progress", "always"), strings.NewReader(""), io.Discard, errW); code != 130 {
		t.Fatalf("interrupted backtest: exit %d, stderr %q; want 130", code, errW.String())
	}
	ents, err := os.ReadDir(base)
	if err != nil || len(ents) != 0 {
		names := []string{}
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("after the interrupt %s holds %v (%v); want nothing", base, names, err)
	}
}

// TestBacktestRemovesStagingOfKilledRuns: the staging a killed backtest
// left (kill -9 runs no cleanup) is removed by the next backtest to the
// same paths; the staging of a process still running is left alone.
func TestBacktestRemovesStagingOfKilledRuns(t *testing.T) {
	base := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := dead.Process.Pid
	stale := []string{
		filepath.Join(base, fmt.Sprintf(".report.partial-%d-111", deadPID)),
		filepath.Join(base, "report", fmt.Sprintf(".audit.db.partial-%d-222", deadPID)),
	}
	alive := filepath.Join(base, ".report.partial-1-333") // pid 1 runs as long as the machine
	for _, d := range append(stale, alive) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "audit.db"), []byte("a killed run's 154 MB"), 0o600)
	}
	code, out, errOut := run(t, "", "backtest", "--quiet", "--from", "2022-02-01", "--to", "2022-02-03", "--symbols", "BTC/USDT", "--out", filepath.Join(base, "report"), "--audit")
	if code != 0 {
		t.Fatalf("backtest: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, d := range stale {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s (a killed run's staging): %v; want removed", d, err)
		}
	}
	if _, err := os.Stat(alive); err != nil {
		t.Errorf("the staging of a running process was removed: %v", err)
	}
}

// TestBacktestRefusesUnusableOutputsFirst: an --out that is a file, or a
// --record that is a directory, is refused before the backtest runs (it
// once failed after the whole run, losing its audit database and
// recording), and nothing is created.
func TestBacktestRefusesUnusableOutputsFirst(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "afile")
	os.WriteFile(file, []byte("x"), 0o600)
	adir := filepath.Join(base, "adir")
	os.Mkdir(adir, 0o755)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"--out a file", []string{"--out", file}, "is not a directory"},
		{"--out under a file", []string{"--out", filepath.Join(file, "sub")}, "is not a directory"},
		{"--record a directory", []string{"--out", filepath.Join(base, "r"), "--record", adir}, "is a directory"},
		{"--record under a file", []string{"--out", filepath.Join(base, "r"), "--record", filepath.Join(file, "rec.jsonl")}, "is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"backtest", "--quiet", "--from", "2022-02-01", "--to", "2022-02-03", "--symbols", "BTC/USDT", "--audit", "--audit-db", filepath.Join(base, "a.db")}, tc.args...)
			code, _, errOut := run(t, "", args...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %q", code, errOut, exitUsage, tc.want)
			}
			for _, p := range []string{filepath.Join(base, "a.db"), filepath.Join(base, "r")} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("a refused backtest created %s", p)
				}
			}
		})
	}
}

// TestBacktestIntoADirectoryWhoseParentIsReadOnly: --out naming an
// existing directory the user may write, under a parent they may not
// (--out . in a home under a root-owned /home, --out /tmp), stages inside
// that directory and writes the report there; nothing is left behind. Run
// as root (CI), the backtest runs in a child process as nobody: root
// writes anywhere.
func TestBacktestIntoADirectoryWhoseParentIsReadOnly(t *testing.T) {
	// Not t.TempDir(): its parent is closed to other users.
	base, err := os.MkdirTemp("", "warden-readonly-parent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	parent := filepath.Join(base, "home")
	out := filepath.Join(parent, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"backtest", "--quiet", "--from", "2022-02-01", "--to", "2022-02-03", "--symbols", "BTC/USDT", "--out", out, "--audit"}
	if os.Geteuid() != 0 {
		if err := os.Chmod(parent, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(parent, 0o755) })
		if code, stdout, errOut := run(t, "", args...); code != 0 {
			t.Fatalf("backtest into %s (parent read-only) = %d\n%s\n%s", out, code, stdout, errOut)
		}
	} else {
		const nobody = 65534
		if err := os.Chown(out, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		// The test binary, where nobody may run it.
		bin := filepath.Join(base, "warden.test")
		src, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, src, 0o755); err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(args)
		cmd := exec.Command(bin, "-test.run=^TestBacktestChildProcess$")
		cmd.Env = append(os.Environ(), childArgsEnv+"="+string(js), "HOME="+out)
		cmd.Dir = out
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("backtest as nobody into %s (parent read-only to it) = %v\n%s", out, err, b)
		}
	}
	for _, f := range []string{"summary.json", "report.html", "audit.db"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, d := range []string{out, parent} {
		if left, _ := filepath.Glob(filepath.Join(d, ".*partial*")); len(left) > 0 {
			t.Errorf("staging left behind: %v", left)
		}
	}
}

// childArgsEnv carries, as JSON, the arguments TestBacktestChildProcess
// runs Main with in a child process.
const childArgsEnv = "WARDEN_TEST_CHILD_ARGS"

// TestBacktestChildProcess is the child of the test above: Main with the
// arguments from the environment; its exit status is Main's.
func TestBacktestChildProcess(t *testing.T) {
	js := os.Getenv(childArgsEnv)
	if js == "" {
		t.Skip("only run as a child process")
	}
	var args []string
	if err := json.Unmarshal([]byte(js), &args); err != nil {
		t.Fatal(err)
	}
	if code := Main(context.Background(), args, strings.NewReader(""), os.Stdout, os.Stderr); code != 0 {
		os.Exit(code)
	}
}

// TestBacktestRangeEdges: a range with no decision time at the cadence
// asked is refused (a report of nothing would read as an advisor that did
// nothing) and writes nothing; a --from after the bundled data's end says
// so, not that a --to never given is before it.
func TestBacktestRangeEdges(t *testing.T) {
	out := filepath.Join(t.TempDir(), "z")
	code, _, errOut := run(t, "", "backtest", "--quiet", "--from", "2022-01-01T05:00:00Z", "--to", "2022-01-01T10:00:00Z", "--every", "day", "--symbols", "BTC/USDT", "--out", out)
	if code != exitUsage || !strings.Contains(errOut, "no decision time between") {
		t.Fatalf("backtest with no decision time = %d %q; want 2, refused", code, errOut)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused backtest created %s: %v", out, err)
	}
	code, _, errOut = run(t, "", "backtest", "--quiet", "--from", "2022-10-30", "--symbols", "BTC/USDT", "--out", out)
	if code != exitUsage || !strings.Contains(errOut, "from 2022-10-30T00:00:00Z is after the candles end") || strings.Contains(errOut, "is not after from") {
		t.Fatalf("backtest from after the data = %d %q", code, errOut)
	}
}
