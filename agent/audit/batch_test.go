package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/schemas"
)

func TestBatchMode(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, path := openTest(t, Options{Clock: clk.Now, BatchSize: 50})
	count := func() int {
		t.Helper()
		var n int
		if err := rawDB(t, path).QueryRow(`SELECT COUNT(*) FROM records`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	st := testState(clk.Now())
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("bt-%d", i)
		if err := s.BeginRun(ctx, Run{ID: id, Advisor: "baseline"}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordResponse(ctx, id, []byte("{}"), testResponse(), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordVerdicts(ctx, id, "pol", st, testVerdicts()); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 0 {
		t.Errorf("records on disk before the batch fills = %d; want 0", n)
	}
	// A read commits the queue first.
	rows, err := s.List(ctx, Filter{})
	if err != nil || len(rows) != 20 {
		t.Fatalf("List() in batch mode = %d rows, %v; want 20", len(rows), err)
	}
	if rows[0].Recommendation == nil || !strings.Contains(string(rows[0].Recommendation), "overbought") || rows[0].Advisor != "baseline" {
		t.Errorf("batched verdict = %+v; want its recommendation and advisor found inside the batch", rows[0])
	}
	if n := count(); n != 50 {
		t.Errorf("records on disk after a read = %d; want 50", n)
	}

	// A durable write commits the queue with it.
	if err := s.RecordEvent(ctx, Event{Kind: EventBreaker}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendOrderEvent(ctx, orderEvent("o1", schemas.OrderIntent, time.Time{})); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 52 {
		t.Errorf("records on disk after an order event = %d; want 52", n)
	}

	// A failing queued write loses only itself; its error comes with the commit.
	if err := s.RecordEvent(ctx, Event{Kind: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordVerdicts(ctx, "bt-0", "pol", st, testVerdicts()); err != nil {
		t.Fatalf("queued RecordVerdicts = %v; want nil until commit", err)
	}
	if err := s.RecordEvent(ctx, Event{Kind: "b"}); err != nil {
		t.Fatal(err)
	}
	err = s.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Errorf("Flush() with a duplicate decision queued = %v; want a UNIQUE error", err)
	}
	if n := count(); n != 54 {
		t.Errorf("records on disk after the failed batch = %d; want 54 (both events kept)", n)
	}

	// Close commits the rest.
	if err := s.RecordEvent(ctx, Event{Kind: "c"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 55 {
		t.Errorf("records on disk after Close = %d; want 55", n)
	}
	rep, err := openAt(t, path, Options{ReadOnly: true}).Verify(ctx)
	if err != nil || !rep.OK || rep.Records != 55 {
		t.Errorf("Verify() = %+v, %v; want OK with 55 records", rep, err)
	}
}
