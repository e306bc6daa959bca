package audit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "audit-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	clock := func() time.Time { return time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC) }

	st, err := audit.Open(ctx, filepath.Join(dir, "warden.db"), audit.Options{Clock: clock, Secrets: []string{"sk-live-123"}})
	if err != nil {
		panic(err)
	}
	defer st.Close()

	_ = st.BeginRun(ctx, audit.Run{ID: "run-1", Mode: "paper", Advisor: "baseline", PolicyHash: "p1"})
	ids, _ := st.RecordVerdicts(ctx, "run-1", "p1", schemas.State{Now: clock()}, []schemas.Verdict{
		{Index: 0, Symbol: "BTC/USDT", Action: schemas.ActionBuy, Decision: schemas.DecisionApproved},
	})
	// The intent is on disk before the order is sent.
	_ = st.AppendOrderEvent(ctx, schemas.OrderEvent{ClientOrderID: "wd-1", DecisionID: ids[0], State: schemas.OrderIntent,
		Symbol: "BTC/USDT", Side: schemas.SideBuy, Quantity: decimal.RequireFromString("0.01")})

	open, _ := st.OpenOrderEvents(ctx)
	rep, _ := st.Verify(ctx)
	fmt.Println(ids, len(open), open[0].State)
	fmt.Println(rep.OK, rep.Records)
	// Output:
	// [run-1:0] 1 intent
	// true 4
}
