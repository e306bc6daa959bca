package backtest

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor/baseline"
)

// TestPreparedAheadChangesNothing: a run whose market work is prepared
// ahead on a second goroutine decides, trades and marks exactly as one
// that computes it in its cycles, and every symbol cycle takes the
// prepared work (so the second goroutine is not work thrown away); a
// decision every candle and once a day, one symbol and two.
func TestPreparedAheadChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		symbols []string
		every   time.Duration
	}{
		{"every candle", []string{"BTC/USDT"}, 0},
		{"two symbols daily", []string{"BTC/USDT", "ETH/USDT"}, 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Symbols: tc.symbols, Timeframe: "1h", Every: tc.every,
				From: time.Date(2021, 4, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2021, 7, 1, 0, 0, 0, 0, time.UTC)}
			c, err := cfg.normalise()
			if err != nil {
				t.Fatal(err)
			}
			// reached counts the symbols whose snapshot a cycle got to: a
			// rejected snapshot (a gap in the data) ends the cycle there.
			reached := 0
			run := func(ahead bool) runOut {
				t.Helper()
				defer func(v bool) { prepareAhead = v }(prepareAhead)
				prepareAhead = ahead
				adv, err := baseline.New(c.BaselineParams)
				if err != nil {
					t.Fatal(err)
				}
				reached = 0
				out, err := runOnce(context.Background(), c, "backtest", adv, c.From, c.To, nil, newProgressFor(c, "backtest"), func(r agent.CycleResult) {
					n := len(tc.symbols)
					for i, s := range tc.symbols {
						if r.Status == "skipped" && strings.HasPrefix(r.Reason, s+" snapshot:") {
							n = i + 1
						}
					}
					reached += n
				})
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			on, off := run(true), run(false)
			if off.prepared != 0 {
				t.Fatalf("without preparing ahead %d symbol cycles took prepared work", off.prepared)
			}
			if on.prepared != reached || on.cycles == 0 {
				t.Errorf("%d of %d symbol cycles took the prepared work; want all", on.prepared, reached)
			}
			if len(on.fills) == 0 {
				t.Fatal("no fill: the comparison would prove little")
			}
			on.prepared = 0
			if !reflect.DeepEqual(on, off) {
				t.Errorf("prepared ahead, the run differs: %d cycles, %d decisions, %d fills, %d marks; computed in the cycle: %d, %d, %d, %d",
					on.cycles, len(on.decisions), len(on.fills), len(on.curve), off.cycles, len(off.decisions), len(off.fills), len(off.curve))
			}
		})
	}
}
