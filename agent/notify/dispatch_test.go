package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-trading/warden/schemas"
)

// scriptedSender is a hand-written Sender that fails with the scripted
// errors in order, then succeeds.
type scriptedSender struct {
	mu     sync.Mutex
	errs   []error
	sent   []int64 // ids delivered
	tries  []int64 // ids attempted
	before func(ctx context.Context) error
}

var _ Sender = (*scriptedSender)(nil)

func (s *scriptedSender) Channel() string { return ChannelSlack }

func (s *scriptedSender) Send(ctx context.Context, n schemas.Notification) error {
	if s.before != nil {
		if err := s.before(ctx); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries = append(s.tries, n.ID)
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		return err
	}
	s.sent = append(s.sent, n.ID)
	return nil
}

func (s *scriptedSender) Sent() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.sent...)
}

func (s *scriptedSender) Tries() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.tries...)
}

func enqueueN(t *testing.T, ob *memOutbox, channel string, n int) {
	t.Helper()
	for i := range n {
		_, err := ob.Enqueue(context.Background(), schemas.Notification{
			Channel: channel, Kind: KindError, Title: fmt.Sprintf("t%d", i), Text: "x", DedupKey: fmt.Sprintf("k%d", i),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func newTestDispatcher(t *testing.T, ob Outbox, s Sender, clk *fakeClock, mod func(*DispatcherConfig)) *Dispatcher {
	t.Helper()
	log, _ := testLogger()
	cfg := DispatcherConfig{Outbox: ob, Sender: s, Logger: log, Now: clk.Now, Sleep: clk.Sleep,
		MinInterval: time.Second, BaseBackoff: 2 * time.Second, MaxBackoff: time.Minute}
	if mod != nil {
		mod(&cfg)
	}
	d, err := NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func equalIDs(a, b []int64) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestFlushDeliversInOrderWithRateLimit(t *testing.T) {
	ob, clk, s := newMemOutbox(), newFakeClock(), &scriptedSender{}
	enqueueN(t, ob, ChannelSlack, 4)
	enqueueN(t, ob, ChannelTelegram, 2) // another channel's rows are not touched
	d := newTestDispatcher(t, ob, s, clk, nil)
	if err := d.Flush(context.Background()); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	if got, want := s.Sent(), []int64{1, 2, 3, 4}; !equalIDs(got, want) {
		t.Errorf("sent %v; want %v", got, want)
	}
	if got, want := clk.Slept(), []time.Duration{time.Second, time.Second, time.Second}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rate limiter slept %v; want %v (1 msg/s)", got, want)
	}
	for id := int64(1); id <= 4; id++ {
		as := ob.attemptsOf(id)
		if len(as) != 1 || !as[0].Delivered || as[0].Error != "" {
			t.Errorf("attempts of %d = %+v; want one delivered", id, as)
		}
	}
	// Nothing left: a second pass sends nothing.
	if err := d.Flush(context.Background()); err != nil || len(s.Sent()) != 4 {
		t.Errorf("second Flush() = %v, sent %d; want nil, 4", err, len(s.Sent()))
	}
}

func TestFlushTransientBacksOffAndKeepsOrder(t *testing.T) {
	ob, clk := newMemOutbox(), newFakeClock()
	down := &SendError{Msg: "connection refused"}
	s := &scriptedSender{errs: []error{down, down, down}}
	enqueueN(t, ob, ChannelSlack, 2)
	d := newTestDispatcher(t, ob, s, clk, nil)
	ctx := context.Background()

	var waits []time.Duration
	for pass := 0; len(s.Sent()) < 2 && pass < 10; pass++ {
		start := clk.Now()
		if err := d.Flush(ctx); err != nil {
			t.Fatalf("Flush() = %v", err)
		}
		if as := ob.attemptsOf(1); len(as) > 0 && !as[len(as)-1].Delivered {
			waits = append(waits, as[len(as)-1].NextAttempt.Sub(start))
			// Before the next attempt is due the channel stays paused.
			tries := len(s.Tries())
			clk.Advance(time.Second)
			if err := d.Flush(ctx); err != nil || len(s.Tries()) != tries {
				t.Fatalf("Flush() while paused = %v and tried again; want no send", err)
			}
			clk.Advance(as[len(as)-1].NextAttempt.Sub(clk.Now()))
		}
	}
	if got, want := s.Tries(), []int64{1, 1, 1, 1, 2}; !equalIDs(got, want) {
		t.Errorf("tries %v; want %v (notification 2 waits behind 1)", got, want)
	}
	if fmt.Sprint(waits[:3]) != fmt.Sprint([]time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second}) {
		t.Errorf("backoff %v; want [2s 4s 8s]", waits[:3])
	}
	as := ob.attemptsOf(1)
	if len(as) != 4 || as[0].Error != "connection refused" || !as[3].Delivered {
		t.Errorf("attempts of 1 = %+v; want 3 failures then delivered", as)
	}
}

func TestFlushHonoursRetryAfter(t *testing.T) {
	ob, clk := newMemOutbox(), newFakeClock()
	s := &scriptedSender{errs: []error{&SendError{RetryAfter: 37 * time.Second, Code: "429", Msg: "too many requests"}}}
	enqueueN(t, ob, ChannelSlack, 2)
	d := newTestDispatcher(t, ob, s, clk, nil)
	start := clk.Now()
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	as := ob.attemptsOf(1)
	if len(as) != 1 || !as[0].NextAttempt.Equal(start.Add(37*time.Second)) {
		t.Fatalf("attempts = %+v; want one with next attempt at +37s", as)
	}
	clk.Advance(36 * time.Second)
	d.Flush(context.Background())
	if len(s.Tries()) != 1 {
		t.Fatalf("tried %d times before Retry-After passed; want 1", len(s.Tries()))
	}
	clk.Advance(time.Second)
	d.Flush(context.Background())
	if got := s.Sent(); !equalIDs(got, []int64{1, 2}) {
		t.Errorf("sent %v after Retry-After; want [1 2]", got)
	}
}

func TestFlushPermanentGivesUpAndMovesOn(t *testing.T) {
	ob, clk := newMemOutbox(), newFakeClock()
	s := &scriptedSender{errs: []error{&SendError{Permanent: true, Code: "channel_not_found", Msg: "slack webhook: HTTP 404: channel_not_found"}}}
	enqueueN(t, ob, ChannelSlack, 2)
	log, buf := testLogger()
	d := newTestDispatcher(t, ob, s, clk, func(c *DispatcherConfig) { c.Logger = log })
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	as := ob.attemptsOf(1)
	if len(as) != 1 || !as[0].GaveUp || !strings.Contains(as[0].Error, "channel_not_found") {
		t.Errorf("attempts of 1 = %+v; want one, given up, naming channel_not_found", as)
	}
	if got := s.Sent(); !equalIDs(got, []int64{2}) {
		t.Errorf("sent %v; want [2] (the pass goes on)", got)
	}
	if !strings.Contains(buf.String(), "level=ERROR msg=\"notification given up\"") {
		t.Errorf("log lacks the give-up error:\n%s", buf)
	}
}

// TestFlushGivesUpByAge: a notification that keeps failing transiently is
// retried until MaxAge after it was queued, however many attempts that
// takes (a service retries every few minutes, cron once an hour: both give
// up at the same time): a second before MaxAge it is tried again, and the
// first attempt at or after MaxAge gives it up.
func TestFlushGivesUpByAge(t *testing.T) {
	ob, clk := newMemOutbox(), newFakeClock()
	var errs []error
	for range 200 {
		errs = append(errs, errors.New("HTTP 500"))
	}
	s := &scriptedSender{errs: errs}
	queued := clk.Now()
	if _, err := ob.Enqueue(context.Background(), schemas.Notification{Channel: ChannelSlack, Kind: KindError, Title: "t", Text: "x", DedupKey: "k", CreatedAt: queued}); err != nil {
		t.Fatal(err)
	}
	d := newTestDispatcher(t, ob, s, clk, func(c *DispatcherConfig) { c.MaxAge = 3 * time.Hour; c.MaxBackoff = time.Minute })
	// 100 failed attempts within the first 2 h: none gives up.
	for range 100 {
		d.Flush(context.Background())
		clk.Advance(72 * time.Second)
	}
	as := ob.attemptsOf(1)
	if len(as) < 90 || as[len(as)-1].GaveUp {
		t.Fatalf("after 2 h of failures: %d attempts, last %+v; want retries going on", len(as), as[len(as)-1])
	}
	// One second before MaxAge: still retried; at MaxAge: given up.
	clk.Advance(queued.Add(3*time.Hour - time.Second).Sub(clk.Now()))
	d.Flush(context.Background())
	if as := ob.attemptsOf(1); as[len(as)-1].GaveUp {
		t.Fatalf("given up a second before MaxAge: %+v", as[len(as)-1])
	}
	clk.Advance(time.Minute)
	d.Flush(context.Background())
	as = ob.attemptsOf(1)
	if last := as[len(as)-1]; !last.GaveUp || !strings.Contains(last.Error, "still failing 3h1m0s after it was queued") {
		t.Errorf("at MaxAge: last attempt %+v; want given up, saying for how long it failed", last)
	}
	n := len(ob.attemptsOf(1))
	clk.Advance(time.Hour)
	d.Flush(context.Background())
	if len(ob.attemptsOf(1)) != n {
		t.Error("a given-up notification was tried again")
	}
}

func TestFlushRecordFailureDoesNotResend(t *testing.T) {
	ob, clk, s := newMemOutbox(), newFakeClock(), &scriptedSender{}
	enqueueN(t, ob, ChannelSlack, 1)
	ob.failRecord = 1
	d := newTestDispatcher(t, ob, s, clk, nil)
	if err := d.Flush(context.Background()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Flush() = %v; want the outbox error", err)
	}
	if err := d.Flush(context.Background()); err != nil {
		t.Fatalf("second Flush() = %v", err)
	}
	if got := s.Tries(); !equalIDs(got, []int64{1}) {
		t.Errorf("tries %v; want [1]: sent once, then only recorded", got)
	}
	if as := ob.attemptsOf(1); len(as) != 1 || !as[0].Delivered {
		t.Errorf("attempts = %+v; want one delivered", as)
	}
}

func TestFlushDeduplicates(t *testing.T) {
	ob, clk, s := newMemOutbox(), newFakeClock(), &scriptedSender{}
	ob.noDedup = true // a store that failed to de-duplicate
	for range 2 {
		ob.Enqueue(context.Background(), schemas.Notification{Channel: ChannelSlack, Kind: KindFill, Title: "f", DedupKey: "fill:c1:filled:1"})
	}
	d := newTestDispatcher(t, ob, s, clk, nil)
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.Sent(); !equalIDs(got, []int64{1}) {
		t.Errorf("sent %v; want [1]", got)
	}
	if as := ob.attemptsOf(2); len(as) != 1 || !as[0].GaveUp || !strings.Contains(as[0].Error, "duplicate of notification 1") {
		t.Errorf("attempts of duplicate = %+v; want given up as duplicate", as)
	}
}

func TestFlushCancelledSendIsNotAnAttempt(t *testing.T) {
	ob, clk := newMemOutbox(), newFakeClock()
	ctx, cancel := context.WithCancel(context.Background())
	s := &scriptedSender{before: func(sctx context.Context) error {
		cancel()
		<-sctx.Done()
		return &SendError{Msg: "context canceled"}
	}}
	enqueueN(t, ob, ChannelSlack, 1)
	d := newTestDispatcher(t, ob, s, clk, nil)
	if err := d.Flush(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Flush() = %v; want context.Canceled", err)
	}
	if as := ob.attemptsOf(1); len(as) != 0 {
		t.Errorf("attempts = %+v; want none", as)
	}
}

func TestRunWakesAndStops(t *testing.T) {
	ob, s := newMemOutbox(), &scriptedSender{}
	d, err := NewDispatcher(DispatcherConfig{Outbox: ob, Sender: s, MinInterval: time.Millisecond, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := NewNotifier(NotifierConfig{Outbox: ob, Channels: []string{ChannelSlack}, Wake: d.Wake})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	// Poll interval is an hour: only Wake can get this sent quickly.
	if err := n.Publish(ctx, SafeMode{On: true, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Sent()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(s.Sent()) != 1 {
		t.Errorf("sent %v after Wake; want one notification", s.Sent())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v; want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestNewDispatcherErrors(t *testing.T) {
	if _, err := NewDispatcher(DispatcherConfig{Sender: &scriptedSender{}}); err == nil {
		t.Error("NewDispatcher without outbox = nil error")
	}
	if _, err := NewDispatcher(DispatcherConfig{Outbox: newMemOutbox()}); err == nil {
		t.Error("NewDispatcher without sender = nil error")
	}
}

func TestFlushKeepsOrderAfterRestart(t *testing.T) {
	ob, clk := newMemOutbox(), newFakeClock()
	enqueueN(t, ob, ChannelSlack, 3)
	// A previous process failed notification 1 and paused until +1h.
	ob.RecordDelivery(context.Background(), schemas.DeliveryAttempt{NotificationID: 1, At: clk.Now(),
		Error: "HTTP 429", NextAttempt: clk.Now().Add(time.Hour)})
	s := &scriptedSender{}
	d := newTestDispatcher(t, ob, s, clk, nil)
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.Tries(); len(got) != 0 {
		t.Fatalf("tried %v while the oldest notification waits; want nothing (order kept)", got)
	}
	clk.Advance(time.Hour)
	if err := d.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.Sent(); !equalIDs(got, []int64{1, 2, 3}) {
		t.Errorf("sent %v; want [1 2 3]", got)
	}
}
