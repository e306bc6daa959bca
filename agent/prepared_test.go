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

// TestVerifiedPairComparesOnlyNewCandles: windows sliding through the same
// two arrays are compared on their new candles only, and a new candle that
// differs is still found; windows at other offsets, or in other arrays,
// are compared whole.
func TestVerifiedPairComparesOnlyNewCandles(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func() []executor.Candle {
		cs := make([]executor.Candle, 30)
		for i := range cs {
			cs[i] = executor.Candle{Time: t0.Add(time.Duration(i) * time.Hour), Open: 1, High: 2, Low: 1, Close: 1 + float64(i)/100, Volume: 5}
		}
		return cs
	}
	mine, theirs := mk(), mk()
	var v verifiedPair
	for i := 0; i < 5; i++ {
		if !v.same(mine[i:i+10], theirs[i:i+10]) {
			t.Fatalf("slide %d: equal windows found different", i)
		}
	}
	theirs[14].Close = 9 // the next window's new candle
	if v.same(mine[5:15], theirs[5:15]) {
		t.Fatal("a new candle that differs was not found")
	}
	theirs[14].Close = mine[14].Close
	if !v.same(mine[5:15], theirs[5:15]) {
		t.Fatal("equal windows after a failed comparison found different")
	}
	// Same arrays, offsets that disagree: compared whole.
	if v.same(mine[6:16], theirs[7:17]) {
		t.Fatal("windows one candle apart found equal")
	}
	// A candle inside the overlap differs in a copy: compared whole.
	other := mk()
	other[8].Volume = 6
	if v.same(mine[6:16], other[6:16]) {
		t.Fatal("a copy with a candle that differs found equal")
	}
	if !v.same(mine[6:16], mk()[6:16]) || v.same(mine[6:16], theirs[6:17]) {
		t.Fatal("windows of other arrays: equal ones must match, other lengths must not")
	}
}
