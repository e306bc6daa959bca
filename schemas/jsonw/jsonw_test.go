package jsonw

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// encode is what encoding/json writes for v, HTML escaping on or off.
func encode(t *testing.T, v any, escapeHTML bool) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// randomText mixes what needs escaping (quotes, backslashes, control
// bytes, <>&, U+2028/9, invalid UTF-8) with plain ASCII and other runes.
func randomText(r *rand.Rand) string {
	pieces := []string{"a", "Z", " ", `"`, `\`, "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "<", ">", "&", "\u2028", "\u2029",
		"é", "→", "😀", "\xff", "\xc3", "\xe2\x82", "σ", "BTC/USDT", "{\"a\":1}"}
	var sb strings.Builder
	for range r.IntN(40) {
		sb.WriteString(pieces[r.IntN(len(pieces))])
	}
	return sb.String()
}

func TestStringIsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	texts := []string{"", "plain", strings.Repeat("x", 5000)}
	for range 5000 {
		texts = append(texts, randomText(r))
	}
	for _, s := range texts {
		if got, want := string(String([]byte("x"), s)), "x"+encode(t, s, false); got != want {
			t.Fatalf("String(%q) = %s; encoding/json writes %s", s, got, want)
		}
		if got, want := string(StringHTML(nil, s)), encode(t, s, true); got != want {
			t.Fatalf("StringHTML(%q) = %s; json.Marshal writes %s", s, got, want)
		}
	}
}

func TestTimeIsMarshalJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	zones := []*time.Location{time.UTC, time.FixedZone("", 0), time.FixedZone("x", 5*3600+1800), time.FixedZone("y", -8*3600)}
	times := []time.Time{{}, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)}
	for range 3000 {
		times = append(times, time.Unix(r.Int64N(1<<36)-1<<35, r.Int64N(1e9)*int64(r.IntN(2))).In(zones[r.IntN(len(zones))]))
	}
	for _, tm := range times {
		want, err := tm.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Time([]byte("x"), tm)
		if err != nil || string(got) != "x"+string(want) {
			t.Fatalf("Time(%v) = %s, %v; MarshalJSON writes %s", tm, got, err, want)
		}
	}
	for _, tm := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if _, err := tm.MarshalJSON(); err == nil {
			t.Fatalf("MarshalJSON accepts %v", tm)
		}
		if got, err := Time([]byte("x"), tm); err == nil || string(got) != "x" {
			t.Errorf("Time(%v) = %s, %v; want MarshalJSON's error and nothing appended", tm, got, err)
		}
	}
}

func TestRawIsEncodingJSON(t *testing.T) {
	for _, raw := range []string{`{"a": [1, 2 ,3], "b" : "x y <&>"}`, "\n\t{ }\n", `"s"`, `12.5e3`, `null`, ` [ ] `} {
		got, err := Raw([]byte("x"), json.RawMessage(raw))
		if want := encode(t, json.RawMessage(raw), false); err != nil || string(got) != "x"+want {
			t.Errorf("Raw(%q) = %s, %v; encoding/json writes %s", raw, got, err, want)
		}
	}
	if got, err := Raw(nil, nil); err != nil || string(got) != "null" {
		t.Errorf("Raw(nil) = %s, %v; want null", got, err)
	}
	for _, raw := range []string{`{`, `{"a":}`, `[1,]`, `tru`, `"open`, `1 2`} {
		if _, err := json.Marshal(json.RawMessage(raw)); err == nil {
			t.Fatalf("encoding/json accepts %q", raw)
		}
		if got, err := Raw([]byte("x"), json.RawMessage(raw)); err == nil || string(got) != "x" {
			t.Errorf("Raw(%q) = %s, %v; want an error and nothing appended", raw, got, err)
		}
	}
}

// TestStringFindsEverySpecialByteAtEveryOffset: each byte that needs
// escaping, or starts a rune, is found wherever it falls in a word of
// plain ASCII (the eight-bytes-at-a-time path).
func TestStringFindsEverySpecialByteAtEveryOffset(t *testing.T) {
	specials := []string{"\x00", "\x1f", "\n", `"`, `\`, "<", ">", "&", "\x7f", " ", "~", "é", "\u2028", "\xff", "😀"}
	for _, sp := range specials {
		for at := 0; at < 40; at++ {
			s := strings.Repeat("a", at) + sp + strings.Repeat("z", 40-at)
			if got, want := string(String(nil, s)), encode(t, s, false); got != want {
				t.Fatalf("String(%q) = %s; encoding/json writes %s", s, got, want)
			}
			if got, want := string(StringHTML(nil, s)), encode(t, s, true); got != want {
				t.Fatalf("StringHTML(%q) = %s; json.Marshal writes %s", s, got, want)
			}
		}
	}
}

// BenchmarkString: a model call's request text, as an audit record holds
// it (a prompt already encoded once, so its quotes and newlines escape
// again).
func BenchmarkString(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"system":"You are a careful trading assistant.","user":"Decision time: 2017-09-10T15:00:00Z (mode: paper)\nAccount (quote USDT):\n`)
	for range 30 {
		sb.WriteString(`  2017-09-10 03:00 | 4126.06 | 4166.00 | 4087.62 | 4144.00 | 50.2724\n`)
	}
	sb.WriteString(`Answer with the JSON object for: BTC/USDT.\n"}`)
	s := sb.String()
	buf := make([]byte, 0, 2*len(s))
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		buf = String(buf[:0], s)
	}
}
