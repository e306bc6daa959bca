package audit

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestQueriesUseIndexes guards the write path and the agent's per-cycle
// reads against full scans of records, which grow with every decision.
func TestQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, Options{})
	// qHead is a backward rowid scan that stops at the first row.
	queries := map[string]string{
		"last peak": qLastPeak, "run of decision": qRunOfDecision, "fill seen": qFillSeen,
		"decision of order": qDecisionOfOrder, "notification by key": qNotificationByKey, "notification": qNotification,
		"run context":        qRunContext,
		"last order event":   `SELECT body FROM records WHERE kind = 'order_event' AND ref = ? ORDER BY seq DESC LIMIT 1`,
		"kill switch":        `SELECT state FROM records WHERE kind = 'event' AND ref = 'kill_switch' ORDER BY seq DESC LIMIT 1`,
		"tokens":             `SELECT COALESCE(SUM(tokens), 0) FROM records WHERE kind = 'llm_call' AND at >= CAST(? AS INTEGER)`,
		"orders since":       `SELECT COUNT(DISTINCT ref) FROM records WHERE kind = 'order_event' AND at >= CAST(? AS INTEGER) AND state = 'intent'`,
		"show run":           `SELECT seq, kind, parent, body FROM records WHERE run_id = CAST(? AS TEXT) AND run_id <> '' ORDER BY seq`,
		"orders of decision": `SELECT kind, ref, body FROM records WHERE decision_id = CAST(? AS TEXT) AND decision_id <> '' AND kind IN ('order_event', 'fill') ORDER BY seq`,
	}
	queries["pending notifications"] = pendingSQL
	queries["peak equity"] = `SELECT body FROM records WHERE kind = 'equity' ORDER BY seq DESC LIMIT 1`
	queries["open order events"] = `SELECT seq, ref, state, body FROM records WHERE kind = 'order_event' AND seq > CAST(? AS INTEGER) ORDER BY seq`
	where, _ := Filter{RunID: "r", Symbol: "s"}.where()
	queries["list by run"] = "SELECT r.seq, r.body FROM records r WHERE " + where + " ORDER BY r.seq DESC"
	where, _ = RunFilter{}.where()
	queries["list runs"] = `SELECT r.seq, r.body, (SELECT e.body FROM records e WHERE e.run_id = r.run_id AND e.run_id <> '' AND e.kind = 'run_end' ORDER BY e.seq DESC LIMIT 1)
		FROM records r WHERE ` + where + " ORDER BY r.seq DESC"
	where, _ = EventFilter{Kinds: []string{"breaker", "kill_switch"}}.where()
	queries["list events by kind"] = "SELECT seq, body FROM records WHERE " + where + " ORDER BY seq DESC LIMIT 50"
	where, _ = EventFilter{}.where()
	queries["list events"] = "SELECT seq, body FROM records WHERE " + where + " ORDER BY seq DESC LIMIT 50"
	for name, q := range queries {
		n := strings.Count(q, "?")
		args := make([]any, n)
		for i := range args {
			args[i] = time.Now().UnixNano()
		}
		rows, err := s.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "VIRTUAL TABLE") && !strings.Contains(step, "CONSTANT ROW") {
				t.Errorf("query %s scans the table: %v", name, plan)
			}
			if strings.Contains(step, "TEMP B-TREE") && (name == "last peak" || name == "peak equity" || name == "open order events") {
				t.Errorf("query %s sorts every record of its kind on each call: %v", name, plan)
			}
		}
	}
}
