package notify

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-trading/warden/agent/audit"
)

var _ Outbox = (*audit.Store)(nil)

// TestOutboxDeliversEverythingAcrossRestart runs the outage scenario on the
// real SQLite outbox, closing the database file and opening it again
// in between, as a restart of warden does.
func TestOutboxDeliversEverythingAcrossRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "warden.db")
	runOutageScenario(t, func(t *testing.T) (Outbox, func() Outbox) {
		st, err := audit.Open(ctx, path, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cur := st
		t.Cleanup(func() { cur.Close() })
		return st, func() Outbox {
			if err := cur.Close(); err != nil {
				t.Fatalf("Close() = %v", err)
			}
			st2, err := audit.Open(ctx, path, audit.Options{})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			cur = st2
			return st2
		}
	})
}

// TestOutboxRowsHoldNoSecrets checks that failed attempts against a down
// server store errors without the webhook URL or the bot token.
func TestOutboxRowsHoldNoSecrets(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "warden.db")
	st, err := audit.Open(ctx, path, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs, ft := newFakeSlack(t), newFakeTelegram(t)
	senders, err := NewSenders(SlackConfig{WebhookURL: fs.WebhookURL()},
		TelegramConfig{Token: ft.token, ChatID: ft.chat, ServerURL: ft.URL()})
	if err != nil {
		t.Fatal(err)
	}
	fs.Stop()
	ft.Stop()
	clk := newFakeClock()
	n, _ := NewNotifier(NotifierConfig{Outbox: st, Channels: Channels(senders), Now: clk.Now})
	if err := n.Publish(ctx, Decision{ID: "d-1", Verdict: approvedVerdict()}); err != nil {
		t.Fatal(err)
	}
	for _, s := range senders {
		d, _ := NewDispatcher(DispatcherConfig{Outbox: st, Sender: s, Now: clk.Now, Sleep: clk.Sleep})
		if err := d.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	// Read the whole database file: no secret anywhere in it.
	raw := readFileAndWAL(t, path)
	for _, sec := range []string{"sekritHookPart1234", "AAsekritTelegramToken_xyz", "xoxb-"} {
		if strings.Contains(raw, sec) {
			t.Errorf("database file contains %q", sec)
		}
	}
	if !strings.Contains(raw, "connection refused") {
		t.Errorf("database file has no recorded failed attempt (\"connection refused\")")
	}
}
