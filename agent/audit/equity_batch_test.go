package audit

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// TestEquityBatchedAnswersAsCommitted: a batched store answers PeakEquity
// and EquityAt from queued equities without committing them, and its
// answers are those of a store that commits every record, at every step:
// equal times, times going back, ties, the queue filling and flushing.
func TestEquityBatchedAnswersAsCommitted(t *testing.T) {
	ctx := context.Background()
	plain, _ := openTest(t, Options{})
	batched, _ := openTest(t, Options{BatchSize: 7, Scratch: true})
	rng := rand.New(rand.NewSource(11))
	base := time.Date(2024, 1, 10, 0, 0, 0, 0, time.UTC)
	at := base
	check := func(step int) {
		t.Helper()
		wp, wok, werr := plain.PeakEquity(ctx)
		gp, gok, gerr := batched.PeakEquity(ctx)
		if werr != nil || gerr != nil || wok != gok || !wp.Equal(gp) {
			t.Fatalf("step %d: PeakEquity batched = %v %v %v; committed = %v %v %v", step, gp, gok, gerr, wp, wok, werr)
		}
		for _, q := range []time.Time{base.Add(-time.Hour), base, at, at.Add(-time.Hour), at.Add(-90 * time.Minute), at.Add(time.Hour), at.Truncate(24 * time.Hour), at.Truncate(6 * time.Hour)} {
			we, wok, werr := plain.EquityAt(ctx, q)
			ge, gok, gerr := batched.EquityAt(ctx, q)
			if werr != nil || gerr != nil || wok != gok || !we.Equal(ge) {
				t.Fatalf("step %d: EquityAt(%v) batched = %v %v %v; committed = %v %v %v", step, q, ge, gok, gerr, we, wok, werr)
			}
		}
	}
	check(-1)
	for i := 0; i < 60; i++ {
		switch rng.Intn(4) {
		case 0: // same time again
		case 1:
			at = at.Add(-time.Hour) // a time before the last
		default:
			at = at.Add(time.Duration(1+rng.Intn(5)) * time.Hour)
		}
		eq := decimal.NewFromInt(int64(900 + rng.Intn(300)))
		for _, s := range []*Store{plain, batched} {
			if err := s.RecordEquity(ctx, at, eq); err != nil {
				t.Fatal(err)
			}
		}
		check(i)
	}
	// The batched store committed only whole batches: reads did not commit.
	var n int
	if err := batched.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM records WHERE kind = 'equity'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 56 { // 60 queued, committed 7 at a time
		t.Errorf("committed equity records = %d; want 56 (8 batches of 7, the rest queued)", n)
	}
	if err := batched.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check(60)
	// Every equity record, peak included, is the committing store's byte
	// for byte: a batch takes the peak of an equity appended earlier in the
	// same transaction from memory, the first one of a batch from the
	// database.
	bodies := func(s *Store) []string {
		rows, err := s.db.QueryContext(ctx, `SELECT body FROM records WHERE kind = 'equity' ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var b string
			if err := rows.Scan(&b); err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	want, got := bodies(plain), bodies(batched)
	if len(want) != 60 || len(got) != 60 {
		t.Fatalf("equity records: committing %d, batched %d; want 60", len(want), len(got))
	}
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("equity record %d: batched %s; committing %s", i, got[i], want[i])
		}
	}
}

// TestRecentInvalidOutputBatchedAnswersAsCommitted: the invalid-output
// breaker's count from a batched store (queued calls from memory, nothing
// committed by the read) equals a committing store's at every step.
func TestRecentInvalidOutputBatchedAnswersAsCommitted(t *testing.T) {
	ctx := context.Background()
	plain, _ := openTest(t, Options{})
	batched, _ := openTest(t, Options{BatchSize: 9, Scratch: true})
	rng := rand.New(rand.NewSource(5))
	at := time.Date(2024, 1, 10, 0, 0, 0, 0, time.UTC)
	statuses := []struct{ status, kind string }{{"ok", ""}, {"ok", ""}, {"refusal", "refusal"}, {"truncated", "truncated"}, {"schema_invalid", "schema_invalid"}, {"ok", "schema_invalid_after_repair"}, {"http_error", ""}}
	for i := 0; i < 70; i++ {
		switch rng.Intn(4) {
		case 0:
		case 1:
			at = at.Add(-time.Minute)
		default:
			at = at.Add(time.Duration(1+rng.Intn(30)) * time.Minute)
		}
		st := statuses[rng.Intn(len(statuses))]
		for _, s := range []*Store{plain, batched} {
			if err := s.RecordLLMCall(ctx, LLMCall{RunID: fmt.Sprintf("r%d", i), Attempt: 1, At: at, Status: st.status, Kind: st.kind, Request: "{}", Response: "{}"}); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range []int{0, 1, 5, 20, 100} {
			wc, wi, werr := plain.RecentInvalidOutput(ctx, n)
			gc, gi, gerr := batched.RecentInvalidOutput(ctx, n)
			if werr != nil || gerr != nil || wc != gc || wi != gi {
				t.Fatalf("step %d, last %d: batched = %d calls %d invalid (%v); committed = %d, %d (%v)", i, n, gc, gi, gerr, wc, wi, werr)
			}
		}
	}
	var n int
	if err := batched.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM records WHERE kind = 'llm_call'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 63 {
		t.Errorf("committed calls = %d; want 63 (7 batches of 9): the reads committed the queue", n)
	}
}
