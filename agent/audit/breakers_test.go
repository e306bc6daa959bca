package audit

import (
	"context"
	"testing"
	"time"
)

func TestLevelAcrossStores(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	a, path := openTest(t, Options{Clock: clk.Now})
	now := clk.Now()
	if l, err := a.Level(ctx, now); err != nil || l.Level != LevelActive {
		t.Fatalf("Level() on a new store = %+v, %v; want active", l, err)
	}
	if _, err := a.RaiseLevel(ctx, LevelTrip{Level: LevelReduce, At: now, Until: now.Add(4 * time.Hour), Reason: "drift BTC/USDT", Breakers: []string{"drift"}}); err != nil {
		t.Fatal(err)
	}
	// A second process on the same file sees the level, its since and until.
	b := openAt(t, path, Options{Clock: clk.Now})
	l, err := b.Level(ctx, now.Add(time.Hour))
	if err != nil || l.Level != LevelReduce || !l.Since.Equal(now) || !l.Until.Equal(now.Add(4*time.Hour)) || l.Reason != "drift BTC/USDT" {
		t.Fatalf("Level(+1h) from a second store = %+v, %v; want reduce since %v until +4h", l, err, now)
	}
	// Safe mode ranks above reduce while both hold; reduce shows again
	// when safe mode's shorter cool-down ends.
	if _, err := b.RaiseLevel(ctx, LevelTrip{Level: LevelSafeMode, At: now.Add(time.Hour), Until: now.Add(2 * time.Hour), Reason: "shock"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		at   time.Duration
		want string
	}{{time.Hour, LevelSafeMode}, {2*time.Hour - time.Nanosecond, LevelSafeMode}, {2 * time.Hour, LevelReduce}, {4*time.Hour - time.Nanosecond, LevelReduce}, {4 * time.Hour, LevelActive}} {
		if l, err := a.Level(ctx, now.Add(tt.at)); err != nil || l.Level != tt.want {
			t.Errorf("Level(+%v) = %+v, %v; want %s", tt.at, l, err, tt.want)
		}
	}
}

func TestRaiseLevelKeepsLongerCooldownAndSince(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, Options{Clock: clk.Now})
	t0 := clk.Now()
	if _, err := s.RaiseLevel(ctx, LevelTrip{Level: LevelSafeMode, At: t0, Until: t0.Add(4 * time.Hour), Reason: "error spike"}); err != nil {
		t.Fatal(err)
	}
	// A later trip with a shorter cool-down neither shortens it nor moves
	// the start of the episode.
	got, err := s.RaiseLevel(ctx, LevelTrip{Level: LevelSafeMode, At: t0.Add(time.Hour), Until: t0.Add(2 * time.Hour), Reason: "shock"})
	if err != nil || !got.Since.Equal(t0) || !got.Until.Equal(t0.Add(4*time.Hour)) {
		t.Fatalf("RaiseLevel(shorter) = %+v, %v; want since t0 until t0+4h", got, err)
	}
	// A longer one extends it.
	got, _ = s.RaiseLevel(ctx, LevelTrip{Level: LevelSafeMode, At: t0.Add(3 * time.Hour), Until: t0.Add(7 * time.Hour), Reason: "gap"})
	if !got.Until.Equal(t0.Add(7*time.Hour)) || !got.Since.Equal(t0) {
		t.Fatalf("RaiseLevel(longer) = %+v; want until t0+7h, since t0", got)
	}
	// After the cool-down passed, a trip starts a new episode.
	got, _ = s.RaiseLevel(ctx, LevelTrip{Level: LevelSafeMode, At: t0.Add(8 * time.Hour), Until: t0.Add(9 * time.Hour), Reason: "gap"})
	if !got.Since.Equal(t0.Add(8 * time.Hour)) {
		t.Fatalf("RaiseLevel(after expiry) since = %v; want t0+8h", got.Since)
	}
	if _, err := s.RaiseLevel(ctx, LevelTrip{Level: LevelActive, At: t0}); err == nil {
		t.Fatal("RaiseLevel(active) = nil error; want a refusal")
	}
}

func TestEndLevelsEndsReduceAndSafeMode(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, path := openTest(t, Options{Clock: clk.Now})
	now := clk.Now()
	for _, lv := range []string{LevelReduce, LevelSafeMode} {
		if _, err := s.RaiseLevel(ctx, LevelTrip{Level: lv, At: now, Until: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	other := openAt(t, path, Options{Clock: clk.Now})
	if err := other.EndLevels(ctx, "alice", "checked"); err != nil {
		t.Fatal(err)
	}
	if l, err := s.Level(ctx, now); err != nil || l.Level != LevelActive {
		t.Fatalf("Level after EndLevels = %+v, %v; want active", l, err)
	}
	if offs := countEvents(t, path, "", "off"); offs != 2 {
		t.Fatalf("EndLevels wrote %d off events; want 2 (one per level that was on)", offs)
	}
	// Nothing on: nothing written.
	if err := other.EndLevels(ctx, "alice", "again"); err != nil {
		t.Fatal(err)
	}
	if n := countEvents(t, path, "", ""); n != 4 {
		t.Fatalf("%d events after a second EndLevels with nothing on; want 4 (2 on, 2 off)", n)
	}
}

func TestErrorCountAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	_, path := openTest(t, Options{Clock: clk.Now})
	// Each "process" opens the store, counts, and closes it.
	count := func() int {
		s, err := Open(ctx, path, Options{Clock: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		n, err := s.CountError(ctx, clk.Now(), "r-1", "advisor", "HTTP 500")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for want := 1; want <= 3; want++ {
		if got := count(); got != want {
			t.Fatalf("CountError in process %d = %d; want %d", want, got, want)
		}
	}
	s := openAt(t, path, Options{Clock: clk.Now})
	if n, err := s.ConsecutiveErrors(ctx); n != 3 || err != nil {
		t.Fatalf("ConsecutiveErrors = %d, %v; want 3", n, err)
	}
	if err := s.ResetErrors(ctx, clk.Now(), "r-4"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.ConsecutiveErrors(ctx); n != 0 {
		t.Fatalf("ConsecutiveErrors after reset = %d; want 0", n)
	}
	before := countEvents(t, path, EventErrorCount, "")
	if err := s.ResetErrors(ctx, clk.Now(), "r-5"); err != nil {
		t.Fatal(err)
	}
	if after := countEvents(t, path, EventErrorCount, ""); after != before {
		t.Fatalf("ResetErrors at 0 wrote %d records; want none", after-before)
	}
	if got := count(); got != 1 {
		t.Fatalf("CountError after reset = %d; want 1", got)
	}
}

func TestBreakerStateSurvivesBatchedStore(t *testing.T) {
	// A batching store (backtests) writes the breaker state at once: a
	// second store reads it without the first one flushing.
	ctx := context.Background()
	clk := newClock()
	s, path := openTest(t, Options{Clock: clk.Now, BatchSize: 100})
	if _, err := s.CountError(ctx, clk.Now(), "r", "advisor", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RaiseLevel(ctx, LevelTrip{Level: LevelSafeMode, At: clk.Now(), Until: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	other := openAt(t, path, Options{ReadOnly: true})
	if n, err := other.ConsecutiveErrors(ctx); n != 1 || err != nil {
		t.Fatalf("ConsecutiveErrors from another store = %d, %v; want 1", n, err)
	}
	if l, err := other.Level(ctx, clk.Now()); err != nil || l.Level != LevelSafeMode {
		t.Fatalf("Level from another store = %+v, %v; want safe_mode", l, err)
	}
}

// countEvents counts event records of a kind and state ("" for any).
func countEvents(t *testing.T, path, kind, state string) int {
	t.Helper()
	var n int
	err := rawDB(t, path).QueryRow(`SELECT COUNT(*) FROM records WHERE kind = 'event' AND (? = '' OR ref = ?) AND (? = '' OR state = ?)`, kind, kind, state, state).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
