package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/warden-trading/warden/schemas"
)

// BenchmarkRecordDecision records one decision the way a backtest step
// does: the state it was judged against and one verdict, in one
// transaction.
func BenchmarkRecordDecision(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"normal", Options{}},
		{"fullsync", Options{FullSync: true}},
		{"batch256", Options{BatchSize: 256}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			clk := newClock()
			opts := bc.opts
			opts.Clock, opts.Secrets = clk.Now, []string{"sk-secret-value"}
			s, _ := openTest(b, opts)
			st := testState(clk.Now())
			v := testVerdicts()[:1]
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				st.Now = st.Now.Add(time.Hour)
				if _, err := s.RecordVerdicts(ctx, fmt.Sprintf("bt-%d", i), "pol-1", st, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRecordRun records one whole advisor run: start, model call,
// response, two verdicts, end.
func BenchmarkRecordRun(b *testing.B) {
	b.Run("normal", func(b *testing.B) { benchmarkRecordRun(b, Options{}) })
	b.Run("batch256", func(b *testing.B) { benchmarkRecordRun(b, Options{BatchSize: 256}) })
	// A backtest's store: batches committed in the background.
	b.Run("scratch256", func(b *testing.B) { benchmarkRecordRun(b, Options{BatchSize: 256, Scratch: true}) })
	// warden backtest --audit: the insert trigger created at Close.
	b.Run("bulk256", func(b *testing.B) { benchmarkRecordRun(b, Options{BatchSize: 256, Scratch: true, Bulk: true}) })
}

func benchmarkRecordRun(b *testing.B, opts Options) {
	ctx := context.Background()
	clk := newClock()
	opts.Clock = clk.Now
	s, _ := openTest(b, opts)
	raw, _ := json.Marshal(testResponse())
	st := testState(clk.Now())
	vs := testVerdicts()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("run-%d", i)
		if err := s.BeginRun(ctx, Run{ID: id, Mode: "backtest", Advisor: "baseline", PolicyHash: "pol-1"}); err != nil {
			b.Fatal(err)
		}
		if err := s.RecordLLMCall(ctx, LLMCall{RunID: id, Attempt: 1, Request: `{"messages":[]}`, Response: string(raw), TotalTokens: 100}); err != nil {
			b.Fatal(err)
		}
		if err := s.RecordResponse(ctx, id, raw, testResponse(), nil); err != nil {
			b.Fatal(err)
		}
		if _, err := s.RecordVerdicts(ctx, id, "pol-1", st, vs); err != nil {
			b.Fatal(err)
		}
		if err := s.EndRun(ctx, id, "ok", nil); err != nil {
			b.Fatal(err)
		}
	}
	// The last batch, and for Bulk the trigger, are part of the cost.
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAppendOrderEvent is one durable (synchronous=FULL) journal
// write.
func BenchmarkAppendOrderEvent(b *testing.B) {
	ctx := context.Background()
	s, _ := openTest(b, Options{})
	ev := orderEvent("x", schemas.OrderIntent, time.Time{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ev.ClientOrderID = fmt.Sprintf("o-%d", i)
		if err := s.AppendOrderEvent(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify recomputes a chain of 10k records.
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(b, Options{Clock: clk.Now})
	st := testState(clk.Now())
	for i := 0; i < 5000; i++ {
		if _, err := s.RecordVerdicts(ctx, fmt.Sprintf("bt-%d", i), "pol-1", st, testVerdicts()[:1]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rep, err := s.Verify(ctx)
		if err != nil || !rep.OK {
			b.Fatal(rep, err)
		}
	}
}
