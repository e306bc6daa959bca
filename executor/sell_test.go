package executor_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/schemas"
)

func sellOrder(qty, price string) schemas.Order {
	return schemas.Order{Symbol: btc, Side: schemas.SideSell, Type: schemas.OrderLimit, Quantity: d(qty), Price: d(price)}
}

// protectedPosition places a protected buy that fills at once: 0.00999 BTC
// held under one live stop.
func protectedPosition(t *testing.T, e *env, prots *[]executor.ProtectionEvent) *executor.Executor {
	t.Helper()
	x := e.executor(e.store, func(o *executor.Options) {
		o.OnProtection = func(p executor.ProtectionEvent) { *prots = append(*prots, p) }
	})
	if _, err := x.Place(bg, "buy-1", buyOrder("0.01", "51000", dp("47000"))); err != nil {
		t.Fatal(err)
	}
	if s := e.liveStops(); len(s) != 1 || !s[0].Quantity.Equal(d("0.00999")) {
		t.Fatalf("live stops = %+v; want one of 0.00999", s)
	}
	return x
}

func kinds(ps []executor.ProtectionEvent) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Kind)
	}
	return out
}

func TestSellReleasesStops(t *testing.T) {
	e := newEnv(t, nil)
	var prots []executor.ProtectionEvent
	x := protectedPosition(t, e, &prots)
	ev, err := x.Place(bg, "sell-1", sellOrder("0.00999", "49000")) // marketable
	if err != nil || ev.State != schemas.OrderFilled {
		t.Fatalf("Place(sell) = %q, %v; want filled", ev.State, err)
	}
	if b := e.balance("BTC"); !b.Total().IsZero() {
		t.Errorf("BTC after the sell = %s; want 0", b.Total())
	}
	if s := e.liveStops(); len(s) != 0 {
		t.Errorf("live stops after selling the position = %+v; want none", s)
	}
	if _, err := x.Poll(bg); err != nil {
		t.Fatal(err)
	}
	if open, _ := e.store.OpenOrderEvents(bg); len(open) != 0 {
		t.Errorf("journal open orders after the sell = %+v; want none", open)
	}
	if got := kinds(prots); len(got) != 2 || got[1] != executor.ProtReleased {
		t.Errorf("protection events = %v; want stop_placed, protection_released", got)
	}
}

func TestRefusedSellRestoresStop(t *testing.T) {
	e := newEnv(t, nil)
	var prots []executor.ProtectionEvent
	x := protectedPosition(t, e, &prots)
	_, err := x.Place(bg, "sell-1", sellOrder("0.02", "49000")) // more than held
	if !errors.Is(err, executor.ErrRejected) {
		t.Fatalf("Place(sell more than held) error = %v; want ErrRejected", err)
	}
	if s := e.liveStops(); len(s) != 1 || !s[0].Quantity.Equal(d("0.00999")) {
		t.Errorf("live stops after a refused sell = %+v; want the stop back for 0.00999", s)
	}
	if got := kinds(prots); len(got) != 3 || got[2] != executor.ProtStopResized {
		t.Errorf("protection events = %v; want placed, released, resized", got)
	}
}

func TestRestingSellKeepsProtectionPending(t *testing.T) {
	e := newEnv(t, nil)
	var prots []executor.ProtectionEvent
	x := protectedPosition(t, e, &prots)
	sell, err := x.Place(bg, "sell-1", sellOrder("0.005", "60000")) // rests
	if err != nil || sell.State != schemas.OrderAcknowledged {
		t.Fatalf("Place(resting sell) = %q, %v; want acknowledged", sell.State, err)
	}
	// The rest of the position (0.00499) is protected again; the part
	// being sold is not double-locked.
	if s := e.liveStops(); len(s) != 1 || !s[0].Quantity.Equal(d("0.00499")) {
		t.Fatalf("live stops while selling 0.005 = %+v; want one for the other 0.00499", s)
	}
	x.Poll(bg)
	if s := e.liveStops(); len(s) != 1 || !s[0].Quantity.Equal(d("0.00499")) {
		t.Fatalf("after Poll live stops = %+v; want unchanged", s)
	}
	// The sell is cancelled (by an operator): the whole position is
	// protected again on the next poll.
	if _, err := e.paper.CancelOrder(bg, btc, sell.ClientOrderID); err != nil {
		t.Fatal(err)
	}
	x.Poll(bg)
	if s := e.liveStops(); len(s) != 1 || !s[0].Quantity.Equal(d("0.00999")) {
		t.Errorf("after the sell was cancelled live stops = %+v; want one for 0.00999", s)
	}
}

// A sell releases only as many stops as it needs beyond what is free, not
// every stop on the symbol: with two protected positions, selling half of
// one cancels one stop and leaves the other alone.
func TestSellReleasesOnlyWhatItNeeds(t *testing.T) {
	e := newEnv(t, nil)
	x := e.executor(e.store, nil)
	for _, dec := range []string{"buy-1", "buy-2"} {
		if _, err := x.Place(bg, dec, buyOrder("0.01", "51000", dp("47000"))); err != nil {
			t.Fatal(err)
		}
	}
	first := executor.ClientOrderID("buy-1", executor.RoleStop)
	calls, _ := e.ex.callCount()
	ev, err := x.Place(bg, "sell-1", sellOrder("0.005", "49000")) // marketable
	if err != nil || ev.State != schemas.OrderFilled {
		t.Fatalf("Place(sell) = %q, %v; want filled", ev.State, err)
	}
	after, _ := e.ex.callCount()
	if n := after["CancelOrder"] - calls["CancelOrder"]; n != 1 {
		t.Errorf("stops cancelled for a sell of half of one position = %d; want 1", n)
	}
	if last, _ := e.last(first); last.State != schemas.OrderAcknowledged {
		t.Errorf("the other position's stop = %q; want untouched (acknowledged)", last.State)
	}
	var total = d("0")
	for _, s := range e.liveStops() {
		total = total.Add(s.Quantity)
	}
	if !total.Equal(d("0.01498")) || !e.balance("BTC").Free.IsZero() {
		t.Errorf("live stops cover %s, BTC free %s; want 0.01498 covered (0.01998 held - 0.005 sold), nothing free", total, e.balance("BTC").Free)
	}
}

// TestStopSoldBeforeTheSell: the market falls through the protective stop
// after the cycle's poll and before an approved sell is sent. Releasing
// the stop finds it filled: the position is sold already, so the sell is
// not sent (it would only be refused for want of balance, an order error
// that notifies and fails the run). Its intent is closed as rejected,
// naming the stop, and Place returns no error.
func TestStopSoldBeforeTheSell(t *testing.T) {
	e := newEnv(t, nil)
	var prots []executor.ProtectionEvent
	x := protectedPosition(t, e, &prots)
	e.feed(47500, 47500, 46000, 100) // through the stop at 47000; nobody polls
	ev, err := x.Place(bg, "sell-1", sellOrder("0.00999", "46500"))
	if err != nil || ev.State != schemas.OrderRejected || !strings.Contains(ev.Reason, "protective stop sold 0.00999 BTC first") {
		t.Fatalf("Place(sell) after the stop sold = %+v, %v; want rejected, naming the stop, no error", ev, err)
	}
	if n := e.ex.placed[executor.ClientOrderID("sell-1", executor.RoleEntry)]; n != 0 {
		t.Errorf("the sell was sent %d times; want never", n)
	}
	if b := e.balance("BTC"); !b.Total().IsZero() {
		t.Errorf("BTC after the stop = %s; want 0", b.Total())
	}
	if h := e.history(executor.ClientOrderID("sell-1", executor.RoleEntry)); len(h) != 2 || h[1] != schemas.OrderRejected {
		t.Errorf("the sell's journal = %v; want intent, rejected", h)
	}
	if _, err := x.Poll(bg); err != nil {
		t.Fatal(err)
	}
	if open, _ := e.store.OpenOrderEvents(bg); len(open) != 0 {
		t.Errorf("journal open orders = %+v; want none", open)
	}
}

// TestStopSoldFreeStillCovers: the account also holds 0.005 BTC that no
// stop protects. A sell of 0.004 needs no stop released: it is sent and
// fills, even though the stop has meanwhile sold its 0.00999 unseen. The
// next sell, of 0.002, needs the stop released and finds it sold: 0.001
// is left, which is over the minimums, so the sell goes for 0.001 (a new
// intent of that quantity, naming the stop) rather than not at all.
func TestStopSoldFreeStillCovers(t *testing.T) {
	e := newEnv(t, func(c *paper.Config) { c.Balances["BTC"] = d("0.005") })
	var prots []executor.ProtectionEvent
	x := protectedPosition(t, e, &prots)
	e.feed(47500, 47500, 46000, 100)
	ev, err := x.Place(bg, "sell-1", sellOrder("0.004", "46000"))
	if err != nil || ev.State != schemas.OrderFilled {
		t.Fatalf("Place(sell covered by the free BTC) = %+v, %v; want it sent and filled", ev, err)
	}
	cid := executor.ClientOrderID("sell-2", executor.RoleEntry)
	ev, err = x.Place(bg, "sell-2", sellOrder("0.002", "46000"))
	if err != nil || ev.State != schemas.OrderFilled || !ev.Quantity.Equal(d("0.001")) || e.ex.placed[cid] != 1 {
		t.Fatalf("Place(sell of more than is left) = %+v, %v (sent %d); want 0.001 sent and filled", ev, err, e.ex.placed[cid])
	}
	if h := e.history(cid); len(h) < 3 || h[0] != schemas.OrderIntent || h[1] != schemas.OrderIntent {
		t.Fatalf("the sell's journal = %v; want intent, the resized intent, then its submission", h)
	}
	if b := e.balance("BTC"); !b.Total().IsZero() {
		t.Errorf("BTC left = %s; want 0", b.Total())
	}
}
