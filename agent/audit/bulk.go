package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sort"
)

// bulkMark is the database's user_version while a bulk store (Options.Bulk)
// writes it with its append-only insert trigger deferred ("BULK" in
// ASCII). It lives in the file's header, so a bulk writer killed before
// Close leaves a mark the next writable Open (and Verify) sees.
const bulkMark = 0x42554c4b

// deferredSQL selects what a bulk store defers: the records table's
// append-only insert trigger. A trigger on every insert makes SQLite run
// a sub-program for each row (a quarter to a third of what recording a
// decision cost: BenchmarkRecordRun/bulk256), and creating it at the end
// costs nothing. The indexes stay:
// one updated row by row costs the writer about as much as building it
// at Close from the whole table would, and the writer runs beside the
// backtest while Close is waited for (measured: deferring the six lookup
// indexes too saved 3 s of writing and added 1.6 s to Close).
const deferredSQL = `SELECT m.type, m.name, m.sql FROM sqlite_master m
	WHERE m.tbl_name = 'records' AND m.type = 'trigger' AND m.name = 'records_append_only'
	ORDER BY m.type, m.name`

type schemaObject struct{ typ, name, sql string }

// querier is a database, a connection or a transaction.
type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

func deferredObjects(ctx context.Context, q querier) ([]schemaObject, error) {
	return schemaObjects(ctx, q, deferredSQL)
}

// triggers lists every trigger of the schema.
func triggers(ctx context.Context, q querier) ([]schemaObject, error) {
	return schemaObjects(ctx, q, `SELECT type, name, tbl_name FROM sqlite_master WHERE type = 'trigger' ORDER BY name`)
}

// schemaObjects runs a query of sqlite_master that selects type, name and
// a third text (the sql, or the table).
func schemaObjects(ctx context.Context, q querier, query string) ([]schemaObject, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []schemaObject
	for rows.Next() {
		var o schemaObject
		if err := rows.Scan(&o.typ, &o.name, &o.sql); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// deferForBulk drops what deferredSQL selects and sets the bulk mark, in
// one transaction, on a database without records. While the mark is set,
// the store's own writer keeps the trigger's rule: every record takes the
// next seq, read under the write lock (writeTx.append).
func deferForBulk(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM records LIMIT 1)`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errors.New("Bulk writes a new database only, and this one holds records")
	}
	objs, err := deferredObjects(ctx, tx)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if _, err := tx.ExecContext(ctx, `DROP `+o.typ+` `+quoteIdent(o.name)); err != nil {
			return fmt.Errorf("defer %s %s: %w", o.typ, o.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, bulkMark)); err != nil {
		return err
	}
	return tx.Commit()
}

// bulkMarked reports whether the database carries the bulk mark.
func bulkMarked(ctx context.Context, db *sql.DB) (bool, error) {
	var v int64
	err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v)
	return v == bulkMark, err
}

// restoreDeferred builds, in one transaction, every object deferredSQL
// selects in a newly migrated database that this one lacks (as the
// migrations define it, byte for byte), and clears the bulk mark.
func restoreDeferred(ctx context.Context, db *sql.DB) error {
	want, err := referenceDeferred(ctx)
	if err != nil {
		return fmt.Errorf("reference schema: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	have, err := deferredObjects(ctx, tx)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, o := range have {
		present[o.typ+" "+o.name] = true
	}
	for _, o := range want {
		if present[o.typ+" "+o.name] {
			continue
		}
		if _, err := tx.ExecContext(ctx, o.sql); err != nil {
			return fmt.Errorf("build %s %s: %w", o.typ, o.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `PRAGMA user_version = 0`); err != nil {
		return err
	}
	return tx.Commit()
}

// referenceDeferred is deferredSQL's answer in an in-memory database the
// embedded migrations have just built.
func referenceDeferred(ctx context.Context) ([]schemaObject, error) {
	return referenceSchema(ctx, deferredObjects)
}

// referenceSchema is what list finds in an in-memory database the embedded
// migrations have just built.
func referenceSchema(ctx context.Context, list func(context.Context, querier) ([]schemaObject, error)) ([]schemaObject, error) {
	db, err := sql.Open("sqlite3", "file::memory:")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: one in-memory database
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, name := range names {
		buf, err := fs.ReadFile(migrationFS, name)
		if err != nil {
			return nil, err
		}
		if _, err := db.ExecContext(ctx, string(buf)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return list(ctx, db)
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string {
	b := []byte{'"'}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return string(append(b, '"'))
}

// lingeringGuard is the seq a committed archive_guard row lets records be
// deleted up to (not Valid when there is none). An archive's own row,
// inside its uncommitted transaction, is not visible here.
func lingeringGuard(ctx context.Context, db *sql.DB) (sql.NullInt64, error) {
	var upto sql.NullInt64
	err := db.QueryRowContext(ctx, `SELECT MAX(upto) FROM archive_guard`).Scan(&upto)
	return upto, err
}

// guardWarnings names each trigger a newly migrated database has and this
// one lacks, and a bulk write that did not close (Options.Bulk).
func (s *Store) guardWarnings(ctx context.Context) ([]string, error) {
	want, err := referenceSchema(ctx, triggers)
	if err != nil {
		return nil, fmt.Errorf("audit: reference schema: %w", err)
	}
	have, err := triggers(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("audit: read the schema: %w", err)
	}
	present := map[string]bool{}
	for _, t := range have {
		present[t.name] = true
	}
	var out []string
	marked, err := bulkMarked(ctx, s.db)
	if err != nil {
		return nil, err
	}
	if marked {
		out = append(out, "a bulk write (a backtest's audit file) stopped before it closed: its append-only insert trigger was never created; a writable open (any warden command that writes) creates it")
	}
	for _, t := range want {
		if !present[t.name] && !(marked && t.name == "records_append_only") {
			out = append(out, fmt.Sprintf("trigger %s on %s is missing: the database no longer refuses what it refused by itself (the chain still finds any edit of a record)", t.name, t.sql))
		}
	}
	// The archive transaction's guard row never outlives it; one left in
	// place switches the delete trigger off up to its seq: someone put it
	// there (a crash rolls the transaction back with it).
	upto, err := lingeringGuard(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("audit: read the archive guard: %w", err)
	}
	if upto.Valid {
		out = append(out, fmt.Sprintf("archive_guard holds a row (up to seq %d) outside an archive: records_no_delete lets records up to that seq be deleted; only warden audit archive writes that row, inside its transaction, and removes it before committing (a writable open removes it; the chain still finds a deleted record, or a deleted tail with --expect-head)", upto.Int64))
	}
	return out, nil
}
