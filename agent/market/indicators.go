package market

import (
	"math"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/marketdata"
)

// Indicator periods used by Summarize, in candles.
const (
	PeriodSMAFast   = 20
	PeriodSMASlow   = 50
	PeriodEMAFast   = 12
	PeriodEMASlow   = 26
	PeriodRSI       = 14
	PeriodATR       = 14
	PeriodVol       = 30 // realised volatility window (log returns)
	PeriodVolumeAvg = 20
	PeriodReturnDay = 24 // Return24 is over this many candles
)

// Indicators summarises the candles a decision may see (the type lives in
// package marketdata, where prompts reads it).
type Indicators = marketdata.Indicators

// MinBarsForIndicators is the shortest history for which Summarize sets
// every indicator.
const MinBarsForIndicators = PeriodSMASlow + 1

// Summarize computes the indicators over candles (oldest first). The caller
// passes only candles closed before the decision time; Build does.
func Summarize(candles []executor.Candle, tf string) Indicators {
	nan := math.NaN()
	in := Indicators{Timeframe: tf, Bars: len(candles), Close: nan, Return1: nan, Return24: nan,
		SMA20: nan, SMA50: nan, EMA12: nan, EMA26: nan, RSI14: nan, ATR14: nan, Volatility: nan, VolumeRatio: nan}
	if len(candles) == 0 {
		return in
	}
	var buf [512]float64
	closes := buf[:0]
	if len(candles) > len(buf) {
		closes = make([]float64, 0, len(candles))
	}
	for i := range candles {
		closes = append(closes, candles[i].Close)
	}
	last := candles[len(candles)-1]
	in.LastOpen = last.Time
	in.Close = last.Close
	in.Return1 = Return(closes, 1)
	in.Return24 = Return(closes, PeriodReturnDay)
	in.SMA20 = SMA(closes, PeriodSMAFast)
	in.SMA50 = SMA(closes, PeriodSMASlow)
	in.EMA12 = EMA(closes, PeriodEMAFast)
	in.EMA26 = EMA(closes, PeriodEMASlow)
	in.RSI14 = RSI(closes, PeriodRSI)
	in.ATR14 = ATR(candles, PeriodATR)
	if step, err := Step(tf); err == nil {
		in.Volatility = RealizedVol(closes, PeriodVol, PeriodsPerYear(step))
	}
	in.VolumeRatio = VolumeRatio(candles, PeriodVolumeAvg)
	return in
}

// Return is the simple return over the last k values: xs[n-1]/xs[n-1-k] - 1.
// NaN when there are not k+1 values or the base is not positive.
func Return(xs []float64, k int) float64 {
	n := len(xs)
	if k <= 0 || n < k+1 || xs[n-1-k] <= 0 {
		return math.NaN()
	}
	return xs[n-1]/xs[n-1-k] - 1
}

// SMA is the mean of the last n values; NaN when there are fewer than n.
func SMA(xs []float64, n int) float64 {
	if n <= 0 || len(xs) < n {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs[len(xs)-n:] {
		s += x
	}
	return s / float64(n)
}

// EMA is the exponential moving average with alpha = 2/(n+1), seeded with
// the SMA of the first n values and run over the rest; NaN when there are
// fewer than n values.
func EMA(xs []float64, n int) float64 {
	if n <= 0 || len(xs) < n {
		return math.NaN()
	}
	e := 0.0
	for _, x := range xs[:n] {
		e += x
	}
	e /= float64(n)
	a := 2 / float64(n+1)
	for _, x := range xs[n:] {
		e += a * (x - e)
	}
	return e
}

// RSI is Wilder's relative strength index over n periods (0..100): average
// gain and loss seeded with the mean of the first n changes, then smoothed
// as avg = (avg*(n-1) + x)/n. NaN with fewer than n+1 values; 100 when there
// was no loss, 50 when there was no change at all.
func RSI(xs []float64, n int) float64 {
	if n <= 0 || len(xs) < n+1 {
		return math.NaN()
	}
	var gain, loss float64
	for i := 1; i <= n; i++ {
		d := xs[i] - xs[i-1]
		if d > 0 {
			gain += d
		} else {
			loss -= d
		}
	}
	gain /= float64(n)
	loss /= float64(n)
	k := float64(n - 1)
	for i := n + 1; i < len(xs); i++ {
		d := xs[i] - xs[i-1]
		g, l := 0.0, 0.0
		if d > 0 {
			g = d
		} else {
			l = -d
		}
		gain = (gain*k + g) / float64(n)
		loss = (loss*k + l) / float64(n)
	}
	switch {
	case loss == 0 && gain == 0:
		return 50
	case loss == 0:
		return 100
	}
	return 100 - 100/(1+gain/loss)
}

// TrueRange of c given the previous close.
func TrueRange(c executor.Candle, prevClose float64) float64 {
	tr := c.High - c.Low
	if d := c.High - prevClose; d > tr {
		tr = d
	}
	if d := prevClose - c.High; d > tr {
		tr = d
	}
	if d := c.Low - prevClose; d > tr {
		tr = d
	}
	if d := prevClose - c.Low; d > tr {
		tr = d
	}
	return tr
}

// ATR is Wilder's average true range over n periods: true ranges from the
// second candle on (each needs the previous close), seeded with the mean of
// the first n, then avg = (avg*(n-1) + tr)/n. NaN with fewer than n+1
// candles.
func ATR(cs []executor.Candle, n int) float64 {
	if n <= 0 || len(cs) < n+1 {
		return math.NaN()
	}
	a := 0.0
	for i := 1; i <= n; i++ {
		a += TrueRange(cs[i], cs[i-1].Close)
	}
	a /= float64(n)
	k := float64(n - 1)
	for i := n + 1; i < len(cs); i++ {
		a = (a*k + TrueRange(cs[i], cs[i-1].Close)) / float64(n)
	}
	return a
}

// RealizedVol is the sample standard deviation of the last n log returns
// times sqrt(periodsPerYear). NaN with fewer than n+1 values or a
// non-positive price.
func RealizedVol(xs []float64, n int, periodsPerYear float64) float64 {
	if n < 2 || len(xs) < n+1 || periodsPerYear <= 0 {
		return math.NaN()
	}
	w := xs[len(xs)-n-1:]
	var sum, sumSq float64
	for i := 1; i < len(w); i++ {
		if w[i] <= 0 || w[i-1] <= 0 {
			return math.NaN()
		}
		r := math.Log(w[i] / w[i-1])
		sum += r
		sumSq += r * r
	}
	fn := float64(n)
	mean := sum / fn
	v := (sumSq - fn*mean*mean) / (fn - 1)
	if v < 0 {
		v = 0
	}
	return math.Sqrt(v * periodsPerYear)
}

// VolumeRatio is the last candle's volume over the mean volume of the n
// candles before it. NaN with fewer than n+1 candles or a zero mean.
func VolumeRatio(cs []executor.Candle, n int) float64 {
	if n <= 0 || len(cs) < n+1 {
		return math.NaN()
	}
	s := 0.0
	for _, c := range cs[len(cs)-n-1 : len(cs)-1] {
		s += c.Volume
	}
	if s <= 0 {
		return math.NaN()
	}
	return cs[len(cs)-1].Volume / (s / float64(n))
}
