package agent

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/market"
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

var testBreakers = DefaultBreakers()

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

func bundled(t testing.TB, symbol string) []executor.Candle {
	t.Helper()
	cs, err := market.Bundled(symbol, "1h")
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// closedBefore returns the last n candles that closed at or before at.
func closedBefore(cs []executor.Candle, at time.Time, n int) []executor.Candle {
	i := sort.Search(len(cs), func(i int) bool { return cs[i].Time.Add(time.Hour).After(at) })
	return cs[max(0, i-n):i]
}

// TestShockBreakerTripsOnHistoricCrashes: on the bundled 1h candles the
// volatility-shock breaker trips within the first hour of each crash: at
// the decision when the crash's first candle has closed, or the one
// after. The onsets are the first hourly candle of each sell-off:
// 2020-03-12 10:00 (BTC -20 % in the hour), 2021-05-19 12:00 (-9 %) and
// 2022-05-09 16:00 (the start of the afternoon slide of the LUNA
// collapse, -2 % an hour for three hours after a -5 % morning).
func TestShockBreakerTripsOnHistoricCrashes(t *testing.T) {
	onsets := []string{"2020-03-12T10:00:00Z", "2021-05-19T12:00:00Z", "2022-05-09T16:00:00Z"}
	for _, sym := range []string{"BTC/USDT", "ETH/USDT"} {
		cs := bundled(t, sym)
		for _, on := range onsets {
			onset, _ := time.Parse(time.RFC3339, on)
			var got []string
			for _, decide := range []time.Time{onset.Add(time.Hour), onset.Add(2 * time.Hour)} {
				for _, tr := range MarketTrips(sym, closedBefore(cs, decide, 600), time.Hour, DefaultBreakers()) {
					if tr.Breaker == BreakerShock {
						got = append(got, decide.Format("15:04")+" "+tr.Reason)
						if tr.Level != audit.LevelSafeMode {
							t.Errorf("%s %s: shock raised %q; want safe_mode", sym, on, tr.Level)
						}
					}
				}
			}
			if sym == "BTC/USDT" && len(got) == 0 {
				t.Errorf("%s: no volatility_shock trip within an hour of the crash at %s", sym, on)
			}
			t.Logf("%s %s: %v", sym, on, got)
		}
	}
}

// TestBreakerCalibration replays the market breakers over the bundled
// 2017–2022 1h history of BTC/USDT and ETH/USDT, hour by hour as the agent
// decides, with the default levels and cool-downs, and checks the
// calibration targets: drift keeps the reduce level on in at most 5 % of
// cycles; the volatility shock and the data gap keep safe mode on in at
// most 2 %. (warden backtest reports the same shares for a whole run,
// with the advisor's own failures; see the README.)
func TestBreakerCalibration(t *testing.T) {
	if testing.Short() {
		t.Skip("replays five years of candles")
	}
	cfg := DefaultBreakers()
	syms := []string{"BTC/USDT", "ETH/USDT"}
	series := map[string][]executor.Candle{}
	for _, s := range syms {
		series[s] = bundled(t, s)
	}
	need := cfg.DriftReference + cfg.DriftRecent + 2
	start := series["BTC/USDT"][need].Time.Add(time.Hour)
	end := series["BTC/USDT"][len(series["BTC/USDT"])-1].Time.Add(time.Hour)
	dws := map[string]*driftWindow{}
	until := map[string]time.Time{}
	trips := map[string]int{}
	var cycles, reduce, safe int
	for now := start; !now.After(end); now = now.Add(time.Hour) {
		cycles++
		for _, s := range syms {
			if dws[s] == nil {
				dws[s] = &driftWindow{}
			}
			for _, tr := range marketTrips(s, closedBefore(series[s], now, need), time.Hour, cfg, dws[s]) {
				trips[tr.Breaker]++
				if u := now.Add(cfg.Rule(tr.Breaker).Cooldown); u.After(until[tr.Level]) {
					until[tr.Level] = u
				}
			}
		}
		switch {
		case now.Before(until[audit.LevelSafeMode]):
			safe++
		case now.Before(until[audit.LevelReduce]):
			reduce++
		}
	}
	share := func(n int) float64 { return float64(n) / float64(cycles) }
	t.Logf("%d hourly cycles %s..%s: trips %v; reduce %.2f %%, safe mode %.2f %%", cycles, start.Format("2006-01-02"), end.Format("2006-01-02"), trips, 100*share(reduce), 100*share(safe))
	if share(reduce) > 0.05 {
		t.Errorf("reduce level on in %.2f %% of cycles; want ≤ 5 %%", 100*share(reduce))
	}
	if share(safe) > 0.02 {
		t.Errorf("safe mode on in %.2f %% of cycles; want ≤ 2 %%", 100*share(safe))
	}
	if trips[BreakerDrift] == 0 || trips[BreakerShock] == 0 || trips[BreakerDataGap] == 0 {
		t.Errorf("trips %v: every market breaker should trip somewhere in five years", trips)
	}
}

// TestDriftDefaultIsNullQuantile recomputes the drift threshold from its
// null distribution (DefaultDriftNull over the bundled 1h history) and
// checks the default is that number.
func TestDriftDefaultIsNullQuantile(t *testing.T) {
	var series [][]float64
	for _, s := range []string{"BTC/USDT", "ETH/USDT"} {
		series = append(series, absLogReturns(bundled(t, s)))
	}
	q, err := DriftNullQuantile(series, DefaultDriftNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drift null quantile %.4f (%+v)", q, DefaultDriftNull)
	if got := math.Round(q*100) / 100; got != DefaultDriftPSI {
		t.Fatalf("DriftNullQuantile = %.4f (rounded %.2f); DefaultDriftPSI = %v: recalibrate the default", q, got, DefaultDriftPSI)
	}
	// Deterministic: the same seed gives the same threshold.
	if q2, _ := DriftNullQuantile(series, DefaultDriftNull); q2 != q {
		t.Fatalf("DriftNullQuantile is not deterministic: %v then %v", q, q2)
	}
	// An i.i.d. bootstrap (no volatility clusters) gives a much lower
	// threshold: that was the fixed 1.0, which real markets exceed in a
	// fifth of all hours.
	iid := DefaultDriftNull
	iid.Block = 1
	if qi, _ := DriftNullQuantile(series, iid); qi >= q {
		t.Errorf("i.i.d. null quantile %.3f ≥ block-bootstrap %.3f", qi, q)
	}
}

func TestConfigDefaultsMatchAgentDefaults(t *testing.T) {
	got, want := BreakersFromConfig(config.Default().Breakers), DefaultBreakers()
	if got.ShockSigma != want.ShockSigma || got.DriftPSI != want.DriftPSI || got.DriftReference != want.DriftReference ||
		got.DriftRecent != want.DriftRecent || got.MaxGapBars != want.MaxGapBars || got.MaxConsecutiveErrors != want.MaxConsecutiveErrors ||
		got.InvalidOutputWindow != want.InvalidOutputWindow || got.InvalidOutputPct != want.InvalidOutputPct ||
		!got.ReduceScale.Equal(want.ReduceScale) {
		t.Fatalf("config defaults %+v; agent defaults %+v", got, want)
	}
	for name := range DefaultBreakerRules() {
		if got.Rule(name) != want.Rule(name) {
			t.Errorf("rule %s: config %+v, agent %+v", name, got.Rule(name), want.Rule(name))
		}
	}
}

func TestDriftRaisesReduceAndShockSafeMode(t *testing.T) {
	c := synthCandles(600, 0.01, 1)
	wild := synthCandles(48, 0.05, 3)
	base := c[len(c)-49].Close / wild[0].Open
	for i := range wild {
		w := wild[i]
		c[len(c)-48+i] = executor.Candle{Time: c[len(c)-48+i].Time, Open: w.Open * base, High: w.High * base, Low: w.Low * base, Close: w.Close * base, Volume: 10}
	}
	levels := map[string]string{}
	for _, tr := range MarketTrips("BTC/USDT", c, time.Hour, DefaultBreakers()) {
		levels[tr.Breaker] = tr.Level
	}
	if levels[BreakerDrift] != audit.LevelReduce {
		t.Fatalf("drift trip level = %q (trips %v); want reduce", levels[BreakerDrift], levels)
	}
	cfg := DefaultBreakers()
	cfg.Rules = map[string]BreakerRule{BreakerDrift: {Level: audit.LevelSafeMode}}
	for _, tr := range MarketTrips("BTC/USDT", c, time.Hour, cfg) {
		if tr.Breaker == BreakerDrift && tr.Level != audit.LevelSafeMode {
			t.Fatalf("drift configured to safe_mode raised %q", tr.Level)
		}
	}
}

func TestShockThresholdAtTheLimit(t *testing.T) {
	// A quiet series, then one candle whose move is measured; the breaker
	// trips strictly above the limit.
	c := synthCandles(600, 0.01, 4)
	z, h, ok := shockScore(c, nil)
	if !ok {
		t.Fatal("shockScore: not enough candles")
	}
	cfg := DefaultBreakers()
	cfg.ShockSigma = z
	if hasBreaker(MarketTrips("X/USDT", c, time.Hour, cfg), BreakerShock) {
		t.Fatalf("shock tripped with the limit equal to the score %.3f (h=%d)", z, h)
	}
	cfg.ShockSigma = math.Nextafter(z, 0)
	if !hasBreaker(MarketTrips("X/USDT", c, time.Hour, cfg), BreakerShock) {
		t.Fatalf("shock did not trip one step below the score %.3f", z)
	}
}

// TestShockScoreCarriedIsFresh: the shock score with the returns carried
// from cycle to cycle is bit for bit the one computed afresh, whatever the
// next cycle's candles are: the window slid by one or by many, an open
// candle revised, a candle missing, a close of zero, the same candles
// again, an older window, a jump far ahead.
func TestShockScoreCarriedIsFresh(t *testing.T) {
	all := synthCandles(2000, 0.01, 9)
	var dw driftWindow
	check := func(name string, c []executor.Candle) {
		t.Helper()
		z, h, ok := shockScore(c, &dw.shock)
		fz, fh, fok := shockScore(c, nil)
		if math.Float64bits(z) != math.Float64bits(fz) || h != fh || ok != fok {
			t.Fatalf("%s: carried shockScore = %v, %d, %v; afresh %v, %d, %v", name, z, h, ok, fz, fh, fok)
		}
	}
	for end := 520; end < 560; end++ {
		check(fmt.Sprintf("slide to %d", end), all[end-520:end])
	}
	check("same again", all[39:559])
	check("slid by 7", all[46:566])
	revised := slices.Clone(all[47:567])
	revised[len(revised)-1].Close *= 1.05 // the open candle moved
	check("last close revised", revised)
	check("unrevised", all[47:567])
	mid := slices.Clone(all[48:568])
	mid[300].Close *= 0.97 // a candle inside the window differs
	check("inner close revised", mid)
	gap := slices.Concat(all[49:300], all[301:570]) // one candle missing
	check("gap", gap)
	zero := slices.Clone(all[50:570])
	zero[200].Close = 0
	check("zero close", zero)
	check("after zero", all[51:571])
	check("older window", all[10:530])
	check("far ahead", all[1400:1920])
	check("short", all[1900:1960])
	check("shortest", all[1900:1955])
}

func hasBreaker(trips []Trip, name string) bool {
	for _, t := range trips {
		if t.Breaker == name {
			return true
		}
	}
	return false
}
