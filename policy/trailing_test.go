package policy

import (
	"strings"
	"testing"
)

func TestTrailingParam(t *testing.T) {
	src := func(tr string) []byte {
		return []byte("name: t\nparams:\n  trailing: " + tr + "\nrules:\n  - name: ok\n    description: Always.\n    expr: 'true'\n")
	}
	p, err := Load("t.yaml", src("{kind: percent, distance: 3}"))
	if err != nil {
		t.Fatal(err)
	}
	tr := p.Trailing()
	if tr == nil || tr.Kind != TrailPercent || tr.Distance.String() != "3" {
		t.Fatalf("Trailing() = %+v", tr)
	}
	if v, ok := tr.Trigger(50000, 0); !ok || v.String() != "48500" {
		t.Errorf("percent 3 of 50000: %s, %v; want 48500", v, ok)
	}
	a, err := Load("t.yaml", src("{kind: atr, distance: 2.5}"))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := a.Trailing().Trigger(50000, 400); !ok || v.String() != "49000" {
		t.Errorf("2.5 ATR of 400 below 50000: %s, %v; want 49000", v, ok)
	}
	if _, ok := a.Trailing().Trigger(50000, 0); ok {
		t.Error("ATR unknown: a trigger")
	}
	if p, _ := Default(); p.Trailing() != nil {
		t.Error("the default policy trails")
	}
	for tr, want := range map[string]string{
		"{kind: chandelier, distance: 3}":       `kind "chandelier" is not percent or atr`,
		"{kind: percent, distance: 0}":          `distance "0" is not a number above 0`,
		"{kind: percent, distance: 100}":        "below 100",
		"{kind: percent}":                       "needs kind (percent or atr) and distance",
		"{kind: percent, distance: 3, step: 1}": `unknown key "step"`,
	} {
		if _, err := Load("t.yaml", src(tr)); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "t.yaml:3") {
			t.Errorf("Load(trailing %s) = %v; want %q at t.yaml:3", tr, err, want)
		}
	}
	if _, err := Load("t.yaml", []byte("name: t\nparams:\n  other: {a: 1}\nrules:\n  - name: ok\n    description: Always.\n    expr: 'true'\n")); err == nil || !strings.Contains(err.Error(), "only trailing is a mapping") {
		t.Errorf("a mapping param other than trailing: %v", err)
	}
}
