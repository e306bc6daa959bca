package executor_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// process starts a new "process" on the same database and exchange, the
// way cron runs `warden run --once`: the previous store is closed, a new
// one opened on the same SQLite file, and a new executor built over it.
// Nothing survives in memory.
func (e *env) process(mod func(*executor.Options)) *executor.Executor {
	e.t.Helper()
	if err := e.store.Close(); err != nil {
		e.t.Fatalf("closing the store: %v", err)
	}
	e.store = openStore(e.t, e.path, e.clk)
	return e.executor(e.store, mod)
}

var errNotFound = &executor.Error{Kind: executor.KindNotFound, Code: "-2013", Msg: "Order does not exist."}

// lost makes every order whose client id is cid fail with a network error
// before it reaches the exchange.
func lost(cid string) func(context.Context, executor.OrderRequest, func() (executor.OrderReport, error)) (executor.OrderReport, error) {
	return func(_ context.Context, req executor.OrderRequest, inner func() (executor.OrderReport, error)) (executor.OrderReport, error) {
		if req.ClientOrderID == cid {
			return executor.OrderReport{}, errNet
		}
		return inner()
	}
}

func (e *env) notFoundEvents(cid string) int {
	e.t.Helper()
	h, err := e.store.OrderHistory(bg, cid)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, ev := range h {
		if ev.State == schemas.OrderUnknown && strings.HasPrefix(ev.Reason, "not found by client order id") {
			n++
		}
	}
	return n
}

// An order lost before it reached the exchange becomes "never placed"
// under `run --once` exactly as in one long process: the "not found"
// answers and the submission time are read from the journal. The limits
// are tested at the value and one step beyond: 2 answers past the grace
// stay unknown, the 3rd rejects; 3 answers at grace-1s stay unknown,
// at the grace it rejects.
func TestUnknownResolvedAcrossOnceProcesses(t *testing.T) {
	opts := func(o *executor.Options) { o.NotFoundLookups = 3; o.NotFoundGrace = 2 * time.Minute }
	cid := executor.ClientOrderID("dec-1", executor.RoleEntry)

	t.Run("lookups", func(t *testing.T) {
		e := newEnv(t, nil)
		e.ex.setPlace(lost(cid))
		x := e.process(opts)
		if _, err := x.Place(bg, "dec-1", buyOrder("0.01", "49000", nil)); !errors.Is(err, executor.ErrOutcomeUnknown) { // answer 1
			t.Fatalf("Place() error = %v; want ErrOutcomeUnknown", err)
		}
		e.clk.Advance(3 * time.Minute)
		if _, err := e.process(opts).Poll(bg); err != nil { // answer 2: grace passed, one answer short
			t.Fatal(err)
		}
		if last, _ := e.last(cid); last.State != schemas.OrderUnknown {
			t.Fatalf("after 2 answers in 2 processes = %q; want unknown", last.State)
		}
		if _, err := e.process(opts).Poll(bg); err != nil { // answer 3
			t.Fatal(err)
		}
		last, _ := e.last(cid)
		if last.State != schemas.OrderRejected || !strings.Contains(last.Reason, "never placed") {
			t.Fatalf("after 3 answers in 3 processes = %q %q; want rejected as never placed", last.State, last.Reason)
		}
		if n := e.ex.sends(cid); n != 1 {
			t.Errorf("sends = %d; want 1", n)
		}
	})

	t.Run("grace", func(t *testing.T) {
		e := newEnv(t, nil)
		e.ex.setPlace(lost(cid))
		submitted := e.clk.Now()
		e.process(opts).Place(bg, "dec-1", buyOrder("0.01", "49000", nil)) // answer 1
		for i := 0; i < 6; i++ {                                           // answers 2..7, each in a new process
			e.clk.Advance(10 * time.Second)
			e.process(opts).Poll(bg)
		}
		// Answers beyond the third are not journaled: the journal does
		// not grow with lookups.
		if n := e.notFoundEvents(cid); n != 3 {
			t.Errorf("journaled not-found answers = %d; want 3 (NotFoundLookups)", n)
		}
		e.clk.Advance(submitted.Add(2*time.Minute - time.Second).Sub(e.clk.Now()))
		e.process(opts).Poll(bg)
		if last, _ := e.last(cid); last.State != schemas.OrderUnknown {
			t.Fatalf("at grace-1s = %q; want unknown", last.State)
		}
		e.clk.Advance(time.Second)
		res, err := e.process(opts).Poll(bg)
		if err != nil {
			t.Fatal(err)
		}
		if last, _ := e.last(cid); last.State != schemas.OrderRejected || len(res.Unknown) != 0 {
			t.Fatalf("at the grace = %q (unknown left %d); want rejected", last.State, len(res.Unknown))
		}
	})
}

// A sell whose outcome is unknown and that never reached the exchange
// does not leave the position without a stop across --once processes:
// while it could still arrive (LandWindow) it counts as selling; after
// that the position is protected again for what is free, and when the
// sell is resolved as never placed nothing is left in intent.
func TestUnknownSellDoesNotLeavePositionUnprotected(t *testing.T) {
	e := newEnv(t, nil)
	var prots []executor.ProtectionEvent
	protectedPosition(t, e, &prots)
	sellID := executor.ClientOrderID("sell-1", executor.RoleEntry)
	e.ex.setPlace(lost(sellID))
	x := e.process(nil)
	if _, err := x.Place(bg, "sell-1", sellOrder("0.00999", "49000")); !errors.Is(err, executor.ErrOutcomeUnknown) {
		t.Fatalf("Place(sell) error = %v; want ErrOutcomeUnknown", err)
	}
	if s := e.liveStops(); len(s) != 0 {
		t.Fatalf("live stops while the sell may still arrive = %+v; want none (released for the sell)", s)
	}
	e.clk.Advance(30 * time.Second)
	e.process(nil).Poll(bg)
	if s := e.liveStops(); len(s) != 0 {
		t.Fatalf("live stops 30 s after the sell (inside the 60 s land window) = %+v; want none", s)
	}
	e.clk.Advance(31 * time.Second) // 61 s: the sell can no longer arrive
	if _, err := e.process(nil).Poll(bg); err != nil {
		t.Fatalf("Poll() error = %v", err)
	}
	if s := e.liveStops(); len(s) != 1 || !s[0].Quantity.Equal(d("0.00999")) {
		t.Fatalf("live stops after the land window = %+v; want one for the 0.00999 held", s)
	}
	if last, _ := e.last(sellID); last.State != schemas.OrderUnknown {
		t.Fatalf("sell = %q; want still unknown (grace not over)", last.State)
	}
	e.clk.Advance(time.Minute)
	if _, err := e.process(nil).Poll(bg); err != nil {
		t.Fatalf("Poll() error = %v", err)
	}
	if last, _ := e.last(sellID); last.State != schemas.OrderRejected {
		t.Fatalf("sell after the grace = %q; want rejected (never placed)", last.State)
	}
	open, err := e.store.OpenOrderEvents(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].Role != executor.RoleStop || open[0].State != schemas.OrderAcknowledged {
		t.Errorf("journal open orders = %+v; want only the live stop (no intent left)", open)
	}
	if b := e.balance("BTC"); !b.Locked.Equal(d("0.00999")) || !b.Free.IsZero() {
		t.Errorf("BTC = %+v; want 0.00999 locked by the one stop", b)
	}
	if n := e.ex.sends(sellID); n != 1 {
		t.Errorf("sell sent %d times; want 1", n)
	}
	for _, p := range prots {
		if p.Kind == executor.ProtClosed || p.Kind == executor.ProtExitFailed {
			t.Errorf("protection event %s (%s); want none", p.Kind, p.Reason)
		}
	}
}

// A sell whose outcome is unknown but which rests on the exchange (the
// exchange does not show it yet) holds what it sells: the stop placed
// after the land window is sized by the free balance, so nothing is sold
// twice and no stop is refused for lack of balance.
func TestHiddenSellIsNotSoldTwice(t *testing.T) {
	e := newEnv(t, nil)
	var prots []executor.ProtectionEvent
	protectedPosition(t, e, &prots)
	sellID := executor.ClientOrderID("sell-1", executor.RoleEntry)
	e.ex.setPlace(func(_ context.Context, req executor.OrderRequest, inner func() (executor.OrderReport, error)) (executor.OrderReport, error) {
		r, err := inner()
		if req.ClientOrderID == sellID {
			return executor.OrderReport{}, errNet // placed, reply lost
		}
		return r, err
	})
	e.ex.setFetch(func(cid string) error {
		if cid == sellID {
			return errNotFound // placed, but not shown yet
		}
		return nil
	})
	// 0.006 of the 0.00999 rests in the sell (above the market).
	if _, err := e.process(func(o *executor.Options) {
		o.OnProtection = func(p executor.ProtectionEvent) { prots = append(prots, p) }
	}).Place(bg, "sell-1", sellOrder("0.006", "60000")); !errors.Is(err, executor.ErrOutcomeUnknown) {
		t.Fatalf("Place(sell) error = %v; want ErrOutcomeUnknown", err)
	}
	e.clk.Advance(61 * time.Second)
	if _, err := e.process(func(o *executor.Options) {
		o.OnProtection = func(p executor.ProtectionEvent) { prots = append(prots, p) }
	}).Poll(bg); err != nil {
		t.Fatalf("Poll() error = %v", err)
	}
	stops := e.liveStops()
	if len(stops) != 1 || !stops[0].Quantity.Equal(d("0.00399")) {
		t.Fatalf("live stops = %+v; want one for the 0.00399 the hidden sell does not hold", stops)
	}
	if b := e.balance("BTC"); !b.Locked.Equal(d("0.00999")) {
		t.Errorf("BTC = %+v; want all 0.00999 locked once (sell 0.006 + stop 0.00399)", b)
	}
	for _, p := range prots {
		if p.Kind == executor.ProtClosed || p.Kind == executor.ProtExitFailed {
			t.Errorf("protection event %s (%s); want none", p.Kind, p.Reason)
		}
	}
}

// No stop is sized without a balance read in the same cycle: when the read
// fails the stop waits for the next poll (it is never sent larger than
// what is held, refused with -2010, and the position closed).
func TestStopNeverSizedWithoutBalance(t *testing.T) {
	e := newEnv(t, nil)
	var prots []executor.ProtectionEvent
	e.ex.setBalances(func() error { return errNet })
	x := e.executor(e.store, func(o *executor.Options) {
		o.OnProtection = func(p executor.ProtectionEvent) { prots = append(prots, p) }
	})
	if _, err := x.Place(bg, "buy-1", buyOrder("0.01", "51000", dp("47000"))); err != nil {
		t.Fatalf("Place() error = %v", err)
	}
	if s := e.liveStops(); len(s) != 0 {
		t.Fatalf("live stops without a balance read = %+v; want none", s)
	}
	// Meanwhile something else sells part of the position.
	if _, err := e.paper.PlaceOrder(bg, executor.OrderRequest{ClientOrderID: "manual-1", Symbol: btc, Side: schemas.SideSell, Type: executor.TypeMarket, Quantity: d("0.005")}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Poll(bg); err == nil || !strings.Contains(err.Error(), "balances unreadable") {
		t.Fatalf("Poll() with balances failing error = %v; want balances unreadable", err)
	}
	e.ex.setBalances(nil)
	if _, err := x.Poll(bg); err != nil {
		t.Fatalf("Poll() error = %v", err)
	}
	if s := e.liveStops(); len(s) != 1 || !s[0].Quantity.Equal(d("0.00499")) {
		t.Fatalf("live stops = %+v; want one for the 0.00499 still held", s)
	}
	for _, p := range prots {
		if p.Kind == executor.ProtClosed || p.Kind == executor.ProtExitFailed {
			t.Errorf("protection event %s (%s); want none", p.Kind, p.Reason)
		}
	}
}

// An idle --once cycle (a new process, Reconcile, nothing to do) makes the
// same few exchange calls with one protected position as with six and a
// long journal: one market load, one open-orders list, one balance read.
func TestIdleCycleCallsDoNotGrowWithJournal(t *testing.T) {
	e := newEnv(t, nil)
	idle := func() (map[string]int, int) {
		t.Helper()
		x := e.process(nil)
		_, before := e.ex.callCount()
		b0, _ := e.ex.callCount()
		if _, err := x.Reconcile(bg); err != nil {
			t.Fatalf("Reconcile() error = %v", err)
		}
		b1, after := e.ex.callCount()
		per := map[string]int{}
		for k, v := range b1 {
			if v-b0[k] > 0 {
				per[k] = v - b0[k]
			}
		}
		return per, after - before
	}
	place := func(i int) {
		t.Helper()
		x := e.process(nil)
		if _, err := x.Place(bg, "buy-"+string(rune('a'+i)), buyOrder("0.001", "51000", dp("47000"))); err != nil {
			t.Fatal(err)
		}
		// a refused order too: the journal grows with final orders
		x.Place(bg, "big-"+string(rune('a'+i)), buyOrder("100", "51000", nil))
		e.clk.Advance(time.Minute)
	}
	place(0)
	idle() // the first reconcile of the account (baseline)
	perStart, start := idle()
	for i := 1; i < 6; i++ {
		place(i)
	}
	for i := 0; i < 5; i++ {
		idle()
	}
	perEnd, end := idle()
	if len(e.liveStops()) != 6 {
		t.Fatalf("live stops = %d; want 6", len(e.liveStops()))
	}
	t.Logf("exchange calls per idle --once cycle: %d %v with 1 position, %d %v with 6", start, perStart, end, perEnd)
	if end != start || end > 3 || perEnd["Balances"] != 1 {
		t.Errorf("exchange calls per idle cycle: %d %v with 1 position, %d %v with 6; want the same, at most 3, one balance read", start, perStart, end, perEnd)
	}
}

// A reply that comes after SubmitTimeout is journaled before the process
// ends (Executor.Wait, which `warden run --once` calls as it closes), so
// the next process knows the order was accepted and filled, and protects
// the fill, although the exchange keeps it from lookups: without it,
// lookups in three processes two minutes apart would have concluded
// "never placed" and left the position without its stop.
func TestLateReplyJournaledForTheNextProcess(t *testing.T) {
	opts := func(o *executor.Options) {
		o.NotFoundLookups, o.NotFoundGrace, o.SubmitTimeout = 3, 2*time.Minute, 30*time.Millisecond
	}
	cid := executor.ClientOrderID("dec-1", executor.RoleEntry)
	e := newEnv(t, nil)
	release := make(chan struct{})
	e.ex.setPlace(func(_ context.Context, req executor.OrderRequest, inner func() (executor.OrderReport, error)) (executor.OrderReport, error) {
		r, err := inner() // the exchange accepts (and fills) it...
		if req.ClientOrderID == cid {
			<-release // ...and the reply comes after SubmitTimeout
		}
		return r, err
	})
	e.ex.setFetch(func(c string) error {
		if c == cid {
			return errNotFound // and lookups never show it
		}
		return nil
	})
	x := e.process(opts)
	stop := d("45000")
	if _, err := x.Place(bg, "dec-1", buyOrder("0.01", "51000", &stop)); !errors.Is(err, executor.ErrOutcomeUnknown) {
		t.Fatalf("Place() error = %v; want ErrOutcomeUnknown", err)
	}
	close(release)
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	if err := x.Wait(ctx); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
	if last, _ := e.last(cid); last.State != schemas.OrderFilled || !last.FilledQty.Equal(d("0.01")) {
		t.Fatalf("journal after the late reply = %s filled %s; want filled 0.01", last.State, last.FilledQty)
	}
	for i := range 4 {
		e.clk.Advance(3 * time.Minute)
		if _, err := e.process(opts).Poll(bg); err != nil {
			t.Fatalf("process %d: Poll() = %v", i+2, err)
		}
	}
	if last, _ := e.last(cid); last.State != schemas.OrderFilled {
		t.Errorf("entry after four more processes = %s; want filled", last.State)
	}
	stops := e.liveStops()
	if len(stops) != 1 || !stops[0].Quantity.Add(d("0.00001")).GreaterThanOrEqual(d("0.01")) {
		t.Errorf("stops on the exchange = %+v; want one for the 0.01 filled", stops)
	}
}
