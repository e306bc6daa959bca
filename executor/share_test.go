package executor_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// stopOf is the quantity the live stops of one decision cover on the
// exchange.
func (e *env) stopOf(decisionID string) decimal.Decimal {
	e.t.Helper()
	q := decimal.Zero
	for _, s := range e.liveStops() {
		if ev, ok := e.last(s.ClientOrderID); ok && ev.DecisionID == decisionID {
			q = q.Add(s.Quantity.Sub(s.FilledQty))
		}
	}
	return q
}

// noIntentsLeft fails when the journal still holds an order never sent.
func (e *env) noIntentsLeft() {
	e.t.Helper()
	open, err := e.store.OpenOrderEvents(bg)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ev := range open {
		if ev.State == schemas.OrderIntent {
			e.t.Errorf("%s %s of %s left in intent (%s)", ev.Role, ev.Quantity, ev.DecisionID, ev.Reason)
		}
	}
}

// noExits fails when a protection had to close a position: a stop sized
// above what is free is refused (-2010) and the position sold.
func noExits(t *testing.T, prots []executor.ProtectionEvent) {
	t.Helper()
	for _, p := range prots {
		if p.Kind == executor.ProtClosed || p.Kind == executor.ProtExitFailed {
			t.Errorf("protection event %s for %s (%s); want none", p.Kind, p.DecisionID, p.Reason)
		}
	}
}

// unprotectedFill places a marketable protected buy that fills while the
// balances cannot be read: its stop is journaled (pending) but not sized,
// so it waits for the next poll.
func (e *env) unprotectedFill(x *executor.Executor, decisionID string) {
	e.t.Helper()
	e.ex.setBalances(func() error { return errNet })
	defer e.ex.setBalances(nil)
	if ev, err := x.Place(bg, decisionID, buyOrder("0.01", "51000", dp("47000"))); err != nil || ev.State != schemas.OrderFilled {
		e.t.Fatalf("Place(%s) = %q, %v; want filled", decisionID, ev.State, err)
	}
	if s := e.stopOf(decisionID); !s.IsZero() {
		e.t.Fatalf("%s protected without a balance read: %s", decisionID, s)
	}
}

// The free balance of a symbol is shared out among the decisions that need
// protection, not taken by whichever re-protects first. Two protected buys;
// a sell releases the newer one's stop and partly fills (its rest is then
// cancelled), so that decision holds only what the sell left it; a third
// buy fills while its stop cannot be sized. On the next poll the decision
// the sell was charged to must not grow back into the third buy's BTC:
// the third buy gets its fill, the others keep what they hold. At the
// limit: the free balance exactly what the third buy needs, and one amount
// step less (a foreign order locks a step): its stop is then one step
// smaller, never larger than what is free (it would be refused, -2010, and
// the position closed).
func TestFreeBalanceSharedAmongDecisions(t *testing.T) {
	for _, lock := range []string{"0", "0.00001"} {
		t.Run("locked elsewhere "+lock, func(t *testing.T) {
			e := newEnv(t, nil)
			var prots []executor.ProtectionEvent
			x := e.executor(e.store, func(o *executor.Options) {
				o.OnProtection = func(p executor.ProtectionEvent) { prots = append(prots, p) }
			})
			for _, dec := range []string{"buy-1", "buy-2"} {
				if _, err := x.Place(bg, dec, buyOrder("0.01", "51000", dp("47000"))); err != nil {
					t.Fatal(err)
				}
			}
			// A thin minute: only 0.005 can trade. The sell needs 0.008
			// beyond what is free, so the newer stop (buy-2) is released.
			e.feed(50000, 50000, 50000, 0.05)
			sell, err := x.Place(bg, "sell-1", sellOrder("0.008", "49000"))
			if err != nil || sell.State != schemas.OrderPartiallyFilled || !sell.FilledQty.Equal(d("0.005")) {
				t.Fatalf("Place(sell) = %q filled %s, %v; want partially filled 0.005", sell.State, sell.FilledQty, err)
			}
			if got := e.stopOf("buy-1"); !got.Equal(d("0.00999")) {
				t.Fatalf("buy-1 stop = %s; want 0.00999 (not released)", got)
			}
			// The rest of the sell is cancelled: buy-2 keeps what the sell
			// left it (0.00999 - 0.005).
			if _, err := e.paper.CancelOrder(bg, btc, sell.ClientOrderID); err != nil {
				t.Fatal(err)
			}
			if _, err := x.Poll(bg); err != nil {
				t.Fatal(err)
			}
			if got := e.stopOf("buy-2"); !got.Equal(d("0.00499")) {
				t.Fatalf("buy-2 stop after the sell = %s; want 0.00499", got)
			}
			e.feed(50000, 50000, 50000, 100)
			e.unprotectedFill(x, "buy-3")
			if lock != "0" {
				if _, err := e.paper.PlaceOrder(bg, executor.OrderRequest{ClientOrderID: "foreign-1", Symbol: btc,
					Side: schemas.SideSell, Type: executor.TypeLimit, Quantity: d(lock), Price: d("600000")}); err != nil {
					t.Fatal(err)
				}
			}
			if free := e.balance("BTC").Free; !free.Equal(d("0.00999").Sub(d(lock))) {
				t.Fatalf("BTC free before the poll = %s; want 0.00999 less %s", free, lock)
			}
			if _, err := x.Poll(bg); err != nil {
				t.Fatalf("Poll() error = %v", err)
			}
			want := map[string]string{"buy-1": "0.00999", "buy-2": "0.00499", "buy-3": d("0.00999").Sub(d(lock)).String()}
			for dec, q := range want {
				if got := e.stopOf(dec); !got.Equal(d(q)) {
					t.Errorf("%s stop = %s; want %s", dec, got, q)
				}
			}
			if free := e.balance("BTC").Free; !free.IsZero() {
				t.Errorf("BTC free after the poll = %s; want 0 (all protected)", free)
			}
			e.noIntentsLeft()
			noExits(t, prots)
			// Settled: another poll changes nothing.
			if res, _ := x.Poll(bg); len(res.Events) != 0 {
				t.Errorf("idle Poll() appended %d events; want 0", len(res.Events))
			}
		})
	}
}

// A decision whose stop found nothing free because another decision's stop
// may still land (sent, outcome unknown, inside LandWindow) keeps its stop
// pending and gets it once that stop turns out never placed: the quantity
// of a stop sent in this cycle is taken off the free balance once, not
// twice, and a claim that may still go away does not drop the decision
// from view.
func TestUnresolvedStopDoesNotStrandAnotherPosition(t *testing.T) {
	e := newEnv(t, nil)
	var prots []executor.ProtectionEvent
	opts := func(o *executor.Options) {
		o.OnProtection = func(p executor.ProtectionEvent) { prots = append(prots, p) }
	}
	x := e.process(opts)
	e.unprotectedFill(x, "buy-1")
	e.unprotectedFill(x, "buy-2")
	first := executor.ClientOrderID("buy-1", executor.RoleStop)
	e.ex.setPlace(lost(first)) // buy-1's stop never reaches the exchange
	x.Poll(bg)
	if got := e.stopOf("buy-2"); !got.Equal(d("0.00999")) {
		t.Errorf("buy-2 stop while buy-1's may land = %s; want 0.00999 (its own fill)", got)
	}
	e.ex.setPlace(nil)
	for _, wait := range []time.Duration{30 * time.Second, 31 * time.Second, 2 * time.Minute} {
		e.clk.Advance(wait)
		e.process(opts).Poll(bg)
	}
	for _, dec := range []string{"buy-1", "buy-2"} {
		if got := e.stopOf(dec); !got.Equal(d("0.00999")) {
			t.Errorf("%s stop = %s; want 0.00999", dec, got)
		}
	}
	if free := e.balance("BTC").Free; !free.IsZero() {
		t.Errorf("BTC free = %s; want 0 (every position protected)", free)
	}
	e.noIntentsLeft()
	noExits(t, prots)
}

// A process that dies while it replaces a pending stop by one of another
// size (here: part of the position was sold meanwhile) leaves a pending
// stop behind, so the next process still protects the position: the new
// intent is journaled before the old one is closed.
func TestResizedIntentSurvivesCrash(t *testing.T) {
	for writes := 0; writes <= 3; writes++ {
		t.Run(fmt.Sprintf("crash after %d writes", writes), func(t *testing.T) {
			e := newEnv(t, nil)
			x := e.process(nil)
			e.unprotectedFill(x, "buy-1")
			// Something else sells part of the position.
			if _, err := e.paper.PlaceOrder(bg, executor.OrderRequest{ClientOrderID: "manual-1", Symbol: btc, Side: schemas.SideSell, Type: executor.TypeMarket, Quantity: d("0.005")}); err != nil {
				t.Fatal(err)
			}
			y := e.executor(&crashJournal{Journal: e.store, n: writes}, nil)
			y.Poll(bg) // dies inside
			for range 2 {
				e.clk.Advance(3 * time.Minute)
				if _, err := e.process(nil).Poll(bg); err != nil {
					t.Fatalf("Poll() after the restart error = %v", err)
				}
			}
			if got := e.stopOf("buy-1"); !got.Equal(d("0.00499")) {
				t.Errorf("stop after the restart = %s; want 0.00499 (what is held)", got)
			}
			e.noIntentsLeft()
		})
	}
}

// A decision whose share of the free balance is below the minimum order,
// while what it bought is not, has its pending stop closed once nothing
// can change the share (no sell of ours open): it is not dust of its own
// that more fills could lift, and left pending it would stay so for good.
// Here a sell took most of the free BTC of two fills whose stops waited:
// the newer bears it.
func TestDustShareDoesNotLeaveStopPending(t *testing.T) {
	e := newEnv(t, nil)
	var prots []executor.ProtectionEvent
	x := e.executor(e.store, func(o *executor.Options) {
		o.OnProtection = func(p executor.ProtectionEvent) { prots = append(prots, p) }
	})
	e.unprotectedFill(x, "buy-1")
	e.unprotectedFill(x, "buy-2")
	e.ex.setBalances(func() error { return errNet }) // stops still unsized: the sell takes what is free
	if ev, err := x.Place(bg, "sell-1", sellOrder("0.00996", "49000")); err != nil || ev.State != schemas.OrderFilled {
		t.Fatalf("Place(sell) = %q, %v; want filled", ev.State, err)
	}
	e.ex.setBalances(nil)
	if _, err := x.Poll(bg); err != nil {
		t.Fatalf("Poll() error = %v", err)
	}
	if got := e.stopOf("buy-1"); !got.Equal(d("0.00999")) {
		t.Errorf("buy-1 stop = %s; want 0.00999", got)
	}
	if got := e.stopOf("buy-2"); !got.IsZero() {
		t.Errorf("buy-2 stop = %s; want none (its share, 0.00003, is below the minimum order)", got)
	}
	e.noIntentsLeft()
	noExits(t, prots)
}
