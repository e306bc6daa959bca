package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// Event kinds recorded with RecordEvent. Others are allowed.
const (
	EventKillSwitch       = "kill_switch"
	EventResume           = "resume"
	EventSafeMode         = "safe_mode"
	EventBreaker          = "breaker"
	EventSnapshotRejected = "snapshot_rejected"
	EventPolicyReload     = "policy_reload"
	EventError            = "error"
	EventPaperState       = "paper_state"
	EventReconcile        = "reconcile"
	EventProtection       = "protection"       // a filled entry whose stop could not be placed
	EventOrderWithheld    = "order_withheld"   // an approved order not placed: the kill switch was set during its cycle
	EventBuysWithdrawn    = "buys_withdrawn"   // resting buys cancelled: the kill switch or safe mode holds
	EventExchangeBackoff  = "exchange_backoff" // the exchange asked for a pause (418 ban, long 429): nothing is sent until it ends
	// EventPolicyTests is whether the configured policy must pass tests
	// to be started on: state required (the tests file, its hash and
	// cases, recorded when a policy with tests is taken) or dropped (an
	// operator's `warden policy drop-tests`, with a reason). The newest
	// one is in force for every process on the database; archiving keeps
	// it.
	EventPolicyTests = "policy_tests"
)

// ExchangePause is the detail of an exchange_backoff event: the pause the
// exchange asked for (executor.BackoffState, as the runtime records it).
type ExchangePause struct {
	Until    time.Time `json:"until"`
	Kind     string    `json:"kind"` // banned or rate_limited
	Reason   string    `json:"reason"`
	Exchange string    `json:"exchange,omitempty"` // the exchange (and testnet) that asked
}

// LatestExchangePause is the newest exchange_backoff event's pause; ok is
// false when none was ever recorded. The runtime restores it at start and
// status shows it while it holds.
func (s *Store) LatestExchangePause(ctx context.Context) (p ExchangePause, ok bool, err error) {
	evs, err := s.ListEvents(ctx, EventFilter{Kinds: []string{EventExchangeBackoff}, Limit: 1})
	if err != nil || len(evs) == 0 {
		return p, false, err
	}
	if err := json.Unmarshal(evs[0].Detail, &p); err != nil {
		return p, false, fmt.Errorf("audit: the exchange's pause (event %d): %w", evs[0].Seq, err)
	}
	return p, true, nil
}

// Event is an operator, breaker or system event.
type Event struct {
	Kind   string          `json:"kind"`
	RunID  string          `json:"run_id,omitempty"`
	At     time.Time       `json:"at"`
	Symbol string          `json:"symbol,omitempty"`
	State  string          `json:"state,omitempty"` // on/off for switches, tripped/cleared for breakers...
	Detail json.RawMessage `json:"detail,omitempty"`
}

// RecordEvent records e. Detail, when set, must be JSON.
func (s *Store) RecordEvent(ctx context.Context, e Event) error {
	return s.recordEvent(ctx, false, e, 0)
}

func (s *Store) recordEvent(ctx context.Context, durable bool, e Event, due int64) error {
	// The switches and the breakers' state are always durable: they are
	// read without flushing queued writes (queryRowDurable), whoever
	// records them.
	durable = durable || durableKind(e.Kind)
	if e.At.IsZero() {
		e.At = s.clock()
	}
	rec, err := eventRecord(e, due)
	if err != nil {
		return err
	}
	return s.appendRecords(ctx, durable, rec)
}

// eventRecord is the record of an event; e.At must be set.
func eventRecord(e Event, due int64) (*record, error) {
	if e.Kind == "" {
		return nil, errors.New("audit: event without kind")
	}
	if len(e.Detail) > 0 && !json.Valid(e.Detail) {
		return nil, fmt.Errorf("audit: event %s: detail is not JSON", e.Kind)
	}
	body, err := marshal(e)
	if err != nil {
		return nil, err
	}
	return &record{kind: KindEvent, at: e.At.UnixNano(), runID: e.RunID, ref: e.Kind, symbol: e.Symbol, state: e.State, due: due, body: body}, nil
}

// switchDetail is the detail of a kill-switch or level (safe mode,
// reduce) event.
type switchDetail struct {
	Actor  string `json:"actor,omitempty"`
	Reason string `json:"reason"`
	// Since is when the level's episode began (its first trip); Until
	// when its cool-down ends (zero: until resumed).
	Since    time.Time `json:"since,omitzero"`
	Until    time.Time `json:"until,omitzero"`
	Breakers []string  `json:"breakers,omitempty"`
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// SetKillSwitch turns the kill switch on or off. The change is a new
// event, written with synchronous=FULL, and survives restarts.
func (s *Store) SetKillSwitch(ctx context.Context, on bool, actor, reason string) error {
	d, err := marshal(switchDetail{Actor: actor, Reason: reason})
	if err != nil {
		return err
	}
	return s.recordEvent(ctx, true, Event{Kind: EventKillSwitch, State: onOff(on), Detail: d}, 0)
}

// KillSwitch reports whether the kill switch is on: the state of its
// latest event; off when it was never set.
func (s *Store) KillSwitch(ctx context.Context) (bool, error) {
	var state string
	err := s.queryRowDurable(ctx, `SELECT state FROM records WHERE kind = 'event' AND ref = 'kill_switch' ORDER BY seq DESC LIMIT 1`).Scan(&state)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("audit: read kill switch: %w", err)
	}
	return state == "on", nil
}

// SetSafeMode turns safe mode on (until a time, or until turned off when
// until is zero) or off. Written with synchronous=FULL.
func (s *Store) SetSafeMode(ctx context.Context, on bool, until time.Time, reason string) error {
	var due int64
	if on && !until.IsZero() {
		due = until.UnixNano()
	}
	if !on {
		until = time.Time{}
	}
	sd := switchDetail{Reason: reason, Until: until}
	if on {
		sd.Since = s.clock()
	}
	d, err := marshal(sd)
	if err != nil {
		return err
	}
	return s.recordEvent(ctx, true, Event{Kind: EventSafeMode, State: onOff(on), Detail: d}, due)
}

// SafeMode reports whether safe mode is on at now: its latest event turned
// it on, and its cool-down (if any) has not passed. reason is that event's
// reason. Level tells the whole level (reduce included).
func (s *Store) SafeMode(ctx context.Context, now time.Time) (on bool, reason string, err error) {
	on, d, err := s.switchAt(ctx, EventSafeMode, now)
	return on, d.Reason, err
}

// paperState is the body of a paper_state record: the blob as JSON when
// it is JSON, as bytes (base64) otherwise.
type paperState struct {
	JSON  json.RawMessage `json:"json,omitempty"`
	Bytes []byte          `json:"bytes,omitempty"`
}

// SavePaperState appends a snapshot of the paper exchange's state.
func (s *Store) SavePaperState(ctx context.Context, blob []byte) error {
	var ps paperState
	if json.Valid(blob) {
		ps.JSON = blob
	} else {
		ps.Bytes = blob
	}
	body, err := marshal(ps)
	if err != nil {
		return err
	}
	err = s.appendRecords(ctx, false, &record{kind: KindPaperState, at: s.now(), body: body})
	return err
}

// LatestPaperState returns the newest saved full paper state (a
// checkpoint, not a delta: see PaperStateChain); ok is false when none was
// saved.
func (s *Store) LatestPaperState(ctx context.Context) (blob []byte, ok bool, err error) {
	var body []byte
	err = s.queryRow(ctx, `SELECT body FROM records WHERE kind = 'paper_state' AND state <> 'delta' ORDER BY seq DESC LIMIT 1`).Scan(&body)
	if isNoRows(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("audit: read paper state: %w", err)
	}
	var ps paperState
	if err := json.Unmarshal(body, &ps); err != nil {
		return nil, false, fmt.Errorf("audit: decode paper state: %w", err)
	}
	if ps.JSON != nil {
		return []byte(ps.JSON), true, nil
	}
	if ps.Bytes == nil {
		ps.Bytes = []byte{}
	}
	return ps.Bytes, true, nil
}

// equityBody is the body of an equity record; Peak is the highest equity
// recorded up to and including this one.
type equityBody struct {
	At     time.Time       `json:"at"`
	Equity decimal.Decimal `json:"equity"`
	Peak   decimal.Decimal `json:"peak"`
}

// RecordEquity records the account's equity at a time, and the running
// peak.
func (s *Store) RecordEquity(ctx context.Context, at time.Time, equity decimal.Decimal) error {
	if at.IsZero() {
		at = s.clock()
	}
	return s.writeQueued(ctx, false, true, func(w *writeTx) error {
		peak := equity
		if w.peakSet {
			// An equity appended earlier in this transaction is the
			// latest one: nothing else writes while it holds the lock.
			if w.peak.GreaterThan(peak) {
				peak = w.peak
			}
		} else {
			var prev string
			err := w.queryRow(qLastPeak).Scan(&prev)
			switch {
			case isNoRows(err):
			case err != nil:
				return fmt.Errorf("audit: read peak equity: %w", err)
			default:
				p, err := decimal.NewFromString(prev)
				if err != nil {
					return fmt.Errorf("audit: stored peak equity %q: %w", prev, err)
				}
				if p.GreaterThan(peak) {
					peak = p
				}
			}
		}
		// Encoded by the writer into its buffer (this runs in the write).
		if _, err := w.append(&record{kind: KindEquity, at: at.UnixNano(), encode: equityBody{At: at, Equity: equity, Peak: peak}.AppendJSON}); err != nil {
			return err
		}
		w.peak, w.peakSet = peak, true
		return nil
	}, func() { s.pendEq = append(s.pendEq, pendingEquity{at: at.UnixNano(), equity: equity}) })
}

// pendingEquity is an equity recorded by a write still in the batch queue.
// PeakEquity and EquityAt combine the queued equities with the committed
// ones instead of committing the queue: a batched backtest asks both at
// every cycle, and committing there made every batch one cycle long.
type pendingEquity struct {
	at     int64
	equity decimal.Decimal
}

func (s *Store) pendingEquities() ([]pendingEquity, error) {
	err := s.lockWriter()
	defer s.wmu.Unlock()
	return append([]pendingEquity(nil), s.pendEq...), err
}

// PeakEquity returns the highest equity ever recorded; ok is false when
// none was.
func (s *Store) PeakEquity(ctx context.Context) (decimal.Decimal, bool, error) {
	pend, err := s.pendingEquities()
	if err != nil {
		return decimal.Decimal{}, false, err
	}
	// Committed records: the queue holds no equity but these (a write of
	// one queued later only adds to the answer below).
	var body []byte
	err = s.queryRowCommitted(ctx, `SELECT body FROM records WHERE kind = 'equity' ORDER BY seq DESC LIMIT 1`).Scan(&body)
	var peak decimal.Decimal
	ok := false
	switch {
	case isNoRows(err):
	case err != nil:
		return decimal.Decimal{}, false, fmt.Errorf("audit: read equity: %w", err)
	default:
		var e equityBody
		if err := json.Unmarshal(body, &e); err != nil {
			return decimal.Decimal{}, false, fmt.Errorf("audit: decode equity: %w", err)
		}
		peak, ok = e.Peak, true
	}
	for _, p := range pend {
		if !ok || p.equity.GreaterThan(peak) {
			peak, ok = p.equity, true
		}
	}
	return peak, ok, nil
}

// EquityAt returns the equity recorded last at or before t (e.g. the start
// of the day), or, when none was, the first recorded after t; ok is false
// when no equity was ever recorded.
func (s *Store) EquityAt(ctx context.Context, t time.Time) (decimal.Decimal, bool, error) {
	ns := t.UnixNano()
	pend, err := s.pendingEquities()
	if err != nil {
		return decimal.Decimal{}, false, err
	}
	var body []byte
	var pref, at int64
	err = s.queryRowCommitted(ctx, `SELECT body, pref, at FROM (
		SELECT body, 0 AS pref, at, seq FROM (SELECT body, at, seq FROM records WHERE kind = 'equity' AND at <= CAST(? AS INTEGER) ORDER BY at DESC, seq DESC LIMIT 1)
		UNION ALL
		SELECT body, 1 AS pref, at, seq FROM (SELECT body, at, seq FROM records WHERE kind = 'equity' AND at > CAST(? AS INTEGER) ORDER BY at, seq LIMIT 1)
	) ORDER BY pref LIMIT 1`, ns, ns).Scan(&body, &pref, &at)
	found := false
	var eq decimal.Decimal
	switch {
	case isNoRows(err):
	case err != nil:
		return decimal.Decimal{}, false, fmt.Errorf("audit: read equity: %w", err)
	default:
		var e equityBody
		if err := json.Unmarshal(body, &e); err != nil {
			return decimal.Decimal{}, false, fmt.Errorf("audit: decode equity: %w", err)
		}
		eq, found = e.Equity, true
	}
	// Queued equities come after every committed one in the chain: at or
	// before t, the latest time wins and a tie goes to the later record;
	// after t (when nothing is at or before t), the earliest wins and a tie
	// goes to the earlier record.
	before := found && pref == 0
	for _, p := range pend {
		switch {
		case p.at <= ns:
			if !before || p.at >= at {
				eq, at, found, before = p.equity, p.at, true, true
			}
		case !before:
			if !found || p.at < at {
				eq, at, found = p.equity, p.at, true
			}
		}
	}
	return eq, found, nil
}
