package market

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/warden-trading/warden/executor"
)

// ProblemKind names one kind of bad market data.
type ProblemKind string

const (
	ProblemEmpty      ProblemKind = "empty"        // no candles at all
	ProblemTooFew     ProblemKind = "too_few"      // fewer candles than CheckOptions.MinBars
	ProblemTimeframe  ProblemKind = "timeframe"    // unknown timeframe
	ProblemMisaligned ProblemKind = "misaligned"   // open time not on the timeframe grid
	ProblemDuplicate  ProblemKind = "duplicate"    // same open time twice
	ProblemOrder      ProblemKind = "out_of_order" // open time before the previous one
	ProblemGap        ProblemKind = "gap"          // more missing candles than tolerated
	ProblemPrice      ProblemKind = "bad_price"    // a price not positive / not finite, volume negative
	ProblemOHLC       ProblemKind = "bad_ohlc"     // high < low, or open/close outside [low, high]
	ProblemOutlier    ProblemKind = "outlier"      // close-to-close jump beyond k×ATR or the hard cap
	ProblemFuture     ProblemKind = "future"       // candle not closed at the decision time
	ProblemStale      ProblemKind = "stale"        // last closed candle too old
	ProblemTicker     ProblemKind = "bad_ticker"   // bid/ask not positive, crossed, or from the future
	ProblemTickerAge  ProblemKind = "stale_ticker" // ticker too old or without a time
)

// Problem is one finding of Check. Index is the candle's position in the
// slice checked (-1 when the problem is not about one candle).
type Problem struct {
	Kind   ProblemKind `json:"kind"`
	Index  int         `json:"index"`
	Time   time.Time   `json:"time,omitzero"`
	Detail string      `json:"detail"`
}

func (p Problem) String() string {
	if p.Index >= 0 {
		return fmt.Sprintf("%s at #%d (%s): %s", p.Kind, p.Index, p.Time.UTC().Format(time.RFC3339), p.Detail)
	}
	return fmt.Sprintf("%s: %s", p.Kind, p.Detail)
}

// CheckOptions tune Check. Zero fields take the defaults documented on each.
type CheckOptions struct {
	// MinBars is the fewest candles accepted (default MinBarsForIndicators).
	MinBars int
	// MaxMissingBars is how many consecutive missing candles are tolerated
	// before a gap is a problem (default 0: any missing candle is a gap).
	// Negative means "use 0".
	MaxMissingBars int
	// RecentBars limits the gap and outlier checks to the last RecentBars
	// candles (default 24): an old gap inside the lookback does not block
	// today's decision, a fresh one does. Negative means all candles.
	RecentBars int
	// OutlierATR flags a close-to-close move larger than OutlierATR times
	// the ATR(14) of the candles before it (default 15).
	OutlierATR float64
	// OutlierPct flags a close-to-close move larger than this fraction
	// regardless of ATR (default 0.5, i.e. 50 %).
	OutlierPct float64
	// MaxAge is how old the last closed candle may be, measured from its
	// close time to now (default two candle steps).
	MaxAge time.Duration
}

func (o CheckOptions) withDefaults(step time.Duration) CheckOptions {
	if o.MinBars <= 0 {
		o.MinBars = MinBarsForIndicators
	}
	if o.MaxMissingBars < 0 {
		o.MaxMissingBars = 0
	}
	if o.RecentBars == 0 {
		o.RecentBars = 24
	}
	if o.OutlierATR <= 0 {
		o.OutlierATR = 15
	}
	if o.OutlierPct <= 0 {
		o.OutlierPct = 0.5
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 2 * step
	}
	return o
}

// Check validates candles (oldest first) of timeframe tf as seen at now and
// returns every problem found; nil means the data may reach a prompt.
func Check(candles []executor.Candle, tf string, now time.Time, opts CheckOptions) []Problem {
	step, err := Step(tf)
	if err != nil {
		return []Problem{{Kind: ProblemTimeframe, Index: -1, Detail: err.Error()}}
	}
	opts = opts.withDefaults(step)
	var ps []Problem
	add := func(k ProblemKind, i int, format string, args ...any) {
		p := Problem{Kind: k, Index: i, Detail: fmt.Sprintf(format, args...)}
		if i >= 0 {
			p.Time = candles[i].Time
		}
		ps = append(ps, p)
	}
	if len(candles) == 0 {
		add(ProblemEmpty, -1, "no candles")
		return ps
	}
	if len(candles) < opts.MinBars {
		add(ProblemTooFew, -1, "%d candles; want at least %d", len(candles), opts.MinBars)
	}
	recentFrom := 0
	if opts.RecentBars > 0 && len(candles) > opts.RecentBars {
		recentFrom = len(candles) - opts.RecentBars
	}
	stepNs, nowNs := int64(step), now.UnixNano()
	// Running Wilder ATR(14) over the candles before i, for the outlier test.
	atr, atrN := 0.0, 0
	var prevNs int64
	for i := range candles {
		c := &candles[i]
		ns := c.Time.UnixNano()
		if !finitePositive(c.Open) || !finitePositive(c.High) || !finitePositive(c.Low) || !finitePositive(c.Close) ||
			math.IsNaN(c.Volume) || math.IsInf(c.Volume, 0) || c.Volume < 0 {
			add(ProblemPrice, i, "o=%g h=%g l=%g c=%g v=%g", c.Open, c.High, c.Low, c.Close, c.Volume)
			prevNs = ns
			continue
		}
		if c.High < c.Low || c.Open < c.Low || c.Open > c.High || c.Close < c.Low || c.Close > c.High {
			add(ProblemOHLC, i, "o=%g h=%g l=%g c=%g", c.Open, c.High, c.Low, c.Close)
		}
		if ns%stepNs != 0 {
			add(ProblemMisaligned, i, "open time not a multiple of %s", tf)
		}
		if ns+stepNs > nowNs {
			add(ProblemFuture, i, "closes at %s, after the decision time %s", c.Time.Add(step).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		if i == 0 {
			prevNs = ns
			continue
		}
		p := &candles[i-1]
		d := ns - prevNs
		prevNs = ns
		switch {
		case d == 0:
			add(ProblemDuplicate, i, "open time repeats candle #%d", i-1)
		case d < 0:
			add(ProblemOrder, i, "open time before candle #%d (%s)", i-1, p.Time.UTC().Format(time.RFC3339))
		case d > stepNs && i >= recentFrom:
			if missing := int(d/stepNs) - 1; missing > opts.MaxMissingBars {
				add(ProblemGap, i, "%d missing candle(s) after %s (tolerated: %d)", missing, p.Time.UTC().Format(time.RFC3339), opts.MaxMissingBars)
			}
		}
		if !finitePositive(p.Close) {
			continue
		}
		move := c.Close - p.Close
		if move < 0 {
			move = -move
		}
		if i >= recentFrom {
			switch {
			case move/p.Close > opts.OutlierPct:
				add(ProblemOutlier, i, "close moved %.1f%% in one candle (cap %.1f%%)", 100*move/p.Close, 100*opts.OutlierPct)
			case atrN >= PeriodATR && move > opts.OutlierATR*atr:
				add(ProblemOutlier, i, "close moved %.4g = %.1f×ATR(14) in one candle (limit %g×ATR)", move, move/atr, opts.OutlierATR)
			}
		}
		tr := TrueRange(*c, p.Close)
		switch {
		case atrN < PeriodATR:
			atr += tr / PeriodATR
			atrN++
		default:
			atr = (atr*(PeriodATR-1) + tr) / PeriodATR
		}
	}
	last := candles[len(candles)-1]
	if age := now.Sub(last.Time.Add(step)); age > opts.MaxAge {
		add(ProblemStale, len(candles)-1, "last candle closed %s before the decision time (max %s)", age, opts.MaxAge)
	}
	return ps
}

// CheckTicker validates a ticker as seen at now: positive, uncrossed bid
// and ask, a time that is set, not after now and at most maxAge old.
func CheckTicker(tk executor.Ticker, now time.Time, maxAge time.Duration) []Problem {
	var ps []Problem
	bid, ask := tk.Bid, tk.Ask
	switch {
	case !bid.IsPositive() || !ask.IsPositive():
		ps = append(ps, Problem{Kind: ProblemTicker, Index: -1, Detail: fmt.Sprintf("%s bid %s ask %s: not positive", tk.Symbol, bid, ask)})
	case bid.GreaterThan(ask):
		ps = append(ps, Problem{Kind: ProblemTicker, Index: -1, Detail: fmt.Sprintf("%s bid %s above ask %s", tk.Symbol, bid, ask)})
	}
	switch {
	case tk.Time.IsZero():
		ps = append(ps, Problem{Kind: ProblemTickerAge, Index: -1, Detail: tk.Symbol + " ticker has no time"})
	case tk.Time.After(now):
		ps = append(ps, Problem{Kind: ProblemTicker, Index: -1, Detail: fmt.Sprintf("%s ticker time %s is after the decision time %s", tk.Symbol, tk.Time.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))})
	case maxAge > 0 && now.Sub(tk.Time) > maxAge:
		ps = append(ps, Problem{Kind: ProblemTickerAge, Index: -1, Detail: fmt.Sprintf("%s ticker is %s old (max %s)", tk.Symbol, now.Sub(tk.Time), maxAge)})
	}
	return ps
}

func finitePositive(x float64) bool { return x > 0 && !math.IsInf(x, 0) }

// SnapshotError is the error form of a failed check: the data must not
// reach a prompt. It carries every problem for the audit.
type SnapshotError struct {
	Symbol    string
	Timeframe string
	Problems  []Problem
}

func (e *SnapshotError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "market: snapshot %s %s rejected: %d problem(s)", e.Symbol, e.Timeframe, len(e.Problems))
	for i, p := range e.Problems {
		if i == 5 {
			fmt.Fprintf(&b, "; … %d more", len(e.Problems)-5)
			break
		}
		b.WriteString("; ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Validate is Check as an error: nil, or a *SnapshotError.
func Validate(candles []executor.Candle, tf string, now time.Time, opts CheckOptions) error {
	if ps := Check(candles, tf, now, opts); len(ps) > 0 {
		return &SnapshotError{Timeframe: tf, Problems: ps}
	}
	return nil
}
