package audit

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestLingeringGuardRow: an archive_guard row inserted by hand (no trigger
// dropped) switches the delete trigger off. verify warns about it, and the
// next writable open removes it, after which a delete is refused again.
func TestLingeringGuardRow(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "warden.db")
	st, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := st.RecordEvent(ctx, Event{Kind: EventError, State: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`INSERT INTO archive_guard VALUES (1, 1000000000)`); err != nil {
		t.Fatal(err)
	}

	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ro.Verify(ctx)
	ro.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(rep.Warnings, "\n"), "archive_guard holds a row (up to seq 1000000000)") {
		t.Fatalf("verify warnings %q: want the guard row named", rep.Warnings)
	}

	st, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = st.Verify(ctx)
	st.Close()
	if err != nil || len(rep.Warnings) != 0 {
		t.Fatalf("after a writable open: %v, warnings %q; want the row gone", err, rep.Warnings)
	}
	if _, err := raw.Exec(`DELETE FROM records WHERE seq = 3`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("delete after the guard row was removed: %v; want refused", err)
	}
}
