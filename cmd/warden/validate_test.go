package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	exampleState = "testdata/validate/state.example.json"
	exampleRec   = "testdata/validate/recommendation.example.json"
)

// run calls Main like the binary would and returns the exit code and output.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

type validateOutput struct {
	PolicyHash   string `json:"policy_hash"`
	SchemaErrors []struct {
		Rule, Message, Pointer string
	} `json:"schema_errors"`
	Verdicts []struct {
		Index    int    `json:"index"`
		Symbol   string `json:"symbol"`
		Decision string `json:"decision"`
		Order    *struct {
			Quantity string `json:"quantity"`
			Price    string `json:"price"`
			Notional string `json:"notional"`
		} `json:"order"`
		Violations []struct {
			Rule, Message, Source string
		} `json:"violations"`
	} `json:"verdicts"`
}

func decodeValidate(t *testing.T, out string) validateOutput {
	t.Helper()
	var v validateOutput
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("validate output is not JSON: %v\n%s", err, out)
	}
	return v
}

// TestValidateContractExample is the Done-when: the BTC buy is
// approved, the ETH hold is no_action, exit 0.
func TestValidateContractExample(t *testing.T) {
	code, out, errOut := run(t, "", "validate", "--state", exampleState, exampleRec)
	if code != 0 {
		t.Fatalf("validate exit = %d; want 0\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	v := decodeValidate(t, out)
	if len(v.PolicyHash) != 64 {
		t.Errorf("policy_hash = %q; want a sha256 hex", v.PolicyHash)
	}
	if len(v.SchemaErrors) != 0 || len(v.Verdicts) != 2 {
		t.Fatalf("schema_errors = %v, verdicts = %d; want none and 2", v.SchemaErrors, len(v.Verdicts))
	}
	btc, eth := v.Verdicts[0], v.Verdicts[1]
	if btc.Symbol != "BTC/USDT" || btc.Decision != "approved" || btc.Order == nil {
		t.Fatalf("verdict 0 = %+v; want BTC/USDT approved with an order", btc)
	}
	if btc.Order.Quantity != "0.00238" || btc.Order.Price != "42010.5" || btc.Order.Notional != "99.98499" {
		t.Errorf("BTC order = %+v; want 0.00238 @ 42010.5 = 99.98499", *btc.Order)
	}
	if eth.Symbol != "ETH/USDT" || eth.Decision != "no_action" || eth.Order != nil {
		t.Errorf("verdict 1 = %+v; want ETH/USDT no_action without an order", eth)
	}
}

func TestValidateStdin(t *testing.T) {
	raw, err := os.ReadFile(exampleRec)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, string(raw), "validate", "--state", exampleState, "-")
	if code != 0 {
		t.Fatalf("validate - exit = %d; want 0\n%s%s", code, out, errOut)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateExitCodes(t *testing.T) {
	dir := t.TempDir()
	rec, err := os.ReadFile(exampleRec)
	if err != nil {
		t.Fatal(err)
	}
	unlisted := writeFile(t, dir, "unlisted.json", strings.Replace(string(rec), `"BTC/USDT"`, `"XRP/USDT"`, 1))
	notJSON := writeFile(t, dir, "bad.json", `{"rationale": "x", "recommendations": []} trailing`)
	dup := writeFile(t, dir, "dup.json", `{"rationale": "x", "rationale": "y", "recommendations": []}`)
	badState := writeFile(t, dir, "state.json", `{"now": "yesterday"}`)
	badPolicy := writeFile(t, dir, "policy.yaml", "rules:\n  - name: x\n    description: d\n    expr: rec.size_pct\n")
	custom := writeFile(t, dir, "custom.yaml", "params: {max: 0.5}\nrules:\n  - name: small\n    description: at most {max}% per order\n    expr: rec.size_pct <= params.max\n")

	tests := []struct {
		name    string
		args    []string
		want    int
		wantOut string // substring of stdout
		wantErr string // substring of stderr
	}{
		{"approved", []string{"validate", "--state", exampleState, exampleRec}, 0, `"approved"`, ""},
		{"unlisted symbol rejected", []string{"validate", "--state", exampleState, unlisted}, 1, `"limit_market_data"`, ""},
		{"trailing text is a schema error", []string{"validate", "--state", exampleState, notJSON}, 1, `"schema_errors"`, ""},
		{"duplicate keys are a schema error", []string{"validate", "--state", exampleState, dup}, 1, `"schema_errors"`, ""},
		{"max notional below the order", []string{"validate", "--state", exampleState, "--max-notional", "50", exampleRec}, 1, `"limit_max_order_notional"`, ""},
		{"custom policy rejects", []string{"validate", "--state", exampleState, "--policy", custom, exampleRec}, 1, `"small"`, ""},
		{"no state", []string{"validate", exampleRec}, 2, "", "--state FILE is required"},
		{"missing state file", []string{"validate", "--state", filepath.Join(dir, "nope.json"), exampleRec}, 2, "", "nope.json"},
		{"invalid state", []string{"validate", "--state", badState, exampleRec}, 2, "", "is not valid"},
		{"missing response file", []string{"validate", "--state", exampleState, filepath.Join(dir, "nope.json")}, 2, "", "nope.json"},
		{"response is a directory", []string{"validate", "--state", exampleState, dir}, 2, "", ""},
		{"policy does not load", []string{"validate", "--state", exampleState, "--policy", badPolicy, exampleRec}, 2, "", "must evaluate to bool but got double"},
		{"bad max notional", []string{"validate", "--state", exampleState, "--max-notional", "-1", exampleRec}, 2, "", "--max-notional"},
		{"no response argument", []string{"validate", "--state", exampleState}, 2, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, "", tc.args...)
			if code != tc.want {
				t.Fatalf("Main(%q) = %d; want %d\nstdout: %s\nstderr: %s", tc.args, code, tc.want, out, errOut)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("Main(%q) stdout = %s; want it to contain %q", tc.args, out, tc.wantOut)
			}
			if !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("Main(%q) stderr = %s; want it to contain %q", tc.args, errOut, tc.wantErr)
			}
		})
	}
}

// TestValidateNeverPanics feeds validate hostile responses on stdin; every
// one must end with exit 1 and JSON on stdout.
func TestValidateNeverPanics(t *testing.T) {
	inputs := []string{
		"", "null", "[]", "{", `{"rationale": NaN}`, `{"rationale": "x", "recommendations": [1e999]}`,
		strings.Repeat("[", 100000), `{"rationale":"x","recommendations":[{"symbol":"BTC/USDT","action":"buy","confidence":0.9,"size_pct":1e308,"order_type":"limit","limit_price":1e-300,"stop_loss":null,"take_profit":null,"reason":"r"}]}`,
		"\xff\xfe", strings.Repeat("a", 1<<20),
	}
	for _, in := range inputs {
		code, out, errOut := run(t, in, "validate", "--state", exampleState, "-")
		if code != 1 {
			t.Errorf("validate(%.40q) exit = %d; want 1\n%s%s", in, code, out, errOut)
			continue
		}
		decodeValidate(t, out)
	}
}

func TestPolicyInitCheckTest(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "policy.yaml")
	tf := filepath.Join(dir, "policy_test.yaml")

	if code, out, errOut := run(t, "", "policy", "init", "--out", pf); code != 0 {
		t.Fatalf("policy init = %d; want 0\n%s%s", code, out, errOut)
	}
	if code, _, errOut := run(t, "", "policy", "init", "--out", pf); code != 2 || !strings.Contains(errOut, "already exists") {
		t.Errorf("policy init over an existing file = %d (%s); want 2 and 'already exists'", code, errOut)
	}
	if code, out, errOut := run(t, "", "policy", "init", "--out", pf, "--force"); code != 0 {
		t.Errorf("policy init --force = %d; want 0\n%s%s", code, out, errOut)
	}
	if code, out, _ := run(t, "", "policy", "check", pf); code != 0 || !strings.Contains(out, ": ok: policy warden-default, 23 rules") {
		t.Errorf("policy check = %d (%s); want 0 and ok with 23 rules", code, out)
	}
	if code, out, errOut := run(t, "", "policy", "test", tf); code != 0 || !strings.Contains(out, "PASS: ") || strings.Contains(out, "FAIL") {
		t.Errorf("policy test = %d; want 0 and only PASS\n%s%s", code, out, errOut)
	}
	if code, out, _ := run(t, "", "policy", "test", dir, "--coverage"); code != 0 || strings.Contains(out, "not covered") {
		t.Errorf("policy test DIR --coverage = %d; want 0 and every rule covered\n%s", code, out)
	}
	if code, out, _ := run(t, "", "policy", "test"); code != 0 {
		t.Errorf("policy test (embedded) = %d; want 0\n%s", code, out)
	}

	// Loosen a cap: the test that trips it must now fail.
	src, err := os.ReadFile(pf)
	if err != nil {
		t.Fatal(err)
	}
	loose := strings.Replace(string(src), "max_position_pct: 2 ", "max_position_pct: 5 ", 1)
	if loose == string(src) {
		t.Fatal("could not find max_position_pct in the default policy")
	}
	writeFile(t, dir, "policy.yaml", loose)
	code, out, _ := run(t, "", "policy", "test", tf)
	if code != 1 || !regexp.MustCompile(`FAIL: `+regexp.QuoteMeta(tf)+`:\d+: max_position - 3% of equity in one symbol`).MatchString(out) {
		t.Errorf("policy test with a loosened cap = %d; want 1 and the max_position case failing\n%s", code, out)
	}

	// A broken policy: check names file, line and rule, exit 1.
	broken := writeFile(t, dir, "broken.yaml", "rules:\n  - name: ok\n    description: fine\n    expr: true\n  - name: bad\n    description: not bool\n    expr: order.quantity\n")
	code, out, _ = run(t, "", "policy", "check", broken)
	if want := broken + ":7: rule bad: expr: must evaluate to bool but got double"; code != 1 || !strings.Contains(out, want) {
		t.Errorf("policy check broken = %d (%s); want 1 and %q", code, out, want)
	}
	if code, _, _ := run(t, "", "policy", "check", filepath.Join(dir, "missing.yaml")); code != 2 {
		t.Errorf("policy check missing file = %d; want 2", code)
	}
}

func TestPolicyShow(t *testing.T) {
	code, out, _ := run(t, "", "policy", "show")
	if code != 0 || !strings.Contains(out, "name: warden-default") {
		t.Errorf("policy show = %d; want 0 and the default policy", code)
	}
	code, out, _ = run(t, "", "policy", "show", "--describe")
	if code != 0 || !strings.Contains(out, "- Only trade these symbols - BTC/USDT, ETH/USDT.") {
		t.Errorf("policy show --describe = %d (%s); want the allowlist in plain words", code, out)
	}
	code, out, _ = run(t, "", "policy", "show", "--tests")
	if code != 0 || !strings.Contains(out, "cases:") {
		t.Errorf("policy show --tests = %d; want 0 and the tests", code)
	}
}
