package main

import (
	"encoding/json"
	"os"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasAnExample walks the whole command tree.
func TestEveryCommandHasAnExample(t *testing.T) {
	root := newRootCmd(&app{})
	n := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" || strings.HasPrefix(c.CommandPath(), "warden completion") {
			return
		}
		n++
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no example in its help (set Example, or add it to examples in commands.go)", c.CommandPath())
		} else if !strings.Contains(c.Example, "warden") {
			t.Errorf("%q: example %q does not show a warden command line", c.CommandPath(), c.Example)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 25 {
		t.Fatalf("walked %d commands; the tree has more than 25", n)
	}
	for path := range examples {
		found := false
		var find func(c *cobra.Command)
		find = func(c *cobra.Command) {
			if c.CommandPath() == path {
				found = true
			}
			for _, s := range c.Commands() {
				find(s)
			}
		}
		find(root)
		if !found {
			t.Errorf("examples has %q, which is no command", path)
		}
	}
	code, out, _ := runMain(t, "status", "--help")
	if code != 0 || !strings.Contains(out, "Examples:\n  warden status") {
		t.Errorf("status --help = %d, no Examples section:\n%s", code, out)
	}
}

func TestUnknownNamesSuggest(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"stauts"}, `unknown command "stauts" for "warden" (did you mean status?)`},
		{[]string{"audit", "lsit"}, `unknown command "lsit" for "warden audit" (did you mean list?)`},
		{[]string{"config", "chek", "x.yaml"}, `(did you mean check?)`},
		{[]string{"review", "--sinse", "7d"}, "unknown flag: --sinse (did you mean --since?)"},
		{[]string{"run", "--onse"}, "(did you mean --once?)"},
		{[]string{"status", "--nothingnear"}, "unknown flag: --nothingnear"},
	} {
		code, out, errOut := runMain(t, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("warden %v = exit %d, stderr %q; want exit 2 and %q\n%s", c.args, code, errOut, c.want, out)
		}
	}
	if _, _, errOut := runMain(t, "status", "--nothingnear"); strings.Contains(errOut, "did you mean") {
		t.Errorf("a flag near nothing got a suggestion: %s", errOut)
	}
	if code, out, _ := runMain(t, "audit"); code != 0 || !strings.Contains(out, "Available Commands") {
		t.Errorf("warden audit (no subcommand) = %d; want its help\n%s", code, out)
	}
}

func TestVersion(t *testing.T) {
	code, out, errOut := runMain(t, "version")
	if code != 0 || !strings.Contains(out, "go      "+goruntime.Version()) || !strings.Contains(out, "module  github.com/warden-trading/warden") {
		t.Fatalf("version = %d:\n%s\n%s", code, out, errOut)
	}
	v := readVersion()
	if v.CCXT != "unknown" && !strings.HasPrefix(v.CCXT, "v4.") {
		t.Errorf("ccxt version %q; want v4.x from the build info", v.CCXT)
	}
	t.Logf("%s", out)
}

// TestConfigInitIsAccepted: the example config init writes runs through
// config check, and init never overwrites a file without --force.
func TestConfigInitIsAccepted(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, out, errOut := runMain(t, "config", "init"); code != 0 || !strings.Contains(out, "wrote warden.yaml") {
		t.Fatalf("config init = %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := runMain(t, "config", "check", "warden.yaml")
	if code != 0 || !strings.Contains(out, "warden.yaml: ok") {
		t.Fatalf("config check of the example = %d\n%s\n%s", code, out, errOut)
	}
	if fi, err := os.Stat("warden.yaml"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("warden.yaml mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	os.WriteFile("warden.yaml", []byte("mode: paper\n"), 0o600)
	if code, _, errOut := runMain(t, "config", "init"); code != 2 || !strings.Contains(errOut, "exists") {
		t.Errorf("config init over a file = %d (%s); want 2, nothing written", code, errOut)
	}
	if b, _ := os.ReadFile("warden.yaml"); string(b) != "mode: paper\n" {
		t.Errorf("config init changed an existing file")
	}
	if code, _, _ := runMain(t, "config", "init", "--force"); code != 0 {
		t.Errorf("config init --force = %d", code)
	}
	// Every default the example states is the default: parsed, it is
	// exactly the built-in configuration.
	got, err := loadConfig("warden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def, _ := loadConfig("")
	got.DB, def.DB = "", ""
	if gj, dj := mustJSON(t, got), mustJSON(t, def); gj != dj {
		t.Errorf("the example's values differ from the defaults:\nexample  %s\ndefaults %s", gj, dj)
	}
	code, out, _ = runMain(t, "config", "init", "--out", "-")
	if code != 0 || out != exampleConfig {
		t.Errorf("config init --out - = %d, printed %d bytes; want the example", code, len(out))
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestValidateStateFromStdin: --state - reads the state from stdin, with
// the same verdict as from the file; both from stdin is a usage error.
func TestValidateStateFromStdin(t *testing.T) {
	state, err := os.ReadFile(exampleState)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, string(state), "validate", "--state", "-", exampleRec)
	codeF, outF, _ := run(t, "", "validate", "--state", exampleState, exampleRec)
	if code != 0 || code != codeF || out != outF {
		t.Fatalf("validate --state - = %d; from the file %d; outputs equal %v\n%s", code, codeF, out == outF, errOut)
	}
	if code, _, errOut := run(t, string(state), "validate", "--state", "-", "-"); code != 2 || !strings.Contains(errOut, "both read stdin") {
		t.Errorf("both from stdin = %d (%s); want 2", code, errOut)
	}
	if code, _, errOut := run(t, "{", "validate", "--state", "-", exampleRec); code != 2 || !strings.Contains(errOut, "state - is not valid") {
		t.Errorf("a broken state on stdin = %d (%s); want 2", code, errOut)
	}
}
