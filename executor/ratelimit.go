package executor

import (
	"sync"
	"time"
)

// RateLimiter is a sliding-window limit on orders sent: at most Max orders
// in any Window. It refuses rather than queues. Safe for concurrent use.
type RateLimiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	now    func() time.Time
	sent   []time.Time // oldest first, all within the window after prune
}

// NewRateLimiter allows max orders per window; max <= 0 allows none.
func NewRateLimiter(max int, window time.Duration, now func() time.Time) *RateLimiter {
	if now == nil {
		now = time.Now
	}
	return &RateLimiter{max: max, window: window, now: now}
}

func (r *RateLimiter) prune(now time.Time) {
	cut := now.Add(-r.window)
	i := 0
	for i < len(r.sent) && !r.sent[i].After(cut) {
		i++
	}
	r.sent = append(r.sent[:0], r.sent[i:]...)
}

// Allow records one order and returns true when it fits in the window;
// otherwise it records nothing and returns false.
func (r *RateLimiter) Allow() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.prune(now)
	if len(r.sent) >= r.max {
		return false
	}
	r.sent = append(r.sent, now)
	return true
}

// Record counts an order that is sent regardless of the limit (protective
// stops and exits).
func (r *RateLimiter) Record() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.prune(now)
	r.sent = append(r.sent, now)
}

// Count is the number of orders in the current window.
func (r *RateLimiter) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune(r.now())
	return len(r.sent)
}
