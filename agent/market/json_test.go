package market

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/executor"
)

func TestIndicatorsJSON(t *testing.T) {
	cs, _ := clean()
	for _, in := range []Indicators{Summarize(cs, "1h"), Summarize(cs[:10], "1h"), Summarize(nil, "1h")} {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("json.Marshal(Indicators) = %v", err)
		}
		var back Indicators
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !sameIndicators(in, back) {
			t.Errorf("JSON round trip: %+v → %s → %+v", in, b, back)
		}
	}
	b, _ := json.Marshal(Summarize(cs[:10], "1h"))
	if !strings.Contains(string(b), `"sma_50":null`) {
		t.Errorf("NaN not written as null: %s", b)
	}
	// A whole snapshot marshals too.
	s, err := Build("X/USDT", "1h", cs, ticker("X/USDT", cs[59], cs[59].Time.Add(time.Hour)), cs[59].Time.Add(time.Hour), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Errorf("json.Marshal(Snapshot) = %v", err)
	}
}

func sameIndicators(a, b Indicators) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := 0; i < va.NumField(); i++ {
		x, y := va.Field(i).Interface(), vb.Field(i).Interface()
		if fx, ok := x.(float64); ok {
			fy := y.(float64)
			if !(fx == fy || math.IsNaN(fx) && math.IsNaN(fy)) {
				return false
			}
			continue
		}
		if tx, ok := x.(time.Time); ok {
			if !tx.Equal(y.(time.Time)) {
				return false
			}
			continue
		}
		if x != y {
			return false
		}
	}
	return true
}

// replaySource serves a replay like an exchange would at a fixed clock,
// including the candle still open at now (which Build must drop).
type replaySource struct {
	r       *Replay
	now     time.Time
	tickErr error
}

var _ Source = (*replaySource)(nil)

func (s *replaySource) Ticker(_ context.Context, sym string) (executor.Ticker, error) {
	if s.tickErr != nil {
		return executor.Ticker{}, s.tickErr
	}
	last, _ := s.r.Last(s.now)
	return ticker(sym, last, s.now), nil
}

func (s *replaySource) OHLCV(_ context.Context, _, _ string, since time.Time, limit int) ([]executor.Candle, error) {
	var out []executor.Candle
	for i := 0; i < s.r.Len() && len(out) < limit; i++ {
		c := s.r.Candle(i)
		if !c.Time.Before(since) && !c.Time.After(s.now) {
			out = append(out, c)
		}
	}
	return out, nil
}

func TestFetch(t *testing.T) {
	r, err := BundledReplay("BTC/USDT", "1h")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2021, 6, 1, 12, 30, 0, 0, time.UTC)
	src := &replaySource{r: r, now: now}
	s, err := Fetch(context.Background(), src, "BTC/USDT", "1h", now, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := Build("BTC/USDT", "1h", r.Closed(now), src.mustTicker(t), now, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, want) || s.Indicators.Bars != DefaultLookback {
		t.Errorf("Fetch = %d bars, last %s; want the Build over the replay (%d bars)", s.Indicators.Bars, s.Indicators.LastOpen, want.Indicators.Bars)
	}
	src.tickErr = errors.New("exchange down")
	if _, err := Fetch(context.Background(), src, "BTC/USDT", "1h", now, BuildOptions{}); err == nil {
		t.Errorf("Fetch with a failing ticker = nil error")
	}
}

func (s *replaySource) mustTicker(t *testing.T) executor.Ticker {
	tk, err := s.Ticker(context.Background(), s.r.Symbol())
	if err != nil {
		t.Fatal(err)
	}
	return tk
}
