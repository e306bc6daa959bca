package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBacktestWritesReports(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "report")
	code, out, errOut := run(t, "", "backtest", "--from", "2022-01-01", "--to", "2022-01-20", "--symbols", "BTC/USDT",
		"--every", "candle", "--out", dir, "--audit")
	if code != 0 {
		t.Fatalf("backtest exit = %d; want 0\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	for _, want := range []string{"backtest baseline on BTC/USDT 1h", "buy and hold", "report.html", "audit.db"} {
		if !strings.Contains(out, want) {
			t.Errorf("backtest output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "100.0%") {
		t.Errorf("no finished progress bar on stderr: %q", errOut)
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
	if s.Schema != "warden.backtest.summary/v1" || s.Run.Advisor != "baseline" || !s.Run.Audit || s.Run.Candles < 19*24-5 || s.Decisions.Cycles != s.Run.Candles {
		t.Errorf("summary = %+v", s)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil || !strings.Contains(string(page), "<svg") {
		t.Errorf("report.html missing or without its SVG charts (err %v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "audit.db")); err != nil {
		t.Errorf("audit.db: %v", err)
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

func TestBacktestWalkForward(t *testing.T) {
	code, out, errOut := run(t, "", "backtest", "--quiet", "--symbols", "BTC/USDT", "--from", "2020-01-01", "--to", "2021-01-01",
		"--every", "day", "--walk-forward", "--min-trades", "1", "--out", t.TempDir())
	if code != 0 || !strings.Contains(out, "walk-forward (2 test windows)") {
		t.Errorf("backtest --walk-forward: exit %d\n%s\n%s", code, out, errOut)
	}
}
