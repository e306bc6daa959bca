package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

func emailConfig(s *smtpServer, security string) EmailConfig {
	return EmailConfig{
		Host: "127.0.0.1", Port: s.Port(), Security: security,
		Username: s.user, Password: s.pass,
		From: "Warden <warden@example.com>", To: []string{"ops@example.com", "oncall@example.com"},
		Timeout:   5 * time.Second,
		TLSConfig: &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12},
	}
}

func testNotification() schemas.Notification {
	return schemas.Notification{ID: 7, Channel: ChannelEmail, Kind: KindBreaker, Title: "Breaker: safe mode <now>",
		Text: "3 consecutive errors & counting\nsecond line", DedupKey: "breaker-1", CreatedAt: time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)}
}

// TestEmailSendsOverSTARTTLSAndTLS: one message per notification, over
// STARTTLS and over TLS from the first byte, authenticated, to every
// recipient, with a plain-text body, an HTML alternative (escaped), the
// title as subject and a Message-ID derived from the notification.
func TestEmailSendsOverSTARTTLSAndTLS(t *testing.T) {
	for _, tc := range []struct {
		name     string
		implicit bool
		security string
	}{{"starttls", false, EmailSTARTTLS}, {"tls", true, EmailTLS}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSMTPServer(t, tc.implicit)
			snd, err := NewEmailSender(emailConfig(s, tc.security))
			if err != nil {
				t.Fatal(err)
			}
			if snd.Channel() != ChannelEmail {
				t.Errorf("Channel() = %q", snd.Channel())
			}
			if err := snd.Send(context.Background(), testNotification()); err != nil {
				t.Fatalf("Send() = %v", err)
			}
			ms := s.Messages()
			if len(ms) != 1 {
				t.Fatalf("server got %d messages; want 1", len(ms))
			}
			m := ms[0]
			if !m.TLS || m.AuthUser != "warden" || m.From != "warden@example.com" || strings.Join(m.To, ",") != "ops@example.com,oncall@example.com" {
				t.Errorf("envelope = tls %v user %q from %q to %v", m.TLS, m.AuthUser, m.From, m.To)
			}
			for _, want := range []string{
				"Subject: Breaker: safe mode <now>",
				"Message-ID: <warden.7.",
				"@example.com>",
				"multipart/alternative",
				"Content-Type: text/plain",
				"Content-Type: text/html",
				"X-Warden-Kind: breaker",
				"3 consecutive errors & counting",
				"&lt;now&gt;",
				"3 consecutive errors &amp; counting<br>",
			} {
				if !strings.Contains(m.Data, want) {
					t.Errorf("message lacks %q:\n%s", want, m.Data)
				}
			}
			if strings.Contains(m.Data, s.pass) {
				t.Error("the message contains the SMTP password")
			}
		})
	}
}

// TestEmailNeverSendsInPlainText: a server that does not offer STARTTLS
// gets nothing, not even the credentials; the failure is retried later.
func TestEmailNeverSendsInPlainText(t *testing.T) {
	s := newSMTPServer(t, false)
	s.noTLS = true
	snd, err := NewEmailSender(emailConfig(s, EmailSTARTTLS))
	if err != nil {
		t.Fatal(err)
	}
	err = snd.Send(context.Background(), testNotification())
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("Send() to a server without STARTTLS = %v; want a SendError", err)
	}
	if len(s.Messages()) != 0 {
		t.Errorf("a message was sent without TLS")
	}
	if strings.Contains(se.Msg, s.pass) {
		t.Errorf("error contains the password: %s", se.Msg)
	}
}

// TestEmailErrorClasses: a 4xx reply is tried again, a 5xx reply (a
// refused recipient, bad credentials) is given up; a server that is down
// is tried again; the password never appears in an error.
func TestEmailErrorClasses(t *testing.T) {
	s := newSMTPServer(t, false)
	snd, err := NewEmailSender(emailConfig(s, EmailSTARTTLS))
	if err != nil {
		t.Fatal(err)
	}
	send := func() *SendError {
		t.Helper()
		err := snd.Send(context.Background(), testNotification())
		if err == nil {
			return nil
		}
		var se *SendError
		if !errors.As(err, &se) {
			t.Fatalf("Send() error %T %v; want *SendError", err, err)
		}
		if strings.Contains(se.Msg, s.pass) {
			t.Errorf("error contains the password: %s", se.Msg)
		}
		return se
	}
	s.Reply("MAIL", "451 4.3.0 Mail server temporarily rejected message")
	if se := send(); se == nil || se.Permanent || se.Code != "451" {
		t.Errorf("451 on MAIL = %+v; want a retryable error with code 451", se)
	}
	s.Reply("RCPT", "550 5.1.1 No such user")
	if se := send(); se == nil || !se.Permanent || se.Code != "550" {
		t.Errorf("550 on RCPT = %+v; want a permanent error with code 550", se)
	}
	bad := emailConfig(s, EmailSTARTTLS)
	bad.Password = "wrong-password-123"
	badSnd, err := NewEmailSender(bad)
	if err != nil {
		t.Fatal(err)
	}
	err = badSnd.Send(context.Background(), testNotification())
	var se *SendError
	if !errors.As(err, &se) || !se.Permanent || strings.Contains(se.Msg, "wrong-password-123") {
		t.Errorf("bad credentials = %+v; want a permanent error without the password", se)
	}
	if len(s.Messages()) != 0 {
		t.Errorf("%d messages delivered despite the errors", len(s.Messages()))
	}
	if se := send(); se != nil {
		t.Fatalf("Send() after the faults = %v", se)
	}
	port := s.Port()
	s.Close()
	down := emailConfig(s, EmailSTARTTLS)
	down.Port = port
	downSnd, _ := NewEmailSender(down)
	err = downSnd.Send(context.Background(), testNotification())
	if !errors.As(err, &se) || se.Permanent {
		t.Errorf("server down = %v; want a retryable error", err)
	}
}

func TestEmailConfigChecks(t *testing.T) {
	good := EmailConfig{Host: "smtp.example.com", Username: "u", Password: "p4ssword-xyz", From: "w@example.com", To: []string{"a@example.com"}}
	if _, err := NewEmailSender(good); err != nil {
		t.Fatalf("NewEmailSender(good) = %v", err)
	}
	if s := fmt.Sprintf("%v %#v %s", good, good, good.LogValue()); strings.Contains(s, "p4ssword-xyz") {
		t.Errorf("config printed with its password: %s", s)
	}
	if good.port() != 587 || (EmailConfig{Security: EmailTLS}).port() != 465 {
		t.Error("default ports are not 587 (starttls) and 465 (tls)")
	}
	for _, tc := range []struct {
		mod  func(*EmailConfig)
		want string
	}{
		{func(c *EmailConfig) { c.Host = "" }, "no SMTP host"},
		{func(c *EmailConfig) { c.Host = "smtp.example.com:587" }, "not a host name"},
		{func(c *EmailConfig) { c.Security = "none" }, `security "none" is not starttls or tls`},
		{func(c *EmailConfig) { c.Password = "" }, "both the username and the password"},
		{func(c *EmailConfig) { c.From = "warden" }, "from \"warden\" is not an e-mail address"},
		{func(c *EmailConfig) { c.To = nil }, "no recipient"},
		{func(c *EmailConfig) { c.To = []string{"ops at example"} }, "is not an e-mail address"},
		{func(c *EmailConfig) { c.Port = 70000 }, "is not a TCP port"},
	} {
		c := good
		tc.mod(&c)
		if _, err := NewEmailSender(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewEmailSender(%v) = %v; want %q", c, err, tc.want)
		}
	}
	if replyCode("535 5.7.8 bad") != 535 || replyCode("x: 451-4.3.0 later") != 451 || replyCode("dial tcp 127.0.0.1:4512: refused") != 0 {
		t.Error("replyCode reads the wrong code")
	}
}

// TestEmailThroughTheOutbox: notifications go through the real SQLite
// outbox and the Dispatcher like Slack's and Telegram's: an event
// published twice is sent once, a 4xx reply is retried after the backoff
// and the message then delivered exactly once, and a second process
// (a reopened store) has nothing left to send.
func TestEmailThroughTheOutbox(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "warden.db")
	st, err := audit.Open(ctx, path, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()
	s := newSMTPServer(t, false)
	snd, err := NewEmailSender(emailConfig(s, EmailSTARTTLS))
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	n, err := NewNotifier(NotifierConfig{Outbox: st, Channels: []string{ChannelEmail}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := n.Publish(ctx, Decision{ID: "d-1", Verdict: approvedVerdict()}); err != nil {
			t.Fatal(err)
		}
	}
	s.Reply("MAIL", "421 4.7.0 Try again later, closing connection")
	d, err := NewDispatcher(DispatcherConfig{Outbox: st, Sender: snd, Now: clk.Now, Sleep: clk.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(s.Messages()); got != 0 {
		t.Fatalf("%d messages after a 421; want 0", got)
	}
	clk.Advance(time.Hour)
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ms := s.Messages()
	if len(ms) != 1 || !strings.Contains(ms[0].Data, "BTC/USDT") {
		t.Fatalf("messages after the retry = %d; want the one approval", len(ms))
	}
	st.Close()
	st, err = audit.Open(ctx, path, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := NewDispatcher(DispatcherConfig{Outbox: st, Sender: snd, Now: clk.Now, Sleep: clk.Sleep})
	clk.Advance(time.Hour)
	if err := d2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(s.Messages()); got != 1 {
		t.Errorf("a second process sent it again: %d messages", got)
	}
}
