package notify

import (
	"context"
	"strings"
	"testing"
)

func BenchmarkPublishDecision(b *testing.B) {
	ob := newMemOutbox()
	ob.noDedup = true
	n, _ := NewNotifier(NotifierConfig{Outbox: ob, Channels: []string{ChannelSlack, ChannelTelegram}})
	ev := Decision{ID: "d-1", RunID: "r", Verdict: rejectedVerdict(), Rationale: strings.Repeat("because the trend is up ", 50)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := n.Publish(ctx, ev); err != nil {
			b.Fatal(err)
		}
		if len(ob.rows) > 10000 {
			ob.rows = ob.rows[:0]
		}
	}
}

func BenchmarkFormatTelegramHTML(b *testing.B) {
	m, _ := Decision{ID: "d-1", Verdict: rejectedVerdict(), Rationale: nasty}.Message()
	b.ReportAllocs()
	for b.Loop() {
		_ = formatTelegramHTML(m.Title, m.Text)
	}
}
