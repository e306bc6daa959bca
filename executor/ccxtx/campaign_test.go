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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/ccxtx/fakebinance"
	"github.com/warden-trading/warden/schemas"
)

// simClock is the executor's and the journal's clock. The fake exchange
// and ccxt's request signing keep real time (Binance checks timestamps);
// the executor's clock is advanced by hand so that its grace period for
// "never placed" can pass without the test waiting two minutes.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *simClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// dyingJournal is a process that dies: after `left` more writes every
// write fails, as if the process had been killed at that point.
type dyingJournal struct {
	executor.Journal
	mu   sync.Mutex
	left int
}

func (j *dyingJournal) AppendOrderEvent(ctx context.Context, ev schemas.OrderEvent) error {
	j.mu.Lock()
	dead := j.left <= 0
	j.left--
	j.mu.Unlock()
	if dead {
		return errors.New("process killed")
	}
	return j.Journal.AppendOrderEvent(ctx, ev)
}

// errLog collects every error text the campaign sees, for the canary.
type errLog struct {
	mu sync.Mutex
	b  strings.Builder
	n  int
}

func (l *errLog) add(err error) {
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(err.Error())
	l.b.WriteByte('\n')
	l.n++
}

// TestFaultCampaign places many approved orders through the real executor,
// the real ccxt Binance class and a fake Binance that injects random
// faults, with simulated process deaths and restarts over one SQLite
// journal. Afterwards: no client order id was placed twice on the
// exchange, every order has a settled local state that agrees with the
// exchange, and the secret canary appears in no log, no error text and no
// byte of the database.
func TestFaultCampaign(t *testing.T) {
	if testing.Short() {
		t.Skip("fault campaign skipped in -short mode")
	}
	const orders = 200
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("WARDEN_CAMPAIGN_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("campaign seed %d (set WARDEN_CAMPAIGN_SEED to replay)", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	r := newRig(t, fakebinance.Options{
		HangLimit: 400 * time.Millisecond,
		Balances:  map[string]string{"USDT": "10000000", "BTC": "100", "ETH": "1000"},
	}, nil)
	logs := r.logs
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := &simClock{t: time.Now().UTC()}
	dbPath := filepath.Join(t.TempDir(), "warden.db")
	errs := &errLog{}

	var store *audit.Store
	var x *executor.Executor
	restarts, deaths, aborts := 0, 0, 0
	open := func(j func(*audit.Store) executor.Journal) {
		t.Helper()
		if store != nil {
			if err := store.Close(); err != nil {
				t.Fatalf("closing the journal: %v", err)
			}
		}
		var err error
		store, err = audit.Open(context.Background(), dbPath, audit.Options{Clock: clk.Now, Logger: logger})
		if err != nil {
			t.Fatalf("audit.Open() = %v", err)
		}
		var journal executor.Journal = store
		if j != nil {
			journal = j(store)
		}
		// a new process has a new ccxt instance too (no cached markets,
		// no cached order ids)
		ex, err := New(Config{Exchange: "binance", Credentials: NewCredentials(canaryKey, canarySecret), BaseURL: r.srv.URL, RateLimit: time.Millisecond}, logger)
		if err != nil {
			t.Fatalf("New() = %v", err)
		}
		x, err = executor.New(ex, journal, executor.Options{
			Logger: logger, Clock: clk.Now,
			SubmitTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond,
			ReadAttempts: 3, ReadBackoff: 10 * time.Millisecond,
			MaxOrdersPerMinute: 1000000,
		})
		if err != nil {
			t.Fatalf("executor.New() = %v", err)
		}
	}
	restart := func() {
		restarts++
		open(nil)
		_, err := x.Reconcile(context.Background())
		errs.add(err)
	}
	open(nil)
	if _, err := x.Reconcile(context.Background()); err != nil {
		t.Fatalf("first Reconcile() = %v", err)
	}

	postFaults := []fakebinance.Fault{
		{Kind: fakebinance.FaultUnavailable}, {Kind: fakebinance.FaultAcceptUnavailable},
		{Kind: fakebinance.FaultRateLimit, RetryAfter: time.Second}, {Kind: fakebinance.FaultBan, RetryAfter: 2 * time.Second},
		{Kind: fakebinance.FaultTimestamp}, {Kind: fakebinance.FaultInsufficient}, {Kind: fakebinance.FaultFilter, Filter: "NOTIONAL"},
		{Kind: fakebinance.FaultHang}, {Kind: fakebinance.FaultDrop}, {Kind: fakebinance.FaultAcceptDrop},
		{Kind: fakebinance.FaultAcceptHang}, {Kind: fakebinance.FaultPartialFills, Polls: 3},
		{Kind: fakebinance.FaultLateVisible, Polls: 2}, {Kind: fakebinance.FaultLateVisible, Polls: 1},
		{Kind: fakebinance.FaultMaintenance},
	}
	getFaults := []fakebinance.Fault{{Kind: fakebinance.FaultUnavailable}, {Kind: fakebinance.FaultDrop}, {Kind: fakebinance.FaultHang}}
	cancelFaults := []fakebinance.Fault{{Kind: fakebinance.FaultUnavailable}, {Kind: fakebinance.FaultAcceptUnavailable},
		{Kind: fakebinance.FaultDrop}, {Kind: fakebinance.FaultAcceptDrop}, {Kind: fakebinance.FaultAcceptHang}, {Kind: fakebinance.FaultRateLimit},
		{Kind: fakebinance.FaultMaintenance}}
	readPaths := []string{"/api/v3/openOrders", "/api/v3/account", "/api/v3/myTrades", "/api/v3/exchangeInfo"}

	type placed struct {
		decision string
		cid      string
		order    schemas.Order
	}
	var all []placed
	nextRestart := 10 + rng.IntN(20)
	for i := range orders {
		// one random fault for the next order POST (an entry, or a stop
		// or exit the executor sends for an earlier fill)
		if rng.Float64() < 0.6 {
			f := postFaults[rng.IntN(len(postFaults))]
			f.Method, f.Path = http.MethodPost, "/api/v3/order"
			if err := r.fake.Inject(f); err != nil {
				t.Fatal(err)
			}
		}
		if rng.Float64() < 0.15 {
			f := getFaults[rng.IntN(len(getFaults))]
			f.Method, f.Path = http.MethodGet, "/api/v3/order"
			if err := r.fake.Inject(f); err != nil {
				t.Fatal(err)
			}
		}

		if rng.Float64() < 0.1 {
			f := cancelFaults[rng.IntN(len(cancelFaults))]
			f.Method, f.Path = http.MethodDelete, "/api/v3/order"
			if err := r.fake.Inject(f); err != nil {
				t.Fatal(err)
			}
		}
		if rng.Float64() < 0.05 {
			f := getFaults[rng.IntN(len(getFaults))]
			f.Method, f.Path = http.MethodGet, readPaths[rng.IntN(len(readPaths))]
			if err := r.fake.Inject(f); err != nil {
				t.Fatal(err)
			}
		}

		p := placed{decision: fmt.Sprintf("campaign-%d-%03d", seed, i)}
		p.cid = executor.ClientOrderID(p.decision, executor.RoleEntry)
		switch u := rng.Float64(); {
		case u < 0.45: // marketable BTC buy with a protective stop
			sl := d("70000")
			p.order = schemas.Order{Symbol: btcusdt, Side: schemas.SideBuy, Type: schemas.OrderLimit, Quantity: d("0.001"), Price: d("75000"), StopLoss: &sl}
		case u < 0.65: // marketable ETH buy
			p.order = schemas.Order{Symbol: "ETH/USDT", Side: schemas.SideBuy, Type: schemas.OrderLimit, Quantity: d("0.01"), Price: d("3900")}
		case u < 0.8: // marketable ETH sell
			p.order = schemas.Order{Symbol: "ETH/USDT", Side: schemas.SideSell, Type: schemas.OrderLimit, Quantity: d("0.01"), Price: d("3700")}
		case u < 0.9: // resting BTC buy with a stop, filled later in pieces
			sl := d("58000")
			p.order = schemas.Order{Symbol: btcusdt, Side: schemas.SideBuy, Type: schemas.OrderLimit, Quantity: d("0.002"), Price: d("60000"), StopLoss: &sl}
		default: // market buy
			p.order = schemas.Order{Symbol: "ETH/USDT", Side: schemas.SideBuy, Type: schemas.OrderMarket, Quantity: d("0.01")}
		}
		all = append(all, p)

		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if rng.Float64() < 0.05 { // the caller gives up mid-placement
			aborts++
			ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(250))*time.Millisecond)
		}
		if rng.Float64() < 0.05 { // the process dies after a few journal writes
			deaths++
			left := rng.IntN(7)
			open(func(s *audit.Store) executor.Journal { return &dyingJournal{Journal: s, left: left} })
			_, err := x.Place(ctx, p.decision, p.order)
			errs.add(err)
			cancel()
			restart()
		} else {
			_, err := x.Place(ctx, p.decision, p.order)
			errs.add(err)
			cancel()
		}
		if rng.Float64() < 0.05 { // a replay of an earlier decision (a retry by the caller)
			old := all[rng.IntN(len(all))]
			_, err := x.Place(context.Background(), old.decision, old.order)
			errs.add(err)
		}
		// a counterparty trades part of a resting order
		if rng.Float64() < 0.3 {
			for _, o := range r.fake.Orders() {
				if o.Open() && o.Type == "LIMIT" && o.Price.Equal(d("60000")) {
					_ = r.fake.FillOrder(o.ClientOrderID, "0.001")
					break
				}
			}
		}
		clk.Advance(time.Duration(5+rng.IntN(40)) * time.Second)
		if i%7 == 6 {
			_, err := x.Poll(context.Background())
			errs.add(err)
		}
		if i == nextRestart {
			restart()
			nextRestart = i + 10 + rng.IntN(20)
		}
	}

	// The storm ends; one more restart, then reconcile until settled.
	faultsInjected := r.fake.FaultsServed()
	r.fake.ClearFaults()
	restart()
	var rep executor.Report
	for round := 0; ; round++ {
		clk.Advance(time.Minute)
		var err error
		rep, err = x.Reconcile(context.Background())
		errs.add(err)
		if err == nil && len(rep.Unknown) == 0 {
			break
		}
		if round == 20 {
			t.Fatalf("still unsettled after %d reconciliations: unknown %d, last error %v", round, len(rep.Unknown), err)
		}
	}

	// 1. Nothing placed twice.
	if dup := r.fake.Duplicates(); len(dup) > 0 {
		t.Errorf("client order ids placed more than once on the exchange: %v", dup)
	}
	// 2. Every exchange order is journaled, in a state that agrees.
	exOrders := r.fake.Orders()
	onExchange := map[string]fakebinance.Order{}
	for _, o := range exOrders {
		onExchange[o.ClientOrderID] = o
		ev, ok, err := store.LastOrderEvent(context.Background(), o.ClientOrderID)
		if err != nil || !ok {
			t.Errorf("exchange order %s (%s %s) is not in the journal (%v)", o.ClientOrderID, o.Side, o.Symbol, err)
			continue
		}
		want := map[string][]schemas.OrderState{
			"NEW":              {schemas.OrderAcknowledged},
			"PARTIALLY_FILLED": {schemas.OrderPartiallyFilled, schemas.OrderAcknowledged},
			"FILLED":           {schemas.OrderFilled},
			"CANCELED":         {schemas.OrderCancelled},
		}[o.Status]
		okState := false
		for _, s := range want {
			okState = okState || ev.State == s
		}
		if !okState {
			t.Errorf("order %s: exchange %s (filled %s), journal %s (filled %s)", o.ClientOrderID, o.Status, o.ExecutedQty, ev.State, ev.FilledQty)
		}
		if o.Status == "FILLED" && !ev.FilledQty.Equal(o.ExecutedQty) {
			t.Errorf("order %s: journal filled %s; exchange %s", o.ClientOrderID, ev.FilledQty, o.ExecutedQty)
		}
	}
	// 3. Every decision's entry has a settled state; a rejected one is
	// not on the exchange.
	states := map[schemas.OrderState]int{}
	for _, p := range all {
		ev, ok, err := store.LastOrderEvent(context.Background(), p.cid)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			// the process died before its intent was written: then it must
			// never have been sent
			states["never journaled"]++
			if n := r.fake.Submits(p.cid); n > 0 {
				t.Errorf("decision %s: entry %s not journaled but sent %d times", p.decision, p.cid, n)
			}
			continue
		}
		states[ev.State]++
		switch ev.State {
		case schemas.OrderIntent, schemas.OrderSubmitted, schemas.OrderUnknown:
			t.Errorf("entry %s left %s after reconciliation", p.cid, ev.State)
		case schemas.OrderRejected:
			if o, ok := onExchange[p.cid]; ok {
				t.Errorf("entry %s journaled rejected (%s) but on the exchange as %s", p.cid, ev.Reason, o.Status)
			}
		}
	}
	openEvs, err := store.OpenOrderEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range openEvs {
		if o, ok := onExchange[ev.ClientOrderID]; !ok || !o.Open() {
			t.Errorf("journal has %s (%s) open as %s, exchange has %+v", ev.ClientOrderID, ev.Role, ev.State, o)
		}
	}
	if len(rep.Mismatches) > 0 || len(rep.Foreign) > 0 {
		t.Errorf("final Reconcile: mismatches %v, foreign %v; want none", rep.Mismatches, rep.Foreign)
	}

	// 4. The canary: logs, error texts, database bytes.
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	store = nil
	assertNoCanary(t, "logs", logs.String())
	assertNoCanary(t, "error texts", errs.b.String())
	assertNoSignature(t, "logs", logs.String())
	assertNoSignature(t, "error texts", errs.b.String())
	files, _ := filepath.Glob(dbPath + "*")
	if len(files) == 0 {
		t.Fatal("no database file")
	}
	var dbBytes int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dbBytes += len(b)
		assertNoCanary(t, "database file "+filepath.Base(f), string(b))
		assertNoSignature(t, "database file "+filepath.Base(f), string(b))
	}

	total := 0
	var kinds []string
	for k, n := range faultsInjected {
		total += n
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	byType := map[string]int{}
	for _, o := range exOrders {
		byType[o.Type+"/"+o.Status]++
	}
	t.Logf("fault campaign: %d decisions, %d exchange orders, 0 duplicates; %d injected faults survived (%s), "+
		"%d process deaths, %d restarts, %d caller aborts = %d faults in all; entry states %v; exchange orders %v; %d errors seen, %d log bytes, %d db bytes scanned",
		orders, len(exOrders), total, strings.Join(kinds, " "), deaths, restarts, aborts, total+deaths+restarts+aborts, states, byType, errs.n, len(logs.String()), dbBytes)
}
