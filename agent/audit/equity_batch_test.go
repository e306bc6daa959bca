package audit

import (
	"context"
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
}
