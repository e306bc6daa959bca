package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/schemas"
)

func telegramSender(t *testing.T, f *fakeTelegram) *TelegramSender {
	t.Helper()
	s, err := NewTelegramSender(TelegramConfig{Token: f.token, ChatID: f.chat, ServerURL: f.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTelegramSendEscapesHTML(t *testing.T) {
	f := newFakeTelegram(t)
	s := telegramSender(t, f)
	n := schemas.Notification{Title: "Rejected: " + nasty, Text: "Rationale: " + nasty + "\n<b>not bold</b> &lt; literally"}
	if err := s.Send(context.Background(), n); err != nil {
		t.Fatalf("Send() = %v", err)
	}
	want := "Rejected: " + nasty + "\nRationale: " + nasty + "\n<b>not bold</b> &lt; literally"
	if got := f.Texts(); len(got) != 1 || got[0] != want {
		t.Fatalf("fake parsed %q; want %q", got, want)
	}
	if got := f.Modes(); got[0] != "HTML" {
		t.Errorf("parse_mode = %q; want HTML", got[0])
	}
}

func TestTelegramFakeRefusesBadHTML(t *testing.T) {
	for _, in := range []string{"<script>x</script>", "a & b", "<b>open", "</b>", "x > y", "&bogus;"} {
		if got, ok := telegramParseHTML(in); ok {
			t.Errorf("telegramParseHTML(%q) = %q, true; want false", in, got)
		}
	}
	if got, ok := telegramParseHTML("<b>a &lt;&amp;&gt;</b> b"); !ok || got != "a <&> b" {
		t.Errorf("telegramParseHTML(valid) = %q, %v; want %q, true", got, ok, "a <&> b")
	}
}

func TestTelegramCantParseFallsBackToPlain(t *testing.T) {
	f := newFakeTelegram(t)
	f.push(reply{status: 400, file: "telegram/error_400_cant_parse_entities.json"})
	s := telegramSender(t, f)
	if err := s.Send(context.Background(), schemas.Notification{Title: "T <x>", Text: "body & more"}); err != nil {
		t.Fatalf("Send() = %v; want the plain-text retry to succeed", err)
	}
	if got, want := f.Texts(), []string{"T <x>\nbody & more"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered %q; want %q", got, want)
	}
	if got := f.Modes(); len(got) != 1 || got[0] != "" {
		t.Errorf("modes %q; want one plain-text message", got)
	}
	if f.Calls() != 2 {
		t.Errorf("calls = %d; want 2", f.Calls())
	}
}

func TestTelegramErrorsClassified(t *testing.T) {
	tests := []struct {
		name      string
		replies   []reply
		chat      string
		token     string
		permanent bool
		retry     time.Duration
		code      string
		msgHas    string
	}{
		{"429 retry_after", []reply{{status: 429, file: "telegram/error_429_retry_after.json"}}, "", "", false, 2 * time.Second, "429", "retry after 2"},
		{"429 large", []reply{{status: 429, file: "telegram/error_429_retry_after_large.json"}}, "", "", false, 2282 * time.Second, "429", "2282"},
		{"429 legacy without parameters", []reply{{status: 429, file: "telegram/error_429_legacy_no_parameters.json"}}, "", "", false, 3 * time.Second, "429", "retry after 3"},
		{"403 bot blocked", []reply{{status: 403, file: "telegram/error_403_bot_blocked.json"}}, "", "", true, 0, "403", "bot was blocked"},
		{"403 cant initiate", []reply{{status: 403, file: "telegram/error_403_cant_initiate.json"}}, "", "", true, 0, "403", "can't initiate"},
		{"400 chat not found", nil, "777", "", true, 0, "400", "chat not found"},
		{"401 bad token", nil, "", "999:wrongTokenValue", true, 0, "401", "Unauthorized"},
		{"400 cant parse twice", []reply{{status: 400, file: "telegram/error_400_cant_parse_entities.json"}, {status: 400, file: "telegram/error_400_cant_parse_entities.json"}}, "", "", true, 0, "400", "can't parse entities"},
		{"500 html", []reply{{status: 502, ctype: "text/html"}}, "", "", false, 0, "", "sendMessage"},
		{"500 json", []reply{{status: 500, file: ""}}, "", "", false, 0, "", "sendMessage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTelegram(t)
			f.push(tt.replies...)
			cfg := TelegramConfig{Token: f.token, ChatID: f.chat, ServerURL: f.URL()}
			if tt.chat != "" {
				cfg.ChatID = tt.chat
			}
			if tt.token != "" {
				cfg.Token = tt.token
			}
			s, err := NewTelegramSender(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), schemas.Notification{Title: "t", Text: "x"})
			var se *SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send() = %v (%T); want *SendError", err, err)
			}
			if se.Permanent != tt.permanent || se.RetryAfter != tt.retry || se.Code != tt.code {
				t.Errorf("Send() = %+v; want permanent %v, retry after %v, code %q", se, tt.permanent, tt.retry, tt.code)
			}
			if !strings.Contains(se.Error(), tt.msgHas) {
				t.Errorf("error %q lacks %q", se, tt.msgHas)
			}
			if strings.Contains(se.Error(), cfg.Token) {
				t.Errorf("error %q leaks the token", se)
			}
		})
	}
}

func TestTelegramSecretsNeverLeak(t *testing.T) {
	f := newFakeTelegram(t)
	log, buf := testLogger()
	s, err := NewTelegramSender(TelegramConfig{Token: f.token, ChatID: f.chat, ServerURL: f.URL(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	f.Stop()
	err = s.Send(context.Background(), schemas.Notification{Title: "t", Text: "x"})
	var se *SendError
	if !errors.As(err, &se) || se.Permanent {
		t.Fatalf("Send() to a stopped server = %v; want a transient *SendError", err)
	}
	if !strings.Contains(se.Error(), "connection refused") {
		t.Errorf("error %q does not say connection refused", se)
	}
	secret := "AAsekritTelegramToken_xyz"
	if strings.Contains(se.Error(), secret) || strings.Contains(buf.String(), secret) {
		t.Errorf("token leaked: error %q, log %q", se, buf)
	}
	c := TelegramConfig{Token: f.token, ChatID: "1"}
	var lb bytes.Buffer
	slog.New(slog.NewTextHandler(&lb, nil)).Info("config", "telegram", c)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", c, c, c, c), lb.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("formatted config %q leaks the token", s)
		}
	}
}

func TestTelegramConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		c    TelegramConfig
		want string
	}{
		{"no token", TelegramConfig{ChatID: "1"}, "no token"},
		{"no chat", TelegramConfig{Token: "1:abcdefgh"}, "no chat id"},
		{"bad chat", TelegramConfig{Token: "1:abcdefgh", ChatID: "my chat"}, "neither a number"},
		{"bad server", TelegramConfig{Token: "1:abcdefgh", ChatID: "1", ServerURL: "api.telegram.org"}, "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewTelegramSender(tt.c); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewTelegramSender() = %v; want error containing %q", err, tt.want)
			}
		})
	}
	for _, id := range []string{"-1001234567890", "@warden_ops"} {
		if _, err := NewTelegramSender(TelegramConfig{Token: "1:abcdefgh", ChatID: id}); err != nil {
			t.Errorf("NewTelegramSender(chat %q) = %v; want nil", id, err)
		}
	}
}
