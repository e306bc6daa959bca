package ccxtx

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/ccxtx/fakebinance"
	"github.com/warden-trading/warden/schemas"
)

// TestBanHoldsEveryRequestBack: after Binance answers 418 (IP banned,
// Retry-After), the adapter sends nothing more until the ban ends: every
// call fails at once as banned and no request reaches the exchange. A
// second adapter sharing the Backoff (the public data feed) is held back
// too, and a third one restored from what the first persisted (the next
// `run --once` process) as well. At the ban's end requests flow again.
func TestBanHoldsEveryRequestBack(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var persisted []executor.BackoffState
	b := executor.NewBackoff(clock, func(s executor.BackoffState) { persisted = append(persisted, s) })
	r := newRig(t, fakebinance.Options{}, func(c *Config) { c.Backoff = b })
	if _, err := r.ex.Markets(tctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := r.fake.Inject(fakebinance.Fault{Method: http.MethodGet, Path: "/api/v3/ticker/24hr", Kind: fakebinance.FaultBan, RetryAfter: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	_, err := r.ex.Ticker(tctx(t), btcusdt)
	if executor.KindOf(err) != executor.KindBanned {
		t.Fatalf("Ticker() under a ban = %v; want banned", err)
	}
	if len(persisted) != 1 || persisted[0].Kind != "banned" || !persisted[0].Until.After(now.Add(110*time.Second)) {
		t.Fatalf("persisted %+v; want one ban of about 2 minutes", persisted)
	}
	sent := len(r.fake.Requests())

	// Every kind of call, reads and writes, is held back.
	id := executor.ClientOrderID(t.Name(), executor.RoleEntry)
	calls := map[string]func() error{
		"Ticker":     func() error { _, err := r.ex.Ticker(tctx(t), btcusdt); return err },
		"Balances":   func() error { _, err := r.ex.Balances(tctx(t)); return err },
		"OpenOrders": func() error { _, err := r.ex.OpenOrders(tctx(t), btcusdt); return err },
		"PlaceOrder": func() error {
			_, err := r.ex.PlaceOrder(tctx(t), executor.OrderRequest{ClientOrderID: id, Symbol: btcusdt, Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: d("0.001"), Price: d("60000")})
			return err
		},
	}
	for name, f := range calls {
		err := f()
		var xe *executor.Error
		if !errors.As(err, &xe) || xe.Kind != executor.KindBanned || xe.RetryAfter <= 0 || executor.OutcomeUnknown(err) {
			t.Errorf("%s during the ban = %v; want banned, not sent, with the time left", name, err)
		}
	}
	// The public data feed on the same IP.
	pub := newRig(t, fakebinance.Options{}, func(c *Config) { c.Backoff = b })
	if _, err := pub.ex.Ticker(tctx(t), btcusdt); executor.KindOf(err) != executor.KindBanned || len(pub.fake.Requests()) != 0 {
		t.Errorf("a second adapter during the ban: %v, %d requests; want banned and none sent", err, len(pub.fake.Requests()))
	}
	// The next process: a fresh Backoff restored from the store.
	next := executor.NewBackoff(clock, nil)
	next.Restore(persisted[0])
	nr := newRig(t, fakebinance.Options{}, func(c *Config) { c.Backoff = next })
	if _, err := nr.ex.Markets(tctx(t)); executor.KindOf(err) != executor.KindBanned || len(nr.fake.Requests()) != 0 {
		t.Errorf("a new process during the ban: %v, %d requests; want banned and none sent", err, len(nr.fake.Requests()))
	}
	if got := len(r.fake.Requests()); got != sent {
		t.Fatalf("%d requests reached the exchange during the ban", got-sent)
	}

	// One second before its end the ban holds; at its end it is over.
	advance(persisted[0].Until.Sub(clock()) - time.Second)
	if _, err := r.ex.Ticker(tctx(t), btcusdt); executor.KindOf(err) != executor.KindBanned {
		t.Errorf("a second before the ban's end: %v; want banned", err)
	}
	advance(time.Second)
	if _, err := r.ex.Ticker(tctx(t), btcusdt); err != nil {
		t.Errorf("at the ban's end: %v; want the ticker", err)
	}
	if got := len(r.fake.Requests()); got != sent+1 {
		t.Errorf("%d requests after the ban; want 1", got-sent)
	}
}

// TestShortRateLimitIsNotPersisted: a 429 asking for a few seconds holds
// this process back for those seconds, and is not worth a record.
func TestShortRateLimitIsNotPersisted(t *testing.T) {
	var persisted []executor.BackoffState
	b := executor.NewBackoff(nil, func(s executor.BackoffState) { persisted = append(persisted, s) })
	r := newRig(t, fakebinance.Options{}, func(c *Config) { c.Backoff = b })
	if _, err := r.ex.Markets(tctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := r.fake.Inject(fakebinance.Fault{Method: http.MethodGet, Path: "/api/v3/ticker/24hr", Kind: fakebinance.FaultRateLimit, RetryAfter: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ex.Ticker(tctx(t), btcusdt); executor.KindOf(err) != executor.KindRateLimited {
		t.Fatalf("Ticker() rate limited = %v", err)
	}
	sent := len(r.fake.Requests())
	if _, err := r.ex.Ticker(tctx(t), btcusdt); executor.KindOf(err) != executor.KindRateLimited || len(r.fake.Requests()) != sent {
		t.Errorf("within the Retry-After: %v, %d more requests; want held back", err, len(r.fake.Requests())-sent)
	}
	if len(persisted) != 0 {
		t.Errorf("a 2 s pause was persisted: %+v", persisted)
	}
	time.Sleep(2100 * time.Millisecond)
	if _, err := r.ex.Ticker(tctx(t), btcusdt); err != nil {
		t.Errorf("after the Retry-After: %v", err)
	}
}

// TestLateBanStillHolds: a 418 that arrives after the caller gave up (its
// context ended first; ccxt's request cannot be cancelled and goes on in
// the background) still starts the pause, and is persisted for the next
// process: no later request reaches the exchange before the ban ends.
func TestLateBanStillHolds(t *testing.T) {
	fake, err := fakebinance.New(fakebinance.Options{APIKey: canaryKey, Secret: canarySecret, HangLimit: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var slow atomic.Bool
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() && r.URL.Path == "/api/v3/ticker/24hr" {
			time.Sleep(400 * time.Millisecond) // the reply comes after the caller's deadline
			defer func() {
				select {
				case arrived <- struct{}{}:
				default:
				}
			}()
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { fake.Close(); srv.Close() })
	var mu sync.Mutex
	var persisted []executor.BackoffState
	b := executor.NewBackoff(time.Now, func(s executor.BackoffState) { mu.Lock(); persisted = append(persisted, s); mu.Unlock() })
	ex, err := New(Config{Exchange: "binance", Credentials: NewCredentials(canaryKey, canarySecret), BaseURL: srv.URL, RateLimit: time.Millisecond, Backoff: b},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Markets(tctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := fake.Inject(fakebinance.Fault{Method: http.MethodGet, Path: "/api/v3/ticker/24hr", Kind: fakebinance.FaultBan, RetryAfter: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	slow.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := ex.Ticker(ctx, btcusdt); executor.KindOf(err) != executor.KindNetwork {
		t.Fatalf("Ticker() abandoned at its deadline = %v; want a network error (no reply in time)", err)
	}
	<-arrived
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(persisted)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	got := append([]executor.BackoffState(nil), persisted...)
	mu.Unlock()
	if len(got) != 1 || got[0].Kind != "banned" || time.Until(got[0].Until) < 100*time.Second {
		t.Fatalf("persisted after the late 418: %+v; want one ban of about 2 minutes", got)
	}
	sent := len(fake.Requests())
	if _, err := ex.Balances(tctx(t)); executor.KindOf(err) != executor.KindBanned {
		t.Errorf("Balances() after the late 418 = %v; want held back as banned", err)
	}
	next := executor.NewBackoff(time.Now, nil)
	next.Restore(got[0])
	if err := next.Hold("ticker"); executor.KindOf(err) != executor.KindBanned {
		t.Errorf("the next process's backoff restored from the store holds = %v; want banned", err)
	}
	if n := len(fake.Requests()) - sent; n != 0 {
		t.Errorf("%d requests reached the exchange after the late 418", n)
	}
}
