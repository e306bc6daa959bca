package executor_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/schemas"
)

var bg = context.Background()

func TestClientOrderID(t *testing.T) {
	a := executor.ClientOrderID("dec-1", executor.RoleEntry)
	if a != executor.ClientOrderID("dec-1", executor.RoleEntry) {
		t.Errorf("ClientOrderID is not deterministic")
	}
	seen := map[string]bool{}
	for _, dec := range []string{"dec-1", "dec-2", "dec-1\x00x", ""} {
		for _, role := range []string{"entry", "stop", "stop.2", "exit"} {
			id := executor.ClientOrderID(dec, role)
			if seen[id] {
				t.Errorf("ClientOrderID(%q, %q) = %q collides", dec, role, id)
			}
			seen[id] = true
			if !executor.ValidClientOrderID(id) || len(id) > 36 || !strings.HasPrefix(id, executor.ClientIDPrefix) {
				t.Errorf("ClientOrderID(%q, %q) = %q; want a Binance-valid id with prefix %q", dec, role, id, executor.ClientIDPrefix)
			}
		}
	}
}

// TestClientOrderIDIsStable: the ids already journaled and on exchanges
// stay what they were ("wd" and the first 30 hex digits of
// sha256(decision, 0, role)).
func TestClientOrderIDIsStable(t *testing.T) {
	for _, c := range []struct{ dec, role, want string }{
		{"dec-1", "entry", "wdb1e34fb2a061f59342bb7c4b43f51b"},
		{"dec-1", "stop.2", "wd1f00ff2081d2cacca95cbf2f889a60"},
		{"bt-20170910T150000Z:0", "entry", "wdb7b6f389d11738adc1b1cda02bd675"},
		{"bt-20170910T150000Z:0", "stop.2", "wd3e7bd418a519dbf3be4635f845c6a1"},
		{"", "entry", "wdd9c2d66b522c2522728f539ff9f67b"},
		{"", "stop.2", "wd1e888d1ae4d6b81eba760354620a48"},
	} {
		if got := executor.ClientOrderID(c.dec, c.role); got != c.want {
			t.Errorf("ClientOrderID(%q, %q) = %q; journaled ids say %q", c.dec, c.role, got, c.want)
		}
	}
	long := strings.Repeat("d", 300) // past the stack buffer
	sum := sha256.Sum256([]byte(long + "\x00" + "exit"))
	if got, want := executor.ClientOrderID(long, "exit"), executor.ClientIDPrefix+hex.EncodeToString(sum[:])[:30]; got != want {
		t.Errorf("ClientOrderID(long id) = %q; want %q", got, want)
	}
}

func TestRateLimiter(t *testing.T) {
	clk := &clock{t: t0}
	r := executor.NewRateLimiter(2, time.Minute, clk.Now)
	if !r.Allow() || !r.Allow() {
		t.Fatalf("first two Allow() = false; want true")
	}
	if r.Allow() {
		t.Fatalf("third Allow() within a minute = true; want false")
	}
	clk.Advance(30 * time.Second)
	r.Record()
	if got := r.Count(); got != 3 {
		t.Errorf("Count() = %d; want 3", got)
	}
	clk.Advance(31 * time.Second)
	if got := r.Count(); got != 1 {
		t.Errorf("Count() after the window slid = %d; want 1", got)
	}
	if !r.Allow() {
		t.Errorf("Allow() with 1 of 2 used = false; want true")
	}
}

func TestPlaceStateMachine(t *testing.T) {
	acceptThen := func(err error) func(context.Context, executor.OrderRequest, func() (executor.OrderReport, error)) (executor.OrderReport, error) {
		return func(_ context.Context, _ executor.OrderRequest, inner func() (executor.OrderReport, error)) (executor.OrderReport, error) {
			if _, ierr := inner(); ierr != nil {
				return executor.OrderReport{}, ierr
			}
			return executor.OrderReport{}, err
		}
	}
	refuse := func(k executor.Kind) func(context.Context, executor.OrderRequest, func() (executor.OrderReport, error)) (executor.OrderReport, error) {
		return func(context.Context, executor.OrderRequest, func() (executor.OrderReport, error)) (executor.OrderReport, error) {
			return executor.OrderReport{}, &executor.Error{Kind: k, Msg: k.String()}
		}
	}
	const (
		I = schemas.OrderIntent
		S = schemas.OrderSubmitted
		A = schemas.OrderAcknowledged
		F = schemas.OrderFilled
		R = schemas.OrderRejected
		U = schemas.OrderUnknown
	)
	tests := []struct {
		name    string
		price   string
		place   func(context.Context, executor.OrderRequest, func() (executor.OrderReport, error)) (executor.OrderReport, error)
		want    []schemas.OrderState
		wantErr error
		sends   int // orders on the exchange
	}{
		{"resting limit", "49000", nil, []schemas.OrderState{I, S, A}, nil, 1},
		{"marketable limit fills", "51000", nil, []schemas.OrderState{I, S, F}, nil, 1},
		{"exchange refuses", "49000", refuse(executor.KindRejected), []schemas.OrderState{I, S, R}, executor.ErrRejected, 0},
		{"auth", "49000", refuse(executor.KindAuth), []schemas.OrderState{I, S, R}, executor.ErrRejected, 0},
		{"timestamp", "49000", refuse(executor.KindTimestamp), []schemas.OrderState{I, S, R}, executor.ErrRejected, 0},
		{"429", "49000", refuse(executor.KindRateLimited), []schemas.OrderState{I, S, R}, executor.ErrRejected, 0},
		{"418", "49000", refuse(executor.KindBanned), []schemas.OrderState{I, S, R}, executor.ErrRejected, 0},
		// the second unknown journals the first "not found" answer
		{"network error, not placed", "49000", refuse(executor.KindNetwork), []schemas.OrderState{I, S, U, U}, executor.ErrOutcomeUnknown, 0},
		{"5xx, not placed", "49000", refuse(executor.KindUnavailable), []schemas.OrderState{I, S, U, U}, executor.ErrOutcomeUnknown, 0},
		{"network error after accept", "49000", acceptThen(errNet), []schemas.OrderState{I, S, U, A}, nil, 1},
		{"-1007 after accept", "49000", acceptThen(&executor.Error{Kind: executor.KindUnavailable, Code: "-1007", Msg: "Timeout waiting for response"}), []schemas.OrderState{I, S, U, A}, nil, 1},
		{"unclassified error after accept", "49000", acceptThen(errors.New("boom")), []schemas.OrderState{I, S, U, A}, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.ex.setPlace(tc.place)
			x := e.executor(e.store, nil)
			ev, err := x.Place(bg, "dec-1", buyOrder("0.01", tc.price, nil))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Place() error = %v; want %v", err, tc.wantErr)
			}
			cid := executor.ClientOrderID("dec-1", executor.RoleEntry)
			if got := e.history(cid); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("journal of %s = %v; want %v", tc.name, got, tc.want)
			}
			if ev.State != tc.want[len(tc.want)-1] {
				t.Errorf("Place() state = %q; want %q", ev.State, tc.want[len(tc.want)-1])
			}
			open, _ := e.paper.OpenOrders(bg, "")
			trades, _ := e.paper.MyTrades(bg, btc, time.Time{})
			if got := len(open) + len(trades); got != tc.sends {
				t.Errorf("orders on the exchange = %d; want %d", got, tc.sends)
			}
			if n := e.ex.sends(cid); n > 1 {
				t.Errorf("client id %s sent %d times; want at most once", cid, n)
			}
		})
	}
}

func TestPlaceRejectsInvalidOrders(t *testing.T) {
	e := newEnv(t, nil)
	x := e.executor(e.store, nil)
	tests := []struct {
		name string
		dec  string
		o    schemas.Order
	}{
		{"no decision", "", buyOrder("0.01", "49000", nil)},
		{"zero qty", "d", buyOrder("0", "49000", nil)},
		{"no price", "d", buyOrder("0.01", "0", nil)},
		{"stop above price", "d", buyOrder("0.01", "49000", dp("49500"))},
		{"bad side", "d", schemas.Order{Symbol: btc, Side: "short", Type: schemas.OrderLimit, Quantity: d("1"), Price: d("1")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := x.Place(bg, tc.dec, tc.o); !errors.Is(err, executor.ErrInvalidOrder) {
				t.Errorf("Place(%s) error = %v; want ErrInvalidOrder", tc.name, err)
			}
		})
	}
	if open, _ := e.store.OpenOrderEvents(bg); len(open) != 0 {
		t.Errorf("journal after invalid orders has %d open orders; want 0", len(open))
	}
}

func TestPlaceIsIdempotent(t *testing.T) {
	e := newEnv(t, nil)
	x := e.executor(e.store, nil)
	o := buyOrder("0.01", "49000", nil)
	first, err := x.Place(bg, "dec-1", o)
	if err != nil {
		t.Fatalf("Place() error = %v", err)
	}
	again, err := x.Place(bg, "dec-1", o)
	if err != nil || again.State != first.State || again.ClientOrderID != first.ClientOrderID {
		t.Fatalf("second Place() = %q, %v; want the same acknowledged order", again.State, err)
	}
	// A new process over the same journal file.
	y := e.executor(openStore(t, e.path, e.clk), nil)
	if _, err := y.Place(bg, "dec-1", o); err != nil {
		t.Fatalf("Place() after restart error = %v", err)
	}
	if n := e.ex.sends(first.ClientOrderID); n != 1 {
		t.Errorf("PlaceOrder calls for %s = %d; want 1", first.ClientOrderID, n)
	}
	open, _ := e.paper.OpenOrders(bg, btc)
	if len(open) != 1 {
		t.Errorf("open orders = %d; want 1", len(open))
	}
	if got := e.history(first.ClientOrderID); len(got) != 3 {
		t.Errorf("journal = %v; want intent, submitted, acknowledged only", got)
	}
}

func TestTimeoutAfterAcceptResolvedByClientID(t *testing.T) {
	e := newEnv(t, nil)
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	e.ex.setPlace(func(_ context.Context, _ executor.OrderRequest, inner func() (executor.OrderReport, error)) (executor.OrderReport, error) {
		defer wg.Done()
		r, err := inner() // the exchange accepts...
		<-release         // ...but the reply hangs past SubmitTimeout
		return r, err
	})
	logs := &syncBuffer{}
	x := e.executor(e.store, func(o *executor.Options) {
		o.SubmitTimeout = 30 * time.Millisecond
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	ev, err := x.Place(bg, "dec-1", buyOrder("0.01", "49000", nil))
	close(release)
	wg.Wait()
	// The late reply is not lost: it is logged when it arrives.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "late reply") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "late reply") || !strings.Contains(logs.String(), ev.ClientOrderID) {
		t.Errorf("log = %q; want the late reply of %s recorded", logs.String(), ev.ClientOrderID)
	}
	if err != nil || ev.State != schemas.OrderAcknowledged {
		t.Fatalf("Place() = %q, %v; want acknowledged after resolving the timeout by client id", ev.State, err)
	}
	want := []schemas.OrderState{schemas.OrderIntent, schemas.OrderSubmitted, schemas.OrderUnknown, schemas.OrderAcknowledged}
	if got := e.history(ev.ClientOrderID); !reflect.DeepEqual(got, want) {
		t.Errorf("journal = %v; want %v", got, want)
	}
	if n := e.ex.sends(ev.ClientOrderID); n != 1 {
		t.Errorf("sends = %d; want 1", n)
	}
}

func TestUnknownOrderThatAppearsLate(t *testing.T) {
	e := newEnv(t, nil)
	hidden := true
	e.ex.setPlace(func(_ context.Context, _ executor.OrderRequest, inner func() (executor.OrderReport, error)) (executor.OrderReport, error) {
		inner()
		return executor.OrderReport{}, errNet
	})
	e.ex.setFetch(func(string) error {
		if hidden {
			return &executor.Error{Kind: executor.KindNotFound, Code: "-2013", Msg: "Order does not exist."}
		}
		return nil
	})
	x := e.executor(e.store, nil)
	ev, err := x.Place(bg, "dec-1", buyOrder("0.01", "49000", nil))
	if !errors.Is(err, executor.ErrOutcomeUnknown) || ev.State != schemas.OrderUnknown {
		t.Fatalf("Place() = %q, %v; want unknown", ev.State, err)
	}
	// Many "not found" answers within the grace period do not make it
	// "never placed".
	for i := 0; i < 5; i++ {
		e.clk.Advance(10 * time.Second)
		if _, err := x.Poll(bg); err != nil {
			t.Fatalf("Poll() error = %v", err)
		}
	}
	if last, _ := e.last(ev.ClientOrderID); last.State != schemas.OrderUnknown {
		t.Fatalf("after 5 lookups in 50 s = %q; want still unknown", last.State)
	}
	hidden = false
	res, err := x.Poll(bg)
	if err != nil {
		t.Fatalf("Poll() error = %v", err)
	}
	if last, _ := e.last(ev.ClientOrderID); last.State != schemas.OrderAcknowledged || len(res.Unknown) != 0 {
		t.Fatalf("after it appeared = %q (unknown left %d); want acknowledged", last.State, len(res.Unknown))
	}
	if n := e.ex.sends(ev.ClientOrderID); n != 1 {
		t.Errorf("sends = %d; want 1", n)
	}
}

func TestUnknownNeverPlacedResolvedAfterGrace(t *testing.T) {
	e := newEnv(t, nil)
	e.ex.setPlace(func(context.Context, executor.OrderRequest, func() (executor.OrderReport, error)) (executor.OrderReport, error) {
		return executor.OrderReport{}, errNet // lost before reaching the exchange
	})
	x := e.executor(e.store, func(o *executor.Options) { o.NotFoundLookups = 3; o.NotFoundGrace = 2 * time.Minute })
	ev, _ := x.Place(bg, "dec-1", buyOrder("0.01", "49000", nil)) // lookup 1
	e.clk.Advance(3 * time.Minute)
	x.Poll(bg) // lookup 2: grace passed, but too few lookups
	if last, _ := e.last(ev.ClientOrderID); last.State != schemas.OrderUnknown {
		t.Fatalf("after 2 lookups = %q; want unknown", last.State)
	}
	x.Poll(bg) // lookup 3
	last, _ := e.last(ev.ClientOrderID)
	if last.State != schemas.OrderRejected || !strings.Contains(last.Reason, "never placed") {
		t.Fatalf("after 3 lookups past the grace = %q %q; want rejected as never placed", last.State, last.Reason)
	}
	// The decision is spent: Place again does not send.
	if _, err := x.Place(bg, "dec-1", buyOrder("0.01", "49000", nil)); !errors.Is(err, executor.ErrRejected) {
		t.Errorf("Place() of a resolved decision error = %v; want ErrRejected", err)
	}
	if n := e.ex.sends(ev.ClientOrderID); n != 1 {
		t.Errorf("sends = %d; want 1", n)
	}
}

func TestRateLimitRefuses(t *testing.T) {
	e := newEnv(t, nil)
	x := e.executor(e.store, func(o *executor.Options) { o.MaxOrdersPerMinute = 2 })
	for i := 0; i < 2; i++ {
		if _, err := x.Place(bg, fmt.Sprint("dec-", i), buyOrder("0.001", "49000", nil)); err != nil {
			t.Fatalf("Place(%d) error = %v", i, err)
		}
	}
	_, err := x.Place(bg, "dec-2", buyOrder("0.001", "49000", nil))
	if !errors.Is(err, executor.ErrRateLimited) {
		t.Fatalf("third Place() in a minute error = %v; want ErrRateLimited", err)
	}
	if _, ok := e.last(executor.ClientOrderID("dec-2", executor.RoleEntry)); ok {
		t.Errorf("refused order was journaled; want nothing recorded")
	}
	if got := x.OrdersLastMinute(); got != 2 {
		t.Errorf("OrdersLastMinute() = %d; want 2", got)
	}
	// A restarted executor counts the journal's recent intents.
	y := e.executor(openStore(t, e.path, e.clk), func(o *executor.Options) { o.MaxOrdersPerMinute = 2 })
	if _, err := y.Place(bg, "dec-3", buyOrder("0.001", "49000", nil)); !errors.Is(err, executor.ErrRateLimited) {
		t.Errorf("Place() right after restart error = %v; want ErrRateLimited (seeded from the journal)", err)
	}
	e.clk.Advance(61 * time.Second)
	if _, err := x.Place(bg, "dec-2", buyOrder("0.001", "49000", nil)); err != nil {
		t.Errorf("Place() a minute later error = %v; want placed", err)
	}
}

func TestPartialFillsResizeStop(t *testing.T) {
	e := newEnv(t, nil) // 10% participation
	var prots []executor.ProtectionEvent
	x := e.executor(e.store, func(o *executor.Options) {
		o.OnProtection = func(p executor.ProtectionEvent) { prots = append(prots, p) }
	})
	ev, err := x.Place(bg, "dec-1", buyOrder("0.01", "49000", dp("47000")))
	if err != nil || ev.State != schemas.OrderAcknowledged {
		t.Fatalf("Place() = %q, %v; want acknowledged", ev.State, err)
	}
	steps := []struct {
		vol    float64
		filled string
		stop   string // net of the 0.1% base fee, floored to 0.00001
	}{
		{0.03, "0.003", "0.00299"},
		{0.04, "0.007", "0.00699"},
		{0.5, "0.01", "0.00999"},
	}
	for i, s := range steps {
		e.feed(49500, 49500, 48900, s.vol)
		res, err := x.Poll(bg)
		if err != nil {
			t.Fatalf("Poll() %d error = %v", i, err)
		}
		last, _ := e.last(ev.ClientOrderID)
		if !last.FilledQty.Equal(d(s.filled)) {
			t.Fatalf("after poll %d entry filled = %s; want %s", i, last.FilledQty, s.filled)
		}
		stops := e.liveStops()
		if len(stops) != 1 || !stops[0].Quantity.Equal(d(s.stop)) || !stops[0].StopPrice.Equal(d("47000")) || !stops[0].Price.Equal(d("46765")) {
			t.Fatalf("after poll %d live stops = %+v; want one of %s at stop 47000 limit 46765", i, stops, s.stop)
		}
		if len(res.Protections) != 1 {
			t.Errorf("poll %d protections = %+v; want one", i, res.Protections)
		}
	}
	if last, _ := e.last(ev.ClientOrderID); last.State != schemas.OrderFilled || !last.AvgPrice.Equal(d("49000")) || !last.Fee.Equal(d("0.00001")) {
		t.Errorf("entry = %+v; want filled at 49000 with fee 0.00001", last)
	}
	if len(prots) != 3 || prots[0].Kind != executor.ProtStopPlaced || prots[2].Kind != executor.ProtStopResized {
		t.Errorf("protection events = %+v; want placed, resized, resized", prots)
	}
	// Earlier stops were cancelled, not left to double-sell.
	for _, role := range []string{"stop", "stop.2"} {
		s, _ := e.last(executor.ClientOrderID("dec-1", role))
		if s.State != schemas.OrderCancelled {
			t.Errorf("%s = %q; want cancelled", role, s.State)
		}
	}
	// A quiet poll changes nothing.
	res, _ := x.Poll(bg)
	if len(res.Events) != 0 {
		t.Errorf("idle Poll() appended %d events; want 0", len(res.Events))
	}
	// The stop triggers: the position is closed and nothing is re-protected.
	e.feed(48000, 48000, 46000, 10)
	x.Poll(bg)
	if b := e.balance("BTC"); !b.Total().Equal(d("0")) {
		t.Errorf("BTC after the stop = %s; want 0", b.Total())
	}
	if stops := e.liveStops(); len(stops) != 0 {
		t.Errorf("live stops after the stop filled = %d; want 0", len(stops))
	}
}

func TestStopFailureClosesEntry(t *testing.T) {
	e := newEnv(t, nil)
	e.ex.setPlace(func(_ context.Context, req executor.OrderRequest, inner func() (executor.OrderReport, error)) (executor.OrderReport, error) {
		if req.Type == executor.TypeStopLossLimit {
			return executor.OrderReport{}, &executor.Error{Kind: executor.KindRejected, Code: "-2010", Msg: "Stop price would trigger immediately."}
		}
		return inner()
	})
	var prots []executor.ProtectionEvent
	x := e.executor(e.store, func(o *executor.Options) {
		o.OnProtection = func(p executor.ProtectionEvent) { prots = append(prots, p) }
	})
	ev, err := x.Place(bg, "dec-1", buyOrder("0.01", "51000", dp("47000"))) // fills at once
	if err != nil || ev.State != schemas.OrderFilled {
		t.Fatalf("Place() = %q, %v; want filled", ev.State, err)
	}
	stop, _ := e.last(executor.ClientOrderID("dec-1", "stop"))
	exit, _ := e.last(executor.ClientOrderID("dec-1", "exit"))
	if stop.State != schemas.OrderRejected || exit.State != schemas.OrderFilled || exit.Type != executor.TypeMarket || !exit.Quantity.Equal(d("0.00999")) {
		t.Fatalf("stop = %q, exit = %q %s %s; want stop rejected and a filled market exit of 0.00999", stop.State, exit.State, exit.Type, exit.Quantity)
	}
	if len(prots) != 1 || prots[0].Kind != executor.ProtClosed || !strings.Contains(prots[0].Reason, "trigger immediately") {
		t.Errorf("protection events = %+v; want one %s naming the refusal", prots, executor.ProtClosed)
	}
	if b := e.balance("BTC"); !b.Total().Equal(d("0")) {
		t.Errorf("BTC after the exit = %s; want 0", b.Total())
	}
	// Later polls do not sell again.
	x.Poll(bg)
	if _, ok := e.last(executor.ClientOrderID("dec-1", "exit.2")); ok {
		t.Errorf("a second exit was placed")
	}
}

func TestStopAndExitFailureReported(t *testing.T) {
	e := newEnv(t, nil)
	e.ex.setPlace(func(_ context.Context, req executor.OrderRequest, inner func() (executor.OrderReport, error)) (executor.OrderReport, error) {
		if req.Side == schemas.SideSell {
			return executor.OrderReport{}, &executor.Error{Kind: executor.KindRejected, Msg: "Market is closed."}
		}
		return inner()
	})
	var prots []executor.ProtectionEvent
	x := e.executor(e.store, func(o *executor.Options) {
		o.OnProtection = func(p executor.ProtectionEvent) { prots = append(prots, p) }
	})
	x.Place(bg, "dec-1", buyOrder("0.01", "51000", dp("47000")))
	x.Poll(bg)
	x.Poll(bg)
	if len(prots) != 1 || prots[0].Kind != executor.ProtExitFailed || !prots[0].Quantity.Equal(d("0.00999")) {
		t.Fatalf("protection events = %+v; want exactly one exit_failed for 0.00999", prots)
	}
	if _, ok := e.last(executor.ClientOrderID("dec-1", "exit.2")); ok {
		t.Errorf("a refused exit was retried automatically")
	}
}

func TestReconcileReportsForeignOrdersAndBalances(t *testing.T) {
	e := newEnv(t, nil)
	x := e.executor(e.store, nil)
	if _, err := x.Reconcile(bg); err != nil { // baseline
		t.Fatalf("Reconcile() error = %v", err)
	}
	ours, err := x.Place(bg, "dec-1", buyOrder("0.01", "49000", nil))
	if err != nil {
		t.Fatal(err)
	}
	manual := executor.OrderRequest{ClientOrderID: "web_manual_1", Symbol: btc, Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: d("0.01"), Price: d("48000")}
	ghost := executor.OrderRequest{ClientOrderID: executor.ClientOrderID("other-instance", "entry"), Symbol: btc, Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: d("0.01"), Price: d("30000")}
	for _, r := range []executor.OrderRequest{manual, ghost} {
		if _, err := e.paper.PlaceOrder(bg, r); err != nil {
			t.Fatal(err)
		}
	}
	e.feed(49000, 49000, 47900, 10) // fills ours and the manual order
	rep, err := x.Reconcile(bg)
	if err != nil {
		t.Fatalf("Reconcile() error = %v", err)
	}
	if last, _ := e.last(ours.ClientOrderID); last.State != schemas.OrderFilled {
		t.Errorf("our order after Reconcile = %q; want filled", last.State)
	}
	var foreign []string
	for _, o := range rep.Foreign {
		foreign = append(foreign, o.ClientOrderID)
	}
	if !reflect.DeepEqual(foreign, []string{ghost.ClientOrderID}) {
		t.Errorf("Foreign = %v; want only the still-open %s", foreign, ghost.ClientOrderID)
	}
	if r, _ := e.paper.FetchOrder(bg, btc, ghost.ClientOrderID); r.Status != schemas.OrderAcknowledged {
		t.Errorf("foreign order after Reconcile = %q; want left alone", r.Status)
	}
	// The manual fill moved BTC and USDT beyond what the journal implies.
	diffs := map[string]decimal.Decimal{}
	for _, bd := range rep.BalanceDiffs {
		diffs[bd.Asset] = bd.Diff
	}
	if !diffs["BTC"].Equal(d("0.00999")) || !diffs["USDT"].Equal(d("-480")) || len(diffs) != 2 {
		t.Errorf("BalanceDiffs = %+v; want BTC +0.00999 and USDT -480 (the manual order's fill)", rep.BalanceDiffs)
	}
	// Only our own activity since: no differences.
	x.Place(bg, "dec-2", buyOrder("0.01", "51000", nil))
	rep, err = x.Reconcile(bg)
	if err != nil || len(rep.BalanceDiffs) != 0 {
		t.Errorf("Reconcile() after our own fill = diffs %+v, %v; want none", rep.BalanceDiffs, err)
	}
}

func TestNewValidates(t *testing.T) {
	px, _ := paper.New(paper.DefaultConfig())
	if _, err := executor.New(nil, nil, executor.Options{}); err == nil {
		t.Errorf("New(nil, nil) error = nil; want error")
	}
	e := newEnv(t, nil)
	if _, err := executor.New(px, e.store, executor.Options{StopLimitOffset: d("1.5")}); err == nil {
		t.Errorf("New(StopLimitOffset 1.5) error = nil; want error")
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestConcurrentPlaceAndPoll(t *testing.T) {
	e := newEnv(t, func(c *paper.Config) { c.Balances["USDT"] = d("100000") })
	x := e.executor(e.store, func(o *executor.Options) { o.MaxOrdersPerMinute = 1000 })
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				dec := fmt.Sprintf("dec-%d-%d", g, i%3) // repeats: idempotent
				if _, err := x.Place(bg, dec, buyOrder("0.001", "49000", dp("47000"))); err != nil {
					t.Errorf("Place(%s) error = %v", dec, err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 5; i++ {
			if _, err := x.Poll(bg); err != nil {
				t.Errorf("Poll() error = %v", err)
			}
		}
	}()
	wg.Wait()
	if id, n := e.ex.maxSends(); n != 1 {
		t.Errorf("max sends = %d (%s); want every client id sent once", n, id)
	}
	open, _ := e.paper.OpenOrders(bg, btc)
	if len(open) != 12 {
		t.Errorf("open orders = %d; want 12 (4 goroutines × 3 decisions)", len(open))
	}
}

// TestNoBuyBesideAnUnresolvedBuy: while a buy of a symbol has no known
// outcome (lost in a timeout: it may be on the exchange), another buy of
// that symbol is refused without sending anything (it could take the
// position past its cap); once the first is resolved, buys go through
// again. (Sells are never held up: they only reduce.)
func TestNoBuyBesideAnUnresolvedBuy(t *testing.T) {
	e := newEnv(t, nil)
	lost := true
	e.ex.setPlace(func(_ context.Context, _ executor.OrderRequest, inner func() (executor.OrderReport, error)) (executor.OrderReport, error) {
		r, err := inner()
		if lost {
			return executor.OrderReport{}, errNet
		}
		return r, err
	})
	hidden := true // lookups do not find it yet
	e.ex.setFetch(func(string) error {
		if hidden {
			return &executor.Error{Kind: executor.KindNotFound, Code: "-2013", Msg: "Order does not exist."}
		}
		return nil
	})
	x := e.executor(e.store, nil)
	first, err := x.Place(bg, "dec-1", buyOrder("0.01", "49000", nil))
	if !errors.Is(err, executor.ErrOutcomeUnknown) {
		t.Fatalf("first buy = %q, %v; want unknown", first.State, err)
	}
	lost = false
	ev, err := x.Place(bg, "dec-2", buyOrder("0.01", "49000", nil))
	if !errors.Is(err, executor.ErrUnresolvedOrder) || ev.ClientOrderID != "" || !strings.Contains(err.Error(), first.ClientOrderID) {
		t.Fatalf("second buy beside the unknown one = %+v, %v; want ErrUnresolvedOrder naming it, nothing journaled", ev, err)
	}
	if n := e.ex.sends(executor.ClientOrderID("dec-2", executor.RoleEntry)); n != 0 {
		t.Fatalf("the refused buy was sent %d times", n)
	}
	// Resolved by the poll (the exchange has it): buys go through again.
	hidden = false
	if _, err := x.Poll(bg); err != nil {
		t.Fatal(err)
	}
	if last, _ := e.last(first.ClientOrderID); last.State == schemas.OrderUnknown {
		t.Fatalf("the first buy is still unknown after a poll that finds it")
	}
	if _, err := x.Place(bg, "dec-3", buyOrder("0.01", "49000", nil)); err != nil {
		t.Errorf("a buy after the first was resolved = %v", err)
	}
}

// TestStopIntentOfAnEntryNeverFilledIsClosed: a process killed after it
// journaled an entry and its stop, before sending either, leaves both as
// intents; the next poll records the entry as never sent, and the stop,
// which protects nothing, is closed with it instead of staying listed as
// an open order for ever.
func TestStopIntentOfAnEntryNeverFilledIsClosed(t *testing.T) {
	e := newEnv(t, nil)
	stop := d("48000")
	entry := schemas.OrderEvent{ClientOrderID: executor.ClientOrderID("dec-k9", executor.RoleEntry), DecisionID: "dec-k9", Role: executor.RoleEntry,
		State: schemas.OrderIntent, Symbol: btc, Side: schemas.SideBuy, Type: "limit", Quantity: d("0.01"), Price: d("49000"), StopPrice: stop, At: t0}
	pending := schemas.OrderEvent{ClientOrderID: executor.ClientOrderID("dec-k9", executor.RoleStop), DecisionID: "dec-k9", Role: executor.RoleStop,
		State: schemas.OrderIntent, Symbol: btc, Side: schemas.SideSell, Type: "stop_loss_limit", Quantity: d("0.01"), Price: d("47900"), StopPrice: stop, At: t0}
	for _, ev := range []schemas.OrderEvent{entry, pending} {
		if err := e.store.AppendOrderEvent(bg, ev); err != nil {
			t.Fatal(err)
		}
	}
	x := e.executor(e.store, nil)
	if _, err := x.Poll(bg); err != nil {
		t.Fatalf("Poll = %v", err)
	}
	for _, cid := range []string{entry.ClientOrderID, pending.ClientOrderID} {
		if last, _ := e.last(cid); last.State != schemas.OrderRejected {
			t.Errorf("%s after the poll: %s; want rejected (never sent)", cid, last.State)
		}
		if n := e.ex.sends(cid); n != 0 {
			t.Errorf("%s was sent %d times", cid, n)
		}
	}
	open, err := e.store.OpenOrderEvents(bg)
	if err != nil || len(open) != 0 {
		t.Errorf("open orders after the poll: %+v, %v; want none", open, err)
	}
}
