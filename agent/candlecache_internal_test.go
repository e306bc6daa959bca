package agent

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/warden-trading/warden/executor"
)

// scriptedCandles answers OHLCV from a series that grows one bar a call;
// the newest bar is open and its close moves until the next one starts.
type scriptedCandles struct {
	bars []executor.Candle
}

func (s *scriptedCandles) OHLCV(_ context.Context, _, _ string, since time.Time, limit int) ([]executor.Candle, error) {
	var out []executor.Candle
	for _, c := range s.bars {
		if !c.Time.Before(since) {
			out = append(out, c)
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// TestCandleCacheWindowsStayPut: the cache appends new candles into its
// own buffer, yet every window it handed out earlier keeps the candles it
// had, each window is the one a full fetch gives, and a bar that changed
// since it was cached (an open bar fetched again) is replaced.
func TestCandleCacheWindowsStayPut(t *testing.T) {
	const n = 7
	step := time.Hour
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	src := &scriptedCandles{}
	for i := 0; i < 10; i++ {
		src.bars = append(src.bars, executor.Candle{Time: t0.Add(time.Duration(i) * step), Open: 1, High: 2, Low: 0.5, Close: float64(i), Volume: 1})
	}
	a := &Agent{d: Deps{Candles: src}, step: step}
	a.o.Timeframe = "1h"
	type handed struct{ got, want []executor.Candle }
	var seen []handed
	ctx := context.Background()
	for cycle := 0; cycle < 60; cycle++ {
		last := src.bars[len(src.bars)-1].Time
		now := last.Add(step)
		since := now.Add(-n * step)
		got, err := a.ohlcv(ctx, "BTC/USDT", since, now, n)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := src.OHLCV(ctx, "", "", since, n)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("cycle %d: window %v; a full fetch gives %v", cycle, got, want)
		}
		if cap(got) != len(got) {
			t.Fatalf("cycle %d: window has capacity %d past its %d candles; an append by the caller would write into the cache", cycle, cap(got), len(got))
		}
		seen = append(seen, handed{got, append([]executor.Candle(nil), got...)})
		// Every third cycle the newest bar changes before the next one
		// starts (it was open when fetched).
		if cycle%3 == 0 {
			src.bars[len(src.bars)-1].Close += 0.5
		}
		src.bars = append(src.bars, executor.Candle{Time: now, Open: 1, High: 2, Low: 0.5, Close: float64(cycle), Volume: 1})
	}
	for i, h := range seen {
		if !reflect.DeepEqual(h.got, h.want) {
			t.Fatalf("window handed out at cycle %d changed afterwards", i)
		}
	}
}
