package market

import (
	"fmt"
	"time"
)

var timeframes = map[string]time.Duration{
	"1m":  time.Minute,
	"5m":  5 * time.Minute,
	"15m": 15 * time.Minute,
	"30m": 30 * time.Minute,
	"1h":  time.Hour,
	"2h":  2 * time.Hour,
	"4h":  4 * time.Hour,
	"6h":  6 * time.Hour,
	"12h": 12 * time.Hour,
	"1d":  24 * time.Hour,
}

// Step is the duration of one candle of timeframe tf ("1m" … "1d").
func Step(tf string) (time.Duration, error) {
	d, ok := timeframes[tf]
	if !ok {
		return 0, fmt.Errorf("market: unknown timeframe %q (want one of 1m 5m 15m 30m 1h 2h 4h 6h 12h 1d)", tf)
	}
	return d, nil
}

// PeriodsPerYear is how many candles of step fit in a year of 24/7
// trading; it annualises volatility.
func PeriodsPerYear(step time.Duration) float64 {
	if step <= 0 {
		return 0
	}
	return float64(365*24*time.Hour) / float64(step)
}
