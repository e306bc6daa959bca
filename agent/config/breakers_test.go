package config

import (
	"strings"
	"testing"
	"time"
)

func TestBreakersNestedKeys(t *testing.T) {
	c, err := Parse("t.yaml", []byte(`
breakers:
  reduce_scale: 0.25
  error_spike: {level: safe_mode, max_consecutive: 5, cooldown: 2h}
  data_gap: {level: reduce}
  volatility_shock: {sigma: 6}
  drift: {level: safe_mode, psi: 2.5, reference_bars: 300, recent_bars: 24}
`))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	b := c.Breakers
	if b.ReduceScale.String() != "0.25" || b.ErrorSpike.MaxConsecutive != 5 || b.ErrorSpike.Cooldown != 2*time.Hour {
		t.Errorf("breakers = %+v", b)
	}
	if b.DataGap.Level != LevelReduce || b.DataGap.MaxGapBars != 3 || b.DataGap.Cooldown != 4*time.Hour {
		t.Errorf("data_gap = %+v; want reduce with the default gap and cool-down", b.DataGap)
	}
	if b.Shock.Sigma != 6 || b.Shock.Level != LevelSafeMode || b.Shock.Cooldown != time.Hour {
		t.Errorf("volatility_shock = %+v", b.Shock)
	}
	if b.Drift.Level != LevelSafeMode || b.Drift.PSI != 2.5 || b.Drift.ReferenceBars != 300 || b.Drift.RecentBars != 24 {
		t.Errorf("drift = %+v", b.Drift)
	}
}

func TestBreakersDefaults(t *testing.T) {
	b := Default().Breakers
	if b.Drift.Level != LevelReduce || b.Shock.Level != LevelSafeMode || b.DataGap.Level != LevelSafeMode || b.ErrorSpike.Level != LevelSafeMode {
		t.Errorf("default levels = drift %s shock %s gap %s errors %s; want drift reduce, the others safe_mode",
			b.Drift.Level, b.Shock.Level, b.DataGap.Level, b.ErrorSpike.Level)
	}
	if b.ReduceScale.String() != "0.5" {
		t.Errorf("default reduce_scale = %s; want 0.5", b.ReduceScale)
	}
}

func TestBreakersOlderKeysStillWork(t *testing.T) {
	c, err := Parse("t.yaml", []byte(`breakers: {cooldown: 8h, max_consecutive_errors: 5, max_gap_bars: 2, drift_psi: 3, drift_reference_bars: 400, drift_recent_bars: 40}`))
	if err != nil {
		t.Fatalf("Parse(older keys) = %v", err)
	}
	b := c.Breakers
	if b.ErrorSpike.MaxConsecutive != 5 || b.DataGap.MaxGapBars != 2 || b.Drift.PSI != 3 || b.Drift.ReferenceBars != 400 || b.Drift.RecentBars != 40 {
		t.Errorf("older keys = %+v", b)
	}
	// breakers.cooldown is the cool-down of every breaker that sets none.
	for name, cd := range map[string]time.Duration{"error_spike": b.ErrorSpike.Cooldown, "data_gap": b.DataGap.Cooldown, "volatility_shock": b.Shock.Cooldown, "drift": b.Drift.Cooldown} {
		if cd != 8*time.Hour {
			t.Errorf("%s cool-down = %v; want breakers.cooldown 8h", name, cd)
		}
	}
}

func TestBreakersRefused(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", `breakers: {drift_psl: 1}`, "unknown key breakers.drift_psl"},
		{"unknown nested key", "breakers:\n  drift: {lvl: reduce}", "line 2: unknown key breakers.drift.lvl"},
		{"both spellings", `breakers: {drift_psi: 2, drift: {psi: 3}}`, "breakers.drift_psi and breakers.drift.psi are the same setting"},
		{"old shock key", `breakers: {shock_atr_multiple: 6}`, "breakers.volatility_shock.sigma"},
		{"bad level", `breakers: {drift: {level: halt}}`, `breakers.drift.level: "halt" is not reduce or safe_mode`},
		{"scale 1", `breakers: {reduce_scale: 1}`, "breakers.reduce_scale: 1 is outside (0, 1)"},
		{"scale 0", `breakers: {reduce_scale: 0}`, "breakers.reduce_scale: 0 is outside (0, 1)"},
		{"windows without psi", `breakers: {drift: {reference_bars: 300}}`, "set breakers.drift.psi too"},
		{"max consecutive 0", `breakers: {error_spike: {max_consecutive: 0}}`, "max_consecutive: 0 must be ≥ 1"},
		{"not a mapping", `breakers: {drift: 3}`, "breakers.drift must be a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse(%q) = %v; want an error containing %q", tt.yaml, err, tt.want)
			}
		})
	}
	// The limits of reduce_scale, one step inside.
	for _, ok := range []string{"0.01", "0.99"} {
		if _, err := Parse("t.yaml", []byte(`breakers: {reduce_scale: `+ok+`}`)); err != nil {
			t.Errorf("reduce_scale %s = %v; want accepted", ok, err)
		}
	}
}

// TestBreakersInvalidOutput: breakers.invalid_output is read strictly,
// follows breakers.cooldown when it sets none, and its window and pct are
// refused one step beyond their limits.
func TestBreakersInvalidOutput(t *testing.T) {
	d := Default().Breakers.InvalidOutput
	if d.Level != LevelSafeMode || d.Cooldown != 4*time.Hour || d.Window != 20 || d.Pct != 20 {
		t.Fatalf("default invalid_output = %+v; want safe_mode, 4h, window 20, pct 20", d)
	}
	c, err := Parse("t.yaml", []byte(`breakers: {invalid_output: {level: reduce, cooldown: 30m, window: 1, pct: 100}}`))
	if err != nil {
		t.Fatalf("Parse(window 1, pct 100) = %v", err)
	}
	if o := c.Breakers.InvalidOutput; o.Level != LevelReduce || o.Cooldown != 30*time.Minute || o.Window != 1 || o.Pct != 100 {
		t.Errorf("invalid_output = %+v; want reduce, 30m, window 1, pct 100", o)
	}
	c, err = Parse("t.yaml", []byte(`breakers: {cooldown: 2h, invalid_output: {pct: 1}}`))
	if err != nil {
		t.Fatalf("Parse(pct 1) = %v", err)
	}
	if o := c.Breakers.InvalidOutput; o.Cooldown != 2*time.Hour || o.Pct != 1 || o.Window != 20 || o.Level != LevelSafeMode {
		t.Errorf("invalid_output = %+v; want breakers.cooldown 2h, pct 1, the default window and level", o)
	}
	for _, tt := range []struct{ yaml, want string }{
		{`breakers: {invalid_output: {window: 0}}`, "breakers.invalid_output.window: 0 must be ≥ 1"},
		{`breakers: {invalid_output: {window: -3}}`, "breakers.invalid_output.window: -3 must be ≥ 1"},
		{`breakers: {invalid_output: {pct: 0}}`, "breakers.invalid_output.pct: 0 is outside (0, 100]"},
		{`breakers: {invalid_output: {pct: 101}}`, "breakers.invalid_output.pct: 101 is outside (0, 100]"},
		{`breakers: {invalid_output: {pct: 2.5}}`, `line 1: breakers.invalid_output.pct: "2.5" is not a whole number`},
		{`breakers: {error_spike: {max_consecutive: 2.5}}`, `breakers.error_spike.max_consecutive: "2.5" is not a whole number`},
		{`breakers: {invalid_output: {level: halt}}`, `breakers.invalid_output.level: "halt" is not reduce or safe_mode`},
		{`breakers: {invalid_output: {cooldown: 0s}}`, "breakers.invalid_output.cooldown: must be > 0"},
		{"breakers:\n  invalid_output:\n    window: 20\n    percent: 20", "line 4: unknown key breakers.invalid_output.percent"},
		{`breakers: {invalid_output: 20}`, "breakers.invalid_output must be a mapping"},
	} {
		if _, err := Parse("t.yaml", []byte(tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v; want an error containing %q", tt.yaml, err, tt.want)
		}
	}
}
