package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/notify"
)

// publishHead enqueues, once a day (the dedup key is the day), the audit
// chain's head for every configured notification channel, so a copy
// exists outside the machine: `warden audit verify --expect-head SEQ:HASH`
// then finds records deleted from the end of the chain. A failure is
// logged; the cycle's outcome does not depend on it.
func (rt *runtime) publishHead(ctx context.Context) {
	if rt.pub == nil || rt.store == nil {
		return
	}
	seq, hash, err := rt.store.Head(ctx)
	if err == nil && seq > 0 {
		err = rt.pub.Publish(ctx, notify.AuditHead{Seq: seq, Hash: hash, Day: rt.clock.Now()})
	}
	if err != nil {
		rt.logger.Warn("audit head not published", "error", err)
	}
}

// archiveDue archives, when audit.retention is set, the records older than
// the retention (from the start of that day, UTC) into a sealed file in
// audit.archive_dir (default archive/ beside the database). It runs at the
// start of every cycle, under the run lock the runtime holds; the store's
// own archive records make it due once a day: after the first cycle of a
// day has archived, the next find nothing before the same cut-off (a
// `run --once` a day later finds the next day's records). A failure is
// logged and recorded as an error event and leaves the database as it
// was; the cycle runs.
func (rt *runtime) archiveDue(ctx context.Context) {
	days := rt.cfg.Audit.Retention
	if days <= 0 || rt.store == nil {
		return
	}
	// The runtime's store dates its records by the decision clock: wall
	// time, or the offline replay's.
	before := rt.clock.Now().UTC().Add(-days.Duration()).Truncate(24 * time.Hour)
	if rt.archivedBefore.Equal(before) {
		return // this process archived up to this cut-off already
	}
	dir := rt.cfg.Audit.ArchiveDirFor(rt.cfg.DB)
	res, err := rt.store.Archive(ctx, audit.ArchiveOptions{Before: before, Dir: dir})
	if err != nil {
		rt.logger.Error("audit retention: archiving failed; the records stay in the database", "before", before.Format(time.RFC3339), "dir", dir, "error", err)
		detail, _ := json.Marshal(map[string]string{"problem": "archiving failed", "before": before.Format(time.RFC3339), "dir": dir, "error": err.Error()})
		_ = rt.store.RecordEvent(ctx, audit.Event{Kind: audit.EventError, State: "archive", Detail: detail})
		return
	}
	rt.archivedBefore = before
	if res.File.Name != "" {
		rt.logger.Info("audit retention: archived", "before", before.Format(time.RFC3339), "file", res.Path,
			"first_seq", res.File.FirstSeq, "last_seq", res.File.LastSeq, "removed", res.Removed, "kept", res.Kept)
	}
}

// withArchive returns st or, given an archive directory (--archive DIR),
// a read-only store holding DIR's sealed archives and st's live records as
// one (audit.Store.WithArchives: each file checked against the SHA-256
// the chain recorded for it), in a temporary file; done closes it and
// removes the file.
func withArchive(cmd *cobra.Command, st *audit.Store, dir string) (_ *audit.Store, done func(), err error) {
	if dir == "" {
		return st, func() {}, nil
	}
	if err := archiveDirExists(dir); err != nil {
		return nil, nil, err
	}
	tmp, err := os.MkdirTemp("", "warden-archive-view-")
	if err != nil {
		return nil, nil, err
	}
	m, err := st.WithArchives(cmd.Context(), dir, tmp)
	if err != nil {
		os.RemoveAll(tmp)
		// An archive that is not the one the chain recorded (edited,
		// truncated, swapped, missing) is a failed check, as in verify.
		return nil, nil, &exitError{Code: exitRejected, Err: err}
	}
	return m, func() { m.Close(); os.RemoveAll(tmp) }, nil
}

// archiveDirExists refuses (exit 2) an --archive DIR that does not exist
// or is not a directory: a mistyped path is a usage error, not archives
// missing (which an existing directory without the files named is).
func archiveDirExists(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return usageErr(fmt.Errorf("--archive %s: the directory does not exist", dir))
	case err != nil:
		return usageErr(fmt.Errorf("--archive %s: %w", dir, err))
	case !fi.IsDir():
		return usageErr(fmt.Errorf("--archive %s: not a directory", dir))
	}
	return nil
}

// verifyOptions reads verify's --expect-head (SEQ:HASH or HASH).
func verifyOptions(expectHead string) (audit.VerifyOptions, error) {
	var o audit.VerifyOptions
	if expectHead == "" {
		return o, nil
	}
	seq, hash, err := audit.ParseHead(expectHead)
	if err != nil {
		return o, fmt.Errorf("--expect-head: %w", err)
	}
	o.ExpectSeq, o.ExpectHash = seq, hash
	return o, nil
}

// defaultArchiveDir is where archives go: beside the database (as
// audit.archive_dir's default).
func defaultArchiveDir(db string) string {
	return config.Audit{}.ArchiveDirFor(db)
}

func newAuditArchiveCmd(a *app) *cobra.Command {
	var db, before, dir string
	cmd := &cobra.Command{
		Use:   "archive --before DATE [--db FILE] [--dir DIR]",
		Short: "Move the records before DATE into a sealed archive file and out of the database",
		Long: `archive moves every record before the first one at or after DATE (a date,
an RFC 3339 time, or a duration ago like 90d: on the offline replay's or a
backtest's database, counted back from its last run's decision time; a record
outside runs dated by the wall clock, such as a kill from a terminal, that an
older run follows goes with it) into one sealed, gzip-compressed
file in DIR (default: archive/ beside the database), with the chain hash at
its end, and removes them from the database in one transaction that appends
an archive record (the file's SHA-256 and range) to the chain. It is the only
way a record leaves the database. Records the agent still reads (the kill
switch, open orders, the paper account, pending notifications) stay, and so
does the newest run, whatever the date.

It takes the run lock: it refuses while a warden run uses the database.
Verify the result with: warden audit verify --archive DIR.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if before == "" {
				return usageErr(fmt.Errorf("--before is required"))
			}
			t, err := parseAuditTime("--before", before, time.Now())
			if err != nil {
				return usageErr(err)
			}
			if _, err := os.Stat(db); err != nil {
				return usageErr(fmt.Errorf("audit database %s: %w", db, err))
			}
			// An empty file or another kind of database is refused as it
			// is: archiving would otherwise make it a Warden database.
			abs, err := filepath.Abs(db)
			if err != nil {
				return usageErr(err)
			}
			if err := existingAuditDB(cmd.Context(), abs, false); err != nil {
				return usageErr(err)
			}
			lock, err := lockDBAs(cmd.Context(), db, "audit archive", cmd.ErrOrStderr())
			if err != nil {
				return usageErr(err)
			}
			defer lock.Close()
			st, err := audit.Open(cmd.Context(), db, audit.Options{})
			if err != nil {
				return usageErr(err)
			}
			defer st.Close()
			// A duration counts back from the history's clock, as the
			// other audit commands' do (90d of the replay's history, not
			// of the wall clock's).
			now, err := a.auditNow(cmd.Context(), st, before)
			if err != nil {
				return usageErr(err)
			}
			if t, err = parseAuditTime("--before", before, now); err != nil {
				return usageErr(err)
			}
			if dir == "" {
				dir = defaultArchiveDir(db)
			}
			res, err := st.Archive(cmd.Context(), audit.ArchiveOptions{Before: t, Dir: dir})
			if err != nil {
				return err
			}
			if res.File.Name == "" {
				fmt.Fprintf(a.stdout, "nothing to archive before %s\n", t.UTC().Format(time.RFC3339))
				return nil
			}
			fmt.Fprintf(a.stdout, "archived seqs %d..%d (%d records, %d removed, %d kept for the running agent) to %s\nsha256 %s; recorded as seq %d\n",
				res.File.FirstSeq, res.File.LastSeq, res.File.Records, res.Removed, res.Kept, res.Path, res.File.SHA256, res.Seq)
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", defaultAuditDB, "audit database")
	cmd.Flags().StringVar(&before, "before", "", "archive the records before this date, time, or duration ago (90d)")
	cmd.Flags().StringVar(&dir, "dir", "", "archive directory (default: with --config, its audit.archive_dir; else archive/ beside the database)")
	return cmd
}
