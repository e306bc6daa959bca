package policy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRunTestsFormats covers state files, inline states and responses, a
// failing case's report and unusable test files.
func TestRunTestsFormats(t *testing.T) {
	dir := t.TempDir()
	st, err := os.ReadFile("testdata/state.example.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), st, 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err := os.ReadFile("testdata/recommendation.example.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := "state_file: state.json\ncases:\n" +
		"  - name: response as a JSON string\n    response: '" + strings.ReplaceAll(string(rec), "\n", " ") + "'\n" +
		"    expect: [{decision: approved}, {decision: no_action}]\n" +
		"  - name: per-case state file with a patch\n    state_file: state.json\n    state_patch: {kill_switch: true}\n" +
		"    response: '" + strings.ReplaceAll(string(rec), "\n", " ") + "'\n" +
		"    expect: [{decision: rejected, violations: [limit_kill_switch]}, {decision: no_action}]\n" +
		"  - name: a wrong expectation\n    response: '" + strings.ReplaceAll(string(rec), "\n", " ") + "'\n" +
		"    expect: [{decision: rejected, violations: [max_position]}, {decision: no_action}]\n"
	name := filepath.Join(dir, "x_test.yaml")
	var out bytes.Buffer
	sum, err := RunTests(context.Background(), &out, mustDefault(t), []byte(tests), name)
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	if sum.Passed != 2 || sum.Failed != 1 || sum.Failures[0] != "a wrong expectation" {
		t.Errorf("RunTests = %+v; want 2 passed and the wrong expectation failed\n%s", sum, out.String())
	}
	for _, want := range []string{
		"PASS: " + name + ":3: response as a JSON string",
		"FAIL: " + name + ":11: a wrong expectation",
		"verdict 0 (buy BTC/USDT): decision = approved; want rejected",
		"violations = []; want [max_position]",
		"PASS: 2/3\nFAIL: 1/3\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	for _, bad := range []struct{ name, src, want string }{
		{"empty", "", "empty test file"},
		{"unknown key", "cases:\n  - name: a\n    expekt: []\n", name + `:3: case "a": unknown key "expekt" (known: expect, lenient_state, name, recommendations, response, schema_error, state, state_file, state_patch)`},
		{"unknown top-level key", "stat: {}\ncases:\n  - name: a\n    response: '{}'\n    schema_error: true\n", name + `:1: unknown key "stat" (known: cases, limits, recommendation, state, state_file)`},
		{"unknown key in an expectation", "cases:\n  - name: a\n    response: '{}'\n    expect:\n      - decision: approved\n        violation: [x]\n", name + `:6: case "a": unknown key "violation" (known: decision, violations, warnings)`},
		{"no cases", "state: {}\n", "no cases"},
		{"no name", "cases:\n  - response: '{}'\n    schema_error: true\n", name + ":2: case 1 has no name"},
		{"both inputs", "cases:\n  - name: a\n    response: '{}'\n    recommendations: [{}]\n    schema_error: true\n", "exactly one of response and recommendations"},
		{"bad decision", "cases:\n  - name: a\n    response: '{}'\n    expect: [{decision: maybe}]\n", "is not approved, rejected or no_action"},
		{"rejected without violations", "cases:\n  - name: a\n    response: '{}'\n    expect: [{decision: rejected}]\n", "lists no violations"},
		{"missing state file", "state_file: nope.json\ncases:\n  - name: a\n    response: '{}'\n    schema_error: true\n", "state_file"},
		{"duplicate case", "cases:\n  - name: a\n    response: '{}'\n    schema_error: true\n  - name: a\n    response: '{}'\n    schema_error: true\n", ":5: duplicate case name \"a\" (first on line 2)"},
		{"duplicate key in a case", "cases:\n  - name: a\n    response: '{}'\n    schema_error: true\n    response: '[]'\n", name + ":5: duplicate key \"response\" (first given on line 3)"},
		{"duplicate key in a state patch", "cases:\n  - name: a\n    state_patch: {account: {equity: 1, equity: 2}}\n    response: '{}'\n    schema_error: true\n", name + ":3: duplicate key \"equity\""},
		{"duplicate top-level key", "state: {}\nstate: {}\ncases: []\n", name + ":2: duplicate key \"state\" (first given on line 1)"},
	} {
		_, err := RunTests(context.Background(), &bytes.Buffer{}, mustDefault(t), []byte(bad.src), name)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("RunTests(%s) error = %v; want %q", bad.name, err, bad.want)
		}
	}
}

// TestRunTestsOptions: without Verbose only failures and the summary are
// printed; Run picks cases by name; an unmatched Run is an error.
func TestRunTestsOptions(t *testing.T) {
	p := mustDefault(t)
	src := DefaultTestsSource()
	var out bytes.Buffer
	sum, err := RunTestsWith(context.Background(), &out, p, src, "t.yaml", TestOptions{})
	if err != nil || sum.Failed != 0 || sum.Passed == 0 {
		t.Fatalf("RunTestsWith(quiet) = %+v, %v", sum, err)
	}
	if strings.Contains(out.String(), "PASS: t.yaml:") || !strings.Contains(out.String(), fmt.Sprintf("PASS: %d/%d\n", sum.Passed, sum.Passed)) {
		t.Errorf("quiet output = %q; want only the summary", out.String())
	}
	if got := sum.CoveragePct(); got != 100 {
		t.Errorf("CoveragePct = %v (uncovered %v); want 100", got, sum.Uncovered())
	}

	out.Reset()
	sum, err = RunTestsWith(context.Background(), &out, p, src, "t.yaml", TestOptions{Verbose: true, Run: regexp.MustCompile("^max_position")})
	if err != nil || sum.Passed < 2 || sum.Skipped == 0 || sum.Passed+sum.Skipped < 40 {
		t.Fatalf("RunTestsWith(--run ^max_position) = %+v, %v", sum, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(line, "PASS: t.yaml:") && !strings.Contains(line, ": max_position") {
			t.Errorf("--run ^max_position ran %q", line)
		}
	}
	if !strings.Contains(out.String(), "SKIPPED: ") {
		t.Errorf("output lacks the skipped count:\n%s", out.String())
	}
	// Coverage counts the selected cases only.
	if sum.CoveragePct() == 100 {
		t.Errorf("coverage of the max_position cases alone = 100%%; want less")
	}
	if _, err := RunTestsWith(context.Background(), &out, p, src, "t.yaml", TestOptions{Run: regexp.MustCompile("no such case")}); err == nil || !strings.Contains(err.Error(), "no case name matches") {
		t.Errorf("unmatched --run error = %v; want no case name matches", err)
	}
}
