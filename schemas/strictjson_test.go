package schemas

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeStrictValues(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`null`, nil},
		{` true `, true},
		{`false`, false},
		{`"a\"b\\c\/d\b\f\n\r\t"`, "a\"b\\c/d\b\f\n\r\t"},
		{`"\u00e9\u20AC\ud83d\ude00"`, "é€😀"},
		{`"é€😀"`, "é€😀"},
		{`"\uFFFD"`, "\uFFFD"},
		{`-0`, json.Number("-0")},
		{`12.5e-3`, json.Number("12.5e-3")},
		{`1E+2`, json.Number("1E+2")},
		{`1.7976931348623157e308`, json.Number("1.7976931348623157e308")},
		{`5e-324`, json.Number("5e-324")},
		{`[]`, []any{}},
		{`{}`, map[string]any{}},
		{`{"a":[1,{"b":null}],"\u0062":"x"}`, map[string]any{"a": []any{json.Number("1"), map[string]any{"b": nil}}, "b": "x"}},
		{strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), nest(MaxDepth)},
	}
	for _, tt := range tests {
		got, p := decodeStrict([]byte(tt.in), 1<<20, "test")
		if p != nil {
			t.Errorf("decodeStrict(%.40q) problem: %+v", tt.in, p)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("decodeStrict(%.40q) = %#v; want %#v", tt.in, got, tt.want)
		}
	}
}

func nest(n int) any {
	v := []any{}
	for i := 1; i < n; i++ {
		v = []any{v}
	}
	return v
}

func TestDecodeStrictProblems(t *testing.T) {
	tests := []struct {
		in          string
		wantPointer string
		wantKeyword string
		wantMsg     string
	}{
		{`{"a":1,"b":{"c":1,"c":2}}`, "/b/c", KeywordDuplicate, `duplicate key "c" at /b (second occurrence at byte 18)`},
		{`{"a~b/c":{},"a~b/c":1}`, "/a~0b~1c", KeywordDuplicate, `duplicate key "a~b/c" at the top level`},
		{`{"k":[1,2,NaN]}`, "/k/2", KeywordNumber, "NaN is not a JSON number (numbers must be finite) at byte 10 at /k/2"},
		{`[nan]`, "/0", KeywordNumber, "nan is not a JSON number"},
		{`[-inf]`, "/0", KeywordNumber, "-inf is not a JSON number"},
		{`[1e309]`, "/0", KeywordNumber, "number 1e309 overflows float64"},
		{`[-1e309]`, "/0", KeywordNumber, "number -1e309 overflows float64"},
		{`[1.]`, "/0", KeywordSyntax, "expected a digit after the decimal point"},
		{`[.5]`, "/0", KeywordSyntax, "unexpected character '.'"},
		{`[1e]`, "/0", KeywordSyntax, "expected a digit in the exponent"},
		{`[-]`, "/0", KeywordSyntax, "expected a digit after '-'"},
		{`[tru]`, "/0", KeywordSyntax, "invalid literal at byte 1: expected true"},
		{`[1,]`, "", KeywordSyntax, "trailing comma before ']'"},
		{`[1 2]`, "", KeywordSyntax, "expected ',' or ']'"},
		{`{"a" 1}`, "", KeywordSyntax, `expected ':' after key "a"`},
		{`{"a":1`, "", KeywordSyntax, "object not closed"},
		{`"\ude00"`, "", KeywordUTF8, `lone surrogate \uDE00`},
		{`"\ud83dx"`, "", KeywordUTF8, `lone surrogate \uD83D`},
		{`"\u12G4"`, "", KeywordSyntax, "expected four hex digits"},
		{"\"a\tb\"", "", KeywordSyntax, "control character 0x09"},
		{"{\"\xff\":1}", "", KeywordUTF8, "invalid UTF-8 byte 0xff"},
		{"\xff", "", KeywordSyntax, "invalid UTF-8 byte 0xff at byte 0"},
		{"\"\xed\xa0\x80\"", "", KeywordUTF8, "invalid UTF-8"}, // UTF-8-encoded surrogate
		{`{} // comment`, "", KeywordTrailing, "trailing data after the JSON value at byte 3"},
		{`1 2`, "", KeywordTrailing, "a second JSON value starts at byte 2"},
		{strings.Repeat(`{"a":`, MaxDepth+1) + `1` + strings.Repeat(`}`, MaxDepth+1), strings.Repeat("/a", MaxDepth), KeywordDepth, "nesting deeper than 32 levels"},
	}
	for _, tt := range tests {
		_, p := decodeStrict([]byte(tt.in), 1<<20, "test")
		if p == nil {
			t.Errorf("decodeStrict(%.40q) = no problem; want %s", tt.in, tt.wantKeyword)
			continue
		}
		if p.Pointer != tt.wantPointer || p.Keyword != tt.wantKeyword || !strings.Contains(p.Message, tt.wantMsg) {
			t.Errorf("decodeStrict(%.40q) = %+v; want pointer %q, keyword %q, message containing %q", tt.in, *p, tt.wantPointer, tt.wantKeyword, tt.wantMsg)
		}
	}
}

// TestDecodeStrictAgreesWithEncodingJSON checks that on inputs both accept,
// the strict reader produces the same value as encoding/json with UseNumber.
func TestDecodeStrictAgreesWithEncodingJSON(t *testing.T) {
	for _, name := range []string{"recommendation.example.json", "state.example.json"} {
		raw := readTestdata(t, name)
		got, p := decodeStrict(raw, 1<<20, "test")
		if p != nil {
			t.Fatalf("decodeStrict(%s): %+v", name, p)
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decodeStrict(%s) = %v; want %v", name, got, want)
		}
	}
}
