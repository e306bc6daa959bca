package agent

import (
	"context"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
)

// CandleStore is where closed candles are kept between processes
// (agent/audit's candle cache).
type CandleStore interface {
	CachedCandles(ctx context.Context, k audit.CandleKey, step time.Duration, from time.Time, limit int) ([]executor.Candle, error)
	PutCandles(ctx context.Context, k audit.CandleKey, step time.Duration, cs []executor.Candle, fetched, keepFrom time.Time) error
}

// StoredCandles is an OHLCVSource that keeps closed candles in the store,
// so a new process (`warden run --once` from cron) fetches only the
// candles that closed since the last cycle instead of the whole warm-up
// window. The cache is trusted only when it covers the request from its
// first candle on without a gap and in order; any doubt — a gap, a first
// candle other than the one asked for, a read error — is a full fetch, as
// without the cache. A candle is cached only once closed at the time of
// the fetch, and the store skips any row that was not: a candle still
// forming is never served as closed. The cache keeps Keep candles per
// series (the warm-up window plus a margin); older rows are deleted with
// each write.
type StoredCandles struct {
	Src      OHLCVSource
	Store    CandleStore
	Exchange string           // the cache key's exchange (with "-sandbox" for a sandbox)
	Keep     int              // candles kept per symbol and timeframe
	Now      func() time.Time // the time that decides which candles are closed
	// ClosedOnly says the caller uses closed candles only (it drops the
	// forming one, market.Closed): when the cache holds every candle
	// asked for that has closed by Now, nothing is fetched.
	ClosedOnly bool
	// OnError, when set, is told of a cache read or write that failed; the
	// candles are then fetched or returned as without the cache.
	OnError func(error)
}

func (s *StoredCandles) fail(err error) {
	if s.OnError != nil && err != nil {
		s.OnError(err)
	}
}

// OHLCV returns what Src.OHLCV(since, limit) would, from the cache and a
// fetch of only the candles after the newest cached one.
func (s *StoredCandles) OHLCV(ctx context.Context, symbol, timeframe string, since time.Time, limit int) ([]executor.Candle, error) {
	step, err := market.Step(timeframe)
	if err != nil || since.IsZero() || limit <= 0 {
		return s.Src.OHLCV(ctx, symbol, timeframe, since, limit)
	}
	now := s.Now()
	k := audit.CandleKey{Exchange: s.Exchange, Symbol: symbol, Timeframe: timeframe}
	first := since.UTC()
	if t := first.Truncate(step); t.Before(first) {
		first = t.Add(step)
	}
	if s.ClosedOnly && first.After(now.Truncate(step).Add(-step)) {
		return nil, nil // nothing asked for has closed yet
	}
	cached, err := s.Store.CachedCandles(ctx, k, step, first, limit)
	if err != nil {
		s.fail(err)
		cached = nil
	}
	if !contiguous(cached, first, step) {
		cached = nil
	}
	if s.ClosedOnly && len(cached) > 0 {
		end := first.Add(time.Duration(limit-1) * step) // the newest candle asked for
		if lastClosed := now.Truncate(step).Add(-step); end.After(lastClosed) {
			end = lastClosed
		}
		if !cached[len(cached)-1].Time.Before(end) {
			return cached, nil
		}
	}
	var out []executor.Candle
	if len(cached) == 0 {
		if out, err = s.Src.OHLCV(ctx, symbol, timeframe, since, limit); err != nil {
			return nil, err
		}
	} else {
		out = cached
		if n := limit - len(cached); n > 0 {
			fresh, err := s.Src.OHLCV(ctx, symbol, timeframe, cached[len(cached)-1].Time.Add(step), n)
			if err != nil {
				return nil, err
			}
			last := cached[len(cached)-1].Time
			for _, c := range fresh {
				if c.Time.After(last) {
					out = append(out, c)
					last = c.Time
				}
			}
		}
	}
	// Cache the closed candles not cached yet.
	var put []executor.Candle
	for _, c := range out[len(cached):] {
		if !c.Time.Add(step).After(now) {
			put = append(put, c)
		}
	}
	if len(put) > 0 {
		keepFrom := now.Truncate(step).Add(-time.Duration(s.Keep) * step)
		s.fail(s.Store.PutCandles(ctx, k, step, put, now, keepFrom))
	}
	return out, nil
}

// contiguous reports whether cs starts at first and has no gap.
func contiguous(cs []executor.Candle, first time.Time, step time.Duration) bool {
	if len(cs) == 0 || !cs[0].Time.Equal(first) {
		return false
	}
	for i := 1; i < len(cs); i++ {
		if !cs[i].Time.Equal(cs[i-1].Time.Add(step)) {
			return false
		}
	}
	return true
}
