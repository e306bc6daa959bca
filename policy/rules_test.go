package policy

import (
	"slices"
	"sort"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func dp(s string) *decimal.Decimal { v := d(s); return &v }

// baseCase is the contract examples as Go values: the state, and the BTC buy.
func baseCase(t testing.TB) (schemas.State, schemas.Recommendation) {
	t.Helper()
	raw, st := loadExamples(t)
	resp, err := schemas.ParseResponse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return st, resp.Recommendations[0]
}

// cloneState copies the maps so a case can change them.
func cloneState(st schemas.State) schemas.State {
	c := st
	c.Markets = make(map[string]schemas.Market, len(st.Markets))
	for k, v := range st.Markets {
		c.Markets[k] = v
	}
	c.Account.Positions = make(map[string]schemas.Position, len(st.Account.Positions))
	for k, v := range st.Account.Positions {
		c.Account.Positions[k] = v
	}
	return c
}

func violationNames(v schemas.Verdict) []string {
	out := []string{}
	for _, x := range v.Violations {
		out = append(out, x.Rule)
	}
	sort.Strings(out)
	return out
}

func ethSell(rec *schemas.Recommendation, pct string) {
	rec.Symbol = "ETH/USDT"
	rec.Action = schemas.ActionSell
	rec.SizePct = d(pct)
	rec.LimitPrice = dp("2285.2")
	rec.StopLoss = nil
	rec.TakeProfit = nil
}

// TestDefaultRules trips each default rule (and each sizing rule and hard
// limit) on its own, and shows each rule passing, in Go.
func TestDefaultRules(t *testing.T) {
	v := NewValidator(mustDefault(t), Limits{})
	setMarket := func(st *schemas.State, sym string, f func(*schemas.Market)) {
		m := st.Markets[sym]
		f(&m)
		st.Markets[sym] = m
	}
	tests := []struct {
		name   string
		change func(st *schemas.State, rec *schemas.Recommendation)
		want   []string // violated rules; empty means approved
	}{
		{"contract buy passes every rule", func(*schemas.State, *schemas.Recommendation) {}, nil},
		{"reducing sell passes every rule", func(_ *schemas.State, r *schemas.Recommendation) { ethSell(r, "5") }, nil},

		{"symbol_allowlist", func(st *schemas.State, r *schemas.Recommendation) {
			st.Markets["SOL/USDT"] = schemas.Market{Bid: d("100"), Ask: d("100.02"), Last: d("100.01"), QuoteVolume24h: d("90000000"), DataAgeS: d("5"),
				AmountStep: d("0.001"), PriceStep: d("0.01"), MinAmount: d("0.001"), MinNotional: d("5")}
			r.Symbol, r.LimitPrice, r.StopLoss = "SOL/USDT", dp("100.01"), dp("98")
		}, []string{"symbol_allowlist"}},
		{"market_data (zero bid)", func(st *schemas.State, _ *schemas.Recommendation) {
			setMarket(st, "BTC/USDT", func(m *schemas.Market) { m.Bid = decimal.Zero })
		}, []string{"limit_market_data", "market_data"}},
		{"market_data (ask below bid)", func(st *schemas.State, _ *schemas.Recommendation) {
			setMarket(st, "BTC/USDT", func(m *schemas.Market) { m.Ask = d("41990") })
		}, []string{"limit_market_data", "market_data"}},
		{"limit_only", func(_ *schemas.State, r *schemas.Recommendation) {
			r.OrderType, r.LimitPrice = schemas.OrderMarket, nil
		}, []string{"limit_only"}},
		{"max_position", func(_ *schemas.State, r *schemas.Recommendation) { r.SizePct = d("2.5") }, []string{"max_position"}},
		{"max_exposure", func(st *schemas.State, _ *schemas.Recommendation) {
			st.Account.Positions["ETH/USDT"] = schemas.Position{Qty: d("1.3"), AvgPrice: d("2300")}
		}, []string{"max_exposure"}},
		{"max_open_positions", func(st *schemas.State, _ *schemas.Recommendation) {
			st.Account.Positions["SOL/USDT"] = schemas.Position{Qty: d("1"), AvgPrice: d("100")}
			st.Account.Positions["ADA/USDT"] = schemas.Position{Qty: d("10"), AvgPrice: d("0.5")}
		}, []string{"max_open_positions"}},
		{"day_loss", func(st *schemas.State, _ *schemas.Recommendation) { st.Account.DayStartEquity = d("10400") }, []string{"day_loss"}},
		{"drawdown", func(st *schemas.State, _ *schemas.Recommendation) { st.Account.PeakEquity = d("11200") }, []string{"drawdown"}},
		{"order_rate", func(st *schemas.State, _ *schemas.Recommendation) { st.Account.OrdersLastMinute = 6 }, []string{"order_rate"}},
		{"order_rate passes at 5", func(st *schemas.State, _ *schemas.Recommendation) { st.Account.OrdersLastMinute = 5 }, nil},
		{"max_spread", func(st *schemas.State, _ *schemas.Recommendation) {
			setMarket(st, "BTC/USDT", func(m *schemas.Market) { m.Bid, m.Ask = d("41950"), d("42060") })
		}, []string{"max_spread"}},
		{"limit_near_mid", func(_ *schemas.State, r *schemas.Recommendation) { r.LimitPrice = dp("42300") }, []string{"limit_near_mid"}},
		{"limit_near_mid below mid", func(_ *schemas.State, r *schemas.Recommendation) {
			r.LimitPrice, r.StopLoss = dp("41700"), dp("41000")
		}, []string{"limit_near_mid"}},
		{"data_fresh", func(st *schemas.State, _ *schemas.Recommendation) {
			setMarket(st, "BTC/USDT", func(m *schemas.Market) { m.DataAgeS = d("121") })
		}, []string{"data_fresh"}},
		{"data_fresh passes at 120", func(st *schemas.State, _ *schemas.Recommendation) {
			setMarket(st, "BTC/USDT", func(m *schemas.Market) { m.DataAgeS = d("120") })
		}, nil},
		{"buy_stop_loss missing", func(_ *schemas.State, r *schemas.Recommendation) { r.StopLoss = nil }, []string{"buy_stop_loss"}},
		{"buy_stop_loss above price", func(_ *schemas.State, r *schemas.Recommendation) { r.StopLoss = dp("42100") }, []string{"buy_stop_loss"}},
		{"buy_stop_distance", func(_ *schemas.State, r *schemas.Recommendation) { r.StopLoss = dp("37000") }, []string{"buy_stop_distance"}},
		{"buy_confidence", func(_ *schemas.State, r *schemas.Recommendation) { r.Confidence = d("0.54") }, []string{"buy_confidence"}},
		{"buy_confidence passes at 0.55", func(_ *schemas.State, r *schemas.Recommendation) { r.Confidence = d("0.55") }, nil},
		{"sell_held (not held)", func(_ *schemas.State, r *schemas.Recommendation) {
			r.Action, r.StopLoss, r.TakeProfit = schemas.ActionSell, nil, nil
		}, []string{"sell_held"}},
		{"sell_held (more than held)", func(_ *schemas.State, r *schemas.Recommendation) { ethSell(r, "10") }, []string{"sell_held"}},
		{"min_notional", func(st *schemas.State, _ *schemas.Recommendation) {
			setMarket(st, "BTC/USDT", func(m *schemas.Market) { m.MinNotional = d("150") })
		}, []string{"min_notional"}},
		{"min_amount", func(st *schemas.State, _ *schemas.Recommendation) {
			setMarket(st, "BTC/USDT", func(m *schemas.Market) { m.MinAmount = d("0.01") })
		}, []string{"min_amount"}},

		{"sizing_size_pct", func(_ *schemas.State, r *schemas.Recommendation) { r.SizePct = decimal.Zero }, []string{RuleSizingSizePct}},
		{"sizing_limit_price", func(_ *schemas.State, r *schemas.Recommendation) { r.LimitPrice = nil }, []string{RuleSizingLimitPrice}},
		{"sizing_quantity_zero", func(_ *schemas.State, r *schemas.Recommendation) { r.SizePct = d("0.0001") }, []string{RuleSizingQuantityZero}},
		{"sizing_market and limit_market_data", func(_ *schemas.State, r *schemas.Recommendation) { r.Symbol = "XRP/USDT" },
			[]string{RuleLimitMarketData, RuleSizingMarket, "symbol_allowlist", "market_data"}},
		{"sizing_action", func(_ *schemas.State, r *schemas.Recommendation) { r.Action = "short" }, []string{RuleSizingAction}},
		{"sizing_equity", func(st *schemas.State, _ *schemas.Recommendation) { st.Account.Equity = decimal.Zero }, []string{RuleSizingEquity, "day_loss", "drawdown"}},
		{"sizing_reference_price", func(st *schemas.State, r *schemas.Recommendation) {
			r.OrderType, r.LimitPrice = schemas.OrderMarket, nil
			setMarket(st, "BTC/USDT", func(m *schemas.Market) { m.Ask = decimal.Zero })
		}, []string{RuleLimitMarketData, RuleSizingReferencePrice, "market_data", "limit_only"}},

		{"limit_kill_switch", func(st *schemas.State, _ *schemas.Recommendation) { st.KillSwitch = true }, []string{RuleLimitKillSwitch}},
		{"limit_kill_switch blocks sells", func(st *schemas.State, r *schemas.Recommendation) { st.KillSwitch = true; ethSell(r, "5") },
			[]string{RuleLimitKillSwitch}},
		{"limit_safe_mode blocks buys", func(st *schemas.State, _ *schemas.Recommendation) { st.SafeMode = true }, []string{RuleLimitSafeMode}},
		{"limit_safe_mode allows reducing sells", func(st *schemas.State, r *schemas.Recommendation) { st.SafeMode = true; ethSell(r, "5") }, nil},
		{"limit_safe_mode blocks oversells", func(st *schemas.State, r *schemas.Recommendation) { st.SafeMode = true; ethSell(r, "10") },
			[]string{RuleLimitSafeMode, "sell_held"}},
		{"limit_system_mode", func(st *schemas.State, _ *schemas.Recommendation) { st.Mode = "yolo" }, []string{RuleLimitSystemMode}},
		{"limit_system_mode empty", func(st *schemas.State, _ *schemas.Recommendation) { st.Mode = "" }, []string{RuleLimitSystemMode}},
		{"limit_max_order_notional", func(st *schemas.State, r *schemas.Recommendation) {
			st.Account.Equity, st.Account.PeakEquity, st.Account.DayStartEquity = d("100000"), d("100000"), d("100000")
			r.SizePct = d("1.5")
		}, []string{RuleLimitMaxOrderNotional}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base, rec := baseCase(t)
			st := cloneState(base)
			tc.change(&st, &rec)
			got := v.Validate(schemas.Response{Rationale: "r", Recommendations: []schemas.Recommendation{rec}}, st)
			if len(got) != 1 {
				t.Fatalf("Validate returned %d verdicts; want 1", len(got))
			}
			for _, x := range got[0].Violations {
				t.Logf("%s (%s): %s", x.Rule, x.Source, x.Message)
			}
			want := slices.Clone(tc.want)
			sort.Strings(want)
			if want == nil {
				want = []string{}
			}
			if names := violationNames(got[0]); !slices.Equal(names, want) {
				t.Errorf("violations = %v; want %v (%+v)", names, want, got[0].Violations)
			}
			wantDecision := schemas.DecisionApproved
			if len(want) > 0 {
				wantDecision = schemas.DecisionRejected
			}
			if got[0].Decision != wantDecision {
				t.Errorf("decision = %s; want %s", got[0].Decision, wantDecision)
			}
			if wantDecision == schemas.DecisionApproved && got[0].Order == nil {
				t.Errorf("approved verdict has no order")
			}
		})
	}
}
