package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
	"github.com/warden-trading/warden/agent/redact"
	"github.com/warden-trading/warden/schemas"
)

// DefaultTelegramServerURL is the Bot API server.
const DefaultTelegramServerURL = "https://api.telegram.org"

// TelegramConfig configures the Telegram Bot API. Token is a secret: the
// config's String, GoString and LogValue hide it.
type TelegramConfig struct {
	Token     string // 123456:ABC…
	ChatID    string // numeric chat id ("-100…" for channels) or "@channelusername"
	ServerURL string // empty means DefaultTelegramServerURL
	// HTTPClient is used for every request; nil means a client with a 15 s
	// timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger // for the client library's own errors; nil means discard
}

// Enabled reports whether Telegram is configured.
func (c TelegramConfig) Enabled() bool { return c.Token != "" }

// String describes c without its token.
func (c TelegramConfig) String() string {
	if c.Token == "" {
		return "telegram(off)"
	}
	return fmt.Sprintf("telegram(chat %q, token %s)", c.ChatID, redacted)
}

// GoString hides the token from %#v.
func (c TelegramConfig) GoString() string { return c.String() }

// LogValue hides the token from slog.
func (c TelegramConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

// TelegramSender sends notifications with the Bot API's sendMessage, in
// HTML parse mode. It never polls for updates: the bot reads no messages
// and obeys no commands.
type TelegramSender struct {
	bot    *bot.Bot
	chatID any // int64 or "@name"
	redact *redact.Redactor
}

var _ Sender = (*TelegramSender)(nil)

// NewTelegramSender checks c and returns a sender. It makes no request
// (getMe is skipped).
func NewTelegramSender(c TelegramConfig) (*TelegramSender, error) {
	if strings.TrimSpace(c.Token) == "" {
		return nil, errors.New("notify: telegram: no token")
	}
	var chat any
	switch id := strings.TrimSpace(c.ChatID); {
	case id == "":
		return nil, errors.New("notify: telegram: no chat id")
	case strings.HasPrefix(id, "@") && len(id) > 1:
		chat = id
	default:
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("notify: telegram: chat id %q is neither a number nor @channelusername", id)
		}
		chat = n
	}
	server := c.ServerURL
	if server == "" {
		server = DefaultTelegramServerURL
	}
	if u, err := url.Parse(server); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("notify: telegram: server URL %q is not an http(s) URL", server)
	}
	client := c.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	red := newRedactor(c.Token, url.PathEscape(c.Token), url.QueryEscape(c.Token))
	b, err := bot.New(c.Token,
		bot.WithSkipGetMe(),
		bot.WithServerURL(strings.TrimRight(server, "/")),
		bot.WithHTTPClient(client.Timeout, client),
		bot.WithErrorsHandler(func(err error) {
			log.Warn("telegram client error", "err", red.String(err.Error()))
		}),
		bot.WithDebugHandler(func(string, ...any) {}),
	)
	if err != nil {
		return nil, fmt.Errorf("notify: telegram: %s", red.String(err.Error()))
	}
	return &TelegramSender{bot: b, chatID: chat, redact: red}, nil
}

// Channel implements Sender.
func (t *TelegramSender) Channel() string { return ChannelTelegram }

// Send sends n as HTML (title in bold, all text escaped). Should Telegram
// still refuse the markup ("can't parse entities"), the same message is
// sent once more as plain text rather than lost.
func (t *TelegramSender) Send(ctx context.Context, n schemas.Notification) error {
	err := t.send(ctx, formatTelegramHTML(n.Title, n.Text), models.ParseModeHTML)
	if err != nil && errors.Is(err, bot.ErrorBadRequest) && strings.Contains(strings.ToLower(err.Error()), "can't parse entities") {
		err = t.send(ctx, formatPlain(n.Title, n.Text), "")
	}
	if err != nil {
		return t.classify(err)
	}
	return nil
}

func (t *TelegramSender) send(ctx context.Context, text string, mode models.ParseMode) error {
	_, err := t.bot.SendMessage(ctx, &bot.SendMessageParams{
		ChatID:             t.chatID,
		Text:               text,
		ParseMode:          mode,
		LinkPreviewOptions: &models.LinkPreviewOptions{IsDisabled: bot.True()},
	})
	return err
}

var retryAfterText = regexp.MustCompile(`(?i)retry after (\d+)`)

func (t *TelegramSender) classify(err error) *SendError {
	msg := "telegram sendMessage: " + t.redact.String(err.Error())
	var tm *bot.TooManyRequestsError
	if errors.As(err, &tm) {
		retry := time.Duration(tm.RetryAfter) * time.Second
		if retry <= 0 {
			// Old servers named the wait only in the description.
			if m := retryAfterText.FindStringSubmatch(tm.Message); m != nil {
				if s, err := strconv.Atoi(m[1]); err == nil {
					retry = time.Duration(s) * time.Second
				}
			}
		}
		return &SendError{RetryAfter: retry, Code: "429", Msg: msg}
	}
	var mig *bot.MigrateError
	switch {
	case errors.As(err, &mig):
		return &SendError{Permanent: true, Code: "400", Msg: msg + " (update the chat id)"}
	case errors.Is(err, bot.ErrorBadRequest): // chat not found, can't parse entities, …
		return &SendError{Permanent: true, Code: "400", Msg: msg}
	case errors.Is(err, bot.ErrorForbidden): // bot blocked, can't initiate conversation
		return &SendError{Permanent: true, Code: "403", Msg: msg}
	case errors.Is(err, bot.ErrorUnauthorized):
		return &SendError{Permanent: true, Code: "401", Msg: msg}
	case errors.Is(err, bot.ErrorNotFound): // the Bot API answers 404 to a bad token
		return &SendError{Permanent: true, Code: "404", Msg: msg}
	}
	// Network errors, 5xx, unreadable bodies: try again later.
	return &SendError{Msg: msg}
}
