package backtest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

// TestAuditTeeAnswersAsTheDatabase drives an audited backtest's store
// through breaker raises, failed and good cycles, equity marks, orders
// and model calls, and after every step asks the same questions of its
// memory and of the audit database it wrote: the answers must be the
// same, so reading from memory changes no decision.
func TestAuditTeeAnswersAsTheDatabase(t *testing.T) {
	ctx := context.Background()
	db, err := audit.Open(ctx, filepath.Join(t.TempDir(), "bt.db"), audit.Options{BatchSize: 256, Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	tee := newAuditTee(db, func() time.Time { return now })

	check := func(step string) {
		t.Helper()
		for _, at := range []time.Time{now, now.Add(30 * time.Minute), now.Add(3 * time.Hour)} {
			a, err1 := tee.Level(ctx, at)
			b, err2 := db.Level(ctx, at)
			if err1 != nil || err2 != nil || a.Level != b.Level || !a.Since.Equal(b.Since) || !a.Until.Equal(b.Until) || a.Reason != b.Reason {
				t.Errorf("%s: Level(%s) memory %+v (%v), database %+v (%v)", step, at.Format(time.RFC3339), a, err1, b, err2)
			}
		}
		p1, ok1, _ := tee.PeakEquity(ctx)
		p2, ok2, err := db.PeakEquity(ctx)
		if err != nil || ok1 != ok2 || !p1.Equal(p2) {
			t.Errorf("%s: PeakEquity memory %s %v, database %s %v (%v)", step, p1, ok1, p2, ok2, err)
		}
		for _, at := range []time.Time{t0.Add(-time.Hour), t0, now.Add(-90 * time.Minute), now, now.Add(time.Hour)} {
			e1, ok1, _ := tee.EquityAt(ctx, at)
			e2, ok2, err := db.EquityAt(ctx, at)
			if err != nil || ok1 != ok2 || !e1.Equal(e2) {
				t.Errorf("%s: EquityAt(%s) memory %s %v, database %s %v (%v)", step, at.Format(time.RFC3339), e1, ok1, e2, ok2, err)
			}
			n1, _ := tee.OrdersSince(ctx, at)
			n2, err := db.OrdersSince(ctx, at)
			if err != nil || n1 != n2 {
				t.Errorf("%s: OrdersSince(%s) memory %d, database %d (%v)", step, at.Format(time.RFC3339), n1, n2, err)
			}
			k1, _ := tee.TokensUsedSince(ctx, at)
			k2, err := db.TokensUsedSince(ctx, at)
			if err != nil || k1 != k2 {
				t.Errorf("%s: TokensUsedSince(%s) memory %d, database %d (%v)", step, at.Format(time.RFC3339), k1, k2, err)
			}
		}
		o1, _ := tee.OpenOrderEvents(ctx)
		o2, err := db.OpenOrderEvents(ctx)
		if err != nil || !sameEvents(o1, o2) {
			t.Errorf("%s: OpenOrderEvents memory %v, database %v (%v)", step, ids(o1), ids(o2), err)
		}
		for _, id := range []string{"o-1", "o-2", "o-3", "o-none"} {
			e1, ok1, _ := tee.LastOrderEvent(ctx, id)
			e2, ok2, err := db.LastOrderEvent(ctx, id)
			if err != nil || ok1 != ok2 || !sameEvents([]schemas.OrderEvent{e1}, []schemas.OrderEvent{e2}) {
				t.Errorf("%s: LastOrderEvent(%s) memory %v %v, database %v %v (%v)", step, id, e1.State, ok1, e2.State, ok2, err)
			}
		}
		for _, n := range []int{1, 2, 5, 100} {
			c1, i1, _ := tee.RecentInvalidOutput(ctx, n)
			c2, i2, err := db.RecentInvalidOutput(ctx, n)
			if err != nil || c1 != c2 || i1 != i2 {
				t.Errorf("%s: RecentInvalidOutput(%d) memory %d/%d, database %d/%d (%v)", step, n, i1, c1, i2, c2, err)
			}
		}
		e1 := tee.errors
		e2, err := db.ConsecutiveErrors(ctx)
		if err != nil || e1 != e2 {
			t.Errorf("%s: error count memory %d, database %d (%v)", step, e1, e2, err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	step := func(d time.Duration) { now = now.Add(d) }
	// ref gets the same raises synchronously: RaiseLevel must return
	// what audit.Store.RaiseLevel returns.
	ref, err := audit.Open(ctx, filepath.Join(t.TempDir(), "ref.db"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	raise := func(tr audit.LevelTrip) {
		t.Helper()
		got, err := tee.RaiseLevel(ctx, tr)
		must(err)
		want, err := ref.RaiseLevel(ctx, tr)
		must(err)
		if got.Level != want.Level || !got.Since.Equal(want.Since) || !got.Until.Equal(want.Until) || got.Reason != want.Reason {
			t.Errorf("RaiseLevel(%s at %s) = %+v; audit.Store gives %+v", tr.Level, tr.At.Format(time.RFC3339), got, want)
		}
	}

	check("empty")
	must(tee.RecordEquity(ctx, now, decimal.RequireFromString("10000")))
	step(time.Hour)
	must(tee.RecordEquity(ctx, now, decimal.RequireFromString("10250.5")))
	check("two equities")
	step(time.Hour)
	must(tee.RecordEquity(ctx, now, decimal.RequireFromString("9900")))
	raise(audit.LevelTrip{Level: audit.LevelReduce, At: now, Until: now.Add(4 * time.Hour), Reason: "drift", RunID: "bt-1"})
	check("reduce")
	step(time.Hour)
	// A shorter raise keeps the longer cool-down and the episode's start.
	raise(audit.LevelTrip{Level: audit.LevelReduce, At: now, Until: now.Add(time.Hour), Reason: "drift again", RunID: "bt-2"})
	raise(audit.LevelTrip{Level: audit.LevelSafeMode, At: now, Until: now.Add(2 * time.Hour), Reason: "shock", RunID: "bt-2"})
	check("safe mode over reduce")
	ev := schemas.OrderEvent{ClientOrderID: "o-1", DecisionID: "bt-2:0", Role: "entry", State: schemas.OrderIntent, Symbol: "BTC/USDT", Side: schemas.SideBuy, Type: "limit",
		Quantity: decimal.RequireFromString("0.01"), Price: decimal.RequireFromString("50000"), At: now}
	must(tee.AppendOrderEvent(ctx, ev))
	ev.State = schemas.OrderAcknowledged
	must(tee.AppendOrderEvent(ctx, ev))
	ev2 := ev
	ev2.ClientOrderID, ev2.State, ev2.At = "o-2", schemas.OrderIntent, now.Add(time.Second)
	must(tee.AppendOrderEvent(ctx, ev2))
	check("two open orders")
	step(time.Hour)
	ev.State, ev.FilledQty, ev.AvgPrice, ev.At = schemas.OrderFilled, ev.Quantity, ev.Price, now
	must(tee.AppendOrderEvent(ctx, ev))
	_, err = tee.CountError(ctx, now, "bt-3", "advisor", "timeout")
	must(err)
	_, err = tee.CountError(ctx, now, "bt-4", "schema", "bad")
	must(err)
	check("one filled, two errors")
	must(tee.ResetErrors(ctx, now, "bt-5"))
	must(tee.ResetErrors(ctx, now, "bt-6")) // nothing to reset: nothing written
	for i, c := range []audit.LLMCall{
		{Status: "ok", TotalTokens: 1500},
		{Status: "schema_invalid", PromptTokens: 900, CompletionTokens: 100},
		{Status: "http_error", TotalTokens: 0},
		{Status: "ok", Kind: "refusal", TotalTokens: 700},
		{Status: "truncated", TotalTokens: 4000},
		// Sent by the wall clock at other times than their decision
		// times: the token budget counts them when they were sent.
		{Status: "ok", TotalTokens: 300, SentAt: t0.Add(-30 * time.Minute)},
		{Status: "ok", TotalTokens: 200, SentAt: now.Add(30 * time.Minute)},
	} {
		c.RunID, c.Attempt, c.Advisor, c.At = "bt-7", i+1, "openai", now.Add(time.Duration(i)*time.Minute)
		must(tee.RecordLLMCall(ctx, c))
	}
	check("model calls")
	detail, _ := json.Marshal(map[string]string{"alert": "drawdown"})
	first, err := tee.RecordEventOnce(ctx, audit.Event{Kind: audit.EventAlert, RunID: "bt-7", At: now, State: "drawdown", Detail: detail}, "drawdown:2021-03-01")
	must(err)
	again, err := tee.RecordEventOnce(ctx, audit.Event{Kind: audit.EventAlert, RunID: "bt-8", At: now, State: "drawdown", Detail: detail}, "drawdown:2021-03-01")
	must(err)
	if !first || again {
		t.Errorf("RecordEventOnce recorded %v then %v; want true then false", first, again)
	}
	step(5 * time.Hour)
	must(tee.RecordEquity(ctx, now, decimal.RequireFromString("10400")))
	check("after the cool-downs")
	// A new episode after the cool-down ended, and one with no end.
	raise(audit.LevelTrip{Level: audit.LevelReduce, At: now, Until: now.Add(time.Hour), Reason: "drift, later", RunID: "bt-9"})
	raise(audit.LevelTrip{Level: audit.LevelSafeMode, At: now, Reason: "until resumed", RunID: "bt-9"})
	step(time.Hour)
	raise(audit.LevelTrip{Level: audit.LevelSafeMode, At: now, Until: now.Add(time.Hour), Reason: "shock again", RunID: "bt-10"})
	check("open-ended safe mode")
	rep, err := db.Verify(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
}

func sameEvents(a, b []schemas.OrderEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ClientOrderID != y.ClientOrderID || x.State != y.State || !x.At.Equal(y.At) || !x.FilledQty.Equal(y.FilledQty) || !reflect.DeepEqual(x.Symbol, y.Symbol) {
			return false
		}
	}
	return true
}

func ids(evs []schemas.OrderEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ClientOrderID+"/"+string(e.State))
	}
	return out
}
