package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/warden-trading/warden/schemas"
)

// Sender delivers one notification to one channel. Its errors are
// *SendError values with secrets already removed.
type Sender interface {
	Channel() string
	Send(ctx context.Context, n schemas.Notification) error
}

// SendError is a failed delivery, classified for the Dispatcher.
type SendError struct {
	// Permanent errors will not go away by retrying (bad token, unknown
	// channel, bot blocked, payload refused): the notification is given up.
	Permanent bool
	// RetryAfter is the wait the server asked for (Slack's Retry-After
	// header, Telegram's parameters.retry_after); zero if it named none.
	RetryAfter time.Duration
	// Code is the service's error code when it sent one ("channel_not_found",
	// "429", ...).
	Code string
	Msg  string // redacted
}

func (e *SendError) Error() string { return e.Msg }

// DispatcherConfig configures a Dispatcher. Zero durations and counts take
// the defaults noted.
type DispatcherConfig struct {
	Outbox Outbox
	Sender Sender
	Logger *slog.Logger     // nil means discard
	Now    func() time.Time // nil means time.Now
	// Sleep waits d or until ctx ends; nil means a real timer. Tests inject
	// one that advances a fake clock.
	Sleep func(ctx context.Context, d time.Duration) error

	MinInterval time.Duration // least time between two sends on the channel; default 1s
	BaseBackoff time.Duration // first retry delay after a failure; default 2s
	MaxBackoff  time.Duration // cap of the exponential backoff; default 10m
	// MaxAge is how long a notification that keeps failing transiently
	// (5xx, 429, no connection) is retried, from when it was queued: the
	// same under cron (a process an hour) as in a service that retries
	// every few minutes; default 7 days. A permanent error gives up at
	// once.
	MaxAge       time.Duration
	BatchSize    int           // notifications fetched per pass; default 50
	PollInterval time.Duration // Run's wait between passes; default 5s
	SendTimeout  time.Duration // limit for one send; default 15s
}

// Dispatcher sends one channel's pending notifications from the outbox and
// records every attempt. Run it in its own goroutine: nothing in trading
// waits for it.
//
// After a transient failure or a rate limit the whole channel pauses until
// the failed notification's next attempt, so order is kept and a server in
// trouble is not hammered. Permanent errors give the notification up
// (recorded and logged) and the pass moves on.
type Dispatcher struct {
	outbox  Outbox
	sender  Sender
	channel string
	log     *slog.Logger
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	cfg     DispatcherConfig
	wake    chan struct{}

	mu           sync.Mutex // one pass at a time; guards the fields below
	lastSend     time.Time
	blockedUntil time.Time
	failures     int              // consecutive failed sends on the channel
	attempts     map[int64]int    // failed attempts per notification, this process (for the log)
	sent         map[int64]bool   // sent, but recording the delivery failed
	sentKeys     map[string]int64 // dedup keys delivered by this process
}

// NewDispatcher checks cfg and returns a Dispatcher for cfg.Sender's channel.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Outbox == nil {
		return nil, errors.New("notify: DispatcherConfig.Outbox is nil")
	}
	if cfg.Sender == nil {
		return nil, errors.New("notify: DispatcherConfig.Sender is nil")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.MinInterval, time.Second)
	def(&cfg.BaseBackoff, 2*time.Second)
	def(&cfg.MaxBackoff, 10*time.Minute)
	def(&cfg.PollInterval, 5*time.Second)
	def(&cfg.SendTimeout, 15*time.Second)
	def(&cfg.MaxAge, 7*24*time.Hour)
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 50
	}
	d := &Dispatcher{
		outbox:   cfg.Outbox,
		sender:   cfg.Sender,
		channel:  cfg.Sender.Channel(),
		log:      cfg.Logger,
		now:      cfg.Now,
		sleep:    cfg.Sleep,
		cfg:      cfg,
		wake:     make(chan struct{}, 1),
		attempts: map[int64]int{},
		sent:     map[int64]bool{},
		sentKeys: map[string]int64{},
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("channel", d.channel)
	if d.now == nil {
		d.now = time.Now
	}
	if d.sleep == nil {
		d.sleep = sleepCtx
	}
	return d, nil
}

// farFuture is "any time": PendingNotifications with now+farFuture lists
// every pending notification, due or not.
const farFuture = 100 * 365 * 24 * time.Hour

// maxSentKeys bounds the memory of delivered dedup keys.
const maxSentKeys = 10000

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Channel is the channel this dispatcher sends to.
func (d *Dispatcher) Channel() string { return d.channel }

// Wake makes a running Run start its next pass now. It never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run sends pending notifications until ctx ends, a pass every
// PollInterval, sooner when woken. Outbox errors are logged and retried on
// the next pass. It returns nil when ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	for {
		if err := d.Flush(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("notification pass failed", "err", err)
		}
		wait := d.cfg.PollInterval
		d.mu.Lock()
		if until := d.blockedUntil.Sub(d.now()); until > 0 && until < wait {
			wait = until
		}
		d.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// Flush makes one pass: it sends the channel's pending notifications in
// order until they are done, the channel must pause (failure or rate
// limit), or ctx ends. It returns outbox errors and ctx's error; delivery
// failures are recorded in the outbox, not returned.
func (d *Dispatcher) Flush(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.now().Before(d.blockedUntil) {
		return nil
	}
	now := d.now()
	pending, err := d.outbox.PendingNotifications(ctx, d.channel, now, d.cfg.BatchSize)
	if err != nil {
		return fmt.Errorf("notify: pending %s notifications: %w", d.channel, err)
	}
	// Keep order across restarts: if the oldest pending notification is
	// waiting for its next attempt (a pause recorded before this process
	// started), the channel is still paused.
	head, err := d.outbox.PendingNotifications(ctx, d.channel, now.Add(farFuture), 1)
	if err != nil {
		return fmt.Errorf("notify: pending %s notifications: %w", d.channel, err)
	}
	if len(head) > 0 && (len(pending) == 0 || pending[0].ID != head[0].ID) {
		return nil
	}
	for _, n := range pending {
		if err := ctx.Err(); err != nil {
			return err
		}
		if n.Channel != d.channel {
			return fmt.Errorf("notify: outbox returned notification %d of channel %q to the %q dispatcher", n.ID, n.Channel, d.channel)
		}
		cont, err := d.deliver(ctx, n)
		if err != nil {
			return err
		}
		if !cont {
			return nil
		}
	}
	return nil
}

// deliver sends one notification and records the attempt. It reports
// whether the pass may go on to the next notification.
func (d *Dispatcher) deliver(ctx context.Context, n schemas.Notification) (bool, error) {
	// Sent before but the delivery was not recorded: record it, never resend.
	if d.sent[n.ID] {
		return true, d.record(ctx, n, schemas.DeliveryAttempt{Delivered: true})
	}
	// The outbox de-duplicates on enqueue; this guards a store that did not.
	if first, ok := d.sentKeys[n.DedupKey]; ok && n.DedupKey != "" && first != n.ID {
		d.log.Warn("duplicate notification not sent", "id", n.ID, "duplicate_of", first, "dedup_key", n.DedupKey)
		return true, d.record(ctx, n, schemas.DeliveryAttempt{GaveUp: true,
			Error: fmt.Sprintf("duplicate of notification %d (dedup key %q)", first, n.DedupKey)})
	}

	// Per-channel rate limit.
	if !d.lastSend.IsZero() {
		if wait := d.lastSend.Add(d.cfg.MinInterval).Sub(d.now()); wait > 0 {
			if err := d.sleep(ctx, wait); err != nil {
				return false, err
			}
		}
	}
	sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	err := d.sender.Send(sctx, n)
	cancel()
	d.lastSend = d.now()

	if err == nil {
		d.failures = 0
		delete(d.attempts, n.ID)
		d.sent[n.ID] = true
		if n.DedupKey != "" {
			if len(d.sentKeys) >= maxSentKeys {
				clear(d.sentKeys)
			}
			d.sentKeys[n.DedupKey] = n.ID
		}
		d.log.Info("notification sent", "id", n.ID, "kind", n.Kind)
		return true, d.record(ctx, n, schemas.DeliveryAttempt{Delivered: true})
	}
	if ctx.Err() != nil {
		// Shutting down: this was no fair attempt; it stays pending.
		return false, ctx.Err()
	}

	var se *SendError
	if !errors.As(err, &se) {
		// Senders return *SendError; anything else is treated as transient.
		se = &SendError{Msg: err.Error()}
	}
	d.attempts[n.ID]++
	tries := d.attempts[n.ID]
	age := d.now().Sub(n.CreatedAt)
	if se.Permanent || (!n.CreatedAt.IsZero() && age >= d.cfg.MaxAge) {
		reason := "permanent error"
		if !se.Permanent {
			reason = fmt.Sprintf("still failing %s after it was queued", age.Round(time.Minute))
		}
		d.log.Error("notification given up", "id", n.ID, "kind", n.Kind, "reason", reason, "code", se.Code, "err", se.Msg)
		delete(d.attempts, n.ID)
		return true, d.record(ctx, n, schemas.DeliveryAttempt{GaveUp: true, Error: se.Msg + " (gave up: " + reason + ")"})
	}

	delay := se.RetryAfter
	if delay <= 0 {
		delay = d.backoff(d.failures)
	}
	d.failures++
	next := d.now().Add(delay)
	d.blockedUntil = next
	d.log.Warn("notification not sent, will retry", "id", n.ID, "kind", n.Kind, "attempt", tries,
		"retry_in", delay.String(), "code", se.Code, "err", se.Msg)
	return false, d.record(ctx, n, schemas.DeliveryAttempt{Error: se.Msg, NextAttempt: next})
}

// backoff is BaseBackoff doubled per consecutive failure, capped at
// MaxBackoff.
func (d *Dispatcher) backoff(failures int) time.Duration {
	b := d.cfg.BaseBackoff
	for i := 0; i < failures && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, d.cfg.MaxBackoff)
}

func (d *Dispatcher) record(ctx context.Context, n schemas.Notification, a schemas.DeliveryAttempt) error {
	a.NotificationID = n.ID
	a.At = d.now().UTC()
	if a.NextAttempt.IsZero() {
		a.NextAttempt = a.At
	}
	a.NextAttempt = a.NextAttempt.UTC()
	if err := d.outbox.RecordDelivery(ctx, a); err != nil {
		return fmt.Errorf("notify: record delivery of %d: %w", n.ID, err)
	}
	if a.Delivered || a.GaveUp {
		delete(d.sent, n.ID)
	}
	return nil
}
