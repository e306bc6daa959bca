package config

import (
	"strings"
	"testing"
)

// TestMaxPriceDeviationLimits: limits.max_price_deviation_pct is 10 by
// default, reaches the validator's hard limits, and is taken above 0 up to
// 50 (at the limit) and refused one step beyond either end: the band
// cannot be switched off.
func TestMaxPriceDeviationLimits(t *testing.T) {
	c, err := Parse("w.yaml", []byte("db: ./w.db\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.PolicyLimits(false).MaxPriceDeviationPct.String(); got != "10" {
		t.Errorf("default band %s; want 10", got)
	}
	for _, tc := range []struct {
		v  string
		ok bool
	}{{"50", true}, {"50.0001", false}, {"0.0001", true}, {"0", false}, {"-1", false}} {
		c, err := Parse("w.yaml", []byte("limits:\n  max_price_deviation_pct: "+tc.v+"\n"))
		if tc.ok {
			if err != nil || c.PolicyLimits(false).MaxPriceDeviationPct.String() != tc.v {
				t.Errorf("max_price_deviation_pct %s = %v; want taken", tc.v, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "limits.max_price_deviation_pct") {
			t.Errorf("max_price_deviation_pct %s = %v; want refused naming the key", tc.v, err)
		}
	}
}
