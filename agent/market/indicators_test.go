package market

import (
	"math"
	"testing"
	"time"

	"github.com/warden-trading/warden/executor"
)

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

func TestSeriesIndicators(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		f    func([]float64, int) float64
		xs   []float64
		n    int
		want float64
	}{
		{"SMA last 3", SMA, []float64{1, 2, 3, 4, 5}, 3, 4},
		{"SMA whole", SMA, []float64{2, 4}, 2, 3},
		{"SMA short", SMA, []float64{1, 2}, 3, nan},
		{"SMA n=0", SMA, []float64{1, 2}, 0, nan},
		// seed SMA(1,2,3)=2, alpha=.5: 4→3, 5→4
		{"EMA 3", EMA, []float64{1, 2, 3, 4, 5}, 3, 4},
		// seed 3, alpha=2/3: 6→5, 8→7
		{"EMA 2", EMA, []float64{2, 4, 6, 8}, 2, 7},
		{"EMA seed only", EMA, []float64{2, 4}, 2, 3},
		{"EMA short", EMA, []float64{2}, 2, nan},
		// changes +1 +1 | -1 +1 +1: seed g=1 l=0; then g=.5 l=.5; g=.75 l=.25; g=.875 l=.125 → RS 7
		{"RSI Wilder", RSI, []float64{1, 2, 3, 2, 3, 4}, 2, 87.5},
		{"RSI all up", RSI, []float64{1, 2, 3, 4}, 2, 100},
		{"RSI all down", RSI, []float64{4, 3, 2, 1}, 2, 0},
		{"RSI flat", RSI, []float64{5, 5, 5, 5}, 2, 50},
		{"RSI short", RSI, []float64{1, 2}, 2, nan},
		{"Return 1", Return, []float64{100, 110, 121}, 1, 0.1},
		{"Return 2", Return, []float64{100, 110, 121}, 2, 0.21},
		{"Return short", Return, []float64{100, 110}, 2, nan},
		{"Return zero base", Return, []float64{0, 110}, 1, nan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f(tt.xs, tt.n); !near(got, tt.want) {
				t.Errorf("%s(%v, %d) = %v; want %v", tt.name, tt.xs, tt.n, got, tt.want)
			}
		})
	}
}

func TestRealizedVol(t *testing.T) {
	// log returns ln 1.1, ln .9, ln 1.1: sample stdev 0.11585728004354243.
	xs := []float64{100, 110, 99, 108.9}
	tests := []struct {
		ppy  float64
		n    int
		want float64
	}{
		{1, 3, 0.11585728004354243},
		{8760, 3, 10.843647255900997},
		{1, 4, math.NaN()},
		{0, 3, math.NaN()},
	}
	for _, tt := range tests {
		if got := RealizedVol(xs, tt.n, tt.ppy); !near(got, tt.want) {
			t.Errorf("RealizedVol(%v, %d, %v) = %v; want %v", xs, tt.n, tt.ppy, got, tt.want)
		}
	}
}

func hlc(h, l, c float64) executor.Candle { return executor.Candle{Open: c, High: h, Low: l, Close: c} }

func TestATR(t *testing.T) {
	cs := []executor.Candle{
		hlc(10, 8, 9),
		hlc(11, 9, 10),    // TR max(2, 2, 0) = 2
		hlc(13, 10, 12),   // TR max(3, 3, 0) = 3 → seed 2.5
		hlc(12, 11, 11.5), // TR max(1, 0, 1) = 1 → (2.5+1)/2 = 1.75
		hlc(20, 19, 19.5), // gap up: TR max(1, 8.5, 7.5) = 8.5 → (1.75+8.5)/2 = 5.125
	}
	tests := []struct {
		n    int
		upTo int
		want float64
	}{
		{2, 3, 2.5},
		{2, 4, 1.75},
		{2, 5, 5.125},
		{2, 2, math.NaN()},
		{0, 5, math.NaN()},
	}
	for _, tt := range tests {
		if got := ATR(cs[:tt.upTo], tt.n); !near(got, tt.want) {
			t.Errorf("ATR(cs[:%d], %d) = %v; want %v", tt.upTo, tt.n, got, tt.want)
		}
	}
}

func TestVolumeRatio(t *testing.T) {
	cs := []executor.Candle{{Volume: 1}, {Volume: 2}, {Volume: 3}, {Volume: 6}}
	if got := VolumeRatio(cs, 3); !near(got, 3) {
		t.Errorf("VolumeRatio(1,2,3,6; 3) = %v; want 3", got)
	}
	if got := VolumeRatio(cs, 4); !math.IsNaN(got) {
		t.Errorf("VolumeRatio(short) = %v; want NaN", got)
	}
	if got := VolumeRatio([]executor.Candle{{}, {}, {Volume: 1}}, 2); !math.IsNaN(got) {
		t.Errorf("VolumeRatio(zero mean) = %v; want NaN", got)
	}
}

// series makes n hourly candles with closes f(i).
func series(start time.Time, n int, f func(i int) float64) []executor.Candle {
	cs := make([]executor.Candle, n)
	for i := range cs {
		c := f(i)
		o := c
		if i > 0 {
			o = cs[i-1].Close
		}
		cs[i] = executor.Candle{Time: start.Add(time.Duration(i) * time.Hour), Open: o, High: math.Max(o, c) * 1.001, Low: math.Min(o, c) * 0.999, Close: c, Volume: float64(10 + i%7)}
	}
	return cs
}

func TestSummarize(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cs := series(start, 120, func(i int) float64 { return 100 + float64(i) + 3*math.Sin(float64(i)/3) })
	in := Summarize(cs, "1h")
	closes := make([]float64, len(cs))
	for i, c := range cs {
		closes[i] = c.Close
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"Close", in.Close, cs[119].Close},
		{"Return1", in.Return1, cs[119].Close/cs[118].Close - 1},
		{"Return24", in.Return24, cs[119].Close/cs[95].Close - 1},
		{"SMA20", in.SMA20, SMA(closes, 20)},
		{"SMA50", in.SMA50, SMA(closes, 50)},
		{"EMA12", in.EMA12, EMA(closes, 12)},
		{"EMA26", in.EMA26, EMA(closes, 26)},
		{"RSI14", in.RSI14, RSI(closes, 14)},
		{"ATR14", in.ATR14, ATR(cs, 14)},
		{"Volatility", in.Volatility, RealizedVol(closes, 30, 8760)},
		{"VolumeRatio", in.VolumeRatio, VolumeRatio(cs, 20)},
	}
	for _, c := range checks {
		if !near(c.got, c.want) || math.IsNaN(c.got) {
			t.Errorf("Summarize(...).%s = %v; want %v", c.name, c.got, c.want)
		}
	}
	if in.Bars != 120 || !in.LastOpen.Equal(cs[119].Time) || in.Timeframe != "1h" {
		t.Errorf("Summarize: Bars=%d LastOpen=%s Timeframe=%q; want 120, %s, 1h", in.Bars, in.LastOpen, in.Timeframe, cs[119].Time)
	}
	if !in.Valid() {
		t.Errorf("Summarize(120 candles).Valid() = false; want true")
	}
	// Up-trend: fast averages above slow ones.
	if !(in.EMA12 > in.EMA26 && in.SMA20 > in.SMA50) {
		t.Errorf("trend: EMA12 %v EMA26 %v SMA20 %v SMA50 %v; want fast > slow", in.EMA12, in.EMA26, in.SMA20, in.SMA50)
	}
	short := Summarize(cs[:30], "1h")
	if short.Valid() || !math.IsNaN(short.SMA50) || math.IsNaN(short.SMA20) {
		t.Errorf("Summarize(30 candles): Valid=%v SMA50=%v SMA20=%v; want invalid, NaN, set", short.Valid(), short.SMA50, short.SMA20)
	}
	if e := Summarize(nil, "1h"); e.Valid() || e.Bars != 0 {
		t.Errorf("Summarize(nil) = %+v; want invalid", e)
	}
	// The 512-candle stack buffer must not change results beyond it.
	long := series(start, 700, func(i int) float64 { return 100 + float64(i%50) })
	lc := make([]float64, len(long))
	for i, c := range long {
		lc[i] = c.Close
	}
	if got, want := Summarize(long, "1h").EMA26, EMA(lc, 26); !near(got, want) {
		t.Errorf("Summarize(700).EMA26 = %v; want %v", got, want)
	}
}
