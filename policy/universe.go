package policy

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// RuleUniverseMissing is the run-level warning for a symbol of the
// configured universe that the response has no recommendation for. The
// prompt asks for exactly one recommendation per symbol; a symbol left out
// is not an order, so nothing is rejected, but the run records it.
const RuleUniverseMissing = "universe_missing"

// UniverseWarnings returns one warning (source "response") per symbol of
// universe, in universe order, that resp has no recommendation for. A
// second recommendation for a symbol is not a warning: the validator
// rejects it (RuleOnePerSymbol).
func UniverseWarnings(resp schemas.Response, universe []string) []schemas.Violation {
	var out []schemas.Violation
	for _, sym := range universe {
		found := false
		for i := range resp.Recommendations {
			if resp.Recommendations[i].Symbol == sym {
				found = true
				break
			}
		}
		if !found {
			out = append(out, schemas.Violation{
				Rule: RuleUniverseMissing,
				Message: fmt.Sprintf("the response has no recommendation for %s (one per symbol of %s is asked for; a missing symbol is treated as no action)",
					sym, strings.Join(universe, ", ")),
				Source: schemas.SourceResponse,
			})
		}
	}
	return out
}

// StringListParam returns the policy's param name when it is a list of
// strings (for example allowed_symbols).
func (p *Policy) StringListParam(name string) ([]string, bool) {
	if p == nil {
		return nil, false
	}
	v, ok := p.params.vals[name]
	if !ok {
		return nil, false
	}
	native, err := v.ConvertToNative(stringSliceType)
	if err != nil {
		return nil, false
	}
	s, ok := native.([]string)
	return s, ok
}

var stringSliceType = reflect.TypeOf([]string(nil))

// NumberParam returns the policy's param name when it is a number (for
// example max_day_loss_pct), as the decimal of the shortest text that reads
// back as its double: the number written in the policy file.
func (p *Policy) NumberParam(name string) (decimal.Decimal, bool) {
	if p == nil || p.params == nil {
		return decimal.Decimal{}, false
	}
	v, ok := p.params.vals[name].(types.Double)
	if !ok {
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(strconv.FormatFloat(float64(v), 'g', -1, 64))
	if err != nil {
		return decimal.Decimal{}, false
	}
	return d, true
}
