package policy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnknownKeysNamedPlainly: a key a policy or tests file does not know
// is refused as file:line: unknown key "K" (known: ...), in the rule or
// case it is in, never with the Go type it was decoded into.
func TestUnknownKeysNamedPlainly(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		t.Helper()
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	for _, tc := range []struct{ src, want string }{
		{"name: p\nparams: {}\nrules:\n  - name: r1\n    description: d\n    expr: \"false\"\n    enabled: false\n",
			`p.yaml:7: rule r1: unknown key "enabled" (known: description, expr, message, message_fallback, mode, name, when)`},
		{"name: p\na: 1\nrules:\n  - name: r1\n    description: d\n    expr: \"true\"\n",
			`p.yaml:2: unknown key "a" (known: description, name, params, rules)`},
	} {
		file := write("p.yaml", tc.src)
		_, err := LoadFile(file)
		if err == nil || !strings.Contains(err.Error(), strings.Replace(tc.want, "p.yaml", file, 1)) || strings.Contains(err.Error(), "policy.") {
			t.Errorf("LoadFile(%q) = %v; want %q", tc.src, err, tc.want)
		}
	}

	// A tests file: the default tests with a key added to a case deep in
	// the file.
	tests := string(DefaultTestsSource())
	i := strings.LastIndex(tests, "\n  - name: ")
	if i < 0 {
		t.Fatal("no case in the default tests")
	}
	line := strings.Count(tests[:i+1], "\n") + 1 // the last case's name line
	caseName, _, _ := strings.Cut(tests[i+len("\n  - name: "):], "\n")
	src := tests[:i] + strings.Replace(tests[i:], "\n  - name: "+caseName+"\n", "\n  - name: "+caseName+"\n    skip: true\n", 1)
	file := write("p_test.yaml", src)
	_, err := RunTests(context.Background(), &bytes.Buffer{}, mustDefault(t), []byte(src), file)
	want := fmt.Sprintf("%s:%d: case %q: ", file, line+1, caseName) + `unknown key "skip" (known: expect, lenient_state, name, recommendations, response, schema_error, state, state_file, state_patch)`
	if err == nil || err.Error() != want {
		t.Errorf("RunTests(a case with skip) = %v; want %s", err, want)
	}
}
