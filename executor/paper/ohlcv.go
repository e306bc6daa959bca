package paper

import (
	"context"
	"fmt"
	"time"

	"github.com/warden-trading/warden/executor"
)

var timeframes = map[string]time.Duration{
	"1m": time.Minute, "3m": 3 * time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute,
	"30m": 30 * time.Minute, "1h": time.Hour, "2h": 2 * time.Hour, "4h": 4 * time.Hour,
	"6h": 6 * time.Hour, "8h": 8 * time.Hour, "12h": 12 * time.Hour, "1d": 24 * time.Hour,
}

// OHLCV returns the candles fed so far (never later ones) at or after
// since, oldest first. A timeframe coarser than the feed is aggregated into
// buckets aligned to the Unix epoch, the newest possibly still open; ""
// means the feed's own. limit > 0 keeps the first limit candles after a
// non-zero since, or the last limit candles when since is zero.
func (x *Exchange) OHLCV(ctx context.Context, symbol, timeframe string, since time.Time, limit int) ([]executor.Candle, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	b, ok := x.books[symbol]
	if !ok {
		return nil, rejected("-1121", "Invalid symbol.")
	}
	src := b.candles[b.start:]
	var tf time.Duration
	if timeframe != "" {
		if tf, ok = timeframes[timeframe]; !ok {
			return nil, rejected("-1120", fmt.Sprintf("Invalid interval %q.", timeframe))
		}
		if b.interval != 0 && tf < b.interval {
			return nil, rejected("-1120", fmt.Sprintf("interval %s is finer than the paper feed (%s)", timeframe, b.interval))
		}
	}
	var out []executor.Candle
	aggregate := tf != 0 && b.interval != 0 && tf != b.interval
	for _, c := range src {
		if aggregate {
			t := c.Time.Truncate(tf)
			if n := len(out); n > 0 && out[n-1].Time.Equal(t) {
				a := &out[n-1]
				a.High = max(a.High, c.High)
				a.Low = min(a.Low, c.Low)
				a.Close = c.Close
				a.Volume += c.Volume
				continue
			}
			c.Time = t
		}
		out = append(out, c)
	}
	if !since.IsZero() {
		i := 0
		for i < len(out) && out[i].Time.Before(since) {
			i++
		}
		out = out[i:]
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
	} else if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}
