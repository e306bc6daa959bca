package status

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

var d = decimal.RequireFromString

// open creates a real audit database and returns it opened read-only
// too, as warden status and the console read it.
func open(t *testing.T, seed func(*audit.Store)) *audit.Store {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "warden.db")
	clock := func() time.Time { return time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC) }
	w, err := audit.Open(ctx, path, audit.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if seed != nil {
		seed(w)
	}
	w.Close()
	ro, err := audit.Open(ctx, path, audit.Options{Clock: clock, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	return ro
}

func input(src string) Input {
	return Input{Database: "db", Now: time.Date(2024, 1, 10, 12, 30, 0, 0, time.UTC), Clock: "given", Mode: "live", Schedule: "@hourly",
		ReduceScale: d("0.5"), PolicyName: "p", PolicyHash: "h", PolicySource: []byte(src)}
}

func TestNothingDecidedYet(t *testing.T) {
	st := open(t, nil)
	rep, err := Build(context.Background(), st, input(""))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Account != nil || len(rep.Limits) != 0 || len(rep.Positions) != 0 || rep.LastRun != nil || rep.Policy != "p h" ||
		!rep.NextRun.Equal(time.Date(2024, 1, 10, 13, 0, 0, 0, time.UTC)) || !rep.RiskScale.Equal(decimal.NewFromInt(1)) {
		t.Fatalf("empty database: %+v", rep)
	}
	rep, err = Build(context.Background(), st, Input{Schedule: "every tuesday"})
	if err != nil || !rep.NextRun.IsZero() {
		t.Fatalf("a schedule that does not parse gives no next run: %v %v", rep.NextRun, err)
	}
}

// decideHoldBTC records a live run that holds 0.01 BTC/USDT bought at
// 42,000 (last 42,100) in an account of 10,000 USDT, and decides to hold.
func decideHoldBTC(t *testing.T, w *audit.Store, runID string) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC)
	if err := w.BeginRun(ctx, audit.Run{ID: runID, StartedAt: now, Mode: "live", Advisor: "baseline", PolicyHash: "h"}); err != nil {
		t.Fatal(err)
	}
	state := schemas.State{Now: now, Mode: "live",
		Account: schemas.Account{Quote: "USDT", Equity: d("10000"), Cash: d("9579"), PeakEquity: d("10000"), DayStartEquity: d("10000"),
			Positions: map[string]schemas.Position{"BTC/USDT": {Qty: d("0.01"), AvgPrice: d("42000")}}},
		Markets: map[string]schemas.Market{"BTC/USDT": {Last: d("42100"), Bid: d("42090"), Ask: d("42110")}}}
	if _, err := w.RecordVerdicts(ctx, runID, "h", state, []schemas.Verdict{{Index: 0, Symbol: "BTC/USDT", Action: "hold", Decision: "no_action"}}); err != nil {
		t.Fatal(err)
	}
}

// TestLimitsFromTheLastDecision: a live account as the last decision saw
// it; the BTC position is 4.21 % of equity: within a 4.21 cap, over a
// 4.20 one.
func TestLimitsFromTheLastDecision(t *testing.T) {
	const runID = "run-1"
	st := open(t, func(w *audit.Store) {
		ctx := context.Background()
		decideHoldBTC(t, w, runID)
		stop := schemas.OrderEvent{ClientOrderID: "wd-stop", DecisionID: audit.DecisionID(runID, 0), Role: "stop", State: schemas.OrderAcknowledged,
			Symbol: "BTC/USDT", Side: "sell", Type: "stop_loss_limit", Quantity: d("0.006"), Price: d("40000"), StopPrice: d("40100")}
		if err := w.AppendOrderEvent(ctx, stop); err != nil {
			t.Fatal(err)
		}
		if err := w.EndRun(ctx, runID, "ok", nil); err != nil {
			t.Fatal(err)
		}
	})
	for _, c := range []struct {
		cap  string
		over bool
	}{{"4.21", false}, {"4.20", true}} {
		rep, err := Build(context.Background(), st, input("params:\n  max_position_pct: "+c.cap+"\n  max_open_positions: 1\n"))
		if err != nil {
			t.Fatal(err)
		}
		a := rep.Account
		if a == nil || a.Source != "last decision" || !a.Equity.Equal(d("10000")) || !a.Exposure.Equal(d("421")) || !a.ExposurePc.Equal(d("4.21")) {
			t.Fatalf("account: %+v", a)
		}
		if len(rep.Positions) != 1 {
			t.Fatalf("positions: %+v", rep.Positions)
		}
		p := rep.Positions[0]
		if !p.AvgEntry.Equal(d("42000")) || !p.Mark.Equal(d("42100")) || !p.Unrealised.Equal(d("1")) || !p.Protected.Equal(d("0.006")) || p.Dust {
			t.Fatalf("position: %+v", p)
		}
		if len(rep.OpenOrders) != 1 || !rep.OpenOrders[0].Trigger.Equal(d("40100")) || !rep.OpenOrders[0].Price.Equal(d("40000")) {
			t.Fatalf("open orders: %+v", rep.OpenOrders)
		}
		byName := map[string]Limit{}
		for _, l := range rep.Limits {
			byName[l.Name] = l
		}
		pl := byName["position BTC/USDT"]
		if pl.Limit == nil || !pl.Limit.Equal(d(c.cap)) || pl.Over != c.over || pl.Scaled {
			t.Errorf("cap %s: position limit %+v; want over=%v", c.cap, pl, c.over)
		}
		if op := byName["open_positions"]; op.Limit == nil || op.Over || !op.Value.Equal(d("1")) {
			t.Errorf("one open position against max 1 is within: %+v", op)
		}
		if dl := byName["day_loss"]; dl.Limit != nil || dl.Param != "max_day_loss_pct" {
			t.Errorf("a param the policy lacks has no limit: %+v", dl)
		}
		if rep.LastRun == nil || rep.LastRun.RunID != runID || rep.Mode != "live" {
			t.Errorf("last run %+v, mode %s", rep.LastRun, rep.Mode)
		}
	}
}

// TestProtectionCountsOnlyAcknowledgedStops: after a crash mid-cycle the
// journal holds the old stop (unknown: lost in the crash) and its
// replacement (intent: journaled, not yet sent); neither is known to rest
// on the exchange, so the position shows only what acknowledged stops
// cover, never more than it holds.
func TestProtectionCountsOnlyAcknowledgedStops(t *testing.T) {
	const runID = "run-1"
	st := open(t, func(w *audit.Store) {
		ctx := context.Background()
		decideHoldBTC(t, w, runID)
		for i, s := range []schemas.OrderState{schemas.OrderAcknowledged, schemas.OrderUnknown, schemas.OrderIntent, schemas.OrderSubmitted} {
			qty := map[int]string{0: "0.004", 1: "0.01", 2: "0.01", 3: "0.01"}[i]
			ev := schemas.OrderEvent{ClientOrderID: fmt.Sprintf("wd-stop-%d", i), DecisionID: audit.DecisionID(runID, 0), Role: "stop", State: s,
				Symbol: "BTC/USDT", Side: "sell", Type: "stop_loss_limit", Quantity: d(qty), Price: d("40000"), StopPrice: d("40100")}
			if err := w.AppendOrderEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.EndRun(ctx, runID, "ok", nil); err != nil {
			t.Fatal(err)
		}
	})
	rep, err := Build(context.Background(), st, input("params:\n  max_position_pct: 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Positions) != 1 || !rep.Positions[0].Protected.Equal(d("0.004")) {
		t.Fatalf("positions %+v; want 0.01 BTC protected by the acknowledged 0.004 only", rep.Positions)
	}
	if len(rep.OpenOrders) != 4 {
		t.Errorf("open orders %d; want the four stops listed with their states", len(rep.OpenOrders))
	}
}
