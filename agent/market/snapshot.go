package market

import (
	"fmt"
	"slices"
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
	// Known is the analysis of the window done ahead (Analyse), used only
	// when it was done on the same candles with the same time, timeframe
	// and check options as this Build; otherwise Build analyses itself.
	Known *Analysis
}

// Analysis is what Build computes from its window of closed candles: the
// data check's problems and the indicators, with what they were computed
// from. A backtest computes it ahead, on another goroutine, for the
// decisions to come (Analyse).
type Analysis struct {
	Window     []executor.Candle
	Now        time.Time
	Timeframe  string
	Check      CheckOptions
	Problems   []Problem
	Indicators Indicators
}

// Analyse is the analysis Build makes of the last lookback closed candles
// (0: DefaultLookback) at now, with the check options Build would use.
func Analyse(closed []executor.Candle, tf string, now time.Time, lookback int, check CheckOptions) Analysis {
	if lookback <= 0 {
		lookback = DefaultLookback
	}
	return analyse(closed[max(0, len(closed)-lookback):], tf, now, check)
}

// analyse checks and summarises window.
func analyse(window []executor.Candle, tf string, now time.Time, check CheckOptions) Analysis {
	return Analysis{
		Window: window, Now: now, Timeframe: tf, Check: check,
		Problems:   Check(window, tf, now, check),
		Indicators: Summarize(window, tf),
	}
}

// SameCandles says whether a and b hold the same candles, value for value
// (a NaN never equals itself, so a window holding one is never taken for
// another).
func SameCandles(a, b []executor.Candle) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		if !a[i].Time.Equal(b[i].Time) || a[i].Open != b[i].Open || a[i].High != b[i].High ||
			a[i].Low != b[i].Low || a[i].Close != b[i].Close || a[i].Volume != b[i].Volume {
			return false
		}
	}
	return true
}

// matches says whether the analysis k was made of window at now with tf
// and check.
func (k *Analysis) matches(window []executor.Candle, tf string, now time.Time, check CheckOptions) bool {
	return k != nil && k.Timeframe == tf && k.Now.Equal(now) && k.Check == check && SameCandles(k.Window, window)
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
	k := opts.Known
	if !k.matches(window, tf, now, opts.Check) {
		a := analyse(window, tf, now, opts.Check)
		k = &a
	}
	ps := append(slices.Clip(k.Problems), CheckTicker(tk, now, opts.TickerMaxAge)...)
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
		Indicators: k.Indicators,
	}, nil
}
