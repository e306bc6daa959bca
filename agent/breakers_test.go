package agent

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/executor"
)

func synthCandles(n int, vol float64, seed uint64) []executor.Candle {
	r := rand.New(rand.NewPCG(seed, 7))
	t0 := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]executor.Candle, n)
	price := 100.0
	for i := range out {
		next := price * math.Exp(r.NormFloat64()*vol)
		hi, lo := math.Max(price, next)*(1+vol/4), math.Min(price, next)*(1-vol/4)
		out[i] = executor.Candle{Time: t0.Add(time.Duration(i) * time.Hour), Open: price, High: hi, Low: lo, Close: next, Volume: 10}
		price = next
	}
	return out
}

var testBreakers = BreakerConfig{ShockATRMultiple: 6, DriftPSI: 0.5, DriftReference: 500, DriftRecent: 48, MaxGapBars: 3}

func TestMarketTripsQuietMarket(t *testing.T) {
	if trips := MarketTrips("BTC/USDT", synthCandles(600, 0.01, 1), time.Hour, testBreakers); len(trips) != 0 {
		t.Fatalf("MarketTrips(quiet) = %v; want none", trips)
	}
}

func TestMarketTrips(t *testing.T) {
	tests := []struct {
		name   string
		mutate func([]executor.Candle) []executor.Candle
		want   string
	}{
		{"fresh gap", func(c []executor.Candle) []executor.Candle {
			n := len(c)
			return append(c[:n-10:n-10], c[n-5:]...)
		}, "data_gap"},
		{"shock", func(c []executor.Candle) []executor.Candle {
			last := &c[len(c)-1]
			last.Low = last.Open * 0.7
			last.Close = last.Low
			return c
		}, "volatility_shock"},
		{"drift", func(c []executor.Candle) []executor.Candle {
			wild := synthCandles(48, 0.05, 3)
			base := c[len(c)-49].Close / wild[0].Open
			for i := range wild {
				w := wild[i]
				c[len(c)-48+i] = executor.Candle{Time: c[len(c)-48+i].Time, Open: w.Open * base, High: w.High * base, Low: w.Low * base, Close: w.Close * base, Volume: 10}
			}
			return c
		}, "drift"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trips := MarketTrips("BTC/USDT", tt.mutate(synthCandles(600, 0.01, 1)), time.Hour, testBreakers)
			var names []string
			for _, tr := range trips {
				names = append(names, tr.Breaker)
				if tr.Reason == "" || tr.Symbol != "BTC/USDT" {
					t.Errorf("trip %+v lacks a reason or symbol", tr)
				}
			}
			if !strings.Contains(strings.Join(names, ","), tt.want) {
				t.Fatalf("MarketTrips(%s) = %v; want %s among them", tt.name, names, tt.want)
			}
		})
	}
}

func TestOldGapDoesNotTrip(t *testing.T) {
	c := synthCandles(600, 0.01, 1)
	c = append(c[:300:300], c[305:]...) // an outage weeks before the decision
	for _, tr := range MarketTrips("BTC/USDT", c, time.Hour, testBreakers) {
		if tr.Breaker == "data_gap" {
			t.Fatalf("an old gap tripped the breaker: %+v", tr)
		}
	}
}

// TestDriftWindowMatchesFullComputation slides the window one candle at a
// time, across a gap, and checks the incremental reference distribution
// and PSI against computing them from scratch.
func TestDriftWindowMatchesFullComputation(t *testing.T) {
	c := synthCandles(1500, 0.01, 11)
	c = append(c[:900:900], c[903:]...)
	for i := 700; i < 900; i += 37 { // bursts of volatility so drift trips sometimes
		for j := i; j < i+20 && j < len(c); j++ {
			c[j].Close *= 1 + 0.03*float64(j%3-1)
		}
	}
	cfg := testBreakers
	var dw driftWindow
	trips := 0
	for n := cfg.DriftReference + cfg.DriftRecent + 1; n <= len(c); n++ {
		got := marketTrips("BTC/USDT", c[:n], time.Hour, cfg, &dw)
		want := MarketTrips("BTC/USDT", c[:n], time.Hour, cfg)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("at %d: incremental %v; full %v", n, got, want)
		}
		trips += len(got)
	}
	if trips == 0 {
		t.Fatal("no breaker tripped over the series: the comparison is vacuous")
	}
}

func TestPSI(t *testing.T) {
	same := synthCandles(2000, 0.01, 5)
	a, b := absLogReturns(same[:1000]), absLogReturns(same[1000:])
	if psi := PSI(a, b, 10); psi > 0.1 {
		t.Errorf("PSI(same distribution) = %.3f; want < 0.1", psi)
	}
	wide := absLogReturns(synthCandles(1000, 0.04, 9))
	if psi := PSI(a, wide, 10); psi < 1 {
		t.Errorf("PSI(4x volatility) = %.3f; want > 1", psi)
	}
	if psi := PSI(nil, b, 10); psi != 0 {
		t.Errorf("PSI(no reference) = %v; want 0", psi)
	}
}
