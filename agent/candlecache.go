package agent

import (
	"context"
	"sync"
	"time"

	"github.com/warden-trading/warden/executor"
)

// candleCache keeps each symbol's recent candles between cycles of one
// process, so a cycle fetches only what is new since the last one (from
// the newest cached candle on, which may have been open when fetched) — a
// much smaller answer, and the same one request per symbol. Any doubt (no
// overlap with the cache, a candle out of order) falls back to a full
// fetch.
type candleCache struct {
	mu sync.Mutex
	m  map[string]*candleWindow
}

// candleWindow is one symbol's cached candles: buf[lo:hi]. The cache owns
// buf[hi:]; every window it has handed out ends at or before hi and has no
// capacity past its end, so appending new candles there changes nothing
// a caller holds, and a cycle that only adds candles copies none.
type candleWindow struct {
	buf    []executor.Candle
	lo, hi int
}

func (w *candleWindow) view() []executor.Candle { return w.buf[w.lo:w.hi:w.hi] }

// ohlcv returns the last n candles of sym (as OHLCV(since, n) would) from
// the cache and an incremental fetch.
func (a *Agent) ohlcv(ctx context.Context, sym string, since, now time.Time, n int) ([]executor.Candle, error) {
	a.candles.mu.Lock()
	var cached []executor.Candle
	if w := a.candles.m[sym]; w != nil {
		cached = w.view()
	}
	a.candles.mu.Unlock()
	if len(cached) > 0 {
		last := cached[len(cached)-1].Time
		if !last.Before(since) && !last.After(now) {
			k := int(now.Sub(last)/a.step) + 2
			if k < n {
				fresh, err := a.candleSource().OHLCV(ctx, sym, a.o.Timeframe, last, k)
				if err != nil {
					return nil, err
				}
				if at, ok := overlap(cached, fresh); ok {
					return a.extendCandles(sym, cached, at, fresh, since, n), nil
				}
			}
		}
	}
	cs, err := a.candleSource().OHLCV(ctx, sym, a.o.Timeframe, since, n)
	if err != nil {
		return nil, err
	}
	return a.keepCandles(sym, cs, since, n), nil
}

// overlap finds where fresh begins in cached: fresh must start at a
// cached candle's time (the overlap proves nothing is missing) and be
// strictly ascending.
func overlap(cached, fresh []executor.Candle) (int, bool) {
	if len(fresh) == 0 {
		return 0, false
	}
	for i := 1; i < len(fresh); i++ {
		if !fresh[i].Time.After(fresh[i-1].Time) {
			return 0, false
		}
	}
	for i := len(cached) - 1; i >= 0; i-- {
		if cached[i].Time.Equal(fresh[0].Time) {
			return i, true
		}
	}
	return 0, false
}

// mergeCandles replaces cached candles from cached[at] on with fresh,
// which starts at that candle's time (overlap).
func mergeCandles(cached []executor.Candle, at int, fresh []executor.Candle) []executor.Candle {
	out := make([]executor.Candle, 0, at+len(fresh))
	out = append(out, cached[:at]...)
	return append(out, fresh...)
}

// sameCandle says whether two candles are the same bar with the same
// values (an open bar fetched again may have changed).
func sameCandle(a, b executor.Candle) bool {
	return a.Time.Equal(b.Time) && a.Open == b.Open && a.High == b.High && a.Low == b.Low && a.Close == b.Close && a.Volume == b.Volume
}

// extendCandles is keepCandles(mergeCandles(cached, at, fresh)) without
// copying the window when fresh only adds candles after the ones it
// repeats unchanged: the new ones go into the cache's own buffer past
// the window's end.
func (a *Agent) extendCandles(sym string, cached []executor.Candle, at int, fresh []executor.Candle, since time.Time, n int) []executor.Candle {
	rep := min(len(cached)-at, len(fresh))
	for i := 0; i < rep; i++ {
		if !sameCandle(cached[at+i], fresh[i]) {
			return a.keepCandles(sym, mergeCandles(cached, at, fresh), since, n)
		}
	}
	a.candles.mu.Lock()
	cs, ok := a.appendCandles(sym, cached, fresh[rep:], since, n)
	a.candles.mu.Unlock()
	if ok {
		return cs
	}
	// Another cycle replaced the window meanwhile: start afresh.
	return a.keepCandles(sym, mergeCandles(cached, at, fresh), since, n)
}

// appendCandles adds candles after sym's window, which must still be
// cached, and trims it to since and n. The caller holds a.candles.mu.
func (a *Agent) appendCandles(sym string, cached, add []executor.Candle, since time.Time, n int) ([]executor.Candle, bool) {
	w := a.candles.m[sym]
	if w == nil || w.hi-w.lo != len(cached) || len(cached) == 0 || &w.buf[w.hi-1] != &cached[len(cached)-1] {
		return nil, false
	}
	if w.hi+len(add) > len(w.buf) {
		// No room past the window: a new buffer with room for as many
		// candles again, so copies are rare.
		nb := make([]executor.Candle, 2*(n+len(add)))
		w.hi = copy(nb, w.buf[w.lo:w.hi])
		w.buf, w.lo = nb, 0
	}
	w.hi += copy(w.buf[w.hi:], add)
	for w.lo < w.hi && w.buf[w.lo].Time.Before(since) {
		w.lo++
	}
	if w.hi-w.lo > n {
		w.lo = w.hi - n
	}
	return w.view(), true
}

// keepCandles stores the candles at or after since, at most n of the
// newest, and returns them.
func (a *Agent) keepCandles(sym string, cs []executor.Candle, since time.Time, n int) []executor.Candle {
	i := 0
	for i < len(cs) && cs[i].Time.Before(since) {
		i++
	}
	cs = cs[i:]
	if len(cs) > n {
		cs = cs[len(cs)-n:]
	}
	cs = append([]executor.Candle(nil), cs...)
	a.candles.mu.Lock()
	if a.candles.m == nil {
		a.candles.m = map[string]*candleWindow{}
	}
	a.candles.m[sym] = &candleWindow{buf: cs, hi: len(cs)}
	a.candles.mu.Unlock()
	return cs[:len(cs):len(cs)]
}

// candleSource is where candles come from: Deps.Candles, else the market.
func (a *Agent) candleSource() OHLCVSource {
	if a.d.Candles != nil {
		return a.d.Candles
	}
	return a.d.Market
}
