// Package redact owns the one redaction every way out of Warden passes
// through: stdout, stderr, logs, error texts, notifications, the audit
// database and reports. A Redactor replaces every configured secret, and
// the forms a secret takes on its way through HTTP clients, encoders and
// logs (base64 at any alignment, URL query and path escaping, hex, JSON
// string escaping), with [REDACTED]; and it masks the values of signed
// query strings, API-key headers and key=value pairs that name a key,
// secret, password or token, whose values no configuration names (an
// exchange request's HMAC signature).
//
// It imports nothing from Warden, so every package may use it, the
// exchange adapter included.
package redact

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Mask replaces a redacted value.
const Mask = "[REDACTED]"

// MinSecretLen is the shortest value redacted as a secret. Shorter values
// are not worth the damage replacing them would do to ordinary text, and
// no key, token or webhook URL is that short.
const MinSecretLen = 8

// Redactor replaces secrets. The zero value and nil redact patterns only;
// Add registers secrets. It is safe for concurrent use, and Add may be
// called while other goroutines redact.
type Redactor struct {
	mu sync.Mutex // serialises Add
	t  atomic.Pointer[table]
}

// table is an immutable set of forms to replace.
type table struct {
	secrets []string // as added, for deduplication
	forms   []string // every form, longest first
	repl    *strings.Replacer
	maxLen  int // longest form, in bytes
}

// New returns a Redactor for secrets (see Add).
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add registers secrets. Surrounding white space is ignored; a secret of
// several lines (a PEM key) is registered line by line; values shorter
// than MinSecretLen are ignored.
func (r *Redactor) Add(secrets ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.t.Load()
	var have []string
	if old != nil {
		have = old.secrets
	}
	added := false
	for _, s := range secrets {
		for _, line := range strings.Split(s, "\n") {
			line = strings.TrimSpace(line)
			if len(line) < MinSecretLen || slices.Contains(have, line) {
				continue
			}
			have = append(have, line)
			added = true
		}
	}
	if !added {
		return
	}
	r.t.Store(newTable(have))
}

func newTable(secrets []string) *table {
	t := &table{secrets: slices.Clip(secrets)}
	seen := map[string]bool{}
	for _, s := range secrets {
		for _, f := range Forms(s) {
			if len(f) >= MinSecretLen && !seen[f] {
				seen[f] = true
				t.forms = append(t.forms, f)
			}
		}
	}
	// Longest first: strings.Replacer prefers earlier pairs at a position,
	// so a form that contains another is replaced whole.
	slices.SortStableFunc(t.forms, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(t.forms))
	for _, f := range t.forms {
		pairs = append(pairs, f, Mask)
		t.maxLen = max(t.maxLen, len(f))
	}
	t.repl = strings.NewReplacer(pairs...)
	return t
}

// Forms returns the forms of secret that are replaced: the value itself,
// its URL query and path escapes, its JSON string escapes, its lower- and
// upper-case hex, and its base64 (standard and URL alphabets) at each of
// the three byte alignments it can have inside a longer encoded text (for
// an unaligned one, the characters that depend on the secret alone).
func Forms(secret string) []string {
	out := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	if b, err := json.Marshal(secret); err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	out = append(out, strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(secret))
	h := hex.EncodeToString([]byte(secret))
	out = append(out, h, strings.ToUpper(h))
	for k := 0; k < 3; k++ {
		buf := make([]byte, k+len(secret))
		copy(buf[k:], secret)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			e := enc.EncodeToString(buf)
			if k == 0 {
				out = append(out, e) // with its padding, as a whole value
			}
			from := (8*k + 5) / 6           // first character free of the prefix
			to := 8 * (k + len(secret)) / 6 // last character free of what follows
			out = append(out, e[from:to])
		}
	}
	return out
}

func (r *Redactor) table() *table {
	if r == nil {
		return nil
	}
	return r.t.Load()
}

// String returns s with every secret form and every secret-bearing pattern
// replaced by Mask.
func (r *Redactor) String(s string) string {
	if t := r.table(); t != nil {
		s = t.repl.Replace(s)
	}
	return replacePatterns(s)
}

// Bytes is String for a byte slice. b is returned unchanged (not copied)
// when there is nothing to replace.
func (r *Redactor) Bytes(b []byte) []byte {
	s := r.String(string(b))
	if len(s) == len(b) && s == string(b) {
		return b
	}
	return []byte(s)
}

// Cut returns s redacted and then cut to at most n bytes, for a text that
// is shown shortened (an error body). Redacting first keeps a secret
// whole while it is recognised; the end of a text that was itself cut
// before it got here (a body read up to a limit) is masked when it is the
// beginning of a secret form, at least 4 bytes of it: such a prefix is
// most of the secret.
func (r *Redactor) Cut(s string, n int) string {
	if t := r.table(); t != nil {
		s = t.maskTail(t.repl.Replace(s))
	}
	s = replacePatterns(s)
	if len(s) > n {
		s = s[:max(0, n)]
	}
	return s
}

// minTail is the shortest secret prefix maskTail masks at a text's end.
const minTail = 4

// maskTail masks the end of s when it is a proper prefix of a form.
func (t *table) maskTail(s string) string {
	best := len(s)
	for _, f := range t.forms {
		for k := min(len(f)-1, len(s)); k >= minTail; k-- {
			if strings.HasSuffix(s, f[:k]) {
				best = min(best, len(s)-k)
				break
			}
		}
	}
	if best == len(s) {
		return s
	}
	return s[:best] + Mask
}

// Func returns r.String, for options that take a redaction function.
func (r *Redactor) Func() func(string) string { return r.String }

// Error returns err with its text redacted. An error whose text holds no
// secret is returned as is, so errors.Is and errors.As keep working.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := r.String(msg)
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

// redactedError keeps the chain of the original error for errors.Is/As;
// only its text is replaced.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// maxLen is the length of the longest form, at least 1.
func (t *table) longest() int {
	if t == nil || t.maxLen < 1 {
		return 1
	}
	return t.maxLen
}

// straddle returns the start of the leftmost form occurrence in b that
// begins before cut and ends after it, or cut when there is none.
func (t *table) straddle(b []byte, cut int) int {
	if t == nil {
		return cut
	}
	from := max(0, cut-t.maxLen+1)
	best := cut
	for _, f := range t.forms {
		for i := from; i < cut; {
			j := bytes.Index(b[i:min(len(b), cut+len(f)-1)], []byte(f))
			if j < 0 {
				break
			}
			start := i + j
			if start+len(f) > cut && start < best {
				best = start
			}
			i = start + 1
		}
	}
	return best
}

// Handler wraps h so that every record's message and attribute values are
// redacted before h sees them, whatever h then encodes them as (JSON
// escaping would otherwise turn a secret into a form the output writer no
// longer recognises).
func (r *Redactor) Handler(h slog.Handler) slog.Handler {
	return &handler{r: r, h: h}
}

type handler struct {
	r *Redactor
	h slog.Handler
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.attr(a)
	}
	return &handler{r: h.r, h: h.h.WithAttrs(red)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{r: h.r, h: h.h.WithGroup(name)}
}

// attr redacts one attribute: strings, errors, anything printed with %v,
// and groups recursively. Numbers, booleans, times and durations hold no
// secret and pass unchanged.
func (h *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = h.attr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		x := v.Any()
		if err, ok := x.(error); ok {
			return slog.String(a.Key, h.r.String(err.Error()))
		}
		if b, ok := x.([]byte); ok {
			return slog.String(a.Key, h.r.String(string(b)))
		}
		return slog.String(a.Key, h.r.String(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}
