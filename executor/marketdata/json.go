package marketdata

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// jsonFloat is a float64 that writes NaN and ±Inf as null (JSON has no
// such numbers) and reads null back as NaN.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	x := float64(f)
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, x, 'g', -1, 64), nil
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = jsonFloat(math.NaN())
		return nil
	}
	var x float64
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	*f = jsonFloat(x)
	return nil
}

type indicatorsJSON struct {
	Timeframe   string    `json:"timeframe"`
	Bars        int       `json:"bars"`
	LastOpen    time.Time `json:"last_open"`
	Close       jsonFloat `json:"close"`
	Return1     jsonFloat `json:"return_1"`
	Return24    jsonFloat `json:"return_24"`
	SMA20       jsonFloat `json:"sma_20"`
	SMA50       jsonFloat `json:"sma_50"`
	EMA12       jsonFloat `json:"ema_12"`
	EMA26       jsonFloat `json:"ema_26"`
	RSI14       jsonFloat `json:"rsi_14"`
	ATR14       jsonFloat `json:"atr_14"`
	Volatility  jsonFloat `json:"volatility"`
	VolumeRatio jsonFloat `json:"volume_ratio"`
}

// MarshalJSON writes indicators that could not be computed as null.
func (in Indicators) MarshalJSON() ([]byte, error) {
	return json.Marshal(indicatorsJSON{
		Timeframe: in.Timeframe, Bars: in.Bars, LastOpen: in.LastOpen,
		Close: jsonFloat(in.Close), Return1: jsonFloat(in.Return1), Return24: jsonFloat(in.Return24),
		SMA20: jsonFloat(in.SMA20), SMA50: jsonFloat(in.SMA50), EMA12: jsonFloat(in.EMA12), EMA26: jsonFloat(in.EMA26),
		RSI14: jsonFloat(in.RSI14), ATR14: jsonFloat(in.ATR14), Volatility: jsonFloat(in.Volatility), VolumeRatio: jsonFloat(in.VolumeRatio),
	})
}

// UnmarshalJSON reads what MarshalJSON writes (null → NaN).
func (in *Indicators) UnmarshalJSON(b []byte) error {
	var j indicatorsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*in = Indicators{
		Timeframe: j.Timeframe, Bars: j.Bars, LastOpen: j.LastOpen,
		Close: float64(j.Close), Return1: float64(j.Return1), Return24: float64(j.Return24),
		SMA20: float64(j.SMA20), SMA50: float64(j.SMA50), EMA12: float64(j.EMA12), EMA26: float64(j.EMA26),
		RSI14: float64(j.RSI14), ATR14: float64(j.ATR14), Volatility: float64(j.Volatility), VolumeRatio: float64(j.VolumeRatio),
	}
	return nil
}
