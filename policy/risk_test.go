package policy

import (
	"strings"
	"testing"

	"github.com/warden-trading/warden/schemas"
)

// roundState is the contract state with BTC at a mid of exactly 40000, so
// that 0.00001 BTC (one amount step) is 0.4 USDT, 0.004 % of the 10000
// equity: size_pct 1 buys exactly 1.000 % and 1.004 one step more.
func roundState(t testing.TB) (schemas.State, schemas.Recommendation) {
	t.Helper()
	base, rec := baseCase(t)
	st := cloneState(base)
	m := st.Markets["BTC/USDT"]
	m.Bid, m.Ask, m.Last = d("39999.99"), d("40000.01"), d("40000")
	st.Markets["BTC/USDT"] = m
	rec.LimitPrice, rec.StopLoss, rec.TakeProfit = dp("40000"), dp("39000"), nil
	return st, rec
}

func validateRec(t testing.TB, v *Validator, st schemas.State, recs ...schemas.Recommendation) []schemas.Verdict {
	t.Helper()
	return v.Validate(schemas.Response{Rationale: "r", Recommendations: recs}, st)
}

// TestRiskScaleCaps: system.risk_scale multiplies max_position and
// max_exposure; at 0.5 the 2 % position cap is 1 %: exactly 1 % passes, one
// amount step more fails, with a message naming the scaled cap.
func TestRiskScaleCaps(t *testing.T) {
	v := NewValidator(mustDefault(t), Limits{})
	tests := []struct {
		name    string
		scale   string // "" = not set
		sizePct string
		ethBid  string // ETH bid and ask 0.02 apart, 0.5 ETH held: for the exposure cap; "" = as in the contract, "none" = no ETH
		want    string // violated rule, "" = approved
		msg     []string
	}{
		{"unset: 2% cap, 2% passes", "", "2", "", "", nil},
		{"scale 1: 2% cap, 2% passes", "1", "2", "", "", nil},
		{"scale 0.5: 1% passes", "0.5", "1", "", "", nil},
		{"scale 0.5: one step over 1% fails", "0.5", "1.004", "", "max_position",
			[]string{"after the buy would be 1.004% of equity, over 1% (2% scaled by 0.5 in reduce mode)"}},
		{"scale 0.5: 2% fails", "0.5", "2", "", "max_position", []string{"over 1% (2% scaled by 0.5 in reduce mode)"}},
		{"scale 0.25: 0.5% passes", "0.25", "0.5", "none", "", nil},
		{"scale 0.25: one step over 0.5% fails", "0.25", "0.504", "none", "max_position", []string{"0.504% of equity, over 0.5% (2% scaled by 0.25"}},
		// 0.5 ETH at a mid of 2800 is 1400, and a 1% BTC buy 100 more:
		// exactly 15%, the exposure cap at 0.5. At a mid of 2800.8 the ETH
		// is worth 0.4 more: 15.004%, with the BTC position still at 1%.
		{"scale 0.5: exposure exactly 15% passes", "0.5", "1", "2799.99", "", nil},
		{"scale 0.5: exposure 0.004% over 15% fails", "0.5", "1", "2800.79", "max_exposure",
			[]string{"total exposure after the buy would be 15.004% of equity, over 15% (30% scaled by 0.5 in reduce mode)"}},
		{"scale 1: exposure 15.004% passes the 30% cap", "1", "1", "2800.79", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, rec := roundState(t)
			if tc.scale != "" {
				st.RiskScale = d(tc.scale)
			}
			switch tc.ethBid {
			case "":
			case "none": // no ETH held: exposure is the BTC buy alone
				delete(st.Account.Positions, "ETH/USDT")
			default:
				m := st.Markets["ETH/USDT"]
				m.Bid = d(tc.ethBid)
				m.Ask, m.Last = m.Bid.Add(d("0.02")), m.Bid.Add(d("0.01"))
				st.Markets["ETH/USDT"] = m
				st.Account.Positions["ETH/USDT"] = schemas.Position{Qty: d("0.5"), AvgPrice: d("2300")}
			}
			rec.SizePct = d(tc.sizePct)
			vd := validateRec(t, v, st, rec)[0]
			got := strings.Join(violationNames(vd), ",")
			if got != tc.want {
				t.Fatalf("violations = %q; want %q (%+v)", got, tc.want, vd.Violations)
			}
			for _, m := range tc.msg {
				if len(vd.Violations) == 0 || !strings.Contains(vd.Violations[0].Message, m) {
					t.Errorf("message = %q; want it to contain %q", vd.Violations, m)
				}
			}
		})
	}
}

// TestRiskScaleInvalid: a state built in Go with a scale outside (0, 1]
// rejects every order by the hard limit, and CEL sees NaN (every cap
// comparison fails too).
func TestRiskScaleInvalid(t *testing.T) {
	v := NewValidator(mustDefault(t), Limits{})
	for _, scale := range []string{"-0.5", "1.0000001", "2"} {
		st, rec := roundState(t)
		st.RiskScale = d(scale)
		vd := validateRec(t, v, st, rec)[0]
		names := violationNames(vd)
		if vd.Decision != schemas.DecisionRejected || !strings.Contains(strings.Join(names, ","), RuleLimitRiskScale) {
			t.Errorf("risk scale %s: verdict %s %v; want rejected by %s", scale, vd.Decision, names, RuleLimitRiskScale)
		}
		// A sell is refused too: the scale is not understood.
		ethSell(&rec, "5")
		vd = validateRec(t, v, st, rec)[0]
		if vd.Decision != schemas.DecisionRejected {
			t.Errorf("risk scale %s: sell verdict %s; want rejected", scale, vd.Decision)
		}
	}
}

// TestRiskScaleInCEL: rules read system.risk_scale (1 when the state does
// not set it).
func TestRiskScaleInCEL(t *testing.T) {
	v := tinyValidator(t, "  - name: scale\n    description: d\n    expr: system.risk_scale == 1.0\n    message: '\"scale \" + num(system.risk_scale)'\n")
	st, rec := roundState(t)
	if vd := validateRec(t, v, st, rec)[0]; vd.Decision != schemas.DecisionApproved {
		t.Errorf("unset scale: %s %v; want approved (system.risk_scale 1)", vd.Decision, vd.Violations)
	}
	st.RiskScale = d("0.3")
	vd := validateRec(t, v, st, rec)[0]
	if vd.Decision != schemas.DecisionRejected || vd.Violations[0].Message != "scale 0.3" {
		t.Errorf("scale 0.3: %s %v; want rejected with \"scale 0.3\"", vd.Decision, vd.Violations)
	}
}

func TestScaledCap(t *testing.T) {
	tests := []struct {
		x, s, want float64
	}{
		{2, 0.5, 1},
		{0.3, 0.1, 0.03}, // 0.3*0.1 in float is 0.030000000000000006
		{2.2, 0.3, 0.66}, // 0.66000000000000003 either way, but exactly the double of "0.66"
		{30, 0.7, 21},
		{10, 1, 10},
	}
	for _, tc := range tests {
		got, ok := scaledCap(tc.x, tc.s)
		if !ok || got != tc.want {
			t.Errorf("scaledCap(%v, %v) = %v, %v; want %v", tc.x, tc.s, got, ok, tc.want)
		}
	}
}
