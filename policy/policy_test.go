package policy

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/warden-trading/warden/schemas"
)

// TestLoadErrors checks that a policy that does not compile is refused with
// file, line and rule name.
func TestLoadErrors(t *testing.T) {
	const head = "params:\n  cap: 2\n  syms: [BTC/USDT]\nrules:\n"
	tests := []struct {
		name string
		src  string
		want []string // each must appear in one problem, as "file:line: rule NAME: msg"
	}{
		{"bad CEL syntax", head + "  - name: broken\n    description: d\n    expr: order.price >\n",
			[]string{"p.yaml:7: rule broken: expr: "}},
		{"expr not bool", head + "  - name: notbool\n    description: d\n    expr: order.price * 2.0\n",
			[]string{"p.yaml:7: rule notbool: expr: must evaluate to bool but got double"}},
		{"when not bool", head + "  - name: w\n    description: d\n    when: order.side\n    expr: true\n",
			[]string{"p.yaml:7: rule w: when: must evaluate to bool but got string"}},
		{"message not string", head + "  - name: msg\n    description: d\n    expr: true\n    message: order.price\n",
			[]string{"p.yaml:8: rule msg: message: must evaluate to string but got double"}},
		{"unknown variable", head + "  - name: unk\n    description: d\n    expr: wallet.balance > 0.0\n",
			[]string{"p.yaml:7: rule unk: expr: ", "undeclared reference to 'wallet'"}},
		{"unknown field", head + "  - name: fld\n    description: d\n    expr: order.leverage > 0.0\n",
			[]string{"p.yaml:7: rule fld: expr: ", "undefined field 'leverage'"}},
		{"unknown param", head + "  - name: prm\n    description: d\n    expr: order.price < params.nope\n",
			[]string{"p.yaml:7: rule prm: expr: ", "undefined field 'nope'"}},
		{"unknown key in a rule", head + "  - name: key\n    description: d\n    expr: true\n    severity: high\n",
			[]string{`p.yaml:8: rule key: unknown key "severity" (known: description, expr, message, message_fallback, mode, name, when)`}},
		{"unknown top-level key", "version: 2\n" + head + "  - name: ok\n    description: d\n    expr: true\n",
			[]string{`p.yaml:1: unknown key "version" (known: description, name, params, rules)`}},
		{"duplicate rule", head + "  - name: twice\n    description: d\n    expr: true\n  - name: twice\n    description: d\n    expr: true\n",
			[]string{"p.yaml:8: rule twice: duplicate rule name (first defined on line 5)"}},
		{"bad mode", head + "  - name: m\n    description: d\n    expr: true\n    mode: audit\n",
			[]string{"p.yaml:8: rule m: mode must be enforce or warn"}},
		{"no description", head + "  - name: nodesc\n    expr: true\n",
			[]string{"p.yaml:5: rule nodesc: description is required"}},
		{"no expr", head + "  - name: noexpr\n    description: d\n",
			[]string{"p.yaml:5: rule noexpr: expr is required"}},
		{"bad name", head + "  - name: Bad-Name\n    description: d\n    expr: true\n",
			[]string{"p.yaml:5: rule Bad-Name: name must be lower_snake_case"}},
		{"unknown placeholder", head + "  - name: ph\n    description: at most {nope}\n    expr: true\n",
			[]string{"p.yaml:6: rule ph: description refers to unknown param {nope}"}},
		{"mixed list param", "params:\n  l: [1, a]\nrules:\n  - name: x\n    description: d\n    expr: true\n",
			[]string{"p.yaml:2: param l: a list must hold only strings"}},
		{"string param", "params:\n  s: hello\nrules:\n  - name: x\n    description: d\n    expr: true\n",
			[]string{"p.yaml:2: param s: \"hello\" is not a finite number"}},
		{"infinite param", "params:\n  s: .inf\nrules:\n  - name: x\n    description: d\n    expr: true\n",
			[]string{"p.yaml:2: param s: \".inf\" is not a finite number"}},
		{"no rules", "params:\n  a: 1\n", []string{"p.yaml: policy has no rules"}},
		{"empty file", "", []string{"p.yaml: empty policy file"}},
		{"not YAML", "rules: [\n", []string{"p.yaml"}},
		{"duplicate YAML key", "rules:\n  - name: a\n    name: b\n    description: d\n    expr: true\n", []string{"p.yaml:3: rule b: duplicate key \"name\" (first given on line 2)"}},
		{"duplicate param", "params:\n  cap: 2\n  syms: [BTC/USDT]\n  cap: 3\nrules:\n  - name: ok\n    description: d\n    expr: true\n",
			[]string{"p.yaml:4: duplicate key \"cap\" (first given on line 2)"}},
		{"duplicate top-level key", "name: a\nname: b\nrules:\n  - name: ok\n    description: d\n    expr: true\n",
			[]string{"p.yaml:2: duplicate key \"name\" (first given on line 1)"}},
		{"every duplicate reported", "params:\n  a: 1\n  a: 2\nrules:\n  - name: ok\n    description: d\n    expr: true\n    expr: false\n",
			[]string{"p.yaml:3: duplicate key \"a\"", "p.yaml:8: rule ok: duplicate key \"expr\" (first given on line 7)"}},
		{"two documents", head + "  - name: ok\n    description: d\n    expr: true\n---\nrules: []\n", []string{"more than one YAML document"}},
		{"cost over the limit", head + "  - name: costly\n    description: d\n    expr: >-\n      [1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c,\n      [1,2,3,4,5,6,7,8,9,10].all(e, rec.reason.contains(rec.symbol)))))\n",
			[]string{"p.yaml:7: rule costly: expr: estimated cost", "over the limit of 10000"}},
		{"all problems reported", head +
			"  - name: one\n    description: d\n    expr: 1\n  - name: two\n    description: d\n    expr: order.price\n",
			[]string{"rule one: expr: must evaluate to bool but got int", "rule two: expr: must evaluate to bool but got double"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Load("p.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("Load(%q) = %v, nil; want an error", tc.src, p.Name())
			}
			if p != nil {
				t.Errorf("Load returned a policy with an error")
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Load error = %T %v; want *LoadError", err, err)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Load(%s) error =\n%s\nwant it to contain %q", tc.name, msg, w)
				}
			}
		})
	}
}

func TestLoadHashAndDescribe(t *testing.T) {
	src := "name: tiny\nparams:\n  cap: 2.5\n  syms: [BTC/USDT, ETH/USDT]\nrules:\n" +
		"  - name: cap\n    description: Position at most {cap}% in {syms}.\n    expr: rec.size_pct <= params.cap\n" +
		"  - name: advisory\n    description: Prefer high confidence.\n    expr: rec.confidence > 0.9\n    mode: warn\n"
	p, err := Load("tiny.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "tiny" || len(p.Hash()) != 64 {
		t.Errorf("Name, Hash = %q, %q; want tiny and a sha256", p.Name(), p.Hash())
	}
	p2, _ := Load("other.yaml", []byte(src+"\n"))
	if p2.Hash() == p.Hash() {
		t.Errorf("a changed file has the same hash %s", p.Hash())
	}
	want := []string{"Position at most 2.5% in BTC/USDT, ETH/USDT.", "Prefer high confidence. (advisory: reported, not enforced)"}
	if got := p.Describe(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Describe() = %q; want %q", got, want)
	}
}

func tinyValidator(t *testing.T, rules string) *Validator {
	t.Helper()
	p, err := Load("t.yaml", []byte("params:\n  x: 1\nrules:\n"+rules))
	if err != nil {
		t.Fatal(err)
	}
	return NewValidator(p, Limits{})
}

func validateOne(t *testing.T, v *Validator, change func(*schemas.State, *schemas.Recommendation)) schemas.Verdict {
	t.Helper()
	st, rec := baseCase(t)
	st = cloneState(st)
	if change != nil {
		change(&st, &rec)
	}
	vs := v.Validate(schemas.Response{Rationale: "r", Recommendations: []schemas.Recommendation{rec}}, st)
	return vs[0]
}

// TestEvalErrorDenies: a rule that errors at evaluation fails closed.
func TestEvalErrorDenies(t *testing.T) {
	v := tinyValidator(t, "  - name: tp\n    description: d\n    expr: order.take_profit > order.price\n    message_fallback: no take profit\n")
	vd := validateOne(t, v, func(_ *schemas.State, r *schemas.Recommendation) { r.TakeProfit = nil })
	if vd.Decision != schemas.DecisionRejected || len(vd.Violations) != 1 || vd.Violations[0].Rule != "tp" {
		t.Fatalf("verdict = %+v; want rejected by tp", vd)
	}
	if !strings.Contains(vd.Violations[0].Message, "no take profit") || !strings.Contains(vd.Violations[0].Message, "order.take_profit is null") {
		t.Errorf("message = %q; want the fallback and the evaluation error", vd.Violations[0].Message)
	}
	if r := vd.Rules[0]; r.Passed || r.Error == "" {
		t.Errorf("RuleResult = %+v; want failed with an error", r)
	}
	// The same rule passes when the value is there.
	if vd := validateOne(t, v, nil); vd.Decision != schemas.DecisionApproved {
		t.Errorf("with a take profit: verdict = %+v; want approved", vd)
	}
	// An error in when fails closed too, and a NaN percentage fails comparisons.
	v = tinyValidator(t, "  - name: w\n    description: d\n    when: rec.stop_loss > 0.0\n    expr: true\n"+
		"  - name: dd\n    description: d\n    expr: account.drawdown_pct < 10.0\n")
	vd = validateOne(t, v, func(st *schemas.State, r *schemas.Recommendation) {
		r.StopLoss = nil
		st.Account.PeakEquity = d("0")
	})
	if got := violationNames(vd); strings.Join(got, ",") != "dd,w" {
		t.Errorf("violations = %v; want dd and w", got)
	}
}

// TestMessageFallback: a message expression that errors yields the fallback.
func TestMessageFallback(t *testing.T) {
	v := tinyValidator(t, "  - name: m\n    description: d\n    expr: false\n    message: '\"stop \" + string(rec.stop_loss)'\n    message_fallback: static text\n"+
		"  - name: n\n    description: d\n    expr: false\n    message: '\"size \" + string(rec.size_pct)'\n")
	vd := validateOne(t, v, func(_ *schemas.State, r *schemas.Recommendation) { r.StopLoss = nil })
	if len(vd.Violations) != 2 || vd.Violations[0].Message != "static text" || vd.Violations[1].Message != "size 1" {
		t.Errorf("violations = %+v; want the fallback for m and the expression for n", vd.Violations)
	}
}

// TestRuntimeCostLimit: strings longer than the estimate assumed switch to
// the cost-limited plan, which stops the evaluation and denies.
func TestRuntimeCostLimit(t *testing.T) {
	v := tinyValidator(t, "  - name: heavy\n    description: d\n    expr: '[1,2,3,4,5,6,7,8].all(i, [1,2,3,4,5,6,7,8].all(j, !rec.reason.contains(\"zzz\")))'\n")
	if vd := validateOne(t, v, nil); vd.Decision != schemas.DecisionApproved {
		t.Fatalf("short reason: verdict = %+v; want approved", vd)
	}
	vd := validateOne(t, v, func(_ *schemas.State, r *schemas.Recommendation) { r.Reason = strings.Repeat("a", 200_000) })
	if vd.Decision != schemas.DecisionRejected || len(vd.Rules) != 1 || !strings.Contains(vd.Rules[0].Error, "cost limit") {
		t.Errorf("huge reason: verdict = %+v; want rejected with a cost limit error", vd)
	}
}

func TestWarnMode(t *testing.T) {
	v := tinyValidator(t, "  - name: soft\n    description: d\n    expr: rec.confidence > 0.9\n    mode: warn\n    message: '\"confidence only \" + fixed(rec.confidence, 2)'\n")
	vd := validateOne(t, v, nil)
	if vd.Decision != schemas.DecisionApproved || len(vd.Warnings) != 1 || vd.Warnings[0].Message != "confidence only 0.62" {
		t.Errorf("verdict = %+v; want approved with one warning", vd)
	}
}

// TestWarnModeEvalErrorWarns: a warn rule is on trial and never blocks,
// whether it is false or cannot be evaluated; its error fails it (never a
// pass) and is in the warning. The same rule enforced denies
// (TestEvalErrorDenies).
func TestWarnModeEvalErrorWarns(t *testing.T) {
	v := tinyValidator(t, "  - name: tp\n    description: d\n    expr: order.take_profit > order.price\n    message_fallback: no take profit\n    mode: warn\n")
	vd := validateOne(t, v, func(_ *schemas.State, r *schemas.Recommendation) { r.TakeProfit = nil })
	if vd.Decision != schemas.DecisionApproved || len(vd.Violations) != 0 || len(vd.Warnings) != 1 || vd.Warnings[0].Rule != "tp" {
		t.Fatalf("verdict = %+v; want approved with a warning from tp", vd)
	}
	if msg := vd.Warnings[0].Message; !strings.Contains(msg, "no take profit (evaluation error: ") {
		t.Errorf("warning = %q; want the fallback and the evaluation error", msg)
	}
	if r := vd.Rules[0]; r.Passed || r.Error == "" || r.Mode != ModeWarn {
		t.Errorf("RuleResult = %+v; want a failed warn rule with its error", r)
	}
}

func TestNilPolicyDenies(t *testing.T) {
	vd := validateOne(t, NewValidator(nil, Limits{}), nil)
	if vd.Decision != schemas.DecisionRejected || violationNames(vd)[0] != RuleNoPolicy {
		t.Errorf("verdict = %+v; want rejected with %s", vd, RuleNoPolicy)
	}
}

// TestSequentialState: each recommendation is judged against the state as
// changed by the orders approved before it.
func TestSequentialState(t *testing.T) {
	v := NewValidator(mustDefault(t), Limits{})
	st, btc := baseCase(t)
	st = cloneState(st)
	st.Account.OrdersLastMinute = 5
	st.Account.Positions["ETH/USDT"] = schemas.Position{Qty: d("0.05"), AvgPrice: d("2300")}
	eth := btc
	eth.Symbol, eth.SizePct, eth.LimitPrice, eth.StopLoss, eth.TakeProfit = "ETH/USDT", d("0.5"), dp("2285.2"), dp("2200"), nil
	resp := schemas.Response{Rationale: "r", Recommendations: []schemas.Recommendation{btc, eth}}
	got := v.Validate(resp, st)
	if got[0].Decision != schemas.DecisionApproved || got[1].Decision != schemas.DecisionRejected {
		t.Fatalf("decisions = %s, %s (%v); want approved, rejected", got[0].Decision, got[1].Decision, violationNames(got[1]))
	}
	if names := violationNames(got[1]); strings.Join(names, ",") != "order_rate" {
		t.Errorf("second buy violations = %v; want order_rate (the first used the sixth order)", names)
	}
	// A rejected order does not change the state: the same buy after a
	// rejected one is approved.
	big := btc
	big.SizePct = d("5")
	got = v.Validate(schemas.Response{Rationale: "r", Recommendations: []schemas.Recommendation{big, eth}}, st)
	if got[0].Decision != schemas.DecisionRejected || got[1].Decision != schemas.DecisionApproved {
		t.Errorf("decisions = %s, %s; want rejected, approved", got[0].Decision, got[1].Decision)
	}
}

// TestConcurrentValidate runs one validator from many goroutines (go test
// -race checks the sharing) and checks every result.
func TestConcurrentValidate(t *testing.T) {
	raw, st := loadExamples(t)
	v := NewValidator(mustDefault(t), Limits{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				res := v.ValidateRaw(raw, st)
				if !res.AllApproved() || res.Verdicts[0].Order.Quantity.String() != "0.00238" {
					errs <- fmt.Errorf("ValidateRaw = %+v; want the BTC buy approved at 0.00238", res.Verdicts)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestValidateRawSchemaErrors(t *testing.T) {
	_, st := loadExamples(t)
	v := NewValidator(mustDefault(t), Limits{})
	for _, raw := range []string{"", "{}", `{"rationale":"x","recommendations":[]} x`, "\x00"} {
		res := v.ValidateRaw([]byte(raw), st)
		if res.AllApproved() || len(res.SchemaErrors) == 0 || res.Response != nil || res.PolicyHash == "" {
			t.Errorf("ValidateRaw(%q) = %+v; want schema errors, not approved", raw, res)
		}
	}
}
