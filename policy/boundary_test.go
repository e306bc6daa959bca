package policy

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// boundaryCase changes roundState (BTC mid 40000, limit 40000, stop 39000,
// 1% buy, equity 10000) to put one default rule exactly at its limit or one
// step past it.
type boundaryCase struct {
	name   string
	change func(st *schemas.State, r *schemas.Recommendation)
}

func setMkt(st *schemas.State, sym string, f func(*schemas.Market)) {
	m := st.Markets[sym]
	f(&m)
	st.Markets[sym] = m
}

// TestDefaultRuleBoundaries: for every default rule, the value exactly at
// its limit passes and the value one step past it (one price tick, one
// amount step, 0.001 s, 0.001 of confidence, ...) fails, with a message
// whose number is not the limit's (the "2.00 % over 2.00 %").
func TestDefaultRuleBoundaries(t *testing.T) {
	v := NewValidator(mustDefault(t), Limits{})
	none := func(*schemas.State, *schemas.Recommendation) {}
	tests := []struct {
		rule    string
		at      boundaryCase
		past    boundaryCase
		message string // in the violation message of the past case
	}{
		{"symbol_allowlist",
			boundaryCase{"BTC/USDT is listed", none},
			boundaryCase{"SOL/USDT is not", func(st *schemas.State, r *schemas.Recommendation) {
				st.Markets["SOL/USDT"] = schemas.Market{Bid: d("100"), Ask: d("100.02"), Last: d("100.01"), DataAgeS: d("5"),
					AmountStep: d("0.001"), PriceStep: d("0.01"), MinAmount: d("0.001"), MinNotional: d("5")}
				r.Symbol, r.LimitPrice, r.StopLoss = "SOL/USDT", dp("100.01"), dp("98")
			}},
			"symbol SOL/USDT is not on the allowlist"},
		{"market_data",
			boundaryCase{"bid = ask is a market", func(st *schemas.State, _ *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.Bid, m.Ask = d("40000"), d("40000") })
			}},
			boundaryCase{"ask one tick below bid is not", func(st *schemas.State, _ *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.Bid, m.Ask = d("40000"), d("39999.99") })
			}},
			"no usable market data for BTC/USDT"},
		{"exchange_open",
			boundaryCase{"normal and no window open", func(st *schemas.State, _ *schemas.Recommendation) {
				st.ExchangeStatus, st.InMaintenance = schemas.ExchangeNormal, false
			}},
			boundaryCase{"status unknown", func(st *schemas.State, _ *schemas.Recommendation) {
				st.ExchangeStatus = schemas.ExchangeUnknown
			}},
			"exchange status is unknown (it could not be read): no new orders"},
		{"exchange_open (window)",
			boundaryCase{"status left out is normal", none},
			boundaryCase{"normal but a maintenance window is open", func(st *schemas.State, _ *schemas.Recommendation) {
				st.InMaintenance = true
			}},
			"a configured maintenance window is open"},
		{"exchange_open (maintenance)",
			boundaryCase{"normal", func(st *schemas.State, _ *schemas.Recommendation) { st.ExchangeStatus = schemas.ExchangeNormal }},
			boundaryCase{"maintenance", func(st *schemas.State, _ *schemas.Recommendation) { st.ExchangeStatus = schemas.ExchangeMaintenance }},
			"exchange status is maintenance: no new orders"},
		{"market_trading",
			boundaryCase{"TRADING", func(st *schemas.State, _ *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.Status = schemas.MarketTrading })
			}},
			boundaryCase{"HALT", func(st *schemas.State, _ *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.Status = "HALT" })
			}},
			"market BTC/USDT is HALT on the exchange, not TRADING"},
		{"min_quote_volume",
			boundaryCase{"exactly 50 M", func(st *schemas.State, _ *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.QuoteVolume24h = d("50000000") })
			}},
			boundaryCase{"one cent less", func(st *schemas.State, _ *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.QuoteVolume24h = d("49999999.99") })
			}},
			"24 h volume of BTC/USDT is 49999999.99, under the minimum of 50000000 for a buy"},
		{"max_slippage",
			// 0.0025 BTC: half at 40000, half at 40080 averages 40040, 10 bps over the best.
			boundaryCase{"exactly 10 bps", func(st *schemas.State, _ *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) {
					m.Book = &schemas.Book{Bids: []schemas.BookLevel{{Price: d("39999.99"), Qty: d("1")}},
						Asks: []schemas.BookLevel{{Price: d("40000"), Qty: d("0.00125")}, {Price: d("40080"), Qty: d("1")}}}
				})
			}},
			boundaryCase{"the second level one cent higher", func(st *schemas.State, _ *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) {
					m.Book = &schemas.Book{Bids: []schemas.BookLevel{{Price: d("39999.99"), Qty: d("1")}},
						Asks: []schemas.BookLevel{{Price: d("40000"), Qty: d("0.00125")}, {Price: d("40080.01"), Qty: d("1")}}}
				})
			}},
			"through the book is 10.001 bps, over 10 bps"},
		{"limit_only",
			boundaryCase{"limit", none},
			boundaryCase{"market", func(_ *schemas.State, r *schemas.Recommendation) {
				r.OrderType, r.LimitPrice = schemas.OrderMarket, nil
			}},
			"order type market is not allowed"},
		{"max_position",
			boundaryCase{"exactly 2% (0.005 BTC at 40000 = 200)", func(_ *schemas.State, r *schemas.Recommendation) { r.SizePct = d("2") }},
			boundaryCase{"one amount step more (200.4)", func(_ *schemas.State, r *schemas.Recommendation) { r.SizePct = d("2.004") }},
			"after the buy would be 2.004% of equity, over 2%"},
		{"max_position (limit below mid, point 6)",
			boundaryCase{"size_pct 2 at 39900: 0.00501 BTC = 199.899", func(_ *schemas.State, r *schemas.Recommendation) {
				r.SizePct, r.LimitPrice = d("2"), dp("39900")
			}},
			boundaryCase{"one amount step more: 0.00502 BTC = 200.298", func(_ *schemas.State, r *schemas.Recommendation) {
				r.SizePct, r.LimitPrice = d("2.003"), dp("39900")
			}},
			"after the buy would be 2.003% of equity, over 2%"},
		{"max_exposure",
			// 1 ETH at a mid of 2800 is 2800; with a 2% BTC buy, exactly 30%.
			boundaryCase{"exactly 30%", func(st *schemas.State, r *schemas.Recommendation) {
				setMkt(st, "ETH/USDT", func(m *schemas.Market) { m.Bid, m.Ask, m.Last = d("2799.99"), d("2800.01"), d("2800") })
				st.Account.Positions["ETH/USDT"] = schemas.Position{Qty: d("1"), AvgPrice: d("2300")}
				r.SizePct = d("2")
			}},
			boundaryCase{"ETH 0.4 higher: 30.004%", func(st *schemas.State, r *schemas.Recommendation) {
				setMkt(st, "ETH/USDT", func(m *schemas.Market) { m.Bid, m.Ask, m.Last = d("2800.39"), d("2800.41"), d("2800.4") })
				st.Account.Positions["ETH/USDT"] = schemas.Position{Qty: d("1"), AvgPrice: d("2300")}
				r.SizePct = d("2")
			}},
			"total exposure after the buy would be 30.004% of equity, over 30%"},
		{"max_open_positions",
			boundaryCase{"3 open after the buy", func(st *schemas.State, _ *schemas.Recommendation) {
				st.Account.Positions["ADA/USDT"] = schemas.Position{Qty: d("10"), AvgPrice: d("0.5")}
			}},
			boundaryCase{"4 open after the buy", func(st *schemas.State, _ *schemas.Recommendation) {
				st.Account.Positions["ADA/USDT"] = schemas.Position{Qty: d("10"), AvgPrice: d("0.5")}
				st.Account.Positions["SOL/USDT"] = schemas.Position{Qty: d("1"), AvgPrice: d("100")}
			}},
			"4 positions would be open after the buy, over the maximum of 3"},
		{"day_loss",
			boundaryCase{"exactly 3% down", func(st *schemas.State, _ *schemas.Recommendation) {
				st.Account.Equity, st.Account.DayStartEquity, st.Account.PeakEquity = d("9700"), d("10000"), d("10000")
			}},
			boundaryCase{"one cent more: 3.0001%", func(st *schemas.State, _ *schemas.Recommendation) {
				st.Account.Equity, st.Account.DayStartEquity, st.Account.PeakEquity = d("9699.99"), d("10000"), d("10000")
			}},
			"day loss is 3.0001% of day-start equity, over 3%"},
		{"drawdown",
			boundaryCase{"exactly 10% below peak", func(st *schemas.State, _ *schemas.Recommendation) {
				st.Account.Equity, st.Account.DayStartEquity, st.Account.PeakEquity = d("9000"), d("9000"), d("10000")
			}},
			boundaryCase{"one cent more: 10.0001%", func(st *schemas.State, _ *schemas.Recommendation) {
				st.Account.Equity, st.Account.DayStartEquity, st.Account.PeakEquity = d("8999.99"), d("8999.99"), d("10000")
			}},
			"drawdown from peak is 10.0001%, over 10%"},
		{"order_rate",
			boundaryCase{"the 6th order in a minute", func(st *schemas.State, _ *schemas.Recommendation) { st.Account.OrdersLastMinute = 5 }},
			boundaryCase{"the 7th", func(st *schemas.State, _ *schemas.Recommendation) { st.Account.OrdersLastMinute = 6 }},
			"6 orders in the last minute: one more would be 7, over the maximum of 6 per minute"},
		{"max_spread",
			boundaryCase{"exactly 20 bps (80 on 40000)", func(st *schemas.State, _ *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.Bid, m.Ask = d("39960"), d("40040") })
			}},
			boundaryCase{"one tick wider each side: 20.005 bps", func(st *schemas.State, _ *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.Bid, m.Ask = d("39959.99"), d("40040.01") })
			}},
			"spread is 20.005 bps, over 20 bps"},
		{"limit_near_mid",
			boundaryCase{"exactly 50 bps above mid", func(_ *schemas.State, r *schemas.Recommendation) { r.LimitPrice = dp("40200") }},
			boundaryCase{"one tick more", func(_ *schemas.State, r *schemas.Recommendation) { r.LimitPrice = dp("40200.01") }},
			"limit price 40200.01 is 50.002 bps from mid 40000, over 50 bps"},
		{"limit_near_mid (below mid)",
			boundaryCase{"exactly 50 bps below mid", func(_ *schemas.State, r *schemas.Recommendation) { r.LimitPrice = dp("39800") }},
			boundaryCase{"one tick more", func(_ *schemas.State, r *schemas.Recommendation) { r.LimitPrice = dp("39799.99") }},
			"limit price 39799.99 is 50.002 bps from mid 40000, over 50 bps"},
		{"data_fresh",
			boundaryCase{"120 s old", func(st *schemas.State, _ *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.DataAgeS = d("120") })
			}},
			boundaryCase{"120.001 s old", func(st *schemas.State, _ *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.DataAgeS = d("120.001") })
			}},
			"market data is 120.001 s old, over 120 s"},
		{"buy_stop_loss",
			boundaryCase{"one tick below the price", func(_ *schemas.State, r *schemas.Recommendation) { r.StopLoss = dp("39999.99") }},
			boundaryCase{"at the price", func(_ *schemas.State, r *schemas.Recommendation) { r.StopLoss = dp("40000") }},
			"stop_loss 40000 (on the price step) is not below the price 40000"},
		{"buy_stop_distance",
			boundaryCase{"exactly 10% below", func(_ *schemas.State, r *schemas.Recommendation) { r.StopLoss = dp("36000") }},
			boundaryCase{"one tick more", func(_ *schemas.State, r *schemas.Recommendation) { r.StopLoss = dp("35999.99") }},
			"stop_loss 35999.99 is 10.00003% below the price 40000, over 10%"},
		{"buy_stop_distance (the issue's 31791.40 / 28612.26)",
			boundaryCase{"exactly 10% below 31791.40", func(st *schemas.State, r *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.Bid, m.Ask, m.Last = d("31791.39"), d("31791.41"), d("31791.4") })
				r.LimitPrice, r.StopLoss = dp("31791.40"), dp("28612.26")
			}},
			boundaryCase{"one tick more", func(st *schemas.State, r *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.Bid, m.Ask, m.Last = d("31791.39"), d("31791.41"), d("31791.4") })
				r.LimitPrice, r.StopLoss = dp("31791.40"), dp("28612.25")
			}},
			"stop_loss 28612.25 is 10.00003% below the price 31791.4, over 10%"},
		{"take_profit_side",
			boundaryCase{"one tick above the price", func(_ *schemas.State, r *schemas.Recommendation) { r.TakeProfit = dp("40000.01") }},
			boundaryCase{"at the price", func(_ *schemas.State, r *schemas.Recommendation) { r.TakeProfit = dp("40000") }},
			"take_profit 40000 (on the price step) is not above the buy price 40000"},
		{"buy_confidence",
			boundaryCase{"exactly 0.55", func(_ *schemas.State, r *schemas.Recommendation) { r.Confidence = d("0.55") }},
			boundaryCase{"0.549", func(_ *schemas.State, r *schemas.Recommendation) { r.Confidence = d("0.549") }},
			"confidence 0.549 is below the minimum 0.55 for a buy"},
		{"buy_confidence (far digits)",
			boundaryCase{"exactly 0.55", func(_ *schemas.State, r *schemas.Recommendation) { r.Confidence = d("0.550000000000000000") }},
			boundaryCase{"0.55 less 1e-18", func(_ *schemas.State, r *schemas.Recommendation) { r.Confidence = d("0.549999999999999999") }},
			"confidence 0.549999999999999 is below the minimum 0.55 for a buy"},
		{"sell_held",
			// 0.35 ETH held; 7.9982% of 10000 at 2285.2 is exactly 0.35.
			boundaryCase{"selling exactly the 0.35 held", func(_ *schemas.State, r *schemas.Recommendation) { ethSell(r, "7.9982") }},
			boundaryCase{"one amount step more: 0.3501", func(_ *schemas.State, r *schemas.Recommendation) { ethSell(r, "8.0005") }},
			"sell of 0.3501 ETH/USDT is more than the 0.35 that may be sold"},
		{"sell_held (locked by open orders)",
			boundaryCase{"selling the 0.15 not locked", func(st *schemas.State, r *schemas.Recommendation) {
				st.Account.Positions["ETH/USDT"] = schemas.Position{Qty: d("0.35"), AvgPrice: d("2300"), Locked: d("0.2")}
				ethSell(r, "3.4278") // 0.15 × 2285.2 = 342.78
			}},
			boundaryCase{"one amount step more: 0.1501", func(st *schemas.State, r *schemas.Recommendation) {
				st.Account.Positions["ETH/USDT"] = schemas.Position{Qty: d("0.35"), AvgPrice: d("2300"), Locked: d("0.2")}
				ethSell(r, "3.4301") // 343.01 / 0.22852 = 1501.01 steps
			}},
			"sell of 0.1501 ETH/USDT is more than the 0.15 that may be sold (0.35 held now"},
		{"min_notional",
			boundaryCase{"2% = 200 with a minimum of 200", func(st *schemas.State, r *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.MinNotional = d("200") })
				r.SizePct = d("2")
			}},
			boundaryCase{"a minimum one cent higher", func(st *schemas.State, r *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.MinNotional = d("200.01") })
				r.SizePct = d("2")
			}},
			"notional 200 is below the exchange minimum 200.01"},
		{"min_amount",
			boundaryCase{"0.005 with a minimum of 0.005", func(st *schemas.State, r *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.MinAmount = d("0.005") })
				r.SizePct = d("2")
			}},
			boundaryCase{"a minimum one step higher", func(st *schemas.State, r *schemas.Recommendation) {
				setMkt(st, "BTC/USDT", func(m *schemas.Market) { m.MinAmount = d("0.00501") })
				r.SizePct = d("2")
			}},
			"quantity 0.005 is below the exchange minimum 0.00501"},
	}
	// A buy exactly at the exchange's minimum amount or notional meets
	// the rule, but its protective stop (what the fill leaves after the
	// fee, at the stop's lower price) is under the minimum: the hard limit
	// limit_stop_placeable refuses it, and nothing else may.
	stopUnderMinimum := map[string]bool{"min_notional": true, "min_amount": true}
	covered := map[string]bool{}
	for _, tc := range tests {
		rule, _, _ := strings.Cut(tc.rule, " ")
		covered[rule] = true
		t.Run(tc.rule+"/at: "+tc.at.name, func(t *testing.T) {
			st, rec := roundState(t)
			tc.at.change(&st, &rec)
			vd := validateRec(t, v, st, rec)[0]
			if stopUnderMinimum[tc.rule] {
				if names := violationNames(vd); !slices.Equal(names, []string{RuleLimitStopPlaceable}) {
					t.Errorf("verdict = %s %+v; want %s passed and only %s failed", vd.Decision, vd.Violations, tc.rule, RuleLimitStopPlaceable)
				}
				return
			}
			if vd.Decision != schemas.DecisionApproved {
				t.Errorf("verdict = %s %+v; want approved at the limit", vd.Decision, vd.Violations)
			}
		})
		t.Run(tc.rule+"/past: "+tc.past.name, func(t *testing.T) {
			st, rec := roundState(t)
			tc.past.change(&st, &rec)
			vd := validateRec(t, v, st, rec)[0]
			var msg string
			for _, x := range vd.Violations {
				if x.Rule == rule {
					msg = x.Message
				}
			}
			if vd.Decision != schemas.DecisionRejected || msg == "" {
				t.Fatalf("verdict = %s %+v; want rejected by %s", vd.Decision, vd.Violations, rule)
			}
			if !strings.Contains(msg, tc.message) {
				t.Errorf("message = %q; want it to contain %q", msg, tc.message)
			}
			assertHonest(t, msg)
		})
	}
	p := mustDefault(t)
	for _, r := range p.RuleNames() {
		if !covered[r] {
			t.Errorf("rule %s has no boundary case", r)
		}
	}
}

var numRE = regexp.MustCompile(`\d+(\.\d+)?`)

// assertHonest checks that a violation message never shows the failing
// value as the same number as the limit: "X ... over Y" / "X is below Y"
// with X == Y is what the issue calls a message that contradicts its
// verdict.
func assertHonest(t *testing.T, msg string) {
	t.Helper()
	for _, sep := range []string{", over ", " is below the minimum ", " is below the exchange minimum ", " is more than the ", " is not below the price ", " is not above the buy price "} {
		before, after, ok := strings.Cut(msg, sep)
		if !ok {
			continue
		}
		bs := numRE.FindAllString(before, -1)
		as := numRE.FindAllString(after, 1)
		if len(bs) == 0 || len(as) == 0 {
			continue
		}
		got, lim := d(bs[len(bs)-1]), d(as[0])
		if sep == " is not below the price " || sep == " is not above the buy price " {
			continue // equal values are the point of these messages
		}
		if got.Equal(lim) {
			t.Errorf("message %q shows the value %s as the limit %s", msg, got, lim)
		}
	}
}

// TestFixedVs: the shown value is on the same side of the limit as the
// value, never equal to it.
func TestFixedVs(t *testing.T) {
	tests := []struct {
		x, limit float64
		want     string
	}{
		{0.549, 0.55, "0.549"},
		{0.5499, 0.55, "0.5499"},
		{2.004, 2, "2.004"},
		{2.5, 2, "2.50"},
		{200.03 / 100 * 100, 200, "200.03"},
		{20.005, 20, "20.005"},
		{3, 3, "3.00"},
		{1.994, 2, "1.99"},
		{10.000025, 10, "10.00003"},
	}
	for _, tc := range tests {
		if got := fixedVs(tc.x, tc.limit); got != tc.want {
			t.Errorf("fixedVs(%v, %v) = %q; want %q", tc.x, tc.limit, got, tc.want)
		}
	}
}

// TestDblRounding: derived values go to CEL rounded in the strict direction
// at 15 significant digits.
func TestDblRounding(t *testing.T) {
	tests := []struct {
		in   string
		r    rounding
		want float64
	}{
		{"2", roundUp, 2},
		{"2.0000000000000001", roundUp, 2.00000000000001},
		{"2.0000000000000001", roundDown, 2},
		{"0.549999999999999999", roundDown, 0.549999999999999},
		{"0.55", roundDown, 0.55},
		{"-3.00000000000000001", roundUp, -3},
		{"-3.00000000000000001", roundDown, -3.00000000000001},
		{"123456789012345678", roundUp, 123456789012346000},
	}
	for _, tc := range tests {
		if got := dbl(d(tc.in), tc.r); got != tc.want {
			t.Errorf("dbl(%s, %d) = %v; want %v", tc.in, tc.r, got, tc.want)
		}
	}
	// ratio rounds its quotient the same way.
	if q := ratio(d("1"), decOne, d("3"), roundUp); !q.GreaterThan(d("0.333333333333333333333333")) {
		t.Errorf("ratio(1/3, up) = %s; want above the truncated quotient", q)
	}
	if q := ratio(d("1"), decOne, d("3"), roundDown); !q.Equal(d("0.333333333333333333333333")) {
		t.Errorf("ratio(1/3, down) = %s", q)
	}
	if q := ratio(d("-1"), decOne, d("3"), roundDown); !q.LessThan(d("-0.333333333333333333333333")) {
		t.Errorf("ratio(-1/3, down) = %s; want below", q)
	}
}

// TestSellAgainstHoldings is point 1: a sell is judged against what is
// held now, never against an unfilled buy earlier in the response.
func TestSellAgainstHoldings(t *testing.T) {
	v := NewValidator(mustDefault(t), Limits{})
	st, buy := roundState(t)
	sell := buy
	sell.Action, sell.SizePct, sell.StopLoss, sell.TakeProfit = schemas.ActionSell, d("0.5"), nil, nil
	got := validateRec(t, v, st, buy, sell)
	if got[0].Decision != schemas.DecisionApproved {
		t.Fatalf("buy = %s %v; want approved", got[0].Decision, got[0].Violations)
	}
	if names := violationNames(got[1]); !slices.Equal(names, []string{RuleOnePerSymbol, "sell_held"}) {
		t.Errorf("sell of the BTC the buy would bring: violations %v; want one_per_symbol and sell_held", names)
	}
	// The caps still count the approved buy: a second symbol's buy sees the
	// exposure with it.
	a := &activation{params: v.p.params}
	b := newBook(&st)
	o, _ := SizeOrder(buy, st)
	b.apply(o)
	b.fill(a, &sell, nil)
	if a.account.sellableQty != 0 || a.account.positionQty != 0 {
		t.Errorf("after an approved buy: sellable %v, position_qty %v; want 0, 0", a.account.sellableQty, a.account.positionQty)
	}
	if a.account.exposureAfter <= a.account.exposure {
		t.Errorf("exposure_after %v not above exposure %v: the approved buy is not counted for caps", a.account.exposureAfter, a.account.exposure)
	}
}

// TestStopsOnThePriceStep is point 4: stops and take-profits are rounded
// onto the price step towards the price before any rule sees them, and the
// rounded value is the one in the order.
func TestStopsOnThePriceStep(t *testing.T) {
	v := NewValidator(mustDefault(t), Limits{})
	tests := []struct {
		name             string
		stop, tp         string
		wantStop, wantTP string
		want             []string
	}{
		{"a stop off the step rounds up", "39200.005", "43900.005", "39200.01", "43900", nil},
		{"a stop 10.0000125% below rounds up to exactly 10%", "35999.995", "", "36000", "", nil},
		{"a stop just below the price rounds up onto it and fails", "39999.995", "", "40000", "", []string{"buy_stop_loss"}},
		{"a take-profit just above the price rounds down onto it and fails", "39000", "40000.004", "39000", "40000", []string{"take_profit_side"}},
		{"on the step already: unchanged", "39000.01", "41000.02", "39000.01", "41000.02", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, rec := roundState(t)
			rec.StopLoss = dp(tc.stop)
			if tc.tp != "" {
				rec.TakeProfit = dp(tc.tp)
			}
			vd := validateRec(t, v, st, rec)[0]
			if vd.Order == nil || vd.Order.StopLoss == nil || !vd.Order.StopLoss.Equal(d(tc.wantStop)) {
				t.Fatalf("order stop = %v; want %s", vd.Order, tc.wantStop)
			}
			if tc.tp != "" && (vd.Order.TakeProfit == nil || !vd.Order.TakeProfit.Equal(d(tc.wantTP))) {
				t.Errorf("order take_profit = %v; want %s", vd.Order.TakeProfit, tc.wantTP)
			}
			want := slices.Clone(tc.want)
			if want == nil {
				want = []string{}
			}
			if names := violationNames(vd); !slices.Equal(names, want) {
				t.Errorf("violations = %v; want %v (%+v)", names, want, vd.Violations)
			}
		})
	}
	// The case: 41200.005 with step 0.01 under 42010.5 is placed as
	// 41200.01.
	st, rec := baseCase(t)
	rec.StopLoss = dp("41200.005")
	if vd := validateRec(t, v, st, rec)[0]; vd.Decision != schemas.DecisionApproved || !vd.Order.StopLoss.Equal(d("41200.01")) {
		t.Errorf("stop 41200.005: %s, order stop %v; want approved with 41200.01", vd.Decision, vd.Order.StopLoss)
	}
	// A sell's stop above its price rounds down, towards it.
	o, _ := SizeOrder(schemas.Recommendation{Symbol: "ETH/USDT", Action: schemas.ActionSell, SizePct: d("1"), OrderType: schemas.OrderLimit,
		LimitPrice: dp("2285.2"), StopLoss: dp("2300.005")}, st)
	if o == nil || !o.StopLoss.Equal(d("2300")) {
		t.Errorf("sell stop 2300.005 = %v; want 2300", o)
	}
}

// TestEveryRuleJudgedWhenSizingFails is point 5: a hallucinated symbol
// (no market, cannot be sized) names symbol_allowlist and every other rule
// that does not need the sized order; the rest are not applicable, with
// the sizing reason.
func TestEveryRuleJudgedWhenSizingFails(t *testing.T) {
	v := NewValidator(mustDefault(t), Limits{})
	st, rec := roundState(t)
	rec.Symbol, rec.Confidence = "PEPE2/USDT", decimal.RequireFromString("0.3")
	vd := validateRec(t, v, st, rec)[0]
	want := []string{"buy_confidence", RuleLimitMarketData, "market_data", RuleSizingMarket, "symbol_allowlist"}
	if names := violationNames(vd); !slices.Equal(names, want) {
		t.Errorf("violations = %v; want %v", names, want)
	}
	if vd.Order != nil || vd.Decision != schemas.DecisionRejected {
		t.Errorf("verdict %s with order %v; want rejected without an order", vd.Decision, vd.Order)
	}
	judged := map[string]schemas.RuleResult{}
	for _, r := range vd.Rules {
		judged[r.Name] = r
	}
	needsOrder := []string{"max_position", "max_exposure", "max_open_positions", "limit_near_mid", "buy_stop_loss",
		"buy_stop_distance", "take_profit_side", "sell_held", "min_notional", "min_amount"}
	for _, n := range needsOrder {
		r := judged[n]
		if !r.NotApplicable || r.Passed || !strings.Contains(r.Message, "not applicable: the order could not be sized (sizing_market: ") {
			t.Errorf("rule %s = %+v; want not applicable with the sizing reason", n, r)
		}
	}
	for _, n := range []string{"limit_only", "day_loss", "drawdown", "order_rate", "data_fresh", "max_spread"} {
		if r := judged[n]; !r.Passed || r.NotApplicable {
			t.Errorf("rule %s = %+v; want judged and passed", n, r)
		}
	}
	if len(vd.Rules) != len(mustDefault(t).RuleNames()) {
		t.Errorf("%d rule results; want one per rule", len(vd.Rules))
	}
	// A market order for it also names limit_only.
	rec.OrderType, rec.LimitPrice = schemas.OrderMarket, nil
	if names := violationNames(validateRec(t, v, st, rec)[0]); !slices.Contains(names, "limit_only") || !slices.Contains(names, "symbol_allowlist") {
		t.Errorf("market order for PEPE2/USDT: violations %v; want limit_only and symbol_allowlist", names)
	}
}

// TestReadsSized: the static analysis that decides which rules need the
// sized order.
func TestReadsSized(t *testing.T) {
	p := mustDefault(t)
	want := map[string]bool{"max_position": true, "max_exposure": true, "max_open_positions": true, "limit_near_mid": true,
		"buy_stop_loss": true, "buy_stop_distance": true, "take_profit_side": true, "sell_held": true, "min_notional": true, "min_amount": true,
		"max_slippage": true}
	for _, r := range p.rules {
		if r.needsOrder != want[r.name] {
			t.Errorf("rule %s needsOrder = %v; want %v", r.name, r.needsOrder, want[r.name])
		}
	}
}

// TestRatioFastMatchesDecimal: the integer fast path gives the same double
// as the decimal path (ratio at 24 places, then 15 significant digits), in
// both directions, for random prices, amounts and equities.
func TestRatioFastMatchesDecimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randDec := func() decimal.Decimal {
		coef := rng.Int64N(1_000_000_000_000) - 1_000_000
		return decimal.New(coef, -int32(rng.IntN(12)))
	}
	fast := 0
	for i := 0; i < 20000; i++ {
		num, den := randDec(), randDec().Abs()
		if den.IsZero() {
			continue
		}
		if i%7 == 0 { // exact quotients: the at-a-limit case
			num = den.Mul(decimal.New(rng.Int64N(5000), -int32(rng.IntN(4))))
		}
		for _, scale := range []int64{100, 10000} {
			for _, r := range []rounding{roundUp, roundDown} {
				want := dbl(ratio(num, decimal.NewFromInt(scale), den, r), r)
				got, ok := ratioFast(num, scale, den, r)
				if !ok {
					continue
				}
				fast++
				if got != want {
					t.Fatalf("ratioFast(%s×%d/%s, %d) = %v; decimal path %v", num, scale, den, r, got, want)
				}
			}
		}
	}
	if fast < 50000 {
		t.Errorf("fast path taken %d times; want most of 80000", fast)
	}
}
