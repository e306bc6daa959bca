package executor_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/schemas"
)

var (
	d   = decimal.RequireFromString
	t0  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	btc = "BTC/USDT"
)

func dp(s string) *decimal.Decimal { v := d(s); return &v }

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(dur time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(dur)
	c.mu.Unlock()
}

// openStore opens the real SQLite audit store at path.
func openStore(t *testing.T, path string, clk *clock) *audit.Store {
	t.Helper()
	s, err := audit.Open(context.Background(), path, audit.Options{Clock: clk.Now})
	if err != nil {
		t.Fatalf("audit.Open(%q) error = %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// env is one test world: a paper exchange behind a fault-injecting
// wrapper, a real SQLite journal and a clock.
type env struct {
	t     *testing.T
	clk   *clock
	paper *paper.Exchange
	ex    *faultEx
	path  string
	store *audit.Store
	min   int // minutes of candles fed
}

func newEnv(t *testing.T, mod func(*paper.Config)) *env {
	t.Helper()
	cfg := paper.DefaultConfig()
	cfg.SlippageBps = 0
	if mod != nil {
		mod(&cfg)
	}
	px, err := paper.New(cfg)
	if err != nil {
		t.Fatalf("paper.New() error = %v", err)
	}
	e := &env{t: t, clk: &clock{t: t0}, paper: px}
	e.ex = &faultEx{Exchange: px, placed: map[string]int{}}
	e.path = filepath.Join(t.TempDir(), "audit.db")
	e.store = openStore(t, e.path, e.clk)
	e.feed(50000, 50000, 50000, 100)
	return e
}

// feed advances the market (and the test clock) by one minute.
func (e *env) feed(open, high, low, vol float64) {
	e.t.Helper()
	e.min++
	c := executor.Candle{Time: t0.Add(time.Duration(e.min) * time.Minute), Open: open, High: high, Low: low, Close: (high + low) / 2, Volume: vol}
	if err := e.paper.OnCandle(btc, c); err != nil {
		e.t.Fatalf("OnCandle() error = %v", err)
	}
	e.clk.Advance(time.Minute)
}

func (e *env) opts() executor.Options {
	return executor.Options{
		Clock:         e.clk.Now,
		SubmitTimeout: 200 * time.Millisecond,
		ReadBackoff:   time.Millisecond,
		ReadTimeout:   time.Second,
	}
}

func (e *env) executor(j executor.Journal, mod func(*executor.Options)) *executor.Executor {
	e.t.Helper()
	o := e.opts()
	if mod != nil {
		mod(&o)
	}
	x, err := executor.New(e.ex, j, o)
	if err != nil {
		e.t.Fatalf("executor.New() error = %v", err)
	}
	return x
}

func (e *env) history(cid string) []schemas.OrderState {
	e.t.Helper()
	h, err := e.store.OrderHistory(context.Background(), cid)
	if err != nil {
		e.t.Fatalf("OrderHistory(%s) error = %v", cid, err)
	}
	var out []schemas.OrderState
	for _, ev := range h {
		out = append(out, ev.State)
	}
	return out
}

func (e *env) last(cid string) (schemas.OrderEvent, bool) {
	e.t.Helper()
	ev, ok, err := e.store.LastOrderEvent(context.Background(), cid)
	if err != nil {
		e.t.Fatalf("LastOrderEvent(%s) error = %v", cid, err)
	}
	return ev, ok
}

func (e *env) balance(asset string) executor.Balance {
	e.t.Helper()
	b, err := e.paper.Balances(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return b[asset]
}

// liveStops are the stop orders open on the exchange.
func (e *env) liveStops() []executor.OrderReport {
	e.t.Helper()
	open, err := e.paper.OpenOrders(context.Background(), btc)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []executor.OrderReport
	for _, o := range open {
		if o.Type == executor.TypeStopLossLimit {
			out = append(out, o)
		}
	}
	return out
}

func buyOrder(qty, price string, stop *decimal.Decimal) schemas.Order {
	return schemas.Order{Symbol: btc, Side: schemas.SideBuy, Type: schemas.OrderLimit, Quantity: d(qty), Price: d(price), StopLoss: stop}
}

// faultEx wraps an exchange to inject faults into PlaceOrder and
// FetchOrder and to count how often each client id was sent.
type faultEx struct {
	executor.Exchange
	mu     sync.Mutex
	placed map[string]int
	// place, when set, replaces PlaceOrder; inner calls the real one.
	place func(ctx context.Context, req executor.OrderRequest, inner func() (executor.OrderReport, error)) (executor.OrderReport, error)
	// fetch, when set, runs before FetchOrder; a non-nil error is returned.
	fetch func(cid string) error
	// balances, when set, runs before Balances; a non-nil error is returned.
	balances func() error
	calls    map[string]int // exchange calls by method
}

func (f *faultEx) count(method string) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[method]++
	f.mu.Unlock()
}

// callCount returns the calls made so far, by method, and in all.
func (f *faultEx) callCount() (map[string]int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out, n := map[string]int{}, 0
	for k, v := range f.calls {
		out[k] = v
		n += v
	}
	return out, n
}

func (f *faultEx) Balances(ctx context.Context) (map[string]executor.Balance, error) {
	f.count("Balances")
	f.mu.Lock()
	hook := f.balances
	f.mu.Unlock()
	if hook != nil {
		if err := hook(); err != nil {
			return nil, err
		}
	}
	return f.Exchange.Balances(ctx)
}

func (f *faultEx) Markets(ctx context.Context) (map[string]executor.Market, error) {
	f.count("Markets")
	return f.Exchange.Markets(ctx)
}

func (f *faultEx) OpenOrders(ctx context.Context, symbol string) ([]executor.OrderReport, error) {
	f.count("OpenOrders")
	return f.Exchange.OpenOrders(ctx, symbol)
}

func (f *faultEx) CancelOrder(ctx context.Context, symbol, cid string) (executor.OrderReport, error) {
	f.count("CancelOrder")
	return f.Exchange.CancelOrder(ctx, symbol, cid)
}

func (f *faultEx) setBalances(h func() error) {
	f.mu.Lock()
	f.balances = h
	f.mu.Unlock()
}

var _ executor.Exchange = (*faultEx)(nil)

func (f *faultEx) PlaceOrder(ctx context.Context, req executor.OrderRequest) (executor.OrderReport, error) {
	f.count("PlaceOrder")
	f.mu.Lock()
	f.placed[req.ClientOrderID]++
	hook := f.place
	f.mu.Unlock()
	inner := func() (executor.OrderReport, error) { return f.Exchange.PlaceOrder(ctx, req) }
	if hook != nil {
		return hook(ctx, req, inner)
	}
	return inner()
}

func (f *faultEx) FetchOrder(ctx context.Context, symbol, cid string) (executor.OrderReport, error) {
	f.count("FetchOrder")
	f.mu.Lock()
	hook := f.fetch
	f.mu.Unlock()
	if hook != nil {
		if err := hook(cid); err != nil {
			return executor.OrderReport{}, err
		}
	}
	return f.Exchange.FetchOrder(ctx, symbol, cid)
}

func (f *faultEx) setPlace(h func(ctx context.Context, req executor.OrderRequest, inner func() (executor.OrderReport, error)) (executor.OrderReport, error)) {
	f.mu.Lock()
	f.place = h
	f.mu.Unlock()
}

func (f *faultEx) setFetch(h func(cid string) error) {
	f.mu.Lock()
	f.fetch = h
	f.mu.Unlock()
}

// sends is how often cid was sent to the exchange.
func (f *faultEx) sends(cid string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.placed[cid]
}

// maxSends is the highest send count of any client id.
func (f *faultEx) maxSends() (string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, n := "", 0
	for k, v := range f.placed {
		if v > n {
			id, n = k, v
		}
	}
	return id, n
}

var errNet = &executor.Error{Kind: executor.KindNetwork, Msg: "connection reset"}

// crashJournal fails every append after the first n, like a process that
// dies at that point: nothing after it reaches the journal.
type crashJournal struct {
	executor.Journal
	mu sync.Mutex
	n  int
}

var errCrashed = errors.New("journal: process crashed")

func (c *crashJournal) AppendOrderEvent(ctx context.Context, ev schemas.OrderEvent) error {
	c.mu.Lock()
	if c.n <= 0 {
		c.mu.Unlock()
		return errCrashed
	}
	c.n--
	c.mu.Unlock()
	return c.Journal.AppendOrderEvent(ctx, ev)
}
