package agent

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/advisor/baseline"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/policy"
)

// TestCycleTakesPreparedWorkOnlyOnItsOwnCandles: a cycle takes the market
// work prepared ahead when it was done on the very candles the cycle has
// (shown by a marker trip the cycle could not have measured itself), and
// ignores it, measuring afresh, when one close differs or the time does.
func TestCycleTakesPreparedWorkOnlyOnItsOwnCandles(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := audit.Open(ctx, filepath.Join(t.TempDir(), "warden.db"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	px, err := paper.New(paper.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	sym := "BTC/USDT"
	replay, err := NewPaperReplay(px, []string{sym}, "1h", 800)
	if err != nil {
		t.Fatal(err)
	}
	var now time.Time
	clock := func() time.Time { return now }
	exe, err := executor.New(px, st, executor.Options{Logger: quiet, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	adv, err := baseline.New(baseline.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Deps{Market: px, Orders: exe, Advisor: adv, Validator: policy.NewValidator(pol, policy.Limits{}), Store: st, Clock: clock, Logger: quiet},
		Options{Mode: "paper", Symbols: []string{sym}, Timeframe: "1h", MaxDataAge: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pr := a.NewPreparer()
	marker := Trip{Breaker: "prepared_marker", Symbol: sym, Reason: "from the prepared work"}
	// prepare returns the work prepared at now on the market's candles,
	// passed through edit first, with the marker trip added.
	prepare := func(edit func([]executor.Candle) []executor.Candle, at time.Time) *Prepared {
		t.Helper()
		since, n := pr.Window(now)
		cs, err := px.OHLCV(ctx, sym, "1h", since, n)
		if err != nil {
			t.Fatal(err)
		}
		p := pr.Prepare(sym, edit(cs), at)
		p.trips = append(slices.Clip(p.trips), marker)
		return p
	}
	hasMarker := func(r CycleResult) bool { return slices.Contains(r.Trips, marker) }
	same := func(cs []executor.Candle) []executor.Candle { return cs }
	start := time.Date(2021, 9, 1, 0, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		name  string
		edit  func([]executor.Candle) []executor.Candle
		later time.Duration
		taken bool
	}{
		{"same candles", same, 0, true},
		{"one close differs", func(cs []executor.Candle) []executor.Candle {
			cs = slices.Clone(cs)
			cs[len(cs)/2].Close *= 1.0001
			return cs
		}, 0, false},
		{"one candle fewer", func(cs []executor.Candle) []executor.Candle { return cs[1:] }, 0, false},
		{"prepared for another time", same, time.Hour, false},
		{"same candles again", same, 0, true},
	} {
		if now, err = replay.Advance(start); err != nil {
			t.Fatal(err)
		}
		p := prepare(tc.edit, now.Add(tc.later))
		a.UsePrepared(func(string, time.Time) *Prepared { return p }) // whatever it is asked
		before := a.PreparedTaken()
		res, err := a.Cycle(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status == "skipped" {
			t.Fatalf("%s: cycle skipped: %s", tc.name, res.Reason)
		}
		if took := a.PreparedTaken() - before; hasMarker(res) != tc.taken || took != map[bool]int{true: 1}[tc.taken] {
			t.Errorf("cycle %d (%s): marker trip %v, taken %d times; want taken: %v", i, tc.name, hasMarker(res), took, tc.taken)
		}
	}
}
