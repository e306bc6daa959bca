package backtest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

var t0 = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// quarterCurve: four quarters of a 365-day year, equity 100 → 110 → 99 →
// 99 → 118.8, returns +10%, −10%, 0, +20%.
func quarterCurve() []Point {
	q := year / 4
	eq := []float64{100, 110, 99, 99, 118.8}
	inv := []float64{0, 110, 0.5, 99, 0}
	c := make([]Point, len(eq))
	for i := range eq {
		c[i] = Point{Time: t0.Add(time.Duration(i) * q), Equity: eq[i], Invested: inv[i]}
	}
	return c
}

func fill(id, sym string, side schemas.Side, qty, price, fee, feeCur string, at int) executor.Trade {
	return executor.Trade{ID: id, Symbol: sym, Side: side, Quantity: d(qty), Price: d(price), Fee: d(fee), FeeCurrency: feeCur, Time: t0.Add(time.Duration(at) * time.Hour)}
}

func handFills() []executor.Trade {
	return []executor.Trade{
		fill("1", "BTC/USDT", schemas.SideBuy, "1", "100", "0.1", "USDT", 0),
		fill("2", "BTC/USDT", schemas.SideSell, "1", "110", "0.11", "USDT", 1),
		fill("3", "BTC/USDT", schemas.SideBuy, "2", "50", "0.001", "BTC", 2), // fee 0.05 USDT, 1.999 BTC delivered
		fill("4", "BTC/USDT", schemas.SideSell, "1.999", "45", "0.08995", "USDT", 3),
		fill("5", "ETH/USDT", schemas.SideBuy, "1", "10", "0.01", "USDT", 4),
	}
}

func TestAnalyzeHandComputed(t *testing.T) {
	m, err := Analyze(Input{Curve: quarterCurve(), Fills: handFills(), PeriodsPerYear: 4})
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	// Returns 0.1, −0.1, 0, 0.2: mean 0.05, sample sd √(0.05/3), downside
	// deviation √(0.01/4) = 0.05, √PeriodsPerYear = 2.
	sd := math.Sqrt(0.05 / 3)
	rec := t0.Add(year)
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"StartEquity", m.StartEquity, 100},
		{"EndEquity", m.EndEquity, 118.8},
		{"TotalReturn", m.TotalReturn, 0.188},
		{"CAGR (one year)", deref(m.CAGR), 0.188},
		{"Volatility", m.Volatility, sd * 2},
		{"Sharpe", m.Sharpe, 0.05 / sd * 2},
		{"Sortino", m.Sortino, 2},
		{"MaxDrawdown", m.MaxDrawdown, 0.1},
		{"Exposure", m.Exposure, 0.5}, // 2nd and 4th quarters; 0.5 of 99 is dust
		{"TradedNotional", m.TradedNotional, 409.955},
		{"Turnover", m.Turnover, 409.955 / 105.36},
		{"WinRate", m.WinRate, 0.5},
		{"Bars", float64(m.Bars), 5},
		{"Fills", float64(m.Fills), 5},
		{"RoundTrips", float64(m.RoundTrips), 2},
		{"Wins", float64(m.Wins), 1},
		{"OpenTrips", float64(m.OpenTrips), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !near(tc.got, tc.want) {
				t.Errorf("Analyze(quarterCurve).%s = %.12g; want %.12g", tc.name, tc.got, tc.want)
			}
		})
	}
	if want := d("0.35995"); !m.FeesPaid.Equal(want) {
		t.Errorf("FeesPaid = %s; want %s", m.FeesPaid, want)
	}
	q := year / 4
	if !m.DrawdownPeak.Equal(t0.Add(q)) || !m.DrawdownTrough.Equal(t0.Add(2*q)) {
		t.Errorf("drawdown dates = %s → %s; want %s → %s (the earliest of equal troughs)", m.DrawdownPeak, m.DrawdownTrough, t0.Add(q), t0.Add(2*q))
	}
	if m.DrawdownRecovery == nil || !m.DrawdownRecovery.Equal(rec) {
		t.Errorf("DrawdownRecovery = %v; want %s", m.DrawdownRecovery, rec)
	}
}

func TestAnalyzeEdgeCases(t *testing.T) {
	h := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Hour) }
	tests := []struct {
		name  string
		curve []Point
		check func(t *testing.T, m Metrics)
	}{
		{"single point", []Point{{Time: h(0), Equity: 100}}, func(t *testing.T, m Metrics) {
			if m.TotalReturn != 0 || m.CAGR != nil || m.Sharpe != 0 || m.Sortino != 0 || m.MaxDrawdown != 0 || m.Exposure != 0 {
				t.Errorf("single point metrics = %+v; want zeros", m)
			}
		}},
		{"flat curve: no volatility, Sharpe 0", []Point{{Time: h(0), Equity: 100}, {Time: h(1), Equity: 100}, {Time: h(2), Equity: 100}}, func(t *testing.T, m Metrics) {
			if m.Sharpe != 0 || m.Sortino != 0 || m.Volatility != 0 || m.MaxDrawdown != 0 {
				t.Errorf("flat metrics Sharpe %v Sortino %v Vol %v DD %v; want 0", m.Sharpe, m.Sortino, m.Volatility, m.MaxDrawdown)
			}
		}},
		{"only gains: Sortino 0 (undefined), no drawdown", []Point{{Time: h(0), Equity: 100}, {Time: h(1), Equity: 101}, {Time: h(2), Equity: 103}}, func(t *testing.T, m Metrics) {
			if m.Sortino != 0 || m.MaxDrawdown != 0 || m.DrawdownRecovery != nil {
				t.Errorf("gains Sortino %v DD %v recovery %v; want 0, 0, nil", m.Sortino, m.MaxDrawdown, m.DrawdownRecovery)
			}
		}},
		{"unrecovered drawdown", []Point{{Time: h(0), Equity: 100}, {Time: h(1), Equity: 120}, {Time: h(2), Equity: 90}, {Time: h(3), Equity: 119}}, func(t *testing.T, m Metrics) {
			if !near(m.MaxDrawdown, 0.25) || m.DrawdownRecovery != nil || !m.DrawdownPeak.Equal(h(1)) || !m.DrawdownTrough.Equal(h(2)) {
				t.Errorf("drawdown %v %s→%s recovery %v; want 0.25 %s→%s nil", m.MaxDrawdown, m.DrawdownPeak, m.DrawdownTrough, m.DrawdownRecovery, h(1), h(2))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Analyze(Input{Curve: tc.curve, PeriodsPerYear: 8760})
			if err != nil {
				t.Fatalf("Analyze: %v", err)
			}
			tc.check(t, m)
		})
	}
}

func TestAnalyzeRejectsBadInput(t *testing.T) {
	h := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Hour) }
	good := []Point{{Time: h(0), Equity: 100}, {Time: h(1), Equity: 100}}
	tests := []struct {
		name string
		in   Input
		want string
	}{
		{"empty curve", Input{PeriodsPerYear: 1}, "empty equity curve"},
		{"no periods", Input{Curve: good}, "periods per year"},
		{"zero equity", Input{Curve: []Point{{Time: h(0), Equity: 0}}, PeriodsPerYear: 1}, "not positive"},
		{"NaN equity", Input{Curve: []Point{{Time: h(0), Equity: math.NaN()}}, PeriodsPerYear: 1}, "not positive"},
		{"time goes back", Input{Curve: []Point{{Time: h(1), Equity: 1}, {Time: h(0), Equity: 1}}, PeriodsPerYear: 1}, "increasing time"},
		{"duplicate time", Input{Curve: []Point{{Time: h(1), Equity: 1}, {Time: h(1), Equity: 1}}, PeriodsPerYear: 1}, "increasing time"},
		{"short sell", Input{Curve: good, PeriodsPerYear: 1, Fills: []executor.Trade{fill("x", "BTC/USDT", schemas.SideSell, "1", "1", "0", "", 0)}}, "with only 0 held"},
		{"oversell", Input{Curve: good, PeriodsPerYear: 1, Fills: []executor.Trade{
			fill("a", "BTC/USDT", schemas.SideBuy, "1", "1", "0", "", 0), fill("b", "BTC/USDT", schemas.SideSell, "2", "1", "0", "", 1)}}, "sells 2"},
		{"bad symbol", Input{Curve: good, PeriodsPerYear: 1, Fills: []executor.Trade{fill("x", "BTCUSDT", schemas.SideBuy, "1", "1", "0", "", 0)}}, "not BASE/QUOTE"},
		{"negative fee", Input{Curve: good, PeriodsPerYear: 1, Fills: []executor.Trade{fill("x", "BTC/USDT", schemas.SideBuy, "1", "1", "-1", "USDT", 0)}}, "negative fee"},
		{"foreign fee currency", Input{Curve: good, PeriodsPerYear: 1, Fills: []executor.Trade{fill("x", "BTC/USDT", schemas.SideBuy, "1", "1", "1", "BNB", 0)}}, `"BNB"`},
		{"zero quantity", Input{Curve: good, PeriodsPerYear: 1, Fills: []executor.Trade{fill("x", "BTC/USDT", schemas.SideBuy, "0", "1", "0", "", 0)}}, "must be positive"},
		{"bad side", Input{Curve: good, PeriodsPerYear: 1, Fills: []executor.Trade{fill("x", "BTC/USDT", "short", "1", "1", "0", "", 0)}}, `side "short"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Analyze(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Analyze(%s) error = %v; want one containing %q", tc.name, err, tc.want)
			}
		})
	}
}

func TestRoundTripsDust(t *testing.T) {
	fills := []executor.Trade{
		fill("1", "BTC/USDT", schemas.SideBuy, "1.00005", "100", "0", "USDT", 0),
		fill("2", "BTC/USDT", schemas.SideSell, "1", "120", "0", "USDT", 1), // leaves 0.00005 BTC = 0.006 USDT
	}
	tests := []struct {
		dust      string
		wantOpen  bool
		wantTrips int
	}{
		{"0", true, 1},
		{"0.01", false, 1},
	}
	for _, tc := range tests {
		t.Run("dust "+tc.dust, func(t *testing.T) {
			trips, err := RoundTrips(fills, d(tc.dust))
			if err != nil {
				t.Fatalf("RoundTrips: %v", err)
			}
			if len(trips) != tc.wantTrips || trips[0].Open != tc.wantOpen {
				t.Fatalf("RoundTrips(dust %s) = %+v; want %d trip, open %v", tc.dust, trips, tc.wantTrips, tc.wantOpen)
			}
			// The 0.00005 BTC left keeps its 0.005 of the cost: it is
			// still held, and the sale that sells it takes that cost.
			if !tc.wantOpen && !trips[0].PnL.Equal(d("20")) {
				t.Errorf("PnL = %s; want 20 (120 − 100.005 × 1/1.00005)", trips[0].PnL)
			}
		})
	}
}

func TestDrawdownSeries(t *testing.T) {
	c := []Point{{Equity: 100}, {Equity: 80}, {Equity: 120}, {Equity: 90}}
	got := DrawdownSeries(c)
	want := []float64{0, 0.2, 0, 0.25}
	for i := range want {
		if !near(got[i], want[i]) {
			t.Errorf("DrawdownSeries[%d] = %v; want %v", i, got[i], want[i])
		}
	}
}

func TestCountDecisions(t *testing.T) {
	ds := DecisionsFromVerdicts(t0, []schemas.Verdict{
		{Symbol: "BTC/USDT", Action: schemas.ActionBuy, Decision: schemas.DecisionApproved},
		{Symbol: "ETH/USDT", Action: schemas.ActionBuy, Decision: schemas.DecisionRejected,
			Violations: []schemas.Violation{{Rule: "max_position_pct"}, {Rule: "min_confidence"}, {Rule: "min_confidence"}}},
		{Symbol: "BTC/USDT", Action: schemas.ActionHold, Decision: schemas.DecisionNoAction},
	})
	ds = append(ds, Decision{Time: t0, Outcome: OutcomeSkipped}, Decision{Time: t0, Symbol: "ETH/USDT", Action: schemas.ActionSell, Outcome: "rejected", Rules: []string{"min_confidence"}})
	st := CountDecisions(2, ds)
	if st.Cycles != 2 || st.Total != 5 {
		t.Errorf("Cycles, Total = %d, %d; want 2, 5", st.Cycles, st.Total)
	}
	for k, want := range map[string]int{"approved": 1, "rejected": 2, "no_action": 1, "skipped": 1} {
		if st.ByOutcome[k] != want {
			t.Errorf("ByOutcome[%q] = %d; want %d", k, st.ByOutcome[k], want)
		}
	}
	for k, want := range map[string]int{"max_position_pct": 1, "min_confidence": 2} {
		if st.RejectionsByRule[k] != want {
			t.Errorf("RejectionsByRule[%q] = %d; want %d", k, st.RejectionsByRule[k], want)
		}
	}
	for k, want := range map[string]int{"buy": 2, "hold": 1, "sell": 1} {
		if st.ByAction[k] != want {
			t.Errorf("ByAction[%q] = %d; want %d", k, st.ByAction[k], want)
		}
	}
}

func deref(f *float64) float64 {
	if f == nil {
		return math.NaN()
	}
	return *f
}

// TestCAGRNeedsThirtyDays: a curve of exactly 30 days is annualised; one
// of 30 days less an hour is not (CAGR nil, "n/a" in the report).
func TestCAGRNeedsThirtyDays(t *testing.T) {
	for _, tc := range []struct {
		span time.Duration
		want bool
	}{{MinCAGRSpan, true}, {MinCAGRSpan - time.Hour, false}, {365 * 24 * time.Hour, true}} {
		m, err := Analyze(Input{Curve: []Point{{Time: t0, Equity: 100}, {Time: t0.Add(tc.span), Equity: 101}}, PeriodsPerYear: 8760})
		if err != nil {
			t.Fatal(err)
		}
		if (m.CAGR != nil) != tc.want {
			t.Errorf("span %s: CAGR %v; want defined %v", tc.span, m.CAGR, tc.want)
			continue
		}
		if m.CAGR != nil {
			if want := math.Pow(1.01, float64(year)/float64(tc.span)) - 1; math.Abs(*m.CAGR-want) > 1e-12 {
				t.Errorf("span %s: CAGR %v; want %v", tc.span, *m.CAGR, want)
			}
		}
		if got := fmtPctPtr(m.CAGR); (got == "n/a") == tc.want {
			t.Errorf("span %s: CAGR shown as %q", tc.span, got)
		}
	}
}
