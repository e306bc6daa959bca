package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// onlyBTC is the contract example without its ETH hold.
func onlyBTC(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(exampleRec)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	recs := doc["recommendations"].([]any)
	doc["recommendations"] = recs[:1]
	out, _ := json.Marshal(doc)
	return writeFile(t, t.TempDir(), "only-btc.json", string(out))
}

// TestValidateUniverse: a universe symbol left out is a named warning; the
// universe is the policy's allowed_symbols unless --universe says otherwise;
// warnings never change the exit status.
func TestValidateUniverse(t *testing.T) {
	resp := onlyBTC(t)
	type out struct {
		Warnings []schemas.Violation `json:"warnings"`
		Verdicts []schemas.Verdict   `json:"verdicts"`
	}
	tests := []struct {
		name string
		args []string
		want []string // symbols named by universe_missing warnings
	}{
		{"default: the policy's allowed_symbols", nil, []string{"ETH/USDT"}},
		{"--universe", []string{"--universe", "BTC/USDT,ETH/USDT,SOL/USDT"}, []string{"ETH/USDT", "SOL/USDT"}},
		{"--universe covered", []string{"--universe", "BTC/USDT"}, nil},
		{"--universe= turns it off", []string{"--universe="}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"validate", "--state", exampleState}, tc.args...)
			code, stdout, errOut := run(t, "", append(args, resp)...)
			if code != 0 {
				t.Fatalf("validate = %d; want 0 (a warning rejects nothing)\n%s%s", code, stdout, errOut)
			}
			var o out
			if err := json.Unmarshal([]byte(stdout), &o); err != nil {
				t.Fatal(err)
			}
			if len(o.Warnings) != len(tc.want) {
				t.Fatalf("warnings = %+v; want %v", o.Warnings, tc.want)
			}
			for i, sym := range tc.want {
				w := o.Warnings[i]
				if w.Rule != policy.RuleUniverseMissing || w.Source != schemas.SourceResponse || !strings.Contains(w.Message, "no recommendation for "+sym) {
					t.Errorf("warning %d = %+v; want universe_missing for %s", i, w, sym)
				}
			}
		})
	}
	if code, _, errOut := run(t, "", "validate", "--state", exampleState, "--universe", "btc", resp); code != 2 || !strings.Contains(errOut, `"btc" is not a symbol`) {
		t.Errorf("validate --universe btc = %d (%s); want 2", code, errOut)
	}
}

// TestValidateOnePerSymbol: a second recommendation for a symbol is
// rejected by name, exit 1.
func TestValidateOnePerSymbol(t *testing.T) {
	raw, err := os.ReadFile(exampleRec)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.Unmarshal(raw, &doc)
	recs := doc["recommendations"].([]any)
	doc["recommendations"] = []any{recs[0], recs[1], recs[0]}
	b, _ := json.Marshal(doc)
	code, stdout, _ := run(t, string(b), "validate", "--state", exampleState, "-")
	v := decodeValidate(t, stdout)
	if code != 1 || len(v.Verdicts) != 3 || v.Verdicts[0].Decision != "approved" || v.Verdicts[2].Decision != "rejected" ||
		len(v.Verdicts[2].Violations) != 1 || v.Verdicts[2].Violations[0].Rule != "one_per_symbol" {
		t.Errorf("validate [BTC buy, ETH hold, BTC buy] = %d %+v; want 1 and the second BTC buy rejected by one_per_symbol", code, v.Verdicts)
	}
}

// TestPolicyTestFlags: failures name FILE:LINE, -v prints every case,
// --run picks cases, --coverage-min fails the run below the minimum, and a
// duplicate key is a usage error with its line.
func TestPolicyTestFlags(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "policy.yaml")
	tf := filepath.Join(dir, "policy_test.yaml")
	if code, out, errOut := run(t, "", "policy", "init", "--out", pf); code != 0 {
		t.Fatalf("policy init = %d\n%s%s", code, out, errOut)
	}
	code, out, _ := run(t, "", "policy", "test", tf)
	if code != 0 || strings.Contains(out, "PASS: "+tf+":") || !strings.Contains(out, "PASS: ") {
		t.Errorf("policy test (quiet) = %d; want 0 and only the summary\n%s", code, out)
	}
	code, out, _ = run(t, "", "policy", "test", tf, "-v")
	if code != 0 || !strings.Contains(out, "PASS: "+tf+":") {
		t.Errorf("policy test -v = %d; want every case as PASS: FILE:LINE\n%s", code, out)
	}
	code, out, _ = run(t, "", "policy", "test", tf, "-v", "--run", "^day_loss")
	if code != 0 || !strings.Contains(out, ": day_loss - ") || strings.Contains(out, ": max_position - ") || !strings.Contains(out, "SKIPPED: ") {
		t.Errorf("policy test --run ^day_loss = %d; want only the day_loss cases\n%s", code, out)
	}
	if code, _, errOut := run(t, "", "policy", "test", tf, "--run", "^nothing matches$"); code != 2 || !strings.Contains(errOut, "no case name matches") {
		t.Errorf("policy test --run (no match) = %d (%s); want 2", code, errOut)
	}
	if code, _, errOut := run(t, "", "policy", "test", tf, "--run", "("); code != 2 || !strings.Contains(errOut, "--run") {
		t.Errorf("policy test --run ( = %d (%s); want 2", code, errOut)
	}
	code, out, _ = run(t, "", "policy", "test", tf, "--coverage", "--coverage-min", "100")
	if code != 0 || !strings.Contains(out, "coverage: 100.0% (23 of 23 rules tripped and passed)") {
		t.Errorf("policy test --coverage-min 100 = %d; want 0 and 100%%\n%s", code, out)
	}
	// The day_loss cases alone do not cover every rule.
	code, out, _ = run(t, "", "policy", "test", tf, "--run", "^day_loss", "--coverage-min", "100")
	if code != 1 || !strings.Contains(out, "below --coverage-min 100%") {
		t.Errorf("policy test --run ^day_loss --coverage-min 100 = %d; want 1 and the coverage failure\n%s", code, out)
	}
	code, out, _ = run(t, "", "policy", "test", tf, "--run", "^day_loss", "--coverage-min", "4")
	if code != 0 {
		t.Errorf("policy test --run ^day_loss --coverage-min 4 = %d; want 0\n%s", code, out)
	}

	// The README walk-through: max_position_pct 1 breaks the shipped cases
	// that buy 1% on top of 1% and 2% at once, named with their lines.
	src, _ := os.ReadFile(pf)
	writeFile(t, dir, "policy.yaml", strings.Replace(string(src), "max_position_pct: 2 ", "max_position_pct: 1 ", 1))
	code, out, _ = run(t, "", "policy", "test", tf)
	for _, want := range []string{
		"FAIL: " + tf + ":",
		": max_position - a 2% buy reaches the cap and is approved (",
		"violations = [max_position]; want []",
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("policy test with max_position_pct 1 = %d; want 1 and %q\n%s", code, want, out)
		}
	}

	// Duplicate keys: in the tests file, a usage error with the line; in
	// the policy, a load error with the line.
	tests, _ := os.ReadFile(tf)
	dup := strings.Replace(string(tests), "  safe_mode: false\n", "  safe_mode: false\n  safe_mode: true\n", 1)
	writeFile(t, dir, "dup_test.yaml", dup)
	if code, _, errOut := run(t, "", "policy", "test", filepath.Join(dir, "dup_test.yaml"), "--policy", pf); code != 2 || !strings.Contains(errOut, `dup_test.yaml:`) || !strings.Contains(errOut, `duplicate key "safe_mode"`) {
		t.Errorf("policy test with a duplicate key = %d (%s); want 2 and file:line", code, errOut)
	}
	dupPolicy := writeFile(t, dir, "dup.yaml", strings.Replace(string(src), "  max_spread_bps: 20\n", "  max_spread_bps: 20\n  max_spread_bps: 200\n", 1))
	if code, out, _ := run(t, "", "policy", "check", dupPolicy); code != 1 || !strings.Contains(out, dupPolicy+":") || !strings.Contains(out, `duplicate key "max_spread_bps" (first given on line`) {
		t.Errorf("policy check with a duplicate param = %d (%s); want 1 and file:line", code, out)
	}
}

// TestAuditShowRunWarnings: the run-level warnings the agent records in a
// run's end summary are printed by warden audit show, and a rule that was
// not applicable is shown as n/a, not FAIL.
func TestAuditShowRunWarnings(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "warden.db")
	now := time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC)
	st, err := audit.Open(ctx, path, audit.Options{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.BeginRun(ctx, audit.Run{ID: "run-w", Mode: "paper", Advisor: "fixed", PolicyHash: "pol"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordVerdicts(ctx, "run-w", "pol", schemas.State{Now: now, Mode: "paper"}, []schemas.Verdict{{
		Index: 0, Symbol: "PEPE2/USDT", Action: schemas.ActionBuy, Decision: schemas.DecisionRejected,
		Violations: []schemas.Violation{{Rule: "symbol_allowlist", Message: "symbol PEPE2/USDT is not on the allowlist", Source: schemas.SourcePolicy}},
		Rules: []schemas.RuleResult{
			{Name: "symbol_allowlist", Mode: "enforce", Message: "symbol PEPE2/USDT is not on the allowlist"},
			{Name: "max_position", Mode: "enforce", NotApplicable: true, Message: "not applicable: the order could not be sized (sizing_market: ...)"},
		},
	}}); err != nil {
		t.Fatal(err)
	}
	warn := policy.UniverseWarnings(schemas.Response{Recommendations: []schemas.Recommendation{{Symbol: "PEPE2/USDT"}}}, []string{"BTC/USDT", "ETH/USDT"})
	if err := st.EndRun(ctx, "run-w", "ok", map[string]any{"warnings": warn}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out, errOut := runWarden(t, "audit", "show", "run-w", "--db", path)
	for _, want := range []string{
		"warning   universe_missing [response]: the response has no recommendation for BTC/USDT",
		"warning   universe_missing [response]: the response has no recommendation for ETH/USDT",
		"rule      FAIL symbol_allowlist",
		"rule      n/a  max_position (enforce): not applicable: the order could not be sized",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("audit show = %d; want %q in:\n%s%s", code, want, out, errOut)
		}
	}
}
