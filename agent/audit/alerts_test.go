package audit

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// TestRecordEventOnceAcrossProcesses: two stores on the same file (two
// processes) racing to record the same alert record it once; another key
// records again; the chain still verifies.
func TestRecordEventOnceAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	a, path := openTest(t, Options{})
	b := openAt(t, path, Options{})
	at := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	ev := Event{Kind: EventAlert, At: at, State: "day_loss", Detail: json.RawMessage(`{"value":"2.1"}`)}
	var wg sync.WaitGroup
	results := make([]bool, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			results[i], errs[i] = s.RecordEventOnce(ctx, ev, "alert/day_loss/70/2026-12-07")
		}()
	}
	wg.Wait()
	n := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("RecordEventOnce #%d: %v", i, errs[i])
		}
		if r {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("RecordEventOnce recorded %d times; want once", n)
	}
	if ok, err := b.RecordEventOnce(ctx, ev, "alert/day_loss/70/2026-12-08"); err != nil || !ok {
		t.Fatalf("RecordEventOnce with the next day's key = %v, %v; want recorded", ok, err)
	}
	if _, err := a.RecordEventOnce(ctx, ev, ""); err == nil {
		t.Error("RecordEventOnce without a key: no error")
	}
	rows, err := a.ListEvents(ctx, EventFilter{Kinds: []string{EventAlert}})
	if err != nil || len(rows) != 2 {
		t.Fatalf("ListEvents(alert) = %d rows, %v; want 2", len(rows), err)
	}
	if rep, err := a.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("Verify() after the alerts = %+v, %v", rep, err)
	}
}
