package market

import (
	"fmt"
	"sort"
	"time"

	"github.com/warden-trading/warden/executor"
)

// Replay serves a fixed candle history as of a simulated clock, for the
// paper exchange and for backtests. It is read-only and safe for
// concurrent use.
type Replay struct {
	symbol, tf string
	step       time.Duration
	candles    []executor.Candle
}

// NewReplay serves candles (strictly increasing open times) of symbol and
// timeframe tf. It keeps candles; the caller must not modify them later.
func NewReplay(symbol, tf string, candles []executor.Candle) (*Replay, error) {
	step, err := Step(tf)
	if err != nil {
		return nil, err
	}
	for i := 1; i < len(candles); i++ {
		if !candles[i].Time.After(candles[i-1].Time) {
			return nil, fmt.Errorf("market: replay %s %s: candle #%d (%s) not after #%d", symbol, tf, i, candles[i].Time.UTC().Format(time.RFC3339), i-1)
		}
	}
	return &Replay{symbol: symbol, tf: tf, step: step, candles: candles}, nil
}

// BundledReplay is a Replay over the bundled candles of symbol and tf.
func BundledReplay(symbol, tf string) (*Replay, error) {
	cs, err := bundled(symbol, tf)
	if err != nil {
		return nil, err
	}
	return NewReplay(symbol, tf, cs)
}

func (r *Replay) Symbol() string      { return r.symbol }
func (r *Replay) Timeframe() string   { return r.tf }
func (r *Replay) Step() time.Duration { return r.step }
func (r *Replay) Len() int            { return len(r.candles) }

// Candle returns the i-th candle (oldest first).
func (r *Replay) Candle(i int) executor.Candle { return r.candles[i] }

// Start is the open time of the first candle; End the close time of the
// last. Both are zero for an empty replay.
func (r *Replay) Start() time.Time {
	if len(r.candles) == 0 {
		return time.Time{}
	}
	return r.candles[0].Time
}

func (r *Replay) End() time.Time {
	if len(r.candles) == 0 {
		return time.Time{}
	}
	return r.candles[len(r.candles)-1].Time.Add(r.step)
}

// ClosedCount is how many candles have closed by now (binary search).
func (r *Replay) ClosedCount(now time.Time) int {
	return sort.Search(len(r.candles), func(i int) bool { return r.candles[i].Time.Add(r.step).After(now) })
}

// Closed returns the candles closed by now, oldest first. The slice shares
// the replay's array (capacity clipped, so appending copies): read only.
func (r *Replay) Closed(now time.Time) []executor.Candle {
	n := r.ClosedCount(now)
	return r.candles[:n:n]
}

// Window returns at most the last n candles closed by now (read only).
func (r *Replay) Window(now time.Time, n int) []executor.Candle {
	c := r.ClosedCount(now)
	return r.candles[max(0, c-n):c:c]
}

// Last returns the last candle closed by now; ok is false before the first
// candle has closed.
func (r *Replay) Last(now time.Time) (executor.Candle, bool) {
	n := r.ClosedCount(now)
	if n == 0 {
		return executor.Candle{}, false
	}
	return r.candles[n-1], true
}

// Forming returns the candle open at now (open time ≤ now < close time),
// which a paper exchange may use to fill orders after the decision; it
// must never feed a decision. ok is false when no candle is open at now.
func (r *Replay) Forming(now time.Time) (executor.Candle, bool) {
	n := r.ClosedCount(now)
	if n < len(r.candles) && !r.candles[n].Time.After(now) {
		return r.candles[n], true
	}
	return executor.Candle{}, false
}
