package audit

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// recordsSchema is the records table's indexes and triggers as
// sqlite_master holds them, by name.
func recordsSchema(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.Query(`SELECT type || ' ' || name, sql FROM sqlite_master WHERE tbl_name = 'records' AND type IN ('index', 'trigger') AND sql IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, q string
		if err := rows.Scan(&name, &q); err != nil {
			t.Fatal(err)
		}
		out[name] = q
	}
	return out
}

// ordinarySchema is the schema of a database opened the ordinary way.
func ordinarySchema(t *testing.T) map[string]string {
	t.Helper()
	s, path := openTest(t, Options{})
	s.Close()
	db := rawDB(t, path)
	return recordsSchema(t, db)
}

// recordBacktestRuns writes n whole runs (start, call, response, state, verdicts,
// end) the way a backtest does.
func recordBacktestRuns(t *testing.T, s *Store, from, n int) {
	t.Helper()
	ctx := context.Background()
	raw, _ := json.Marshal(testResponse())
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("bt-%d", i)
		at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		if err := s.BeginRun(ctx, Run{ID: id, StartedAt: at, Mode: "backtest", Advisor: "baseline", PolicyHash: "pol-1"}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordLLMCall(ctx, LLMCall{RunID: id, Attempt: 1, At: at, Request: `{"system":"s","user":"u"}`, Response: string(raw)}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordResponse(ctx, id, raw, testResponse(), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordVerdicts(ctx, id, "pol-1", testState(at), testVerdicts()); err != nil {
			t.Fatal(err)
		}
		if err := s.EndRun(ctx, id, "ok", nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBulkBuildsTheSameSchemaAtClose: a bulk store writes without the
// append-only insert trigger, with every index (the unique ones refuse
// what they refuse), and on Close leaves exactly the schema an ordinary
// store has, with every record readable and the chain whole; the trigger
// refuses an overwrite again.
func TestBulkBuildsTheSameSchemaAtClose(t *testing.T) {
	ctx := context.Background()
	want := ordinarySchema(t)
	path := filepath.Join(t.TempDir(), "bt.db")
	s, err := Open(ctx, path, Options{Scratch: true, BatchSize: 8, Bulk: true})
	if err != nil {
		t.Fatal(err)
	}
	recordBacktestRuns(t, s, 0, 50)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	db := rawDB(t, path)
	during := recordsSchema(t, db)
	for name, q := range want {
		if name == "trigger records_append_only" {
			if _, ok := during[name]; ok {
				t.Errorf("the append-only insert trigger is there while a bulk store writes; want it deferred")
			}
			continue
		}
		if during[name] != q {
			t.Errorf("while a bulk store writes %s is %q; want %q (only the insert trigger is deferred)", name, during[name], q)
		}
	}
	var mark int64
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&mark); err != nil || mark != bulkMark {
		t.Errorf("user_version while writing = %#x (%v); want the bulk mark", mark, err)
	}
	// A second verdict for a decision is still refused (when its batch
	// commits): the unique index is in force.
	if _, err := s.RecordVerdicts(ctx, "bt-3", "pol-1", testState(time.Now()), testVerdicts()); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Errorf("committing a second verdict for a recorded decision during a bulk write = %v; want the unique index's refusal", err)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	after := recordsSchema(t, db)
	if len(after) != len(want) {
		t.Errorf("after Close the records table has %d indexes and triggers; an ordinary store %d", len(after), len(want))
	}
	for name, q := range want {
		if after[name] != q {
			t.Errorf("after Close %s is %q; an ordinary store has %q", name, after[name], q)
		}
	}
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&mark); err != nil || mark != 0 {
		t.Errorf("user_version after Close = %#x (%v); want 0", mark, err)
	}
	if _, err := db.Exec(`INSERT OR REPLACE INTO records (seq, kind, at, body, prev_hash, hash) VALUES (1, 'run', 0, '{}', x'00', x'00')`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("overwriting record 1 after Close = %v; want the append-only trigger's refusal", err)
	}

	r := openAt(t, path, Options{ReadOnly: true})
	rep, err := r.Verify(ctx)
	if err != nil || !rep.OK || rep.Records != 50*7 {
		t.Errorf("Verify() = %+v, %v; want 350 records, whole", rep, err)
	}
	runs, err := r.ListRuns(ctx, RunFilter{Limit: 100})
	if err != nil || len(runs) != 50 {
		t.Errorf("ListRuns() = %d runs, %v; want 50", len(runs), err)
	}
}

// TestBulkRefusesADatabaseWithRecords: Bulk is for a new database only;
// opening one that holds records with it fails and changes nothing.
func TestBulkRefusesADatabaseWithRecords(t *testing.T) {
	s, path := openTest(t, Options{})
	recordBacktestRuns(t, s, 0, 2)
	s.Close()
	db := rawDB(t, path)
	before := recordsSchema(t, db)
	if b, err := Open(context.Background(), path, Options{Scratch: true, BatchSize: 8, Bulk: true}); err == nil {
		b.Close()
		t.Fatal("Open with Bulk accepted a database that holds records")
	} else if !strings.Contains(err.Error(), "holds records") {
		t.Errorf("Open with Bulk = %v; want it to say the database holds records", err)
	}
	after := recordsSchema(t, db)
	if len(after) != len(before) {
		t.Errorf("a refused bulk Open changed the schema: %d objects, had %d", len(after), len(before))
	}
	for _, opts := range []Options{{Bulk: true}, {Bulk: true, Scratch: true}, {Bulk: true, BatchSize: 8}} {
		if b, err := Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), opts); err == nil {
			b.Close()
			t.Errorf("Open(%+v) accepted Bulk without Scratch and batches", opts)
		}
	}
}

// TestBulkWriterKilledIsRepairedOnOpen: a bulk writer killed with SIGKILL
// before Close leaves its insert trigger out; the next writable Open
// creates it, and the records committed before the kill are there,
// chained.
func TestBulkWriterKilledIsRepairedOnOpen(t *testing.T) {
	if path := os.Getenv("WARDEN_AUDIT_BULK_CHILD"); path != "" {
		bulkChild(t, path)
		return
	}
	want := ordinarySchema(t)
	path := filepath.Join(t.TempDir(), "bt.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestBulkWriterKilledIsRepairedOnOpen$")
	cmd.Env = append(os.Environ(), "WARDEN_AUDIT_BULK_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	flushed := false
	for sc.Scan() {
		if sc.Text() == "flushed" {
			flushed = true
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	cmd.Wait()
	if !flushed {
		t.Fatal("the bulk writer never reported its records committed")
	}
	db := rawDB(t, path)
	if _, ok := recordsSchema(t, db)["trigger records_append_only"]; ok {
		t.Fatal("the killed bulk writer left the insert trigger in place; want it deferred")
	}

	// Read-only, nothing is repaired: verify finds the chain whole and
	// says the bulk write did not close.
	ro := openAt(t, path, Options{ReadOnly: true})
	rep, err := ro.Verify(context.Background())
	if err != nil || !rep.OK || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "bulk write") {
		t.Errorf("read-only Verify() of the killed bulk writer's file = %+v, %v; want a whole chain and one warning of the unfinished bulk write", rep, err)
	}
	ro.Close()

	s := openAt(t, path, Options{})
	got := recordsSchema(t, db)
	for name, q := range want {
		if got[name] != q {
			t.Errorf("after the repairing Open %s is %q; want %q", name, got[name], q)
		}
	}
	var mark int64
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&mark); err != nil || mark != 0 {
		t.Errorf("user_version after the repairing Open = %#x (%v); want 0", mark, err)
	}
	rep, err = s.Verify(context.Background())
	if err != nil || !rep.OK || rep.Records < 70 || len(rep.Warnings) > 0 {
		t.Errorf("Verify() after the kill = %+v, %v; want at least the 70 committed records, whole", rep, err)
	}
}

func bulkChild(t *testing.T, path string) {
	s, err := Open(context.Background(), path, Options{Scratch: true, BatchSize: 8, Bulk: true})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	recordBacktestRuns(t, s, 0, 10)
	if err := s.Flush(context.Background()); err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	fmt.Println("flushed")
	recordBacktestRuns(t, s, 10, 1000000) // until killed
}
