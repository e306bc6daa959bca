package main

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// TestReplayStartIsOnTheReplayClock: on the offline replay (the README's
// first command), what a process records before its first cycle, here the
// start's reconciliation resolving an order a killed process left
// submitted, is stamped on the replay's time like the cycles' records,
// not on the wall clock: one journal must not run 2022, 2026, 2022.
func TestReplayStartIsOnTheReplayClock(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, out, errOut := runMain(t, "run", "--once"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	ctx := context.Background()
	st, err := audit.Open(ctx, "warden.db", audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2022, 6, 1, 0, 30, 0, 0, time.UTC)
	cid := executor.ClientOrderID("r-ghost:0", executor.RoleEntry)
	ev := schemas.OrderEvent{ClientOrderID: cid, DecisionID: "r-ghost:0", Role: executor.RoleEntry, State: schemas.OrderIntent,
		Symbol: "BTC/USDT", Side: schemas.SideBuy, Type: "limit", Quantity: decimal.RequireFromString("0.001"), Price: decimal.NewFromInt(30000), At: at}
	for _, s := range []schemas.OrderState{schemas.OrderIntent, schemas.OrderSubmitted} {
		ev.State = s
		if err := st.AppendOrderEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if code, out, errOut := runMain(t, "run", "--once"); code != 0 {
		t.Fatalf("second run --once = %d\n%s\n%s", code, out, errOut)
	}
	st, err = audit.Open(ctx, "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hist, err := st.OrderHistory(ctx, cid)
	if err != nil || len(hist) < 3 {
		t.Fatalf("history of the order left submitted = %+v, %v; want it resolved", hist, err)
	}
	for _, h := range hist {
		if h.At.Year() != 2022 {
			t.Errorf("%s event stamped %s; want the replay's 2022 time", h.State, h.At.Format(time.RFC3339))
		}
	}
}
