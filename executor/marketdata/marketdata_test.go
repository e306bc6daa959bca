package marketdata

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/executor"
)

func TestSnapshotAndIndicators(t *testing.T) {
	if _, ok := (Snapshot{}).Last(); ok {
		t.Error("Last of an empty snapshot: ok")
	}
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	s := Snapshot{Candles: []executor.Candle{{Time: t0, Close: 1}, {Time: t0.Add(time.Hour), Close: 2}}}
	if c, ok := s.Last(); !ok || c.Close != 2 {
		t.Errorf("Last = %+v, %v; want the close-2 candle", c, ok)
	}
	in := Indicators{Bars: 60, Close: 1, Return1: 0, Return24: 0, SMA20: 1, SMA50: 1, EMA12: 1, EMA26: 1, RSI14: 50, ATR14: 0.1, Volatility: 0.5, VolumeRatio: 1}
	if !in.Valid() {
		t.Error("complete indicators not Valid")
	}
	in.ATR14 = math.NaN()
	if in.Valid() {
		t.Error("indicators with a NaN Valid")
	}
	raw, err := json.Marshal(in)
	if err != nil || !strings.Contains(string(raw), `"atr_14":null`) {
		t.Fatalf("JSON = %s, %v; want atr_14 null", raw, err)
	}
	var back Indicators
	if err := json.Unmarshal(raw, &back); err != nil || !math.IsNaN(back.ATR14) || back.RSI14 != 50 {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}
