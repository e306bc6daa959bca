package agent_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
)

// limitFeed is the paper exchange recording the limit of every candle
// request.
type limitFeed struct {
	*paper.Exchange
	limits *[]int
}

func (f limitFeed) OHLCV(ctx context.Context, sym, tf string, since time.Time, limit int) ([]executor.Candle, error) {
	*f.limits = append(*f.limits, limit)
	return f.Exchange.OHLCV(ctx, sym, tf, since, limit)
}

// TestCandlesFetchedIncrementally: the first cycle fetches the whole
// window, later cycles of the same process only the candles since the
// last one (a limit of 3 for an hourly cycle), and the snapshots are the
// ones a full fetch gives.
func TestCandlesFetchedIncrementally(t *testing.T) {
	h := newHarness(t, nil, "")
	var limits []int
	b := &buyer{}
	a := maintenanceAgent(t, h, limitFeed{Exchange: h.px, limits: &limits}, b, nil)
	full := &buyer{}
	var fullLimits []int
	ref := maintenanceAgent(t, h, limitFeed{Exchange: h.px, limits: &fullLimits}, full, nil)
	for i := 0; i < 4; i++ {
		cycleAt(t, h, a)
		// A new agent each time: always a full fetch, for comparison.
		ref = maintenanceAgent(t, h, limitFeed{Exchange: h.px, limits: &fullLimits}, full, nil)
		if _, err := ref.Cycle(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// Hourly cycles: the newest cached candle closed an hour before the
	// cycle's candle, so 2 candles are new, plus 2 to spare.
	if len(limits) != 8 || limits[0] < 100 || limits[2] != 4 || limits[7] != 4 {
		t.Errorf("candle request limits = %v; want the full window first, then 4 per symbol", limits)
	}
	if len(b.states) != 4 || len(full.states) != 4 {
		t.Fatalf("advisor calls %d and %d; want 4 each", len(b.states), len(full.states))
	}
	for i := range b.states {
		if !reflect.DeepEqual(b.states[i].Markets, full.states[i].Markets) {
			t.Errorf("cycle %d: the state differs from a full fetch's", i)
		}
		for sym, s := range b.snaps[i] {
			if !reflect.DeepEqual(s.Candles, full.snaps[i][sym].Candles) || !reflect.DeepEqual(s.Indicators, full.snaps[i][sym].Indicators) {
				t.Errorf("cycle %d %s: candles or indicators differ from a full fetch's", i, sym)
			}
		}
	}
}
