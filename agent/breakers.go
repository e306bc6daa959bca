package agent

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/executor"
)

// Breakers, by the name each trip carries.
const (
	BreakerErrorSpike = "error_spike"
	BreakerDataGap    = "data_gap"
	BreakerShock      = "volatility_shock"
	BreakerDrift      = "drift"
)

// Trip is one circuit breaker that fired. It raises a level (see
// BreakerRule): reduce scales the policy's caps down, safe mode allows
// only sells that reduce a position, each until an operator resumes or
// the breaker's cool-down passes.
type Trip struct {
	Breaker string `json:"breaker"` // error_spike, data_gap, volatility_shock, drift
	Symbol  string `json:"symbol,omitempty"`
	Reason  string `json:"reason"`
	Level   string `json:"level,omitempty"` // the level it raised: reduce or safe_mode
}

// BreakerRule is what a breaker's trip does: the level it raises and for
// how long after the last trip.
type BreakerRule struct {
	Level    string // audit.LevelReduce or audit.LevelSafeMode
	Cooldown time.Duration
}

// BreakerConfig holds the breakers' thresholds and rules. The defaults
// (DefaultBreakers) are calibrated on the bundled 2017–2022 1h history;
// see TestBreakerCalibration.
type BreakerConfig struct {
	// ShockSigma trips the volatility-shock breaker when the close moved
	// more than this many standard deviations over the last 1 or 4 closed
	// candles; the deviation is of one-candle log returns before the move
	// (an exponentially weighted average with a half-life of 168 candles),
	// times the square root of the horizon.
	ShockSigma float64
	// DriftPSI trips the drift breaker when the population stability
	// index of recent absolute returns against the reference window
	// exceeds it. The default is the 95th percentile of its null
	// distribution for the default windows (DriftNullQuantile).
	DriftPSI       float64
	DriftReference int // bars in the reference window
	DriftRecent    int // bars in the recent window
	// MaxGapBars trips when more than this many candles are missing among
	// the most recent 24.
	MaxGapBars int
	// MaxConsecutiveErrors trips the error-spike breaker: failed cycles in
	// a row, counted in the audit store across processes.
	MaxConsecutiveErrors int
	// InvalidOutputWindow and InvalidOutputPct trip the invalid-output
	// breaker: more than InvalidOutputPct percent of the last
	// InvalidOutputWindow model calls (0: 20 and 20; see modelrisk.go).
	InvalidOutputWindow int
	InvalidOutputPct    int
	// Rules by breaker name; a breaker missing here follows
	// DefaultBreakers.
	Rules map[string]BreakerRule
	// ReduceScale is what the policy's caps are multiplied by at the
	// reduce level (and in safe mode): system.risk_scale in CEL.
	ReduceScale decimal.Decimal
}

// Calibrated defaults; see TestBreakerCalibration and the README.
const (
	DefaultShockSigma = 4.5
	// DefaultDriftPSI is DriftNullQuantile over the bundled BTC/USDT and
	// ETH/USDT 1h history with DefaultDriftNull (TestDriftDefaultIsNullQuantile).
	DefaultDriftPSI = 1.80
)

// DefaultDriftNull is how DefaultDriftPSI was computed: a stationary block
// bootstrap of each symbol's absolute 1h log returns with a mean block of
// 48 candles (so volatility clusters survive), 4000 samples of a 500-bar
// reference and a 48-bar recent window, seed 1; the 95th percentile.
var DefaultDriftNull = DriftNull{Reference: 500, Recent: 48, Block: 48, Samples: 4000, Quantile: 0.95, Seed: 1}

// DefaultBreakers are the calibrated defaults.
func DefaultBreakers() BreakerConfig {
	return BreakerConfig{
		ShockSigma: DefaultShockSigma, DriftPSI: DefaultDriftPSI,
		DriftReference: 500, DriftRecent: 48, MaxGapBars: 3, MaxConsecutiveErrors: 3,
		InvalidOutputWindow: DefaultInvalidOutputWindow, InvalidOutputPct: DefaultInvalidOutputPct,
		Rules:       DefaultBreakerRules(),
		ReduceScale: decimal.RequireFromString("0.5"),
	}
}

// DefaultBreakerRules: drift reduces risk; an error spike, a data gap
// and a volatility shock switch to safe mode. The shock's cool-down is
// short because the breaker keeps tripping while the move is within its
// 4-candle horizon.
func DefaultBreakerRules() map[string]BreakerRule {
	return map[string]BreakerRule{
		BreakerErrorSpike: {Level: audit.LevelSafeMode, Cooldown: 4 * time.Hour},
		BreakerDataGap:    {Level: audit.LevelSafeMode, Cooldown: 4 * time.Hour},
		BreakerShock:      {Level: audit.LevelSafeMode, Cooldown: time.Hour},
		BreakerDrift:      {Level: audit.LevelReduce, Cooldown: 4 * time.Hour},
		// A model that keeps refusing, truncating or answering off-schema
		// is not advising: safe mode until it has recovered.
		BreakerInvalidOutput: {Level: audit.LevelSafeMode, Cooldown: 4 * time.Hour},
	}
}

// BreakerNames are the circuit breakers a cycle evaluates, sorted.
func BreakerNames() []string {
	return slices.Sorted(maps.Keys(DefaultBreakerRules()))
}

// Rule returns the rule of a breaker, the default when none is set.
func (c BreakerConfig) Rule(breaker string) BreakerRule {
	r, ok := c.Rules[breaker]
	def := DefaultBreakerRules()[breaker]
	if !ok {
		return def
	}
	if r.Level == "" {
		r.Level = def.Level
	}
	if r.Cooldown <= 0 {
		r.Cooldown = def.Cooldown
	}
	return r
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
		trips = append(trips, Trip{Breaker: BreakerDataGap, Symbol: symbol,
			Reason: fmt.Sprintf("%d candles missing in the last %d (limit %d)", missing, len(recent), cfg.MaxGapBars)})
	}
	if cfg.ShockSigma > 0 {
		var rc *returnCache
		if dw != nil {
			rc = &dw.shock
		}
		if z, h, ok := shockScore(candles, rc); ok && z > cfg.ShockSigma {
			trips = append(trips, Trip{Breaker: BreakerShock, Symbol: symbol,
				Reason: fmt.Sprintf("close moved %.1fσ over the last %d candle(s) (limit %.1fσ)", z, h, cfg.ShockSigma)})
		}
	}
	if n := len(candles); cfg.DriftReference > 0 && cfg.DriftRecent > 0 && n >= cfg.DriftReference+cfg.DriftRecent+1 {
		window := candles[n-cfg.DriftReference-cfg.DriftRecent-1:]
		if dw == nil {
			dw = &driftWindow{}
		}
		sortedRef := dw.reference(window, cfg.DriftReference)
		recentRets := absLogReturns(window[cfg.DriftReference:])
		if psi := psiSorted(sortedRef, recentRets, driftBins); psi > cfg.DriftPSI {
			trips = append(trips, Trip{Breaker: BreakerDrift, Symbol: symbol,
				Reason: fmt.Sprintf("PSI of recent absolute returns %.3f over %d bars against the %d before (limit %.3f)", psi, cfg.DriftRecent, cfg.DriftReference, cfg.DriftPSI)})
		}
	}
	for i := range trips {
		trips[i].Level = cfg.Rule(trips[i].Breaker).Level
	}
	return trips
}

// driftBins is the number of quantile bins of the drift breaker's PSI.
const driftBins = 10

// The volatility-shock breaker's measure: horizons in candles, the
// half-life of its volatility estimate, and how many candles it reads.
var shockHorizons = [...]int{1, 4}

const (
	shockHalfLife = 168
	shockWindow   = 504
	shockMinBars  = 50
)

// shockScore returns the largest absolute log move of the last close over
// the shock horizons, in standard deviations of one-candle log returns
// before the move (EWMA, half-life shockHalfLife) times √horizon, and the
// horizon it was seen at.
// rc, when not nil, carries the log returns from the last call.
func shockScore(candles []executor.Candle, rc *returnCache) (z float64, horizon int, ok bool) {
	n := len(candles)
	maxH := shockHorizons[len(shockHorizons)-1]
	if n < shockMinBars+maxH+1 {
		return 0, 0, false
	}
	start := max(0, n-1-shockWindow)
	if rc == nil {
		rc = &returnCache{}
	}
	rets := rc.of(candles[start:])
	lam := math.Pow(0.5, 1.0/shockHalfLife)
	// variance[k] for base index n-1-h: the EWMA of returns up to that base.
	var baseVar [len(shockHorizons)]float64
	var v float64
	seeded, seedN := false, 0
	for i := start + 1; i <= n-2; i++ {
		if candles[i-1].Close <= 0 || candles[i].Close <= 0 {
			continue
		}
		r := rets[i-start]
		if !seeded {
			// The first 24 returns seed the average with their mean square.
			v += r * r
			seedN++
			if seedN == 24 {
				v /= float64(seedN)
				seeded = true
			}
		} else {
			v = lam*v + (1-lam)*r*r
		}
		for k, h := range shockHorizons {
			if i == n-1-h {
				baseVar[k] = v
			}
		}
	}
	if !seeded {
		return 0, 0, false
	}
	last := candles[n-1].Close
	for k, h := range shockHorizons {
		base := candles[n-1-h].Close
		if baseVar[k] <= 0 || base <= 0 || last <= 0 {
			continue
		}
		if s := math.Abs(math.Log(last/base)) / math.Sqrt(baseVar[k]*float64(h)); s > z {
			z, horizon = s, h
		}
	}
	return z, horizon, horizon > 0
}

// returnCache keeps the one-candle log returns of the candles a symbol's
// shock breaker read last, so that a cycle computes only the returns of
// candles it has not seen with the same close (their logarithms were most
// of what the breaker cost at every backtest candle). A return comes out
// bit for bit as computed afresh: the same expression of the same closes.
type returnCache struct {
	times  []int64   // open time of each candle, Unix nanoseconds
	closes []float64 // its close
	rets   []float64 // log(closes[i]/closes[i-1]); 0 where that is undefined
	// the buffers of the call before, reused by the next
	spareTimes  []int64
	spareCloses []float64
	spareRets   []float64
}

// of returns r with r[i] = log(c[i].Close/c[i-1].Close) for every i ≥ 1
// where both closes are positive (0 elsewhere, and at i = 0), valid until
// the next call.
func (rc *returnCache) of(c []executor.Candle) []float64 {
	times, closes, rets := rc.spareTimes[:0], rc.spareCloses[:0], rc.spareRets[:0]
	// k: where c[0] sits in the cached candles, if it does.
	k := -1
	if len(c) > 0 {
		t0 := c[0].Time.UnixNano()
		if j, found := slices.BinarySearch(rc.times, t0); found {
			k = j
		}
	}
	prevSame := false // c[i-1] is the cached candle it is aligned with
	for i := range c {
		t, cl := c[i].Time.UnixNano(), c[i].Close
		same := k >= 0 && k+i < len(rc.times) && rc.times[k+i] == t && rc.closes[k+i] == cl
		var r float64
		switch {
		case i == 0:
		case same && prevSame:
			r = rc.rets[k+i]
		case c[i-1].Close > 0 && cl > 0:
			r = math.Log(cl / c[i-1].Close)
		}
		times, closes, rets = append(times, t), append(closes, cl), append(rets, r)
		prevSame = same
	}
	rc.spareTimes, rc.spareCloses, rc.spareRets = rc.times, rc.closes, rc.rets
	rc.times, rc.closes, rc.rets = times, closes, rets
	return rets
}

// driftWindow keeps the reference window of the drift breaker between
// cycles: its returns in time order and sorted.
type driftWindow struct {
	next   time.Time // open time the next window's first candle has when it slid by one
	ref    []float64 // absolute log returns, in time order
	sorted []float64 // the same, sorted
	// shock is the shock breaker's returns, carried the same way.
	shock returnCache
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

// DriftNull describes the bootstrap that gives the drift breaker its
// threshold: the PSI the breaker sees when nothing has changed but the
// ordinary clustering of volatility.
type DriftNull struct {
	Reference, Recent int     // the breaker's windows, in returns
	Block             int     // mean block length of the stationary bootstrap
	Samples           int     // bootstrap samples
	Quantile          float64 // the threshold's quantile of the null PSIs
	Seed              uint64  // fixed, so the threshold is reproducible
}

// DriftNullQuantile draws, for each sample, one of series (absolute log
// returns of one symbol, in time order) and a stationary block bootstrap
// of Reference+Recent returns from it (blocks of geometric length with
// mean Block, wrapping around), computes the PSI of the last Recent
// against the first Reference, and returns the Quantile of those PSIs.
// It is deterministic for a given input and seed.
func DriftNullQuantile(series [][]float64, n DriftNull) (float64, error) {
	if n.Reference < driftBins || n.Recent < 1 || n.Block < 1 || n.Samples < 10 || n.Quantile <= 0 || n.Quantile >= 1 {
		return 0, fmt.Errorf("drift null: bad parameters %+v", n)
	}
	var usable [][]float64
	for _, s := range series {
		if len(s) >= n.Reference+n.Recent {
			usable = append(usable, s)
		}
	}
	if len(usable) == 0 {
		return 0, fmt.Errorf("drift null: no series of at least %d returns", n.Reference+n.Recent)
	}
	r := rand.New(rand.NewPCG(n.Seed, 0x9e3779b97f4a7c15))
	psis := make([]float64, n.Samples)
	buf := make([]float64, n.Reference+n.Recent)
	ref := make([]float64, n.Reference)
	for i := range psis {
		s := usable[r.IntN(len(usable))]
		for k := 0; k < len(buf); {
			at := r.IntN(len(s))
			for k < len(buf) {
				buf[k] = s[at]
				k++
				at = (at + 1) % len(s)
				if r.Float64() < 1/float64(n.Block) {
					break
				}
			}
		}
		copy(ref, buf[:n.Reference])
		sort.Float64s(ref)
		psis[i] = psiSorted(ref, buf[n.Reference:], driftBins)
	}
	sort.Float64s(psis)
	return psis[int(n.Quantile*float64(len(psis)-1))], nil
}

// BreakersFromConfig turns the configuration's breakers into the agent's.
func BreakersFromConfig(b config.Breakers) BreakerConfig {
	rule := func(l config.BreakerLevel) BreakerRule { return BreakerRule{Level: l.Level, Cooldown: l.Cooldown} }
	return BreakerConfig{
		ShockSigma: b.Shock.Sigma, DriftPSI: b.Drift.PSI,
		DriftReference: b.Drift.ReferenceBars, DriftRecent: b.Drift.RecentBars,
		MaxGapBars: b.DataGap.MaxGapBars, MaxConsecutiveErrors: b.ErrorSpike.MaxConsecutive,
		InvalidOutputWindow: b.InvalidOutput.Window, InvalidOutputPct: b.InvalidOutput.Pct,
		Rules: map[string]BreakerRule{
			BreakerErrorSpike:    rule(b.ErrorSpike.BreakerLevel),
			BreakerDataGap:       rule(b.DataGap.BreakerLevel),
			BreakerShock:         rule(b.Shock.BreakerLevel),
			BreakerDrift:         rule(b.Drift.BreakerLevel),
			BreakerInvalidOutput: rule(b.InvalidOutput.BreakerLevel),
		},
		ReduceScale: b.ReduceScale,
	}
}
