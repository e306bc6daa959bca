package executor_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/warden-trading/warden/executor"
)

// filledWithStop places a marketable buy with a stop at 47000 and returns
// the executor: the entry fills at once and a stop covers 0.00999 BTC.
func filledWithStop(t *testing.T, e *env) *executor.Executor {
	t.Helper()
	x := e.executor(e.store, nil)
	if _, err := x.Place(bg, "dec-1", buyOrder("0.01", "51000", dp("47000"))); err != nil {
		t.Fatal(err)
	}
	if s := e.liveStops(); len(s) != 1 || !s[0].StopPrice.Equal(d("47000")) {
		t.Fatalf("stops after the fill = %+v; want one at 47000", s)
	}
	return x
}

// TestTrailRaisesNeverLowers: a trail at least one price step above the
// stop replaces it (cancel, then place; journaled), a lower one or less
// than a step higher does nothing, and a stop replaced later (here by a
// restart) never comes back at the entry's lower level.
func TestTrailRaisesNeverLowers(t *testing.T) {
	e := newEnv(t, nil)
	x := filledWithStop(t, e)
	for _, tc := range []struct {
		to     string
		raised bool
		want   string
	}{
		{"49000", true, "49000"},
		{"48000", false, "49000"},         // lower: never
		{"49000.009", false, "49000"},     // floors to 49000: not a step higher
		{"49000.01", true, "49000.01"},    // exactly one step
		{"49000.0199", false, "49000.01"}, // floors to 49000.01
	} {
		raised, err := x.Trail(bg, "dec-1", d(tc.to))
		if err != nil || raised != tc.raised {
			t.Fatalf("Trail(%s) = %v, %v; want %v", tc.to, raised, err, tc.raised)
		}
		s := e.liveStops()
		if len(s) != 1 || !s[0].StopPrice.Equal(d(tc.want)) || !s[0].Quantity.Equal(d("0.00999")) {
			t.Fatalf("after Trail(%s): live stops %+v; want one of 0.00999 at %s", tc.to, s, tc.want)
		}
	}
	if h := e.history(executor.ClientOrderID("dec-1", "stop")); h[len(h)-1] != "cancelled" {
		t.Errorf("the first stop's journal = %v; want it to end cancelled", h)
	}
	if h := e.history(executor.ClientOrderID("dec-1", "stop.3")); len(h) < 2 || h[0] != "intent" || h[len(h)-1] != "acknowledged" {
		t.Errorf("the second raise's journal = %v; want intent … acknowledged", h)
	}
	// A new process reconciling finds the stop in place and leaves it.
	y := e.executor(openStore(t, e.path, e.clk), nil)
	if _, err := y.Reconcile(bg); err != nil {
		t.Fatal(err)
	}
	if s := e.liveStops(); len(s) != 1 || !s[0].StopPrice.Equal(d("49000.01")) {
		t.Errorf("after a restart: live stops %+v; want the raised one", s)
	}
	if id, n := e.ex.maxSends(); n > 1 {
		t.Errorf("client id %s sent %d times", id, n)
	}
}

// TestTrailCrashBetweenCancelAndPlace kills the process after each journal
// write of a trail: after the next start's reconciliation exactly one stop
// covers the position, at the raised price once the raise was journaled
// (at the old one if the process died before), and no order was sent
// twice.
func TestTrailCrashBetweenCancelAndPlace(t *testing.T) {
	for writes := 0; writes <= 6; writes++ {
		t.Run(fmt.Sprintf("crash after %d writes", writes), func(t *testing.T) {
			e := newEnv(t, nil)
			filledWithStop(t, e)
			x := e.executor(&crashJournal{Journal: e.store, n: writes}, nil)
			x.Trail(bg, "dec-1", d("49000")) // errors expected: the process dies inside
			unprotected := len(e.liveStops()) == 0

			y := e.executor(openStore(t, e.path, e.clk), nil)
			for i := 0; i < 3; i++ {
				if _, err := y.Reconcile(bg); err != nil {
					t.Fatalf("Reconcile() %d = %v", i, err)
				}
				e.clk.Advance(time.Minute)
			}
			s := e.liveStops()
			want := "49000"
			if writes == 0 {
				want = "47000"
			}
			if len(s) != 1 || !s[0].StopPrice.Equal(d(want)) || !s[0].Quantity.Equal(d("0.00999")) {
				t.Fatalf("after the restart: live stops %+v (unprotected at the crash: %v); want one of 0.00999 at %s", s, unprotected, want)
			}
			if id, n := e.ex.maxSends(); n > 1 {
				t.Errorf("client id %s sent %d times", id, n)
			}
			t.Logf("crash after %d writes: unprotected between crash and restart: %v", writes, unprotected)
		})
	}
}
