package backtest

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
)

// TestAuditedBacktestRecordsSimulatedTime: every record of an audited
// backtest, including those the agent does not time itself (the model's
// response, the end of each run), carries a time inside the simulated
// period, in its row and in its body; once the backtest is over the store
// stamps with the wall clock again. (Response and run-end records once
// carried the wall clock, so `audit list --since 24h` on a backtest's
// database listed them and `audit archive --before` split decisions.)
func TestAuditedBacktestRecordsSimulatedTime(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bt.db")
	store, err := audit.Open(ctx, path, AuditOptions(nil)) // as warden backtest --audit
	if err != nil {
		t.Fatal(err)
	}
	from, to := april, april.AddDate(0, 0, 3)
	if _, err := Run(ctx, Config{From: from, To: to, Symbols: []string{"BTC/USDT"}, Audit: store}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := store.RecordEvent(ctx, audit.Event{Kind: audit.EventReconcile, State: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT seq, kind, at, body FROM records ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	// A decision is made at the close of the bar that opened at `to`'s
	// last hour at the latest.
	lo, hi := from, to.Add(time.Hour)
	kinds := map[string]int{}
	var last struct {
		kind string
		at   time.Time
	}
	for rows.Next() {
		var seq, at int64
		var kind, body string
		if err := rows.Scan(&seq, &kind, &at, &body); err != nil {
			t.Fatal(err)
		}
		ts := time.Unix(0, at).UTC()
		last.kind, last.at = kind, ts
		if kind == audit.KindEvent && ts.After(hi) {
			continue // the event recorded after Run, checked below
		}
		kinds[kind]++
		if ts.Before(lo) || ts.After(hi) {
			t.Errorf("record %d (%s) at %s: outside the simulated period %s .. %s", seq, kind, ts.Format(time.RFC3339), lo.Format(time.RFC3339), hi.Format(time.RFC3339))
			continue
		}
		var b struct {
			At      time.Time `json:"at"`
			EndedAt time.Time `json:"ended_at"`
		}
		field := map[string]*time.Time{audit.KindResponse: &b.At, audit.KindRunEnd: &b.EndedAt}[kind]
		if field == nil {
			continue
		}
		if err := json.Unmarshal([]byte(body), &b); err != nil {
			t.Fatalf("record %d (%s): %v", seq, kind, err)
		}
		if !field.Equal(ts) {
			t.Errorf("record %d (%s): body time %s, row time %s", seq, kind, field.Format(time.RFC3339Nano), ts.Format(time.RFC3339Nano))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{audit.KindRun, audit.KindLLMCall, audit.KindResponse, audit.KindVerdict, audit.KindRunEnd} {
		if kinds[k] < 24 {
			t.Errorf("%d %s records over three days of hourly decisions; want one per decision", kinds[k], k)
		}
	}
	if last.kind != audit.KindEvent || last.at.Before(before.Add(-time.Second)) || last.at.After(time.Now().Add(time.Second)) {
		t.Errorf("the event recorded after the backtest is a %s at %s; want an event at the wall clock (%s)", last.kind, last.at, before)
	}
}
