package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/warden-trading/warden/agent/redact"
)

// Excerpt returns s with its whitespace collapsed, cut to at most max runes
// at a word boundary when one is near, with "…" appended when cut.
func Excerpt(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if max <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)[:max-1]
	// Prefer a cut at a space within the last fifth of the excerpt.
	for i := len(r) - 1; i >= len(r)*4/5 && i > 0; i-- {
		if unicode.IsSpace(r[i]) {
			r = r[:i]
			break
		}
	}
	return strings.TrimRightFunc(string(r), unicode.IsSpace) + "…"
}

// truncateRunes cuts s to at most max runes, ending in "…" when cut. It
// never splits a rune.
func truncateRunes(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max <= 1 {
		return "…"
	}
	return string([]rune(s)[:max-1]) + "…"
}

// oneLine collapses all whitespace, newlines included, to single spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

// slackEscaper escapes the three characters Slack's mrkdwn treats as
// control characters. Everything else is sent as is.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// EscapeSlack escapes text for Slack mrkdwn, so that "<!channel>" or
// "<http://x|y>" in model output shows as text instead of pinging or
// linking.
func EscapeSlack(s string) string { return slackEscaper.Replace(s) }

// telegramEscaper escapes text for Telegram's HTML parse mode: outside tags
// only <, > and & are special (Bot API "Formatting options").
var telegramEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// EscapeTelegramHTML escapes text for Telegram's HTML parse mode.
func EscapeTelegramHTML(s string) string { return telegramEscaper.Replace(s) }

// formatSlack renders a notification as Slack mrkdwn: the title in bold,
// then the text, both escaped.
func formatSlack(title, text string) string {
	title = oneLine(title)
	if title == "" {
		return EscapeSlack(text)
	}
	// Bold in mrkdwn is *...*; a '*' inside the title would end it early,
	// so the title's own asterisks are replaced by a look-alike.
	return "*" + EscapeSlack(strings.ReplaceAll(title, "*", "∗")) + "*\n" + EscapeSlack(text)
}

// formatTelegramHTML renders a notification for parse_mode HTML.
func formatTelegramHTML(title, text string) string {
	title = oneLine(title)
	if title == "" {
		return EscapeTelegramHTML(text)
	}
	return "<b>" + EscapeTelegramHTML(title) + "</b>\n" + EscapeTelegramHTML(text)
}

// formatPlain renders a notification without markup.
func formatPlain(title, text string) string {
	title = oneLine(title)
	if title == "" {
		return text
	}
	return title + "\n" + text
}

// redacted replaces a secret in a sender's description.
const redacted = redact.Mask

// newRedactor returns a redactor (the shared package's) for the given
// secrets: raw, URL-escaped, base64, hex and JSON-escaped forms.
func newRedactor(secrets ...string) *redact.Redactor { return redact.New(secrets...) }
