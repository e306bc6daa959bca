package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Levels of the graduated response, beside the kill switch: active (normal
// trading), reduce (the policy's caps scaled down) and safe mode (only
// sells that reduce a position). A higher level includes the lower ones.
const (
	LevelActive   = "active"
	LevelReduce   = "reduce"
	LevelSafeMode = "safe_mode"
)

// Event kinds of the circuit breakers' state. Every one is written
// durably (synchronous=FULL) and read back by every process, so a
// breaker counts and holds across `warden run --once` processes exactly
// as within one long `warden run`.
//
//   - breaker (EventBreaker): a breaker tripped (state "tripped"); detail
//     names the breaker, the level it raised, the reason and the symbol.
//   - safe_mode, reduce (EventSafeMode, EventReduce): a level switched on
//     (state "on", until in due and detail) or ended (state "off").
//   - error_count (EventErrorCount): the error-spike breaker's count of
//     consecutive failed cycles; state is the count ("0" after a good
//     cycle resets it).
const (
	EventReduce     = "reduce"
	EventErrorCount = "error_count"
)

// durableKind reports whether events of kind are always written durably,
// so they can be read without flushing queued writes.
func durableKind(kind string) bool {
	switch kind {
	case EventKillSwitch, EventSafeMode, EventReduce, EventErrorCount, EventBreaker, EventPolicyTests:
		return true
	}
	return false
}

// levelRank orders the levels; unknown levels rank highest (fail closed).
func levelRank(level string) int {
	switch level {
	case LevelActive, "":
		return 0
	case LevelReduce:
		return 1
	}
	return 2
}

// HigherLevel returns the stricter of two levels.
func HigherLevel(a, b string) string {
	if levelRank(b) > levelRank(a) {
		return b
	}
	if a == "" {
		return LevelActive
	}
	return a
}

// LevelState is the level in force at a time.
type LevelState struct {
	Level string `json:"level"` // active, reduce, safe_mode
	// Since is when this level was switched on (the first trip of the
	// episode); zero when active.
	Since time.Time `json:"since,omitzero"`
	// Until is when its cool-down ends; zero when active, or when it holds
	// until an operator resumes.
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason,omitempty"`
}

// levelKind is the event kind of a level's switch.
func levelKind(level string) (string, error) {
	switch level {
	case LevelSafeMode:
		return EventSafeMode, nil
	case LevelReduce:
		return EventReduce, nil
	}
	return "", fmt.Errorf("audit: %q is not a level that can be raised (reduce, safe_mode)", level)
}

// Level returns the level in force at now: safe mode when its switch is
// on and its cool-down has not passed, else reduce likewise, else active.
func (s *Store) Level(ctx context.Context, now time.Time) (LevelState, error) {
	for _, level := range []string{LevelSafeMode, LevelReduce} {
		kind, _ := levelKind(level)
		on, d, err := s.switchAt(ctx, kind, now)
		if err != nil {
			return LevelState{}, err
		}
		if on {
			return LevelState{Level: level, Since: d.Since, Until: d.Until, Reason: d.Reason}, nil
		}
	}
	return LevelState{Level: LevelActive}, nil
}

const qLatestSwitch = `SELECT state, due, body FROM records WHERE kind = 'event' AND ref = CAST(? AS TEXT) ORDER BY seq DESC LIMIT 1`

// switchAt reads the latest event of a switch kind and whether it holds
// at now.
func (s *Store) switchAt(ctx context.Context, kind string, now time.Time) (bool, switchDetail, error) {
	var (
		state string
		due   int64
		body  []byte
	)
	err := s.queryRowDurable(ctx, qLatestSwitch, kind).Scan(&state, &due, &body)
	if isNoRows(err) {
		return false, switchDetail{}, nil
	}
	if err != nil {
		return false, switchDetail{}, fmt.Errorf("audit: read %s: %w", kind, err)
	}
	return decodeSwitch(kind, state, due, body, now)
}

func decodeSwitch(kind, state string, due int64, body []byte, now time.Time) (bool, switchDetail, error) {
	if state != "on" || (due != 0 && now.UnixNano() >= due) {
		return false, switchDetail{}, nil
	}
	var e struct {
		Detail switchDetail `json:"detail"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return false, switchDetail{}, fmt.Errorf("audit: decode %s event: %w", kind, err)
	}
	return true, e.Detail, nil
}

// LevelTrip raises a level until a time (see RaiseLevel).
type LevelTrip struct {
	Level    string    // reduce or safe_mode
	At       time.Time // when the breaker tripped
	Until    time.Time // end of the cool-down; zero: until resumed
	Reason   string
	RunID    string
	Breakers []string // the breakers that raised it
}

// RaiseLevel switches a level on until t.Until, in one durable write
// transaction that reads the level's current switch first: a cool-down
// already running longer (or open-ended) is kept, and so is the time the
// episode began (Since). It returns the level's state after the write.
// Another process's resume between two trips is seen, because the read
// happens under SQLite's write lock.
func (s *Store) RaiseLevel(ctx context.Context, t LevelTrip) (LevelState, error) {
	return s.raiseLevel(ctx, t, false)
}

// QueueRaiseLevel is RaiseLevel for a caller that keeps the levels itself
// (an audited backtest): in a batched Scratch store the raise is queued
// with the other records, and the state it leads to is computed when the
// queue is committed, from every record before it; elsewhere it is
// RaiseLevel.
func (s *Store) QueueRaiseLevel(ctx context.Context, t LevelTrip) error {
	_, err := s.raiseLevel(ctx, t, s.queueAll)
	return err
}

// raiseLevel is RaiseLevel, its write queued when deferrable (then the
// state it returns is the zero value).
func (s *Store) raiseLevel(ctx context.Context, t LevelTrip, deferrable bool) (LevelState, error) {
	kind, err := levelKind(t.Level)
	if err != nil {
		return LevelState{}, err
	}
	if t.At.IsZero() {
		t.At = s.clock()
	}
	var out LevelState
	err = s.write(ctx, true, deferrable, func(w *writeTx) error {
		var (
			state string
			due   int64
			body  []byte
		)
		d := switchDetail{Reason: t.Reason, Since: t.At, Until: t.Until, Breakers: t.Breakers}
		err := w.queryRow(qLatestSwitch, kind).Scan(&state, &due, &body)
		switch {
		case isNoRows(err):
		case err != nil:
			return fmt.Errorf("audit: read %s: %w", kind, err)
		default:
			on, prev, err := decodeSwitch(kind, state, due, body, t.At)
			if err != nil {
				return err
			}
			if on {
				if !prev.Since.IsZero() {
					d.Since = prev.Since
				}
				if prev.Until.IsZero() || (!d.Until.IsZero() && prev.Until.After(d.Until)) {
					d.Until = prev.Until
				}
			}
		}
		var dueNS int64
		if !d.Until.IsZero() {
			dueNS = d.Until.UnixNano()
		}
		detail, err := marshal(d)
		if err != nil {
			return err
		}
		rec, err := eventRecord(Event{Kind: kind, RunID: t.RunID, At: t.At, State: "on", Detail: detail}, dueNS)
		if err != nil {
			return err
		}
		if _, err := w.append(rec); err != nil {
			return err
		}
		out = LevelState{Level: t.Level, Since: d.Since, Until: d.Until, Reason: d.Reason}
		return nil
	})
	return out, err
}

// EndLevels ends reduce and safe mode (an operator's resume): an "off"
// event for each level whose switch is on, in one durable transaction.
func (s *Store) EndLevels(ctx context.Context, actor, reason string) error {
	at := s.clock()
	return s.write(ctx, true, false, func(w *writeTx) error {
		for _, kind := range []string{EventSafeMode, EventReduce} {
			var state string
			var due int64
			var body []byte
			err := w.queryRow(qLatestSwitch, kind).Scan(&state, &due, &body)
			if isNoRows(err) || (err == nil && state != "on") {
				continue
			}
			if err != nil {
				return fmt.Errorf("audit: read %s: %w", kind, err)
			}
			detail, err := marshal(switchDetail{Actor: actor, Reason: reason})
			if err != nil {
				return err
			}
			rec, err := eventRecord(Event{Kind: kind, At: at, State: "off", Detail: detail}, 0)
			if err != nil {
				return err
			}
			if _, err := w.append(rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// errorCountDetail is the detail of an error_count event.
type errorCountDetail struct {
	Count     int    `json:"count"`
	Component string `json:"component,omitempty"` // advisor, schema, market, exchange
	Error     string `json:"error,omitempty"`
}

const qLatestErrorCount = `SELECT state FROM records WHERE kind = 'event' AND ref = 'error_count' ORDER BY seq DESC LIMIT 1`

// ConsecutiveErrors returns the error-spike breaker's count of failed
// cycles in a row: 0 when none was ever counted or the last good cycle
// reset it.
func (s *Store) ConsecutiveErrors(ctx context.Context) (int, error) {
	var state string
	err := s.queryRowDurable(ctx, qLatestErrorCount).Scan(&state)
	if isNoRows(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit: read error count: %w", err)
	}
	return parseCount(state)
}

// errorCount is ConsecutiveErrors inside a write transaction.
func (w *writeTx) errorCount() (int, error) {
	var state string
	err := w.queryRow(qLatestErrorCount).Scan(&state)
	if isNoRows(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit: read error count: %w", err)
	}
	return parseCount(state)
}

func parseCount(state string) (int, error) {
	n, err := strconv.Atoi(state)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("audit: stored error count %q is not a count", state)
	}
	return n, nil
}

// CountError adds one failed cycle to the error-spike count and returns
// the new count. The read and the write are one durable transaction, so
// processes that fail one after another (cron `run --once`) count on.
func (s *Store) CountError(ctx context.Context, at time.Time, runID, component, msg string) (int, error) {
	return s.countError(ctx, at, runID, component, msg, false)
}

// QueueCountError is CountError for a caller that keeps the count itself
// (an audited backtest): in a batched Scratch store the record is queued,
// and the count it holds is computed when the queue is committed, from
// every record before it; elsewhere it is CountError.
func (s *Store) QueueCountError(ctx context.Context, at time.Time, runID, component, msg string) error {
	_, err := s.countError(ctx, at, runID, component, msg, s.queueAll)
	return err
}

// countError is CountError, its write queued when deferrable (then the
// count it returns is 0).
func (s *Store) countError(ctx context.Context, at time.Time, runID, component, msg string, deferrable bool) (int, error) {
	if at.IsZero() {
		at = s.clock()
	}
	var n int
	err := s.write(ctx, true, deferrable, func(w *writeTx) error {
		c, err := w.errorCount()
		if err != nil {
			return err
		}
		n = c + 1
		return appendErrorCount(w, at, runID, errorCountDetail{Count: n, Component: component, Error: msg})
	})
	return n, err
}

// ResetErrors sets the error-spike count back to 0 after a good cycle. It
// writes only when the count is not 0 already.
func (s *Store) ResetErrors(ctx context.Context, at time.Time, runID string) error {
	n, err := s.ConsecutiveErrors(ctx)
	if err != nil || n == 0 {
		return err
	}
	if at.IsZero() {
		at = s.clock()
	}
	return s.write(ctx, true, false, func(w *writeTx) error {
		return appendErrorCount(w, at, runID, errorCountDetail{Count: 0})
	})
}

// QueueResetErrors is ResetErrors for a caller that keeps the count
// itself (an audited backtest): in a batched Scratch store the reset is
// queued, and written when the queue is committed if the count on record
// then is not 0; elsewhere it is ResetErrors.
func (s *Store) QueueResetErrors(ctx context.Context, at time.Time, runID string) error {
	if !s.queueAll {
		return s.ResetErrors(ctx, at, runID)
	}
	if at.IsZero() {
		at = s.clock()
	}
	return s.write(ctx, true, true, func(w *writeTx) error {
		if n, err := w.errorCount(); err != nil || n == 0 {
			return err
		}
		return appendErrorCount(w, at, runID, errorCountDetail{Count: 0})
	})
}

func appendErrorCount(w *writeTx, at time.Time, runID string, d errorCountDetail) error {
	detail, err := marshal(d)
	if err != nil {
		return err
	}
	rec, err := eventRecord(Event{Kind: EventErrorCount, RunID: runID, At: at, State: strconv.Itoa(d.Count), Detail: detail}, 0)
	if err != nil {
		return err
	}
	_, err = w.append(rec)
	return err
}
