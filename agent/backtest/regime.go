package backtest

import (
	"fmt"
	"math"
	"time"
)

// Regime is the market's trend over a window.
type Regime string

// Regimes.
const (
	Bull Regime = "bull"
	Bear Regime = "bear"
	Chop Regime = "chop"
)

// Regimes lists the regimes in report order.
var Regimes = []Regime{Bull, Bear, Chop}

// DefaultTrendThreshold is the trend-to-noise ratio beyond which a window
// is bull (≥ +threshold) or bear (≤ −threshold); see the package comment.
const DefaultTrendThreshold = 0.5

// TrendScore is the trend-to-noise ratio of a curve: the sum of its bar log
// returns divided by stdev(log returns)·√n. It is 0 for fewer than two
// returns or a flat curve, and ±NoNoiseScore for a curve that moves by the
// same log return every bar (a trend without noise).
func TrendScore(c []Point) float64 {
	if len(c) < 3 {
		return 0
	}
	lr := make([]float64, len(c)-1)
	var sum float64
	for i := 1; i < len(c); i++ {
		lr[i-1] = math.Log(c[i].Equity / c[i-1].Equity)
		sum += lr[i-1]
	}
	n := float64(len(lr))
	mean := sum / n
	var ss float64
	for _, x := range lr {
		ss += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(ss / (n - 1))
	if sd == 0 || math.IsNaN(sd) {
		switch {
		case sum > 0:
			return NoNoiseScore
		case sum < 0:
			return -NoNoiseScore
		}
		return 0
	}
	return sum / (sd * math.Sqrt(n))
}

// NoNoiseScore is the trend score of a curve without noise.
const NoNoiseScore = 1e9

// Classify returns the regime of a market curve (the buy-and-hold
// benchmark over the window) and its trend score. threshold ≤ 0 means
// DefaultTrendThreshold.
func Classify(market []Point, threshold float64) (Regime, float64) {
	if threshold <= 0 {
		threshold = DefaultTrendThreshold
	}
	s := TrendScore(market)
	switch {
	case s >= threshold:
		return Bull, s
	case s <= -threshold:
		return Bear, s
	}
	return Chop, s
}

// Window is one stretch of a backtest: the strategy's curve and the
// buy-and-hold benchmark's over the same marks, and the market regime.
// Both curves start with a base mark at From, so their returns cover the
// window.
type Window struct {
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Regime    Regime    `json:"regime"`
	Trend     float64   `json:"trend"`
	Return    float64   `json:"return"`
	BuyHold   float64   `json:"buy_and_hold_return"`
	Strategy  []Point   `json:"-"`
	Benchmark []Point   `json:"-"`
}

// NewWindow classifies a window from its curves, which must have the same
// length (at least two marks).
func NewWindow(strategy, benchmark []Point, threshold float64) (Window, error) {
	if len(strategy) < 2 || len(strategy) != len(benchmark) {
		return Window{}, fmt.Errorf("backtest: window needs two curves of the same length ≥ 2 (got %d and %d)", len(strategy), len(benchmark))
	}
	w := Window{
		From: strategy[0].Time, To: strategy[len(strategy)-1].Time,
		Strategy: strategy, Benchmark: benchmark,
		Return:  strategy[len(strategy)-1].Equity/strategy[0].Equity - 1,
		BuyHold: benchmark[len(benchmark)-1].Equity/benchmark[0].Equity - 1,
	}
	w.Regime, w.Trend = Classify(benchmark, threshold)
	return w, nil
}

// MonthlyWindows cuts two aligned curves into calendar months (UTC). Each
// month's window starts at the last mark of the month before (the first
// month at the first mark). Months with fewer than two marks are dropped.
func MonthlyWindows(strategy, benchmark []Point, threshold float64) ([]Window, error) {
	if len(strategy) != len(benchmark) {
		return nil, fmt.Errorf("backtest: curves of %d and %d marks are not aligned", len(strategy), len(benchmark))
	}
	for i := range strategy {
		if !strategy[i].Time.Equal(benchmark[i].Time) {
			return nil, fmt.Errorf("backtest: curves differ at mark %d (%s vs %s)", i, strategy[i].Time, benchmark[i].Time)
		}
	}
	var out []Window
	start := 0
	month := func(t time.Time) (int, time.Month) { t = t.UTC(); return t.Year(), t.Month() }
	for i := 1; i <= len(strategy); i++ {
		if i < len(strategy) {
			y0, m0 := month(strategy[i-1].Time)
			y1, m1 := month(strategy[i].Time)
			if y0 == y1 && m0 == m1 {
				continue
			}
		}
		// Marks start..i-1 close the month; the window includes the base
		// mark before it.
		base := start - 1
		if base < 0 {
			base = 0
		}
		if i-base >= 2 {
			w, err := NewWindow(strategy[base:i], benchmark[base:i], threshold)
			if err != nil {
				return nil, err
			}
			out = append(out, w)
		}
		start = i
	}
	return out, nil
}

// RegimeResult aggregates the windows of one regime. The windows of a
// regime are not contiguous (a bull month, two chop months, a bull month
// again), so their returns are averaged, never compounded: compounding
// would chain months that never followed each other into a "return" no
// one could have earned.
type RegimeResult struct {
	Regime  Regime `json:"regime"`
	Windows int    `json:"windows"`
	Bars    int    `json:"bars"`
	// MeanReturn and BuyHoldMeanReturn are the average window return of
	// the strategy and of buy-and-hold.
	MeanReturn        float64 `json:"mean_return"`
	BuyHoldMeanReturn float64 `json:"buy_and_hold_mean_return"`
	// PositiveShare and BuyHoldPositiveShare are the share of windows
	// that ended above where they started.
	PositiveShare        float64 `json:"positive_share"`
	BuyHoldPositiveShare float64 `json:"buy_and_hold_positive_share"`
	// Sharpe is over the windows' bar returns taken together (a mean and
	// a spread of bar returns, not a compounded path).
	Sharpe        float64 `json:"sharpe"`
	BuyHoldSharpe float64 `json:"buy_and_hold_sharpe"`
	// WorstDrawdown and BuyHoldWorstDrawdown are the deepest drawdown
	// inside any one window, of the strategy and of buy-and-hold.
	WorstDrawdown        float64 `json:"worst_drawdown"`
	BuyHoldWorstDrawdown float64 `json:"buy_and_hold_worst_drawdown"`
	// BeatBuyHold is how many windows returned more than buy-and-hold.
	BeatBuyHold int `json:"beat_buy_and_hold"`
}

// ByRegime aggregates windows per regime, in the order of Regimes; a regime
// with no window is reported with zero windows.
func ByRegime(ws []Window, periodsPerYear float64) []RegimeResult {
	out := make([]RegimeResult, 0, len(Regimes))
	ann := math.Sqrt(math.Max(periodsPerYear, 0))
	for _, r := range Regimes {
		res := RegimeResult{Regime: r}
		var sum, bhSum float64
		var pos, bhPos int
		var sr, br []float64
		for _, w := range ws {
			if w.Regime != r {
				continue
			}
			res.Windows++
			res.Bars += len(w.Strategy) - 1
			sum += w.Return
			bhSum += w.BuyHold
			if w.Return > 0 {
				pos++
			}
			if w.BuyHold > 0 {
				bhPos++
			}
			if w.Return > w.BuyHold {
				res.BeatBuyHold++
			}
			sr = append(sr, Returns(w.Strategy)...)
			br = append(br, Returns(w.Benchmark)...)
			res.WorstDrawdown = math.Max(res.WorstDrawdown, MaxDrawdown(w.Strategy).Depth)
			res.BuyHoldWorstDrawdown = math.Max(res.BuyHoldWorstDrawdown, MaxDrawdown(w.Benchmark).Depth)
		}
		if n := float64(res.Windows); n > 0 {
			res.MeanReturn, res.BuyHoldMeanReturn = sum/n, bhSum/n
			res.PositiveShare, res.BuyHoldPositiveShare = float64(pos)/n, float64(bhPos)/n
			if s := returnStats(sr); s.sd > 0 {
				res.Sharpe = s.mean / s.sd * ann
			}
			if s := returnStats(br); s.sd > 0 {
				res.BuyHoldSharpe = s.mean / s.sd * ann
			}
		}
		out = append(out, res)
	}
	return out
}
