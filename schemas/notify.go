package schemas

import "time"

// Notification is one message for one channel, kept in the durable outbox
// until it is delivered or given up. Text is plain: each sender escapes it
// for its channel's markup.
type Notification struct {
	ID        int64     `json:"id"`
	Channel   string    `json:"channel"` // "slack" or "telegram"
	Kind      string    `json:"kind"`    // approved, rejected, fill, breaker, kill_switch, safe_mode, error, policy
	Title     string    `json:"title"`
	Text      string    `json:"text"`
	DedupKey  string    `json:"dedup_key"` // same key on the same channel is enqueued once
	RunID     string    `json:"run_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// DeliveryAttempt is one try at sending a Notification, appended to the
// outbox. Delivered or GaveUp ends the notification's life.
type DeliveryAttempt struct {
	NotificationID int64     `json:"notification_id"`
	At             time.Time `json:"at"`
	Delivered      bool      `json:"delivered"`
	GaveUp         bool      `json:"gave_up"`
	Error          string    `json:"error,omitempty"`
	// NextAttempt is the earliest time to try again (Retry-After honoured).
	NextAttempt time.Time `json:"next_attempt"`
}
