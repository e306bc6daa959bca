package agent

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/warden-trading/warden/executor"
)

// Trip is one circuit breaker that fired: it switches Warden to safe mode
// (only sells that reduce a position) until an operator resumes or the
// cool-down passes.
type Trip struct {
	Breaker string `json:"breaker"` // error_spike, data_gap, volatility_shock, drift
	Symbol  string `json:"symbol,omitempty"`
	Reason  string `json:"reason"`
}

// BreakerConfig holds the thresholds of the market breakers.
type BreakerConfig struct {
	// ShockATRMultiple trips when the last closed candle's move exceeds
	// this many ATRs of the bars before it.
	ShockATRMultiple float64
	// DriftPSI trips when the population stability index of recent
	// absolute returns against the reference window exceeds it.
	DriftPSI       float64
	DriftReference int // bars in the reference window
	DriftRecent    int // bars in the recent window
	// MaxGapBars trips when more than this many candles are missing in the
	// snapshot window.
	MaxGapBars int
}

// MarketTrips runs the market breakers over one symbol's closed candles
// (oldest first, all closed before the decision time).
func MarketTrips(symbol string, candles []executor.Candle, step time.Duration, cfg BreakerConfig) []Trip {
	var trips []Trip
	if missing := missingBars(candles, step); missing > cfg.MaxGapBars {
		trips = append(trips, Trip{Breaker: "data_gap", Symbol: symbol,
			Reason: fmt.Sprintf("%d candles missing in the window (limit %d)", missing, cfg.MaxGapBars)})
	}
	if move, atr, ok := lastMoveInATR(candles, 14); ok && atr > 0 && move/atr > cfg.ShockATRMultiple {
		trips = append(trips, Trip{Breaker: "volatility_shock", Symbol: symbol,
			Reason: fmt.Sprintf("last candle moved %.2f ATR (limit %.2f)", move/atr, cfg.ShockATRMultiple)})
	}
	if n := len(candles); n >= cfg.DriftReference+cfg.DriftRecent+1 {
		rets := absLogReturns(candles[n-cfg.DriftReference-cfg.DriftRecent-1:])
		ref, recent := rets[:cfg.DriftReference], rets[cfg.DriftReference:]
		if psi := PSI(ref, recent, 10); psi > cfg.DriftPSI {
			trips = append(trips, Trip{Breaker: "drift", Symbol: symbol,
				Reason: fmt.Sprintf("PSI of recent absolute returns %.3f over %d bars against the %d before (limit %.3f)", psi, cfg.DriftRecent, cfg.DriftReference, cfg.DriftPSI)})
		}
	}
	return trips
}

// missingBars counts the candles absent between the first and the last.
func missingBars(candles []executor.Candle, step time.Duration) int {
	if len(candles) < 2 || step <= 0 {
		return 0
	}
	span := candles[len(candles)-1].Time.Sub(candles[0].Time)
	expected := int(span/step) + 1
	if m := expected - len(candles); m > 0 {
		return m
	}
	return 0
}

// lastMoveInATR returns the true range of the last candle and the Wilder
// ATR(period) of the candles before it.
func lastMoveInATR(candles []executor.Candle, period int) (move, atr float64, ok bool) {
	n := len(candles)
	if n < period+2 {
		return 0, 0, false
	}
	tr := func(i int) float64 {
		c, prev := candles[i], candles[i-1].Close
		return math.Max(c.High-c.Low, math.Max(math.Abs(c.High-prev), math.Abs(c.Low-prev)))
	}
	for i := 1; i <= period; i++ {
		atr += tr(i)
	}
	atr /= float64(period)
	for i := period + 1; i < n-1; i++ {
		atr = (atr*float64(period-1) + tr(i)) / float64(period)
	}
	return tr(n - 1), atr, true
}

func absLogReturns(candles []executor.Candle) []float64 {
	out := make([]float64, 0, len(candles)-1)
	for i := 1; i < len(candles); i++ {
		if candles[i-1].Close > 0 && candles[i].Close > 0 {
			out = append(out, math.Abs(math.Log(candles[i].Close/candles[i-1].Close)))
		}
	}
	return out
}

// PSI is the population stability index of actual against expected, over
// bins cut at expected's quantiles. 0 means the same distribution; above
// about 0.25 is a large shift.
func PSI(expected, actual []float64, bins int) float64 {
	if len(expected) < bins || len(actual) == 0 || bins < 2 {
		return 0
	}
	sorted := append([]float64(nil), expected...)
	sort.Float64s(sorted)
	edges := make([]float64, bins-1)
	for i := range edges {
		edges[i] = sorted[(i+1)*len(sorted)/bins]
	}
	share := func(xs []float64) []float64 {
		counts := make([]float64, bins)
		for _, x := range xs {
			counts[sort.SearchFloat64s(edges, x)]++
		}
		for i := range counts {
			// A small floor keeps empty bins finite.
			counts[i] = math.Max(counts[i]/float64(len(xs)), 1e-4)
		}
		return counts
	}
	e, a := share(expected), share(actual)
	psi := 0.0
	for i := range e {
		psi += (a[i] - e[i]) * math.Log(a[i]/e[i])
	}
	return psi
}
