package config

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"
)

// Levels a breaker can raise.
const (
	LevelReduce   = "reduce"    // the policy's caps scaled by reduce_scale
	LevelSafeMode = "safe_mode" // only sells that reduce a position
)

// Breakers configures the circuit breakers and the level each one raises
// when it trips. In YAML:
//
//	breakers:
//	  cooldown: 4h          # for a breaker that sets none of its own
//	  reduce_scale: 0.5     # system.risk_scale at the reduce level
//	  max_data_age: 2h
//	  error_spike:      {level: safe_mode, max_consecutive: 3}
//	  data_gap:         {level: safe_mode, max_gap_bars: 3}
//	  volatility_shock: {level: safe_mode, cooldown: 1h, sigma: 4.5}
//	  drift:            {level: reduce, psi: 1.80, reference_bars: 500, recent_bars: 48}
//	  invalid_output:   {level: safe_mode, window: 20, pct: 20}
//
// The older flat keys max_consecutive_errors, max_gap_bars, drift_psi,
// drift_reference_bars and drift_recent_bars still work (setting both
// spellings of one value is an error); shock_atr_multiple is refused with
// the key that replaced it. The defaults are calibrated on the bundled
// 2017–2022 history (see README, Circuit breakers).
type Breakers struct {
	// Cooldown is the cool-down of every breaker that sets none of its
	// own (the volatility shock's default is 1h).
	Cooldown time.Duration
	// ReduceScale multiplies the policy's caps at the reduce level:
	// system.risk_scale in CEL. In (0, 1).
	ReduceScale decimal.Decimal
	// MaxDataAge is how old the last closed candle may be.
	MaxDataAge time.Duration
	ErrorSpike ErrorSpike
	DataGap    DataGap
	Shock      Shock
	Drift      Drift
	// InvalidOutput trips on a model that keeps refusing, truncating or
	// answering off-schema.
	InvalidOutput InvalidOutput
}

// BreakerLevel is what a trip does: the level it raises and how long it
// holds after the last trip.
type BreakerLevel struct {
	Level    string        `yaml:"level"`    // reduce or safe_mode
	Cooldown time.Duration `yaml:"cooldown"` // resolved: never 0 after loading
}

// ErrorSpike trips after MaxConsecutive failed cycles in a row.
type ErrorSpike struct {
	BreakerLevel
	MaxConsecutive int
}

// DataGap trips when more than MaxGapBars of the last 24 candles are missing.
type DataGap struct {
	BreakerLevel
	MaxGapBars int
}

// Shock trips when the close moved more than Sigma standard deviations
// over the last 1 or 4 candles.
type Shock struct {
	BreakerLevel
	Sigma float64
}

// Drift trips when the PSI of the recent absolute returns against the
// reference window exceeds PSI.
type Drift struct {
	BreakerLevel
	PSI           float64
	ReferenceBars int
	RecentBars    int
}

// InvalidOutput trips when more than Pct percent of the last Window model
// calls on record had invalid output (refusal, truncated, schema failure
// after repair, bad response).
type InvalidOutput struct {
	BreakerLevel
	Window int
	Pct    int
}

// Calibrated defaults (agent.DefaultBreakers holds the same numbers; a
// test keeps them equal).
const (
	DefaultShockSigma     = 4.5
	DefaultDriftPSI       = 1.80
	DefaultDriftReference = 500
	DefaultDriftRecent    = 48
	// The invalid-output breaker's defaults (agent.DefaultInvalidOutput*).
	DefaultInvalidOutputWindow = 20
	DefaultInvalidOutputPct    = 20
)

// DefaultBreakers are the breakers of Default.
func DefaultBreakers() Breakers {
	return Breakers{
		Cooldown:    4 * time.Hour,
		ReduceScale: decimal.RequireFromString("0.5"),
		MaxDataAge:  2 * time.Hour,
		ErrorSpike:  ErrorSpike{BreakerLevel: BreakerLevel{Level: LevelSafeMode, Cooldown: 4 * time.Hour}, MaxConsecutive: 3},
		DataGap:     DataGap{BreakerLevel: BreakerLevel{Level: LevelSafeMode, Cooldown: 4 * time.Hour}, MaxGapBars: 3},
		Shock:       Shock{BreakerLevel: BreakerLevel{Level: LevelSafeMode, Cooldown: time.Hour}, Sigma: DefaultShockSigma},
		Drift: Drift{BreakerLevel: BreakerLevel{Level: LevelReduce, Cooldown: 4 * time.Hour},
			PSI: DefaultDriftPSI, ReferenceBars: DefaultDriftReference, RecentBars: DefaultDriftRecent},
		InvalidOutput: InvalidOutput{BreakerLevel: BreakerLevel{Level: LevelSafeMode, Cooldown: 4 * time.Hour},
			Window: DefaultInvalidOutputWindow, Pct: DefaultInvalidOutputPct},
	}
}

// The YAML shape: pointers tell a key that is set from one that is not.
type levelYAML struct {
	Level    *string        `yaml:"level"`
	Cooldown *time.Duration `yaml:"cooldown"`
}

type breakersYAML struct {
	Cooldown    *time.Duration   `yaml:"cooldown"`
	ReduceScale *decimal.Decimal `yaml:"reduce_scale"`
	MaxDataAge  *time.Duration   `yaml:"max_data_age"`
	ErrorSpike  *struct {
		levelYAML      `yaml:",inline"`
		MaxConsecutive *int `yaml:"max_consecutive"`
	} `yaml:"error_spike"`
	DataGap *struct {
		levelYAML  `yaml:",inline"`
		MaxGapBars *int `yaml:"max_gap_bars"`
	} `yaml:"data_gap"`
	Shock *struct {
		levelYAML `yaml:",inline"`
		Sigma     *float64 `yaml:"sigma"`
	} `yaml:"volatility_shock"`
	Drift *struct {
		levelYAML     `yaml:",inline"`
		PSI           *float64 `yaml:"psi"`
		ReferenceBars *int     `yaml:"reference_bars"`
		RecentBars    *int     `yaml:"recent_bars"`
	} `yaml:"drift"`
	InvalidOutput *struct {
		levelYAML `yaml:",inline"`
		Window    *int `yaml:"window"`
		Pct       *int `yaml:"pct"`
	} `yaml:"invalid_output"`

	// Older spellings.
	MaxConsecutiveErr *int     `yaml:"max_consecutive_errors"`
	MaxGapBars        *int     `yaml:"max_gap_bars"`
	DriftPSI          *float64 `yaml:"drift_psi"`
	DriftReference    *int     `yaml:"drift_reference_bars"`
	DriftRecent       *int     `yaml:"drift_recent_bars"`
	ShockATRMultiple  *float64 `yaml:"shock_atr_multiple"`
}

// The keys each mapping may hold; anything else is an error.
var (
	breakerKeys = []string{"cooldown", "reduce_scale", "max_data_age", "error_spike", "data_gap", "volatility_shock", "drift", "invalid_output",
		"max_consecutive_errors", "max_gap_bars", "drift_psi", "drift_reference_bars", "drift_recent_bars", "shock_atr_multiple"}
	breakerBlockKeys = map[string][]string{
		"error_spike":      {"level", "cooldown", "max_consecutive"},
		"data_gap":         {"level", "cooldown", "max_gap_bars"},
		"volatility_shock": {"level", "cooldown", "sigma"},
		"drift":            {"level", "cooldown", "psi", "reference_bars", "recent_bars"},
		"invalid_output":   {"level", "cooldown", "window", "pct"},
	}
)

// breakerIntKeys are the keys whose value is a count.
var breakerIntKeys = map[string]bool{
	"max_consecutive": true, "max_gap_bars": true, "reference_bars": true, "recent_bars": true, "window": true, "pct": true,
	"max_consecutive_errors": true, "drift_reference_bars": true, "drift_recent_bars": true,
}

// checkKeys refuses a mapping key not in allowed, naming the line.
func checkKeys(n *yaml.Node, where string, allowed []string) error {
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		return fmt.Errorf("line %d: %s must be a mapping", n.Line, where)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(allowed, k.Value) {
			known := slices.Clone(allowed)
			sort.Strings(known)
			hint := ""
			if s := Suggest(k.Value, known); s != "" {
				hint = " (did you mean " + s + "?)"
			}
			return fmt.Errorf("line %d: unknown key %s.%s%s (known: %s)", k.Line, where, k.Value, hint, strings.Join(known, ", "))
		}
		// yaml.v3 would truncate 2.5 into an int field: a count must be a whole number.
		if v := n.Content[i+1]; breakerIntKeys[k.Value] && v.Kind == yaml.ScalarNode && v.Tag != "!!int" {
			return fmt.Errorf("line %d: %s.%s: %q is not a whole number", v.Line, where, k.Value, v.Value)
		}
		if sub, ok := breakerBlockKeys[k.Value]; ok && where == "breakers" {
			if err := checkKeys(n.Content[i+1], where+"."+k.Value, sub); err != nil {
				return err
			}
		}
	}
	return nil
}

// UnmarshalYAML reads the breakers over the values already in b (the
// defaults), strictly: unknown keys are errors, and so is a value set
// under both its names.
func (b *Breakers) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "breakers", breakerKeys); err != nil {
		return err
	}
	var y breakersYAML
	if err := n.Decode(&y); err != nil {
		return err
	}
	var errs []error
	if y.ShockATRMultiple != nil {
		errs = append(errs, fmt.Errorf("breakers.shock_atr_multiple: the volatility-shock breaker now measures moves in standard deviations over 1 and 4 candles; remove it and set breakers.volatility_shock.sigma if needed (default %v)", DefaultShockSigma))
	}
	// Older flat keys, each refused beside its new spelling.
	type alias struct {
		old, new string
		oldSet   bool
		newSet   bool
	}
	pick := func(a alias) {
		if a.oldSet && a.newSet {
			errs = append(errs, fmt.Errorf("breakers.%s and breakers.%s are the same setting: keep breakers.%s", a.old, a.new, a.new))
		}
	}
	if y.Cooldown != nil {
		b.Cooldown = *y.Cooldown
		// A breaker with no cool-down of its own follows breakers.cooldown.
		b.ErrorSpike.Cooldown, b.DataGap.Cooldown, b.Shock.Cooldown, b.Drift.Cooldown = b.Cooldown, b.Cooldown, b.Cooldown, b.Cooldown
		b.InvalidOutput.Cooldown = b.Cooldown
	}
	if y.ReduceScale != nil {
		b.ReduceScale = *y.ReduceScale
	}
	if y.MaxDataAge != nil {
		b.MaxDataAge = *y.MaxDataAge
	}
	apply := func(dst *BreakerLevel, l levelYAML) {
		if l.Level != nil {
			dst.Level = *l.Level
		}
		if l.Cooldown != nil {
			dst.Cooldown = *l.Cooldown
		}
	}
	setInt := func(dst *int, vals ...*int) {
		for _, v := range vals {
			if v != nil {
				*dst = *v
			}
		}
	}
	setFloat := func(dst *float64, vals ...*float64) {
		for _, v := range vals {
			if v != nil {
				*dst = *v
			}
		}
	}
	var (
		spikeMax, gapMax, ref, recent *int
		psi, sigma                    *float64
	)
	if e := y.ErrorSpike; e != nil {
		apply(&b.ErrorSpike.BreakerLevel, e.levelYAML)
		spikeMax = e.MaxConsecutive
	}
	if g := y.DataGap; g != nil {
		apply(&b.DataGap.BreakerLevel, g.levelYAML)
		gapMax = g.MaxGapBars
	}
	if s := y.Shock; s != nil {
		apply(&b.Shock.BreakerLevel, s.levelYAML)
		sigma = s.Sigma
	}
	if d := y.Drift; d != nil {
		apply(&b.Drift.BreakerLevel, d.levelYAML)
		psi, ref, recent = d.PSI, d.ReferenceBars, d.RecentBars
	}
	if o := y.InvalidOutput; o != nil {
		apply(&b.InvalidOutput.BreakerLevel, o.levelYAML)
		setInt(&b.InvalidOutput.Window, o.Window)
		setInt(&b.InvalidOutput.Pct, o.Pct)
	}
	pick(alias{"max_consecutive_errors", "error_spike.max_consecutive", y.MaxConsecutiveErr != nil, spikeMax != nil})
	pick(alias{"max_gap_bars", "data_gap.max_gap_bars", y.MaxGapBars != nil, gapMax != nil})
	pick(alias{"drift_psi", "drift.psi", y.DriftPSI != nil, psi != nil})
	pick(alias{"drift_reference_bars", "drift.reference_bars", y.DriftReference != nil, ref != nil})
	pick(alias{"drift_recent_bars", "drift.recent_bars", y.DriftRecent != nil, recent != nil})
	setInt(&b.ErrorSpike.MaxConsecutive, y.MaxConsecutiveErr, spikeMax)
	setInt(&b.DataGap.MaxGapBars, y.MaxGapBars, gapMax)
	setFloat(&b.Shock.Sigma, sigma)
	setFloat(&b.Drift.PSI, y.DriftPSI, psi)
	setInt(&b.Drift.ReferenceBars, y.DriftReference, ref)
	setInt(&b.Drift.RecentBars, y.DriftRecent, recent)
	psiSet := y.DriftPSI != nil || psi != nil
	if !psiSet && (b.Drift.ReferenceBars != DefaultDriftReference || b.Drift.RecentBars != DefaultDriftRecent) {
		errs = append(errs, fmt.Errorf("breakers.drift: the default psi (%v) is calibrated for reference_bars %d and recent_bars %d; with other windows set breakers.drift.psi too (the README says how to compute it)",
			DefaultDriftPSI, DefaultDriftReference, DefaultDriftRecent))
	}
	return errors.Join(errs...)
}

// validate checks the breakers' values.
func (b Breakers) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if b.Cooldown <= 0 {
		bad("breakers.cooldown: must be > 0")
	}
	if !b.ReduceScale.IsPositive() || !b.ReduceScale.LessThan(decimal.NewFromInt(1)) {
		bad("breakers.reduce_scale: %s is outside (0, 1): the reduce level must lower the caps (to stop buying, a breaker's level is safe_mode)", b.ReduceScale)
	}
	if b.MaxDataAge <= 0 {
		bad("breakers.max_data_age: must be > 0")
	}
	for _, l := range []struct {
		name string
		BreakerLevel
	}{{"error_spike", b.ErrorSpike.BreakerLevel}, {"data_gap", b.DataGap.BreakerLevel}, {"volatility_shock", b.Shock.BreakerLevel}, {"drift", b.Drift.BreakerLevel}, {"invalid_output", b.InvalidOutput.BreakerLevel}} {
		if l.Level != LevelReduce && l.Level != LevelSafeMode {
			bad("breakers.%s.level: %q is not reduce or safe_mode", l.name, l.Level)
		}
		if l.Cooldown <= 0 {
			bad("breakers.%s.cooldown: must be > 0", l.name)
		}
	}
	if b.ErrorSpike.MaxConsecutive < 1 {
		bad("breakers.error_spike.max_consecutive: %d must be ≥ 1", b.ErrorSpike.MaxConsecutive)
	}
	if b.DataGap.MaxGapBars < 0 || b.DataGap.MaxGapBars > 23 {
		bad("breakers.data_gap.max_gap_bars: %d is outside 0..23 (of the last 24 candles)", b.DataGap.MaxGapBars)
	}
	if b.Shock.Sigma <= 0 {
		bad("breakers.volatility_shock.sigma: must be > 0")
	}
	if b.Drift.PSI <= 0 {
		bad("breakers.drift.psi: must be > 0")
	}
	if b.Drift.ReferenceBars < 50 {
		bad("breakers.drift.reference_bars: %d must be ≥ 50", b.Drift.ReferenceBars)
	}
	if b.Drift.RecentBars < 10 {
		bad("breakers.drift.recent_bars: %d must be ≥ 10", b.Drift.RecentBars)
	}
	if b.InvalidOutput.Window < 1 {
		bad("breakers.invalid_output.window: %d must be ≥ 1 (model calls)", b.InvalidOutput.Window)
	}
	if b.InvalidOutput.Pct <= 0 || b.InvalidOutput.Pct > 100 {
		bad("breakers.invalid_output.pct: %d is outside (0, 100]: the breaker trips when more than pct %% of the window's calls are invalid", b.InvalidOutput.Pct)
	}
	return errs
}
