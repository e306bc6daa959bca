package backtest

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func sampleResult(t *testing.T, advisor string, cutoff *time.Time) Result {
	t.Helper()
	var curve, bh []Point
	for i := 0; i < 24*90; i++ {
		at := t0.Add(time.Duration(i) * time.Hour)
		x := float64(i) / 200
		curve = append(curve, Point{Time: at, Equity: 10000 * (1 + 0.1*math.Sin(x)) * (1 + float64(i)/20000), Invested: 5000})
		bh = append(bh, Point{Time: at, Equity: 10000 * (1 + 0.2*math.Sin(x/2)), Invested: 10000})
	}
	m, err := Analyze(Input{Curve: curve, Fills: handFills(), PeriodsPerYear: 8760})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Analyze(Input{Curve: bh, PeriodsPerYear: 8760})
	if err != nil {
		t.Fatal(err)
	}
	months, err := MonthlyWindows(curve, bh, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := Summary{
		Schema: SummarySchema,
		Run: RunInfo{From: t0, To: curve[len(curve)-1].Time, Symbols: []string{"BTC/USDT"}, Timeframe: "1h", Advisor: advisor,
			Every: "candle", StartCash: decimal.NewFromInt(10000), FeeBps: d("10"), Candles: len(curve)},
		Evidence:  CheckEvidence(advisor, "gpt-test", cutoff, t0, curve[len(curve)-1].Time),
		Advisor:   m,
		BuyHold:   b,
		Decisions: CountDecisions(3, []Decision{{Outcome: "approved"}, {Outcome: "rejected", Rules: []string{"max_position_pct"}}}),
		Regimes:   ByRegime(months, 8760),
		Months:    months,
		Warnings:  []string{},
	}
	res := Result{Summary: s, Curve: curve, BuyHold: bh}
	if advisor != "baseline" {
		bm := m
		res.Summary.Baseline = &bm
		res.Baseline = curve
	}
	return res
}

func TestWriteReport(t *testing.T) {
	cut := time.Date(2023, 10, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		advisor     string
		wantBanner  bool
		walkForward bool
	}{
		{"baseline: no banner", "baseline", false, false},
		{"model before its cutoff: not evidence", "openai", true, false},
		{"walk-forward section", "baseline", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			res := sampleResult(t, tc.advisor, &cut)
			if tc.walkForward {
				res.Summary.WalkForward = &WalkForwardReport{TrainMonths: 6, TestMonths: 3, Objective: "sharpe", MinTrades: 3, GridSize: 9,
					Windows: []WalkForwardWindow{{TrainFrom: t0, TrainTo: t0.AddDate(0, 6, 0), TestFrom: t0.AddDate(0, 6, 0), TestTo: t0.AddDate(0, 9, 0),
						Params: map[string]int{"FastEMA": 8}, Calibrated: true, Regime: Bear, TestReturn: -0.01}},
					OutOfSample: res.Summary.Advisor, OutOfSampleBuyHold: res.Summary.BuyHold, ByRegime: res.Summary.Regimes}
			}
			if err := WriteReport(dir, res); err != nil {
				t.Fatalf("WriteReport: %v", err)
			}
			page, err := os.ReadFile(filepath.Join(dir, "report.html"))
			if err != nil {
				t.Fatal(err)
			}
			html := string(page)
			for _, want := range []string{
				"<svg", "Advisor equity (USDT)", "Growth of 100", "Drawdown from peak", "echarts.min.js", `"type":"time"`,
				"max_position_pct", "Total return", "Sortino", "By market regime", "buy and hold",
			} {
				if !strings.Contains(html, want) {
					t.Errorf("report.html lacks %q", want)
				}
			}
			if got := strings.Contains(html, `class="banner"`) && strings.Contains(html, "NOT EVIDENCE"); got != tc.wantBanner {
				t.Errorf("report.html has the not-evidence banner: %v; want %v", got, tc.wantBanner)
			}
			if tc.advisor != "baseline" && !strings.Contains(html, "<th>baseline</th>") {
				t.Errorf("report.html of a model run lacks the baseline column")
			}
			if got := strings.Contains(html, "Walk-forward (out of sample)") && strings.Contains(html, `<th>fast EMA</th>`) && strings.Contains(html, `<td>8</td>`); got != tc.walkForward {
				t.Errorf("report.html has the walk-forward section with its params: %v; want %v", got, tc.walkForward)
			}
			if strings.Contains(html, "ZgotmplZ") {
				t.Errorf("report.html has an unsafe value that html/template replaced (ZgotmplZ)")
			}
			raw, err := os.ReadFile(filepath.Join(dir, "summary.json"))
			if err != nil {
				t.Fatal(err)
			}
			var back Summary
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatalf("summary.json does not parse: %v", err)
			}
			if back.Advisor.Sharpe != res.Summary.Advisor.Sharpe || !back.Advisor.FeesPaid.Equal(res.Summary.Advisor.FeesPaid) {
				t.Errorf("summary.json round trip: Sharpe %v fees %s; want %v %s", back.Advisor.Sharpe, back.Advisor.FeesPaid, res.Summary.Advisor.Sharpe, res.Summary.Advisor.FeesPaid)
			}
		})
	}
}

// TestSummaryFieldNames pins summary.json's field names: tools read them.
func TestSummaryFieldNames(t *testing.T) {
	raw, err := json.Marshal(sampleResult(t, "openai", nil).Summary)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]json.RawMessage) string {
		var k []string
		for s := range m {
			k = append(k, s)
		}
		sort.Strings(k)
		return strings.Join(k, ",")
	}
	if got, want := keys(top), "advisor,baseline,breakers,buy_and_hold,decisions,evidence,model,months,regimes,run,schema,symbols,warnings"; got != want {
		t.Errorf("summary.json keys = %s; want %s", got, want)
	}
	var adv map[string]json.RawMessage
	if err := json.Unmarshal(top["advisor"], &adv); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(adv), "bars,cagr,end_equity,exposure,fees_paid,fills,from,max_drawdown,max_drawdown_peak,max_drawdown_recovery,max_drawdown_trough,open_trips,periods_per_year,round_trips,sharpe,sortino,start_equity,to,total_return,traded_notional,turnover,volatility,win_rate,wins"; got != want {
		t.Errorf("summary.json advisor keys = %s; want %s", got, want)
	}
}

func TestReduceKeepsExtremes(t *testing.T) {
	n := 10000
	ts := make([]time.Time, n)
	vs := make([]float64, n)
	for i := range ts {
		ts[i] = t0.Add(time.Duration(i) * time.Minute)
		vs[i] = float64(i % 97)
	}
	vs[5003] = -50 // a single deep trough
	rt, rv := reduce(ts, vs, 200)
	if len(rt) > 202 {
		t.Errorf("reduce kept %d points; want at most about 200", len(rt))
	}
	found := false
	for i, v := range rv {
		if v == -50 && rt[i].Equal(ts[5003]) {
			found = true
		}
		if i > 0 && !rt[i].After(rt[i-1]) {
			t.Fatalf("reduce output out of time order at %d", i)
		}
	}
	if !found {
		t.Errorf("reduce dropped the trough")
	}
	if !rt[len(rt)-1].Equal(ts[n-1]) {
		t.Errorf("reduce dropped the last point")
	}
}

func TestFmtMoney(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{{0, "0.00"}, {999.994, "999.99"}, {1234567.891, "1,234,567.89"}, {-1000, "-1,000.00"}, {math.NaN(), "–"}} {
		if got := fmtMoney(tc.in); got != tc.want {
			t.Errorf("fmtMoney(%v) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// TestFmtPctNoNegativeZero: a drawdown of 0 (negated for display) or a
// loss too small for two decimals reads 0.00%, never -0.00%.
func TestFmtPctNoNegativeZero(t *testing.T) {
	for f, want := range map[float64]string{math.Copysign(0, -1): "0.00%", -0.00001: "0.00%", 0: "0.00%", -0.0001: "-0.01%", 0.1234: "12.34%"} {
		if got := fmtPct(f); got != want {
			t.Errorf("fmtPct(%g) = %q; want %q", f, got, want)
		}
	}
}
