package schemas

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth caps the nesting of objects and arrays in any document this
// package reads. The top-level object is depth 1.
const MaxDepth = 32

const (
	// maxNumberLen caps the length of one number literal. float64 needs 17
	// significant digits; a longer literal is noise or an attack on big.Rat
	// and decimal arithmetic.
	maxNumberLen = 100
	// maxExponent caps the magnitude of a literal's exponent (1e400, 0e-400),
	// so no later decimal or big.Rat arithmetic can be made to rescale by an
	// absurd power of ten.
	maxExponent = 400
)

// decodeStrict reads exactly one JSON value from data into the generic form
// the JSON-schema validator consumes: map[string]any, []any, string,
// json.Number, bool and nil. It refuses, with one Problem naming the JSON
// pointer and byte offset: input over limit bytes, anything but whitespace
// after the value, duplicate object keys at any depth, NaN/Infinity,
// numbers that overflow or underflow float64, nesting deeper than MaxDepth,
// invalid UTF-8 and lone surrogate escapes, and every JSON syntax error.
// what names the document in messages ("response", "state").
func decodeStrict(data []byte, limit int, what string) (any, *Problem) {
	if len(data) > limit {
		return nil, &Problem{Keyword: KeywordSize, Message: fmt.Sprintf("%s is %d bytes; at most %d bytes are allowed", what, len(data), limit)}
	}
	// Scratch stacks sized for the contracts; append grows them for larger
	// documents.
	var (
		pathBuf    [8]pathElem
		membersBuf [12]member
		elemsBuf   [8]any
	)
	// text is the one copy of the input that strings without escapes and
	// number literals are sliced from.
	r := reader{data: data, text: string(data), path: pathBuf[:0], members: membersBuf[:0], elems: elemsBuf[:0]}
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		return nil, r.fail(KeywordSyntax, "byte-order mark at byte 0: the %s must start with a JSON value", what)
	}
	r.skipWS()
	if r.pos == len(data) {
		return nil, r.fail(KeywordSyntax, "%s is empty: expected one JSON value", what)
	}
	v, p := r.value(0)
	if p != nil {
		return nil, p
	}
	r.skipWS()
	if r.pos < len(data) {
		second := reader{data: data, text: r.text, pos: r.pos}
		if _, p := second.value(0); p == nil {
			return nil, r.fail(KeywordTrailing, "a second JSON value starts at byte %d: exactly one value is allowed", r.pos)
		}
		return nil, r.fail(KeywordTrailing, "trailing data after the JSON value at byte %d", r.pos)
	}
	return v, nil
}

// pathElem is one step of the reader's current location: an object key, or
// an array index when idx >= 0.
type pathElem struct {
	key string
	idx int
}

type reader struct {
	data    []byte
	text    string // string(data), shared by the strings read
	pos     int
	path    []pathElem
	buf     []byte   // scratch for strings with escapes
	members []member // scratch stack of the open objects' members
	elems   []any    // scratch stack of the open arrays' elements
}

type member struct {
	key string
	val any
}

// pointer is the JSON pointer of the value being read.
func (r *reader) pointer() string {
	var b strings.Builder
	for _, e := range r.path {
		b.WriteByte('/')
		if e.idx >= 0 {
			b.WriteString(strconv.Itoa(e.idx))
		} else {
			b.WriteString(escapePointerToken(e.key))
		}
	}
	return b.String()
}

func (r *reader) fail(keyword, format string, args ...any) *Problem {
	return &Problem{Pointer: r.pointer(), Keyword: keyword, Message: fmt.Sprintf(format, args...)}
}

// failAt is fail with " at <pointer>" appended when the pointer is not the
// top level.
func (r *reader) failAt(keyword, format string, args ...any) *Problem {
	p := r.fail(keyword, format, args...)
	if p.Pointer != "" {
		p.Message += " at " + p.Pointer
	}
	return p
}

func (r *reader) skipWS() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

func (r *reader) value(depth int) (any, *Problem) {
	r.skipWS()
	if r.pos >= len(r.data) {
		return nil, r.failAt(KeywordSyntax, "unexpected end of input at byte %d: expected a value", r.pos)
	}
	switch c := r.data[r.pos]; c {
	case '{':
		return r.object(depth + 1)
	case '[':
		return r.array(depth + 1)
	case '"':
		if v, ok := r.enumValue(); ok {
			return v, nil
		}
		s, p := r.str(false)
		if p != nil {
			return nil, p
		}
		return s, nil
	case 't':
		return true, r.literal("true")
	case 'f':
		return false, r.literal("false")
	case 'n':
		if p := r.literal("null"); p != nil {
			return nil, p
		}
		return nil, nil
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return r.number()
		}
		if name := nonFinite(r.data[r.pos:]); name != "" {
			return nil, r.failAt(KeywordNumber, "%s is not a JSON number (numbers must be finite) at byte %d", name, r.pos)
		}
		return nil, r.failAt(KeywordSyntax, "unexpected %s at byte %d: expected a value", describeByte(r.data[r.pos:]), r.pos)
	}
}

// nonFinite recognises the non-JSON spellings of NaN and Infinity at the
// start of b and returns the spelling, or "".
func nonFinite(b []byte) string {
	for _, w := range []string{"-Infinity", "+Infinity", "Infinity", "-inf", "+inf", "inf", "NaN", "nan", "-NaN"} {
		if len(b) >= len(w) && strings.EqualFold(string(b[:len(w)]), w) {
			return string(b[:len(w)])
		}
	}
	return ""
}

// describeByte names the character at the start of b for a message.
func describeByte(b []byte) string {
	c := b[0]
	if c < utf8.RuneSelf {
		if c < 0x20 || c == 0x7f {
			return fmt.Sprintf("control character 0x%02x", c)
		}
		return fmt.Sprintf("character %q", rune(c))
	}
	rn, size := utf8.DecodeRune(b)
	if rn == utf8.RuneError && size == 1 {
		return fmt.Sprintf("invalid UTF-8 byte 0x%02x", c)
	}
	return fmt.Sprintf("character %q (U+%04X)", rn, rn)
}

func (r *reader) literal(word string) *Problem {
	if len(r.data)-r.pos >= len(word) && string(r.data[r.pos:r.pos+len(word)]) == word {
		r.pos += len(word)
		return nil
	}
	if name := nonFinite(r.data[r.pos:]); name != "" {
		return r.failAt(KeywordNumber, "%s is not a JSON number (numbers must be finite) at byte %d", name, r.pos)
	}
	return r.failAt(KeywordSyntax, "invalid literal at byte %d: expected %s", r.pos, word)
}

// object reads an object. Members collect on the reader's scratch stack and
// the map is made once at its final size; duplicates are found by a scan of
// the object's keys so far (a set takes over for large objects).
func (r *reader) object(depth int) (any, *Problem) {
	if depth > MaxDepth {
		return nil, r.failAt(KeywordDepth, "nesting deeper than %d levels (byte %d)", MaxDepth, r.pos)
	}
	r.pos++ // '{'
	r.skipWS()
	if r.pos < len(r.data) && r.data[r.pos] == '}' {
		r.pos++
		return map[string]any{}, nil
	}
	base := len(r.members)
	defer func() {
		clear(r.members[base:])
		r.members = r.members[:base]
	}()
	var seen map[string]struct{}
	for {
		r.skipWS()
		if r.pos >= len(r.data) {
			return nil, r.failAt(KeywordSyntax, "unexpected end of input at byte %d: object not closed", r.pos)
		}
		if r.data[r.pos] != '"' {
			if r.data[r.pos] == '}' {
				return nil, r.failAt(KeywordSyntax, "trailing comma before '}' at byte %d", r.pos)
			}
			return nil, r.failAt(KeywordSyntax, "unexpected %s at byte %d: expected a quoted object key", describeByte(r.data[r.pos:]), r.pos)
		}
		keyAt := r.pos
		k, p := r.str(true)
		if p != nil {
			return nil, p
		}
		r.skipWS()
		if r.pos >= len(r.data) || r.data[r.pos] != ':' {
			if r.pos >= len(r.data) {
				return nil, r.failAt(KeywordSyntax, "unexpected end of input at byte %d: expected ':' after key %q", r.pos, k)
			}
			return nil, r.failAt(KeywordSyntax, "unexpected %s at byte %d: expected ':' after key %q", describeByte(r.data[r.pos:]), r.pos, k)
		}
		r.pos++
		if r.isDuplicate(base, &seen, k) {
			at := where(r.pointer())
			r.path = append(r.path, pathElem{key: k, idx: -1})
			pr := r.fail(KeywordDuplicate, "duplicate key %q at %s (second occurrence at byte %d)", k, at, keyAt)
			r.path = r.path[:len(r.path)-1]
			return nil, pr
		}
		r.path = append(r.path, pathElem{key: k, idx: -1})
		v, p := r.value(depth)
		if p != nil {
			return nil, p
		}
		r.path = r.path[:len(r.path)-1]
		r.members = append(r.members, member{k, v})
		r.skipWS()
		if r.pos >= len(r.data) {
			return nil, r.failAt(KeywordSyntax, "unexpected end of input at byte %d: object not closed", r.pos)
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
		case '}':
			r.pos++
			m := make(map[string]any, len(r.members)-base)
			for _, kv := range r.members[base:] {
				m[kv.key] = kv.val
			}
			return m, nil
		default:
			return nil, r.failAt(KeywordSyntax, "unexpected %s at byte %d: expected ',' or '}' after the value of %q", describeByte(r.data[r.pos:]), r.pos, k)
		}
	}
}

// linearDupLimit is the object size up to which duplicates are found by a
// linear scan; beyond it a set is built, so a huge object stays O(n).
const linearDupLimit = 16

// isDuplicate reports whether k is already a key of the object whose
// members start at base, and records k.
func (r *reader) isDuplicate(base int, seen *map[string]struct{}, k string) bool {
	keys := r.members[base:]
	if *seen == nil {
		for _, kv := range keys {
			if kv.key == k {
				return true
			}
		}
		if len(keys) < linearDupLimit {
			return false
		}
		*seen = make(map[string]struct{}, 2*len(keys))
		for _, kv := range keys {
			(*seen)[kv.key] = struct{}{}
		}
	}
	if _, dup := (*seen)[k]; dup {
		return true
	}
	(*seen)[k] = struct{}{}
	return false
}

// array reads an array; elements collect on the scratch stack and the slice
// is made once at its final size.
func (r *reader) array(depth int) (any, *Problem) {
	if depth > MaxDepth {
		return nil, r.failAt(KeywordDepth, "nesting deeper than %d levels (byte %d)", MaxDepth, r.pos)
	}
	r.pos++ // '['
	r.skipWS()
	if r.pos < len(r.data) && r.data[r.pos] == ']' {
		r.pos++
		return []any{}, nil
	}
	base := len(r.elems)
	defer func() {
		clear(r.elems[base:])
		r.elems = r.elems[:base]
	}()
	for i := 0; ; i++ {
		r.skipWS()
		if r.pos < len(r.data) && r.data[r.pos] == ']' {
			return nil, r.failAt(KeywordSyntax, "trailing comma before ']' at byte %d", r.pos)
		}
		r.path = append(r.path, pathElem{idx: i})
		v, p := r.value(depth)
		if p != nil {
			return nil, p
		}
		r.path = r.path[:len(r.path)-1]
		r.elems = append(r.elems, v)
		r.skipWS()
		if r.pos >= len(r.data) {
			return nil, r.failAt(KeywordSyntax, "unexpected end of input at byte %d: array not closed", r.pos)
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
		case ']':
			r.pos++
			return slices.Clone(r.elems[base:]), nil
		default:
			return nil, r.failAt(KeywordSyntax, "unexpected %s at byte %d: expected ',' or ']' after an array element", describeByte(r.data[r.pos:]), r.pos)
		}
	}
}

// str reads a string starting at the opening quote. Keys are interned so the
// fixed field names of the contracts do not allocate.
func (r *reader) str(key bool) (string, *Problem) {
	d := r.data
	start := r.pos + 1
	i := start
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			r.pos = i + 1
			if key {
				if k := internKey(d[start:i]); k != "" {
					return k, nil
				}
			}
			return r.text[start:i], nil
		case c == '\\':
			return r.strSlow(start, i, key)
		case c < 0x20:
			r.pos = i
			return "", r.failAt(KeywordSyntax, "control character 0x%02x in a string at byte %d (it must be escaped)", c, i)
		case c >= utf8.RuneSelf:
			rn, size := utf8.DecodeRune(d[i:])
			if rn == utf8.RuneError && size == 1 {
				return "", r.failAt(KeywordUTF8, "invalid UTF-8 byte 0x%02x in a string at byte %d", c, i)
			}
			i += size
		default:
			i++
		}
	}
	return "", r.failAt(KeywordSyntax, "unexpected end of input at byte %d: string starting at byte %d not closed", len(d), r.pos)
}

// strSlow continues str from the first backslash at i, unescaping into the
// reader's scratch buffer.
func (r *reader) strSlow(start, i int, key bool) (string, *Problem) {
	d := r.data
	b := append(r.buf[:0], d[start:i]...)
	defer func() { r.buf = b[:0] }()
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			r.pos = i + 1
			if key {
				if k := internKey(b); k != "" {
					return k, nil
				}
			}
			return string(b), nil
		case c == '\\':
			if i+1 >= len(d) {
				return "", r.failAt(KeywordSyntax, "unexpected end of input at byte %d: incomplete escape", len(d))
			}
			e := d[i+1]
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
				i += 2
			case 'b':
				b = append(b, '\b')
				i += 2
			case 'f':
				b = append(b, '\f')
				i += 2
			case 'n':
				b = append(b, '\n')
				i += 2
			case 'r':
				b = append(b, '\r')
				i += 2
			case 't':
				b = append(b, '\t')
				i += 2
			case 'u':
				rn, ok := hex4(d, i+2)
				if !ok {
					return "", r.failAt(KeywordSyntax, "invalid \\u escape at byte %d: expected four hex digits", i)
				}
				n := 6
				if rn >= 0xD800 && rn < 0xDC00 {
					lo, ok := rune(0), false
					if i+7 < len(d) && d[i+6] == '\\' && d[i+7] == 'u' {
						lo, ok = hex4(d, i+8)
					}
					if !ok || lo < 0xDC00 || lo > 0xDFFF {
						return "", r.failAt(KeywordUTF8, "lone surrogate \\u%04X at byte %d: not valid Unicode", rn, i)
					}
					rn = 0x10000 + (rn-0xD800)<<10 + (lo - 0xDC00)
					n = 12
				} else if rn >= 0xDC00 && rn <= 0xDFFF {
					return "", r.failAt(KeywordUTF8, "lone surrogate \\u%04X at byte %d: not valid Unicode", rn, i)
				}
				b = utf8.AppendRune(b, rn)
				i += n
			default:
				return "", r.failAt(KeywordSyntax, "invalid escape \\%c in a string at byte %d", rune(e), i)
			}
		case c < 0x20:
			return "", r.failAt(KeywordSyntax, "control character 0x%02x in a string at byte %d (it must be escaped)", c, i)
		case c >= utf8.RuneSelf:
			rn, size := utf8.DecodeRune(d[i:])
			if rn == utf8.RuneError && size == 1 {
				return "", r.failAt(KeywordUTF8, "invalid UTF-8 byte 0x%02x in a string at byte %d", c, i)
			}
			b = append(b, d[i:i+size]...)
			i += size
		default:
			b = append(b, c)
			i++
		}
	}
	return "", r.failAt(KeywordSyntax, "unexpected end of input at byte %d: string starting at byte %d not closed", len(d), r.pos)
}

func hex4(d []byte, at int) (rune, bool) {
	if at+4 > len(d) {
		return 0, false
	}
	var v rune
	for _, c := range d[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// number reads one number literal per RFC 8259 and refuses what cannot be a
// finite float64: overflow (1e999), underflow of a non-zero value (1e-400),
// an exponent beyond ±maxExponent, or a literal longer than maxNumberLen.
func (r *reader) number() (any, *Problem) {
	d := r.data
	start := r.pos
	i := start
	if d[i] == '-' {
		i++
		if i < len(d) {
			if name := nonFinite(d[start:]); name != "" {
				return nil, r.failAt(KeywordNumber, "%s is not a JSON number (numbers must be finite) at byte %d", name, start)
			}
		}
	}
	if i >= len(d) {
		return nil, r.failAt(KeywordSyntax, "unexpected end of input at byte %d: incomplete number", i)
	}
	nonZero := false
	switch c := d[i]; {
	case c == '0':
		i++
		if i < len(d) && d[i] >= '0' && d[i] <= '9' {
			return nil, r.failAt(KeywordSyntax, "number with a leading zero at byte %d", start)
		}
	case c >= '1' && c <= '9':
		nonZero = true
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return nil, r.failAt(KeywordSyntax, "invalid number at byte %d: expected a digit after '-'", start)
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return nil, r.failAt(KeywordSyntax, "invalid number at byte %d: expected a digit after the decimal point", start)
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			if d[i] != '0' {
				nonZero = true
			}
			i++
		}
	}
	hasExp := false
	exp := 0
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		hasExp = true
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return nil, r.failAt(KeywordSyntax, "invalid number at byte %d: expected a digit in the exponent", start)
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			if exp <= maxExponent {
				exp = exp*10 + int(d[i]-'0')
			}
			i++
		}
	}
	if i-start > maxNumberLen {
		return nil, r.failAt(KeywordNumber, "number literal at byte %d is %d characters long; at most %d are allowed", start, i-start, maxNumberLen)
	}
	s := r.text[start:i]
	// Without an exponent, a literal of at most maxNumberLen characters is a
	// finite float64 and, when not zero, does not underflow.
	if nonZero && hasExp {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, r.failAt(KeywordNumber, "number %s overflows float64", s)
		}
		if f == 0 {
			return nil, r.failAt(KeywordNumber, "number %s underflows float64 (it would round to zero)", s)
		}
	}
	if exp > maxExponent {
		return nil, r.failAt(KeywordNumber, "number %s has an exponent beyond ±%d", s, maxExponent)
	}
	r.pos = i
	return json.Number(s), nil
}

// enumValue reads a string that is one of the contracts' enum values
// without allocating; false leaves the reader where it was.
func (r *reader) enumValue() (any, bool) {
	d := r.data[r.pos+1:]
	end := 0
	for end < len(d) && end < 8 && d[end] >= 'a' && d[end] <= 'z' {
		end++
	}
	if end == len(d) || d[end] != '"' {
		return nil, false
	}
	var v any
	switch string(d[:end]) {
	case "buy":
		v = "buy"
	case "sell":
		v = "sell"
	case "hold":
		v = "hold"
	case "limit":
		v = "limit"
	case "market":
		v = "market"
	case "paper":
		v = "paper"
	case "live":
		v = "live"
	default:
		return nil, false
	}
	r.pos += end + 2
	return v, true
}

// internKey returns the field names of the contracts without allocating, or
// "" for any other key.
func internKey(b []byte) string {
	switch string(b) {
	case "rationale":
		return "rationale"
	case "recommendations":
		return "recommendations"
	case "symbol":
		return "symbol"
	case "action":
		return "action"
	case "confidence":
		return "confidence"
	case "size_pct":
		return "size_pct"
	case "order_type":
		return "order_type"
	case "limit_price":
		return "limit_price"
	case "stop_loss":
		return "stop_loss"
	case "take_profit":
		return "take_profit"
	case "reason":
		return "reason"
	case "bid":
		return "bid"
	case "ask":
		return "ask"
	case "last":
		return "last"
	case "quote_volume_24h":
		return "quote_volume_24h"
	case "data_age_s":
		return "data_age_s"
	case "amount_step":
		return "amount_step"
	case "price_step":
		return "price_step"
	case "min_amount":
		return "min_amount"
	case "min_notional":
		return "min_notional"
	case "qty":
		return "qty"
	case "avg_price":
		return "avg_price"
	}
	return ""
}
