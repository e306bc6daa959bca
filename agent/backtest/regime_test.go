package backtest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// logCurve builds an hourly curve from bar log returns.
func logCurve(start time.Time, lr ...float64) []Point {
	c := []Point{{Time: start, Equity: 100}}
	for i, r := range lr {
		c = append(c, Point{Time: start.Add(time.Duration(i+1) * time.Hour), Equity: c[i].Equity * math.Exp(r)})
	}
	return c
}

func TestClassify(t *testing.T) {
	// Log returns 0.1, 0.2, −0.1: sum 0.2, sample sd √(0.07/3), n 3, so the
	// score is 0.2 / (√(0.07/3)·√3) = 0.2/√0.07.
	score := 0.2 / math.Sqrt(0.07)
	tests := []struct {
		name      string
		lr        []float64
		threshold float64
		want      Regime
		wantScore float64
	}{
		{"bull", []float64{0.1, 0.2, -0.1}, 0, Bull, score},
		{"bear", []float64{-0.1, -0.2, 0.1}, 0, Bear, -score},
		{"chop below a higher threshold", []float64{0.1, 0.2, -0.1}, 0.8, Chop, score},
		{"exactly at the threshold is bull", []float64{0.1, 0.2, -0.1}, score, Bull, score},
		{"flat", []float64{0, 0, 0}, 0, Chop, 0},
		{"too short", []float64{0.5}, 0, Chop, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, s := Classify(logCurve(t0, tc.lr...), tc.threshold)
			if got != tc.want || !near(s, tc.wantScore) {
				t.Errorf("Classify(%v, %v) = %s, %.6f; want %s, %.6f", tc.lr, tc.threshold, got, s, tc.want, tc.wantScore)
			}
		})
	}
}

func TestMonthlyWindows(t *testing.T) {
	// Hourly marks from 30 Jan 22:00 to 1 Mar 01:00.
	start := time.Date(2021, 1, 30, 22, 0, 0, 0, time.UTC)
	end := time.Date(2021, 3, 1, 1, 0, 0, 0, time.UTC)
	var s, b []Point
	for at, i := start, 0; !at.After(end); at, i = at.Add(time.Hour), i+1 {
		s = append(s, Point{Time: at, Equity: 100 + float64(i)})
		b = append(b, Point{Time: at, Equity: 100 - float64(i)*0.01})
	}
	ws, err := MonthlyWindows(s, b, 0)
	if err != nil {
		t.Fatalf("MonthlyWindows: %v", err)
	}
	if len(ws) != 3 {
		t.Fatalf("MonthlyWindows gave %d windows; want 3 (Jan, Feb, Mar)", len(ws))
	}
	feb := ws[1]
	if !feb.From.Equal(time.Date(2021, 1, 31, 23, 0, 0, 0, time.UTC)) || !feb.To.Equal(time.Date(2021, 2, 28, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("February window %s – %s; want it to start at January's last mark and end at February's", feb.From, feb.To)
	}
	if n := len(feb.Strategy); n != 28*24+1 {
		t.Errorf("February window has %d marks; want %d (its hours plus the base mark)", n, 28*24+1)
	}
	if want := feb.Strategy[len(feb.Strategy)-1].Equity/feb.Strategy[0].Equity - 1; !near(feb.Return, want) {
		t.Errorf("February Return = %v; want %v", feb.Return, want)
	}
	if feb.Regime != Bear {
		t.Errorf("February regime of a steadily falling benchmark = %s; want bear", feb.Regime)
	}
	if _, err := MonthlyWindows(s, b[1:], 0); err == nil {
		t.Errorf("MonthlyWindows of misaligned curves: no error")
	}
}

func TestByRegime(t *testing.T) {
	w1, _ := NewWindow(logCurve(t0, 0.1, 0.1), logCurve(t0, 0.2, 0.1), 0)       // bull: +e^0.2−1 vs e^0.3−1
	w2, _ := NewWindow(logCurve(t0, -0.1, 0.1, -0.1), logCurve(t0, 0, 0, 0), 0) // chop (flat benchmark)
	w3, _ := NewWindow(logCurve(t0, 0.2, -0.1), logCurve(t0, 0.2, 0.2), 0)      // bull
	res := ByRegime([]Window{w1, w2, w3}, 4)
	if len(res) != 3 || res[0].Regime != Bull || res[1].Regime != Bear || res[2].Regime != Chop {
		t.Fatalf("ByRegime regimes = %+v; want bull, bear, chop", res)
	}
	bull := res[0]
	if bull.Windows != 2 || bull.Bars != 4 {
		t.Errorf("bull windows, bars = %d, %d; want 2, 4", bull.Windows, bull.Bars)
	}
	// The two bull windows are not contiguous: their returns are averaged,
	// not compounded.
	if want := (math.Exp(0.2) - 1 + math.Exp(0.1) - 1) / 2; !near(bull.MeanReturn, want) {
		t.Errorf("bull MeanReturn = %v; want %v", bull.MeanReturn, want)
	}
	if want := (math.Exp(0.3) - 1 + math.Exp(0.4) - 1) / 2; !near(bull.BuyHoldMeanReturn, want) {
		t.Errorf("bull BuyHoldMeanReturn = %v; want %v", bull.BuyHoldMeanReturn, want)
	}
	if bull.PositiveShare != 1 || bull.BuyHoldPositiveShare != 1 {
		t.Errorf("bull positive shares = %v, %v; want 1, 1", bull.PositiveShare, bull.BuyHoldPositiveShare)
	}
	if want := 1 - math.Exp(-0.1); !near(bull.BuyHoldWorstDrawdown, 0) || !near(bull.WorstDrawdown, want) {
		t.Errorf("bull drawdowns: advisor %v, buy and hold %v; want %v, 0", bull.WorstDrawdown, bull.BuyHoldWorstDrawdown, want)
	}
	if bull.BeatBuyHold != 0 {
		t.Errorf("bull BeatBuyHold = %d; want 0", bull.BeatBuyHold)
	}
	if want := 1 - math.Exp(-0.1); !near(bull.WorstDrawdown, want) {
		t.Errorf("bull WorstDrawdown = %v; want %v", bull.WorstDrawdown, want)
	}
	// Sharpe over the four concatenated returns, ×√4.
	r := []float64{math.Exp(0.1) - 1, math.Exp(0.1) - 1, math.Exp(0.2) - 1, math.Exp(-0.1) - 1}
	st := returnStats(r)
	if want := st.mean / st.sd * 2; !near(bull.Sharpe, want) {
		t.Errorf("bull Sharpe = %v; want %v", bull.Sharpe, want)
	}
	if res[1].Windows != 0 || res[1].MeanReturn != 0 || res[1].PositiveShare != 0 {
		t.Errorf("bear with no windows = %+v; want zeros", res[1])
	}
	if res[2].Windows != 1 || res[2].BeatBuyHold != 0 || res[2].BuyHoldSharpe != 0 {
		t.Errorf("chop = %+v; want 1 window, not beating a flat benchmark (−0.1 overall), B&H Sharpe 0", res[2])
	}
	if res[2].PositiveShare != 0 || !near(res[2].MeanReturn, math.Exp(-0.1)-1) {
		t.Errorf("chop mean return %v, positive share %v; want %v, 0", res[2].MeanReturn, res[2].PositiveShare, math.Exp(-0.1)-1)
	}
}

// TestByRegimeDoesNotCompoundGaps: twelve bull months of +50 % each,
// scattered over years, average +50 % a month; compounding them would
// claim +12,875 %, a return no one could have earned.
func TestByRegimeDoesNotCompoundGaps(t *testing.T) {
	var ws []Window
	for i := range 12 {
		h := math.Log(1.5) / 2
		w, err := NewWindow(logCurve(t0.AddDate(i, 0, 0), h, h), logCurve(t0.AddDate(i, 0, 0), h, h), 0)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	bull := ByRegime(ws, 8760)[0]
	if bull.Windows != 12 || !near(bull.MeanReturn, 0.5) || !near(bull.BuyHoldMeanReturn, 0.5) || bull.PositiveShare != 1 {
		t.Errorf("bull = %+v; want 12 windows averaging +50%%, all positive", bull)
	}
}

func TestBuyAndHold(t *testing.T) {
	marks := []time.Time{t0, t0.Add(time.Hour), t0.Add(2 * time.Hour)}
	closes := [][]float64{{100, 110, 90}, {10, 5, 20}}
	tests := []struct {
		name  string
		costs Costs
		want  []float64
	}{
		// 500 each, 0.1% fee: 4.995 and 49.95 units.
		{"fee only", Costs{FeeBps: d("10")}, []float64{1000, 4.995*110 + 49.95*5, 4.995*90 + 49.95*20}},
		// price × (1 + (10 + 20/2)/10000) = × 1.002.
		{"fee, slippage and spread", Costs{FeeBps: d("10"), SlippageBps: d("10"), SpreadBps: d("20")},
			[]float64{1000, 499.5/100.2*110 + 499.5/10.02*5, 499.5/100.2*90 + 499.5/10.02*20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := BuyAndHold(marks, closes, decimal.NewFromInt(1000), tc.costs)
			if err != nil {
				t.Fatalf("BuyAndHold: %v", err)
			}
			for i, w := range tc.want {
				if !near(c[i].Equity, w) || !c[i].Time.Equal(marks[i]) {
					t.Errorf("BuyAndHold[%d] = %v at %s; want %v at %s", i, c[i].Equity, c[i].Time, w, marks[i])
				}
			}
		})
	}
	for _, bad := range []struct {
		name   string
		closes [][]float64
		cash   int64
		want   string
	}{
		{"no symbols", nil, 1000, "at least one symbol"},
		{"short series", [][]float64{{1, 2}}, 1000, "2 closes for 3 marks"},
		{"zero price", [][]float64{{0, 1, 1}}, 1000, "close 0"},
		{"no cash", closes, 0, "must be positive"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, err := BuyAndHold(marks, bad.closes, decimal.NewFromInt(bad.cash), Costs{})
			if err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("BuyAndHold(%s) error = %v; want one containing %q", bad.name, err, bad.want)
			}
		})
	}
}

func TestCheckEvidence(t *testing.T) {
	day := func(s string) time.Time { v, _ := time.Parse("2006-01-02", s); return v }
	cut := day("2023-10-01")
	tests := []struct {
		name         string
		advisor      string
		cutoff       *time.Time
		from, to     string
		wantEvidence bool
		wantWarning  string
	}{
		{"baseline is never memorisation", "baseline", nil, "2018-01-01", "2022-01-01", true, ""},
		{"model before its cutoff", "openai", &cut, "2018-01-01", "2022-01-01", false, "NOT EVIDENCE: all data"},
		{"model, cutoff unknown", "openai", nil, "2024-01-01", "2024-06-01", false, "not configured"},
		{"replay, straddling the cutoff", "replay", &cut, "2023-01-01", "2024-01-01", false, "NOT EVIDENCE before 2023-10-01"},
		{"model after its cutoff", "openai", &cut, "2023-10-02", "2024-01-01", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := CheckEvidence(tc.advisor, "gpt-x", tc.cutoff, day(tc.from), day(tc.to))
			if e.Evidence != tc.wantEvidence || !strings.Contains(e.Warning, tc.wantWarning) || (tc.wantEvidence && e.Warning != "") {
				t.Errorf("CheckEvidence(%s, %v, %s..%s) = %+v; want evidence %v, warning containing %q", tc.advisor, tc.cutoff, tc.from, tc.to, e, tc.wantEvidence, tc.wantWarning)
			}
		})
	}
}
