package notify

import (
	"errors"
	"fmt"
	"time"
)

// KindAuditHead is the daily note of the audit chain's head.
const KindAuditHead = "audit_head"

// AuditHead is the audit chain's head (its last record's seq and hash) on
// a day: published once a day so a copy lives outside the machine, and
// records deleted from the end of the chain are found later with
// `warden audit verify --expect-head SEQ:HASH`.
type AuditHead struct {
	Seq  int64
	Hash string // hex
	Day  time.Time
}

// Message implements Event; the dedup key is the day (UTC), so it is
// enqueued once a day per channel.
func (h AuditHead) Message() (Message, error) {
	if h.Seq <= 0 || len(h.Hash) != 64 {
		return Message{}, errors.New("audit head without a seq and a 64-digit hash")
	}
	day := h.Day.UTC().Format(time.DateOnly)
	return Message{
		Kind:     KindAuditHead,
		Title:    "Audit chain head " + day,
		Text:     fmt.Sprintf("Head: %d:%s\nKeep this message. To check that no record was removed since:\nwarden audit verify --expect-head %d:%s", h.Seq, h.Hash, h.Seq, h.Hash),
		DedupKey: KindAuditHead + ":" + day,
	}, nil
}
