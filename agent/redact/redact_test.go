package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const secret = `sk-CANARY/0123+abc="xyz"&q`

// TestEveryFormIsMasked: the secret in each form it takes on the way out
// of an HTTP client, an encoder or a log, embedded in other text.
func TestEveryFormIsMasked(t *testing.T) {
	r := New(secret)
	b := []byte(secret)
	type form struct {
		text  string
		other int // bytes of the encoded text that are not the secret
	}
	cases := map[string]form{
		"raw":          {secret, 0},
		"query escape": {url.QueryEscape(secret), 0},
		"path escape":  {url.PathEscape(secret), 0},
		"hex":          {hex.EncodeToString(b), 0},
		"HEX":          {strings.ToUpper(hex.EncodeToString(b)), 0},
		"json":         {strings.Trim(mustJSON(secret), `"`), 0},
	}
	// base64 at every alignment, in both alphabets, padded or not.
	for k := 0; k < 3; k++ {
		for name, enc := range map[string]*base64.Encoding{"std": base64.StdEncoding, "url": base64.URLEncoding, "raw": base64.RawStdEncoding} {
			prefix := strings.Repeat("u", k)
			cases[fmt.Sprintf("base64 %s offset %d", name, k)] = form{enc.EncodeToString([]byte(prefix + secret + "tail")), k + 4}
		}
	}
	cases["basic auth"] = form{base64.StdEncoding.EncodeToString([]byte("user:" + secret)), 5}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			got := r.String("before " + f.text + " after")
			if !strings.Contains(got, Mask) {
				t.Fatalf("String(%q) = %q; want %s", f.text, got, Mask)
			}
			// What is left of the encoded text: the encoding of the other
			// bytes, at most one character at each edge of the secret that
			// mixes bits of both, and padding.
			kept := len(got) - len("before  after") - len(Mask)
			allowed := (8*f.other + 5) / 6
			if f.other > 0 {
				allowed += 2 + 2
			}
			if kept > allowed {
				t.Errorf("String(%q) = %q keeps %d characters of the encoded text; want at most %d", f.text, got, kept, allowed)
			}
		})
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestMinSecretLen: a value at the minimum length is a secret, one byte
// shorter is ignored (it would shred ordinary text).
func TestMinSecretLen(t *testing.T) {
	at := strings.Repeat("k", MinSecretLen)
	below := strings.Repeat("q", MinSecretLen-1)
	r := New(at, below)
	if got := r.String("x " + at + " y"); got != "x "+Mask+" y" {
		t.Errorf("String with a %d-byte secret = %q; want it masked", MinSecretLen, got)
	}
	if got := r.String("x " + below + " y"); got != "x "+below+" y" {
		t.Errorf("String with a %d-byte value = %q; want it unchanged", MinSecretLen-1, got)
	}
}

func TestPatterns(t *testing.T) {
	r := New()
	for _, tc := range []struct{ in, want string }{
		{"GET https://api.x/api/v3/order?symbol=BTCUSDT&timestamp=1&signature=0a1b2c3d4e5f", "GET https://api.x/api/v3/order?symbol=BTCUSDT&timestamp=1&signature=" + Mask},
		{`map[X-Mbx-Apikey:[abcdefgh]]`, `map[X-Mbx-Apikey:[` + Mask + `]]`},
		{`{"apiKey":"abc123456"}`, `{"apiKey":"` + Mask + `"}`},
		{"Authorization: Bearer sk-abcdef", "Authorization: Bearer " + Mask},
		{`"max_tokens":2000,"total_tokens":12`, `"max_tokens":2000,"total_tokens":12`},
		{"api_key_env: OPENAI_API_KEY", "api_key_env: OPENAI_API_KEY"},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestLongestFormWins(t *testing.T) {
	r := New("abcdefgh", "abcdefgh-and-more")
	if got := r.String("<abcdefgh-and-more>"); got != "<"+Mask+">" {
		t.Errorf("String = %q; want the longer secret replaced whole", got)
	}
}

func TestMultilineSecretAndAdd(t *testing.T) {
	var r Redactor // zero value: patterns only
	if got := r.String("line-one-of-key"); got != "line-one-of-key" {
		t.Fatalf("zero Redactor changed %q", got)
	}
	r.Add("-----BEGIN KEY-----\nline-one-of-key\nline-two-of-key\n")
	r.Add("line-one-of-key") // again: no effect
	if got := r.String("a line-two-of-key b line-one-of-key"); got != "a "+Mask+" b "+Mask {
		t.Errorf("String = %q; want each line of the key masked", got)
	}
	var nilR *Redactor
	nilR.Add("whatever-secret")
	if got := nilR.String("signature=abc"); got != "signature="+Mask {
		t.Errorf("nil Redactor String = %q; want patterns applied", got)
	}
}

func TestErrorKeepsChain(t *testing.T) {
	r := New(secret)
	base := fmt.Errorf("open %s: %w", secret, fs.ErrNotExist)
	got := r.Error(base)
	if strings.Contains(got.Error(), secret) || !errors.Is(got, fs.ErrNotExist) {
		t.Errorf("Error(%v) = %v; want redacted text and errors.Is(fs.ErrNotExist)", base, got)
	}
	plain := errors.New("nothing secret")
	if r.Error(plain) != plain {
		t.Error("Error of a clean error must return it unchanged")
	}
	if r.Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
}

func TestBytesDoesNotCopyClean(t *testing.T) {
	r := New(secret)
	b := []byte("clean text")
	if got := r.Bytes(b); &got[0] != &b[0] {
		t.Error("Bytes copied a slice with nothing to redact")
	}
}

// TestWriterSplitAtEveryByte: a secret written in two pieces, split at
// every possible point, never reaches the underlying writer whole or in
// recognisable part.
func TestWriterSplitAtEveryByte(t *testing.T) {
	r := New(secret)
	msg := "the model said " + secret + " and " + base64.StdEncoding.EncodeToString([]byte(secret)) + " then stopped\n"
	for i := 0; i <= len(msg); i++ {
		var out bytes.Buffer
		w := r.Writer(&out)
		if n, err := w.Write([]byte(msg[:i])); err != nil || n != i {
			t.Fatalf("Write = %d, %v", n, err)
		}
		w.Write([]byte(msg[i:]))
		w.Flush()
		if want := r.String(msg); out.String() != want {
			t.Fatalf("split at %d: wrote %q; want %q", i, out.String(), want)
		}
	}
}

// TestWriterLongLine: a line longer than what is held, with the secret
// right across the point where it must be cut, written byte by byte.
func TestWriterLongLine(t *testing.T) {
	r := New(secret)
	for _, at := range []int{maxHeld - len(secret) - 1, maxHeld - len(secret)/2, maxHeld, maxHeld + 1, 2*maxHeld - 3} {
		msg := strings.Repeat("x", at) + secret + strings.Repeat("y", maxHeld)
		var out bytes.Buffer
		w := r.Writer(&out)
		for i := 0; i < len(msg); i += 997 {
			w.Write([]byte(msg[i:min(len(msg), i+997)]))
		}
		if out.Len() == 0 {
			t.Fatalf("secret at %d: nothing written before Flush; a long line must not be held whole", at)
		}
		w.Flush()
		if strings.Contains(out.String(), secret[:len(secret)/2]) || strings.Contains(out.String(), secret[len(secret)/2:]) {
			t.Fatalf("secret at %d: part of the secret reached the output", at)
		}
		if want := r.String(msg); out.String() != want {
			t.Fatalf("secret at %d: output differs from String of the whole line", at)
		}
	}
}

// TestWriterCarriageReturn: a progress line redrawn with \r reaches the
// terminal as it is drawn, redacted.
func TestWriterCarriageReturn(t *testing.T) {
	r := New(secret)
	var out bytes.Buffer
	w := r.Writer(&out)
	fmt.Fprintf(w, "\r 10%% %s", secret)
	fmt.Fprintf(w, "\r 20%% done")
	if got := out.String(); got != "\r 10% "+Mask+"\r" {
		t.Errorf("after two redraws the writer passed %q; want the first, redacted", got)
	}
	w.Flush()
	if got := out.String(); got != "\r 10% "+Mask+"\r 20% done" {
		t.Errorf("after Flush = %q", got)
	}
}

func TestWriterConcurrentWithAdd(t *testing.T) {
	r := New()
	var out bytes.Buffer
	w := r.Writer(&out)
	r.Add(secret)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				fmt.Fprintf(w, "g%d %s\n", g, secret)
				r.Add(fmt.Sprintf("another-secret-%d-%d", g, i))
			}
		}()
	}
	wg.Wait()
	w.Flush()
	if strings.Contains(out.String(), secret) || strings.Count(out.String(), "\n") != 400 {
		t.Errorf("concurrent writes: %d lines, secret present %v", strings.Count(out.String(), "\n"), strings.Contains(out.String(), secret))
	}
}

// TestHandler: a JSON log handler escapes a secret's quotes, so the
// writer alone would not recognise it; the handler redacts first.
func TestHandler(t *testing.T) {
	r := New(secret)
	var out bytes.Buffer
	log := slog.New(r.Handler(slog.NewJSONHandler(&out, nil)))
	log = log.With("key", secret).WithGroup("g")
	log.Info("saw "+secret, "err", errors.New("bad "+secret), "body", []byte(secret), "n", 3,
		slog.Group("inner", "tok", secret), "any", struct{ S string }{secret})
	s := out.String()
	if strings.Contains(s, "CANARY") {
		t.Fatalf("log output holds the secret: %s", s)
	}
	if strings.Count(s, Mask) != 6 || !strings.Contains(s, `"n":3`) {
		t.Errorf("log output = %s; want 6 masks and the number kept", s)
	}
}

func ExampleRedactor_String() {
	r := New("sk-live-0123456789")
	fmt.Println(r.String("key sk-live-0123456789, escaped sk-live-0123456789, hex " + hex.EncodeToString([]byte("sk-live-0123456789"))))
	fmt.Println(r.String("GET /api/v3/account?timestamp=1&signature=9f86d081884c7d65"))
	// Output:
	// key [REDACTED], escaped [REDACTED], hex [REDACTED]
	// GET /api/v3/account?timestamp=1&signature=[REDACTED]
}

// TestCut: a text shown shortened is redacted before it is cut, so a
// secret the cut would split is masked whole; and a text that arrives
// already cut (a body read up to a limit) loses the beginning of a secret
// at its end.
func TestCut(t *testing.T) {
	const sec = "sk-live-0123456789abcdefXYZ"
	r := New(sec)
	text := "error: the key " + sec + " was refused by the server"
	for n := 0; n <= len(text)+5; n++ {
		got := r.Cut(text, n)
		if len(got) > n {
			t.Fatalf("Cut(%d) = %q, longer than %d", n, got, n)
		}
		for i := 0; i+6 <= len(sec); i++ {
			if strings.Contains(got, sec[i:i+6]) {
				t.Fatalf("Cut(%d) = %q holds %q, a piece of the secret", n, got, sec[i:i+6])
			}
		}
	}
	// Already cut inside the secret: its first 4 or more bytes at the end
	// are masked; fewer are left (too short to mean anything).
	for k := 1; k < len(sec); k++ {
		pre := "body: " + sec[:k]
		got := r.Cut(pre, 1<<10)
		if k >= 4 && got != "body: "+Mask {
			t.Errorf("Cut(%q) = %q; want the secret's beginning masked", pre, got)
		}
		if k < 4 && got != pre {
			t.Errorf("Cut(%q) = %q; want it unchanged", pre, got)
		}
	}
	if got := New().Cut("plain text", 5); got != "plain" {
		t.Errorf("Cut without secrets = %q", got)
	}
}
