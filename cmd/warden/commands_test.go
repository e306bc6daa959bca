package main

import (
	"encoding/json"
	"os"
	"regexp"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
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

// TestStatusLimits: a figure at its limit is within it, one step past it
// is over; scaled caps are scaled; a param the policy lacks says so.
func TestStatusLimits(t *testing.T) {
	pol, err := loadPolicy("")
	if err != nil {
		t.Fatal(err)
	}
	params := policyParams(pol.Source())
	d := decimal.RequireFromString
	one, half := d("1"), d("0.5")
	for _, c := range []struct {
		param, value string
		scale        decimal.Decimal
		scaled, over bool
		text         string
	}{
		{"max_day_loss_pct", "3", one, false, false, "3.00 % of 3 %"},
		{"max_day_loss_pct", "3.0001", one, false, true, "3.00 % of 3 %  OVER: buys are refused"},
		{"max_drawdown_pct", "10", half, false, false, "10.00 % of 10 %"},
		{"max_position_pct", "1", half, true, false, "1.00 % of 1 % (max_position_pct × 0.5 at this level)"},
		{"max_position_pct", "1.0001", half, true, true, "1.00 % of 1 % (max_position_pct × 0.5 at this level)  OVER: buys are refused"},
		{"max_exposure_pct", "30", one, true, false, "30.00 % of 30 %"},
		{"no_such_param", "5", one, false, false, "5.00 % (the policy has no no_such_param)"},
	} {
		l := makeLimit("x", c.param, d(c.value), "%", c.scaled, params, c.scale)
		if l.Over != c.over || limitText(l, c.scale) != c.text {
			t.Errorf("%s = %s at scale %s: over %v, %q; want over %v, %q", c.param, c.value, c.scale, l.Over, limitText(l, c.scale), c.over, c.text)
		}
	}
	if l := makeLimit("open positions", "max_open_positions", d("3"), "", false, params, one); l.Over || limitText(l, one) != "3 of 3" {
		t.Errorf("3 open positions of 3: %q over %v", limitText(l, one), l.Over)
	}
	if l := makeLimit("open positions", "max_open_positions", d("4"), "", false, params, one); !l.Over {
		t.Errorf("4 open positions of 3 is not over")
	}
}

// TestStatusUnderTheKillSwitch: a kill from another process shows in the
// next status, with who and why; a missing database is refused and not
// created; a database whose only run failed shows the untouched account.
func TestStatusUnderTheKillSwitch(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, out, errOut := runMain(t, "run", "--once"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := runMain(t, "kill", "--reason", "news event"); code != 0 {
		t.Fatalf("kill = %d: %s", code, errOut)
	}
	code, out, errOut := runMain(t, "status")
	if code != 0 || !strings.Contains(out, "kill switch   ON: nothing can be placed") || !strings.Contains(out, "by operator: news event") {
		t.Fatalf("status after kill = %d\n%s\n%s", code, out, errOut)
	}
	var js struct {
		KillSwitch struct {
			On     bool   `json:"on"`
			Reason string `json:"reason"`
		} `json:"kill_switch"`
	}
	_, out, _ = runMain(t, "status", "--json")
	if err := json.Unmarshal([]byte(out), &js); err != nil || !js.KillSwitch.On || js.KillSwitch.Reason != "news event" {
		t.Fatalf("status --json kill switch = %+v, %v\n%s", js.KillSwitch, err, out)
	}
	if code, _, errOut := runMain(t, "status", "--db", "missing.db"); code != 2 || !strings.Contains(errOut, "no such database file") {
		t.Errorf("status of a missing database = %d: %s; want 2", code, errOut)
	}
	if _, err := os.Stat("missing.db"); !os.IsNotExist(err) {
		t.Errorf("status created missing.db")
	}
	// A database with runs that never decided (every model call failed).
	t.Chdir(t.TempDir())
	url, _ := fakeModel(t, 500, "500_server_error.json")
	failingModelConfig(t, url)
	runMain(t, "run", "--once", "--config", "warden.yaml")
	code, out, _ = runMain(t, "status", "--config", "warden.yaml")
	// The paper account is saved after a failed cycle too: it shows, untouched.
	if code != 0 || !strings.Contains(out, "equity        10000.00 USDT") || !strings.Contains(out, "last run      r-") || !strings.Contains(out, "failed at") {
		t.Errorf("status with only a failed run = %d\n%s", code, out)
	}
	for _, cmd := range []string{"trades", "profit", "review"} {
		if code, out, errOut := runMain(t, cmd, "--config", "warden.yaml"); code != 0 {
			t.Errorf("%s with no fill = %d\n%s\n%s", cmd, code, out, errOut)
		}
	}
}

// TestValidateUndefinedDayLossAndDrawdown: a state whose day-start or peak
// equity is 0 leaves the day loss or the drawdown undefined: the buy is
// rejected (fail closed) and the rule says why, not "NaN%".
func TestValidateUndefinedDayLossAndDrawdown(t *testing.T) {
	state, err := os.ReadFile(exampleState)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ field, want string }{
		{"day_start_equity", "the day loss cannot be computed (day-start equity is not positive)"},
		{"peak_equity", "the drawdown cannot be computed (peak equity is not positive)"},
	} {
		re := regexp.MustCompile(`"` + c.field + `": [0-9.]+`)
		if !re.Match(state) {
			t.Fatalf("%s not in %s", c.field, exampleState)
		}
		st := re.ReplaceAll(state, []byte(`"`+c.field+`": 0`))
		code, out, errOut := run(t, string(st), "validate", "--state", "-", exampleRec)
		if code != 1 || !strings.Contains(out, c.want) || strings.Contains(out, "NaN") {
			t.Errorf("%s 0: validate = %d; want 1 and %q, no NaN\n%s\n%s", c.field, code, c.want, out, errOut)
		}
	}
}
