package policy

import (
	"bytes"
	"context"
	"testing"
)

// TestDefaultPolicyTests runs default_test.yaml against the default policy
// and checks that every rule has a case that trips it and a case in which
// it applies and passes.
func TestDefaultPolicyTests(t *testing.T) {
	p := mustDefault(t)
	var out bytes.Buffer
	sum, err := RunTests(context.Background(), &out, p, DefaultTestsSource(), DefaultTestsFile)
	if err != nil {
		t.Fatalf("RunTests: %v\n%s", err, out.String())
	}
	if sum.Failed > 0 || sum.Passed == 0 {
		t.Fatalf("RunTests = %d passed, %d failed; want all passed\n%s", sum.Passed, sum.Failed, out.String())
	}
	for _, name := range p.RuleNames() {
		c := sum.Coverage[name]
		if c == nil || c.Tripped == 0 {
			t.Errorf("rule %s: no case in %s trips it", name, DefaultTestsFile)
		}
		if c == nil || c.Passed == 0 {
			t.Errorf("rule %s: no case in %s passes it while it applies", name, DefaultTestsFile)
		}
	}
	if u := sum.Uncovered(); len(u) > 0 {
		t.Errorf("Uncovered() = %v; want none", u)
	}
	t.Logf("\n%s", out.String())
}
