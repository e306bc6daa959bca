package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/warden-trading/warden/schemas"
)

// The outbox: a notification is a record; each delivery attempt is a
// record whose parent is the notification. A notification is pending until
// an attempt delivers it or gives it up; its latest attempt's NextAttempt
// says when it may be tried again. agent/notify consumes it.

// Delivery states: the state column of a delivery record.
const (
	DeliveryDelivered = "delivered"
	DeliveryGaveUp    = "gave_up"
	DeliveryFailed    = "failed" // will be retried at NextAttempt
)

// Enqueue puts n in the outbox and returns its id. A notification with the
// same Channel and a non-empty DedupKey already enqueued is not enqueued
// again: its id is returned.
func (s *Store) Enqueue(ctx context.Context, n schemas.Notification) (int64, error) {
	if n.Channel == "" {
		return 0, errors.New("audit: notification without channel")
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = s.clock()
	}
	var id int64
	err := s.write(ctx, false, false, func(w *writeTx) error {
		if n.DedupKey != "" {
			err := w.queryRow(qNotificationByKey, n.Channel, n.DedupKey).Scan(&id)
			if err == nil {
				return nil
			}
			if !isNoRows(err) {
				return fmt.Errorf("audit: look up notification %s/%s: %w", n.Channel, n.DedupKey, err)
			}
		}
		n.ID = w.seq + 1
		body, err := marshal(n)
		if err != nil {
			return err
		}
		id, err = w.append(&record{kind: KindNotification, at: n.CreatedAt.UnixNano(), runID: n.RunID, ref: n.Channel, state: n.Kind, dedup: n.DedupKey, body: body})
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// pendingSQL selects a channel's pending notifications (see
// PendingNotifications); "parent <> 0" lets SQLite use the partial index on
// parent.
const pendingSQL = `		SELECT n.body FROM records n
		WHERE n.kind = 'notification' AND n.ref = CAST(? AS TEXT)
		  AND NOT EXISTS (SELECT 1 FROM records d
		                  WHERE d.parent = n.seq AND d.parent <> 0 AND d.kind = 'delivery' AND d.state IN ('delivered', 'gave_up'))
		  AND COALESCE((SELECT d.due FROM records d
		                WHERE d.parent = n.seq AND d.parent <> 0 AND d.kind = 'delivery'
		                ORDER BY d.seq DESC LIMIT 1), 0) <= CAST(? AS INTEGER)
		ORDER BY n.seq
		LIMIT ?`

// PendingNotifications returns up to limit notifications of channel that
// are neither delivered nor given up and whose latest attempt's
// NextAttempt is not after now, oldest first.
func (s *Store) PendingNotifications(ctx context.Context, channel string, now time.Time, limit int) ([]schemas.Notification, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.query(ctx, pendingSQL, channel, now.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("audit: pending notifications: %w", err)
	}
	defer rows.Close()
	var out []schemas.Notification
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("audit: read notification: %w", err)
		}
		var n schemas.Notification
		if err := json.Unmarshal(body, &n); err != nil {
			return nil, fmt.Errorf("audit: decode notification: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: pending notifications: %w", err)
	}
	return out, nil
}

// RecordDelivery appends one delivery attempt of a notification. A
// failed attempt with a zero NextAttempt may be retried at once.
func (s *Store) RecordDelivery(ctx context.Context, a schemas.DeliveryAttempt) error {
	if a.Delivered && a.GaveUp {
		return fmt.Errorf("audit: delivery of notification %d both delivered and given up", a.NotificationID)
	}
	if a.At.IsZero() {
		a.At = s.clock()
	}
	state := DeliveryFailed
	switch {
	case a.Delivered:
		state = DeliveryDelivered
	case a.GaveUp:
		state = DeliveryGaveUp
	}
	next := a.At
	if !a.NextAttempt.IsZero() {
		next = a.NextAttempt
	}
	body, err := marshal(a)
	if err != nil {
		return err
	}
	return s.write(ctx, false, true, func(w *writeTx) error {
		var channel, run string
		err := w.queryRow(qNotification, a.NotificationID).Scan(&channel, &run)
		if isNoRows(err) {
			return fmt.Errorf("audit: delivery of unknown notification %d", a.NotificationID)
		}
		if err != nil {
			return fmt.Errorf("audit: look up notification %d: %w", a.NotificationID, err)
		}
		_, err = w.append(&record{kind: KindDelivery, at: a.At.UnixNano(), runID: run, ref: channel, state: state, parent: a.NotificationID, due: next.UnixNano(), body: body})
		return err
	})
}

// NotificationRecord is a notification with its delivery attempts.
type NotificationRecord struct {
	schemas.Notification
	Attempts []schemas.DeliveryAttempt `json:"attempts"`
}
