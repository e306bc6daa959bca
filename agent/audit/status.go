package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// SwitchState is the kill switch as its latest event left it.
type SwitchState struct {
	On     bool      `json:"on"`
	At     time.Time `json:"at,omitzero"` // when it was last switched; zero: never
	Actor  string    `json:"actor,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// KillSwitchState returns the kill switch with who switched it last,
// when and why.
func (s *Store) KillSwitchState(ctx context.Context) (SwitchState, error) {
	var body []byte
	err := s.queryRowDurable(ctx, `SELECT body FROM records WHERE kind = 'event' AND ref = 'kill_switch' ORDER BY seq DESC LIMIT 1`).Scan(&body)
	if isNoRows(err) {
		return SwitchState{}, nil
	}
	if err != nil {
		return SwitchState{}, fmt.Errorf("audit: read kill switch: %w", err)
	}
	var e struct {
		At     time.Time    `json:"at"`
		State  string       `json:"state"`
		Detail switchDetail `json:"detail"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return SwitchState{}, fmt.Errorf("audit: decode kill switch: %w", err)
	}
	return SwitchState{On: e.State == "on", At: e.At, Actor: e.Detail.Actor, Reason: e.Detail.Reason}, nil
}

// BreakerTrip is one recorded trip of a circuit breaker.
type BreakerTrip struct {
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	RunID   string    `json:"run_id,omitempty"`
	Breaker string    `json:"breaker"`
	Symbol  string    `json:"symbol,omitempty"`
	Level   string    `json:"level,omitempty"`
	Reason  string    `json:"reason"`
}

// LastTrips returns the latest trip of every breaker that ever tripped, in
// name order.
func (s *Store) LastTrips(ctx context.Context) ([]BreakerTrip, error) {
	rows, err := s.queryDurable(ctx, `SELECT seq, body FROM records WHERE seq IN (
		SELECT MAX(seq) FROM records WHERE kind = 'event' AND ref = 'breaker' GROUP BY json_extract(body, '$.detail.breaker'))
		ORDER BY json_extract(body, '$.detail.breaker')`)
	if err != nil {
		return nil, fmt.Errorf("audit: last breaker trips: %w", err)
	}
	return scanTrips(rows)
}

// Trips returns the breaker trips at or after from and before to (zero
// bounds do not filter), oldest first.
func (s *Store) Trips(ctx context.Context, from, to time.Time) ([]BreakerTrip, error) {
	q, args := boundedKind(`SELECT seq, body FROM records WHERE kind = 'event' AND ref = 'breaker'`, from, to)
	rows, err := s.queryDurable(ctx, q+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: breaker trips: %w", err)
	}
	return scanTrips(rows)
}

func boundedKind(q string, from, to time.Time) (string, []any) {
	var args []any
	if !from.IsZero() {
		q += ` AND at >= CAST(? AS INTEGER)`
		args = append(args, from.UnixNano())
	}
	if !to.IsZero() {
		q += ` AND at < CAST(? AS INTEGER)`
		args = append(args, to.UnixNano())
	}
	return q, args
}

type rowsScanner interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}

func scanTrips(rows rowsScanner) ([]BreakerTrip, error) {
	defer rows.Close()
	out := []BreakerTrip{}
	for rows.Next() {
		var (
			seq  int64
			body []byte
		)
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, fmt.Errorf("audit: read breaker trip: %w", err)
		}
		var e struct {
			Event
			Detail struct {
				Breaker string `json:"breaker"`
				Symbol  string `json:"symbol"`
				Reason  string `json:"reason"`
				Level   string `json:"level"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			return nil, fmt.Errorf("audit: decode breaker trip at seq %d: %w", seq, err)
		}
		sym := e.Detail.Symbol
		if sym == "" {
			sym = e.Symbol
		}
		out = append(out, BreakerTrip{Seq: seq, At: e.At, RunID: e.RunID, Breaker: e.Detail.Breaker, Symbol: sym, Level: e.Detail.Level, Reason: e.Detail.Reason})
	}
	return out, rows.Err()
}

// EquityPoint is one recorded equity with the running peak.
type EquityPoint struct {
	At     time.Time       `json:"at"`
	Equity decimal.Decimal `json:"equity"`
	Peak   decimal.Decimal `json:"peak"`
}

// LatestEquity returns the newest recorded equity; ok is false when none
// was recorded.
func (s *Store) LatestEquity(ctx context.Context) (EquityPoint, bool, error) {
	var body []byte
	err := s.queryRow(ctx, `SELECT body FROM records WHERE kind = 'equity' ORDER BY seq DESC LIMIT 1`).Scan(&body)
	if isNoRows(err) {
		return EquityPoint{}, false, nil
	}
	if err != nil {
		return EquityPoint{}, false, fmt.Errorf("audit: latest equity: %w", err)
	}
	var e equityBody
	if err := json.Unmarshal(body, &e); err != nil {
		return EquityPoint{}, false, fmt.Errorf("audit: decode equity: %w", err)
	}
	return EquityPoint(e), true, nil
}

// FirstEquity returns the oldest recorded equity: what the account
// started with as far as this database knows.
func (s *Store) FirstEquity(ctx context.Context) (EquityPoint, bool, error) {
	var body []byte
	err := s.queryRow(ctx, `SELECT body FROM records WHERE kind = 'equity' ORDER BY seq LIMIT 1`).Scan(&body)
	if isNoRows(err) {
		return EquityPoint{}, false, nil
	}
	if err != nil {
		return EquityPoint{}, false, fmt.Errorf("audit: first equity: %w", err)
	}
	var e equityBody
	if err := json.Unmarshal(body, &e); err != nil {
		return EquityPoint{}, false, fmt.Errorf("audit: decode equity: %w", err)
	}
	return EquityPoint(e), true, nil
}

// LastRun returns the newest run with how it ended; ok is false when none
// was recorded.
func (s *Store) LastRun(ctx context.Context) (RunRow, bool, error) {
	runs, err := s.ListRuns(ctx, RunFilter{Limit: 1})
	if err != nil || len(runs) == 0 {
		return RunRow{}, false, err
	}
	return runs[0], true, nil
}

// FirstRunAt is when the first run recorded in this database started; ok
// is false when none was.
func (s *Store) FirstRunAt(ctx context.Context) (time.Time, bool, error) {
	var ns sql.NullInt64
	if err := s.queryRow(ctx, `SELECT MIN(at) FROM records WHERE kind = 'run'`).Scan(&ns); err != nil {
		return time.Time{}, false, fmt.Errorf("audit: first run: %w", err)
	}
	if !ns.Valid {
		return time.Time{}, false, nil
	}
	return time.Unix(0, ns.Int64).UTC(), true, nil
}
