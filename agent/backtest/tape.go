package backtest

import (
	"fmt"
	"sort"
	"time"

	"github.com/warden-trading/warden/executor"
)

// tape is the candle history a run steps through: for each symbol its
// warm-up candles (fed before the first decision, never marked) and the
// run's bars, on one timeline of bar open times shared by all symbols.
type tape struct {
	symbols []string
	step    time.Duration
	warm    [][]executor.Candle // per symbol, before the first bar
	opens   []time.Time         // run bars' open times, union over symbols
	// bars[i][s] is symbol s's candle at opens[i]; has[i][s] false in a gap.
	bars [][]executor.Candle
	has  [][]bool
	// closes[s][i] is symbol s's last close at or before bar i (carried
	// over gaps), for marks and the benchmark.
	closes [][]float64
	// series[s] is symbol s's warm-up and run candles in one slice (shared
	// with the caller's candles: read only).
	series [][]executor.Candle
}

// closeTime is when bar i closes: the decision time after it.
func (t *tape) closeTime(i int) time.Time { return t.opens[i].Add(t.step) }

// newTape cuts candles (per symbol, sorted by open time) to the bars
// opening in [from, to) with warmup candles of history before from. When a
// symbol has less history than warmup before from, from moves to the first
// bar where every symbol has it, and the returned note says so.
func newTape(candles map[string][]executor.Candle, symbols []string, step time.Duration, from, to time.Time, warmup int) (*tape, string, error) {
	if len(symbols) == 0 {
		return nil, "", fmt.Errorf("backtest: no symbols")
	}
	if !to.After(from) {
		return nil, "", fmt.Errorf("backtest: to %s is not after from %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	start := from
	for _, s := range symbols {
		cs := candles[s]
		if len(cs) == 0 {
			return nil, "", fmt.Errorf("backtest: no candles for %s", s)
		}
		for i := 1; i < len(cs); i++ {
			if !cs[i].Time.After(cs[i-1].Time) {
				return nil, "", fmt.Errorf("backtest: %s candles out of order or duplicated at %s", s, cs[i].Time.Format(time.RFC3339))
			}
		}
		if warmup < len(cs) {
			if first := cs[warmup].Time; first.After(start) {
				start = first
			}
		} else {
			return nil, "", fmt.Errorf("backtest: %s has %d candles, fewer than the %d of warm-up a snapshot needs", s, len(cs), warmup)
		}
	}
	note := ""
	if start.After(from) && !from.IsZero() {
		note = fmt.Sprintf("the run starts %s, not %s: the candles before are the %d of warm-up the snapshots need", start.UTC().Format(time.RFC3339), from.UTC().Format(time.RFC3339), warmup)
	}
	if !to.After(start) {
		return nil, "", fmt.Errorf("backtest: no bars between %s and %s after %d candles of warm-up", start.Format(time.RFC3339), to.Format(time.RFC3339), warmup)
	}
	t := &tape{symbols: symbols, step: step, warm: make([][]executor.Candle, len(symbols)), series: make([][]executor.Candle, len(symbols))}
	runs := make([][]executor.Candle, len(symbols))
	seen := map[int64]bool{}
	for si, s := range symbols {
		cs := candles[s]
		lo := sort.Search(len(cs), func(i int) bool { return !cs[i].Time.Before(start) })
		hi := sort.Search(len(cs), func(i int) bool { return !cs[i].Time.Before(to) })
		t.warm[si] = cs[max(0, lo-warmup):lo]
		runs[si] = cs[lo:hi]
		t.series[si] = cs[max(0, lo-warmup):hi:hi]
		for _, c := range runs[si] {
			if !seen[c.Time.UnixNano()] {
				seen[c.Time.UnixNano()] = true
				t.opens = append(t.opens, c.Time)
			}
		}
	}
	if len(t.opens) == 0 {
		return nil, "", fmt.Errorf("backtest: no candles of %v between %s and %s", symbols, start.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	sort.Slice(t.opens, func(i, j int) bool { return t.opens[i].Before(t.opens[j]) })
	t.bars = make([][]executor.Candle, len(t.opens))
	t.has = make([][]bool, len(t.opens))
	t.closes = make([][]float64, len(symbols))
	flatB := make([]executor.Candle, len(t.opens)*len(symbols))
	flatH := make([]bool, len(t.opens)*len(symbols))
	for i := range t.opens {
		t.bars[i] = flatB[i*len(symbols) : (i+1)*len(symbols)]
		t.has[i] = flatH[i*len(symbols) : (i+1)*len(symbols)]
	}
	for si := range symbols {
		t.closes[si] = make([]float64, len(t.opens))
		last := 0.0
		if w := t.warm[si]; len(w) > 0 {
			last = w[len(w)-1].Close
		}
		j := 0
		rs := runs[si]
		for i, at := range t.opens {
			if j < len(rs) && rs[j].Time.Equal(at) {
				t.bars[i][si], t.has[i][si] = rs[j], true
				last = rs[j].Close
				j++
			}
			t.closes[si][i] = last
		}
		if t.closes[si][0] <= 0 {
			return nil, "", fmt.Errorf("backtest: %s has no price at the first bar %s", symbols[si], t.opens[0].Format(time.RFC3339))
		}
	}
	return t, note, nil
}

// isDecision reports whether the close of bar i is a decision time: every
// close when every is 0, else closes on multiples of every since the Unix
// epoch (UTC midnights for 24 h).
func isDecision(closeAt time.Time, every time.Duration) bool {
	if every <= 0 {
		return true
	}
	return closeAt.UnixNano()%int64(every) == 0
}
