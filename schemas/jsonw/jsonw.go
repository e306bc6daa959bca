// Package jsonw appends JSON values to a byte slice exactly as
// encoding/json writes them (json.Encoder with SetEscapeHTML(false), unless
// a function says otherwise). The audit store and the contract types
// encode a record at every cycle of a backtest; writing their fields with
// these instead of encoding/json's reflection, and without its second
// pass over the output of every MarshalJSON and RawMessage, is most of
// what keeps an audited backtest fast. Every encoder built on them is
// tested against encoding/json, byte for byte.
package jsonw

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// QuotedDecimal appends d as decimal's MarshalJSON writes it: its
// String() in quotes.
func QuotedDecimal(b []byte, d decimal.Decimal) []byte {
	if decimal.MarshalJSONWithoutQuotes {
		return Decimal(b, d)
	}
	b = append(b, '"')
	b = Decimal(b, d)
	return append(b, '"')
}

// String appends s as encoding/json writes a string with HTML escaping
// off: quotes and backslashes escaped, \b \f \n \r \t, other control
// bytes as \u00XX, U+2028 and U+2029 escaped, and each byte of invalid
// UTF-8 as \ufffd.
func String(b []byte, s string) []byte { return appendString(b, s, false) }

// StringHTML appends s as json.Marshal writes a string: as String does,
// and <, > and & as \u003c, \u003e and \u0026.
func StringHTML(b []byte, s string) []byte { return appendString(b, s, true) }

func appendString(b []byte, s string, html bool) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight plain ASCII bytes at a time: most of a prompt or an
		// answer is written as it is.
		if i+8 <= len(s) && !special8(load64(s, i), html) {
			i += 8
			continue
		}
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!html || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += n
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += n
			start = i
			continue
		}
		i += n
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Word-at-a-time tests: lsb has the low bit of each byte set, msb the high
// bit.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// load64 reads s[i:i+8] as a little-endian word.
func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// hasByte reports whether a byte of w equals c.
func hasByte(w uint64, c byte) bool {
	v := w ^ (lsb * uint64(c))
	return (v-lsb)&^v&msb != 0
}

// special8 reports whether one of the eight bytes in w may need escaping
// or decoding: a control byte, a quote, a backslash, a byte of a non-ASCII
// rune, and in HTML mode <, > or &. (Exact for ASCII; any doubt sends
// the bytes down the byte-by-byte path.)
func special8(w uint64, html bool) bool {
	if w&msb != 0 || (w-lsb*0x20)&^w&msb != 0 || hasByte(w, '"') || hasByte(w, '\\') {
		return true
	}
	return html && (hasByte(w, '<') || hasByte(w, '>') || hasByte(w, '&'))
}

// Time appends t as its MarshalJSON writes it (RFC 3339 with nanoseconds,
// quoted); like MarshalJSON, it refuses a year outside [0, 9999].
func Time(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		_, err := t.MarshalJSON()
		return b, err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// Int appends n in decimal.
func Int(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// Bool appends true or false.
func Bool(b []byte, v bool) []byte { return strconv.AppendBool(b, v) }

// Raw appends raw as encoding/json writes a json.RawMessage (HTML escaping
// off): null when empty, else compacted, and an error when it is not
// valid JSON. For raw JSON from outside the encoder (a configuration, a
// caller's value); JSON this package's users wrote themselves is compact
// already and is appended as it is.
func Raw(b []byte, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return append(b, "null"...), nil
	}
	buf := bytes.NewBuffer(b)
	if err := json.Compact(buf, raw); err != nil {
		return b, fmt.Errorf("json: raw message: %w", err)
	}
	return buf.Bytes(), nil
}
