// Package marketdata holds the market types a decision reads — the
// snapshot of one symbol (candles, ticker, order book) and its indicators
// — where both the agent (agent/market builds them) and the prompts
// (which render them) can import them: prompts depends on nothing of the
// agent.
package marketdata

import (
	"math"
	"time"

	"github.com/warden-trading/warden/executor"
)

// Snapshot is what a decision at At may know about one symbol: the last
// closed candles, the ticker and the indicators over the closed history.
type Snapshot struct {
	Symbol    string    `json:"symbol"`
	Timeframe string    `json:"timeframe"`
	At        time.Time `json:"at"` // the decision time
	// Candles are the last Keep closed candles, oldest first. Read only:
	// the agent's snapshots share them with its candle cache.
	Candles    []executor.Candle `json:"candles"`
	Ticker     executor.Ticker   `json:"ticker"`
	Indicators Indicators        `json:"indicators"`
	// Book is the order book read with the ticker (nil when the source
	// serves none); it passed agent/market.CheckBook.
	Book *executor.OrderBook `json:"book,omitempty"`
}

// Last is the last closed candle; ok is false for an empty snapshot.
func (s Snapshot) Last() (executor.Candle, bool) {
	if len(s.Candles) == 0 {
		return executor.Candle{}, false
	}
	return s.Candles[len(s.Candles)-1], true
}

// Indicators summarises the candles a decision may see. A value that the
// history is too short to compute is NaN; Valid reports whether all are set.
type Indicators struct {
	Timeframe string    `json:"timeframe"`
	Bars      int       `json:"bars"`      // candles summarised
	LastOpen  time.Time `json:"last_open"` // open time of the last candle
	Close     float64   `json:"close"`     // last close
	Return1   float64   `json:"return_1"`  // simple return of the last candle
	Return24  float64   `json:"return_24"` // simple return over the last 24 candles
	SMA20     float64   `json:"sma_20"`
	SMA50     float64   `json:"sma_50"`
	EMA12     float64   `json:"ema_12"`
	EMA26     float64   `json:"ema_26"`
	RSI14     float64   `json:"rsi_14"` // Wilder, 0..100
	ATR14     float64   `json:"atr_14"` // Wilder, in price units
	// Volatility is the sample stdev of the last 30 log returns, annualised
	// for the timeframe (24/7 market).
	Volatility float64 `json:"volatility"`
	// VolumeRatio is the last candle's volume over the mean volume of the
	// 20 candles before it.
	VolumeRatio float64 `json:"volume_ratio"`
}

// Valid reports whether every indicator could be computed.
func (in Indicators) Valid() bool {
	for _, v := range [...]float64{in.Close, in.Return1, in.Return24, in.SMA20, in.SMA50, in.EMA12, in.EMA26, in.RSI14, in.ATR14, in.Volatility, in.VolumeRatio} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return in.Bars > 0
}
