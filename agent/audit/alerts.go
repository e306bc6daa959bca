package audit

import (
	"context"
	"errors"
	"fmt"
)

// EventAlert is a threshold alert (agent/alerts): a warning before a limit
// is reached. Its dedup key holds the alert, the threshold and the day.
const EventAlert = "alert"

// RecordEventOnce records e unless an event of the same kind with dedupKey
// is already on record, in one write transaction, so two processes (cron
// runs, a scheduler and a one-off run) record it once between them. It
// reports whether e was recorded now. The record is durable.
func (s *Store) RecordEventOnce(ctx context.Context, e Event, dedupKey string) (bool, error) {
	if dedupKey == "" {
		return false, errors.New("audit: RecordEventOnce without a dedup key")
	}
	if e.At.IsZero() {
		e.At = s.clock()
	}
	rec, err := eventRecord(e, 0)
	if err != nil {
		return false, err
	}
	rec.dedup = dedupKey
	recorded := false
	err = s.write(ctx, true, false, func(w *writeTx) error {
		recorded = false
		var n int
		if err := w.queryRow(`SELECT COUNT(*) FROM records WHERE kind = 'event' AND ref = CAST(? AS TEXT) AND dedup = CAST(? AS TEXT)`, e.Kind, dedupKey).Scan(&n); err != nil {
			return fmt.Errorf("audit: look up event %s/%s: %w", e.Kind, dedupKey, err)
		}
		if n > 0 {
			return nil
		}
		if _, err := w.append(rec); err != nil {
			return err
		}
		recorded = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return recorded, nil
}
