package executor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// TestCrashRestart stops the process (the journal refuses every write after
// the first n) at every step of placing a protected entry that fills at
// once and of placing its stop, with and without the exchange's reply being
// lost after it accepted. A fresh Executor over the same SQLite file then
// replays the decision and/or reconciles. Whatever the crash point, no
// client id is sent twice, nothing is left unresolved, the journal agrees
// with the exchange and a filled entry ends up protected by one stop
// covering exactly what it holds.
func TestCrashRestart(t *testing.T) {
	faults := []struct {
		name string
		lost bool
	}{{"clean replies", false}, {"replies lost after accept", true}}
	for _, f := range faults {
		for n := 0; n <= 10; n++ {
			for _, replay := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/crash after %d writes/replay=%v", f.name, n, replay), func(t *testing.T) {
					crashRestart(t, n, f.lost, replay)
				})
			}
		}
	}
}

func crashRestart(t *testing.T, writes int, lost, replay bool) {
	e := newEnv(t, nil)
	if lost {
		e.ex.setPlace(func(_ context.Context, _ executor.OrderRequest, inner func() (executor.OrderReport, error)) (executor.OrderReport, error) {
			if _, err := inner(); err != nil {
				return executor.OrderReport{}, err
			}
			return executor.OrderReport{}, errNet
		})
	}
	order := buyOrder("0.01", "51000", dp("47000")) // marketable: fills at once
	x := e.executor(&crashJournal{Journal: e.store, n: writes}, nil)
	x.Place(bg, "dec-1", order) // errors expected: the process "dies" inside

	// Restart: a new process, a new connection to the same file.
	e.ex.setPlace(nil)
	store := openStore(t, e.path, e.clk)
	y := e.executor(store, nil)
	if replay {
		y.Place(bg, "dec-1", order)
	}
	var rep executor.Report
	for i := 0; i < 4; i++ {
		var err error
		if rep, err = y.Reconcile(bg); err != nil {
			t.Fatalf("Reconcile() %d error = %v", i, err)
		}
		e.clk.Advance(time.Minute)
	}

	if id, n := e.ex.maxSends(); n > 1 {
		t.Fatalf("client id %s sent %d times; want at most once", id, n)
	}
	open, err := store.OpenOrderEvents(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range open {
		if !(ev.State == schemas.OrderAcknowledged || ev.State == schemas.OrderPartiallyFilled) {
			t.Errorf("journal left %s (%s) in state %q", ev.ClientOrderID, ev.Role, ev.State)
		}
	}
	if len(rep.Foreign) != 0 || len(rep.Mismatches) != 0 || len(rep.Unknown) != 0 {
		t.Errorf("Reconcile() = foreign %v, mismatches %v, unknown %v; want none", rep.Foreign, rep.Mismatches, rep.Unknown)
	}
	// Every order of the decision: the journal agrees with the exchange.
	for _, role := range []string{"entry", "stop", "stop.2", "exit"} {
		cid := executor.ClientOrderID("dec-1", role)
		exr, xerr := e.paper.FetchOrder(bg, btc, cid)
		jev, ok := e.last(cid)
		switch {
		case xerr == nil && !ok:
			t.Errorf("%s is on the exchange (%s) but not in the journal", role, exr.Status)
		case xerr == nil && jev.State != exr.Status:
			t.Errorf("%s: journal %q, exchange %q; want equal", role, jev.State, exr.Status)
		case xerr != nil && ok && jev.State != schemas.OrderRejected:
			t.Errorf("%s: not on the exchange but journal says %q; want rejected", role, jev.State)
		}
	}
	held := e.balance("BTC").Total()
	entry, _ := e.paper.FetchOrder(bg, btc, executor.ClientOrderID("dec-1", "entry"))
	stops := e.liveStops()
	switch {
	case entry.Status == "":
		if !held.IsZero() || len(stops) != 0 {
			t.Errorf("entry never placed but BTC %s, %d stops", held, len(stops))
		}
	case entry.Status == schemas.OrderFilled:
		if len(stops) != 1 || !stops[0].Quantity.Equal(held) || !held.Equal(d("0.00999")) {
			t.Errorf("filled entry: held %s, live stops %+v; want one stop covering 0.00999", held, stops)
		}
	default:
		t.Errorf("entry on the exchange is %q; want filled", entry.Status)
	}
}

// TestRestartWithPendingPartialFill: fills arrive while the process is
// down; the restarted executor records them and protects what filled.
func TestRestartWithPendingPartialFill(t *testing.T) {
	e := newEnv(t, nil)
	x := e.executor(e.store, nil)
	if _, err := x.Place(bg, "dec-1", buyOrder("0.01", "49000", dp("47000"))); err != nil {
		t.Fatal(err)
	}
	e.feed(49500, 49500, 48900, 0.03) // 0.003 fills while "down"
	e.feed(49500, 49500, 48900, 0.04) // 0.004 more
	y := e.executor(openStore(t, e.path, e.clk), nil)
	if _, err := y.Reconcile(bg); err != nil {
		t.Fatalf("Reconcile() error = %v", err)
	}
	stops := e.liveStops()
	if len(stops) != 1 || !stops[0].Quantity.Equal(d("0.00699")) {
		t.Fatalf("after restart live stops = %+v; want one covering 0.00699", stops)
	}
	if last, _ := e.last(executor.ClientOrderID("dec-1", "entry")); !last.FilledQty.Equal(d("0.007")) || last.State != schemas.OrderPartiallyFilled {
		t.Errorf("entry after restart = %q %s; want partially filled 0.007", last.State, last.FilledQty)
	}
}
