package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/warden-trading/warden/schemas"
)

// allowAll is a policy whose one rule passes everything: only the hard
// limits stand between the model and the exchange.
const allowAll = "name: allow-all\ndescription: d\nparams: {}\nrules:\n  - name: anything\n    description: d\n    expr: \"true\"\n"

// TestPriceBandBoundary: whatever the policy says, a limit buy may be
// priced at most 10 % over the mid (a sell 10 % under it): the mid of
// 39999.99 and 40000.01 is 40000, so a buy at 44000 passes and one at
// 44000.01 fails, a sell at 36000 passes and one at 35999.99 fails; a
// buy far under the mid rests and passes; a configured band of 1 %
// narrows it; 0 means the default.
func TestPriceBandBoundary(t *testing.T) {
	pol, err := Load("allow-all.yaml", []byte(allowAll))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		limits Limits
		side   schemas.Action
		price  string
		msg    string // "" = within the band
	}{
		{"buy exactly 10% over the mid", Limits{}, schemas.ActionBuy, "44000", ""},
		{"buy one cent more", Limits{}, schemas.ActionBuy, "44000.01", "limit buy at 44000.01 is over 44000, 10% above the mid 40000"},
		{"buy far under the mid rests", Limits{}, schemas.ActionBuy, "20000", ""},
		{"a band of 0 is the default", Limits{MaxPriceDeviationPct: d("0")}, schemas.ActionBuy, "44000.01", "10% above"},
		{"a 1% band: at it", Limits{MaxPriceDeviationPct: d("1")}, schemas.ActionBuy, "40400", ""},
		{"a 1% band: one cent over", Limits{MaxPriceDeviationPct: d("1")}, schemas.ActionBuy, "40400.01", "over 40400, 1% above"},
		{"sell exactly 10% under the mid", Limits{}, schemas.ActionSell, "36000", ""},
		{"sell one cent less", Limits{}, schemas.ActionSell, "35999.99", "limit sell at 35999.99 is under 36000, 10% below the mid 40000"},
		{"sell far over the mid rests", Limits{}, schemas.ActionSell, "400000", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := NewValidator(pol, tc.limits)
			st, rec := roundState(t)
			rec.Action, rec.LimitPrice = tc.side, dp(tc.price)
			if tc.side == schemas.ActionSell {
				rec.StopLoss = nil
				acc := st.Account
				acc.Positions = map[string]schemas.Position{"BTC/USDT": {Qty: d("0.01"), AvgPrice: d("40000")}}
				st.Account = acc
			}
			got := validateRec(t, v, st, rec)[0]
			if got.Order == nil || got.Order.Price.String() != tc.price {
				t.Fatalf("order %+v (violations %+v); want one sized at %s, for the band to judge", got.Order, got.Violations, tc.price)
			}
			names := violationNames(got)
			band := slices.Contains(names, RuleLimitPriceBand)
			if tc.msg == "" {
				if band {
					t.Fatalf("violations %+v; want none of %s", got.Violations, RuleLimitPriceBand)
				}
				return
			}
			if got.Decision != schemas.DecisionRejected || !band {
				t.Fatalf("decision %s, violations %v; want rejected by %s", got.Decision, names, RuleLimitPriceBand)
			}
			for _, vi := range got.Violations {
				if vi.Rule == RuleLimitPriceBand && (vi.Source != schemas.SourceLimit || !strings.Contains(vi.Message, tc.msg)) {
					t.Errorf("violation %+v; want source limit and %q", vi, tc.msg)
				}
			}
		})
	}
}
