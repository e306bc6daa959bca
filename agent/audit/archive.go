package audit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Sealed archives. Archive moves the oldest records (every record before
// the first one at or after a date) into a sealed, gzip-compressed JSON
// lines file: a header, the records with every column and their hashes, the
// blobs they refer to, and an end line with the chain hash of the last
// record. Then, in one transaction, it appends an archive record (the
// file, its SHA-256, the range, the end hash, and every archive so far) and
// deletes the archived records from the database, except those the
// running agent still reads (kept: the newest event of each kind, the
// paper account's newest checkpoint and later deltas, the newest equity (and
// the one its day starts from, for the daily loss limit),
// orders not final, notifications not delivered); the archive record
// lists them by seq and hash.
//
// Verify then starts the live chain after the archived range: the record
// after it must link to the end hash, and the kept copies must be the
// listed ones. VerifyArchives also walks the files, as one chain with the
// live database.

// KindArchive is the kind of an archive record.
const KindArchive = "archive"

// ArchiveFile describes one sealed archive file.
type ArchiveFile struct {
	Name     string `json:"name"`      // file name, in the archive directory
	SHA256   string `json:"sha256"`    // of the file's bytes
	FirstSeq int64  `json:"first_seq"` // records FirstSeq..LastSeq
	LastSeq  int64  `json:"last_seq"`
	LastHash string `json:"last_hash"` // chain hash of LastSeq
	Records  int64  `json:"records"`
	Before   string `json:"before"` // the date the records were before (RFC 3339)
}

// archiveBody is the body of an archive record.
type archiveBody struct {
	File ArchiveFile `json:"file"`
	// Files are every archive so far, oldest first (File last).
	Files []ArchiveFile `json:"files"`
	// Kept are the records up to File.LastSeq left in the database: seq and
	// hash.
	Kept [][2]any `json:"kept"`
	// Carried is, per symbol, what the archived fills left held at the
	// first fill still in the database (BuildBookCarried): without it an
	// open position's quantity and average entry would change with the
	// archive.
	Carried map[string]Carry `json:"carried,omitempty"`
}

// Carried is what the newest archive says the archived fills left held
// (see archiveBody.Carried); nil when nothing was archived.
func (s *Store) Carried(ctx context.Context) (map[string]Carry, error) {
	ab, err := s.latestArchive(ctx, func(q string, args ...any) scanner { return s.queryRow(ctx, q, args...) })
	if err != nil || ab == nil {
		return nil, err
	}
	return ab.Carried, nil
}

// ArchiveOptions say what Archive moves and where.
type ArchiveOptions struct {
	Before time.Time // records before the first one at or after Before
	Dir    string    // the archive directory (created if missing)
	// fault, in tests, fails the named write step.
	fault func(step string) error
}

// ArchiveResult is what Archive did; File is zero when there was nothing to
// archive.
type ArchiveResult struct {
	File    ArchiveFile `json:"file"`
	Path    string      `json:"path"`
	Removed int64       `json:"removed"` // records removed from the database
	Kept    int         `json:"kept"`    // archived records kept in the database
	Seq     int64       `json:"seq"`     // the archive record's seq
}

// archiveLine is one line of an archive file.
type archiveLine struct {
	// Header.
	Archive  int    `json:"warden_archive,omitempty"` // format version, 1
	FirstSeq int64  `json:"first_seq,omitempty"`
	LastSeq  int64  `json:"last_seq,omitempty"`
	PrevHash string `json:"prev_hash,omitempty"` // hash of FirstSeq-1 (genesis: zeros)
	// A record.
	Record *archRecord `json:"record,omitempty"`
	// A blob.
	Blob      string `json:"blob,omitempty"`
	BlobCodec string `json:"codec,omitempty"`
	BlobBody  []byte `json:"body,omitempty"`
	// End.
	End      bool   `json:"end,omitempty"`
	Records  int64  `json:"records,omitempty"`
	LastHash string `json:"last_hash,omitempty"`
}

// latestArchive returns the newest archive record's body (nil when none).
func (s *Store) latestArchive(ctx context.Context, q func(string, ...any) scanner) (*archiveBody, error) {
	var body []byte
	err := q(`SELECT body FROM records WHERE kind = 'archive' ORDER BY seq DESC LIMIT 1`).Scan(&body)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: read the newest archive record: %w", err)
	}
	var ab archiveBody
	if err := json.Unmarshal(body, &ab); err != nil {
		return nil, fmt.Errorf("audit: decode the newest archive record: %w", err)
	}
	return &ab, nil
}

// keptSQL selects the records up to ?1 the agent still reads.
const keptSQL = `SELECT seq FROM records WHERE seq <= ?1 AND seq IN (
	SELECT MAX(seq) FROM records WHERE kind = 'event' GROUP BY ref
	UNION SELECT MAX(seq) FROM records WHERE kind = 'equity'
	UNION SELECT seq FROM (SELECT seq FROM records WHERE kind = 'equity' AND at <= (SELECT (MAX(at) / 86400000000000) * 86400000000000 FROM records WHERE kind = 'equity') ORDER BY at DESC, seq DESC LIMIT 1)
	UNION SELECT seq FROM (SELECT seq FROM records WHERE kind = 'equity' AND at > (SELECT (MAX(at) / 86400000000000) * 86400000000000 FROM records WHERE kind = 'equity') ORDER BY at, seq LIMIT 1)
	UNION SELECT seq FROM records WHERE kind = 'paper_state' AND seq >= COALESCE((SELECT MAX(seq) FROM records WHERE kind = 'paper_state' AND state <> 'delta'), 0)
	UNION SELECT seq FROM records WHERE kind IN ('order_event', 'fill') AND ref IN (
		SELECT ref FROM (SELECT ref, state, MAX(seq) FROM records WHERE kind = 'order_event' GROUP BY ref)
		WHERE state NOT IN ('filled', 'cancelled', 'rejected'))
	UNION SELECT n.seq FROM records n WHERE n.kind = 'notification' AND NOT EXISTS (
		SELECT 1 FROM records d WHERE d.kind = 'delivery' AND d.parent = n.seq AND d.state IN ('delivered', 'gave_up'))
	UNION SELECT d.seq FROM records d WHERE d.kind = 'delivery' AND d.parent IN (
		SELECT n.seq FROM records n WHERE n.kind = 'notification' AND NOT EXISTS (
			SELECT 1 FROM records x WHERE x.kind = 'delivery' AND x.parent = n.seq AND x.state IN ('delivered', 'gave_up')))
) ORDER BY seq`

// Archive moves the records before opts.Before into a sealed file in
// opts.Dir and removes them from the database (see the package comment
// above). The newest record always stays. A crash at any point leaves
// either the database as it was (perhaps with an unreferenced file, which
// the next Archive replaces) or the new state. The caller holds the run
// lock: no other process may write meanwhile.
func (s *Store) Archive(ctx context.Context, opts ArchiveOptions) (ArchiveResult, error) {
	var res ArchiveResult
	if s.ro {
		return res, errReadOnly
	}
	if opts.Before.IsZero() || opts.Dir == "" {
		return res, errors.New("audit: archive: a date and a directory are needed")
	}
	fault := opts.fault
	if fault == nil {
		fault = func(string) error { return nil }
	}
	if err := s.Flush(ctx); err != nil {
		return res, err
	}
	// The orders of the round trips still open stay too: an open
	// position's buys (and anything sold of it) keep their cost in
	// `warden trades` without the archive. Read before the write lock
	// (the run lock keeps other writers out meanwhile).
	prev, err := s.latestArchive(ctx, func(q string, args ...any) scanner { return s.db.QueryRowContext(ctx, q, args...) })
	if err != nil {
		return res, err
	}
	var prevCarried map[string]Carry
	if prev != nil {
		prevCarried = prev.Carried
	}
	openRefs, fills, err := s.openTripOrders(ctx, prevCarried)
	if err != nil {
		return res, err
	}
	kept := keptSQL
	keptArgs := []any{nil}
	if len(openRefs) > 0 {
		ph := make([]string, len(openRefs))
		for i, r := range openRefs {
			ph[i] = fmt.Sprintf("?%d", i+2)
			keptArgs = append(keptArgs, r)
		}
		kept = strings.Replace(keptSQL, ") ORDER BY seq", "\tUNION SELECT seq FROM records WHERE kind IN ('order_event', 'fill') AND ref IN ("+strings.Join(ph, ", ")+")\n) ORDER BY seq", 1)
	}
	err = s.lockWriter()
	defer s.wmu.Unlock()
	if err != nil {
		return res, err
	}
	if s.closed {
		return res, errors.New("audit: store is closed")
	}
	var from int64 = 1
	prevHash := hex.EncodeToString(genesis)
	var files []ArchiveFile
	if prev != nil {
		from, prevHash, files = prev.File.LastSeq+1, prev.File.LastHash, prev.Files
	}
	var head, cut int64
	if err := s.db.QueryRowContext(ctx, qHeadSeq).Scan(&head); err != nil {
		return res, fmt.Errorf("audit: archive: %w", err)
	}
	// The range ends before the first record dated at or after the
	// cut-off, leaving out of that search a record outside any run that a
	// later run's record dated before the cut-off follows: on the offline
	// replay the runs are dated by the replay's clock (years back) and what
	// happens outside them (kill, resume, a policy's tests at start,
	// `audit archive` itself) by the wall clock, and one such record
	// stopped every later archive there. It goes with the runs around it
	// (the switches and the tests in force are carried by the archive
	// record). On one clock, no record is passed over.
	var lastOld int64 // the last record of a run dated before the cut-off
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM records WHERE seq >= ? AND at < ? AND run_id <> ''`, from, opts.Before.UnixNano()).Scan(&lastOld)
	if err != nil {
		return res, fmt.Errorf("audit: archive: %w", err)
	}
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(MIN(seq), 0) FROM records WHERE seq >= ? AND at >= ? AND (run_id <> '' OR seq > ?)`, from, opts.Before.UnixNano(), lastOld).Scan(&cut)
	if err != nil {
		return res, fmt.Errorf("audit: archive: %w", err)
	}
	if cut == 0 {
		cut = head
	} else {
		cut--
	}
	cut = min(cut, head-1) // the head stays: the chain goes on from it
	// The newest run stays whole, whatever the date (--before 0d, a date
	// ahead): status reads its state and marks, kill and status when a run
	// last used the database.
	var lastRun int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM records WHERE kind = 'run'`).Scan(&lastRun); err != nil {
		return res, fmt.Errorf("audit: archive: %w", err)
	}
	if lastRun > 0 {
		cut = min(cut, lastRun-1)
	}
	// A run stays whole: when the cut falls after a run's start and before
	// its end (its records' times are not in seq order: an offline replay
	// stamps a run with the replay's clock and its end with the wall
	// clock), the whole run stays in the database.
	if cut >= from {
		if c, err := s.runBoundary(ctx, cut); err != nil {
			return res, fmt.Errorf("audit: archive: %w", err)
		} else {
			cut = c
		}
	}
	if cut < from {
		return res, nil
	}

	// 1. The sealed file, written aside, synced, then renamed into place.
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return res, fmt.Errorf("audit: archive: %w", err)
	}
	// What an archive that died before its transaction committed left
	// here: a partial file, or a whole one the chain never recorded. No
	// recorded archive starts at from (the chain's archives end before
	// it), so those are its leftovers; its retry (under another --before)
	// would not replace them, and verify would note them for ever.
	// A whole file is removed only when every record it holds is still
	// in the database with the same hash (a copy): one holding records
	// the database lacks (its tail lost, a backup restored) may be their
	// only copy, and archiving stops until the operator moves it away.
	if stale, err := filepath.Glob(filepath.Join(opts.Dir, fmt.Sprintf("warden-audit-*-seq%d-*.jsonl.gz*", from))); err == nil {
		for _, f := range stale {
			switch {
			case strings.HasSuffix(f, ".jsonl.gz.tmp"):
				os.Remove(f) // never sealed: a write cut short
			case strings.HasSuffix(f, ".jsonl.gz"):
				seq, why, err := s.strayArchive(ctx, f, nil)
				if err != nil {
					return res, fmt.Errorf("audit: archive: %w", err)
				}
				if why != "" {
					return res, fmt.Errorf("%w: %s holds records this database does not have as they are (seq %d: %s): it may be their only copy (records lost from the database, a restored backup?); move it out of %s, then archive again",
						ErrForeignArchive, filepath.Base(f), seq, why, opts.Dir)
				}
				os.Remove(f)
			}
		}
	}
	af := ArchiveFile{FirstSeq: from, LastSeq: cut, Before: opts.Before.UTC().Format(time.RFC3339)}
	af.Name = fmt.Sprintf("warden-audit-%s-seq%d-%d.jsonl.gz", opts.Before.UTC().Format("20060102T150405Z"), from, cut)
	final := filepath.Join(opts.Dir, af.Name)
	tmp := final + ".tmp"
	if err := fault("create"); err != nil {
		return res, err
	}
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return res, fmt.Errorf("audit: archive: %w", err)
	}
	defer os.Remove(tmp)
	sum := sha256.New()
	werr := s.writeArchive(ctx, io.MultiWriter(f, sum), &af, prevHash, fault)
	if werr == nil {
		werr = fault("sync")
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return res, fmt.Errorf("audit: archive: write %s: %w", af.Name, werr)
	}
	af.SHA256 = hex.EncodeToString(sum.Sum(nil))
	if err := fault("rename"); err != nil {
		return res, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return res, fmt.Errorf("audit: archive: %w", err)
	}
	if d, err := os.Open(opts.Dir); err == nil {
		d.Sync()
		d.Close()
	}

	// 2. One transaction: the archive record, then the removal.
	if err := fault("begin"); err != nil {
		return res, err
	}
	files = append(append([]ArchiveFile(nil), files...), af)
	err = s.runTxLocked(ctx, func(w *writeTx) error {
		keptArgs[0] = cut
		rows, err := w.tx.QueryContext(w.ctx, kept, keptArgs...)
		if err != nil {
			return fmt.Errorf("audit: archive: kept records: %w", err)
		}
		var keptSeqs []int64
		for rows.Next() {
			var seq int64
			if err := rows.Scan(&seq); err != nil {
				rows.Close()
				return err
			}
			keptSeqs = append(keptSeqs, seq)
		}
		rows.Close()
		ab := archiveBody{File: af, Files: files, Kept: [][2]any{}}
		keptSet := make(map[int64]bool, len(keptSeqs))
		for _, seq := range keptSeqs {
			keptSet[seq] = true
		}
		if c := carriesAt(fills, prevCarried, func(f FillRecord) bool { return f.Seq > cut || keptSet[f.Seq] }); len(c) > 0 {
			for sym, cy := range c {
				cy.After = cut
				c[sym] = cy
			}
			ab.Carried = c
		}
		for _, seq := range keptSeqs {
			var h []byte
			if err := w.tx.QueryRowContext(w.ctx, `SELECT hash FROM records WHERE seq = ?`, seq).Scan(&h); err != nil {
				return err
			}
			ab.Kept = append(ab.Kept, [2]any{seq, hex.EncodeToString(h)})
		}
		body, err := marshal(ab)
		if err != nil {
			return err
		}
		if err := fault("append"); err != nil {
			return err
		}
		if res.Seq, err = w.append(&record{kind: KindArchive, at: s.now(), ref: af.Name, state: "sealed", body: body}); err != nil {
			return err
		}
		if err := fault("delete"); err != nil {
			return err
		}
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO archive_guard (id, upto) VALUES (1, ?)`, cut); err != nil {
			return fmt.Errorf("audit: archive: guard: %w", err)
		}
		r, err := w.tx.ExecContext(w.ctx, `DELETE FROM records WHERE seq <= ?1 AND seq NOT IN (`+kept+`)`, keptArgs...)
		if err != nil {
			return fmt.Errorf("audit: archive: remove archived records: %w", err)
		}
		res.Removed, _ = r.RowsAffected()
		if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM archive_guard`); err != nil {
			return fmt.Errorf("audit: archive: guard: %w", err)
		}
		res.Kept = len(keptSeqs)
		return fault("commit")
	})
	if err != nil {
		return ArchiveResult{}, err
	}
	res.File, res.Path = af, final
	return res, nil
}

// openTripOrders are the client order ids of the fills of every round
// trip still open (as `warden trades` builds them, after the archive that
// carried carried), sorted; and every fill in the database.
func (s *Store) openTripOrders(ctx context.Context, carried map[string]Carry) ([]string, []FillRecord, error) {
	fills, err := s.FillRecords(ctx, time.Time{}, time.Time{})
	if err != nil {
		return nil, nil, err
	}
	st, _, err := s.LatestState(ctx)
	if err != nil {
		return nil, nil, err
	}
	book := BuildBookCarried(fills, MinOrderFromState(st), carried)
	since := map[string]time.Time{} // symbol -> when its open trip opened
	for _, t := range book.Trips {
		if t.Open {
			since[t.Symbol] = t.OpenedAt
		}
	}
	refs := map[string]bool{}
	for _, f := range fills {
		if at, ok := since[f.Symbol]; ok && !f.Time.Before(at) && f.ClientOrderID != "" {
			refs[f.ClientOrderID] = true
		}
	}
	out := make([]string, 0, len(refs))
	for r := range refs {
		out = append(out, r)
	}
	sort.Strings(out)
	return out, fills, nil
}

// runTxLocked runs fn in one durable write transaction; wmu is held.
func (s *Store) runTxLocked(ctx context.Context, fn writeFunc) error {
	return s.runTx(ctx, true, []writeFunc{fn})
}

// writeArchive writes the records af.FirstSeq..af.LastSeq and the blobs
// they refer to as a gzip JSON lines archive, and fills af's end fields.
func (s *Store) writeArchive(ctx context.Context, w io.Writer, af *ArchiveFile, prevHash string, fault func(string) error) error {
	zw := gzip.NewWriter(w)
	bw := bufio.NewWriterSize(zw, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(archiveLine{Archive: 1, FirstSeq: af.FirstSeq, LastSeq: af.LastSeq, PrevHash: prevHash}); err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, kind, at, run_id, decision_id, ref, symbol, state, dedup, parent, due, tokens, body, prev_hash, hash FROM records WHERE seq BETWEEN ? AND ? ORDER BY seq`, af.FirstSeq, af.LastSeq)
	if err != nil {
		return err
	}
	defer rows.Close()
	blobs := map[string]bool{}
	want := af.FirstSeq
	for rows.Next() {
		r, err := scanRaw(rows)
		if err != nil {
			return err
		}
		if r.Seq != want {
			return fmt.Errorf("seq %d missing from the database", want)
		}
		want++
		for _, h := range blobRefs(r.Kind, []byte(r.bodyText())) {
			blobs[h] = true
		}
		af.LastHash = r.Hash
		af.Records++
		if err := enc.Encode(archiveLine{Record: r}); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if want != af.LastSeq+1 {
		return fmt.Errorf("seq %d missing from the database", want)
	}
	if err := fault("write"); err != nil {
		return err
	}
	hs := make([]string, 0, len(blobs))
	for h := range blobs {
		hs = append(hs, h)
	}
	sort.Strings(hs)
	for _, h := range hs {
		var (
			codec string
			body  []byte
		)
		if err := s.db.QueryRowContext(ctx, `SELECT codec, body FROM blobs WHERE hash = ?`, h).Scan(&codec, &body); err != nil {
			return fmt.Errorf("blob %s: %w", h, err)
		}
		if err := enc.Encode(archiveLine{Blob: h, BlobCodec: codec, BlobBody: body}); err != nil {
			return err
		}
	}
	if err := enc.Encode(archiveLine{End: true, Records: af.Records, LastHash: af.LastHash}); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}

// archRecord is a record in an archive file: every column, the body as a
// string (byte for byte as hashed), hashes in hex.
type archRecord struct {
	Seq        int64  `json:"seq"`
	Kind       string `json:"kind"`
	At         int64  `json:"at_ns"`
	RunID      string `json:"run_id,omitempty"`
	DecisionID string `json:"decision_id,omitempty"`
	Ref        string `json:"ref,omitempty"`
	Symbol     string `json:"symbol,omitempty"`
	State      string `json:"state,omitempty"`
	Dedup      string `json:"dedup,omitempty"`
	Parent     int64  `json:"parent,omitempty"`
	Due        int64  `json:"due_ns,omitempty"`
	Tokens     int64  `json:"tokens,omitempty"`
	BodyText   string `json:"body"`
	PrevHash   string `json:"prev_hash"`
	Hash       string `json:"hash"`
}

func (r *archRecord) bodyText() string { return r.BodyText }

// scanRaw reads one row of every records column.
func scanRaw(rows interface{ Scan(...any) error }) (*archRecord, error) {
	var (
		r          archRecord
		body       []byte
		prev, hash []byte
	)
	if err := rows.Scan(&r.Seq, &r.Kind, &r.At, &r.RunID, &r.DecisionID, &r.Ref, &r.Symbol, &r.State, &r.Dedup, &r.Parent, &r.Due, &r.Tokens, &body, &prev, &hash); err != nil {
		return nil, err
	}
	r.BodyText = string(body)
	r.PrevHash, r.Hash = hex.EncodeToString(prev), hex.EncodeToString(hash)
	return &r, nil
}

// toRecord is the chain's view of a raw record.
func (r *archRecord) toRecord() (record, []byte, []byte, error) {
	prev, err1 := hex.DecodeString(r.PrevHash)
	hash, err2 := hex.DecodeString(r.Hash)
	if err := errors.Join(err1, err2); err != nil {
		return record{}, nil, nil, err
	}
	return record{kind: r.Kind, at: r.At, runID: r.RunID, decisionID: r.DecisionID, ref: r.Ref, symbol: r.Symbol, state: r.State,
		dedup: r.Dedup, parent: r.Parent, due: r.Due, tokens: r.Tokens, body: []byte(r.bodyText())}, prev, hash, nil
}

// ArchiveReport is the result of VerifyArchives.
type ArchiveReport struct {
	VerifyReport
	Files []ArchiveFile `json:"files"`
	// Unlisted are files in the directory that no archive record names
	// and whose records are all this chain's (left by an archive that did
	// not complete): not part of the chain. One holding records the chain
	// does not have is a break (Problem "deleted").
	Unlisted []string `json:"unlisted,omitempty"`
	// Partial are files an archive was writing when it stopped (.tmp):
	// never sealed, removed by the next archive.
	Partial []string `json:"partial,omitempty"`
}

// ErrForeignArchive: the archive directory holds a file, named by no
// archive record, with records this database does not have; archiving
// would replace it.
var ErrForeignArchive = errors.New("audit: archive: a file no archive record names is in the way")

// strayArchive reads an archive file that no archive record names and
// says whether its records are this chain's: each one in the database, or
// in archived (seq to hash, the recorded archives' records), with the same
// hash. An archive that died before its transaction committed leaves such
// a copy. Otherwise it returns the first seq that differs and why: the
// file holds records the chain lost (a tail deleted, a backup restored) or
// another database's; an unreadable file is not shown to be a copy.
func (s *Store) strayArchive(ctx context.Context, path string, archived map[int64]string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return 0, fmt.Sprintf("not a gzip file (%v)", err), nil
	}
	dec := json.NewDecoder(zr)
	var seq int64
	for {
		var l archiveLine
		if err := dec.Decode(&l); errors.Is(err, io.EOF) {
			return 0, "", nil
		} else if err != nil {
			return seq + 1, fmt.Sprintf("unreadable after seq %d (%v)", seq, err), nil
		}
		if l.Record == nil {
			continue
		}
		seq = l.Record.Seq
		want, ok := archived[seq]
		if !ok {
			var h []byte
			err := s.queryRow(ctx, `SELECT hash FROM records WHERE seq = ?`, seq).Scan(&h)
			if isNoRows(err) {
				var head int64
				if err := s.queryRow(ctx, qHeadSeq).Scan(&head); err != nil {
					return 0, "", err
				}
				if seq > head {
					return seq, fmt.Sprintf("the database ends at seq %d", head), nil
				}
				return seq, "not in the database", nil
			}
			if err != nil {
				return 0, "", err
			}
			want = hex.EncodeToString(h)
		}
		if want != l.Record.Hash {
			return seq, fmt.Sprintf("hash %s in the file, %s in the chain", shortHex(l.Record.Hash), shortHex(want)), nil
		}
	}
}

// ErrNoArchiveDir: the archive directory given does not exist (or is not
// a directory), which says nothing about the chain: a mistyped path, not
// archives missing.
var ErrNoArchiveDir = errors.New("audit: no archive directory")

// VerifyArchives verifies the archives in dir and the live database as one
// chain: every file the newest archive record lists must be in dir with
// its recorded SHA-256, hold its recorded range, link to the file before
// it, and every record in it must match its hash; the kept copies in the
// database must match the archive's; then the live chain (VerifyWith). A
// broken file is named in Break.Table ("archive NAME"), with the record.
func (s *Store) VerifyArchives(ctx context.Context, dir string, opts VerifyOptions) (ArchiveReport, error) {
	var rep ArchiveReport
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return rep, fmt.Errorf("%w %s: %w", ErrNoArchiveDir, dir, err)
	}
	if err := s.Flush(ctx); err != nil {
		return rep, err
	}
	ab, err := s.latestArchive(ctx, func(q string, args ...any) scanner { return s.queryRow(ctx, q, args...) })
	if err != nil {
		return rep, err
	}
	prevHash := hex.EncodeToString(genesis)
	var next int64 = 1
	var kept map[int64]string
	if ab != nil {
		rep.Files = ab.Files
		kept = map[int64]string{}
		for _, k := range ab.Kept {
			seq, _ := k[0].(float64)
			h, _ := k[1].(string)
			kept[int64(seq)] = h
		}
	}
	// The expected head, when given, is looked for in the archives first:
	// a head noted before the records were archived is there.
	expect := strings.ToLower(strings.TrimSpace(opts.ExpectHash))
	var (
		found bool
		atSeq string
	)
	seen := func(seq int64, hash string) {
		if seq == opts.ExpectSeq {
			atSeq = hash
		}
		if expect != "" && hash == expect && (opts.ExpectSeq == 0 || seq == opts.ExpectSeq) {
			found = true
		}
	}
	var strays []string
	if ents, err := os.ReadDir(dir); err == nil {
		names := map[string]bool{}
		for _, af := range rep.Files {
			names[af.Name] = true
		}
		for _, e := range ents {
			switch {
			case strings.HasSuffix(e.Name(), ".jsonl.gz") && !names[e.Name()]:
				strays = append(strays, e.Name())
			case strings.HasPrefix(e.Name(), "warden-audit-") && strings.HasSuffix(e.Name(), ".jsonl.gz.tmp"):
				rep.Partial = append(rep.Partial, e.Name())
			}
		}
	}
	// The archived records' hashes, to tell a stray file's copy of them.
	var archived map[int64]string
	if len(strays) > 0 {
		archived = map[int64]string{}
		inner := seen
		seen = func(seq int64, hash string) {
			archived[seq] = hash
			inner(seq, hash)
		}
	}
	for _, af := range rep.Files {
		brk, err := s.verifyArchiveFile(ctx, filepath.Join(dir, af.Name), af, next, prevHash, kept, &rep.Records, seen)
		if err != nil {
			return rep, err
		}
		if brk != nil {
			rep.Broken = brk
			return rep, nil
		}
		next, prevHash = af.LastSeq+1, af.LastHash
	}
	liveOpts := opts
	switch {
	case expect == "" && opts.ExpectSeq == 0:
	case found:
		liveOpts.ExpectSeq, liveOpts.ExpectHash = 0, "" // the live chain is checked whole all the same
	case opts.ExpectSeq > 0 && opts.ExpectSeq < next:
		rep.Broken = &Break{Table: "records", Seq: opts.ExpectSeq, Problem: "edited",
			Detail: fmt.Sprintf("archived seq %d has hash %s, not the expected %s: the chain from there was rewritten", opts.ExpectSeq, shortHex(atSeq), shortHex(expect))}
		return rep, nil
	default:
		liveOpts.archivesSearched = true
	}
	live, err := s.VerifyWith(ctx, liveOpts)
	if err != nil {
		return rep, err
	}
	n := rep.Records
	rep.VerifyReport = live
	rep.Records += n
	if !live.OK {
		return rep, nil // what the chain says first (a deleted tail, an edit)
	}
	// Files no archive record names: a copy of this chain's records, or
	// records the chain lost.
	for _, name := range strays {
		seq, why, err := s.strayArchive(ctx, filepath.Join(dir, name), archived)
		if err != nil {
			return rep, fmt.Errorf("audit: verify archive %s: %w", name, err)
		}
		if why != "" {
			rep.OK, rep.Broken = false, &Break{Table: "archive " + name, Seq: seq, Problem: "deleted",
				Detail: fmt.Sprintf("no archive record names this file, and it holds records the chain does not have as they are (seq %d: %s): records were lost from the database (a restored backup, a lost WAL) or rewritten, or the file is another database's", seq, why)}
			return rep, nil
		}
		rep.Unlisted = append(rep.Unlisted, name)
	}
	return rep, nil
}

// verifyArchiveFile checks one archive file (see VerifyArchives). records
// counts the records read.
func (s *Store) verifyArchiveFile(ctx context.Context, path string, af ArchiveFile, first int64, prevHash string, kept map[int64]string, records *int64, seen func(seq int64, hash string)) (*Break, error) {
	table := "archive " + af.Name
	var (
		lastSeq = first - 1 // the last record read whole and verified
		// corrupt is the error of the compressed stream when its bytes are
		// damaged (not merely cut short): whatever the records then seem
		// to say (a hash that does not match, garbage), the file is
		// reported corrupted, after the last good record.
		corrupt    error
		unreadable func(error) *Break
	)
	brk := func(seq int64, kind, ref, problem, detail string) *Break {
		if corrupt != nil && problem != "corrupted" {
			return unreadable(corrupt)
		}
		return &Break{Table: table, Seq: seq, Kind: kind, Ref: ref, Problem: problem, Detail: detail}
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return brk(af.FirstSeq, "", "", "deleted", fmt.Sprintf("the archive file %s (seqs %d..%d) is missing", path, af.FirstSeq, af.LastSeq)), nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: verify archive %s: %w", path, err)
	}
	if af.FirstSeq != first {
		return brk(first, "", "", "deleted", fmt.Sprintf("the archives recorded skip from seq %d to %d", first, af.FirstSeq)), nil
	}
	sumOK := func() bool {
		sum := sha256.Sum256(data)
		return hex.EncodeToString(sum[:]) == af.SHA256
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return brk(af.FirstSeq, "", "", "edited", fmt.Sprintf("not a gzip file (%v)", err)), nil
	}
	// The whole stream first: a damaged byte fails its checksum (or the
	// inflater) only at the end of its block or of the stream, after
	// garbage was already read as records.
	if _, serr := io.Copy(io.Discard, zr); serr != nil && !errors.Is(serr, io.ErrUnexpectedEOF) {
		corrupt = serr
	}
	if zr, err = gzip.NewReader(bytes.NewReader(data)); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(zr)
	var (
		hdr      archiveLine
		lastHash = prevHash
		buf      []byte
		end      bool
		blobs    = map[string]bool{}
		refs     = map[string]int64{}
	)
	// unreadable names what a read error means: the file ends early
	// (truncated), or its bytes are damaged (corrupted: the compressed
	// stream, its checksum, or the JSON it holds), with the last record
	// read whole.
	unreadable = func(err error) *Break {
		seq := min(lastSeq+1, af.LastSeq)
		good := fmt.Sprintf("after seq %d, the last good record,", lastSeq)
		if lastSeq < af.FirstSeq {
			good = "before its first record"
		}
		sum := ""
		if !sumOK() {
			sum = fmt.Sprintf("; its SHA-256 is not the recorded %s", shortHex(af.SHA256))
		}
		if corrupt == nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			return brk(seq, "", "", "truncated", fmt.Sprintf("the file ends %s of seqs %d..%d (%v)%s", good, af.FirstSeq, af.LastSeq, err, sum))
		}
		if corrupt != nil {
			err = corrupt
		}
		return brk(seq, "", "", "corrupted", fmt.Sprintf("the file is corrupted: unreadable %s of seqs %d..%d (%v)%s", good, af.FirstSeq, af.LastSeq, err, sum))
	}
	if err := dec.Decode(&hdr); err != nil {
		return unreadable(err), nil
	}
	if hdr.Archive != 1 {
		return brk(af.FirstSeq, "", "", "edited", "no archive header"), nil
	}
	if hdr.FirstSeq != af.FirstSeq || hdr.LastSeq != af.LastSeq || hdr.PrevHash != prevHash {
		return brk(af.FirstSeq, "", "", "swapped", fmt.Sprintf("the file holds seqs %d..%d after hash %s; the chain recorded seqs %d..%d after %s here",
			hdr.FirstSeq, hdr.LastSeq, shortHex(hdr.PrevHash), af.FirstSeq, af.LastSeq, shortHex(prevHash))), nil
	}
	for {
		var l archiveLine
		if err := dec.Decode(&l); err != nil {
			if errors.Is(err, io.EOF) && end {
				break
			}
			return unreadable(err), nil
		}
		switch {
		case end:
			return brk(af.LastSeq, "", "", "edited", "data after the end line"), nil
		case l.Record != nil:
			rr := l.Record
			r, prev, hash, err := rr.toRecord()
			if err != nil {
				return brk(rr.Seq, rr.Kind, "", "edited", "a hash is not hex"), nil
			}
			ref := recordRef(&r)
			if rr.Seq != lastSeq+1 {
				return brk(lastSeq+1, "", "", "deleted", fmt.Sprintf("seq %d missing; the next record in the file is seq %d", lastSeq+1, rr.Seq)), nil
			}
			var want []byte
			want, buf = hashRecord(buf, prev, rr.Seq, &r)
			if !bytes.Equal(want, hash) {
				return brk(rr.Seq, rr.Kind, ref, "edited", fmt.Sprintf("content does not match its hash (stored %s…, recomputed %s…)", short(hash), short(want))), nil
			}
			if hex.EncodeToString(prev) != lastHash {
				return brk(rr.Seq, rr.Kind, ref, "reordered", fmt.Sprintf("prev_hash %s… does not match the hash of seq %d", short(prev), lastSeq)), nil
			}
			if k, ok := kept[rr.Seq]; ok && k != rr.Hash {
				return brk(rr.Seq, rr.Kind, ref, "edited", "the copy kept in the database has another hash than the archived record"), nil
			}
			for _, h := range blobRefs(r.kind, r.body) {
				refs[h] = rr.Seq
			}
			lastSeq, lastHash = rr.Seq, rr.Hash
			*records++
			seen(rr.Seq, rr.Hash)
		case l.Blob != "":
			b, err := decodeBlob(l.BlobCodec, l.BlobBody)
			if err != nil || blobHash(b) != l.Blob {
				return brk(refs[l.Blob], "", "", "edited", fmt.Sprintf("blob %s… does not match its hash", shortHex(l.Blob))), nil
			}
			blobs[l.Blob] = true
		case l.End:
			end = true
			if l.LastHash != lastHash || lastSeq != af.LastSeq || l.Records != af.Records {
				return brk(lastSeq, "", "", "truncated", fmt.Sprintf("the end line says %d records up to hash %s; the file holds up to seq %d (hash %s), the chain recorded seq %d", l.Records, shortHex(l.LastHash), lastSeq, shortHex(lastHash), af.LastSeq)), nil
			}
		}
	}
	if lastHash != af.LastHash {
		return brk(af.LastSeq, "", "", "edited", fmt.Sprintf("the file ends at hash %s; the chain recorded %s", shortHex(lastHash), shortHex(af.LastHash))), nil
	}
	for h, seq := range refs {
		if !blobs[h] {
			return brk(seq, "", "", "deleted", fmt.Sprintf("blob %s… that seq %d refers to is not in the file", shortHex(h), seq)), nil
		}
	}
	if !sumOK() {
		return brk(af.FirstSeq, "", "", "edited", fmt.Sprintf("the records verify but the file's SHA-256 is not the recorded %s", shortHex(af.SHA256))), nil
	}
	return nil, nil
}

// runBoundary moves cut back before the start of the run it would split:
// the newest run started at or before cut whose end is recorded after cut.
// Runs end before the next one starts, so it is the only one; a run that
// never ended (its process died) has no end to keep with it.
func (s *Store) runBoundary(ctx context.Context, cut int64) (int64, error) {
	var runSeq int64
	var runID string
	err := s.db.QueryRowContext(ctx, `SELECT seq, run_id FROM records WHERE kind = 'run' AND seq <= ? ORDER BY seq DESC LIMIT 1`, cut).Scan(&runSeq, &runID)
	if errors.Is(err, sql.ErrNoRows) {
		return cut, nil
	}
	if err != nil {
		return cut, err
	}
	var endsLater int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM records WHERE run_id = ? AND kind = 'run_end' AND seq > ?`, runID, cut).Scan(&endsLater); err != nil {
		return cut, err
	}
	if endsLater == 0 {
		return cut, nil
	}
	return runSeq - 1, nil
}
