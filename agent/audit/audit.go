// Package audit owns Warden's audit store: one SQLite file (WAL, embedded
// migrations) that keeps every run, every LLM request and raw response, every
// parsed recommendation and verdict with its per-rule results and policy
// hash, every order event and fill, every operator and breaker event, and the
// notification outbox.
//
// History is append-only: a change of state is a new row, and triggers
// refuse UPDATE and DELETE. All records form one hash chain (see Verify), so
// an edit or deletion made behind Warden's back is found and named. Secrets
// are redacted before anything is written.
//
// It is the only package of Warden that imports github.com/mattn/go-sqlite3.
package audit

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // the SQLite driver; this package is its only importer

	"github.com/warden-trading/warden/agent/redact"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Options configure a Store. The zero value is usable.
type Options struct {
	// Clock stamps records that carry no time of their own; time.Now when nil.
	Clock func() time.Time
	// Logger receives operational messages; discarded when nil.
	Logger *slog.Logger
	// Secrets are values that must never be written: every occurrence in any
	// text or JSON body (raw, or as it appears JSON-escaped) is replaced by
	// "[REDACTED]". Empty strings are ignored.
	Secrets []string
	// Redact, when set, is applied to every text and JSON body after
	// Secrets, for redaction rules of the caller's own.
	Redact func(string) string
	// ReadOnly opens an existing database without writing to it: no
	// migrations, no file created. Used by the read commands of the CLI.
	ReadOnly bool
	// FullSync makes every commit fsync (synchronous=FULL). By default only
	// order events, fills and the kill-switch and safe-mode switches do;
	// other records use synchronous=NORMAL, which in WAL mode survives a
	// process crash (kill -9) and may lose the last commits only on power
	// loss or an OS crash.
	FullSync bool
	// Scratch is for throwaway databases, such as a backtest's audit file:
	// nothing is fsynced (synchronous=OFF), durable writes included. A
	// crash of the process still loses nothing committed; an OS crash or a
	// power cut may. Never for a database that journals real orders.
	Scratch bool
	// BatchSize, when > 1, queues ordinary records (runs, model calls,
	// responses, verdicts, events, equity, paper state, deliveries) and
	// commits them BatchSize at a time in one transaction: for backtests
	// that record tens of thousands of decisions. Order events, fills,
	// switches and Enqueue still commit at once (with the queue before
	// them); every read, Flush and Close commit the queue first. A queued
	// record is lost if the process dies before it is committed, and an
	// error of a queued write is returned by the call that commits it.
	//
	// With Scratch as well (a backtest's database: no real order, nothing
	// fsynced anyway), order events and breaker events queue too, so a
	// batch is not cut short at every order; writes that must answer
	// something (a fill seen before, a level's state, an error count)
	// still commit at once. And a full batch is committed by a goroutine
	// of its own while the caller queues the next one (the hash chain
	// stays in order: one batch at a time); its error, if any, is
	// returned by the next call that writes, reads, flushes or closes.
	BatchSize int
	// Bulk is for a new database that this store alone writes from its
	// first record to Close, with Scratch and BatchSize > 1: a backtest's
	// staged audit file. The records table's append-only insert trigger
	// is created when the store closes instead of running at every insert
	// (it was a quarter to a third of an insert's cost); until then the store's own
	// writer keeps its rule (each record takes the next seq, under the
	// write lock), and the unique indexes hold throughout. Open refuses
	// Bulk on a database that holds records. If the process dies before
	// Close, the next writable Open creates the trigger.
	Bulk bool
	// NewerSchemaOK opens for writing a database a newer Warden migrated
	// (ErrNewerSchema otherwise): for the kill switch alone, which must
	// engage whatever version wrote the database. The migrations this
	// binary knows are applied as usual; the newer ones are left as they
	// are.
	NewerSchemaOK bool
}

// Store is the audit store. It is safe for concurrent use; writes are
// serialised (one global hash chain), and several processes may share the
// file (writes take SQLite's write lock before reading the chain head).
type Store struct {
	path string
	// abs and opened are the file the store opened (CheckFile).
	abs    string
	opened os.FileInfo
	// clockFn is Options.Clock, or the one UseClock set: read at every
	// record by the caller's goroutine and the writer's.
	clockFn atomic.Pointer[func() time.Time]
	log     *slog.Logger
	redact  func(string) string
	ro      bool
	// scratch is Options.Scratch: no compressed blobs (speed first).
	scratch bool
	// queueAll is Scratch with BatchSize > 1: writes that return nothing
	// queue even when durable, every read commits the queue first, and a
	// full queue is committed in the background (inflight) while the
	// caller goes on queueing the next batch.
	queueAll bool
	// bulk is Options.Bulk: Close builds what Open deferred.
	bulk bool
	// newerOK is Options.NewerSchemaOK.
	newerOK bool
	// immutable is set when a read-only store reads the file as immutable
	// (no writer had it open); base is the file as it was then, for
	// Unchanged.
	immutable bool
	base      os.FileInfo

	// db serves reads. wdb writes ordinary records, ddb writes records that
	// must reach the disk before the call returns (orders, switches). Both
	// writers hold one connection and are used under wmu.
	db  *sql.DB
	wdb *sql.DB
	ddb *sql.DB
	wmu sync.Mutex

	ins  *sql.Stmt // insert into records, prepared on wdb
	dins *sql.Stmt // the same, prepared on ddb

	// Guarded by wmu:
	stmts    map[*sql.DB]map[string]*sql.Stmt // statements used inside write transactions
	batch    int
	queue    []writeFunc
	pendEq   []pendingEquity // equities recorded by queued writes, oldest first (events.go)
	pendCall []pendingCall   // model calls recorded by queued writes, oldest first (runs.go)
	// recentCalls is RecentInvalidOutput's last read of committed calls.
	recentCalls *recentCalls
	// inflight, when not nil, is closed once the batch committing in the
	// background is done; until then that goroutine owns what runTx uses
	// (hashBuf, encBuf, headSeq, headHash, blobs, runCtx, the writers), so every
	// path that runs a transaction or reads those waits for it first
	// (drainLocked). asyncErr is that batch's error, for the next caller.
	inflight chan struct{}
	asyncErr error
	hashBuf  []byte
	encBuf   []byte // lazily encoded bodies (record.encode), reused
	headSeq  int64  // seq and hash of the last record this store committed
	headHash []byte //
	closed   bool
	blobs    map[string]bool // blobs this store committed (blobs.go)
	// runCtx is the run a queueAll store recorded last, for its verdicts
	// (runs.go); nil when unknown.
	runCtx *runContext

	// Guarded by smu: the static parts of the last request split into
	// blobs (blobs.go), tried first on the next one.
	smu        sync.Mutex
	lastStatic []staticPart

	// Guarded by rmu: read statements prepared on db, by query text.
	rmu   sync.Mutex
	reads map[string]*sql.Stmt

	// Guarded by omu: the newest event of every order seen so far, read
	// incrementally by OpenOrderEvents.
	omu      sync.Mutex
	orderSeq int64
	open     map[string]*openOrder
	live     map[string]*openOrder // the entries of open not final
}

// ErrNotFound is returned by lookups of an id the store has never seen.
var ErrNotFound = errors.New("audit: not found")

// ErrNotAuditDB is returned by a read-only Open of a file that is not a
// Warden audit database.
var ErrNotAuditDB = errors.New("not a Warden audit database")

// Open opens (and, unless opts.ReadOnly, creates and migrates) the audit
// database at path.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("audit: open: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("audit: open %q: %w", path, err)
	}
	if opts.ReadOnly {
		if _, err := os.Stat(abs); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("audit: open %q: no such database file", path)
			}
			return nil, fmt.Errorf("audit: open %q: %w", path, err)
		}
	} else if fi, err := os.Stat(filepath.Dir(abs)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("audit: open %q: directory %q does not exist", path, filepath.Dir(abs))
	} else if err := createPrivate(abs); err != nil {
		return nil, fmt.Errorf("audit: open %q: %w", path, err)
	}

	// SQLite names the -wal and -shm files after the file a symbolic link
	// points to: the store does too, or a read through a link would not see
	// a writer's WAL and would read a stale file (or no database at all).
	// CheckFile still watches the path as given (a link pointed elsewhere
	// is a changed database).
	real := abs
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		real = r
	}

	s := &Store{
		path:     path,
		log:      opts.Logger,
		redact:   newRedactor(opts.Secrets, opts.Redact),
		ro:       opts.ReadOnly,
		stmts:    map[*sql.DB]map[string]*sql.Stmt{},
		batch:    opts.BatchSize,
		scratch:  opts.Scratch,
		queueAll: opts.Scratch && opts.BatchSize > 1 && !opts.ReadOnly,
		bulk:     opts.Bulk && !opts.ReadOnly,
		newerOK:  opts.NewerSchemaOK,
	}
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	s.clockFn.Store(&clock)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}

	fail := func(err error) (*Store, error) {
		s.Close()
		return nil, fmt.Errorf("audit: open %q: %w", path, err)
	}
	if opts.ReadOnly {
		if err := s.openReadOnly(ctx, real); err != nil {
			return fail(err)
		}
		s.noteFile(abs)
		return s, nil
	}

	normal, durable := "NORMAL", "FULL"
	switch {
	case opts.Scratch && opts.FullSync:
		return fail(errors.New("audit: Scratch and FullSync contradict each other"))
	case opts.Bulk && !s.queueAll:
		return fail(errors.New("audit: Bulk needs Scratch and BatchSize > 1"))
	case opts.Scratch:
		normal, durable = "OFF", "OFF"
	case opts.FullSync:
		normal = "FULL"
	}
	// The durable writer connects first: it sets WAL on a new file.
	if s.ddb, err = openWriter(ctx, real, durable); err != nil {
		return fail(err)
	}
	if err := s.migrate(ctx); err != nil {
		return fail(err)
	}
	if !s.bulk {
		// A bulk writer that died before Close left its trigger out.
		marked, err := bulkMarked(ctx, s.ddb)
		if err != nil {
			return fail(err)
		}
		if marked {
			if err := restoreDeferred(ctx, s.ddb); err != nil {
				return fail(fmt.Errorf("create the trigger an unfinished bulk write deferred: %w", err))
			}
			s.log.Warn("audit: created the append-only trigger a bulk write (a backtest) left out when it stopped before closing", "db", path)
		}
	}
	if err := s.removeLingeringGuard(ctx); err != nil {
		return fail(err)
	}
	if s.wdb, err = openWriter(ctx, real, normal); err != nil {
		return fail(err)
	}
	if s.queueAll {
		for _, p := range []string{"PRAGMA cache_size = -65536", "PRAGMA wal_autocheckpoint = 16384"} {
			if _, err := s.wdb.ExecContext(ctx, p); err != nil {
				return fail(err)
			}
		}
	}
	if s.bulk {
		if err := deferForBulk(ctx, s.wdb); err != nil {
			return fail(err)
		}
	}
	if s.db, err = sql.Open("sqlite3", dsn(real, "rw", normal)); err != nil {
		return fail(err)
	}
	if err := s.db.PingContext(ctx); err != nil {
		return fail(err)
	}
	if s.ins, err = s.wdb.PrepareContext(ctx, insertRecordSQL); err != nil {
		return fail(err)
	}
	if s.dins, err = s.ddb.PrepareContext(ctx, insertRecordSQL); err != nil {
		return fail(err)
	}
	for _, db := range []*sql.DB{s.wdb, s.ddb} {
		if err := s.prepare(ctx, db); err != nil {
			return fail(err)
		}
	}
	s.noteFile(abs)
	return s, nil
}

// removeLingeringGuard deletes an archive guard row found committed (see
// guardWarnings): it switched the delete trigger off. One inside another
// process's archive transaction is not visible, so it is never touched.
func (s *Store) removeLingeringGuard(ctx context.Context) error {
	upto, err := lingeringGuard(ctx, s.ddb)
	if err != nil || !upto.Valid {
		return err
	}
	if _, err := s.ddb.ExecContext(ctx, `DELETE FROM archive_guard`); err != nil {
		return fmt.Errorf("remove the archive guard row left in place: %w", err)
	}
	s.log.Error("audit: removed an archive guard row left outside an archive (it let records be deleted): the database was tampered with; run warden audit verify with --expect-head", "upto", upto.Int64)
	return nil
}

// noteFile remembers which file the store opened at abs (CheckFile).
func (s *Store) noteFile(abs string) {
	s.abs = abs
	s.opened, _ = os.Stat(abs)
}

// ErrFileChanged: the database file at the store's path is not the one it
// opened (CheckFile).
var ErrFileChanged = errors.New("audit: the database file changed under this process")

// CheckFile says whether the database file at the store's path is still
// the one it opened. A database deleted (or replaced: a restored backup,
// a fresh start) while a process keeps it open is one no other process
// reads: a kill switch set there would stop nothing, and one set in the
// new file would never reach this process. Long-lived processes (warden
// run, warden ui) check it before acting.
func (s *Store) CheckFile() error {
	if s.opened == nil {
		return nil
	}
	fi, err := os.Stat(s.abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s was deleted after this process opened it: what it reads and writes is no longer what other processes see; restart it", ErrFileChanged, s.abs)
	case err != nil:
		return fmt.Errorf("audit: the database %s: %w", s.abs, err)
	case !os.SameFile(fi, s.opened):
		return fmt.Errorf("%w: %s was replaced by another file after this process opened it: what it reads and writes is no longer what other processes see; restart it", ErrFileChanged, s.abs)
	}
	return nil
}

// createPrivate creates an empty database file readable by its owner only
// (prompts, positions and orders are private even with secrets redacted);
// SQLite gives its -wal and -shm files the same mode. An existing file is
// left as it is.
func createPrivate(abs string) error {
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

func openWriter(ctx context.Context, abs, sync string) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", dsn(abs, "writer", sync))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, err
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	return db, nil
}

// dsn builds a go-sqlite3 data source name. role is "ro" (read-only, no
// file created), "rw" (reads of a writable store) or "writer" (BEGIN
// IMMEDIATE, so a write transaction holds the write lock before it reads
// the chain head).
func dsn(abs, role, sync string) string {
	q := url.Values{}
	q.Set("_fk", "1")
	q.Set("_busy_timeout", "10000")
	q.Set("_cache_size", "-16384") // KiB: a batch of records fits without spilling
	switch role {
	case "ro":
		q.Set("mode", "ro")
	case "immutable":
		q.Set("mode", "ro")
		q.Set("immutable", "1")
	default:
		q.Set("_journal_mode", "WAL")
		q.Set("_sync", sync)
		if role == "writer" {
			q.Set("_txlock", "immediate")
		}
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}
	return u.String()
}

// Close commits queued records (batch mode) and closes the database. The
// Store must not be used afterwards.
func (s *Store) Close() error {
	var errs []error
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return nil
	}
	if !s.ro && s.wdb != nil {
		errs = append(errs, s.flushLocked(context.Background()))
		if s.bulk {
			if err := restoreDeferred(context.Background(), s.wdb); err != nil {
				errs = append(errs, fmt.Errorf("audit: create the trigger deferred by Bulk: %w", err))
			}
		}
	}
	s.closed = true
	for _, m := range s.stmts {
		for _, st := range m {
			errs = append(errs, st.Close())
		}
	}
	s.rmu.Lock()
	for _, st := range s.reads {
		errs = append(errs, st.Close())
	}
	s.reads = nil
	s.rmu.Unlock()
	for _, st := range []*sql.Stmt{s.ins, s.dins} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	for _, db := range []*sql.DB{s.db, s.wdb, s.ddb} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

// Path is the database file the store was opened on.
func (s *Store) Path() string { return s.path }

// migrate applies the embedded migrations not yet recorded in the
// migrations table, each in its own transaction, in file-name order.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.ddb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	if err := newerSchema(ctx, s.ddb, names); err != nil {
		if !s.newerOK {
			return err
		}
		s.log.Warn("audit: writing to a database a newer Warden migrated", "error", err)
	}
	for _, name := range names {
		if err := s.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// ErrNewerSchema: the database was migrated by a newer Warden than this
// binary (a deploy rolled back): writing to a schema this binary does not
// know could break what the newer one relies on.
var ErrNewerSchema = errors.New("audit: the database was written by a newer Warden")

// newerSchema refuses a database that holds a migration this binary does
// not have.
func newerSchema(ctx context.Context, db *sql.DB, known []string) error {
	rows, err := db.QueryContext(ctx, `SELECT name FROM migrations ORDER BY name`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var unknown []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		if !slices.Contains(known, name) {
			unknown = append(unknown, name)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%w: its schema has %s, which this binary does not know (it knows up to %s); run the newer version, or restore a copy from before it ran",
			ErrNewerSchema, strings.Join(unknown, ", "), known[len(known)-1])
	}
	return nil
}

func (s *Store) migrateFile(ctx context.Context, name string) error {
	tx, err := s.ddb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(buf)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`, name, s.clock().UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// checkSchema makes sure a read-only store is a fully migrated audit
// database, so a wrong file gives a clear error rather than a query error.
func (s *Store) checkSchema(ctx context.Context) error {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'migrations'`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w (no migrations table)", ErrNotAuditDB)
	}
	for _, name := range names {
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("audit database is not migrated (missing %s); open it once with a writable warden to migrate", name)
		}
	}
	return nil
}

// Redacted is what a redacted secret is replaced with.
const Redacted = redact.Mask

// newRedactor returns a func that replaces every secret in every form the
// shared redactor knows (package redact), then applies extra; nil when
// there is nothing to redact.
func newRedactor(secrets []string, extra func(string) string) func(string) string {
	var r func(string) string
	if slices.ContainsFunc(secrets, func(s string) bool { return s != "" }) {
		r = redact.New(secrets...).String
	}
	switch {
	case r == nil:
		return extra
	case extra == nil:
		return r
	}
	return func(v string) string { return extra(r(v)) }
}
