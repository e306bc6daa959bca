package approval

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var t0 = time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)

func openStore(t *testing.T) *audit.Store {
	t.Helper()
	st, err := audit.Open(context.Background(), filepath.Join(t.TempDir(), "warden.db"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func market(mid string) schemas.Market {
	m := d(mid)
	return schemas.Market{Bid: m.Sub(d("0.5")), Ask: m.Add(d("0.5")), Last: m, AmountStep: d("0.0001"), PriceStep: d("0.01")}
}

func state(now time.Time, mid string) schemas.State {
	return schemas.State{Now: now, Mode: "paper", Account: schemas.Account{Quote: "USDT", Equity: d("10000"), Cash: d("10000")},
		Markets: map[string]schemas.Market{"BTC/USDT": market(mid)}}
}

var order = schemas.Order{Symbol: "BTC/USDT", Side: schemas.SideBuy, Type: schemas.OrderLimit, Quantity: d("0.0030"), Price: d("50000.00"), Notional: d("150")}

// fakeJudge answers with the order and market it is given.
type fakeJudge struct {
	mu     sync.Mutex
	order  schemas.Order
	mid    string
	reject bool
	now    time.Time
	during func() // runs while the market is read again (another process acts)
}

func (j *fakeJudge) Rejudge(ctx context.Context, rec schemas.Recommendation) (schemas.Verdict, schemas.State, string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.during != nil {
		j.during()
	}
	v := schemas.Verdict{Symbol: rec.Symbol, Action: rec.Action, Decision: schemas.DecisionApproved}
	if j.reject {
		v.Decision = schemas.DecisionRejected
		v.Violations = []schemas.Violation{{Rule: "max_position", Source: "policy"}}
	} else {
		o := j.order
		v.Order = &o
	}
	return v, state(j.now, j.mid), "policy-hash-now", nil
}

// fakeOrders is an executor that places once per decision id; answer,
// when set, is what it answers instead (the journal's outcome).
type fakeOrders struct {
	mu     sync.Mutex
	placed map[string]int
	answer *schemas.OrderEvent
}

func (f *fakeOrders) Place(ctx context.Context, id string, o schemas.Order) (schemas.OrderEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.placed == nil {
		f.placed = map[string]int{}
	}
	f.placed[id]++
	if f.answer != nil {
		return *f.answer, nil
	}
	return schemas.OrderEvent{ClientOrderID: "wd-" + id, DecisionID: id, State: schemas.OrderAcknowledged, Symbol: o.Symbol, Side: o.Side, Quantity: o.Quantity}, nil
}

// setup makes a gate over a fresh store with one pending proposal at t0,
// mid 50000; the clock is *now.
func setup(t *testing.T, cfg Config) (*Gate, *audit.Store, *time.Time, Proposal) {
	t.Helper()
	st := openStore(t)
	now := t0
	if cfg.Expires == 0 {
		cfg.Expires = 15 * time.Minute
	}
	cfg.Required = true
	g, err := New(cfg, st, Options{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	v := schemas.Verdict{Symbol: "BTC/USDT", Action: schemas.ActionBuy, Decision: schemas.DecisionApproved, Order: &order,
		Rules: []schemas.RuleResult{{Name: "max_position", Passed: true}, {Name: "warn_rule", Passed: false}}}
	rec := schemas.Recommendation{Symbol: "BTC/USDT", Action: schemas.ActionBuy, SizePct: d("1.5")}
	held, err := g.Hold(context.Background(), "r-1:0", "r-1", "a rationale", rec, v, "policy-hash", state(t0, "50000"))
	if err != nil || !held {
		t.Fatalf("Hold = %v, %v; want held", held, err)
	}
	_, p, err := Load(context.Background(), st, "r-1:0")
	if err != nil {
		t.Fatal(err)
	}
	return g, st, &now, p
}

func approve(t *testing.T, g *Gate, p Proposal) {
	t.Helper()
	if _, err := g.Approve(context.Background(), Vote{DecisionID: p.DecisionID, HashPrefix: p.Hash[:8], Who: "alice", Channel: ChannelCLI}); err != nil {
		t.Fatal(err)
	}
}

func status(t *testing.T, st *audit.Store, id string) audit.ApprovalRow {
	t.Helper()
	r, err := st.Approval(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHashBindsEverything(t *testing.T) {
	base, _ := Hash("r-1:0", order, "p", state(t0, "50000"))
	o2 := order
	o2.Quantity = d("0.0031")
	for name, h := range map[string]func() (string, error){
		"decision id": func() (string, error) { return Hash("r-1:1", order, "p", state(t0, "50000")) },
		"order":       func() (string, error) { return Hash("r-1:0", o2, "p", state(t0, "50000")) },
		"policy":      func() (string, error) { return Hash("r-1:0", order, "q", state(t0, "50000")) },
		"state":       func() (string, error) { return Hash("r-1:0", order, "p", state(t0, "50001")) },
	} {
		got, err := h()
		if err != nil || got == base {
			t.Errorf("changing the %s leaves the hash %s (%v)", name, got, err)
		}
	}
	again, _ := Hash("r-1:0", order, "p", state(t0, "50000"))
	if again != base || len(base) != 64 {
		t.Errorf("hash not deterministic or not SHA-256 hex: %s %s", base, again)
	}
}

func TestNeeds(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	cases := []struct {
		cfg  Config
		o    schemas.Order
		want bool
	}{
		{Config{Required: false}, order, false},
		{Config{Required: true}, order, true},
		{Config{Required: true, For: []schemas.Side{schemas.SideSell}}, order, false},
		{Config{Required: true, OverNotional: d("150")}, order, false},        // at the limit: not over
		{Config{Required: true, OverNotional: d("149.99")}, order, true},      // one step under: over
		{Config{Mode: "live", WarmupDays: 7}, order, true},                    // no live run yet
		{Config{Mode: "paper", WarmupDays: 7, WarmupOrders: 3}, order, false}, // warm-up is live only
	}
	for i, c := range cases {
		c.cfg.Expires = time.Minute
		g, err := New(c.cfg, st, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := g.Needs(ctx, c.o, t0)
		if err != nil || got != c.want {
			t.Errorf("case %d %+v: Needs = %v, %v; want %v", i, c.cfg, got, err, c.want)
		}
	}
}

func TestRequestNotification(t *testing.T) {
	_, _, _, p := setup(t, Config{})
	m, err := Request{Proposal: p}.Message()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"BTC/USDT", "0.003", "Rules passed: max_position\n", "a rationale", "Expires: 2024-06-01T10:15:00Z", "Hash: " + p.Hash[:12], "warden approve r-1:0 --hash " + p.Hash[:12]} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("request text lacks %q:\n%s", want, m.Text)
		}
	}
	if strings.Contains(m.Text, "warn_rule") {
		t.Errorf("a failed rule is listed as passed:\n%s", m.Text)
	}
}

// TestPriceMoveAtTheLimit: a move of exactly max_price_move_bps is within;
// one step (0.01 bps) beyond voids.
func TestPriceMoveAtTheLimit(t *testing.T) {
	// 25 bps of 50000 is 125.
	for _, c := range []struct {
		mid  string
		bps  string
		void bool
	}{
		{"50125", "25", false},
		{"49875", "25", false},
		{"50125.05", "25", true}, // 25.01 bps
		{"50125", "24.99", true},
	} {
		t.Run(c.mid+"/"+c.bps, func(t *testing.T) {
			g, st, now, p := setup(t, Config{MaxPriceMoveBps: d(c.bps)})
			approve(t, g, p)
			*now = t0.Add(5 * time.Minute)
			j := &fakeJudge{order: order, mid: c.mid, now: *now}
			ex := &fakeOrders{}
			res := g.Process(context.Background(), j, ex)
			row := status(t, st, "r-1:0")
			if c.void {
				if row.Status != audit.ApprovalVoid || !strings.Contains(row.Reason, "the price moved") || ex.placed["r-1:0"] != 0 {
					t.Fatalf("status %s (%s), placed %d; want void for the price", row.Status, row.Reason, ex.placed["r-1:0"])
				}
				return
			}
			if row.Status != audit.ApprovalPlaced || ex.placed["r-1:0"] != 1 || len(res.Placed) != 1 {
				t.Fatalf("status %s (%s), placed %d, errors %v; want placed once", row.Status, row.Reason, ex.placed["r-1:0"], res.Errors)
			}
		})
	}
}

// TestSameOrderWithinAStep: the re-judged quantity and price may differ by
// one step of the market, not more.
func TestSameOrderWithinAStep(t *testing.T) {
	m := market("50000")
	within := order
	within.Quantity = within.Quantity.Add(m.AmountStep)
	within.Price = within.Price.Sub(m.PriceStep)
	if why := sameOrder(order, within, m); why != "" {
		t.Errorf("one step off: %s", why)
	}
	q := order
	q.Quantity = q.Quantity.Add(d("0.0002"))
	p := order
	p.Price = p.Price.Add(d("0.02"))
	s := order
	s.Side = schemas.SideSell
	for name, o := range map[string]schemas.Order{"quantity": q, "price": p, "side": s} {
		if why := sameOrder(order, o, m); why == "" {
			t.Errorf("%s two steps off or different: accepted", name)
		}
	}
}

func TestProcessVoids(t *testing.T) {
	ctx := context.Background()
	t.Run("rejected now", func(t *testing.T) {
		g, st, now, p := setup(t, Config{MaxPriceMoveBps: d("25")})
		approve(t, g, p)
		ex := &fakeOrders{}
		g.Process(ctx, &fakeJudge{reject: true, mid: "50000", now: *now}, ex)
		if row := status(t, st, "r-1:0"); row.Status != audit.ApprovalVoid || !strings.Contains(row.Reason, "rejected (max_position)") || ex.placed["r-1:0"] != 0 {
			t.Fatalf("%s: %s", row.Status, row.Reason)
		}
	})
	t.Run("order differs", func(t *testing.T) {
		g, st, now, p := setup(t, Config{MaxPriceMoveBps: d("25")})
		approve(t, g, p)
		o := order
		o.Quantity = d("0.0040")
		ex := &fakeOrders{}
		g.Process(ctx, &fakeJudge{order: o, mid: "50000", now: *now}, ex)
		if row := status(t, st, "r-1:0"); row.Status != audit.ApprovalVoid || !strings.Contains(row.Reason, "quantity") || ex.placed["r-1:0"] != 0 {
			t.Fatalf("%s: %s", row.Status, row.Reason)
		}
	})
	t.Run("safe mode", func(t *testing.T) {
		g, st, now, p := setup(t, Config{MaxPriceMoveBps: d("25")})
		approve(t, g, p)
		if _, err := st.RaiseLevel(ctx, audit.LevelTrip{Level: audit.LevelSafeMode, At: t0, Until: t0.Add(time.Hour), Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		ex := &fakeOrders{}
		g.Process(ctx, &fakeJudge{order: order, mid: "50000", now: *now}, ex)
		if row := status(t, st, "r-1:0"); row.Status != audit.ApprovalVoid || !strings.Contains(row.Reason, "safe mode") || ex.placed["r-1:0"] != 0 {
			t.Fatalf("%s: %s", row.Status, row.Reason)
		}
	})
	// `warden kill` (or safe mode) while the market is read again: the
	// approved order is not sent (the switch was read before the market
	// read only).
	t.Run("kill switch during the re-check", func(t *testing.T) {
		g, st, now, p := setup(t, Config{MaxPriceMoveBps: d("25")})
		approve(t, g, p)
		ex := &fakeOrders{}
		j := &fakeJudge{order: order, mid: "50000", now: *now, during: func() {
			if err := st.SetKillSwitch(ctx, true, "operator", "news"); err != nil {
				t.Error(err)
			}
		}}
		g.Process(ctx, j, ex)
		if row := status(t, st, "r-1:0"); row.Status != audit.ApprovalVoid || !strings.Contains(row.Reason, "kill switch") || ex.placed["r-1:0"] != 0 {
			t.Fatalf("%s: %s, placed %d; want void because of the kill switch, nothing placed", row.Status, row.Reason, ex.placed["r-1:0"])
		}
	})
	t.Run("safe mode during the re-check", func(t *testing.T) {
		g, st, now, p := setup(t, Config{MaxPriceMoveBps: d("25")})
		approve(t, g, p)
		ex := &fakeOrders{}
		j := &fakeJudge{order: order, mid: "50000", now: *now, during: func() {
			if _, err := st.RaiseLevel(ctx, audit.LevelTrip{Level: audit.LevelSafeMode, At: t0, Until: t0.Add(time.Hour), Reason: "error spike"}); err != nil {
				t.Error(err)
			}
		}}
		g.Process(ctx, j, ex)
		if row := status(t, st, "r-1:0"); row.Status != audit.ApprovalVoid || !strings.Contains(row.Reason, "safe mode") || ex.placed["r-1:0"] != 0 {
			t.Fatalf("%s: %s, placed %d; want void because of safe mode", row.Status, row.Reason, ex.placed["r-1:0"])
		}
	})
	t.Run("expiry at the limit", func(t *testing.T) {
		g, st, now, p := setup(t, Config{MaxPriceMoveBps: d("25")})
		*now = p.ExpiresAt // at the limit: still good
		if _, err := g.Approve(ctx, Vote{DecisionID: p.DecisionID, HashPrefix: p.Hash[:8], Who: "a", Channel: ChannelCLI}); err != nil {
			t.Fatalf("approve at the expiry instant: %v", err)
		}
		*now = p.ExpiresAt.Add(time.Nanosecond) // one step beyond
		ex := &fakeOrders{}
		g.Process(ctx, &fakeJudge{order: order, mid: "50000", now: *now}, ex)
		if row := status(t, st, "r-1:0"); row.Status != audit.ApprovalVoid || !strings.Contains(row.Reason, "expired") || ex.placed["r-1:0"] != 0 {
			t.Fatalf("%s: %s", row.Status, row.Reason)
		}
	})
}

// TestConcurrentApprovalsPlaceOnce: many votes for the same proposal from
// several goroutines (as several processes would) approve it once; two
// process passes place it once.
func TestConcurrentApprovalsPlaceOnce(t *testing.T) {
	g, st, now, p := setup(t, Config{MaxPriceMoveBps: d("25")})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := g.Approve(context.Background(), Vote{DecisionID: p.DecisionID, HashPrefix: p.Hash[:8], Who: "a", Channel: ChannelCLI})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, ErrRefused) && !errors.Is(err, audit.ErrApprovalState) {
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d approvals accepted; want 1", ok)
	}
	ex := &fakeOrders{}
	j := &fakeJudge{order: order, mid: "50000", now: *now}
	g.Process(context.Background(), j, ex)
	g.Process(context.Background(), j, ex)
	if ex.placed["r-1:0"] != 1 || status(t, st, "r-1:0").Status != audit.ApprovalPlaced {
		t.Fatalf("placed %d times", ex.placed["r-1:0"])
	}
}

func TestChannelNotAllowed(t *testing.T) {
	g, st, _, p := setup(t, Config{MaxPriceMoveBps: d("25"), Channels: []string{ChannelCLI}})
	_, err := g.Approve(context.Background(), Vote{DecisionID: p.DecisionID, HashPrefix: p.Hash[:8], Who: "123", Channel: ChannelTelegram})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not in approval.channels") {
		t.Fatalf("approve through a channel not allowed: %v", err)
	}
	if status(t, st, "r-1:0").Status != audit.ApprovalPending {
		t.Fatal("a refused vote changed the proposal")
	}
}

// TestLiveWarmup: in live mode every order waits until the first live run
// is WarmupDays old (at exactly that age it no longer waits) and
// WarmupOrders live orders were placed (at that count it no longer waits).
func TestLiveWarmup(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if err := st.BeginRun(ctx, audit.Run{ID: "r-live-1", StartedAt: t0, Mode: "live", Advisor: "baseline"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	small := order
	small.Notional = d("1") // under any over_notional: only the warm-up holds it
	days, err := New(Config{Mode: "live", WarmupDays: 7, Expires: time.Minute}, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Time
		want bool
	}{{t0.Add(7*24*time.Hour - time.Nanosecond), true}, {t0.Add(7 * 24 * time.Hour), false}} {
		if got, err := days.Needs(ctx, small, c.at); err != nil || got != c.want {
			t.Errorf("days: Needs at %s = %v, %v; want %v", c.at, got, err, c.want)
		}
	}
	orders, err := New(Config{Mode: "live", WarmupOrders: 2, Expires: time.Minute}, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	later := t0.Add(30 * 24 * time.Hour)
	for i := 0; i <= 2; i++ {
		got, err := orders.Needs(ctx, small, later)
		if want := i < 2; err != nil || got != want {
			t.Errorf("orders: after %d live orders Needs = %v, %v; want %v", i, got, err, want)
		}
		ev := schemas.OrderEvent{ClientOrderID: "wd-" + string(rune('a'+i)), DecisionID: "r-live-1:" + string(rune('0'+i)), Role: "entry", State: schemas.OrderIntent,
			Symbol: "BTC/USDT", Side: schemas.SideBuy, Type: "limit", Quantity: d("0.001"), Price: d("50000"), At: t0.Add(time.Hour)}
		if err := st.AppendOrderEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPlacingResume: a proposal left "placing" with nothing in the order
// journal (the process died before the executor was called) is re-checked
// from the start: void under the kill switch, else placed once.
func TestPlacingResume(t *testing.T) {
	ctx := context.Background()
	for _, kill := range []bool{true, false} {
		g, st, now, p := setup(t, Config{MaxPriceMoveBps: d("25")})
		approve(t, g, p)
		if _, err := st.TransitionApproval(ctx, p.DecisionID, []string{audit.ApprovalApproved}, audit.ApprovalPlacing, audit.ApprovalChange{}, map[string]any{"test": "crash before Place"}); err != nil {
			t.Fatal(err)
		}
		if kill {
			if err := st.SetKillSwitch(ctx, true, "test", "test"); err != nil {
				t.Fatal(err)
			}
		}
		ex := &fakeOrders{}
		res := g.Process(ctx, &fakeJudge{order: order, mid: "50000", now: *now}, ex)
		row := status(t, st, p.DecisionID)
		if kill {
			if row.Status != audit.ApprovalVoid || !strings.Contains(row.Reason, "kill switch") || ex.placed[p.DecisionID] != 0 {
				t.Fatalf("under the kill switch: %s (%s), placed %d", row.Status, row.Reason, ex.placed[p.DecisionID])
			}
			continue
		}
		if row.Status != audit.ApprovalPlaced || ex.placed[p.DecisionID] != 1 || len(res.Errors) != 0 {
			t.Fatalf("resume: %s (%s), placed %d, errors %v", row.Status, row.Reason, ex.placed[p.DecisionID], res.Errors)
		}
	}
}

// TestPlacingResumeNeverSent: a proposal left "placing" whose entry the
// journal holds but the executor, resuming it, finds never sent (the
// process died before submitting it) or refused: the proposal is void with
// that reason, never "placed" with no order behind it.
func TestPlacingResumeNeverSent(t *testing.T) {
	ctx := context.Background()
	g, st, now, p := setup(t, Config{MaxPriceMoveBps: d("25")})
	approve(t, g, p)
	if _, err := st.TransitionApproval(ctx, p.DecisionID, []string{audit.ApprovalApproved}, audit.ApprovalPlacing, audit.ApprovalChange{}, map[string]any{"test": "crash after the intent"}); err != nil {
		t.Fatal(err)
	}
	cid := executor.ClientOrderID(p.DecisionID, executor.RoleEntry)
	intent := schemas.OrderEvent{ClientOrderID: cid, DecisionID: p.DecisionID, Role: "entry", State: schemas.OrderIntent,
		Symbol: "BTC/USDT", Side: schemas.SideBuy, Type: "limit", Quantity: order.Quantity, Price: order.Price, At: t0}
	if err := st.AppendOrderEvent(ctx, intent); err != nil {
		t.Fatal(err)
	}
	never := intent
	never.State, never.Reason = schemas.OrderRejected, "never sent: the process stopped before submission"
	ex := &fakeOrders{answer: &never}
	res := g.Process(ctx, &fakeJudge{order: order, mid: "50000", now: *now}, ex)
	row := status(t, st, p.DecisionID)
	if row.Status != audit.ApprovalVoid || !strings.Contains(row.Reason, "not placed: never sent") || len(res.Placed) != 0 {
		t.Fatalf("resumed, never sent: %s (%s), placed %+v; want void saying it was not placed", row.Status, row.Reason, res.Placed)
	}
}

// TestProposalRedacted: a secret the model echoes in its rationale or
// reason never reaches the approvals table.
func TestProposalRedacted(t *testing.T) {
	ctx := context.Background()
	secret := "sk-test-secret-0123456789abcdef"
	path := filepath.Join(t.TempDir(), "warden.db")
	st, err := audit.Open(ctx, path, audit.Options{Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g, err := New(Config{Required: true, Expires: time.Minute}, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := schemas.Recommendation{Symbol: "BTC/USDT", Action: schemas.ActionBuy, Reason: "my key is " + secret}
	v := schemas.Verdict{Decision: schemas.DecisionApproved, Order: &order}
	if _, err := g.Hold(ctx, "r-9:0", "r-9", "rationale with "+secret, rec, v, "ph", state(t0, "50000")); err != nil {
		t.Fatal(err)
	}
	row, err := st.Approval(ctx, "r-9:0")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(row.Proposal), secret) || !strings.Contains(string(row.Proposal), audit.Redacted) {
		t.Fatalf("proposal stored unredacted: %s", row.Proposal)
	}
	if _, p, err := Load(ctx, st, "r-9:0"); err != nil || p.Order.Quantity.String() != order.Quantity.String() {
		t.Fatalf("redacted proposal does not load: %v %+v", err, p.Order)
	}
}
