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
	m  map[string][]executor.Candle
}

// ohlcv returns the last n candles of sym (as OHLCV(since, n) would) from
// the cache and an incremental fetch.
func (a *Agent) ohlcv(ctx context.Context, sym string, since, now time.Time, n int) ([]executor.Candle, error) {
	a.candles.mu.Lock()
	cached := a.candles.m[sym]
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
				if merged, ok := mergeCandles(cached, fresh); ok {
					return a.keepCandles(sym, merged, since, n), nil
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

// mergeCandles replaces cached candles from fresh's first one on with
// fresh. fresh must start at a cached candle's time (the overlap proves
// nothing is missing) and every series must be strictly ascending.
func mergeCandles(cached, fresh []executor.Candle) ([]executor.Candle, bool) {
	if len(fresh) == 0 {
		return nil, false
	}
	for i := 1; i < len(fresh); i++ {
		if !fresh[i].Time.After(fresh[i-1].Time) {
			return nil, false
		}
	}
	at := -1
	for i := len(cached) - 1; i >= 0; i-- {
		if cached[i].Time.Equal(fresh[0].Time) {
			at = i
			break
		}
	}
	if at < 0 {
		return nil, false
	}
	out := make([]executor.Candle, 0, at+len(fresh))
	out = append(out, cached[:at]...)
	return append(out, fresh...), true
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
		a.candles.m = map[string][]executor.Candle{}
	}
	a.candles.m[sym] = cs
	a.candles.mu.Unlock()
	return cs
}

// candleSource is where candles come from: Deps.Candles, else the market.
func (a *Agent) candleSource() OHLCVSource {
	if a.d.Candles != nil {
		return a.d.Candles
	}
	return a.d.Market
}
