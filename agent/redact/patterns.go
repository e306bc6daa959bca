package redact

import (
	"strings"
)

// Values no configuration names are masked by what precedes them: the
// value of a signed query string (signature=<hex or base64>), of a query
// parameter named key (?key=… or &key=…, an API key in a URL), of the
// X-MBX-APIKEY header in any printed form (X-MBX-APIKEY: k,
// "X-MBX-APIKEY":"k", map[X-Mbx-Apikey:[k]]), of a key=value or key: value
// pair whose key names an API key, secret, password, passphrase or token,
// and an Authorization header's credentials. The rules are those of these
// regular expressions (case-insensitive in ASCII; the regexp package would
// also fold ſ and the Kelvin sign), applied by a scanner that runs
// in linear time without them (Go's regexp takes milliseconds on an 8 KB
// audit body):
//
//	(signature=)[^&\s"'\[\]}]+
//	([?&]key=)[^&\s"'\[\]}]+
//	(x-mbx-apikey["']?\s*[:=]\s*\[?["']?)[^\s"'\[\],}]+
//	((?:api[-_]?key|api[-_]?secret|secret[-_]?key|secret|password|passphrase|token)["']?\s*[:=]\s*\[?["']?)[^\s"'&\[\],}]+
//	(authorization["']?\s*[:=]\s*\[?["']?(?:bearer|basic|bot)\s+)[^\s"'\[\],}]+
type rule struct {
	keys []string // lower case; the rule applies after any of them
	sep  bool     // ["']?\s*[:=]\s*\[?["']? follows the key
	// scheme, when set, must follow (case-insensitively) and then \s+.
	scheme []string
	stop   string // bytes that end the value (white space always does)
}

var rules = []rule{
	{keys: []string{"signature="}, stop: `&"'[]}`},
	{keys: []string{"?key=", "&key="}, stop: `&"'[]}`},
	{keys: []string{"x-mbx-apikey"}, sep: true, stop: `"'[],}`},
	{keys: []string{"apikey", "api_key", "api-key", "secretkey", "secret_key", "secret-key", "secret", "password", "passphrase", "token"}, sep: true, stop: `"'&[],}`},
	{keys: []string{"authorization"}, sep: true, scheme: []string{"bearer", "basic", "bot"}, stop: `"'[],}`},
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// lowerASCII lowers ASCII letters only, so byte offsets stay the same.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// replacePatterns masks the values the rules find, each rule over the
// output of the one before, as the regular expressions would.
func replacePatterns(s string) string {
	low := lowerASCII(s)
	for _, r := range rules {
		if out := r.apply(s, low); out != s {
			s, low = out, lowerASCII(out)
		}
	}
	return s
}

func (r rule) apply(s, low string) string {
	var spans [][2]int // values to mask, in order, not overlapping
	first := r.first()
	for i := 0; i < len(low); i++ {
		if !first[low[i]] {
			continue
		}
		// The longest key starting here, as the alternation lists them; a
		// shorter one is a prefix of it and so fails where it fails.
		key := ""
		for _, k := range r.keys {
			if len(k) > len(key) && strings.HasPrefix(low[i:], k) {
				key = k
			}
		}
		if key == "" {
			continue
		}
		if v0, v1, ok := r.valueAt(s, low, i+len(key)); ok {
			spans = append(spans, [2]int{v0, v1})
			i = v1 - 1
		}
	}
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp[0]])
		b.WriteString(Mask)
		last = sp[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// first is the set of bytes a key of r starts with.
func (r rule) first() *[256]bool {
	var f [256]bool
	for _, k := range r.keys {
		f[k[0]] = true
	}
	return &f
}

// valueAt reads what follows a key at j and returns the value's span.
func (r rule) valueAt(s, low string, j int) (int, int, bool) {
	n := len(s)
	if r.sep {
		if j < n && (s[j] == '"' || s[j] == '\'') {
			j++
		}
		for j < n && isSpace(s[j]) {
			j++
		}
		if j >= n || (s[j] != ':' && s[j] != '=') {
			return 0, 0, false
		}
		j++
		for j < n && isSpace(s[j]) {
			j++
		}
		if j < n && s[j] == '[' {
			j++
		}
		if j < n && (s[j] == '"' || s[j] == '\'') {
			j++
		}
	}
	if r.scheme != nil {
		found := false
		for _, sc := range r.scheme {
			if strings.HasPrefix(low[j:], sc) {
				j += len(sc)
				found = true
				break
			}
		}
		if !found || j >= n || !isSpace(s[j]) {
			return 0, 0, false
		}
		for j < n && isSpace(s[j]) {
			j++
		}
	}
	end := j
	for end < n && !isSpace(s[end]) && strings.IndexByte(r.stop, s[end]) < 0 {
		end++
	}
	if end == j {
		return 0, 0, false
	}
	return j, end, true
}
