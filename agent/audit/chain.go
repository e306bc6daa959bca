package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// Record kinds: the value of the kind column.
const (
	KindRun          = "run"
	KindRunEnd       = "run_end"
	KindLLMCall      = "llm_call"
	KindResponse     = "response"
	KindState        = "state"
	KindVerdict      = "verdict"
	KindOrderEvent   = "order_event"
	KindFill         = "fill"
	KindEvent        = "event"
	KindNotification = "notification"
	KindDelivery     = "delivery"
	KindPaperState   = "paper_state"
	KindEquity       = "equity"
)

// record is one row of the records table before it is chained.
type record struct {
	kind       string
	at         int64 // Unix nanoseconds
	runID      string
	decisionID string
	ref        string
	symbol     string
	state      string
	dedup      string
	parent     int64
	due        int64
	tokens     int64
	body       []byte // JSON
	// encode, when set, writes the body instead (lazy): the writer calls it
	// into a buffer it reuses, so the body is valid until the next append.
	// Only for values that nothing changes once recorded (see lazyBody).
	encode func([]byte) ([]byte, error)

	// parentIndex, when > 0, sets parent to the seq of the (parentIndex-1)th
	// record of the same append call.
	parentIndex int
	// redacted is set by scrub when redaction changed the record: what
	// was written is then no longer what the caller encoded.
	redacted bool
}

const insertRecordSQL = `INSERT INTO records
	(seq, kind, at, run_id, decision_id, ref, symbol, state, dedup, parent, due, tokens, body, prev_hash, hash)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// Queries run inside write transactions, prepared once per writer
// connection when the store opens.
//
// Throughout the package, a parameter compared with a column is written
// CAST(? AS TEXT) or CAST(? AS INTEGER), not a bare ?: with a bare
// parameter in the WHERE clause and an ORDER BY (or MIN/MAX), SQLite marks
// the statement as depending on the bound value and re-prepares it on
// every execution (about 15µs each here); the CAST keeps the plan (same
// index) without that.
const (
	qHead              = `SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1`
	qHeadSeq           = `SELECT COALESCE(MAX(seq), 0) FROM records`
	qLastPeak          = `SELECT json_extract(body, '$.peak') FROM records WHERE kind = 'equity' ORDER BY seq DESC LIMIT 1`
	qRunOfDecision     = `SELECT run_id FROM records WHERE decision_id = CAST(? AS TEXT) AND kind = 'verdict'`
	qFillSeen          = `SELECT COUNT(*) FROM records WHERE kind = 'fill' AND symbol = CAST(? AS TEXT) AND dedup = CAST(? AS TEXT)`
	qDecisionOfOrder   = `SELECT decision_id FROM records WHERE kind = 'order_event' AND ref = CAST(? AS TEXT) ORDER BY seq LIMIT 1`
	qNotificationByKey = `SELECT seq FROM records WHERE kind = 'notification' AND ref = CAST(? AS TEXT) AND dedup = CAST(? AS TEXT) AND dedup <> ''`
	qNotification      = `SELECT ref, run_id FROM records WHERE seq = CAST(? AS INTEGER) AND kind = 'notification'`
	// qRunContext reads, in one query (each query in a transaction costs a
	// goroutine in database/sql), what a verdict record copies from its
	// run: the advisor, the model, and the recommendations of the run's
	// latest valid response.
	qRunContext = `SELECT
	COALESCE((SELECT json_extract(body, '$.advisor') FROM records WHERE run_id = CAST(?1 AS TEXT) AND run_id <> '' AND kind = 'run' ORDER BY seq DESC LIMIT 1), ''),
	COALESCE((SELECT json_extract(body, '$.model') FROM records WHERE run_id = CAST(?1 AS TEXT) AND run_id <> '' AND kind = 'run' ORDER BY seq DESC LIMIT 1), ''),
	COALESCE((SELECT json_extract(body, '$.parsed.recommendations') FROM records WHERE run_id = CAST(?1 AS TEXT) AND run_id <> '' AND kind = 'response' AND state = 'valid' ORDER BY seq DESC LIMIT 1), '')`
)

var txQueries = []string{qHead, qHeadSeq, qLastPeak, qRunOfDecision, qFillSeen, qDecisionOfOrder, qNotificationByKey, qNotification, qRunContext, qLatestSwitch, qLatestErrorCount}

var genesis = make([]byte, sha256.Size)

// hashRecord is the chain: sha256(prev_hash || canonical bytes of every
// other column). Strings are length-prefixed, integers 8 bytes big-endian.
func hashRecord(buf []byte, prev []byte, seq int64, r *record) ([]byte, []byte) {
	buf = buf[:0]
	buf = append(buf, prev...)
	buf = append(buf, "warden.audit.v1"...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(seq))
	for _, s := range [...]string{r.kind, r.runID, r.decisionID, r.ref, r.symbol, r.state, r.dedup} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	for _, n := range [...]int64{r.at, r.parent, r.due, r.tokens} {
		buf = binary.BigEndian.AppendUint64(buf, uint64(n))
	}
	buf = binary.AppendUvarint(buf, uint64(len(r.body)))
	buf = append(buf, r.body...)
	sum := sha256.Sum256(buf)
	return sum[:], buf
}

// clock is the store's clock: Options.Clock, or what UseClock set.
func (s *Store) clock() time.Time { return (*s.clockFn.Load())() }

// UseClock makes clock the store's clock until restore is called (which
// puts back the one before). It is for a store that records a simulation
// (a backtest's): records whose time the caller does not give (a model
// response, the end of a run, the time safe mode began) then carry the
// simulated time like every other record of the run, not the wall clock.
func (s *Store) UseClock(clock func() time.Time) (restore func()) {
	if clock == nil {
		clock = time.Now
	}
	prev := s.clockFn.Swap(&clock)
	return func() { s.clockFn.Store(prev) }
}

// now is the store's clock in Unix nanoseconds.
func (s *Store) now() int64 { return s.clock().UnixNano() }

// stamp returns t in Unix nanoseconds, or the clock's time when t is zero.
func (s *Store) stamp(t time.Time) int64 {
	if t.IsZero() {
		return s.now()
	}
	return t.UnixNano()
}

// marshal encodes v as a JSON body, leaving <, > and & as they are so the
// stored text reads as it was written.
func marshal(v any) ([]byte, error) {
	if a, ok := v.(Appender); ok {
		var err error
		b := appendExact(func(b []byte) []byte {
			if b, err = a.AppendJSON(b); err != nil {
				return nil
			}
			return b
		})
		if err != nil {
			return nil, fmt.Errorf("audit: encode record: %w", err)
		}
		return b, nil
	}
	buf := encodeBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 {
			encodeBufs.Put(buf)
		}
	}()
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("audit: encode record: %w", err)
	}
	// A copy of its own: the buffer goes back to the pool.
	return bytes.Clone(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// encodeBufs are marshal's buffers, reused: records are encoded at every
// cycle, and growing a new buffer each time was a good part of it.
var encodeBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// appendExact returns what f appends to an empty slice, in a slice of
// its exact size: f writes into a buffer kept from call to call, so a
// body of a few kilobytes is not grown step by step, nor kept with room
// to spare for as long as its record is queued.
func appendExact(f func([]byte) []byte) []byte {
	p := appendBufs.Get().(*[]byte)
	b := f((*p)[:0])
	out := bytes.Clone(b)
	if cap(b) > 0 && cap(b) <= 1<<20 {
		*p = b[:0]
	}
	appendBufs.Put(p)
	return out
}

var appendBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// scrub redacts every text field of r. A body that redaction turned into
// invalid JSON is kept as a JSON string so nothing is lost or half-written.
func (s *Store) scrub(r *record) {
	if s.redact == nil {
		return
	}
	for _, f := range [...]*string{&r.runID, &r.decisionID, &r.ref, &r.symbol, &r.state, &r.dedup} {
		if v := s.redact(*f); v != *f {
			*f, r.redacted = v, true
		}
	}
	body := s.redact(string(r.body))
	if body == string(r.body) {
		return
	}
	r.redacted = true
	if json.Valid([]byte(body)) {
		r.body = []byte(body)
		return
	}
	wrapped, _ := json.Marshal(map[string]string{"redacted_body": body})
	r.body = wrapped
}

// errReadOnly is returned by writes on a store opened read-only.
var errReadOnly = errors.New("audit: store is read-only")

// writeTx is one write transaction with the chain head loaded. Everything
// a write function does goes through it (and its context), so a function
// may run later, batched with others (see Options.BatchSize).
type writeTx struct {
	s    *Store
	db   *sql.DB
	tx   *sql.Tx
	ins  *sql.Stmt
	seq  int64
	prev []byte
	buf  []byte
	ctx  context.Context
	seqs []int64 // seqs appended by the current write function
	// newBlobs are the blobs this transaction stored.
	newBlobs []string
	// peak is the peak of the last equity record this transaction
	// appended (peakSet): RecordEquity reads it instead of the database.
	peak    decimal.Decimal
	peakSet bool
}

// queryRow runs a query inside the transaction, through the statement
// prepared when the store opened if q is one of txQueries. It must not
// prepare one now: that would wait for the writer's only connection, which
// this transaction holds.
func (w *writeTx) queryRow(q string, args ...any) *sql.Row {
	if st, ok := w.s.stmts[w.db][q]; ok {
		return w.tx.StmtContext(w.ctx, st).QueryRowContext(w.ctx, args...)
	}
	return w.tx.QueryRowContext(w.ctx, q, args...)
}

// prepare prepares txQueries on a writer, before any transaction.
func (s *Store) prepare(ctx context.Context, db *sql.DB) error {
	m := map[string]*sql.Stmt{}
	s.stmts[db] = m
	for _, q := range txQueries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
		m[q] = st
	}
	return nil
}

// append chains and inserts one record and returns its seq.
func (w *writeTx) append(r *record) (int64, error) {
	if r.encode != nil {
		// Encoded anew at every append: a batch that failed runs its
		// writes again, and the buffer has moved on since.
		b, err := r.encode(w.s.encBuf[:0])
		if err != nil {
			return 0, fmt.Errorf("audit: encode %s record: %w", r.kind, err)
		}
		w.s.encBuf, r.body = b, b
	}
	w.s.scrub(r)
	if r.parentIndex > 0 {
		r.parent = w.seqs[r.parentIndex-1]
	}
	seq := w.seq + 1
	var hash []byte
	hash, w.buf = hashRecord(w.buf, w.prev, seq, r)
	if _, err := w.ins.ExecContext(w.ctx, seq, r.kind, r.at, r.runID, r.decisionID, r.ref, r.symbol, r.state, r.dedup, r.parent, r.due, r.tokens, r.body, w.prev, hash); err != nil {
		return 0, fmt.Errorf("audit: append %s record: %w", r.kind, err)
	}
	w.seq, w.prev = seq, hash
	w.seqs = append(w.seqs, seq)
	return seq, nil
}

// writeFunc records something inside a write transaction.
type writeFunc func(w *writeTx) error

// write runs fn in a write transaction holding SQLite's write lock, with
// the chain head loaded. durable selects the synchronous=FULL connection.
// When deferrable and the store batches (Options.BatchSize), fn is queued
// and runs with the next flush; otherwise queued functions run first, in
// the same transaction.
func (s *Store) write(ctx context.Context, durable, deferrable bool, fn writeFunc) error {
	return s.writeQueued(ctx, durable, deferrable, fn, nil)
}

// writeQueued is write; queued, when fn stays in the queue (not committed
// yet), runs under the write lock (RecordEquity notes the equity there, so
// reads answer without committing the queue).
func (s *Store) writeQueued(ctx context.Context, durable, deferrable bool, fn writeFunc, queued func()) error {
	if s.ro {
		return errReadOnly
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return errors.New("audit: store is closed")
	}
	if deferrable && s.batch > 1 {
		s.queue = append(s.queue, fn)
		if len(s.queue) < s.batch {
			if queued != nil {
				queued()
			}
			return nil
		}
		fn = nil
	}
	prev := s.drainLocked()
	fns := s.queue
	if fn != nil {
		fns = append(fns, fn)
	}
	s.queue, s.pendEq, s.pendCall = nil, nil, nil
	if fn == nil && s.queueAll {
		// A full queue of writes nobody waits on: committed in the
		// background while the caller goes on.
		// Its records come from many calls: the context of the one that
		// filled the queue may end (a cycle's) before they are in.
		bctx := context.WithoutCancel(ctx)
		done := make(chan struct{})
		s.inflight = done
		go func() {
			defer close(done)
			s.asyncErr = s.runBatch(bctx, durable, fns)
		}()
		return prev
	}
	return errors.Join(prev, s.runBatch(ctx, durable, fns))
}

// drainLocked waits for the batch committing in the background, if any,
// and returns its error (once). The caller holds wmu.
func (s *Store) drainLocked() error {
	if s.inflight == nil {
		return nil
	}
	<-s.inflight
	s.inflight = nil
	err := s.asyncErr
	s.asyncErr = nil
	if err != nil {
		return fmt.Errorf("audit: queued records could not be committed: %w", err)
	}
	return nil
}

// lockWriter takes the write lock once the background batch, if any, is
// committed; it returns that batch's error with the lock held.
func (s *Store) lockWriter() error {
	s.wmu.Lock()
	return s.drainLocked()
}

// runBatch runs fns in one transaction. If one fails it takes the batch
// down: then each runs on its own, so only the failing ones are lost, and
// their errors are returned.
func (s *Store) runBatch(ctx context.Context, durable bool, fns []writeFunc) error {
	err := s.runTx(ctx, durable, fns)
	if err == nil || len(fns) == 1 {
		return err
	}
	var errs []error
	for _, f := range fns {
		if err := s.runTx(ctx, durable, []writeFunc{f}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runTx runs fns in one transaction.
func (s *Store) runTx(ctx context.Context, durable bool, fns []writeFunc) error {
	db, ins := s.wdb, s.ins
	if durable {
		db, ins = s.ddb, s.dins
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit: begin: %w", err)
	}
	defer tx.Rollback()
	w := &writeTx{s: s, db: db, tx: tx, ins: tx.StmtContext(ctx, ins), ctx: ctx, buf: s.hashBuf}
	// The head is read under the write lock, so another process's writes
	// are seen. When nobody else wrote since our last commit, the hash we
	// remember saves reading the last record.
	if err := w.queryRow(qHeadSeq).Scan(&w.seq); err != nil {
		return fmt.Errorf("audit: read chain head: %w", err)
	}
	switch {
	case w.seq == 0:
		w.prev = genesis
	case w.seq == s.headSeq && s.headHash != nil:
		w.prev = s.headHash
	default:
		if err := w.queryRow(qHead).Scan(&w.seq, &w.prev); err != nil {
			return fmt.Errorf("audit: read chain head: %w", err)
		}
	}
	if w.seq < s.headSeq {
		// Records this store committed are gone: the tail of the chain was
		// deleted, which the chain alone cannot show once new records
		// follow. Say so in the chain itself.
		s.log.Error("audit: chain head went back: records were deleted", "had_seq", s.headSeq, "now_seq", w.seq)
		detail, _ := json.Marshal(map[string]any{"problem": "chain head went back: records were deleted", "had_seq": s.headSeq, "now_seq": w.seq})
		body, _ := json.Marshal(Event{Kind: EventError, At: s.clock(), State: "tamper", Detail: detail})
		if _, err := w.append(&record{kind: KindEvent, at: s.now(), ref: EventError, state: "tamper", body: body}); err != nil {
			return err
		}
	}
	for _, fn := range fns {
		w.seqs = w.seqs[:0]
		if err := fn(w); err != nil {
			s.runCtx = nil // it may name records now rolled back
			return err
		}
	}
	s.hashBuf = w.buf
	if err := tx.Commit(); err != nil {
		s.headHash, s.runCtx = nil, nil
		return fmt.Errorf("audit: commit: %w", err)
	}
	s.headSeq, s.headHash = w.seq, w.prev
	for _, h := range w.newBlobs {
		if s.blobs == nil {
			s.blobs = map[string]bool{}
		}
		s.blobs[h] = true
	}
	return nil
}

// Flush commits the records queued in batch mode (Options.BatchSize). It
// is a no-op otherwise. Reads flush first, so they see every write.
func (s *Store) Flush(ctx context.Context) error {
	if s.batch <= 1 || s.ro {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.flushLocked(ctx)
}

func (s *Store) flushLocked(ctx context.Context) error {
	prev := s.drainLocked()
	if len(s.queue) == 0 {
		return prev
	}
	fns := s.queue
	s.queue, s.pendEq, s.pendCall = nil, nil, nil
	return errors.Join(prev, s.runBatch(ctx, false, fns))
}

// appendRecords appends records in one write (deferrable unless durable,
// and always in a queueAll store) and returns nothing: seqs are known only
// inside the transaction.
func (s *Store) appendRecords(ctx context.Context, durable bool, recs ...*record) error {
	return s.write(ctx, durable, !durable || s.queueAll, func(w *writeTx) error {
		for _, r := range recs {
			if _, err := w.append(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// VerifyReport is the result of Verify.
type VerifyReport struct {
	OK       bool   `json:"ok"`
	Records  int64  `json:"records"`               // records checked
	Kept     int64  `json:"kept_copies,omitempty"` // archived records whose copies kept here were checked too
	HeadSeq  int64  `json:"head_seq"`              // seq of the last record
	HeadHash string `json:"head_hash"`             // hex hash of the last record: note it to detect a truncated tail later
	Broken   *Break `json:"broken,omitempty"`
	// Warnings name what the database lacks of its own refusals: a
	// trigger a newly migrated database has (records_no_update...) and
	// this one does not, or a bulk write (a backtest's file) that stopped
	// before it closed. The chain still finds any edit; the database no
	// longer refuses it by itself.
	Warnings []string `json:"warnings,omitempty"`
}

// Break names the first record at which the chain is broken.
type Break struct {
	Table   string `json:"table"`
	Seq     int64  `json:"seq"`
	Kind    string `json:"kind,omitempty"`
	Ref     string `json:"ref,omitempty"` // decision id, client order id, run id... of the record, when it has one
	Problem string `json:"problem"`       // "edited", "deleted", "reordered"
	Detail  string `json:"detail"`
}

func (b *Break) String() string {
	name := fmt.Sprintf("%s seq %d", b.Table, b.Seq)
	if b.Kind != "" {
		name += " (" + b.Kind
		if b.Ref != "" {
			name += " " + b.Ref
		}
		name += ")"
	}
	return fmt.Sprintf("%s: %s: %s", name, b.Problem, b.Detail)
}

// Verify recomputes the whole hash chain and reports the first broken
// record: content that no longer matches its hash (edited), a gap in the
// sequence (deleted), or a record whose link to the one before it is wrong
// (moved, inserted, or its predecessor rewritten with a recomputed hash).
// Removing records from the very end leaves a valid shorter chain; compare
// HeadSeq/HeadHash with a value noted earlier to detect that. A broken
// chain is reported in the VerifyReport, not as an error.
func (s *Store) Verify(ctx context.Context) (VerifyReport, error) {
	return s.VerifyWith(ctx, VerifyOptions{})
}

// ErrHeadArchived: the expected head lies in the archived part of the
// chain, which the live database alone cannot check (VerifyArchives can).
var ErrHeadArchived = errors.New("audit: the expected head is archived")

// VerifyOptions are what Verify checks beyond the chain itself.
type VerifyOptions struct {
	// ExpectSeq and ExpectHash are a head noted earlier (published every
	// day: see README): the chain must still hold a record ExpectSeq whose
	// hash is ExpectHash (hex). Records deleted from the end, which leave a
	// valid shorter chain, are found this way. ExpectSeq 0 with a hash:
	// any record may have it.
	ExpectSeq  int64
	ExpectHash string

	// archivesSearched: VerifyArchives looked for the expected head in
	// the archive files and did not find it there.
	archivesSearched bool
}

// VerifyWith is Verify with the checks of opts.
func (s *Store) VerifyWith(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	rep, err := s.verifyChain(ctx, opts)
	if err != nil {
		return rep, err
	}
	rep.Warnings, err = s.guardWarnings(ctx)
	return rep, err
}

func (s *Store) verifyChain(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	expect := strings.ToLower(strings.TrimSpace(opts.ExpectHash))
	var (
		found     bool   // a record has the expected hash (and seq, if given)
		atSeq     string // hash of the record at ExpectSeq
		atSeqLive bool   // the record at ExpectSeq is in the database (live or a kept copy)
	)
	rows, err := s.query(ctx, `SELECT seq, kind, at, run_id, decision_id, ref, symbol, state, dedup, parent, due, tokens, body, prev_hash, hash FROM records ORDER BY seq`)
	if err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	defer rows.Close()
	var (
		lastSeq  int64
		lastHash = genesis
		buf      []byte
		blobs    = blobChecker{s: s, seen: map[string]string{}}
		kept     map[int64]string // archived records kept here: seq -> hash
		keptSeen int
	)
	// After an archive, the live chain goes on from the archived range's
	// last record; the archive record says which archived records stay.
	ab, err := s.latestArchive(ctx, func(q string, args ...any) scanner { return s.queryRow(ctx, q, args...) })
	if err != nil {
		return rep, err
	}
	if ab != nil {
		h, err := hex.DecodeString(ab.File.LastHash)
		if err != nil || len(h) != sha256.Size {
			return rep, fmt.Errorf("audit: verify: the newest archive record's end hash %q is not a hash", ab.File.LastHash)
		}
		lastSeq, lastHash = ab.File.LastSeq, h
		kept = map[int64]string{}
		for _, k := range ab.Kept {
			seq, _ := k[0].(float64)
			hs, _ := k[1].(string)
			kept[int64(seq)] = hs
		}
	}
	for rows.Next() {
		var (
			r          record
			seq        int64
			prev, hash []byte
			vals       [15]any
			ptrs       [15]any
		)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs[:]...); err != nil {
			return rep, fmt.Errorf("audit: verify: read seq after %d: %w", lastSeq, err)
		}
		rep.Records++
		// A tampered row may hold values of the wrong type; that is an edit.
		badCol := decodeRow(vals, &seq, &r, &prev, &hash)
		brk := func(problem, detail string) {
			rep.Broken = &Break{Table: "records", Seq: seq, Kind: r.kind, Ref: recordRef(&r), Problem: problem, Detail: detail}
		}
		if badCol != "" && seq == lastSeq+1 {
			brk("edited", fmt.Sprintf("column %s holds a value of the wrong type", badCol))
			return rep, nil
		}
		var want []byte
		want, buf = hashRecord(buf, prev, seq, &r)
		if kept != nil && seq <= ab.File.LastSeq {
			// A copy of an archived record the agent still reads.
			k, ok := kept[seq]
			switch {
			case !ok:
				brk("inserted", fmt.Sprintf("seq %d was archived in %s and is not one of the records kept here", seq, ab.File.Name))
			case badCol != "" || !bytes.Equal(want, hash) || hex.EncodeToString(hash) != k:
				brk("edited", fmt.Sprintf("the kept copy of archived seq %d does not match its hash recorded at the archive", seq))
			}
			if rep.Broken != nil {
				return rep, nil
			}
			keptSeen++
			rep.Records--
			rep.Kept++
			// A kept copy is checked against the hash the archive recorded:
			// an expected head it holds is found here, as in the archives.
			if expect != "" || opts.ExpectSeq > 0 {
				h := hex.EncodeToString(hash)
				if seq == opts.ExpectSeq {
					atSeq, atSeqLive = h, true
				}
				if h == expect && (opts.ExpectSeq == 0 || seq == opts.ExpectSeq) {
					found = true
				}
			}
			continue
		}
		if kept != nil && keptSeen < len(kept) {
			for seq := range kept {
				if seq <= ab.File.LastSeq {
					found := false
					_ = s.queryRow(ctx, `SELECT 1 FROM records WHERE seq = CAST(? AS INTEGER)`, seq).Scan(&found)
					if !found {
						rep.Broken = &Break{Table: "records", Seq: seq, Problem: "deleted", Detail: fmt.Sprintf("archived seq %d, kept in the database at the archive, is missing", seq)}
						return rep, nil
					}
				}
			}
			keptSeen = len(kept)
		}
		switch {
		case seq != lastSeq+1:
			missing := fmt.Sprintf("seq %d", lastSeq+1)
			if seq-lastSeq > 2 {
				missing = fmt.Sprintf("seqs %d..%d", lastSeq+1, seq-1)
			}
			brk("deleted", fmt.Sprintf("%s missing (%d record(s) deleted)", missing, seq-lastSeq-1))
			rep.Broken.Seq = lastSeq + 1
			rep.Broken.Kind, rep.Broken.Ref = "", ""
			rep.Broken.Detail += fmt.Sprintf("; the next surviving record is seq %d (%s)", seq, r.kind)
			if archived := ab == nil && lastSeq == 0 || ab != nil && lastSeq == ab.File.LastSeq; archived {
				// A gap where the live chain starts is what archiving
				// leaves when the archive record naming the range is gone:
				// deleted with the tail of the chain. The expected head
				// then names the first seq really missing: the one after
				// the head.
				var head int64
				if err := s.queryRow(ctx, qHeadSeq).Scan(&head); err != nil {
					return rep, fmt.Errorf("audit: verify: %w", err)
				}
				if opts.ExpectSeq > head {
					rep.Broken = &Break{Table: "records", Seq: head + 1, Problem: "deleted",
						Detail: fmt.Sprintf("the chain ends at seq %d but held seq %d (hash %s): records %d..%d were deleted from the end, and with them, it seems, the archive record of the archived records (%s)",
							head, opts.ExpectSeq, shortHex(expect), head+1, opts.ExpectSeq, rep.Broken.Detail)}
					return rep, nil
				}
				rep.Broken.Detail += fmt.Sprintf("; if these records were archived, the archive record naming them is gone too, deleted from the end of the chain after seq %d: verify with --archive DIR --expect-head SEQ:HASH (a head noted earlier)", head)
			}
		case !bytes.Equal(want, hash):
			brk("edited", fmt.Sprintf("content does not match its hash (stored %s…, recomputed %s…)", short(hash), short(want)))
		case !bytes.Equal(prev, lastHash):
			brk("reordered", fmt.Sprintf("prev_hash %s… does not match the hash %s… of seq %d: a record was moved or inserted here, or seq %d was rewritten with a recomputed hash", short(prev), short(lastHash), lastSeq, lastSeq))
		}
		if rep.Broken == nil && r.kind == KindEvent && r.ref == EventError && r.state == "tamper" {
			var e struct {
				Detail struct {
					Had int64 `json:"had_seq"`
					Now int64 `json:"now_seq"`
				} `json:"detail"`
			}
			_ = json.Unmarshal(r.body, &e)
			brk("deleted", fmt.Sprintf("records after seq %d (up to seq %d) were deleted from the end of the chain; a writer noticed and recorded it here", e.Detail.Now, e.Detail.Had))
		}
		if rep.Broken == nil {
			if refs := blobRefs(r.kind, r.body); refs != nil {
				problem, detail, err := blobs.check(ctx, refs)
				if err != nil {
					return rep, fmt.Errorf("audit: verify: blobs of seq %d: %w", seq, err)
				}
				if problem != "" {
					brk(problem, detail)
					rep.Broken.Table = "blobs"
				}
			}
		}
		if rep.Broken != nil {
			return rep, nil
		}
		if expect != "" || opts.ExpectSeq > 0 {
			h := hex.EncodeToString(hash)
			if seq == opts.ExpectSeq {
				atSeq, atSeqLive = h, true
			}
			if h == expect && (opts.ExpectSeq == 0 || seq == opts.ExpectSeq) {
				found = true
			}
		}
		lastSeq, lastHash = seq, hash
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	rep.HeadSeq = lastSeq
	if lastSeq > 0 {
		rep.HeadHash = hex.EncodeToString(lastHash)
	}
	if ab != nil && !found && (expect != "" || opts.ExpectSeq > 0) {
		// The expected head may have been archived since it was noted.
		arch := ab.File.LastSeq
		switch {
		case (opts.ExpectSeq == arch || opts.ExpectSeq == 0) && expect == ab.File.LastHash:
			found = true // the archive record holds it, and the live chain goes on from it
		case opts.ExpectSeq > 0 && opts.ExpectSeq <= arch && atSeqLive:
			// A kept copy of the archived record is here, verified
			// against the archive record: compared below like a live one.
		case opts.ExpectSeq == arch && expect != "":
			// The archive record holds this seq's hash, and it is not
			// the one noted: no archive file is needed to say so.
			rep.Broken = &Break{Table: "records", Seq: arch, Problem: "edited",
				Detail: fmt.Sprintf("archived seq %d has hash %s (as the archive record holds it), not the expected %s: the chain up to there was rewritten", arch, shortHex(ab.File.LastHash), shortHex(expect))}
			return rep, nil
		case opts.ExpectSeq > 0 && opts.ExpectSeq <= arch && !opts.archivesSearched:
			return rep, fmt.Errorf("%w: seq %d is in the archived part of the chain (seqs 1..%d): pass --archive DIR to check the head against the archive files", ErrHeadArchived, opts.ExpectSeq, arch)
		case opts.ExpectSeq == 0 && !opts.archivesSearched:
			return rep, fmt.Errorf("%w: no live record has hash %s, and seqs 1..%d are archived: pass --archive DIR to search the archive files too", ErrHeadArchived, shortHex(expect), arch)
		}
	}
	switch {
	case opts.ExpectSeq > lastSeq:
		rep.Broken = &Break{Table: "records", Seq: lastSeq + 1, Problem: "deleted",
			Detail: fmt.Sprintf("the chain ends at seq %d but held seq %d (hash %s): records %d..%d were deleted from the end", lastSeq, opts.ExpectSeq, shortHex(expect), lastSeq+1, opts.ExpectSeq)}
		return rep, nil
	case opts.ExpectSeq > 0 && expect != "" && !found:
		rep.Broken = &Break{Table: "records", Seq: opts.ExpectSeq, Problem: "edited",
			Detail: fmt.Sprintf("seq %d has hash %s, not the expected %s: the chain from there was rewritten", opts.ExpectSeq, shortHex(atSeq), shortHex(expect))}
		return rep, nil
	case expect != "" && !found:
		rep.Broken = &Break{Table: "records", Seq: lastSeq + 1, Problem: "deleted",
			Detail: fmt.Sprintf("no record has the expected head hash %s: the records up to it were deleted from the end (the chain now ends at seq %d) or rewritten", shortHex(expect), lastSeq)}
		return rep, nil
	}
	rep.OK = true
	return rep, nil
}

func shortHex(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// Head is the seq and hash (hex) of the last record: what to note (or
// publish) to find later a tail deleted from the chain. 0 and "" on an
// empty chain.
func (s *Store) Head(ctx context.Context) (int64, string, error) {
	var (
		seq  int64
		hash []byte
	)
	err := s.queryRow(ctx, qHead).Scan(&seq, &hash)
	if isNoRows(err) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("audit: chain head: %w", err)
	}
	return seq, hex.EncodeToString(hash), nil
}

// ParseHead reads a head as printed by verify and published every day:
// "SEQ:HASH", or a bare HASH.
func ParseHead(v string) (seq int64, hash string, err error) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ':'); i >= 0 {
		if seq, err = strconv.ParseInt(v[:i], 10, 64); err != nil || seq <= 0 {
			return 0, "", fmt.Errorf("head %q: the part before ':' must be a seq (a positive number)", v)
		}
		v = v[i+1:]
	}
	v = strings.ToLower(v)
	if b, err := hex.DecodeString(v); err != nil || len(b) != sha256.Size {
		return 0, "", fmt.Errorf("head %q: want SEQ:HASH or HASH, the hash 64 hex digits", v)
	}
	return seq, v, nil
}

// recordColumns are the columns Verify reads, in order.
var recordColumns = [15]string{"seq", "kind", "at", "run_id", "decision_id", "ref", "symbol", "state", "dedup", "parent", "due", "tokens", "body", "prev_hash", "hash"}

// decodeRow fills a record from scanned values and names the first column
// whose value has the wrong type ("" when all are right).
func decodeRow(vals [15]any, seq *int64, r *record, prev, hash *[]byte) string {
	ints := [15]*int64{0: seq, 2: &r.at, 9: &r.parent, 10: &r.due, 11: &r.tokens}
	texts := [15]*string{1: &r.kind, 3: &r.runID, 4: &r.decisionID, 5: &r.ref, 6: &r.symbol, 7: &r.state, 8: &r.dedup}
	blobs := [15]*[]byte{12: &r.body, 13: prev, 14: hash}
	bad := ""
	for i, v := range vals {
		ok := true
		switch {
		case ints[i] != nil:
			*ints[i], ok = v.(int64)
		case texts[i] != nil:
			switch t := v.(type) {
			case string:
				*texts[i] = t
			case []byte:
				*texts[i] = string(t)
			default:
				ok = false
			}
		default:
			switch t := v.(type) {
			case []byte:
				*blobs[i] = t
			case string:
				*blobs[i] = []byte(t)
			default:
				ok = false
			}
		}
		if !ok && bad == "" {
			bad = recordColumns[i]
		}
	}
	return bad
}

func short(h []byte) string {
	s := hex.EncodeToString(h)
	if len(s) > 12 {
		s = s[:12]
	}
	return s
}

// recordRef is the id an operator knows a record by.
func recordRef(r *record) string {
	switch {
	case r.decisionID != "":
		return r.decisionID
	case r.kind == KindOrderEvent || r.kind == KindFill:
		return r.ref
	case r.runID != "":
		return r.runID
	}
	return r.ref
}

// scanner is a row to scan: *sql.Row, or errRow when the read could not
// start.
type scanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// queryRow reads one row, after committing queued writes.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) scanner {
	if err := s.Flush(ctx); err != nil {
		return errRow{err}
	}
	if st := s.readStmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, q, args...)
}

// queryRowDurable reads a record of a kind that is only ever written
// durably (order events, fills, the kill switch and safe mode): such a
// write commits the queue and itself before it returns, so the read needs
// no flush of queued writes, and a batched backtest keeps its batches.
// In a store that queues those too (queueAll), it commits the queue
// first like any read.
func (s *Store) queryRowDurable(ctx context.Context, q string, args ...any) scanner {
	if s.queueAll {
		return s.queryRow(ctx, q, args...)
	}
	return s.queryRowCommitted(ctx, q, args...)
}

// queryDurable is queryRowDurable for several rows.
func (s *Store) queryDurable(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s.queueAll {
		return s.query(ctx, q, args...)
	}
	return s.queryCommitted(ctx, q, args...)
}

// queryRowCommitted reads committed records only, without committing the
// queue: for readers that add what is still queued from memory (equity,
// model calls) and may hold the write lock.
func (s *Store) queryRowCommitted(ctx context.Context, q string, args ...any) scanner {
	if st := s.readStmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, q, args...)
}

// queryCommitted is queryRowCommitted for several rows.
func (s *Store) queryCommitted(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := s.readStmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, q, args...)
}

// query reads rows, after committing queued writes.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	if st := s.readStmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, q, args...)
}

// readStmt returns q prepared on the read pool, preparing it the first
// time: the agent asks the same few questions at every cycle, and
// preparing them again each time was most of what a read cost. It returns
// nil (the caller runs q unprepared) when preparing fails, so the error
// surfaces from the query itself, or when the cache is full.
func (s *Store) readStmt(ctx context.Context, q string) *sql.Stmt {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if st, ok := s.reads[q]; ok {
		return st
	}
	if len(s.reads) >= maxReadStmts {
		return nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	if s.reads == nil {
		s.reads = map[string]*sql.Stmt{}
	}
	s.reads[q] = st
	return st
}

// maxReadStmts bounds the read statement cache; the store's own queries
// are far fewer.
const maxReadStmts = 128
