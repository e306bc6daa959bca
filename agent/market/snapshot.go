package market

import (
	"fmt"
	"sort"
	"time"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/marketdata"
)

// Snapshot is what a decision may know about one symbol (the type lives
// in package marketdata, where prompts reads it).
type Snapshot = marketdata.Snapshot

// BuildOptions tune Build. Zero fields take the defaults documented on each.
type BuildOptions struct {
	Check CheckOptions
	// Lookback is how many closed candles feed the check and the
	// indicators (default 200).
	Lookback int
	// Keep is how many of the last closed candles the snapshot carries
	// (default 100; at most Lookback).
	Keep int
	// TickerMaxAge is how old the ticker may be (default Check.MaxAge).
	TickerMaxAge time.Duration
	// Frozen says the caller never writes the candles it passes again
	// (the agent's candle cache hands out such windows): the snapshot
	// then keeps a view of them, with no capacity past its end, instead
	// of a copy. A backtest builds a snapshot at every candle, and the
	// copy was a sixth of all it allocated.
	Frozen bool
}

// DefaultLookback and DefaultKeep are Build's defaults.
const (
	DefaultLookback = 200
	DefaultKeep     = 100
)

// Closed returns the prefix of candles (sorted by open time) whose close
// time, open time + step, is at or before now. It shares candles' array.
func Closed(candles []executor.Candle, step time.Duration, now time.Time) []executor.Candle {
	n := sort.Search(len(candles), func(i int) bool { return candles[i].Time.Add(step).After(now) })
	return candles[:n:n]
}

// Build makes the snapshot of symbol at now from candles (oldest first) and
// a ticker. Only candles closed by now are used — a candle still open at
// now, or any later one, never reaches the snapshot. The last Lookback
// closed candles must pass Check and the ticker CheckTicker; otherwise the
// error is a *SnapshotError and the snapshot must not reach a prompt.
func Build(symbol, tf string, candles []executor.Candle, tk executor.Ticker, now time.Time, opts BuildOptions) (Snapshot, error) {
	step, err := Step(tf)
	if err != nil {
		return Snapshot{}, &SnapshotError{Symbol: symbol, Timeframe: tf, Problems: []Problem{{Kind: ProblemTimeframe, Index: -1, Detail: err.Error()}}}
	}
	if opts.Lookback <= 0 {
		opts.Lookback = DefaultLookback
	}
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeep
	}
	opts.Keep = min(opts.Keep, opts.Lookback)
	if opts.TickerMaxAge <= 0 {
		opts.TickerMaxAge = opts.Check.withDefaults(step).MaxAge
	}
	if tk.Symbol != "" && tk.Symbol != symbol {
		return Snapshot{}, &SnapshotError{Symbol: symbol, Timeframe: tf, Problems: []Problem{{Kind: ProblemTicker, Index: -1, Detail: fmt.Sprintf("ticker is for %q", tk.Symbol)}}}
	}
	closed := Closed(candles, step, now)
	window := closed[max(0, len(closed)-opts.Lookback):]
	ps := Check(window, tf, now, opts.Check)
	ps = append(ps, CheckTicker(tk, now, opts.TickerMaxAge)...)
	if len(ps) > 0 {
		return Snapshot{}, &SnapshotError{Symbol: symbol, Timeframe: tf, Problems: ps}
	}
	keep := window[len(window)-min(opts.Keep, len(window)):]
	if opts.Frozen {
		keep = keep[:len(keep):len(keep)]
	} else {
		keep = append([]executor.Candle(nil), keep...)
	}
	return Snapshot{
		Symbol:     symbol,
		Timeframe:  tf,
		At:         now,
		Candles:    keep,
		Ticker:     tk,
		Indicators: Summarize(window, tf),
	}, nil
}
