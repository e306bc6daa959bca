package redact

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// oracle is the rules as regular expressions, the way they are documented.
var oracle = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`(?i)(signature=)[^&\s"'\[\]}]+`), "${1}" + Mask},
	{regexp.MustCompile(`(?i)([?&]key=)[^&\s"'\[\]}]+`), "${1}" + Mask},
	{regexp.MustCompile(`(?i)(x-mbx-apikey["']?\s*[:=]\s*\[?["']?)[^\s"'\[\],}]+`), "${1}" + Mask},
	{regexp.MustCompile(`(?i)((?:api[-_]?key|api[-_]?secret|secret[-_]?key|secret|password|passphrase|token)["']?\s*[:=]\s*\[?["']?)[^\s"'&\[\],}]+`), "${1}" + Mask},
	{regexp.MustCompile(`(?i)(authorization["']?\s*[:=]\s*\[?["']?(?:bearer|basic|bot)\s+)[^\s"'\[\],}]+`), "${1}" + Mask},
}

func oracleReplace(s string) string {
	for _, p := range oracle {
		s = p.re.ReplaceAllString(s, p.repl)
	}
	return s
}

// TestScannerMatchesRegexps: the scanner does what the documented regular
// expressions do, on hand-picked and random texts built from their parts.
func TestScannerMatchesRegexps(t *testing.T) {
	cases := []string{
		"GET /x?a=1&signature=abc123&b=2", "SIGNATURE=ZZ]", "signature=", "signature=&",
		`{"X-MBX-APIKEY":"k123"}`, `map[X-Mbx-Apikey:[abc]]`, "x-mbx-apikey = 'q&w'",
		`api_key: v`, `apiKey="v"`, `API-SECRET : [v,w]`, `secret_key=v`, `secretkey:v`, `Secret:`, `token:"[REDACTED]"`,
		`"max_tokens":2000`, `tokens: 5`, `password=p&x=1`, `passphrase: "a b"`, `secret_keyboard: x`,
		"Authorization: Bearer abc", "authorization=basic   dXNlcjpw", `"Authorization":"Bot 123:abc"`, "Authorization: Token x",
		"token\n:\nvalue", "tokentoken: v", "sig signature=a signature=b",
		"POST http://127.0.0.1:9/v1/chat/completions?key=sk-live-X: dial tcp", "https://h/v1?a=1&KEY=abc&b=2", "?key=", "monkey=1", "cache key=abc", "?keys=1",
	}
	parts := []string{"?key=", "&key=", "key=", "token", "Token", "secret", "_key", "-key", "api", "signature=", "x-mbx-apikey", "authorization", "bearer ",
		"password", ":", "=", " ", "\n", `"`, "'", "[", "]", ",", "}", "&", "v1", "ZZ", "[REDACTED]", "é"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for range 1 + rng.IntN(12) {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		cases = append(cases, b.String())
	}
	for _, in := range cases {
		if got, want := replacePatterns(in), oracleReplace(in); got != want {
			t.Fatalf("replacePatterns(%q) = %q; the regexps give %q", in, got, want)
		}
	}
}
