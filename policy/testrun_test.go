package policy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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
		"PASS: " + name + ": response as a JSON string",
		"FAIL: " + name + ": a wrong expectation",
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
		{"unknown key", "cases:\n  - name: a\n    expekt: []\n", "field expekt not found"},
		{"no cases", "state: {}\n", "no cases"},
		{"no name", "cases:\n  - response: '{}'\n    schema_error: true\n", "has no name"},
		{"both inputs", "cases:\n  - name: a\n    response: '{}'\n    recommendations: [{}]\n    schema_error: true\n", "exactly one of response and recommendations"},
		{"bad decision", "cases:\n  - name: a\n    response: '{}'\n    expect: [{decision: maybe}]\n", "is not approved, rejected or no_action"},
		{"rejected without violations", "cases:\n  - name: a\n    response: '{}'\n    expect: [{decision: rejected}]\n", "lists no violations"},
		{"missing state file", "state_file: nope.json\ncases:\n  - name: a\n    response: '{}'\n    schema_error: true\n", "state_file"},
		{"duplicate case", "cases:\n  - name: a\n    response: '{}'\n    schema_error: true\n  - name: a\n    response: '{}'\n    schema_error: true\n", "duplicate case name"},
	} {
		_, err := RunTests(context.Background(), &bytes.Buffer{}, mustDefault(t), []byte(bad.src), name)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("RunTests(%s) error = %v; want %q", bad.name, err, bad.want)
		}
	}
}
