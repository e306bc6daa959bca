package audit

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestReadThroughASymlink: a database reached by a symbolic link (ops/
// warden.db -> the real file) while a writer holds it open, its records
// still in the WAL: a read-only store through the link sees every record
// and the kill switch the writer set, as one on the real path does; and a
// writer through the link writes the same chain.
func TestReadThroughASymlink(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	real := filepath.Join(dir, "data", "warden.db")
	os.MkdirAll(filepath.Dir(real), 0o700)
	link := filepath.Join(dir, "ops", "warden.db")
	os.MkdirAll(filepath.Dir(link), 0o700)
	if err := os.Symlink(real, link); err != nil {
		t.Skip("symlinks not available:", err)
	}
	w, err := Open(ctx, real, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.SetKillSwitch(ctx, true, "operator", "through the real path"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(real + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the records should still be in the WAL for this test: %v", err)
	}
	count := func(st *Store) (int64, bool) {
		t.Helper()
		rep, err := st.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		on, err := st.KillSwitch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rep.Records, on
	}
	direct, err := Open(ctx, real, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	wantN, wantOn := count(direct)
	direct.Close()
	viaLink, err := Open(ctx, link, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open through the link: %v", err)
	}
	n, on := count(viaLink)
	viaLink.Close()
	if n != wantN || on != wantOn || !on {
		t.Fatalf("through the link: %d records, kill switch %v; on the real path: %d, %v", n, on, wantN, wantOn)
	}

	lw, err := Open(ctx, link, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := lw.SetKillSwitch(ctx, false, "operator", "through the link"); err != nil {
		t.Fatal(err)
	}
	lw.Close()
	if on, err := w.KillSwitch(ctx); err != nil || on {
		t.Fatalf("the writer on the real path reads the switch as %v, %v after a resume through the link", on, err)
	}
	if _, err := w.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
