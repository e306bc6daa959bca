package market

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
)

var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

// clean is 60 good hourly candles; now is the close of the last.
func clean() ([]executor.Candle, time.Time) {
	cs := series(t0, 60, func(i int) float64 { return 100 + math.Sin(float64(i)) })
	return cs, cs[len(cs)-1].Time.Add(time.Hour)
}

func kinds(ps []Problem) []ProblemKind {
	var ks []ProblemKind
	for _, p := range ps {
		ks = append(ks, p.Kind)
	}
	return ks
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time)
		opts   CheckOptions
		want   []ProblemKind
	}{
		{"clean", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) { return cs, now }, CheckOptions{}, nil},
		{"empty", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) { return nil, now }, CheckOptions{}, []ProblemKind{ProblemEmpty}},
		{"too few", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) { return cs[50:], now }, CheckOptions{}, []ProblemKind{ProblemTooFew}},
		{"gap of one", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			return slices.Delete(cs, 55, 56), now
		}, CheckOptions{}, []ProblemKind{ProblemGap}},
		{"gap tolerated", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			return slices.Delete(cs, 55, 57), now
		}, CheckOptions{MaxMissingBars: 2}, nil},
		{"gap beyond tolerance", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			return slices.Delete(cs, 55, 58), now
		}, CheckOptions{MaxMissingBars: 2}, []ProblemKind{ProblemGap}},
		{"old gap outside recent bars", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			return slices.Delete(cs, 5, 6), now
		}, CheckOptions{}, nil},
		{"old gap, all bars checked", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			return slices.Delete(cs, 5, 6), now
		}, CheckOptions{RecentBars: -1}, []ProblemKind{ProblemGap}},
		{"duplicate", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			cs[40].Time = cs[39].Time
			return cs, now
		}, CheckOptions{}, []ProblemKind{ProblemDuplicate, ProblemGap}},
		{"out of order", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			cs[40], cs[41] = cs[41], cs[40]
			return cs, now
		}, CheckOptions{RecentBars: -1}, []ProblemKind{ProblemGap, ProblemOrder, ProblemGap}},
		{"zero price", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			cs[30].Low = 0
			return cs, now
		}, CheckOptions{}, []ProblemKind{ProblemPrice}},
		{"negative close", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			cs[30].Close = -1
			return cs, now
		}, CheckOptions{}, []ProblemKind{ProblemPrice}},
		{"NaN price", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			cs[30].Open = math.NaN()
			return cs, now
		}, CheckOptions{}, []ProblemKind{ProblemPrice}},
		{"negative volume", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			cs[30].Volume = -3
			return cs, now
		}, CheckOptions{}, []ProblemKind{ProblemPrice}},
		{"high below low", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			cs[30].High, cs[30].Low = cs[30].Low, cs[30].High
			return cs, now
		}, CheckOptions{}, []ProblemKind{ProblemOHLC}},
		{"close above high", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			cs[30].Close = cs[30].High + 0.01
			return cs, now
		}, CheckOptions{}, []ProblemKind{ProblemOHLC}},
		{"open below low", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			cs[30].Open = cs[30].Low - 0.01
			return cs, now
		}, CheckOptions{}, []ProblemKind{ProblemOHLC}},
		{"outlier beyond k ATR", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			c := &cs[58] // ATR ≈ 1; a 20-point jump (20 %) is far beyond 15×ATR
			c.Close, c.High = 120, 120.1
			return cs, now
		}, CheckOptions{}, []ProblemKind{ProblemOutlier}},
		{"outlier hard cap", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			c := &cs[59]
			c.Close, c.High = 160, 160
			return cs, now
		}, CheckOptions{OutlierATR: 1000}, []ProblemKind{ProblemOutlier}},
		{"stale", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			return cs, now.Add(2*time.Hour + time.Second)
		}, CheckOptions{}, []ProblemKind{ProblemStale}},
		{"not stale at max age", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			return cs, now.Add(2 * time.Hour)
		}, CheckOptions{}, nil},
		{"custom max age", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			return cs, now.Add(10 * time.Minute)
		}, CheckOptions{MaxAge: 5 * time.Minute}, []ProblemKind{ProblemStale}},
		{"future candle", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			return cs, now.Add(-time.Minute)
		}, CheckOptions{}, []ProblemKind{ProblemFuture}},
		{"misaligned", func(cs []executor.Candle, now time.Time) ([]executor.Candle, time.Time) {
			cs[30].Time = cs[30].Time.Add(time.Minute)
			return cs, now
		}, CheckOptions{}, []ProblemKind{ProblemMisaligned}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, now := clean()
			cs, now = tt.mutate(cs, now)
			got := kinds(Check(cs, "1h", now, tt.opts))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Check(%s) = %v; want %v\n%v", tt.name, got, tt.want, Check(cs, "1h", now, tt.opts))
			}
		})
	}
}

func TestCheckUnknownTimeframe(t *testing.T) {
	cs, now := clean()
	if got := kinds(Check(cs, "7h", now, CheckOptions{})); !slices.Equal(got, []ProblemKind{ProblemTimeframe}) {
		t.Errorf("Check(tf 7h) = %v; want [timeframe]", got)
	}
}

func TestValidate(t *testing.T) {
	cs, now := clean()
	if err := Validate(cs, "1h", now, CheckOptions{}); err != nil {
		t.Fatalf("Validate(clean) = %v; want nil", err)
	}
	cs[30].Close = -1
	err := Validate(cs, "1h", now, CheckOptions{})
	var se *SnapshotError
	if !errors.As(err, &se) || len(se.Problems) != 1 || !strings.Contains(err.Error(), "bad_price") {
		t.Fatalf("Validate(bad) = %v; want *SnapshotError with bad_price", err)
	}
}

func TestCheckTicker(t *testing.T) {
	now := t0
	d := decimal.RequireFromString
	tests := []struct {
		name string
		tk   executor.Ticker
		want []ProblemKind
	}{
		{"good", executor.Ticker{Symbol: "X", Bid: d("1"), Ask: d("1.1"), Time: now.Add(-time.Second)}, nil},
		{"zero bid", executor.Ticker{Symbol: "X", Bid: d("0"), Ask: d("1.1"), Time: now}, []ProblemKind{ProblemTicker}},
		{"crossed", executor.Ticker{Symbol: "X", Bid: d("1.2"), Ask: d("1.1"), Time: now}, []ProblemKind{ProblemTicker}},
		{"no time", executor.Ticker{Symbol: "X", Bid: d("1"), Ask: d("1.1")}, []ProblemKind{ProblemTickerAge}},
		{"future", executor.Ticker{Symbol: "X", Bid: d("1"), Ask: d("1.1"), Time: now.Add(time.Second)}, []ProblemKind{ProblemTicker}},
		{"old", executor.Ticker{Symbol: "X", Bid: d("1"), Ask: d("1.1"), Time: now.Add(-time.Hour)}, []ProblemKind{ProblemTickerAge}},
	}
	for _, tt := range tests {
		if got := kinds(CheckTicker(tt.tk, now, time.Minute)); !slices.Equal(got, tt.want) {
			t.Errorf("CheckTicker(%s) = %v; want %v", tt.name, got, tt.want)
		}
	}
}

// The real bundled history passes the checks almost everywhere: the only
// problems are the real exchange outages (gaps) and one real +20 % hour.
func TestCheckBundledHistory(t *testing.T) {
	cs, err := Bundled("BTC/USDT", "1h")
	if err != nil {
		t.Fatal(err)
	}
	now := cs[len(cs)-1].Time.Add(time.Hour)
	count := map[ProblemKind]int{}
	for _, p := range Check(cs, "1h", now, CheckOptions{RecentBars: -1}) {
		count[p.Kind]++
	}
	if count[ProblemGap] != 27 || count[ProblemOutlier] > 2 || len(count) > 2 {
		t.Errorf("Check(BTC 1h history) = %v; want 27 gaps (SOURCES.md) and at most 2 outliers", count)
	}
}
