package policy

import (
	"os"
	"testing"

	"github.com/warden-trading/warden/schemas"
)

func loadExamples(tb testing.TB) ([]byte, schemas.State) {
	tb.Helper()
	raw, err := os.ReadFile("testdata/recommendation.example.json")
	if err != nil {
		tb.Fatal(err)
	}
	sraw, err := os.ReadFile("testdata/state.example.json")
	if err != nil {
		tb.Fatal(err)
	}
	st, err := schemas.ParseState(sraw)
	if err != nil {
		tb.Fatal(err)
	}
	return raw, st
}

func mustDefault(tb testing.TB) *Policy {
	tb.Helper()
	p, err := Default()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkValidate is the whole path on the contract examples: strict
// parse, JSON schema, sizing, every default rule, the hard limits.
func BenchmarkValidate(b *testing.B) {
	raw, st := loadExamples(b)
	v := NewValidator(mustDefault(b), Limits{})
	if res := v.ValidateRaw(raw, st); !res.AllApproved() {
		b.Fatalf("contract example not approved: %+v", res)
	}
	b.ReportAllocs()
	for b.Loop() {
		v.ValidateRaw(raw, st)
	}
}

// BenchmarkPolicyEval is the compiled default rules alone on a prepared
// activation (the contract's BTC buy).
func BenchmarkPolicyEval(b *testing.B) {
	raw, st := loadExamples(b)
	p := mustDefault(b)
	resp, err := schemas.ParseResponse(raw)
	if err != nil {
		b.Fatal(err)
	}
	rec := &resp.Recommendations[0]
	o, vs := SizeOrder(*rec, st)
	if len(vs) > 0 {
		b.Fatal(vs)
	}
	a := &activation{params: p.params, now: celTimestamp(st.Now)}
	newBook(&st).fill(a, rec, o)
	for _, r := range p.eval(a, nil, "") {
		if !r.Passed {
			b.Fatalf("rule %s failed: %+v", r.Name, r)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		p.eval(a, nil, "")
	}
}

// BenchmarkValidateParsed is Validate on an already parsed response:
// sizing, the book, every rule and the hard limits, without the parser.
func BenchmarkValidateParsed(b *testing.B) {
	raw, st := loadExamples(b)
	resp, err := schemas.ParseResponse(raw)
	if err != nil {
		b.Fatal(err)
	}
	v := NewValidator(mustDefault(b), Limits{})
	b.ReportAllocs()
	for b.Loop() {
		v.Validate(resp, st)
	}
}

// BenchmarkParseResponse is the strict parser and schema alone (package
// schemas), for the split of the whole path.
func BenchmarkParseResponse(b *testing.B) {
	raw, _ := loadExamples(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := schemas.ParseResponse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPolicyEvalPerRule is the compiled rules evaluated one by one,
// the path taken when a rule fails or errors (and by the test runner).
func BenchmarkPolicyEvalPerRule(b *testing.B) {
	raw, st := loadExamples(b)
	p := mustDefault(b)
	resp, err := schemas.ParseResponse(raw)
	if err != nil {
		b.Fatal(err)
	}
	rec := &resp.Recommendations[0]
	o, _ := SizeOrder(*rec, st)
	a := &activation{params: p.params, now: celTimestamp(st.Now)}
	newBook(&st).fill(a, rec, o)
	applied := make([]bool, len(p.rules))
	b.ReportAllocs()
	for b.Loop() {
		p.eval(a, applied, "")
	}
}
