package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The console's users and sessions (migration 0011_console.sql). The
// hashing of passwords and the TOTP arithmetic live in agent/console; this
// file only stores, and records every change that matters as an event in
// the chain, in the same transaction as the change.

// Console event kinds.
const (
	EventConsoleUser   = "console_user"   // state: added, removed, totp_reset
	EventConsoleLogin  = "console_login"  // state: ok, failed, locked, rate_limited
	EventConsoleLogout = "console_logout" // state: logout, expired
)

// ErrConsoleUserExists is returned when adding a user whose name is taken.
var ErrConsoleUserExists = errors.New("audit: console user already exists")

// ConsoleUser is one console account.
type ConsoleUser struct {
	Name         string
	Role         string // viewer or operator
	PasswordHash string // argon2id PHC string
	TOTPSecret   string // base32
	TOTPStep     int64  // the time step of the last accepted code
	Failures     int
	LockedUntil  time.Time // zero: not locked
	CreatedAt    time.Time
}

// ConsoleSession is one server-side session with its user's role.
type ConsoleSession struct {
	IDHash    string
	User      string
	Role      string
	CreatedAt time.Time
	LastSeen  time.Time
}

// ConsoleEvent is the detail of a console event record. It never holds a
// password, a TOTP code or a session id.
type ConsoleEvent struct {
	User   string `json:"user,omitempty"`
	Role   string `json:"role,omitempty"`
	Actor  string `json:"actor,omitempty"`
	Remote string `json:"remote,omitempty"`
	Reason string `json:"reason,omitempty"`
	Until  string `json:"until,omitempty"`
}

func nsTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// appendConsoleEvent appends a console event inside w.
func (w *writeTx) appendConsoleEvent(kind, state string, d ConsoleEvent) error {
	detail, err := json.Marshal(d)
	if err != nil {
		return err
	}
	rec, err := eventRecord(Event{Kind: kind, At: w.s.clock(), State: state, Detail: detail}, 0)
	if err != nil {
		return err
	}
	_, err = w.append(rec)
	return err
}

// RecordConsoleEvent records a console event that changes nothing else
// (an unknown user's failed login, a rate-limited request).
func (s *Store) RecordConsoleEvent(ctx context.Context, kind, state string, d ConsoleEvent) error {
	return s.write(ctx, true, false, func(w *writeTx) error { return w.appendConsoleEvent(kind, state, d) })
}

// AddConsoleUser stores u and records it; ErrConsoleUserExists when the
// name is taken.
func (s *Store) AddConsoleUser(ctx context.Context, u ConsoleUser, actor string) error {
	return s.write(ctx, true, false, func(w *writeTx) error {
		var n int
		if err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM console_users WHERE name = ?`, u.Name).Scan(&n); err != nil {
			return fmt.Errorf("audit: add console user: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("%w: %q", ErrConsoleUserExists, u.Name)
		}
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO console_users (name, role, password_hash, totp_secret, created_at) VALUES (?, ?, ?, ?, ?)`,
			u.Name, u.Role, u.PasswordHash, u.TOTPSecret, s.now()); err != nil {
			return fmt.Errorf("audit: add console user: %w", err)
		}
		return w.appendConsoleEvent(EventConsoleUser, "added", ConsoleEvent{User: u.Name, Role: u.Role, Actor: actor})
	})
}

const consoleUserCols = `name, role, password_hash, totp_secret, totp_step, failures, locked_until, created_at`

func scanConsoleUser(sc interface{ Scan(...any) error }) (ConsoleUser, error) {
	var (
		u              ConsoleUser
		locked, create int64
	)
	err := sc.Scan(&u.Name, &u.Role, &u.PasswordHash, &u.TOTPSecret, &u.TOTPStep, &u.Failures, &locked, &create)
	u.LockedUntil, u.CreatedAt = nsTime(locked), nsTime(create)
	return u, err
}

// ConsoleUsers lists the console users by name.
func (s *Store) ConsoleUsers(ctx context.Context) ([]ConsoleUser, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+consoleUserCols+` FROM console_users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("audit: console users: %w", err)
	}
	defer rows.Close()
	out := []ConsoleUser{}
	for rows.Next() {
		u, err := scanConsoleUser(rows)
		if err != nil {
			return nil, fmt.Errorf("audit: console users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// ConsoleUserByName returns the user called name; ok is false when there
// is none.
func (s *Store) ConsoleUserByName(ctx context.Context, name string) (ConsoleUser, bool, error) {
	u, err := scanConsoleUser(s.db.QueryRowContext(ctx, `SELECT `+consoleUserCols+` FROM console_users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return ConsoleUser{}, false, nil
	}
	if err != nil {
		return ConsoleUser{}, false, fmt.Errorf("audit: console user: %w", err)
	}
	return u, true, nil
}

// RemoveConsoleUser deletes the user and their sessions; ErrNotFound when
// there is no such user.
func (s *Store) RemoveConsoleUser(ctx context.Context, name, actor string) error {
	return s.write(ctx, true, false, func(w *writeTx) error {
		if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM console_sessions WHERE user = ?`, name); err != nil {
			return fmt.Errorf("audit: remove console user: %w", err)
		}
		res, err := w.tx.ExecContext(w.ctx, `DELETE FROM console_users WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("audit: remove console user: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: no console user %q", ErrNotFound, name)
		}
		return w.appendConsoleEvent(EventConsoleUser, "removed", ConsoleEvent{User: name, Actor: actor})
	})
}

// ResetConsoleTOTP gives the user a new TOTP secret, ends their sessions
// and clears a lockout; ErrNotFound when there is no such user.
func (s *Store) ResetConsoleTOTP(ctx context.Context, name, secret, actor string) error {
	return s.write(ctx, true, false, func(w *writeTx) error {
		res, err := w.tx.ExecContext(w.ctx, `UPDATE console_users SET totp_secret = ?, totp_step = 0, failures = 0, locked_until = 0 WHERE name = ?`, secret, name)
		if err != nil {
			return fmt.Errorf("audit: reset console totp: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: no console user %q", ErrNotFound, name)
		}
		if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM console_sessions WHERE user = ?`, name); err != nil {
			return fmt.Errorf("audit: reset console totp: %w", err)
		}
		return w.appendConsoleEvent(EventConsoleUser, "totp_reset", ConsoleEvent{User: name, Actor: actor})
	})
}

// UseConsoleTOTPStep marks the TOTP time step as used by the user, if it
// is later than the last step accepted: ok is false for a step already
// used (a replayed code) or an earlier one. Atomic across processes. An
// accepted code (asked only after the password, or within a session)
// ends a run of failures: the lockout counts failures in a row.
func (s *Store) UseConsoleTOTPStep(ctx context.Context, name string, step int64) (ok bool, err error) {
	err = s.write(ctx, true, false, func(w *writeTx) error {
		res, err := w.tx.ExecContext(w.ctx, `UPDATE console_users SET totp_step = ?, failures = 0 WHERE name = ? AND totp_step < ?`, step, name, step)
		if err != nil {
			return fmt.Errorf("audit: use totp step: %w", err)
		}
		n, _ := res.RowsAffected()
		ok = n == 1
		return nil
	})
	return ok, err
}

// ConsoleLoginFailed counts a failed login of an existing user and
// records it; at maxFailures failures in a row the user is locked until
// now+lockFor, which is recorded as a lockout. It returns whether the
// user is now locked.
func (s *Store) ConsoleLoginFailed(ctx context.Context, name, remote, reason string, maxFailures int, lockFor time.Duration) (locked bool, err error) {
	err = s.write(ctx, true, false, func(w *writeTx) error {
		var failures int
		if err := w.tx.QueryRowContext(w.ctx, `UPDATE console_users SET failures = failures + 1 WHERE name = ? RETURNING failures`, name).Scan(&failures); err != nil {
			return fmt.Errorf("audit: count failed login: %w", err)
		}
		if err := w.appendConsoleEvent(EventConsoleLogin, "failed", ConsoleEvent{User: name, Remote: remote, Reason: reason}); err != nil {
			return err
		}
		if failures < maxFailures {
			return nil
		}
		until := s.clock().Add(lockFor)
		if _, err := w.tx.ExecContext(w.ctx, `UPDATE console_users SET failures = 0, locked_until = ? WHERE name = ?`, until.UnixNano(), name); err != nil {
			return fmt.Errorf("audit: lock console user: %w", err)
		}
		if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM console_sessions WHERE user = ?`, name); err != nil {
			return fmt.Errorf("audit: lock console user: %w", err)
		}
		locked = true
		return w.appendConsoleEvent(EventConsoleLogin, "locked", ConsoleEvent{User: name, Remote: remote,
			Reason: fmt.Sprintf("%d failed logins in a row", failures), Until: until.UTC().Format(time.RFC3339)})
	})
	return locked, err
}

// ConsoleLoginOK starts a session for the user (stored under idHash),
// ends the session the browser came with (oldHash, when not empty: the id
// is rotated at login), clears the failure count and records the login.
func (s *Store) ConsoleLoginOK(ctx context.Context, name, idHash, oldHash, remote string) error {
	return s.write(ctx, true, false, func(w *writeTx) error {
		now := s.now()
		if oldHash != "" {
			if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM console_sessions WHERE id_hash = ?`, oldHash); err != nil {
				return fmt.Errorf("audit: rotate session: %w", err)
			}
		}
		if _, err := w.tx.ExecContext(w.ctx, `UPDATE console_users SET failures = 0, locked_until = 0 WHERE name = ?`, name); err != nil {
			return fmt.Errorf("audit: login: %w", err)
		}
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO console_sessions (id_hash, user, created_at, last_seen) VALUES (?, ?, ?, ?)`, idHash, name, now, now); err != nil {
			return fmt.Errorf("audit: start session: %w", err)
		}
		return w.appendConsoleEvent(EventConsoleLogin, "ok", ConsoleEvent{User: name, Remote: remote})
	})
}

// ConsoleSessionByHash returns the session stored under idHash with its
// user's current role; ok is false when there is none.
func (s *Store) ConsoleSessionByHash(ctx context.Context, idHash string) (ConsoleSession, bool, error) {
	var (
		cs             ConsoleSession
		created, lastS int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT s.id_hash, s.user, u.role, s.created_at, s.last_seen
		FROM console_sessions s JOIN console_users u ON u.name = s.user WHERE s.id_hash = ?`, idHash).
		Scan(&cs.IDHash, &cs.User, &cs.Role, &created, &lastS)
	if errors.Is(err, sql.ErrNoRows) {
		return ConsoleSession{}, false, nil
	}
	if err != nil {
		return ConsoleSession{}, false, fmt.Errorf("audit: session: %w", err)
	}
	cs.CreatedAt, cs.LastSeen = nsTime(created), nsTime(lastS)
	return cs, true, nil
}

// TouchConsoleSession sets the session's last activity to now.
func (s *Store) TouchConsoleSession(ctx context.Context, idHash string) error {
	return s.write(ctx, false, false, func(w *writeTx) error {
		_, err := w.tx.ExecContext(w.ctx, `UPDATE console_sessions SET last_seen = ? WHERE id_hash = ?`, s.now(), idHash)
		return err
	})
}

// EndConsoleSession deletes the session and records why (logout,
// expired) and the address of the request that ended it. Ending a session
// that is already gone records nothing.
func (s *Store) EndConsoleSession(ctx context.Context, idHash, why, remote string) error {
	return s.write(ctx, true, false, func(w *writeTx) error {
		var user string
		err := w.tx.QueryRowContext(w.ctx, `DELETE FROM console_sessions WHERE id_hash = ? RETURNING user`, idHash).Scan(&user)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit: end session: %w", err)
		}
		return w.appendConsoleEvent(EventConsoleLogout, why, ConsoleEvent{User: user, Remote: remote})
	})
}

// ConsoleSessionCount is the number of stored sessions of the user (all
// users when name is empty).
func (s *Store) ConsoleSessionCount(ctx context.Context, name string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM console_sessions WHERE ? = '' OR user = ?`, name, name).Scan(&n)
	return n, err
}
