package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/warden-trading/warden/agent/redact"
	"github.com/warden-trading/warden/schemas"
)

// DefaultSlackAPIURL is the Slack Web API base URL.
const DefaultSlackAPIURL = "https://slack.com/api/"

// SlackConfig configures Slack: either an incoming webhook (WebhookURL) or
// the Web API's chat.postMessage (Token and Channel). WebhookURL and Token
// are secrets: the config's String, GoString and LogValue hide them.
type SlackConfig struct {
	WebhookURL string // https://hooks.slack.com/services/T…/B…/…
	Token      string // bot token, xoxb-…
	Channel    string // channel id or name, for chat.postMessage
	APIURL     string // Web API base; empty means DefaultSlackAPIURL
	// HTTPClient is used for every request; nil means a client with a 15 s
	// timeout.
	HTTPClient *http.Client
}

// Enabled reports whether any Slack destination is configured.
func (c SlackConfig) Enabled() bool { return c.WebhookURL != "" || c.Token != "" }

// String describes c without its secrets.
func (c SlackConfig) String() string {
	switch {
	case c.WebhookURL != "" && c.Token != "":
		return "slack(webhook and token: ambiguous)"
	case c.WebhookURL != "":
		return "slack(webhook " + redacted + ")"
	case c.Token != "":
		return fmt.Sprintf("slack(chat.postMessage to %q, token %s)", c.Channel, redacted)
	default:
		return "slack(off)"
	}
}

// GoString hides secrets from %#v.
func (c SlackConfig) GoString() string { return c.String() }

// LogValue hides secrets from slog.
func (c SlackConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

// SlackSender posts notifications to Slack.
type SlackSender struct {
	webhookURL string
	channel    string
	api        *slack.Client
	client     *http.Client
	redact     *redact.Redactor
}

var _ Sender = (*SlackSender)(nil)

// NewSlackSender checks c and returns a sender. It makes no request.
func NewSlackSender(c SlackConfig) (*SlackSender, error) {
	client := c.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	s := &SlackSender{client: client}
	switch {
	case c.WebhookURL != "" && c.Token != "":
		return nil, errors.New("notify: slack: set either a webhook URL or a token and channel, not both")
	case c.WebhookURL != "":
		u, err := url.Parse(c.WebhookURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			// The parse error would quote the URL: keep it out.
			return nil, errors.New("notify: slack: webhook URL is not an http(s) URL")
		}
		if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
			// Its path is the credential: in clear, anyone on the way
			// could post to the channel.
			return nil, errors.New("notify: slack: webhook URL is plain http:// to a host other than this machine: its path is the secret, readable by anyone on the way; use https:// (plain http is for a proxy or fake on 127.0.0.1, ::1 or localhost)")
		}
		s.webhookURL = c.WebhookURL
		s.redact = newRedactor(c.WebhookURL, u.Path, u.EscapedPath(), u.RawQuery)
	case c.Token != "":
		if strings.TrimSpace(c.Channel) == "" {
			return nil, errors.New("notify: slack: a channel is required with a token")
		}
		api := c.APIURL
		if api == "" {
			api = DefaultSlackAPIURL
		}
		if u, err := url.Parse(api); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("notify: slack: API URL %q is not an http(s) URL", api)
		}
		if !strings.HasSuffix(api, "/") {
			api += "/"
		}
		s.channel = c.Channel
		s.api = slack.New(c.Token, slack.OptionAPIURL(api), slack.OptionHTTPClient(client))
		s.redact = newRedactor(c.Token, url.QueryEscape(c.Token))
	default:
		return nil, errors.New("notify: slack: no webhook URL and no token")
	}
	return s, nil
}

// Channel implements Sender.
func (s *SlackSender) Channel() string { return ChannelSlack }

// Send posts n. Its title is bold and all text is escaped for mrkdwn.
func (s *SlackSender) Send(ctx context.Context, n schemas.Notification) error {
	return s.sendRaw(ctx, formatSlack(n.Title, n.Text))
}

// sendRaw posts text, already escaped, as is.
func (s *SlackSender) sendRaw(ctx context.Context, text string) error {
	if s.webhookURL != "" {
		no := false
		var body []byte
		hc := &http.Client{
			Timeout:   s.client.Timeout,
			Transport: &captureTransport{base: s.client.Transport, body: &body},
		}
		err := slack.PostWebhookCustomHTTPContext(ctx, s.webhookURL, hc, &slack.WebhookMessage{
			Text:        text,
			UnfurlLinks: &no,
			UnfurlMedia: &no,
		})
		if err != nil {
			return s.classify("webhook", err, body)
		}
		return nil
	}
	_, _, err := s.api.PostMessageContext(ctx, s.channel,
		slack.MsgOptionText(text, false), // escaped above
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	)
	if err != nil {
		return s.classify("chat.postMessage", err, nil)
	}
	return nil
}

// slackTransient are Web API error codes worth retrying; every other code
// (channel_not_found, invalid_auth, not_in_channel, invalid_payload, …)
// will fail the same way again.
var slackTransient = map[string]bool{
	"ratelimited":         true,
	"rate_limited":        true,
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"team_added_to_org":   true,
}

func (s *SlackSender) classify(method string, err error, body []byte) *SendError {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return &SendError{RetryAfter: rl.RetryAfter, Code: "ratelimited",
			Msg: fmt.Sprintf("slack %s: ratelimited (HTTP 429), retry after %s", method, rl.RetryAfter)}
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		// Redacted before anything is cut from it: a proxy's error page
		// may echo the webhook's path, and a cut secret is no longer
		// recognised (the capture itself stops at 4 KiB, maybe inside one).
		code, retry := slackErrorBody([]byte(s.redact.Cut(string(body), len(body))))
		msg := fmt.Sprintf("slack %s: HTTP %d", method, sc.Code)
		if code != "" {
			msg += ": " + s.redact.String(code)
		}
		e := &SendError{Code: code, Msg: msg}
		if e.Code == "" {
			e.Code = fmt.Sprint(sc.Code)
		}
		switch {
		case sc.Code == http.StatusTooManyRequests:
			e.RetryAfter = retry
		case sc.Code >= 500 || sc.Code == http.StatusRequestTimeout:
		default:
			e.Permanent = true
		}
		return e
	}
	var er slack.SlackErrorResponse
	if errors.As(err, &er) {
		return &SendError{Permanent: !slackTransient[er.Err], Code: er.Err,
			Msg: fmt.Sprintf("slack %s: %s", method, s.redact.String(er.Err))}
	}
	return &SendError{Msg: fmt.Sprintf("slack %s: %s", method, s.redact.String(err.Error()))}
}

// slackErrorBody reads an error body: webhooks answer plain text
// ("invalid_payload") or, when rate limited, JSON with "error" and
// "retry_after" (seconds).
func slackErrorBody(body []byte) (code string, retryAfter time.Duration) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return "", 0
	}
	var j struct {
		Error      string  `json:"error"`
		RetryAfter float64 `json:"retry_after"`
	}
	if body[0] == '{' && json.Unmarshal(body, &j) == nil {
		return oneLine(truncateRunes(j.Error, 100)), time.Duration(j.RetryAfter * float64(time.Second))
	}
	// Plain text: keep a short first line only (HTML error pages are long).
	line, _, _ := strings.Cut(string(body), "\n")
	return truncateRunes(strings.TrimSpace(line), 100), 0
}

// captureTransport keeps the body of a non-2xx response, which slack-go's
// webhook call discards, so the error can be named.
type captureTransport struct {
	base http.RoundTripper
	body *[]byte
}

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil || resp.StatusCode < 300 {
		return resp, err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	*t.body = b
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// loopbackHost reports whether host is this machine: localhost or a
// loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
