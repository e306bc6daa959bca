package main

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// recordReplayDB records two runs judged by the default policy into a new
// database: run-1 a BTC buy of 1.5% of equity (approved; over a 1% cap),
// run-2 a BTC buy of 0.5% (approved either way).
func recordReplayDB(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	raw, err := os.ReadFile(exampleState)
	if err != nil {
		t.Fatal(err)
	}
	st, err := schemas.ParseState(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	v := policy.NewValidator(p, policy.Limits{})
	path := filepath.Join(t.TempDir(), "warden.db")
	s, err := audit.Open(ctx, path, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := func(s string) *decimal.Decimal { x := decimal.RequireFromString(s); return &x }
	for i, pct := range []string{"1.5", "0.5"} {
		run := []string{"run-1", "run-2"}[i]
		st.Now = time.Date(2024, 1, 10, 12+i, 0, 0, 0, time.UTC)
		resp := schemas.Response{Rationale: "r", Recommendations: []schemas.Recommendation{{
			Symbol: "BTC/USDT", Action: schemas.ActionBuy, Confidence: decimal.RequireFromString("0.62"),
			SizePct: decimal.RequireFromString(pct), OrderType: schemas.OrderLimit,
			LimitPrice: d("42010.5"), StopLoss: d("41200"), Reason: "breakout",
		}}}
		body, _ := json.Marshal(resp)
		if err := s.BeginRun(ctx, audit.Run{ID: run, StartedAt: st.Now, Mode: "paper", Advisor: "test", PolicyHash: p.Hash()}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordResponse(ctx, run, body, &resp, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordVerdicts(ctx, run, p.Hash(), st, v.Validate(resp, st)); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// writePolicy writes the default policy with old replaced by new.
func writePolicy(t *testing.T, name, old, new string) string {
	t.Helper()
	src := string(policy.DefaultSource())
	if !strings.Contains(src, old) {
		t.Fatalf("default policy has no %q", old)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(strings.Replace(src, old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPolicyReplayCmd(t *testing.T) {
	db := recordReplayDB(t)
	tight := writePolicy(t, "tight.yaml", "max_position_pct: 2 ", "max_position_pct: 1 ")
	same := writePolicy(t, "same.yaml", "name: warden-default", "name: warden-default")

	code, out, errOut := run(t, "", "policy", "replay", "--policy", tight, "--db", db)
	if code != 0 {
		t.Fatalf("policy replay exit = %d; want 0\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	for _, want := range []string{
		"2 decisions: 1 unchanged, 1 approved→rejected, 0 rejected→approved, 0 rules changed",
		"run-1:0 buy BTC/USDT: approved → rejected\n  + max_position: position in BTC/USDT after the buy would be 1.50% of equity, over 1%",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("policy replay output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "run-2:0") {
		t.Errorf("policy replay reports the unchanged run-2:0:\n%s", out)
	}

	code, out, _ = run(t, "", "policy", "replay", "--policy", tight, "--db", db, "--json")
	var rep struct {
		Totals  struct{ Decisions, Unchanged, ApprovedToRejected int } `json:"totals"`
		Changes []struct {
			DecisionID   string                           `json:"decision_id"`
			NewlyFailing []struct{ Rule, Message string } `json:"newly_failing"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil {
		t.Fatalf("policy replay --json = %d, %v:\n%s", code, err, out)
	}
	if len(rep.Changes) != 1 || rep.Changes[0].DecisionID != "run-1:0" || rep.Changes[0].NewlyFailing[0].Rule != "max_position" || rep.Totals.Decisions != 2 {
		t.Errorf("policy replay --json = %+v; want only run-1:0 flipped by max_position", rep)
	}

	code, out, _ = run(t, "", "policy", "replay", "--policy", same, "--db", db)
	if code != 0 || !strings.Contains(out, "no decision would change") {
		t.Errorf("policy replay (same rules) = %d:\n%s", code, out)
	}
	// --since after run-1 leaves only run-2, which does not change.
	code, out, _ = run(t, "", "policy", "replay", "--policy", tight, "--db", db, "--since", "2024-01-10T12:30:00Z")
	if code != 0 || !strings.Contains(out, "1 decisions: 1 unchanged") {
		t.Errorf("policy replay --since = %d:\n%s", code, out)
	}
	// A max notional under run-1's 150 USDT flips it by the hard limit.
	code, out, _ = run(t, "", "policy", "replay", "--policy", same, "--db", db, "--max-notional", "120")
	if code != 0 || !strings.Contains(out, "+ limit_max_order_notional:") {
		t.Errorf("policy replay --max-notional 120 = %d:\n%s", code, out)
	}
}

func TestPolicyReplayCmdUnusable(t *testing.T) {
	db := recordReplayDB(t)
	good := writePolicy(t, "good.yaml", "name: warden-default", "name: warden-default")
	nonBool := writePolicy(t, "nonbool.yaml",
		"expr: account.position_pct_after <= scaled(params.max_position_pct, system.risk_scale)",
		"expr: account.position_notional_after + 1.0")
	missingDB := filepath.Join(t.TempDir(), "nope.db")

	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no policy", []string{"--db", db}, "--policy is required"},
		{"policy file missing", []string{"--policy", filepath.Join(t.TempDir(), "x.yaml"), "--db", db}, "no such file"},
		{"non-bool rule", []string{"--policy", nonBool, "--db", db}, "nonbool.yaml:"},
		{"missing db", []string{"--policy", good, "--db", missingDB}, "does not exist"},
		{"bad since", []string{"--policy", good, "--db", db, "--since", "yesterday"}, "--since"},
		{"bad max notional", []string{"--policy", good, "--db", db, "--max-notional", "-5"}, "--max-notional"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, "", append([]string{"policy", "replay"}, tt.args...)...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Errorf("policy replay %v = %d, stderr %q; want 2 and %q\nstdout: %s", tt.args, code, errOut, tt.want, out)
			}
		})
	}
	// The non-bool error names file, line and rule.
	_, _, errOut := run(t, "", "policy", "replay", "--policy", nonBool, "--db", db)
	if !strings.Contains(errOut, "rule max_position:") || !strings.Contains(errOut, "bool") {
		t.Errorf("non-bool policy error = %q; want file:line: rule max_position: ... bool", errOut)
	}
	if _, err := os.Stat(missingDB); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("policy replay created the missing database %s (stat: %v)", missingDB, err)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"", time.Time{}, false},
		{"72h", now.Add(-72 * time.Hour), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"7d", now.Add(-7 * 24 * time.Hour), false},
		{"2024-01-01T00:00:00Z", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"-1h", time.Time{}, true},
		{"xd", time.Time{}, true},
		{"yesterday", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := parseSince(tt.in, now)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// Replay over decisions recorded by real `warden run --once` cycles (paper
// exchange, baseline advisor, default policy): the same policy changes
// nothing, and a tighter per-symbol cap only ever flips approved buys by
// max_position.
func TestPolicyReplayAfterRealCycles(t *testing.T) {
	t.Chdir(t.TempDir())
	for i := 0; i < 4; i++ {
		if code, out, errOut := runMain(t, "run", "--once"); code != 0 {
			t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
		}
	}
	if code, _, errOut := runMain(t, "policy", "init"); code != 0 {
		t.Fatalf("policy init = %d: %s", code, errOut)
	}
	code, out, errOut := runMain(t, "policy", "replay", "--policy", "policy.yaml")
	if code != 0 || !strings.Contains(out, "no decision would change") || strings.Contains(out, " 0 decisions") {
		t.Fatalf("policy replay (same policy) = %d:\n%s\n%s", code, out, errOut)
	}

	src, err := os.ReadFile("policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("tight.yaml", []byte(strings.Replace(string(src), "max_position_pct: 2 ", "max_position_pct: 0.5 ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runMain(t, "policy", "replay", "--policy", "tight.yaml", "--json")
	var rep struct {
		Totals  struct{ Decisions, ApprovedToRejected int } `json:"totals"`
		Changes []struct {
			DecisionID      string                  `json:"decision_id"`
			Action          string                  `json:"action"`
			Kind            string                  `json:"kind"`
			NewlyFailing    []struct{ Rule string } `json:"newly_failing"`
			NoLongerFailing []struct{ Rule string } `json:"no_longer_failing"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil {
		t.Fatalf("policy replay --json = %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if len(rep.Changes) == 0 {
		t.Fatalf("no change under a 0.5%% cap; the baseline's 1.5%% buys should flip:\n%s", out)
	}
	for _, c := range rep.Changes {
		if c.Kind != "approved_to_rejected" || c.Action != "buy" || len(c.NewlyFailing) != 1 || c.NewlyFailing[0].Rule != "max_position" || len(c.NoLongerFailing) != 0 {
			t.Errorf("change %+v; want an approved buy rejected by max_position only", c)
		}
	}
}

// TestPolicyReplaySinceOnTheHistoryClock: on the offline replay's database
// (candle times of 2022) `--since 2h` means the last two hours of that
// history, as for the audit commands, with a note saying so; it counted
// back from the wall clock and found nothing.
func TestPolicyReplaySinceOnTheHistoryClock(t *testing.T) {
	t.Chdir(t.TempDir())
	for i := 0; i < 4; i++ {
		if code, out, errOut := runMain(t, "run", "--once"); code != 0 {
			t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
		}
	}
	if code, _, errOut := runMain(t, "policy", "init", "--out", "p.yaml"); code != 0 {
		t.Fatal(errOut)
	}
	code, out, errOut := runMain(t, "policy", "replay", "--policy", "p.yaml", "--since", "2h")
	if code != 0 || !strings.Contains(out, "since 2022-06-01T01:00:00Z") || strings.Contains(out, "\n0 decisions") || !strings.Contains(errOut, "counts back from the last run's decision time") {
		t.Fatalf("policy replay --since 2h on the offline replay = %d\n%s\n%s; want the decisions of 01:00 on, and the note", code, out, errOut)
	}
}
