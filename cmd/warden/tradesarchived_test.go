package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// TestTradesOfATripWhoseBuysWereArchived: a backtest's audit database is
// archived in the middle of a round trip, so its buys are in the archive
// and its sell in the database. `warden trades` showed that trip opened
// at its sell, with quantity 0, no entry and 0 s held, and `profit` took
// the 0 s into its average holding; now it says the entry is archived,
// shows what the buys left at their carried cost, and leaves its holding
// out of the average.
func TestTradesOfATripWhoseBuysWereArchived(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, out, errOut := runMain(t, "backtest", "--symbols", "BTC/USDT", "--from", "2021-01-01", "--to", "2021-03-01", "--audit", "--out", "bt", "--quiet"); code != exitOK {
		t.Fatalf("backtest = %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runMain(t, "audit", "archive", "--db", "bt/audit.db", "--before", "2021-02-15"); code != exitOK {
		t.Fatalf("audit archive = %d\n%s\n%s", code, out, errOut)
	}
	_, js, _ := runMain(t, "trades", "--db", "bt/audit.db", "--json")
	var rows []struct {
		ID            int             `json:"id"`
		EntryArchived bool            `json:"entry_archived"`
		EntryPrice    decimal.Decimal `json:"entry_price"`
		CarriedIn     decimal.Decimal `json:"carried_in"`
		Holding       json.RawMessage `json:"holding"`
	}
	if err := json.Unmarshal([]byte(js), &rows); err != nil {
		t.Fatalf("trades --json: %v\n%s", err, js)
	}
	var archived int
	for _, r := range rows {
		if r.EntryArchived {
			archived = r.ID
			if !r.EntryPrice.IsPositive() || !r.CarriedIn.IsPositive() {
				t.Errorf("trip %d: entry %s, carried %s; want the carried quantity at its average cost", r.ID, r.EntryPrice, r.CarriedIn)
			}
		}
	}
	if archived == 0 {
		t.Fatalf("no trip with its entry archived; the test needs the archive to cut one\n%s", js)
	}
	_, text, _ := runMain(t, "trades", "--db", "bt/audit.db")
	var line string
	for _, l := range strings.Split(text, "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[0] == "1" && f[1] == "BTC/USDT" {
			line = l
		}
	}
	if f := strings.Fields(line); len(f) < 8 || f[2] != "archived" || f[6] != "-" || !strings.HasSuffix(f[7], "†") || f[8] == "-" {
		t.Errorf("trip 1 reads %q; want opened 'archived', holding '-', the carried quantity marked † and its entry", line)
	}
	if !strings.Contains(text, "† its buys are in the archives") {
		t.Errorf("trades does not explain †:\n%s", text)
	}
	if !strings.Contains(text, "  1  opened before the live database starts") {
		t.Errorf("why trip 1 was opened: want it said to be in the archives (its first decision here is its exit)\n%s", text)
	}
	// CSV: no made-up opening time or holding; the carried quantity and
	// the mark.
	_, csv, _ := runMain(t, "trades", "--db", "bt/audit.db", "--csv")
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	head, row := strings.Split(lines[0], ","), strings.Split(lines[1], ",")
	col := func(name string) string {
		for i, h := range head {
			if h == name && i < len(row) {
				return row[i]
			}
		}
		t.Fatalf("no column %s in %s", name, lines[0])
		return ""
	}
	if col("opened_at") != "" || col("holding_s") != "" || col("entry_archived") != "true" || col("carried_in") == "" {
		t.Errorf("trip 1 in CSV: opened_at %q, holding_s %q, entry_archived %q, carried_in %q; want the first two empty, true and the carried quantity",
			col("opened_at"), col("holding_s"), col("entry_archived"), col("carried_in"))
	}
	// With the archives, the same trip has its buys and its holding.
	_, full, _ := runMain(t, "trades", "--db", "bt/audit.db", "--archive", "bt/archive", "--json")
	if strings.Contains(full, `"entry_archived": true`) || strings.Contains(full, `"entry_archived":true`) {
		t.Errorf("trades --archive still has a trip with its entry archived")
	}
}
