package market_test

import (
	"fmt"
	"time"

	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
)

func ExampleCheck() {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	bar := func(h int, c float64) executor.Candle {
		return executor.Candle{Time: t0.Add(time.Duration(h) * time.Hour), Open: c, High: c + 1, Low: c - 1, Close: c, Volume: 1}
	}
	candles := []executor.Candle{bar(0, 100), bar(1, 101), bar(3, 102), bar(3, 102), bar(4, -5)}
	now := t0.Add(9 * time.Hour)
	for _, p := range market.Check(candles, "1h", now, market.CheckOptions{MinBars: 3}) {
		fmt.Println(p.Kind, p.Index)
	}
	// Output:
	// gap 2
	// duplicate 3
	// bad_price 4
	// stale 4
}

func ExampleReplay_Closed() {
	r, err := market.BundledReplay("BTC/USDT", "1h")
	if err != nil {
		panic(err)
	}
	// At 12:30 the 12:00 candle is still open: the last closed one opened at 11:00.
	now := time.Date(2021, 1, 1, 12, 30, 0, 0, time.UTC)
	closed := r.Closed(now)
	last := closed[len(closed)-1]
	fmt.Println(last.Time.Format(time.RFC3339), last.Close)
	// Output:
	// 2021-01-01T11:00:00Z 29313.49
}
