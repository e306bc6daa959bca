package notify

import (
	"strings"
	"testing"
	"time"
)

func TestAuditHeadMessage(t *testing.T) {
	h := strings.Repeat("0f", 32)
	day := time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)
	m, err := AuditHead{Seq: 42, Hash: h, Day: day}.Message()
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindAuditHead || m.DedupKey != "audit_head:2026-03-01" || !strings.Contains(m.Text, "--expect-head 42:"+h) {
		t.Errorf("message = %+v", m)
	}
	// The next minute is another day: another key.
	m2, _ := AuditHead{Seq: 43, Hash: h, Day: day.Add(time.Minute)}.Message()
	if m2.DedupKey == m.DedupKey {
		t.Errorf("two days share the key %s", m.DedupKey)
	}
	for _, bad := range []AuditHead{{Seq: 0, Hash: h}, {Seq: 1, Hash: h[:10]}} {
		if _, err := bad.Message(); err == nil {
			t.Errorf("Message(%+v) error = nil", bad)
		}
	}
}
