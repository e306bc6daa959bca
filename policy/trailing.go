package policy

import (
	"fmt"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"
)

// Trailing is a policy's trailing stop (params.trailing): at each cycle
// the protective stop of a position is raised, never lowered, to the last
// close less Distance — Distance % of the close (kind percent) or Distance
// × the 14-period ATR (kind atr).
//
//	params:
//	  trailing: {kind: percent, distance: 3}
type Trailing struct {
	Kind     string          // percent or atr
	Distance decimal.Decimal // above 0; percent below 100
}

// Trailing kinds.
const (
	TrailPercent = "percent"
	TrailATR     = "atr"
)

// Trailing returns the policy's trailing stop, or nil when it has none.
func (p *Policy) Trailing() *Trailing {
	if p == nil || p.trailing == nil {
		return nil
	}
	t := *p.trailing
	return &t
}

// Trigger is the stop the trail asks for at close (atr: the 14-period ATR
// in price units); ok is false when there is none (ATR unknown, a
// non-positive result).
func (t Trailing) Trigger(close, atr float64) (decimal.Decimal, bool) {
	c := decimal.NewFromFloat(close)
	var v decimal.Decimal
	switch t.Kind {
	case TrailPercent:
		v = c.Mul(decimal.NewFromInt(100).Sub(t.Distance)).Div(decimal.NewFromInt(100))
	case TrailATR:
		if !(atr > 0) {
			return decimal.Decimal{}, false
		}
		v = c.Sub(t.Distance.Mul(decimal.NewFromFloat(atr)))
	default:
		return decimal.Decimal{}, false
	}
	return v, v.IsPositive()
}

func parseTrailing(n *yaml.Node) (Trailing, error) {
	var t Trailing
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return t, fmt.Errorf("%s given twice", k.Value)
		}
		seen[k.Value] = true
		if v.Kind != yaml.ScalarNode {
			return t, fmt.Errorf("%s must be a single value", k.Value)
		}
		switch k.Value {
		case "kind":
			if v.Value != TrailPercent && v.Value != TrailATR {
				return t, fmt.Errorf("kind %q is not percent or atr", v.Value)
			}
			t.Kind = v.Value
		case "distance":
			d, err := decimal.NewFromString(v.Value)
			if err != nil || !d.IsPositive() {
				return t, fmt.Errorf("distance %q is not a number above 0", v.Value)
			}
			t.Distance = d
		default:
			return t, fmt.Errorf("unknown key %q (allowed: kind, distance)", k.Value)
		}
	}
	if t.Kind == "" || !t.Distance.IsPositive() {
		return t, fmt.Errorf("needs kind (percent or atr) and distance, e.g. {kind: percent, distance: 3}")
	}
	if t.Kind == TrailPercent && !t.Distance.LessThan(decimal.NewFromInt(100)) {
		return t, fmt.Errorf("a percent distance must be below 100, not %s", t.Distance)
	}
	return t, nil
}

// Describe is the trail in words, for the prompt: "3 % below the last
// close" or "2 × the 14-period ATR below the last close".
func (t Trailing) Describe() string {
	if t.Kind == TrailATR {
		return t.Distance.String() + " × the 14-period ATR below the last close"
	}
	return t.Distance.String() + " % below the last close"
}
