package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

var _ executor.Journal = (*Store)(nil)

// AppendOrderEvent records one state of an order's lifecycle. It is
// written with synchronous=FULL: when it returns, the event is on disk, so
// the executor may send the order it describes. (A batched Scratch store,
// a backtest's, queues it with the other records: its orders are paper.)
func (s *Store) AppendOrderEvent(ctx context.Context, ev schemas.OrderEvent) error {
	if ev.ClientOrderID == "" {
		return errors.New("audit: order event without client order id")
	}
	if ev.State == "" {
		return fmt.Errorf("audit: order event %s without state", ev.ClientOrderID)
	}
	body, err := marshal(ev)
	if err != nil {
		return err
	}
	r := &record{
		kind:       KindOrderEvent,
		at:         s.stamp(ev.At),
		decisionID: ev.DecisionID,
		ref:        ev.ClientOrderID,
		symbol:     ev.Symbol,
		state:      string(ev.State),
		body:       body,
	}
	return s.write(ctx, true, s.queueAll, func(w *writeTx) error {
		if ev.DecisionID != "" {
			r.runID, err = w.runOfDecision(ev.DecisionID)
			if err != nil {
				return err
			}
		}
		_, err := w.append(r)
		return err
	})
}

// runOfDecision finds the run a decision id belongs to, "" if unknown.
func (w *writeTx) runOfDecision(decisionID string) (string, error) {
	var run string
	err := w.queryRow(qRunOfDecision, decisionID).Scan(&run)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("audit: find run of decision %s: %w", decisionID, err)
	}
	return run, nil
}

// OpenOrderEvents returns the newest event of every order whose newest
// state is not final (intent, submitted, acknowledged, partially_filled,
// unknown), oldest order first (by when its first event was recorded).
func (s *Store) OpenOrderEvents(ctx context.Context) ([]schemas.OrderEvent, error) {
	// The journal only grows: read the order events after the last one seen
	// (another process may have written some) and keep the newest event of
	// every order in memory, so a reconcile costs what changed, not the
	// whole history.
	s.omu.Lock()
	defer s.omu.Unlock()
	rows, err := s.queryDurable(ctx, `SELECT seq, ref, state, body FROM records
		WHERE kind = 'order_event' AND seq > CAST(? AS INTEGER) ORDER BY seq`, s.orderSeq)
	if err != nil {
		return nil, fmt.Errorf("audit: open orders: %w", err)
	}
	defer rows.Close()
	if s.open == nil {
		s.open, s.live = map[string]*openOrder{}, map[string]*openOrder{}
	}
	for rows.Next() {
		var (
			seq        int64
			ref, state string
			body       []byte
		)
		if err := rows.Scan(&seq, &ref, &state, &body); err != nil {
			return nil, fmt.Errorf("audit: read order event: %w", err)
		}
		s.orderSeq = seq
		switch schemas.OrderState(state) {
		case schemas.OrderFilled, schemas.OrderCancelled, schemas.OrderRejected:
			if o, ok := s.open[ref]; ok {
				// Final orders stay as markers only while nothing can
				// follow; drop their bodies to keep memory flat.
				o.final, o.body = true, nil
			} else {
				s.open[ref] = &openOrder{first: seq, final: true}
			}
			delete(s.live, ref)
			continue
		}
		o, ok := s.open[ref]
		if !ok {
			o = &openOrder{first: seq}
			s.open[ref] = o
		}
		if o.final {
			// A state after a final one cannot be: the journal's last word
			// on the order is what counts, as in LastOrderEvent.
			o.final = false
		}
		o.body = body
		s.live[ref] = o
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: read order events: %w", err)
	}
	// s.live holds the orders not final: a reconcile costs the open
	// orders, not every order ever placed.
	open := make([]*openOrder, 0, len(s.live))
	for _, o := range s.live {
		open = append(open, o)
	}
	sort.Slice(open, func(i, j int) bool { return open[i].first < open[j].first })
	out := make([]schemas.OrderEvent, 0, len(open))
	for _, o := range open {
		var ev schemas.OrderEvent
		if err := json.Unmarshal(o.body, &ev); err != nil {
			return nil, fmt.Errorf("audit: decode order event: %w", err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// openOrder is the newest known event of one order, for OpenOrderEvents.
type openOrder struct {
	first int64  // seq of the order's first event: the result's order
	final bool   // the newest event is final
	body  []byte // the newest non-final event
}

// LastOrderEvent returns the newest event of one client order id; ok is
// false when the journal has never seen it.
func (s *Store) LastOrderEvent(ctx context.Context, clientOrderID string) (schemas.OrderEvent, bool, error) {
	var body []byte
	err := s.queryRowDurable(ctx, `SELECT body FROM records WHERE kind = 'order_event' AND ref = CAST(? AS TEXT) ORDER BY seq DESC LIMIT 1`, clientOrderID).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return schemas.OrderEvent{}, false, nil
	}
	if err != nil {
		return schemas.OrderEvent{}, false, fmt.Errorf("audit: last order event %s: %w", clientOrderID, err)
	}
	var ev schemas.OrderEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return schemas.OrderEvent{}, false, fmt.Errorf("audit: decode order event %s: %w", clientOrderID, err)
	}
	return ev, true, nil
}

// OrderHistory returns every event of one client order id, oldest first.
func (s *Store) OrderHistory(ctx context.Context, clientOrderID string) ([]schemas.OrderEvent, error) {
	rows, err := s.query(ctx, `SELECT body FROM records WHERE kind = 'order_event' AND ref = CAST(? AS TEXT) ORDER BY seq`, clientOrderID)
	if err != nil {
		return nil, fmt.Errorf("audit: order history %s: %w", clientOrderID, err)
	}
	return scanOrderEvents(rows)
}

func scanOrderEvents(rows *sql.Rows) ([]schemas.OrderEvent, error) {
	defer rows.Close()
	var out []schemas.OrderEvent
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("audit: read order event: %w", err)
		}
		var ev schemas.OrderEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			return nil, fmt.Errorf("audit: decode order event: %w", err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: read order events: %w", err)
	}
	return out, nil
}

// OrdersSince counts the orders first recorded (their intent) at or after
// t, for the orders-per-minute limit.
func (s *Store) OrdersSince(ctx context.Context, t time.Time) (int, error) {
	var n int
	err := s.queryRowDurable(ctx, `
		SELECT COUNT(DISTINCT ref) FROM records
		WHERE kind = 'order_event' AND at >= CAST(? AS INTEGER) AND state = 'intent'`, t.UnixNano()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("audit: orders since %s: %w", t.Format(time.RFC3339), err)
	}
	return n, nil
}

// RecordFill records one trade of one of our orders. A trade already
// recorded (same symbol and trade id) is not recorded twice: recorded is
// false then. Written with synchronous=FULL.
func (s *Store) RecordFill(ctx context.Context, t executor.Trade) (recorded bool, err error) {
	if t.ClientOrderID == "" && t.OrderID == "" {
		return false, errors.New("audit: fill without client or exchange order id")
	}
	body, err := marshal(t)
	if err != nil {
		return false, err
	}
	r := &record{
		kind:   KindFill,
		at:     s.stamp(t.Time),
		ref:    t.ClientOrderID,
		symbol: t.Symbol,
		state:  string(t.Side),
		dedup:  t.ID,
		body:   body,
	}
	err = s.write(ctx, true, false, func(w *writeTx) error {
		if t.ID != "" {
			var n int
			if err := w.queryRow(qFillSeen, t.Symbol, t.ID).Scan(&n); err != nil {
				return fmt.Errorf("audit: look up fill %s: %w", t.ID, err)
			}
			if n > 0 {
				return nil
			}
		}
		if t.ClientOrderID != "" {
			var dec string
			err := w.queryRow(qDecisionOfOrder, t.ClientOrderID).Scan(&dec)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("audit: look up order %s: %w", t.ClientOrderID, err)
			}
			r.decisionID = dec
			if dec != "" {
				if r.runID, err = w.runOfDecision(dec); err != nil {
					return err
				}
			}
		}
		if _, err := w.append(r); err != nil {
			return err
		}
		recorded = true
		return nil
	})
	return recorded, err
}

// Fills returns the recorded trades of one client order id, oldest first.
func (s *Store) Fills(ctx context.Context, clientOrderID string) ([]executor.Trade, error) {
	rows, err := s.query(ctx, `SELECT body FROM records WHERE kind = 'fill' AND ref = CAST(? AS TEXT) ORDER BY seq`, clientOrderID)
	if err != nil {
		return nil, fmt.Errorf("audit: fills of %s: %w", clientOrderID, err)
	}
	defer rows.Close()
	var out []executor.Trade
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("audit: read fill: %w", err)
		}
		var t executor.Trade
		if err := json.Unmarshal(body, &t); err != nil {
			return nil, fmt.Errorf("audit: decode fill: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
