package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// openReadOnly opens abs for reading without writing anything: not the
// database, and no -wal or -shm file beside it.
//
// SQLite reads a WAL database through its -shm index, which it creates when
// it is missing, even for a read-only connection. So:
//   - -shm exists: a writer has the database open (or died with it open);
//     read through the existing WAL and index (mode=ro), which sees what the
//     writer commits.
//   - no -shm, no -wal or an empty one: no process has the database open and
//     everything is in the main file; read it as immutable (nothing created,
//     no locks: works in a read-only directory and on an archived copy).
//   - no -shm but a non-empty -wal: records that only the WAL holds (a
//     process was killed, or the copy took the -wal along); SQLite must build
//     the index beside it, which needs a writable directory.
func (s *Store) openReadOnly(ctx context.Context, abs string) error {
	shm := fileSize(abs + "-shm")
	wal := fileSize(abs + "-wal")
	role := "ro"
	if shm < 0 && wal <= 0 {
		role = "immutable"
		fi, err := os.Stat(abs)
		if err != nil {
			return err
		}
		s.immutable, s.base = true, fi
	}
	var err error
	if s.db, err = sql.Open("sqlite3", dsn(abs, role, "")); err != nil {
		return err
	}
	err = s.db.PingContext(ctx)
	if err == nil {
		err = s.checkSchema(ctx)
	}
	if err != nil && role == "ro" && shm < 0 && !writableDir(filepath.Dir(abs)) {
		return fmt.Errorf("%w: %s-wal holds records not yet in the database file, and SQLite can only read them with a %s-shm index it cannot create in the read-only directory %s; copy the database and its -wal file to a writable directory and read the copy",
			err, filepath.Base(abs), filepath.Base(abs), filepath.Dir(abs))
	}
	return err
}

// fileSize is the size of the file at path, or -1 when there is none.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

func writableDir(dir string) bool {
	const wOK = 0x2 // W_OK
	return syscall.Access(dir, wOK) == nil
}

// Unchanged reports whether the database file is still as it was when a
// read-only store opened it immutable (no writer had it open then). A
// writer that started meanwhile and checkpointed its log into the file may
// have changed pages under the reads: the caller should read again. For a
// store that reads through the WAL (a writer was present) it returns nil.
func (s *Store) Unchanged() error {
	if !s.immutable {
		return nil
	}
	fi, err := os.Stat(s.absPath())
	if err != nil {
		return fmt.Errorf("audit: %s: %w", s.path, err)
	}
	if fi.Size() != s.base.Size() || !fi.ModTime().Equal(s.base.ModTime()) || !os.SameFile(fi, s.base) {
		return errors.New("audit: " + s.path + " changed while it was being read (a writer started); read it again")
	}
	return nil
}

func (s *Store) absPath() string {
	abs, err := filepath.Abs(s.path)
	if err != nil {
		return s.path
	}
	return abs
}

// ReadsImmutable reports whether a read-only store reads the file as
// immutable: no writer had it open when it was opened.
func (s *Store) ReadsImmutable() bool { return s.immutable }
