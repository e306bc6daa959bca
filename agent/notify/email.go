package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/warden-trading/warden/agent/redact"
	"github.com/warden-trading/warden/schemas"
)

// ChannelEmail is the e-mail channel's name in the outbox.
const ChannelEmail = "email"

// E-mail transport security: STARTTLS on the submission port (587) or TLS
// from the first byte (465). There is no plain-text mode: credentials and
// trading news never cross the network unencrypted.
const (
	EmailSTARTTLS = "starttls"
	EmailTLS      = "tls"
)

// EmailConfig configures SMTP delivery. Password is a secret: the config's
// String, GoString and LogValue hide it.
type EmailConfig struct {
	Host string // smtp.example.com
	Port int    // 0: 587 for starttls, 465 for tls
	// Security is EmailSTARTTLS (default) or EmailTLS.
	Security string
	Username string // empty: no authentication
	Password string
	From     string   // warden@example.com, or "Warden <warden@example.com>"
	To       []string // at least one recipient
	// Timeout bounds connecting and each SMTP command; 0 means 15 s.
	Timeout time.Duration
	// TLSConfig, when set, is used for the TLS handshake (tests: a private
	// CA). Its ServerName defaults to Host. nil: the system roots, TLS 1.2+.
	TLSConfig *tls.Config
}

// Enabled reports whether e-mail is configured.
func (c EmailConfig) Enabled() bool { return c.Host != "" }

// String describes c without its password.
func (c EmailConfig) String() string {
	if c.Host == "" {
		return "email(off)"
	}
	pw := "none"
	if c.Password != "" {
		pw = redacted
	}
	return fmt.Sprintf("email(%s:%d %s, user %q, password %s, from %q, to %q)", c.Host, c.port(), c.security(), c.Username, pw, c.From, c.To)
}

// GoString hides the password from %#v.
func (c EmailConfig) GoString() string { return c.String() }

// LogValue hides the password from slog.
func (c EmailConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c EmailConfig) security() string {
	if c.Security == "" {
		return EmailSTARTTLS
	}
	return c.Security
}

func (c EmailConfig) port() int {
	switch {
	case c.Port != 0:
		return c.Port
	case c.security() == EmailTLS:
		return 465
	}
	return 587
}

// EmailSender sends notifications by SMTP, one message per notification
// with a plain-text body and an HTML alternative. It only sends.
type EmailSender struct {
	cfg     EmailConfig
	from    string
	to      []string
	timeout time.Duration
	tls     *tls.Config
	redact  *redact.Redactor
	domain  string // for Message-IDs
}

var _ Sender = (*EmailSender)(nil)

// NewEmailSender checks c and returns a sender. It makes no connection.
func NewEmailSender(c EmailConfig) (*EmailSender, error) {
	host := strings.TrimSpace(c.Host)
	if host == "" {
		return nil, errors.New("notify: email: no SMTP host")
	}
	if strings.ContainsAny(host, " /:") {
		return nil, fmt.Errorf("notify: email: host %q is not a host name (the port goes in port)", host)
	}
	if c.Port < 0 || c.Port > 65535 {
		return nil, fmt.Errorf("notify: email: port %d is not a TCP port", c.Port)
	}
	switch c.security() {
	case EmailSTARTTLS, EmailTLS:
	default:
		return nil, fmt.Errorf("notify: email: security %q is not %s or %s", c.Security, EmailSTARTTLS, EmailTLS)
	}
	if (c.Username == "") != (c.Password == "") {
		return nil, errors.New("notify: email: set both the username and the password, or neither")
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, fmt.Errorf("notify: email: from %q is not an e-mail address: %v", c.From, err)
	}
	if len(c.To) == 0 {
		return nil, errors.New("notify: email: no recipient (to)")
	}
	var to []string
	for _, r := range c.To {
		a, err := mail.ParseAddress(r)
		if err != nil {
			return nil, fmt.Errorf("notify: email: recipient %q is not an e-mail address: %v", r, err)
		}
		to = append(to, a.String())
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	var tc *tls.Config
	if c.TLSConfig != nil {
		tc = c.TLSConfig.Clone()
	} else {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	domain := host
	if _, d, ok := strings.Cut(from.Address, "@"); ok && d != "" {
		domain = d
	}
	c.Host = host
	return &EmailSender{cfg: c, from: from.String(), to: to, timeout: timeout, tls: tc, redact: newRedactor(c.Password), domain: domain}, nil
}

// Channel implements Sender.
func (e *EmailSender) Channel() string { return ChannelEmail }

// Send delivers n to every recipient in one SMTP transaction. The
// Message-ID is derived from the notification's id, so a retry after a
// lost reply carries the same id and mail systems can drop the duplicate.
func (e *EmailSender) Send(ctx context.Context, n schemas.Notification) error {
	m := gomail.NewMsg()
	if err := m.From(e.from); err != nil {
		return &SendError{Permanent: true, Msg: "email: from: " + err.Error()}
	}
	if err := m.To(e.to...); err != nil {
		return &SendError{Permanent: true, Msg: "email: to: " + err.Error()}
	}
	subject := oneLine(n.Title)
	if subject == "" {
		subject = "Warden: " + n.Kind
	}
	m.Subject(truncateRunes(subject, 200))
	m.SetMessageIDWithValue(fmt.Sprintf("warden.%d.%s@%s", n.ID, shortHash(n.DedupKey+"\x00"+n.Channel), e.domain))
	if !n.CreatedAt.IsZero() {
		m.SetDateWithValue(n.CreatedAt)
	} else {
		m.SetDate()
	}
	m.SetGenHeader("X-Warden-Kind", n.Kind)
	m.SetBodyString(gomail.TypeTextPlain, formatPlain(n.Title, n.Text))
	m.AddAlternativeString(gomail.TypeTextHTML, formatEmailHTML(n.Title, n.Text))

	// Every connection is dialled here and closed when Send returns:
	// go-mail leaves the connection open when STARTTLS or AUTH fails.
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	implicit := e.cfg.security() == EmailTLS
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := &net.Dialer{Timeout: e.timeout}
		var c net.Conn
		var err error
		if implicit {
			c, err = (&tls.Dialer{NetDialer: nd, Config: e.tls}).DialContext(ctx, network, addr)
		} else {
			c, err = nd.DialContext(ctx, network, addr)
		}
		if err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return c, err
	}
	opts := []gomail.Option{
		gomail.WithPort(e.cfg.port()),
		gomail.WithTimeout(e.timeout),
		gomail.WithTLSConfig(e.tls),
		gomail.WithDialContextFunc(dial),
	}
	if implicit {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if e.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain), gomail.WithUsername(e.cfg.Username), gomail.WithPassword(e.cfg.Password))
	}
	client, err := gomail.NewClient(e.cfg.Host, opts...)
	if err != nil {
		return &SendError{Permanent: true, Msg: "email: " + e.redact.String(err.Error())}
	}
	if err := client.DialAndSendWithContext(ctx, m); err != nil {
		return e.classify(err)
	}
	return nil
}

// classify turns an SMTP failure into a SendError: a 5xx reply (a refused
// recipient, failed authentication, a message refused) is permanent; a 4xx
// reply, a network error or a timeout is tried again.
func (e *EmailSender) classify(err error) *SendError {
	msg := "email: " + e.redact.String(err.Error())
	code := 0
	var se *gomail.SendError
	var te *textproto.Error
	switch {
	case errors.As(err, &te):
		code = te.Code
	case errors.As(err, &se):
		code = se.ErrorCode()
	}
	if code == 0 {
		// go-mail does not always keep the reply as a textproto.Error
		// (authentication failures come back as text): read the code from
		// the message.
		code = replyCode(err.Error())
	}
	out := &SendError{Msg: msg}
	if code != 0 {
		out.Code = strconv.Itoa(code)
	}
	if code >= 500 && code < 600 {
		out.Permanent = true
	}
	return out
}

// replyCode finds an SMTP reply code (a 4xx or 5xx number followed by a
// space or a dash) in an error text, or 0.
func replyCode(s string) int {
	for i := 0; i+3 <= len(s); i++ {
		if (s[i] == '4' || s[i] == '5') && isDigit(s[i+1]) && isDigit(s[i+2]) &&
			(i == 0 || !isDigit(s[i-1])) && (i+3 == len(s) || s[i+3] == ' ' || s[i+3] == '-') {
			n, _ := strconv.Atoi(s[i : i+3])
			return n
		}
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// formatEmailHTML renders a notification as a small HTML document: the
// title as a heading, each line of the text as its own line, everything
// escaped.
func formatEmailHTML(title, text string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body style=\"font-family:sans-serif\">\n")
	if t := oneLine(title); t != "" {
		b.WriteString("<h3>" + html.EscapeString(t) + "</h3>\n")
	}
	b.WriteString("<p>")
	for i, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if i > 0 {
			b.WriteString("<br>\n")
		}
		b.WriteString(html.EscapeString(line))
	}
	b.WriteString("</p>\n</body></html>\n")
	return b.String()
}
