package audit

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/schemas"
)

func TestOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	for i := 0; i < 3; i++ {
		s, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatalf("Open #%d = %v", i, err)
		}
		if err := s.AppendOrderEvent(ctx, orderEvent(fmt.Sprint("o", i), schemas.OrderIntent, time.Time{})); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	db := rawDB(t, path)
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(migrationFS, "migrations/*.sql")
	if n != len(files) {
		t.Errorf("migrations rows = %d; want %d, one per file", n, len(files))
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	s := openAt(t, path, Options{})
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK || rep.Records != 3 {
		t.Errorf("Verify() = %+v, %v; want OK with 3 records", rep, err)
	}
}

func TestNewFilesArePrivate(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, Options{})
	if err := s.AppendOrderEvent(ctx, orderEvent("a", schemas.OrderIntent, time.Time{})); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(path + "*")
	if len(files) < 2 {
		t.Fatalf("files = %v; want the database and its WAL", files)
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s mode = %v; want no access for group and others", filepath.Base(f), perm)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notdb")
	if err := os.WriteFile(notDB, []byte("this is not a database, just text that is long enough to matter"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyDB := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(emptyDB, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		opts       Options
		want       string
	}{
		{"empty path", "", Options{}, "empty database path"},
		{"missing dir", filepath.Join(dir, "no", "such", "w.db"), Options{}, "does not exist"},
		{"read-only missing file", filepath.Join(dir, "missing.db"), Options{ReadOnly: true}, "no such database file"},
		{"not a database", notDB, Options{}, "notdb"},
		{"read-only not migrated", emptyDB, Options{ReadOnly: true}, "not a Warden audit database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.path, tt.opts)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) = nil error; want %q", tt.path, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%q) = %v; want it to contain %q", tt.path, err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Errorf("read-only Open created the missing file")
	}
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, Options{})
	if err := s.AppendOrderEvent(ctx, orderEvent("a", schemas.OrderIntent, time.Time{})); err != nil {
		t.Fatal(err)
	}
	ro := openAt(t, path, Options{ReadOnly: true})
	if _, ok, err := ro.LastOrderEvent(ctx, "a"); !ok || err != nil {
		t.Errorf("read-only LastOrderEvent(a) = %v, %v; want true, nil", ok, err)
	}
	if err := ro.AppendOrderEvent(ctx, orderEvent("b", schemas.OrderIntent, time.Time{})); err == nil {
		t.Errorf("read-only AppendOrderEvent = nil; want an error")
	}
}

func TestAppendOnlyTriggers(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, Options{})
	if err := s.AppendOrderEvent(ctx, orderEvent("a", schemas.OrderIntent, time.Time{})); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCachedResponse(ctx, "k", "m", []byte("body")); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	if _, err := db.Exec(`INSERT OR REPLACE INTO llm_cache (key, model, body, created_at) VALUES ('k', 'm', 'other', 0)`); err != nil {
		t.Fatal(err)
	}
	if body, ok, err := s.CachedResponse(ctx, "k"); string(body) != "body" || !ok || err != nil {
		t.Errorf("CachedResponse(k) after REPLACE = %q, %v, %v; want the first body", body, ok, err)
	}
	for _, q := range []string{
		`UPDATE records SET state = 'filled' WHERE seq = 1`,
		`DELETE FROM records WHERE seq = 1`,
		`INSERT OR REPLACE INTO records (seq, kind, at, body, prev_hash, hash) VALUES (1, 'x', 0, '{}', x'00', x'00')`,
		`INSERT INTO records (seq, kind, at, body, prev_hash, hash) VALUES (5, 'x', 0, '{}', x'00', x'00')`,
		`UPDATE llm_cache SET body = 'x'`,
		`DELETE FROM llm_cache`,
	} {
		_, err := db.Exec(q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("Exec(%q) = %v; want an append-only error", q, err)
		}
	}
}

// writeSome appends n order events and returns the store's file path.
func writeSome(t *testing.T, n int) (*Store, string) {
	t.Helper()
	ctx := context.Background()
	clk := newClock()
	s, path := openTest(t, Options{Clock: clk.Now})
	for i := 1; i <= n; i++ {
		clk.Advance(time.Second)
		if err := s.AppendOrderEvent(ctx, orderEvent(fmt.Sprintf("o%d", i), schemas.OrderIntent, time.Time{})); err != nil {
			t.Fatal(err)
		}
	}
	return s, path
}

func TestVerifyFindsTampering(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		tamper  []string
		problem string
		seq     int64
		detail  string
	}{
		{"edit body", []string{`UPDATE records SET body = replace(body, '42000.5', '1') WHERE seq = 4`}, "edited", 4, "does not match its hash"},
		{"edit column", []string{`UPDATE records SET state = 'filled' WHERE seq = 3`}, "edited", 3, "does not match its hash"},
		{"edit time", []string{`UPDATE records SET at = at + 1 WHERE seq = 5`}, "edited", 5, "does not match its hash"},
		{"wrong type", []string{`UPDATE records SET at = 'yesterday' WHERE seq = 2`}, "edited", 2, "column at holds a value of the wrong type"},
		{"real number", []string{`UPDATE records SET tokens = 1.5 WHERE seq = 7`}, "edited", 7, "column tokens"},
		{"delete middle", []string{`DELETE FROM records WHERE seq = 6`}, "deleted", 6, "seq 6 missing"},
		{"delete first", []string{`DELETE FROM records WHERE seq = 1`}, "deleted", 1, "seq 1 missing"},
		{"delete range", []string{`DELETE FROM records WHERE seq BETWEEN 3 AND 5`}, "deleted", 3, "seqs 3..5 missing"},
		{"edit and delete", []string{`UPDATE records SET body = replace(body, 'entry', 'exit') WHERE seq = 2`, `DELETE FROM records WHERE seq = 7`}, "edited", 2, "does not match"},
		{"swap two records", []string{
			`UPDATE records SET seq = -1 WHERE seq = 3`,
			`UPDATE records SET seq = 3 WHERE seq = 4`,
			`UPDATE records SET seq = 4 WHERE seq = -1`,
		}, "edited", 3, "does not match"},
		{"rewrite with recomputed hash", nil, "reordered", 5, "seq 4 was rewritten"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := writeSome(t, 8)
			if rep, err := s.Verify(ctx); err != nil || !rep.OK || rep.Records != 8 || rep.HeadSeq != 8 || len(rep.HeadHash) != 64 {
				t.Fatalf("Verify() before tampering = %+v, %v; want OK, 8 records", rep, err)
			}
			db := rawDB(t, path)
			for _, q := range []string{`DROP TRIGGER records_no_update`, `DROP TRIGGER records_no_delete`} {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			for _, q := range tt.tamper {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("Exec(%q) = %v", q, err)
				}
			}
			if tt.tamper == nil {
				forgeRecord(t, db, 4)
			}
			rep, err := s.Verify(ctx)
			if err != nil {
				t.Fatalf("Verify() = %v", err)
			}
			if rep.OK || rep.Broken == nil {
				t.Fatalf("Verify() after %s = %+v; want a broken chain", tt.name, rep)
			}
			b := rep.Broken
			if b.Problem != tt.problem || b.Seq != tt.seq || b.Table != "records" || !strings.Contains(b.Detail, tt.detail) {
				t.Errorf("Verify() broken = %s; want %s at records seq %d with %q", b, tt.problem, tt.seq, tt.detail)
			}
		})
	}
}

// forgeRecord rewrites record seq and recomputes its hash, as a careful
// forger would; only the next record's link gives it away.
func forgeRecord(t *testing.T, db *sql.DB, seq int64) {
	t.Helper()
	var r record
	var prev []byte
	err := db.QueryRow(`SELECT kind, at, run_id, decision_id, ref, symbol, state, dedup, parent, due, tokens, body, prev_hash FROM records WHERE seq = ?`, seq).
		Scan(&r.kind, &r.at, &r.runID, &r.decisionID, &r.ref, &r.symbol, &r.state, &r.dedup, &r.parent, &r.due, &r.tokens, &r.body, &prev)
	if err != nil {
		t.Fatal(err)
	}
	r.body = []byte(strings.Replace(string(r.body), "42000.5", "1", 1))
	h, _ := hashRecord(nil, prev, seq, &r)
	if _, err := db.Exec(`UPDATE records SET body = ?, hash = ? WHERE seq = ?`, r.body, h, seq); err != nil {
		t.Fatal(err)
	}
}

func TestTailDeletionIsRecorded(t *testing.T) {
	ctx := context.Background()
	s, path := writeSome(t, 5)
	db := rawDB(t, path)
	for _, q := range []string{`DROP TRIGGER records_no_delete`, `DELETE FROM records WHERE seq >= 4`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendOrderEvent(ctx, orderEvent("o6", schemas.OrderIntent, time.Time{})); err != nil {
		t.Fatal(err)
	}
	var state, body string
	if err := db.QueryRow(`SELECT state, body FROM records WHERE seq = 4`).Scan(&state, &body); err != nil {
		t.Fatal(err)
	}
	if state != "tamper" || !strings.Contains(body, `"had_seq":5`) || !strings.Contains(body, `"now_seq":3`) {
		t.Errorf("record after a tail deletion = %s %s; want a tamper event naming seqs 5 and 3", state, body)
	}
	rep, err := s.Verify(ctx)
	if err != nil || rep.OK || rep.Broken == nil || rep.Broken.Seq != 4 || rep.Broken.Problem != "deleted" || !strings.Contains(rep.Broken.Detail, "after seq 3 (up to seq 5)") {
		t.Errorf("Verify() after a tail deletion = %+v, %v; want deleted at seq 4", rep.Broken, err)
	}
}
