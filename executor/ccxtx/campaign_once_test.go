package ccxtx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/ccxtx/fakebinance"
	"github.com/warden-trading/warden/schemas"
)

// killableJournal is the journal of a process that can be killed: once
// armed, it lets `left` more writes through and then fails every write,
// as if the process had died at that point. It keeps every method of the
// store (the executor finds the order history through it).
type killableJournal struct {
	*audit.Store
	mu    sync.Mutex
	armed bool
	left  int
}

func (j *killableJournal) arm(left int) {
	j.mu.Lock()
	j.armed, j.left = true, left
	j.mu.Unlock()
}

func (j *killableJournal) dead() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.armed && j.left < 0
}

func (j *killableJournal) AppendOrderEvent(ctx context.Context, ev schemas.OrderEvent) error {
	j.mu.Lock()
	if j.armed {
		j.left--
		if j.left < 0 {
			j.mu.Unlock()
			return errors.New("process killed")
		}
	}
	j.mu.Unlock()
	return j.Store.AppendOrderEvent(ctx, ev)
}

// TestFaultCampaignOnce runs the executor the way cron runs `warden run
// --once`: every cycle is a new process (a new SQLite store on the same
// file, a new ccxt instance, a new executor; nothing in memory survives)
// that reconciles and then places one decision, against the fake Binance
// through the real ccxt client, with random faults on every kind of
// request and processes killed inside placement (after 0–6 journal
// writes). Between cycles the simulated clock moves 20 s to 3 min.
//
// At the end: no client order id was placed twice; no order is unknown
// longer than the grace period; no BTC position at or above the minimum
// order is without a stop (the BTC that no order locks is only the
// sub-step rounding of each protected fill, plus positions whose stop and
// exit were both refused, which wait for an operator by design); and an
// idle cycle makes the same small number of exchange calls at the end as
// at the start, however long the journal has grown.
//
// WARDEN_CAMPAIGN_ONCE_CYCLES sets the number of cycles (default 40;
// `go test -run TestFaultCampaignOnce -v` prints the figures);
// WARDEN_CAMPAIGN_SEED replays a run, and WARDEN_CAMPAIGN_SEED=random
// runs one from the clock.
//
// By default it runs six fixed seeds: three that passed all along, and
// three that, before the free balance of a symbol was shared out among the
// decisions to protect (executor's allocate), ended with BTC free and
// unprotected or a stop left pending, kept as regression tests:
//   - 1796620602658908893: a decision a sell had been charged to grew back
//     to all it had bought and took the BTC of a later fill, whose pending
//     stop then found nothing free (the stop just sent for the first, its
//     outcome unknown, was taken off the free balance twice) and was
//     closed; when that stop turned out never placed, nothing protected
//     the BTC it had held.
//   - 1796620679405290138: the same taking over, and a process killed
//     between closing a pending stop and journaling its replacement, which
//     left the position with no order open and out of view.
//   - 1796620674398097020: after such taking over, a decision's share was
//     below the minimum order while what it held was not, and its pending
//     stop stayed pending for good.
func TestFaultCampaignOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("fault campaign skipped in -short mode")
	}
	cycles := 40
	if s := os.Getenv("WARDEN_CAMPAIGN_ONCE_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("WARDEN_CAMPAIGN_ONCE_CYCLES=%q: want a positive number", s)
		}
		cycles = n
	}
	seeds := []uint64{1796620003380824364, 42, 7, 1796620602658908893, 1796620679405290138, 1796620674398097020}
	switch s := os.Getenv("WARDEN_CAMPAIGN_SEED"); s {
	case "":
	case "random":
		seeds = []uint64{uint64(time.Now().UnixNano())}
	default:
		var seed uint64
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("WARDEN_CAMPAIGN_SEED=%q: want a number or random", s)
		}
		seeds = []uint64{seed}
	}
	for _, seed := range seeds {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) { faultCampaignOnce(t, seed, cycles) })
	}
}

func faultCampaignOnce(t *testing.T, seed uint64, cycles int) {
	t.Logf("campaign seed %d (set WARDEN_CAMPAIGN_SEED to replay)", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	const grace = 2 * time.Minute
	r := newRig(t, fakebinance.Options{
		HangLimit: 400 * time.Millisecond,
		// No BTC but what the executor buys: every BTC the account holds
		// is a position the executor must protect.
		Balances: map[string]string{"USDT": "10000000", "BTC": "0", "ETH": "1000"},
	}, nil)
	logs := r.logs
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := &simClock{t: time.Now().UTC()}
	dbPath := filepath.Join(t.TempDir(), "warden.db")
	errs := &errLog{}

	type process struct {
		store *audit.Store
		j     *killableJournal
		ex    *Exchange
		x     *executor.Executor
	}
	// start is one `warden run --once`: it opens everything anew.
	start := func() process {
		t.Helper()
		store, err := audit.Open(context.Background(), dbPath, audit.Options{Clock: clk.Now, Logger: logger})
		if err != nil {
			t.Fatalf("audit.Open() = %v", err)
		}
		j := &killableJournal{Store: store}
		ex, err := New(Config{Exchange: "binance", Credentials: NewCredentials(canaryKey, canarySecret), BaseURL: r.srv.URL, RateLimit: time.Millisecond}, logger)
		if err != nil {
			t.Fatalf("New() = %v", err)
		}
		x, err := executor.New(ex, j, executor.Options{
			Logger: logger, Clock: clk.Now,
			SubmitTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond,
			ReadAttempts: 3, ReadBackoff: 10 * time.Millisecond,
			NotFoundLookups: 3, NotFoundGrace: grace,
			MaxOrdersPerMinute: 1000000,
		})
		if err != nil {
			t.Fatalf("executor.New() = %v", err)
		}
		return process{store, j, ex, x}
	}
	// stop ends a process as `warden run --once` ends: it waits for the
	// replies to orders sent without one in time and journals them, then
	// closes the store. A process killed inside placement does neither.
	stop := func(p process) {
		t.Helper()
		if !p.j.dead() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := p.x.Wait(ctx); err != nil {
				t.Errorf("waiting for late replies: %v", err)
			}
			cancel()
		}
		if err := p.store.Close(); err != nil {
			t.Fatalf("closing the store: %v", err)
		}
	}
	requests := func() int { return len(r.fake.Requests()) }
	// idle runs one process that only reconciles and reports how many
	// requests it made and whether it changed nothing.
	idle := func() (calls int, quiet bool) {
		t.Helper()
		p := start()
		defer stop(p)
		before := requests()
		rep, err := p.x.Reconcile(context.Background())
		errs.add(err)
		return requests() - before, err == nil && len(rep.Events) == 0 && len(rep.Unknown) == 0
	}
	var idleCalls []int
	measureIdle := func() {
		t.Helper()
		r.fake.ClearFaults()
		for range 6 {
			clk.Advance(time.Minute)
			if n, quiet := idle(); quiet {
				idleCalls = append(idleCalls, n)
				return
			}
		}
		t.Errorf("no quiet --once cycle within 6 clean cycles after %d cycles", len(idleCalls))
	}

	postFaults := []fakebinance.Fault{
		{Kind: fakebinance.FaultUnavailable}, {Kind: fakebinance.FaultAcceptUnavailable},
		{Kind: fakebinance.FaultRateLimit, RetryAfter: time.Second}, {Kind: fakebinance.FaultTimestamp},
		{Kind: fakebinance.FaultInsufficient}, {Kind: fakebinance.FaultFilter, Filter: "NOTIONAL"},
		{Kind: fakebinance.FaultHang}, {Kind: fakebinance.FaultDrop}, {Kind: fakebinance.FaultAcceptDrop},
		{Kind: fakebinance.FaultAcceptHang}, {Kind: fakebinance.FaultPartialFills, Polls: 3},
		// An accepted order kept from lookups: at most NotFoundLookups-1
		// of them, the executor's premise (an order the exchange accepted
		// shows within the grace). Longer, it is held unknown only by the
		// late reply, which a process killed before it never gets; that
		// case is TestLateReplyJournaledForTheNextProcess (executor).
		{Kind: fakebinance.FaultLateVisible, Polls: 1}, {Kind: fakebinance.FaultLateVisible, Polls: 2},
	}
	getFaults := []fakebinance.Fault{{Kind: fakebinance.FaultUnavailable}, {Kind: fakebinance.FaultDrop}, {Kind: fakebinance.FaultHang}}
	cancelFaults := []fakebinance.Fault{{Kind: fakebinance.FaultUnavailable}, {Kind: fakebinance.FaultAcceptUnavailable},
		{Kind: fakebinance.FaultDrop}, {Kind: fakebinance.FaultAcceptDrop}, {Kind: fakebinance.FaultAcceptHang}}
	readPaths := []string{"/api/v3/openOrders", "/api/v3/account", "/api/v3/exchangeInfo"}
	inject := func(f fakebinance.Fault, method, path string) {
		f.Method, f.Path = method, path
		if err := r.fake.Inject(f); err != nil {
			t.Fatal(err)
		}
	}

	type placed struct {
		decision string
		cid      string
		order    schemas.Order
	}
	var all []placed
	kills, aborts := 0, 0
	for i := range cycles {
		clk.Advance(time.Duration(20+rng.IntN(160)) * time.Second)
		if i == 5 || (i > 5 && i%25 == 0) {
			measureIdle()
		}
		p := start()
		_, err := p.x.Reconcile(context.Background())
		errs.add(err)

		if rng.Float64() < 0.6 {
			inject(postFaults[rng.IntN(len(postFaults))], http.MethodPost, "/api/v3/order")
		}
		if rng.Float64() < 0.15 {
			inject(getFaults[rng.IntN(len(getFaults))], http.MethodGet, "/api/v3/order")
		}
		if rng.Float64() < 0.1 {
			inject(cancelFaults[rng.IntN(len(cancelFaults))], http.MethodDelete, "/api/v3/order")
		}
		if rng.Float64() < 0.05 {
			inject(getFaults[rng.IntN(len(getFaults))], http.MethodGet, readPaths[rng.IntN(len(readPaths))])
		}

		pl := placed{decision: fmt.Sprintf("once-%d-%03d", seed, i)}
		pl.cid = executor.ClientOrderID(pl.decision, executor.RoleEntry)
		sl := d("70000")
		switch u := rng.Float64(); {
		case u < 0.45: // marketable BTC buy with a protective stop
			pl.order = schemas.Order{Symbol: btcusdt, Side: schemas.SideBuy, Type: schemas.OrderLimit, Quantity: d("0.001"), Price: d("75000"), StopLoss: &sl}
		case u < 0.55: // resting BTC buy with a stop, filled later in pieces
			low := d("58000")
			pl.order = schemas.Order{Symbol: btcusdt, Side: schemas.SideBuy, Type: schemas.OrderLimit, Quantity: d("0.002"), Price: d("60000"), StopLoss: &low}
		case u < 0.75: // marketable BTC sell: releases the stops it sells
			pl.order = schemas.Order{Symbol: btcusdt, Side: schemas.SideSell, Type: schemas.OrderLimit, Quantity: d("0.0005"), Price: d("72000")}
		case u < 0.85: // resting BTC sell
			pl.order = schemas.Order{Symbol: btcusdt, Side: schemas.SideSell, Type: schemas.OrderLimit, Quantity: d("0.0005"), Price: d("90000")}
		default: // ETH, unprotected
			pl.order = schemas.Order{Symbol: "ETH/USDT", Side: schemas.SideBuy, Type: schemas.OrderMarket, Quantity: d("0.01")}
		}
		all = append(all, pl)

		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if rng.Float64() < 0.05 { // the scheduler's timeout ends the cycle mid-placement
			aborts++
			ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(250))*time.Millisecond)
		}
		if rng.Float64() < 0.3 { // kill -9 inside placement
			kills++
			p.j.arm(rng.IntN(7))
		}
		_, err = p.x.Place(ctx, pl.decision, pl.order)
		errs.add(err)
		cancel()
		if !p.j.dead() && rng.Float64() < 0.05 { // the caller retries an earlier decision
			old := all[rng.IntN(len(all))]
			_, err := p.x.Place(context.Background(), old.decision, old.order)
			errs.add(err)
		}
		stop(p)
		if rng.Float64() < 0.3 { // a counterparty trades part of a resting buy
			for _, o := range r.fake.Orders() {
				if o.Open() && o.Type == "LIMIT" && o.Price.Equal(d("60000")) {
					_ = r.fake.FillOrder(o.ClientOrderID, "0.001")
					break
				}
			}
		}
	}
	faultsInjected := r.fake.FaultsServed()

	// The storm ends. Clean --once cycles a minute apart: within the grace
	// period plus three lookups every unknown order is settled.
	r.fake.ClearFaults()
	settled := -1
	for k := range 5 {
		clk.Advance(time.Minute)
		p := start()
		rep, err := p.x.Reconcile(context.Background())
		errs.add(err)
		stop(p)
		if err == nil && len(rep.Unknown) == 0 {
			settled = k + 1
			break
		}
	}
	if settled < 0 {
		t.Errorf("unknown orders left after 5 clean --once cycles a minute apart")
	}
	measureIdle()

	final := start()
	defer stop(final)
	ctx := context.Background()
	// 1. Nothing placed twice.
	if dup := r.fake.Duplicates(); len(dup) > 0 {
		t.Errorf("client order ids placed more than once on the exchange: %v", dup)
	}
	// 2. No order unknown past the grace period; no intent left behind by
	// a protection that was settled.
	open, err := final.store.OpenOrderEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	onExchange := map[string]fakebinance.Order{}
	for _, o := range r.fake.Orders() {
		onExchange[o.ClientOrderID] = o
	}
	intents := 0
	for _, ev := range open {
		switch ev.State {
		case schemas.OrderSubmitted, schemas.OrderUnknown:
			t.Errorf("order %s (%s %s) still %s after the campaign", ev.ClientOrderID, ev.Role, ev.Side, ev.State)
		case schemas.OrderIntent:
			intents++
		default:
			if o, ok := onExchange[ev.ClientOrderID]; !ok || !o.Open() {
				t.Errorf("journal has %s (%s) open as %s; exchange has %+v", ev.ClientOrderID, ev.Role, ev.State, o)
			}
		}
	}
	// 3. Every BTC position at or above the minimum order has a stop: the
	// BTC no order locks is at most the sub-step rounding of each
	// protected fill and one minimum order, plus what waits for an
	// operator because its stop and its exit were both refused.
	m := executor.Market{}
	if ms, err := final.ex.Markets(ctx); err == nil {
		m = ms[btcusdt]
	} else {
		t.Fatal(err)
	}
	protected, operator := 0, decimal.Zero
	for _, pl := range all {
		if pl.order.StopLoss == nil {
			continue
		}
		ev, ok, err := final.store.LastOrderEvent(ctx, pl.cid)
		if err != nil || !ok || ev.FilledQty.IsZero() {
			continue
		}
		protected++
		if x, ok, _ := final.store.LastOrderEvent(ctx, executor.ClientOrderID(pl.decision, "exit")); ok && x.State == schemas.OrderRejected {
			operator = operator.Add(ev.FilledQty)
		}
	}
	free, locked := r.fake.Balance("BTC")
	minQty := executor.FloorToStep(m.MinNotional.Div(d("73369.83")), m.AmountStep).Add(m.AmountStep)
	allowed := m.AmountStep.Mul(decimal.NewFromInt(int64(protected))).Add(minQty).Add(operator)
	if free.GreaterThan(allowed) {
		t.Errorf("BTC free (held, no stop) = %s, locked %s; want at most %s (%d protected fills × step %s + one minimum order %s + %s awaiting an operator)",
			free, locked, allowed, protected, m.AmountStep, minQty, operator)
	}
	// Protection left pending (journaled, not sent) only while a sell
	// that may sell the position rests.
	restingSell := false
	for _, o := range r.fake.Orders() {
		restingSell = restingSell || o.Open() && o.Side == "SELL" && o.Type == "LIMIT"
	}
	if intents > 0 && !restingSell {
		t.Errorf("%d orders left in intent with no sell resting; want none", intents)
	}
	// 4. The exchange calls of an idle cycle do not grow with the journal:
	// one market load, one open-orders list, one balance read at most.
	if len(idleCalls) < 2 {
		t.Errorf("idle cycles measured: %v; want one at the start and one at the end", idleCalls)
	}
	for _, n := range idleCalls {
		if n > 3 {
			t.Errorf("exchange calls per idle --once cycle %v; want at most 3 each", idleCalls)
			break
		}
	}
	// 5. The canary.
	assertNoCanary(t, "error texts", errs.b.String())
	assertNoSignature(t, "error texts", errs.b.String())

	var kinds []string
	total := 0
	for k, n := range faultsInjected {
		total += n
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	byType := map[string]int{}
	for _, o := range r.fake.Orders() {
		byType[o.Type+"/"+o.Status]++
	}
	t.Logf("--once fault campaign: %d cycles (each a new process), %d decisions, %d exchange orders, 0 duplicates; "+
		"%d injected faults (%s), %d kills inside placement, %d scheduler aborts; settled after %d clean cycles; "+
		"exchange calls per idle cycle %v (start → end); exchange orders %v; BTC free %s locked %s over %d protected fills; %d intents open; %d errors seen",
		cycles, len(all), len(r.fake.Orders()), total, strings.Join(kinds, " "), kills, aborts, settled,
		idleCalls, byType, free, locked, protected, intents, errs.n)
}
