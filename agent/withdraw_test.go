package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/schemas"
)

// dipBuyer asks once for a BTC/USDT limit buy a little under the market,
// which rests on the exchange, with a stop under it; then it holds.
type dipBuyer struct{ calls int }

func (d *dipBuyer) Name() string { return "dip-buyer" }
func (d *dipBuyer) Advise(_ context.Context, req advisor.Request) (advisor.Reply, error) {
	d.calls++
	rec := `{"symbol":"BTC/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"wait"}`
	if d.calls == 1 {
		// 49 bps under the mid: as far as the default policy's
		// limit_near_mid allows, so that it rests.
		q := req.State.Markets["BTC/USDT"]
		limit := q.Bid.Add(q.Ask).Div(decimalOf("2")).Mul(decimalOf("0.9951")).Round(2)
		rec = fmt.Sprintf(`{"symbol":"BTC/USDT","action":"buy","confidence":0.8,"size_pct":1,"order_type":"limit","limit_price":%s,"stop_loss":%s,"take_profit":null,"reason":"buy the dip"}`,
			limit, limit.Mul(decimalOf("0.97")).Round(2))
	}
	return advisor.Reply{Advisor: "dip-buyer", Model: "m", Raw: []byte(`{"rationale":"dip","recommendations":[` + rec + `]}`)}, nil
}

// TestHaltWithdrawsRestingBuys: a limit buy placed before the kill switch
// (or safe mode) rests on the exchange; the next cycle, run as the
// runtime runs it (poll, then cycle), cancels it with the reason on the
// journal and a buys_withdrawn event, so the market coming down to it
// later buys nothing. The switch is set by a second store on the same
// file, as `warden kill` and a breaker in another process set it.
func TestHaltWithdrawsRestingBuys(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		halt         func(ctx context.Context, op *audit.Store, at time.Time) error
		killed       bool
	}{
		{"kill switch", "kill switch", func(ctx context.Context, op *audit.Store, _ time.Time) error {
			return op.SetKillSwitch(ctx, true, "operator", "drill")
		}, true},
		{"safe mode", "safe mode", func(ctx context.Context, op *audit.Store, at time.Time) error {
			_, err := op.RaiseLevel(ctx, audit.LevelTrip{Level: audit.LevelSafeMode, At: at, Reason: "error spike", Breakers: []string{"error_spike"}})
			return err
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := t.TempDir() + "/warden.db"
			// An order becomes eligible to fill three hours after it is
			// placed: the buy rests at least until the halt is read.
			pcfg := paper.DefaultConfig()
			pcfg.Latency = 3 * time.Hour
			h := newHarnessPaper(t, &dipBuyer{}, db, agent.DefaultBreakers(), pcfg)
			res := h.step()
			if len(res.Orders) != 1 || res.Orders[0].State != schemas.OrderAcknowledged {
				t.Fatalf("first cycle orders %+v, errors %v, verdicts %+v; want one resting buy", res.Orders, res.OrderErrors, res.Verdicts)
			}
			entry := res.Orders[0]

			op, err := audit.Open(ctx, db, audit.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.halt(ctx, op, h.now); err != nil {
				t.Fatal(err)
			}
			op.Close()

			next, err := h.replay.Advance(replayStart)
			if err != nil {
				t.Fatal(err)
			}
			h.now = next
			if _, err := h.exec.Poll(ctx); err != nil {
				t.Fatal(err)
			}
			if last, _, _ := h.store.LastOrderEvent(ctx, entry.ClientOrderID); last.State != schemas.OrderAcknowledged {
				t.Fatalf("the buy did not rest until the next cycle: %+v", last)
			}
			res, err = h.agent.Cycle(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.KillSwitch != tc.killed || res.SafeMode == tc.killed {
				t.Fatalf("cycle kill %v safe %v; want the %s read", res.KillSwitch, res.SafeMode, tc.name)
			}
			if len(res.Withdrawn) != 1 || res.Withdrawn[0].ClientOrderID != entry.ClientOrderID || len(res.OrderErrors) != 0 {
				t.Fatalf("withdrawn %+v, order errors %v; want %s cancelled", res.Withdrawn, res.OrderErrors, entry.ClientOrderID)
			}
			if !strings.Contains(h.out.String(), "resting buys withdrawn") {
				t.Errorf("the run's printout does not say the buy was withdrawn:\n%s", h.out.String())
			}
			last, ok, err := h.store.LastOrderEvent(ctx, entry.ClientOrderID)
			if err != nil || !ok || last.State != schemas.OrderCancelled || !strings.Contains(last.Reason, tc.reason) {
				t.Fatalf("journal's last event for the entry = %+v %v %v; want cancelled because of the %s", last, ok, err, tc.reason)
			}
			evs, err := h.store.ListEvents(ctx, audit.EventFilter{Kinds: []string{audit.EventBuysWithdrawn}})
			if err != nil || len(evs) != 1 || evs[0].RunID != res.RunID || !strings.Contains(string(evs[0].Detail), entry.ClientOrderID) {
				t.Fatalf("buys_withdrawn events = %+v %v; want one naming %s in run %s", evs, err, entry.ClientOrderID, res.RunID)
			}
			opens, err := h.px.OpenOrders(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(opens) != 0 {
				t.Fatalf("open on the exchange after the withdrawal: %+v", opens)
			}
			// A day on: whatever the market does, nothing is bought, and the
			// withdrawal is not repeated.
			for i := 0; i < 24; i++ {
				next, err := h.replay.Advance(replayStart)
				if err != nil {
					t.Fatal(err)
				}
				h.now = next
				if _, err := h.exec.Poll(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := h.agent.Cycle(ctx); err != nil {
					t.Fatal(err)
				}
			}
			trades, err := h.px.MyTrades(ctx, "", time.Time{})
			if err != nil || len(trades) != 0 {
				t.Fatalf("trades under the %s: %+v %v; want none", tc.name, trades, err)
			}
			if evs, _ := h.store.ListEvents(ctx, audit.EventFilter{Kinds: []string{audit.EventBuysWithdrawn}}); len(evs) != 1 {
				t.Errorf("buys_withdrawn recorded %d times; want once", len(evs))
			}
		})
	}
}

// TestWithdrawLeavesStops: what protects a position is never withdrawn.
// A buy that filled has its stop resting; the kill switch withdraws
// nothing, and the stop stays on the exchange.
func TestWithdrawLeavesStops(t *testing.T) {
	ctx := context.Background()
	db := t.TempDir() + "/warden.db"
	h := newHarness(t, &buyer{}, db)
	res := h.step()
	if len(res.Orders) == 0 {
		t.Fatalf("no buy placed: %+v %v", res.Verdicts, res.OrderErrors)
	}
	if _, err := h.exec.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	stops := func() int {
		opens, err := h.px.OpenOrders(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, o := range opens {
			if o.Type == executor.TypeStopLossLimit {
				n++
			}
		}
		return n
	}
	before := stops()
	if before == 0 {
		t.Fatal("the filled buy has no stop resting")
	}
	if err := h.store.SetKillSwitch(ctx, true, "operator", "drill"); err != nil {
		t.Fatal(err)
	}
	res = h.step()
	if len(res.Withdrawn) != 0 || stops() != before {
		t.Fatalf("under the kill switch: withdrawn %+v, stops %d (were %d); want the stop left alone", res.Withdrawn, stops(), before)
	}
}

// failingDipBuyer rests a buy at its first call, then fails.
type failingDipBuyer struct{ dipBuyer }

func (f *failingDipBuyer) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	if f.calls == 0 {
		return f.dipBuyer.Advise(ctx, req)
	}
	f.calls++
	return advisor.Reply{Advisor: "dip-buyer"}, errors.New("model unreachable")
}

// TestSafeModeTrippedByTheCycleWithdrawsAtOnce: the cycle that trips the
// error-spike breaker withdraws the resting buy before it ends, as a
// `run --once` from cron must (the next process comes an hour later).
func TestSafeModeTrippedByTheCycleWithdrawsAtOnce(t *testing.T) {
	ctx := context.Background()
	pcfg := paper.DefaultConfig()
	pcfg.Latency = 3 * time.Hour
	br := agent.DefaultBreakers()
	br.MaxConsecutiveErrors = 1
	h := newHarnessPaper(t, &failingDipBuyer{}, t.TempDir()+"/warden.db", br, pcfg)
	res := h.step()
	if len(res.Orders) != 1 || res.Orders[0].State != schemas.OrderAcknowledged || res.SafeMode {
		t.Fatalf("first cycle: orders %+v, safe mode %v; want one resting buy", res.Orders, res.SafeMode)
	}
	entry := res.Orders[0]
	next, err := h.replay.Advance(replayStart)
	if err != nil {
		t.Fatal(err)
	}
	h.now = next
	if _, err := h.exec.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	res, _ = h.agent.Cycle(ctx)
	if !res.SafeMode {
		t.Fatalf("the failed cycle did not trip safe mode: %+v", res)
	}
	if len(res.Withdrawn) != 1 || res.Withdrawn[0].ClientOrderID != entry.ClientOrderID {
		t.Fatalf("withdrawn by the tripping cycle = %+v; want %s", res.Withdrawn, entry.ClientOrderID)
	}
	if last, _, _ := h.store.LastOrderEvent(ctx, entry.ClientOrderID); last.State != schemas.OrderCancelled || !strings.Contains(last.Reason, "safe mode") {
		t.Fatalf("the buy's journal = %+v; want cancelled for safe mode", last)
	}
}
