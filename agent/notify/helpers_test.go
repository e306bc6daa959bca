package notify

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/warden-trading/warden/schemas"
)

// memOutbox is an in-memory Outbox with the semantics agent/audit
// implements: dedup on (channel, key), pending = not finished and due.
type memOutbox struct {
	mu       sync.Mutex
	rows     []schemas.Notification
	attempts map[int64][]schemas.DeliveryAttempt
	noDedup  bool // store duplicates, to test the dispatcher's own guard
	// failRecord makes the next failRecord RecordDelivery calls fail.
	failRecord int
	failEnq    error
}

var _ Outbox = (*memOutbox)(nil)

func newMemOutbox() *memOutbox {
	return &memOutbox{attempts: map[int64][]schemas.DeliveryAttempt{}}
}

func (o *memOutbox) Enqueue(ctx context.Context, n schemas.Notification) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failEnq != nil {
		return 0, o.failEnq
	}
	if !o.noDedup {
		for _, r := range o.rows {
			if r.Channel == n.Channel && r.DedupKey == n.DedupKey {
				return r.ID, nil
			}
		}
	}
	n.ID = int64(len(o.rows) + 1)
	o.rows = append(o.rows, n)
	return n.ID, nil
}

func (o *memOutbox) PendingNotifications(ctx context.Context, channel string, now time.Time, limit int) ([]schemas.Notification, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []schemas.Notification
	for _, r := range o.rows {
		if r.Channel != channel {
			continue
		}
		as := o.attempts[r.ID]
		if len(as) > 0 {
			last := as[len(as)-1]
			if last.Delivered || last.GaveUp || last.NextAttempt.After(now) {
				continue
			}
		}
		out = append(out, r)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

func (o *memOutbox) RecordDelivery(ctx context.Context, a schemas.DeliveryAttempt) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failRecord > 0 {
		o.failRecord--
		return errors.New("disk full")
	}
	o.attempts[a.NotificationID] = append(o.attempts[a.NotificationID], a)
	return nil
}

func (o *memOutbox) all(channel string) []schemas.Notification {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []schemas.Notification
	for _, r := range o.rows {
		if channel == "" || r.Channel == channel {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (o *memOutbox) attemptsOf(id int64) []schemas.DeliveryAttempt {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]schemas.DeliveryAttempt(nil), o.attempts[id]...)
}

// fakeClock is a settable clock whose Sleep advances it.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

// readFileAndWAL returns a SQLite file's bytes and its WAL's, as text.
func readFileAndWAL(t *testing.T, path string) string {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return string(all)
}
