package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-trading/warden/schemas"
)

// nasty is text a model or an exchange could put in a notification.
const nasty = "<script>alert(1)</script> _*[]()~`>#+-=|{}.! & &amp; <!channel> <@U024BE7LH> <https://evil.example|click> ünï©ødé 🚀"

func slackSenders(t *testing.T, f *fakeSlack) map[string]*SlackSender {
	t.Helper()
	hook, err := NewSlackSender(SlackConfig{WebhookURL: f.WebhookURL()})
	if err != nil {
		t.Fatal(err)
	}
	api, err := NewSlackSender(SlackConfig{Token: f.token, Channel: f.channel, APIURL: f.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*SlackSender{"webhook": hook, "chat.postMessage": api}
}

func TestSlackSendEscapes(t *testing.T) {
	for _, name := range []string{"webhook", "chat.postMessage"} {
		t.Run(name, func(t *testing.T) {
			f := newFakeSlack(t)
			s := slackSenders(t, f)[name]
			n := schemas.Notification{ID: 1, Channel: ChannelSlack, Title: "Rejected: " + nasty, Text: "Rationale: " + nasty + "\nline 2"}
			if err := s.Send(context.Background(), n); err != nil {
				t.Fatalf("Send() = %v", err)
			}
			got := f.Texts()
			// The title's own asterisks would end the bold early: they are
			// replaced by a look-alike.
			want := "*Rejected: " + strings.ReplaceAll(nasty, "*", "∗") + "*\nRationale: " + nasty + "\nline 2"
			if len(got) != 1 || got[0] != want {
				t.Fatalf("fake received %q; want %q", got, want)
			}
			if raw := f.Raw()[0]; !strings.Contains(raw, "&lt;!channel&gt;") || strings.Contains(raw, "<!channel>") {
				t.Errorf("raw text %q: <!channel> not escaped", raw)
			}
		})
	}
}

func TestSlackErrorsClassified(t *testing.T) {
	tests := []struct {
		sender    string
		reply     reply
		permanent bool
		retry     time.Duration
		code      string
	}{
		{"webhook", reply{status: 400, file: "slack/webhook_400_invalid_payload.txt"}, true, 0, "invalid_payload"},
		{"webhook", reply{status: 400, file: "slack/webhook_400_user_not_found.txt"}, true, 0, "user_not_found"},
		{"webhook", reply{status: 403, file: "slack/webhook_403_action_prohibited.txt"}, true, 0, "action_prohibited"},
		{"webhook", reply{status: 404, file: "slack/webhook_404_channel_not_found.txt"}, true, 0, "channel_not_found"},
		{"webhook", reply{status: 404, file: "slack/webhook_404_no_service.txt"}, true, 0, "no_service"},
		{"webhook", reply{status: 410, file: "slack/webhook_410_channel_is_archived.txt"}, true, 0, "channel_is_archived"},
		{"webhook", reply{status: 500, file: "slack/webhook_500_rollup_error.txt"}, false, 0, "rollup_error"},
		{"webhook", reply{status: 429, file: "slack/webhook_429_rate_limited.json"}, false, time.Second, "rate_limited"},
		{"webhook", reply{status: 429, file: "slack/web_api_429_ratelimited.json", headers: map[string]string{"Retry-After": "3"}}, false, 3 * time.Second, "ratelimited"},
		{"chat.postMessage", reply{status: 200, file: "slack/chat.postMessage_error_channel_not_found.json"}, true, 0, "channel_not_found"},
		{"chat.postMessage", reply{status: 200, file: "slack/chat.postMessage_error_invalid_auth.json"}, true, 0, "invalid_auth"},
		{"chat.postMessage", reply{status: 200, file: "slack/chat.postMessage_error_not_in_channel.json"}, true, 0, "not_in_channel"},
		{"chat.postMessage", reply{status: 200, file: "slack/chat.postMessage_error_too_many_attachments.json"}, true, 0, "too_many_attachments"},
		{"chat.postMessage", reply{status: 429, file: "slack/web_api_429_ratelimited.json", headers: map[string]string{"Retry-After": "1"}}, false, time.Second, "ratelimited"},
		{"chat.postMessage", reply{status: 503, ctype: "text/html"}, false, 0, "503"},
	}
	for _, tt := range tests {
		t.Run(tt.sender+"/"+tt.reply.file, func(t *testing.T) {
			f := newFakeSlack(t)
			f.push(tt.reply)
			err := slackSenders(t, f)[tt.sender].Send(context.Background(), schemas.Notification{Title: "t", Text: "x"})
			var se *SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send() = %v (%T); want *SendError", err, err)
			}
			if se.Permanent != tt.permanent || se.RetryAfter != tt.retry || se.Code != tt.code {
				t.Errorf("Send() = %+v; want permanent %v, retry after %v, code %q", se, tt.permanent, tt.retry, tt.code)
			}
			if !strings.Contains(se.Error(), tt.code) {
				t.Errorf("error %q does not name %q", se, tt.code)
			}
		})
	}
}

func TestSlackFakeRefusesUnescaped(t *testing.T) {
	// The fake is strict about escaping; check it refuses what it should,
	// so the escaping test above means something.
	f := newFakeSlack(t)
	s := slackSenders(t, f)["webhook"]
	err := s.sendRaw(context.Background(), "<!channel> hi")
	var se *SendError
	if !errors.As(err, &se) || !se.Permanent || se.Code != "invalid_payload" {
		t.Errorf("unescaped send = %v; want permanent invalid_payload", err)
	}
}

func TestSlackSecretsNeverLeak(t *testing.T) {
	f := newFakeSlack(t)
	senders := slackSenders(t, f)
	f.Stop() // connection refused: the client's error quotes the URL
	secrets := []string{f.webhookPath, "sekritHookPart1234", f.token}
	for name, s := range senders {
		err := s.Send(context.Background(), schemas.Notification{Title: "t", Text: "x"})
		if err == nil {
			t.Fatalf("%s: Send() to a stopped server = nil", name)
		}
		var se *SendError
		if !errors.As(err, &se) || se.Permanent {
			t.Errorf("%s: Send() = %v; want a transient *SendError", name, err)
		}
		for _, sec := range secrets {
			if strings.Contains(err.Error(), sec) {
				t.Errorf("%s: error %q leaks %q", name, err, sec)
			}
		}
	}

	cfgs := []any{
		SlackConfig{WebhookURL: f.WebhookURL()},
		SlackConfig{Token: f.token, Channel: "C1"},
	}
	for _, c := range cfgs {
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "slack", c)
		for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), buf.String()} {
			for _, sec := range secrets {
				if strings.Contains(s, sec) {
					t.Errorf("formatted config %q leaks %q", s, sec)
				}
			}
		}
	}
}

func TestSlackConfigErrors(t *testing.T) {
	for _, ok := range []string{"https://hooks.slack.com/services/T1/B1/x", "http://127.0.0.1:8080/services/T1/B1/x", "http://localhost/x", "http://[::1]:9/x"} {
		if _, err := NewSlackSender(SlackConfig{WebhookURL: ok}); err != nil {
			t.Errorf("NewSlackSender(%s) = %v; want accepted", ok, err)
		}
	}
	tests := []struct {
		name string
		c    SlackConfig
		want string
	}{
		{"nothing", SlackConfig{}, "no webhook URL and no token"},
		{"both", SlackConfig{WebhookURL: "https://hooks.slack.com/services/x", Token: "xoxb-1"}, "not both"},
		{"token without channel", SlackConfig{Token: "xoxb-1"}, "channel is required"},
		{"bad webhook", SlackConfig{WebhookURL: "hooks.slack.com/services/T1/B1/sekritPart"}, "not an http(s) URL"},
		{"bad api url", SlackConfig{Token: "xoxb-1", Channel: "C1", APIURL: "ftp://x"}, "not an http(s) URL"},
		// The webhook's path is its secret: plain http only to this machine.
		{"plain http webhook", SlackConfig{WebhookURL: "http://hooks.example.com/services/T1/B1/sekritPart"}, "plain http:// to a host other than this machine"},
		{"plain http webhook by address", SlackConfig{WebhookURL: "http://10.0.0.5:8080/services/T1/B1/sekritPart"}, "plain http:// to a host other than this machine"},
		{"a carriage return from an env file", SlackConfig{WebhookURL: "https://hooks.slack.com/services/T1/B1/sekritPart\r"}, "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSlackSender(tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewSlackSender() = %v; want error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "sekrit") {
				t.Errorf("error %q leaks the webhook URL", err)
			}
		})
	}
}

// TestSlackErrorPageEchoingTheWebhookIsRedacted: a proxy or web server in
// front of the webhook answers 404 with a page that repeats the request's
// path (the secret part of the URL). Wherever the 100 characters kept of
// the page's first line end, no piece of the secret reaches the error
// (which is logged and stored as the delivery's outcome).
func TestSlackErrorPageEchoingTheWebhookIsRedacted(t *testing.T) {
	const path = "/services/T0SECRETAA/B0SECRETBB/XyZsEcReTwebhook123"
	var pad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "%sThe requested URL %s was not found on this server.\n", strings.Repeat("x", int(pad.Load())), r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	s, err := NewSlackSender(SlackConfig{WebhookURL: srv.URL + path})
	if err != nil {
		t.Fatal(err)
	}
	secret := path[len("/services/"):]
	for _, n := range []int{0, 40, 50, 60, 65, 70, 75, 80, 90, 95, 99} {
		pad.Store(int64(n))
		err := s.Send(context.Background(), schemas.Notification{Title: "t", Text: "x"})
		var se *SendError
		if !errors.As(err, &se) || !se.Permanent {
			t.Fatalf("pad %d: Send() = %v; want a permanent *SendError (404)", n, err)
		}
		msg := err.Error()
		for i := 0; i+8 <= len(secret); i++ {
			if piece := secret[i : i+8]; strings.Contains(msg, piece) {
				t.Errorf("pad %d: error %q holds %q, a piece of the webhook's secret path", n, msg, piece)
				break
			}
		}
	}
}
