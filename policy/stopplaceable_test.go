package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/warden-trading/warden/schemas"
)

// TestStopPlaceableBoundary: a buy whose protective stop the exchange
// would refuse (what the fill leaves after the fee in the bought asset,
// rounded down to the amount step, at the stop's limit price, under the
// minimum notional or amount) is refused by a hard limit, whatever the
// policy says. roundState buys 0.0025 BTC at 40000 with a stop at 39000:
// less a 0.1 % fee that is 0.0024975, 0.00249 on the step, and the stop
// rests at 39000 × 0.995 = 38805, so the stop is worth 96.62445. A minimum
// notional of exactly that passes; 0.00001 more fails, as does a minimum
// amount of 0.0025 (the whole order, but more than the stop sells). The
// order itself (100 quote units, 0.0025 BTC) meets every minimum
// throughout, so the policy's own min_notional and min_amount rules pass:
// only the stop fails.
func TestStopPlaceableBoundary(t *testing.T) {
	for _, tc := range []struct {
		name     string
		limits   Limits
		change   func(st *schemas.State, r *schemas.Recommendation)
		rejected bool
		msg      string
	}{
		{"stop notional exactly at the minimum", Limits{}, func(st *schemas.State, _ *schemas.Recommendation) {
			setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.MinNotional = d("96.62445") })
		}, false, ""},
		{"one step over the stop's notional", Limits{}, func(st *schemas.State, _ *schemas.Recommendation) {
			setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.MinNotional = d("96.62446") })
		}, true, "quantity 0.0025 less a 0.1% fee is 0.00249, worth 96.62445 at the stop's limit price 38805 (trigger 39000), under the minimum notional 96.62446"},
		{"min amount exactly what the stop sells", Limits{}, func(st *schemas.State, _ *schemas.Recommendation) {
			setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.MinAmount = d("0.00249") })
		}, false, ""},
		{"min amount one step over what the stop sells", Limits{}, func(st *schemas.State, _ *schemas.Recommendation) {
			setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.MinAmount = d("0.0025") })
		}, true, "quantity 0.0025 less a 0.1% fee is 0.00249 at amount step 0.00001, under the minimum amount 0.0025"},
		{"a higher fee leaves less to protect", Limits{BaseFee: d("0.005")}, func(st *schemas.State, _ *schemas.Recommendation) {
			setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.MinNotional = d("96.62445") })
		}, true, "less a 0.5% fee is 0.00248"},
		{"a lower fee is not taken", Limits{BaseFee: d("0.0001")}, func(st *schemas.State, _ *schemas.Recommendation) {
			setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.MinNotional = d("96.62446") })
		}, true, "less a 0.1% fee"},
		// Binance's BTC/USDT minimum of 5: a buy of 5.2 passes the order's
		// own minimum, but its stop would be 0.00012 × 38805 = 4.66.
		{"a minimum-size buy on Binance's filters", Limits{}, func(st *schemas.State, r *schemas.Recommendation) {
			setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.MinNotional = d("5") })
			r.SizePct = d("0.052")
		}, true, "worth 4.6566 at the stop's limit price 38805"},
		{"the smallest buy whose stop can be placed", Limits{}, func(st *schemas.State, r *schemas.Recommendation) {
			setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.MinNotional = d("5") })
			r.SizePct = d("0.056") // 0.00014: the stop sells 0.00013, worth 5.04465
		}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := NewValidator(mustDefault(t), tc.limits)
			st, rec := roundState(t)
			tc.change(&st, &rec)
			got := validateRec(t, v, st, rec)[0]
			names := violationNames(got)
			if !tc.rejected {
				if got.Decision != schemas.DecisionApproved {
					t.Fatalf("decision %s, violations %+v; want approved", got.Decision, got.Violations)
				}
				return
			}
			if got.Decision != schemas.DecisionRejected || !slices.Equal(names, []string{RuleLimitStopPlaceable}) {
				t.Fatalf("decision %s, violations %v; want rejected by %s alone", got.Decision, names, RuleLimitStopPlaceable)
			}
			if m := got.Violations[0]; m.Source != schemas.SourceLimit || !strings.Contains(m.Message, tc.msg) {
				t.Errorf("violation %+v; want source limit and a message with %q", m, tc.msg)
			}
		})
	}
}

// TestStopPlaceableIgnoresSells: a sell has no stop to place.
func TestStopPlaceableIgnoresSells(t *testing.T) {
	v := NewValidator(mustDefault(t), Limits{})
	st, rec := roundState(t)
	ethSell(&rec, "5")
	setMkt(&st, "ETH/USDT", func(m *schemas.Market) { m.MinNotional = d("10") })
	got := validateRec(t, v, st, rec)[0]
	if got.Decision != schemas.DecisionApproved {
		t.Fatalf("sell: decision %s, violations %+v; want approved", got.Decision, got.Violations)
	}
}
