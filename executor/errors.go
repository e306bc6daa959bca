package executor

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an exchange error by what the caller may do next.
type Kind int

const (
	// KindUnknown is an error nobody classified: for a write, the outcome
	// is unknown and must be resolved by client order id.
	KindUnknown Kind = iota
	// KindNetwork is a transport failure or timeout: outcome unknown.
	KindNetwork
	// KindRejected means the exchange refused the request (insufficient
	// balance, filter failure, invalid symbol, duplicate client id...).
	// Nothing was placed.
	KindRejected
	// KindNotFound means the exchange has no such order.
	KindNotFound
	// KindRateLimited is HTTP 429; RetryAfter says how long to wait.
	KindRateLimited
	// KindBanned is HTTP 418: the IP is banned for RetryAfter.
	KindBanned
	// KindAuth is a bad key, signature or permission.
	KindAuth
	// KindTimestamp is a clock skew refusal (-1021): nothing was placed.
	KindTimestamp
	// KindUnavailable is a 5xx whose execution status is unknown.
	KindUnavailable
)

var kindNames = [...]string{"unknown", "network", "rejected", "not_found", "rate_limited", "banned", "auth", "timestamp", "unavailable"}

// KindNames are the names of every error kind, in order.
func KindNames() []string { return append([]string(nil), kindNames[:]...) }

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an exchange error with its classification. Msg must already be
// free of secrets: adapters redact before they build one.
type Error struct {
	Kind       Kind
	Code       string // the exchange's own code, e.g. "-2010"
	Msg        string
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("exchange %s (%s): %s", e.Kind, e.Code, e.Msg)
	}
	return fmt.Sprintf("exchange %s: %s", e.Kind, e.Msg)
}

// KindOf returns the Kind of err, KindUnknown when err is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// OutcomeUnknown reports whether a failed write may nevertheless have
// reached the exchange, so it must be resolved by client order id.
func OutcomeUnknown(err error) bool {
	switch KindOf(err) {
	case KindRejected, KindAuth, KindTimestamp, KindRateLimited, KindBanned, KindNotFound:
		return false
	}
	return true
}
