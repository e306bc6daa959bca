package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// recordAuditRun writes one run with a model call, a response, an
// approved and a rejected decision, an order with a fill and a
// notification, and returns the database path.
func recordAuditRun(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "warden.db")
	now := time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC)
	st, err := audit.Open(ctx, path, audit.Options{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := decimal.RequireFromString
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	resp := &schemas.Response{Rationale: "BTC holds above its rising 50-hour EMA.", Recommendations: []schemas.Recommendation{
		{Symbol: "BTC/USDT", Action: schemas.ActionBuy, Confidence: d("0.8"), SizePct: d("2"), OrderType: schemas.OrderLimit, Reason: "trend"},
		{Symbol: "ETH/USDT", Action: schemas.ActionBuy, Confidence: d("0.5"), SizePct: d("40"), OrderType: schemas.OrderMarket, Reason: "bounce"},
	}}
	raw, _ := json.Marshal(resp)
	must(st.BeginRun(ctx, audit.Run{ID: "run-1", Mode: "paper", Advisor: "openai", Model: "gpt-4o-mini", PolicyHash: "pol-abc"}))
	must(st.RecordLLMCall(ctx, audit.LLMCall{RunID: "run-1", Attempt: 1, Advisor: "openai", Model: "gpt-4o-mini", HTTPStatus: 200, Status: "ok",
		Request:  `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a careful advisor."},{"role":"user","content":"BTC/USDT last 42005"}]}`,
		Response: `{"choices":[{"finish_reason":"stop"}]}`, TotalTokens: 900}))
	must(st.RecordResponse(ctx, "run-1", raw, resp, nil))
	ids, err := st.RecordVerdicts(ctx, "run-1", "pol-abc", schemas.State{Now: now, Mode: "paper"}, []schemas.Verdict{
		{Index: 0, Symbol: "BTC/USDT", Action: schemas.ActionBuy, Decision: schemas.DecisionApproved,
			Order: &schemas.Order{Symbol: "BTC/USDT", Side: schemas.SideBuy, Type: schemas.OrderLimit, Quantity: d("0.0047"), Price: d("42000"), Notional: d("197.4")},
			Rules: []schemas.RuleResult{{Name: "max_position_pct", Mode: "enforce", Passed: true}}},
		{Index: 1, Symbol: "ETH/USDT", Action: schemas.ActionBuy, Decision: schemas.DecisionRejected,
			Violations: []schemas.Violation{{Rule: "max_position_pct", Message: "40% is above the 10% limit", Source: schemas.SourcePolicy}},
			Rules:      []schemas.RuleResult{{Name: "max_position_pct", Mode: "enforce", Passed: false, Message: "40% is above the 10% limit"}}},
	})
	must(err)
	ev := schemas.OrderEvent{ClientOrderID: "wd-run-1-0", DecisionID: ids[0], Role: "entry", State: schemas.OrderIntent, Symbol: "BTC/USDT", Side: schemas.SideBuy, Type: "limit", Quantity: d("0.0047"), Price: d("42000")}
	must(st.AppendOrderEvent(ctx, ev))
	ev.State, ev.FilledQty = schemas.OrderFilled, d("0.0047")
	must(st.AppendOrderEvent(ctx, ev))
	_, err = st.RecordFill(ctx, executor.Trade{ID: "t-77", ClientOrderID: "wd-run-1-0", Symbol: "BTC/USDT", Side: schemas.SideBuy, Price: d("41990"), Quantity: d("0.0047"), Fee: d("0.19"), FeeCurrency: "USDT", Time: now})
	must(err)
	nid, err := st.Enqueue(ctx, schemas.Notification{Channel: "telegram", Kind: "approved", Title: "Approved: buy BTC/USDT", DedupKey: "approved:" + ids[0], RunID: "run-1"})
	must(err)
	must(st.RecordDelivery(ctx, schemas.DeliveryAttempt{NotificationID: nid, Delivered: true}))
	must(st.EndRun(ctx, "run-1", "ok", nil))
	return path
}

func runWarden(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestAuditList(t *testing.T) {
	db := recordAuditRun(t)
	tests := []struct {
		name    string
		args    []string
		want    []string
		notWant []string
	}{
		{"table", nil, []string{"DECISION ID", "run-1:0", "run-1:1", "buy 0.0047 @ 42000", "max_position_pct", "gpt-4o-mini"}, nil},
		{"decision", []string{"--decision", "rejected"}, []string{"run-1:1"}, []string{"run-1:0"}},
		{"symbol", []string{"--symbol", "BTC/USDT"}, []string{"run-1:0"}, []string{"run-1:1"}},
		{"rule", []string{"--rule", "max_position_pct"}, []string{"run-1:1"}, []string{"run-1:0"}},
		{"until before", []string{"--until", "2024-01-10T11:00:00Z"}, []string{"no decisions recorded"}, []string{"run-1"}},
		{"since date", []string{"--since", "2024-01-10"}, []string{"run-1:0", "run-1:1"}, nil},
		{"advisor", []string{"--advisor", "baseline"}, []string{"no decisions"}, nil},
		{"limit", []string{"--limit", "1"}, []string{"run-1:1"}, []string{"run-1:0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"audit", "list", "--db", db}, tt.args...)
			code, out, errOut := runWarden(t, args...)
			if code != 0 {
				t.Fatalf("warden %v = exit %d, %s", args, code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("warden %v output lacks %q:\n%s", args, w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("warden %v output has %q:\n%s", args, w, out)
				}
			}
		})
	}

	code, out, _ := runWarden(t, "audit", "list", "--db", db, "--json")
	var rows []audit.DecisionRow
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil || len(rows) != 2 || rows[0].DecisionID != "run-1:1" {
		t.Errorf("audit list --json = exit %d, %d rows, %v:\n%s", code, len(rows), err, out)
	}
	for _, args := range [][]string{
		{"audit", "list", "--db", db, "--since", "yesterday"},
		{"audit", "list", "--db", db, "--decision", "maybe"},
		{"audit", "list", "--db", db, "--limit", "-1"},
	} {
		if code, _, errOut := runWarden(t, args...); code != 2 || errOut == "" {
			t.Errorf("warden %v = exit %d, %q; want 2 with a message", args, code, errOut)
		}
	}
}

func TestAuditMissingDB(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.db")
	for _, sub := range []string{"list", "verify", "export"} {
		code, _, errOut := runWarden(t, "audit", sub, "--db", missing)
		if code != 2 || !strings.Contains(errOut, "no such database file") {
			t.Errorf("warden audit %s on a missing db = exit %d, %q; want 2, no such database file", sub, code, errOut)
		}
	}
	if code, _, _ := runWarden(t, "audit", "show", "x", "--db", missing); code != 2 {
		t.Errorf("warden audit show on a missing db = exit %d; want 2", code)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("a read command created %s", missing)
	}
}

func TestAuditShow(t *testing.T) {
	db := recordAuditRun(t)
	code, out, errOut := runWarden(t, "audit", "show", "run-1:0", "--db", db)
	if code != 0 {
		t.Fatalf("audit show = exit %d, %s", code, errOut)
	}
	for _, w := range []string{
		"decision run-1:0", "[system]", "You are a careful advisor.", "BTC/USDT last 42005", // prompt
		`{"choices":[{"finish_reason":"stop"}]}`,             // raw response
		"BTC holds above its rising 50-hour EMA.",            // rationale
		"run-1:0: buy BTC/USDT -> APPROVED (policy pol-abc)", // decision
		"rule      pass max_position_pct (enforce)",          // each rule
		"-- order wd-run-1-0", "filled", "fill 2024-01-10T12:00:00Z buy 0.0047 @ 41990 fee 0.19 USDT",
		"notification", "to telegram (approved): Approved: buy BTC/USDT", "delivered",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("audit show run-1:0 lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "run-1:1") {
		t.Errorf("audit show run-1:0 shows the other decision:\n%s", out)
	}

	code, out, _ = runWarden(t, "audit", "show", "run-1", "--db", db, "--json")
	var story audit.Story
	if err := json.Unmarshal([]byte(out), &story); code != 0 || err != nil || story.Kind != "run" || len(story.Decisions) != 2 ||
		story.Decisions[1].Verdict.Violations[0].Rule != "max_position_pct" {
		t.Errorf("audit show run-1 --json = exit %d, %v, %+v", code, err, story)
	}
	if code, _, errOut := runWarden(t, "audit", "show", "nope", "--db", db); code != 2 || !strings.Contains(errOut, "nope") {
		t.Errorf("audit show nope = exit %d, %q; want 2 naming it", code, errOut)
	}
}

func TestAuditExport(t *testing.T) {
	db := recordAuditRun(t)
	out := filepath.Join(t.TempDir(), "decisions.csv")
	if code, _, errOut := runWarden(t, "audit", "export", "--db", db, "--format", "csv", "--out", out); code != 0 {
		t.Fatalf("audit export csv = exit %d, %s", code, errOut)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "seq,decision_id,") || !strings.Contains(lines[2], "run-1:1") || !strings.Contains(lines[2], "max_position_pct") {
		t.Errorf("audit export csv =\n%s", b)
	}

	code, stdout, _ := runWarden(t, "audit", "export", "--db", db, "--format", "jsonl", "--decision", "approved")
	jl := strings.Split(strings.TrimSpace(stdout), "\n")
	var row audit.DecisionRow
	if code != 0 || len(jl) != 1 || json.Unmarshal([]byte(jl[0]), &row) != nil || row.DecisionID != "run-1:0" {
		t.Errorf("audit export jsonl --decision approved = exit %d:\n%s", code, stdout)
	}
	code, stdout, _ = runWarden(t, "audit", "export", "--db", db, "--records")
	if n := strings.Count(stdout, "\n"); code != 0 || n != 12 || !strings.Contains(stdout, `"prev_hash":"`) {
		t.Errorf("audit export --records = exit %d, %d lines:\n%s", code, n, stdout)
	}
	if code, _, _ := runWarden(t, "audit", "export", "--db", db, "--format", "xml"); code != 2 {
		t.Errorf("audit export --format xml = exit %d; want 2", code)
	}
}

func TestAuditVerify(t *testing.T) {
	db := recordAuditRun(t)
	code, out, errOut := runWarden(t, "audit", "verify", "--db", db)
	if code != 0 || !strings.HasPrefix(out, "ok: 12 records") {
		t.Fatalf("audit verify = exit %d, %q, %q; want ok with 12 records", code, out, errOut)
	}

	raw, err := sql.Open("sqlite3", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if strings.Contains(out, "warning") {
		t.Errorf("audit verify of an intact database warns: %q", out)
	}
	// The guard against edits removed: the chain is still whole, and
	// verify says what the database no longer refuses.
	if _, err := raw.Exec(`DROP TRIGGER records_no_update`); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runWarden(t, "audit", "verify", "--db", db)
	if code != 0 || !strings.HasPrefix(out, "ok: 12 records") || !strings.Contains(out, "warning: trigger records_no_update on records is missing") {
		t.Errorf("audit verify without the update trigger = exit %d, %q, %q; want ok and a warning naming it", code, out, errOut)
	}
	if _, err := raw.Exec(`UPDATE records SET body = replace(body, '"rejected"', '"approved"') WHERE kind = 'verdict' AND decision_id = 'run-1:1'`); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runWarden(t, "audit", "verify", "--db", db)
	if code != 1 || !strings.Contains(errOut, "records seq 6 (verdict run-1:1): edited") {
		t.Errorf("audit verify after an edit = exit %d, %q; want 1 naming records seq 6 (verdict run-1:1)", code, errOut)
	}
	code, out, _ = runWarden(t, "audit", "verify", "--db", db, "--json")
	var rep audit.VerifyReport
	if err := json.Unmarshal([]byte(out), &rep); code != 1 || err != nil || rep.OK || rep.Broken == nil || rep.Broken.Seq != 6 ||
		len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "records_no_update") {
		t.Errorf("audit verify --json = exit %d, %+v, %v", code, rep, err)
	}
}

// TestAuditSinceCountsBackFromTheHistorysClock: on a backtest's database
// (and the offline replay's), --since durations count back from the last
// run's decision time, as status, trades and profit read it: `--since
// 24h` lists the last simulated day, not nothing. With a config that
// trades on live data they count back from now.
func TestAuditSinceCountsBackFromTheHistorysClock(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "bt.db")
	if code, out, errOut := runMain(t, "backtest", "--quiet", "--from", "2022-02-01", "--to", "2022-02-04", "--symbols", "BTC/USDT", "--out", filepath.Join(dir, "r"), "--audit", "--audit-db", db); code != 0 {
		t.Fatalf("backtest = %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := runMain(t, "audit", "list", "--db", db, "--since", "24h", "--json")
	if code != 0 {
		t.Fatalf("audit list = %d %s", code, errOut)
	}
	if !strings.Contains(errOut, "note: 24h counts back from the last run's decision time, 2022-02-04 00:00 UTC (the backtest history's clock") {
		t.Errorf("stderr %q; want a note naming the clock --since counted from", errOut)
	}
	var rows []audit.DecisionRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	last := time.Date(2022, 2, 4, 0, 0, 0, 0, time.UTC)
	if len(rows) < 20 || len(rows) > 25 {
		t.Errorf("audit list --since 24h on a backtest's database: %d decisions; want the last simulated day's (24)", len(rows))
	}
	for _, r := range rows {
		if r.At.Before(last.Add(-25 * time.Hour)) {
			t.Errorf("decision %s at %s: before the last simulated day", r.DecisionID, r.At)
		}
	}
	code, out, _ = runMain(t, "audit", "runs", "--db", db, "--since", "2h", "--json")
	var runs []json.RawMessage
	if code != 0 || json.Unmarshal([]byte(out), &runs) != nil || len(runs) < 2 || len(runs) > 3 {
		t.Errorf("audit runs --since 2h = %d, %d runs; want the last two or three", code, len(runs))
	}
	live := filepath.Join(dir, "live.yaml")
	os.WriteFile(live, []byte("paper: {data: live}\n"), 0o600)
	code, out, errOut = runMain(t, "audit", "list", "--config", live, "--db", db, "--since", "24h", "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("audit list --since 24h with a live-data config = %d %q %q; want no decisions (counted from now)", code, out, errOut)
	}
}
