package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
)

// oldHistory writes n events dated days before the decision clock of the
// next `run --once` into a new warden.db, as a store that has run for a
// while would hold. The offline default replays the bundled candles from
// paper.replay_start, and the runtime dates its records, retention's
// cut-off included, by that clock.
func oldHistory(t *testing.T, db string, days, n int) {
	t.Helper()
	start, err := time.Parse(time.RFC3339, config.Default().Paper.ReplayStart)
	if err != nil {
		t.Fatal(err)
	}
	old := start.Add(-time.Duration(days) * 24 * time.Hour)
	st, err := audit.Open(context.Background(), db, audit.Options{Clock: func() time.Time { return old }})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := st.RecordEvent(context.Background(), audit.Event{Kind: audit.EventReconcile, State: "ok", At: old, Detail: json.RawMessage(`{"i":` + strings.Repeat("1", i%5+1) + `}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// countRecords counts the records in db, and those of kind.
func countRecords(t *testing.T, db, kind string) (all, ofKind int) {
	t.Helper()
	d, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.QueryRow(`SELECT COUNT(*), COUNT(*) FILTER (WHERE kind = ?) FROM records`, kind).Scan(&all, &ofKind); err != nil {
		t.Fatal(err)
	}
	return all, ofKind
}

func archiveFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRetentionArchivesAtTheFirstCycleOfADay: with audit.retention set,
// the first `run --once` of a day (a new process, under the run lock it
// holds) moves the records older than the retention into a sealed archive
// beside the database; the next cycle that day finds nothing more; verify
// walks the archive and the database as one chain. An archive directory
// that cannot be written fails the archiving, not the cycle, and removes
// nothing; the next cycle with a good directory archives.
func TestRetentionArchivesAtTheFirstCycleOfADay(t *testing.T) {
	t.Chdir(t.TempDir())
	oldHistory(t, "warden.db", 91, 40)
	// A file where the archive directory should be: archiving fails.
	if err := os.WriteFile("notadir", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("bad.yaml", []byte("audit:\n  retention: 90d\n  archive_dir: notadir\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := countRecords(t, "warden.db", "")
	code, out, errOut := runMain(t, "run", "--once", "--config", "bad.yaml")
	if code != 0 {
		t.Fatalf("run --once with an unwritable archive dir = %d; want the cycle to run\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "archiving failed") {
		t.Errorf("stderr does not say archiving failed:\n%s", errOut)
	}
	all, archives := countRecords(t, "warden.db", audit.KindArchive)
	if archives != 0 || all <= before {
		t.Fatalf("after a failed archive: %d records (%d before the cycle), %d archive records; want nothing removed", all, before, archives)
	}
	var failed int
	d, _ := sql.Open("sqlite3", "file:warden.db?mode=ro")
	d.QueryRow(`SELECT COUNT(*) FROM records WHERE kind = 'event' AND ref = 'error' AND state = 'archive'`).Scan(&failed)
	d.Close()
	if failed != 1 {
		t.Errorf("failed archiving recorded %d times; want 1", failed)
	}

	// 91 days old (one day beyond a 90-day retention): archived at the next cycle, to
	// archive/ beside the database.
	if err := os.WriteFile("warden.yaml", []byte("audit:\n  retention: 90d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	files := archiveFiles(t, "archive")
	if len(files) != 1 {
		t.Fatalf("archive files after the first cycle of the day: %v; want one", files)
	}
	all2, archives := countRecords(t, "warden.db", audit.KindArchive)
	if archives != 1 {
		t.Errorf("archive records = %d; want 1", archives)
	}
	if all2 >= all {
		t.Errorf("records after archiving = %d, before = %d; want fewer", all2, all)
	}
	// The same day again: nothing more to archive.
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("second run --once = %d\n%s\n%s", code, out, errOut)
	}
	if files := archiveFiles(t, "archive"); len(files) != 1 {
		t.Errorf("archive files after the second cycle: %v; want still one", files)
	}
	if code, out, errOut := runMain(t, "audit", "verify", "--db", "warden.db", "--archive", "archive"); code != 0 {
		t.Errorf("audit verify --archive = %d\n%s\n%s", code, out, errOut)
	}
	// Without the archive, the live chain alone still verifies (it starts
	// at the archive's end hash).
	if code, out, errOut := runMain(t, "audit", "verify", "--db", "warden.db"); code != 0 {
		t.Errorf("audit verify = %d\n%s\n%s", code, out, errOut)
	}
	// 90 days old, at the limit of a 90-day retention: kept.
	t.Run("not yet due", func(t *testing.T) {
		t.Chdir(t.TempDir())
		oldHistory(t, "warden.db", 90, 10)
		if err := os.WriteFile("warden.yaml", []byte("audit:\n  retention: 90d\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
			t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
		}
		if files := archiveFiles(t, "archive"); len(files) != 0 {
			t.Errorf("archived records younger than the retention: %v", files)
		}
	})
}
