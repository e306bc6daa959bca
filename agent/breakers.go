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
	return marketTrips(symbol, candles, step, cfg, nil)
}

// gapWindow is how many of the most recent candles the data-gap breaker
// looks at: a fresh gap trips it, an outage weeks ago does not.
const gapWindow = 24

// marketTrips is MarketTrips with an optional drift window carried from
// the previous cycle, so the reference distribution is updated by one
// candle instead of sorted again.
func marketTrips(symbol string, candles []executor.Candle, step time.Duration, cfg BreakerConfig, dw *driftWindow) []Trip {
	var trips []Trip
	recent := candles
	if len(recent) > gapWindow {
		recent = recent[len(recent)-gapWindow:]
	}
	if missing := missingBars(recent, step); missing > cfg.MaxGapBars {
		trips = append(trips, Trip{Breaker: "data_gap", Symbol: symbol,
			Reason: fmt.Sprintf("%d candles missing in the last %d (limit %d)", missing, len(recent), cfg.MaxGapBars)})
	}
	// Wilder's ATR forgets its seed geometrically: 100 candles are plenty.
	atrWindow := candles
	if len(atrWindow) > 100 {
		atrWindow = atrWindow[len(atrWindow)-100:]
	}
	if move, atr, ok := lastMoveInATR(atrWindow, 14); ok && atr > 0 && move/atr > cfg.ShockATRMultiple {
		trips = append(trips, Trip{Breaker: "volatility_shock", Symbol: symbol,
			Reason: fmt.Sprintf("last candle moved %.2f ATR (limit %.2f)", move/atr, cfg.ShockATRMultiple)})
	}
	if n := len(candles); cfg.DriftReference > 0 && cfg.DriftRecent > 0 && n >= cfg.DriftReference+cfg.DriftRecent+1 {
		window := candles[n-cfg.DriftReference-cfg.DriftRecent-1:]
		if dw == nil {
			dw = &driftWindow{}
		}
		sortedRef := dw.reference(window, cfg.DriftReference)
		recentRets := absLogReturns(window[cfg.DriftReference:])
		if psi := psiSorted(sortedRef, recentRets, 10); psi > cfg.DriftPSI {
			trips = append(trips, Trip{Breaker: "drift", Symbol: symbol,
				Reason: fmt.Sprintf("PSI of recent absolute returns %.3f over %d bars against the %d before (limit %.3f)", psi, cfg.DriftRecent, cfg.DriftReference, cfg.DriftPSI)})
		}
	}
	return trips
}

// driftWindow keeps the reference window of the drift breaker between
// cycles: its returns in time order and sorted.
type driftWindow struct {
	next   time.Time // open time the next window's first candle has when it slid by one
	ref    []float64 // absolute log returns, in time order
	sorted []float64 // the same, sorted
}

// reference returns the sorted absolute log returns of window[0..n]. When
// the window slid by exactly one candle since the last call, it drops the
// oldest return and inserts the newest; otherwise it recomputes.
func (d *driftWindow) reference(window []executor.Candle, n int) []float64 {
	slid := d.sorted != nil && len(d.ref) == n && window[0].Time.Equal(d.next) &&
		window[n-1].Close > 0 && window[n].Close > 0
	if slid {
		old := d.ref[0]
		i := sort.SearchFloat64s(d.sorted, old)
		if i < len(d.sorted) && d.sorted[i] == old {
			d.sorted = append(d.sorted[:i], d.sorted[i+1:]...)
			v := math.Abs(math.Log(window[n].Close / window[n-1].Close))
			j := sort.SearchFloat64s(d.sorted, v)
			d.sorted = append(d.sorted, 0)
			copy(d.sorted[j+1:], d.sorted[j:])
			d.sorted[j] = v
			d.ref = append(d.ref[:0], d.ref[1:]...)
			d.ref = append(d.ref, v)
		} else {
			slid = false
		}
	}
	if !slid {
		d.ref = absLogReturns(window[:n+1])
		d.sorted = append(d.sorted[:0], d.ref...)
		sort.Float64s(d.sorted)
	}
	d.next = window[1].Time
	return d.sorted
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
	sorted := append([]float64(nil), expected...)
	sort.Float64s(sorted)
	return psiSorted(sorted, actual, bins)
}

// psiSorted is PSI with expected already sorted.
func psiSorted(sorted, actual []float64, bins int) float64 {
	if len(sorted) < bins || len(actual) == 0 || bins < 2 {
		return 0
	}
	var edgesBuf [32]float64
	edges := edgesBuf[:0]
	for i := 0; i < bins-1; i++ {
		edges = append(edges, sorted[(i+1)*len(sorted)/bins])
	}
	var eBuf, aBuf [33]float64
	e, a := eBuf[:bins], aBuf[:bins]
	// expected's share per bin follows from where each edge sits in sorted.
	prev := 0
	for i := 0; i < bins; i++ {
		end := len(sorted)
		if i < bins-1 {
			// A value equal to an edge belongs to the bin below it, as in
			// the binning of actual.
			edge := edges[i]
			end = sort.Search(len(sorted), func(j int) bool { return sorted[j] > edge })
		}
		e[i] = float64(end-prev) / float64(len(sorted))
		prev = end
	}
	for _, x := range actual {
		a[sort.SearchFloat64s(edges, x)]++
	}
	psi := 0.0
	for i := 0; i < bins; i++ {
		// A small floor keeps empty bins finite.
		ei := math.Max(e[i], 1e-4)
		ai := math.Max(a[i]/float64(len(actual)), 1e-4)
		psi += (ai - ei) * math.Log(ai/ei)
	}
	return psi
}
