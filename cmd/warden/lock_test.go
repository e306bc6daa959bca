package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-trading/warden/agent/config"
)

// TestLockFollowsSymlinks: the one-process lock is the database file's,
// not its spelling. While one runtime holds real/warden.db, `run --once`
// through a symlinked directory or a symlinked file name refuses to start;
// once the first is closed, the same command runs.
func TestLockFollowsSymlinks(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Mkdir("real", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", "alias"); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DB = filepath.Join("real", "warden.db")
	ctx := context.Background()
	opts := runtimeOptions{output: io.Discard, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	first, err := newRuntime(ctx, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := os.Symlink("warden.db", filepath.Join("real", "alias.db")); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"alias/warden.db", "real/alias.db", "alias/alias.db", "./real/../real/warden.db"} {
		os.WriteFile("warden.yaml", []byte("db: "+db+"\n"), 0o600)
		code, _, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
		if code == 0 || !strings.Contains(errOut, "another warden run") {
			t.Errorf("run --once on %s beside a running warden on real/warden.db = %d %q; want a refusal", db, code, errOut)
		}
	}
	first.Close()
	os.WriteFile("warden.yaml", []byte("db: alias/alias.db\n"), 0o600)
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once through the symlinks after the first closed = %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join("real", "alias.db.lock")); err == nil {
		t.Errorf("a lock file next to the symlink's name exists; want the lock next to the resolved file only")
	}
}

// A dangling symlink as the database path is refused before anything is
// created.
func TestLockRefusesDanglingSymlink(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.Symlink("missing.db", "warden.db"); err != nil {
		t.Fatal(err)
	}
	if _, err := lockDB("warden.db"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("lockDB(dangling symlink) = %v; want a refusal", err)
	}
	if _, err := os.Stat("missing.db.lock"); err == nil {
		t.Errorf("lock file created for a dangling symlink")
	}
}

// TestLockSeesReplacedLockFile: a process that opened the lock file just
// before a failed start unlinked it (and another start created a new one
// and locked it) must not trade beside that start on the unlinked file.
func TestLockSeesReplacedLockFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "warden.db")
	var other *os.File
	fired := false
	lockOpened = func(path string) {
		if fired {
			return
		}
		fired = true
		// Between our open and our flock: the old file goes, a new one
		// appears at the path and is locked by someone else.
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		f, err := lockDB(db)
		if err != nil {
			t.Fatalf("the other start: %v", err)
		}
		other = f
	}
	defer func() { lockOpened = nil }()
	if f, err := lockDB(db); err == nil {
		f.Close()
		t.Fatal("locked an unlinked lock file beside the process holding the one at the path")
	} else if !strings.Contains(err.Error(), "another warden run is using") {
		t.Fatalf("error %v, want the lock-held refusal", err)
	}
	lockOpened = nil
	other.Close()
	f, err := lockDB(db)
	if err != nil {
		t.Fatalf("after the other released: %v", err)
	}
	f.Close()
}
