package executor

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Backoff holds every request to an exchange back while the exchange has
// asked for a pause: the Retry-After of an HTTP 429, or an HTTP 418 ban.
// Binance lengthens a ban (from two minutes up to three days) for requests
// sent during it, so a request held back here is one that cannot make the
// ban worse. One Backoff serves every adapter that shares the machine's
// IP (the trading client and the public data feed).
//
// A pause long enough to outlive the process (PersistAfter) is handed to
// the persist function, which keeps it in the store: a `run --once`
// started by cron during a ban restores it (Restore) and sends nothing.
// Safe for concurrent use; a nil *Backoff holds nothing back.
type Backoff struct {
	mu      sync.Mutex
	st      BackoffState
	now     func() time.Time
	persist func(BackoffState)
	// pmu orders the persist calls: each hands on the longest pause known
	// when it runs, so two errors observed at once never leave the
	// shorter one recorded last.
	pmu sync.Mutex
}

// BackoffState is a pause: until when, why (the exchange's error kind,
// rate_limited or banned, and its message).
type BackoffState struct {
	Until  time.Time `json:"until"`
	Kind   string    `json:"kind"`
	Reason string    `json:"reason"`
	// Exchange names the exchange (and testnet) that asked, when the
	// persist function sets it: a testnet's ban does not hold back the
	// real exchange.
	Exchange string `json:"exchange,omitempty"`
}

// PersistAfter is the shortest pause handed to the persist function: a
// shorter one ends before a scheduled process could start again.
const PersistAfter = 30 * time.Second

// NewBackoff returns a Backoff on the clock now (time.Now when nil) that
// hands each new or longer pause of at least PersistAfter to persist
// (nil: kept in memory only).
func NewBackoff(now func() time.Time, persist func(BackoffState)) *Backoff {
	if now == nil {
		now = time.Now
	}
	return &Backoff{now: now, persist: persist}
}

// Restore sets a pause read back from the store; one already over, or
// shorter than the pause held, changes nothing.
func (b *Backoff) Restore(s BackoffState) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.Until.After(b.st.Until) {
		b.st = s
	}
}

// State is the pause held (zero Until when none ever was).
func (b *Backoff) State() BackoffState {
	if b == nil {
		return BackoffState{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st
}

// Hold returns nil when op may be sent now, else the error it fails with
// without being sent: the pause's kind (rate_limited or banned, neither
// of which ever means an order may have been placed) and the time left.
func (b *Backoff) Hold(op string) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	st := b.st
	b.mu.Unlock()
	left := st.Until.Sub(b.now())
	if left <= 0 {
		return nil
	}
	kind := KindRateLimited
	if st.Kind == KindBanned.String() {
		kind = KindBanned
	}
	return &Error{Kind: kind, RetryAfter: left,
		Msg: fmt.Sprintf("%s: not sent: the exchange asked for a pause until %s (%s), %s from now", op, st.Until.UTC().Format(time.RFC3339), st.Reason, left.Round(time.Second))}
}

// Observe takes a failed request's error: a rate limit or a ban with a
// RetryAfter starts (or lengthens) the pause.
func (b *Backoff) Observe(err error) {
	var xe *Error
	if b == nil || !errors.As(err, &xe) || xe.RetryAfter <= 0 || (xe.Kind != KindRateLimited && xe.Kind != KindBanned) {
		return
	}
	now := b.now()
	s := BackoffState{Until: now.Add(xe.RetryAfter), Kind: xe.Kind.String(), Reason: xe.Msg}
	if len(s.Reason) > 300 {
		s.Reason = strings.ToValidUTF8(s.Reason[:300], "")
	}
	b.mu.Lock()
	longer := s.Until.After(b.st.Until)
	if longer {
		b.st = s
	}
	b.mu.Unlock()
	if longer && xe.RetryAfter >= PersistAfter && b.persist != nil {
		b.pmu.Lock()
		defer b.pmu.Unlock()
		b.persist(b.State())
	}
}
