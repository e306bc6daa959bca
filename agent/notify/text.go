package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"
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

// redactor removes secrets from strings before they are logged, returned
// in errors or stored in the outbox.
type redactor struct {
	secrets []string
}

const redacted = "[REDACTED]"

// newRedactor returns a redactor for the given secrets. Short values (under
// 6 bytes) are ignored: they are not secrets worth the false positives.
func newRedactor(secrets ...string) redactor {
	var r redactor
	for _, s := range secrets {
		if len(s) < 6 {
			continue
		}
		r.secrets = append(r.secrets, s)
	}
	// Longest first, so a secret containing another is removed whole.
	for i := 1; i < len(r.secrets); i++ {
		for j := i; j > 0 && len(r.secrets[j]) > len(r.secrets[j-1]); j-- {
			r.secrets[j], r.secrets[j-1] = r.secrets[j-1], r.secrets[j]
		}
	}
	return r
}

func (r redactor) String(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, redacted)
	}
	return s
}
