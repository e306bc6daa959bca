package backtest

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
)

// TestTripsReconcileWithAuditAndCash: the round trips a backtest reports
// (report, summary.json, trades.csv) realise, symbol by symbol and to the
// last digit, what `warden trades` and `profit` compute from the same
// backtest's audit database; and what they realised less the cost of what
// is still held is the cash the run gained. (Trips once counted a fee paid
// in the base asset twice and lost the cost of the remainder a trip closed
// with: a year of daily BTC/USDT decisions reported −17.88 realised for
// an equity change of −8.77.)
func TestTripsReconcileWithAuditAndCash(t *testing.T) {
	ctx := context.Background()
	store, err := audit.Open(ctx, filepath.Join(t.TempDir(), "bt.db"), AuditOptions(nil)) // as warden backtest --audit
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	from := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := Config{From: from, To: from.AddDate(0, 6, 0), Symbols: []string{"BTC/USDT", "ETH/USDT"}, Every: 24 * time.Hour, Audit: store}
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := 0
	realised := map[string]decimal.Decimal{}
	for _, tr := range res.Trips {
		realised[tr.Symbol] = realised[tr.Symbol].Add(tr.PnL)
		if !tr.Open {
			closed++
		}
	}
	if closed < 10 {
		t.Fatalf("%d closed round trips in half a year of daily decisions; the window should trade", closed)
	}

	fills, err := store.FillRecords(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fills) != len(res.Fills) {
		t.Fatalf("the audit holds %d fills; the backtest made %d", len(fills), len(res.Fills))
	}
	book := audit.BuildBook(fills, nil)
	for i, sym := range cfg.Symbols {
		if !realised[sym].Equal(book.Realised[sym]) {
			t.Errorf("%s: the backtest's trips realised %s; warden trades/profit on its audit database %s", sym, realised[sym], book.Realised[sym])
		}
		if s := res.Summary.Symbols[i]; s.Symbol != sym || !s.RealisedPnL.Equal(realised[sym]) {
			t.Errorf("summary.json: %s realised %s; its trips %s", s.Symbol, s.RealisedPnL, realised[sym])
		}
	}

	// Cash: start cash + realised − cost still held = end cash.
	led := map[string]*audit.Ledger{}
	for _, f := range res.Fills {
		if led[f.Symbol] == nil {
			led[f.Symbol] = &audit.Ledger{}
		}
		led[f.Symbol].Apply(audit.FillRecord{Trade: f})
	}
	want := res.Summary.Advisor.StartEquity
	for _, sym := range cfg.Symbols {
		want += realised[sym].InexactFloat64()
		if l := led[sym]; l != nil {
			want -= l.Basis.InexactFloat64()
		}
	}
	last := res.Curve[len(res.Curve)-1]
	if got := last.Equity - last.Invested; math.Abs(got-want) > 1e-6 {
		t.Errorf("end cash %.8f; start cash + realised − cost held = %.8f", got, want)
	}
}
