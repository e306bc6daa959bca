package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Human approval's proposals. What a proposal means, its hash and the
// re-checks before placing live in agent/approval; this file only stores,
// and records every change as an approval event in the chain, in the same
// transaction as the change.
//
// The tables are made by the first write that needs them (approvalSchema),
// not by a migration: a database that never uses approval carries none of
// their pages, and reads of a database without them find nothing.

// approvalSchema makes the approval tables. Proposals are rows that change
// (pending, then approved, placing, placed, denied, void or expired);
// approval_inbound remembers inbound chat updates already handled
// (Telegram callback ids, confirmations asked, proposals sent), so that a
// replayed one is ignored; approval_offsets each bot's next getUpdates
// offset.
const approvalSchema = `
CREATE TABLE IF NOT EXISTS approvals (
	decision_id TEXT    PRIMARY KEY,
	run_id      TEXT    NOT NULL,
	hash        TEXT    NOT NULL,  -- sha256 hex over decision id, order, policy hash, judged state
	status      TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'placing', 'placed', 'denied', 'void', 'expired')),
	created_at  INTEGER NOT NULL,  -- Unix nanoseconds, decision clock
	expires_at  INTEGER NOT NULL,
	proposal    TEXT    NOT NULL,  -- JSON: order, recommendation, judged state, rules passed (redacted)
	decided_by  TEXT    NOT NULL DEFAULT '',
	channel     TEXT    NOT NULL DEFAULT '',
	decided_at  INTEGER NOT NULL DEFAULT 0,  -- wall clock
	hash_seen   TEXT    NOT NULL DEFAULT '',
	reason      TEXT    NOT NULL DEFAULT '',
	updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS approval_inbound (
	id      TEXT    PRIMARY KEY,
	seen_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS approval_offsets (
	bot         TEXT    PRIMARY KEY,
	next_offset INTEGER NOT NULL
) WITHOUT ROWID;
`

// ensureApprovalTables makes the approval tables inside w when missing.
func (w *writeTx) ensureApprovalTables() error {
	if _, err := w.tx.ExecContext(w.ctx, approvalSchema); err != nil {
		return fmt.Errorf("audit: approval tables: %w", err)
	}
	return nil
}

// noApprovalTables reports whether err is a read of approval tables not
// made yet: nothing was ever stored there.
func noApprovalTables(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table")
}

// EventApproval is the kind of every approval event record. Its state is
// the proposal's new status (proposed, approved, placing, placed, denied,
// void, expired) or, for an attempt that changed nothing, refused or
// ignored.
const EventApproval = "approval"

// Proposal statuses.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved" // a person approved; not yet re-checked
	ApprovalPlacing  = "placing"  // re-checked; handed to the executor
	ApprovalPlaced   = "placed"
	ApprovalDenied   = "denied"
	ApprovalVoid     = "void"
	ApprovalExpired  = "expired"
)

// ErrApprovalState is returned by TransitionApproval when the proposal is
// not in one of the statuses the change starts from.
var ErrApprovalState = errors.New("audit: proposal is not in that state")

// ApprovalRow is one stored proposal.
type ApprovalRow struct {
	DecisionID string
	RunID      string
	Hash       string
	Status     string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	Proposal   json.RawMessage
	DecidedBy  string
	Channel    string
	DecidedAt  time.Time
	HashSeen   string
	Reason     string
	UpdatedAt  time.Time
}

// ApprovalChange is what TransitionApproval writes besides the status:
// empty fields are left as they are.
type ApprovalChange struct {
	DecidedBy string
	Channel   string
	DecidedAt time.Time
	HashSeen  string
	Reason    string
}

func (w *writeTx) appendApprovalEvent(runID, state string, detail any) error {
	body, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	rec, err := eventRecord(Event{Kind: EventApproval, RunID: runID, At: w.s.clock(), State: state, Detail: body}, 0)
	if err != nil {
		return err
	}
	_, err = w.append(rec)
	return err
}

// AddApproval stores a new pending proposal and records it (state
// "proposed", with detail). A proposal for a decision already stored is
// an error: a decision is proposed once.
func (s *Store) AddApproval(ctx context.Context, r ApprovalRow, detail any) error {
	if r.DecisionID == "" || r.Hash == "" || len(r.Proposal) == 0 || !json.Valid(r.Proposal) {
		return errors.New("audit: proposal without decision id, hash or JSON body")
	}
	// The proposal holds the model's words (rationale, reason): redacted
	// like every record.
	body := s.redactText(string(r.Proposal))
	if !json.Valid([]byte(body)) {
		wrapped, _ := json.Marshal(map[string]string{"redacted_body": body})
		body = string(wrapped)
	}
	return s.write(ctx, true, false, func(w *writeTx) error {
		if err := w.ensureApprovalTables(); err != nil {
			return err
		}
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO approvals (decision_id, run_id, hash, status, created_at, expires_at, proposal, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.DecisionID, r.RunID, r.Hash, ApprovalPending, r.CreatedAt.UnixNano(), r.ExpiresAt.UnixNano(), body, s.now()); err != nil {
			return fmt.Errorf("audit: add proposal %s: %w", r.DecisionID, err)
		}
		return w.appendApprovalEvent(r.RunID, "proposed", detail)
	})
}

// TransitionApproval moves the proposal id from one of the statuses in
// from to status to, applies ch, and records detail as an approval event
// (state to) in the same transaction. ErrNotFound for an unknown id,
// ErrApprovalState (wrapped, naming the current status) when it is not in
// from: two processes cannot both make the same change.
func (s *Store) TransitionApproval(ctx context.Context, id string, from []string, to string, ch ApprovalChange, detail any) (ApprovalRow, error) {
	var out ApprovalRow
	ch.DecidedBy, ch.Reason, ch.HashSeen = s.redactText(ch.DecidedBy), s.redactText(ch.Reason), s.redactText(ch.HashSeen)
	err := s.write(ctx, true, false, func(w *writeTx) error {
		if err := w.ensureApprovalTables(); err != nil {
			return err
		}
		row, err := scanApproval(w.tx.QueryRowContext(w.ctx, `SELECT `+approvalCols+` FROM approvals WHERE decision_id = ?`, id))
		if isNoRows(err) {
			return fmt.Errorf("%w: proposal %q", ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("audit: read proposal %s: %w", id, err)
		}
		if !slices.Contains(from, row.Status) {
			return fmt.Errorf("%w: proposal %s is %s", ErrApprovalState, id, row.Status)
		}
		set := []string{"status = ?", "updated_at = ?"}
		args := []any{to, s.now()}
		add := func(col string, v any) { set = append(set, col+" = ?"); args = append(args, v) }
		if ch.DecidedBy != "" {
			add("decided_by", ch.DecidedBy)
			row.DecidedBy = ch.DecidedBy
		}
		if ch.Channel != "" {
			add("channel", ch.Channel)
			row.Channel = ch.Channel
		}
		if !ch.DecidedAt.IsZero() {
			add("decided_at", ch.DecidedAt.UnixNano())
			row.DecidedAt = ch.DecidedAt.UTC()
		}
		if ch.HashSeen != "" {
			add("hash_seen", ch.HashSeen)
			row.HashSeen = ch.HashSeen
		}
		if ch.Reason != "" {
			add("reason", ch.Reason)
			row.Reason = ch.Reason
		}
		args = append(args, id, row.Status)
		res, err := w.tx.ExecContext(w.ctx, `UPDATE approvals SET `+strings.Join(set, ", ")+` WHERE decision_id = ? AND status = ?`, args...)
		if err != nil {
			return fmt.Errorf("audit: update proposal %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: proposal %s changed meanwhile", ErrApprovalState, id)
		}
		row.Status = to
		out = row
		return w.appendApprovalEvent(row.RunID, to, detail)
	})
	return out, err
}

// RecordApprovalEvent records an approval attempt that changed nothing (a
// refused approval, a forged or replayed chat update) under state.
func (s *Store) RecordApprovalEvent(ctx context.Context, runID, state string, detail any) error {
	return s.write(ctx, true, false, func(w *writeTx) error { return w.appendApprovalEvent(runID, state, detail) })
}

const approvalCols = `decision_id, run_id, hash, status, created_at, expires_at, proposal, decided_by, channel, decided_at, hash_seen, reason, updated_at`

func scanApproval(sc interface{ Scan(...any) error }) (ApprovalRow, error) {
	var (
		r                                 ApprovalRow
		created, expires, decided, update int64
		body                              string
	)
	err := sc.Scan(&r.DecisionID, &r.RunID, &r.Hash, &r.Status, &created, &expires, &body, &r.DecidedBy, &r.Channel, &decided, &r.HashSeen, &r.Reason, &update)
	r.CreatedAt, r.ExpiresAt, r.DecidedAt, r.UpdatedAt = unixNanoTime(created), unixNanoTime(expires), unixNanoTime(decided), unixNanoTime(update)
	r.Proposal = json.RawMessage(body)
	return r, err
}

// Approval returns the proposal of decision id; ErrNotFound when there is
// none.
func (s *Store) Approval(ctx context.Context, id string) (ApprovalRow, error) {
	r, err := scanApproval(s.db.QueryRowContext(ctx, `SELECT `+approvalCols+` FROM approvals WHERE decision_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) || noApprovalTables(err) {
		return ApprovalRow{}, fmt.Errorf("%w: proposal %q", ErrNotFound, id)
	}
	return r, err
}

// Approvals lists the proposals in any of statuses (all when none), oldest
// first.
func (s *Store) Approvals(ctx context.Context, statuses ...string) ([]ApprovalRow, error) {
	q := `SELECT ` + approvalCols + ` FROM approvals`
	var args []any
	if len(statuses) > 0 {
		q += ` WHERE status IN (?` + strings.Repeat(", ?", len(statuses)-1) + `)`
		for _, st := range statuses {
			args = append(args, st)
		}
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at, decision_id`, args...)
	if noApprovalTables(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: list proposals: %w", err)
	}
	defer rows.Close()
	var out []ApprovalRow
	for rows.Next() {
		r, err := scanApproval(rows)
		if err != nil {
			return nil, fmt.Errorf("audit: list proposals: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// MarkInbound remembers an inbound update id (a Telegram callback query
// id or update id); fresh is false when it was seen before: a replay.
func (s *Store) MarkInbound(ctx context.Context, id string) (fresh bool, err error) {
	err = s.write(ctx, true, false, func(w *writeTx) error {
		if err := w.ensureApprovalTables(); err != nil {
			return err
		}
		res, err := w.tx.ExecContext(w.ctx, `INSERT OR IGNORE INTO approval_inbound (id, seen_at) VALUES (?, ?)`, id, s.now())
		if err != nil {
			return fmt.Errorf("audit: mark inbound update: %w", err)
		}
		n, _ := res.RowsAffected()
		fresh = n == 1
		return nil
	})
	return fresh, err
}

// InboundOffset is the next getUpdates offset of bot (0 when none yet).
func (s *Store) InboundOffset(ctx context.Context, bot string) (int64, error) {
	var off int64
	err := s.db.QueryRowContext(ctx, `SELECT next_offset FROM approval_offsets WHERE bot = ?`, bot).Scan(&off)
	if errors.Is(err, sql.ErrNoRows) || noApprovalTables(err) {
		return 0, nil
	}
	return off, err
}

// SetInboundOffset stores bot's next getUpdates offset.
func (s *Store) SetInboundOffset(ctx context.Context, bot string, off int64) error {
	return s.write(ctx, true, false, func(w *writeTx) error {
		if err := w.ensureApprovalTables(); err != nil {
			return err
		}
		_, err := w.tx.ExecContext(w.ctx, `INSERT INTO approval_offsets (bot, next_offset) VALUES (?, ?)
			ON CONFLICT(bot) DO UPDATE SET next_offset = excluded.next_offset`, bot, off)
		return err
	})
}

// unixNanoTime is ns as a UTC time; zero for 0.
func unixNanoTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// FirstRunInMode is when the first run in mode (paper, live) began; ok is
// false when there was none (the live warm-up of human approval).
func (s *Store) FirstRunInMode(ctx context.Context, mode string) (at time.Time, ok bool, err error) {
	var ns sql.NullInt64
	if err := s.queryRow(ctx, `SELECT MIN(at) FROM records WHERE kind = 'run' AND json_extract(body, '$.mode') = ?`, mode).Scan(&ns); err != nil {
		return time.Time{}, false, fmt.Errorf("audit: first %s run: %w", mode, err)
	}
	if !ns.Valid {
		return time.Time{}, false, nil
	}
	return unixNanoTime(ns.Int64), true, nil
}

// InboundSeen reports whether MarkInbound was called with id.
func (s *Store) InboundSeen(ctx context.Context, id string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM approval_inbound WHERE id = ?`, id).Scan(&n)
	if noApprovalTables(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("audit: inbound update: %w", err)
	}
	return n > 0, nil
}
