package audit

import (
	"context"
	"testing"
	"time"

	"github.com/warden-trading/warden/schemas"
)

// TestLevelTimes: the time at each level inside a window, from the level
// switches as recorded: cool-downs, extensions, a resume, overlaps of
// reduce and safe mode (safe mode counts, reduce under it does not), and
// windows that cut an episode.
func TestLevelTimes(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st, _ := openTest(t, Options{Clock: clk.Now})
	t0 := clk.Now()
	h := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Hour))) }
	raise := func(level string, at, until time.Time) {
		t.Helper()
		if _, err := st.RaiseLevel(ctx, LevelTrip{Level: level, At: at, Until: until, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	// The first run starts at 0h: before it nothing ran, at no level.
	if err := st.BeginRun(ctx, Run{ID: "r-first", StartedAt: h(0), Mode: "paper", Advisor: "baseline"}); err != nil {
		t.Fatal(err)
	}
	raise(LevelReduce, h(0), h(4))   // reduce 0-4h ...
	raise(LevelSafeMode, h(1), h(2)) // safe mode 1-2h on top
	raise(LevelReduce, h(3), h(6))   // reduce extended to 6h
	clk.Advance(5 * time.Hour)       // resume at 5h ends reduce
	if err := st.EndLevels(ctx, "operator", "checked"); err != nil {
		t.Fatal(err)
	}
	raise(LevelSafeMode, h(8), time.Time{}) // safe mode from 8h until resumed
	for _, c := range []struct {
		from, to             time.Time
		active, reduce, safe time.Duration
	}{
		{h(0), h(10), 3 * time.Hour, 4 * time.Hour, 3 * time.Hour}, // active 5-8h; reduce 0-1h and 2-5h; safe 1-2h and 8-10h
		{h(1.5), h(3), 0, 1 * time.Hour, 30 * time.Minute},
		{h(5), h(8), 3 * time.Hour, 0, 0},
		{h(9), h(9.5), 0, 0, 30 * time.Minute},
		{h(-48), h(10), 3 * time.Hour, 4 * time.Hour, 3 * time.Hour}, // two days before the first run: not active time
		{h(-48), h(0), 0, 0, 0},
	} {
		lt, err := st.levelTimes(ctx, c.from, c.to)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]time.Duration{}
		for _, l := range lt {
			got[l.Level] = time.Duration(l.Duration)
		}
		if got[LevelActive] != c.active || got[LevelReduce] != c.reduce || got[LevelSafeMode] != c.safe {
			t.Errorf("[%v, %v): active %v reduce %v safe %v; want %v %v %v", c.from.Sub(t0), c.to.Sub(t0),
				got[LevelActive], got[LevelReduce], got[LevelSafeMode], c.active, c.reduce, c.safe)
		}
	}
}

// TestReviewCounts: rejections by rule, errors by component, model calls
// by status (taken by run, whatever the call's own time), orders by role
// and state, and the verified chain head.
func TestReviewCounts(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st, _ := openTest(t, Options{Clock: clk.Now})
	t0 := clk.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.BeginRun(ctx, Run{ID: "r1", StartedAt: t0, Mode: "paper", Advisor: "openai", Model: "m"}))
	// A call stamped with another clock (wall time) still counts for its run.
	must(st.RecordLLMCall(ctx, LLMCall{RunID: "r1", At: t0.Add(1000 * time.Hour), Model: "m", Status: "ok", PromptTokens: 100, CompletionTokens: 20}))
	must(st.RecordLLMCall(ctx, LLMCall{RunID: "r1", At: t0, Model: "m", Status: "http_error"}))
	_, err := st.RecordVerdicts(ctx, "r1", "p", schemas.State{Now: t0}, []schemas.Verdict{
		{Index: 0, Symbol: "BTC/USDT", Action: schemas.ActionBuy, Decision: schemas.DecisionRejected,
			Violations: []schemas.Violation{{Rule: "max_position"}, {Rule: "min_confidence_buy"}}},
		{Index: 1, Symbol: "ETH/USDT", Action: schemas.ActionBuy, Decision: schemas.DecisionRejected, Violations: []schemas.Violation{{Rule: "max_position"}}},
		{Index: 2, Symbol: "ETH/USDT", Action: schemas.ActionHold, Decision: schemas.DecisionNoAction},
	})
	must(err)
	_, err = st.CountError(ctx, t0, "r1", "advisor", "HTTP 500")
	must(err)
	must(st.ResetErrors(ctx, t0, "r1")) // a reset is no error
	must(st.AppendOrderEvent(ctx, schemas.OrderEvent{ClientOrderID: "o1", Role: "entry", State: schemas.OrderIntent, Symbol: "BTC/USDT", Side: schemas.SideBuy, At: t0}))
	must(st.AppendOrderEvent(ctx, schemas.OrderEvent{ClientOrderID: "o1", Role: "entry", State: schemas.OrderFilled, Symbol: "BTC/USDT", Side: schemas.SideBuy, At: t0}))
	must(st.EndRun(ctx, "r1", "ok", map[string]any{"order_errors": []string{"r1:0: refused"}}))
	// Outside the window: not counted.
	must(st.BeginRun(ctx, Run{ID: "r0", StartedAt: t0.Add(-48 * time.Hour), Mode: "paper", Advisor: "openai", Model: "m"}))
	must(st.RecordLLMCall(ctx, LLMCall{RunID: "r0", At: t0, Model: "m", Status: "timeout"}))

	r, err := st.BuildReview(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := CountsText(r.Rejections); got != "max_position 2, min_confidence_buy 1" {
		t.Errorf("rejections %s", got)
	}
	if got := CountsText(r.Errors); got != "advisor 1, executor 1" {
		t.Errorf("errors %s", got)
	}
	if got := CountsText(r.ModelCalls); got != "http_error 1, ok 1" || r.FailedCalls != 1 {
		t.Errorf("model calls %s, failed %d", got, r.FailedCalls)
	}
	if len(r.Tokens) != 1 || r.Tokens[0].Total != 120 || r.Tokens[0].Prompt != 100 || r.Tokens[0].Calls != 2 {
		t.Errorf("tokens %+v", r.Tokens)
	}
	if len(r.Orders) != 1 || r.Orders[0] != (OrderCount{Role: "entry", State: "filled", Count: 1}) {
		t.Errorf("orders %+v", r.Orders)
	}
	if r.Decisions["rejected"] != 2 || r.Decisions["no_action"] != 1 || r.Runs["failed"] != 1 {
		t.Errorf("decisions %v runs %v", r.Decisions, r.Runs)
	}
	rep, err := st.Verify(ctx)
	if err != nil || !r.ChainOK || r.HeadHash != rep.HeadHash || r.HeadSeq != rep.HeadSeq {
		t.Errorf("chain head %d %s ok %v; verify says %d %s", r.HeadSeq, r.HeadHash, r.ChainOK, rep.HeadSeq, rep.HeadHash)
	}
}
