package schemas

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exampleWith returns the contract example with the first occurrence of old
// replaced by new; it fails the test if old is not there.
func exampleWith(t testing.TB, old, new string) string {
	t.Helper()
	s := string(readTestdata(t, "recommendation.example.json"))
	if !strings.Contains(s, old) {
		t.Fatalf("example has no %q", old)
	}
	return strings.Replace(s, old, new, 1)
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func decPtr(s string) *decimal.Decimal { d := dec(s); return &d }

func TestParseResponseExample(t *testing.T) {
	got, err := ParseResponse(readTestdata(t, "recommendation.example.json"))
	if err != nil {
		t.Fatalf("ParseResponse(example) error: %v", err)
	}
	want := Response{
		Rationale: "BTC reclaimed its 20-period high on rising volume while ETH lags; funding is neutral. A small long in BTC with a tight stop is justified; ETH has no edge today.",
		Recommendations: []Recommendation{
			{
				Symbol: "BTC/USDT", Action: ActionBuy, Confidence: dec("0.62"), SizePct: dec("1.0"),
				OrderType: OrderLimit, LimitPrice: decPtr("42010.5"), StopLoss: decPtr("41200.0"),
				TakeProfit: decPtr("43900.0"), Reason: "Breakout above the 20-period high with volume confirmation.",
			},
			{
				Symbol: "ETH/USDT", Action: ActionHold, Confidence: dec("0.5"), SizePct: dec("0"),
				OrderType: OrderLimit, Reason: "No clear edge.",
			},
		},
	}
	if diff := diffResponse(got, want); diff != "" {
		t.Errorf("ParseResponse(example): %s", diff)
	}
	// The decimal keeps the literal's exact value: no float64 detour.
	if s := got.Recommendations[0].LimitPrice.String(); s != "42010.5" {
		t.Errorf("limit_price = %s; want 42010.5", s)
	}
}

// diffResponse compares two responses with decimal equality; "" if equal.
func diffResponse(got, want Response) string {
	if got.Rationale != want.Rationale {
		return "rationale = " + quote(got.Rationale) + "; want " + quote(want.Rationale)
	}
	if len(got.Recommendations) != len(want.Recommendations) {
		return "different number of recommendations"
	}
	for i := range got.Recommendations {
		g, w := got.Recommendations[i], want.Recommendations[i]
		eqp := func(a, b *decimal.Decimal) bool {
			if a == nil || b == nil {
				return a == nil && b == nil
			}
			return a.Equal(*b)
		}
		if g.Symbol != w.Symbol || g.Action != w.Action || g.OrderType != w.OrderType || g.Reason != w.Reason ||
			!g.Confidence.Equal(w.Confidence) || !g.SizePct.Equal(w.SizePct) ||
			!eqp(g.LimitPrice, w.LimitPrice) || !eqp(g.StopLoss, w.StopLoss) || !eqp(g.TakeProfit, w.TakeProfit) {
			return "recommendation " + itoa(i) + " = " + recString(g) + "; want " + recString(w)
		}
	}
	return ""
}

func recString(r Recommendation) string {
	p := func(d *decimal.Decimal) string {
		if d == nil {
			return "null"
		}
		return d.String()
	}
	return strings.Join([]string{r.Symbol, string(r.Action), r.Confidence.String(), r.SizePct.String(), string(r.OrderType), p(r.LimitPrice), p(r.StopLoss), p(r.TakeProfit), quote(r.Reason)}, " ")
}

func quote(s string) string { return `"` + s + `"` }

func itoa(i int) string { return decimal.NewFromInt(int64(i)).String() }

func TestParseResponseRejects(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	tests := []struct {
		name        string
		in          string
		wantPointer string
		wantKeyword string
		wantMsg     string // substring of the problem's message
	}{
		// Strict JSON, before the schema.
		{"empty", "", "", KeywordSyntax, "response is empty"},
		{"whitespace only", " \n\t ", "", KeywordSyntax, "response is empty"},
		{"invalid JSON", `{"rationale": "x",}`, "", KeywordSyntax, "trailing comma before '}' at byte 18"},
		{"unquoted key", `{rationale: "x"}`, "", KeywordSyntax, "expected a quoted object key"},
		{"single quotes", `{'rationale': 'x'}`, "", KeywordSyntax, "expected a quoted object key"},
		{"truncated", `{"rationale": "x", "recommendations": [`, "/recommendations/0", KeywordSyntax, "unexpected end of input"},
		{"unterminated string", `{"rationale": "abc`, "/rationale", KeywordSyntax, "not closed"},
		{"trailing text", exampleWith(t, "\n}\n", "\n} thanks!\n"), "", KeywordTrailing, "trailing data after the JSON value at byte"},
		{"two values", `{"rationale":"a"} {"rationale":"b"}`, "", KeywordTrailing, "a second JSON value starts at byte 18"},
		{"markdown fence", "```json\n{}\n```", "", KeywordSyntax, "unexpected character '`' at byte 0"},
		{"byte order mark", "\xEF\xBB\xBF{}", "", KeywordSyntax, "byte-order mark"},
		{"duplicate top-level key", exampleWith(t, `"rationale":`, `"rationale": "first", "rationale":`), "/rationale", KeywordDuplicate, `duplicate key "rationale" at the top level`},
		{"duplicate nested key", exampleWith(t, `"symbol": "BTC/USDT",`, `"symbol": "BTC/USDT", "symbol": "ETH/USDT",`), "/recommendations/0/symbol", KeywordDuplicate, `duplicate key "symbol" at /recommendations/0`},
		{"duplicate key via escape", exampleWith(t, `"action": "hold",`, `"action": "hold", "\u0061ction": "buy",`), "/recommendations/1/action", KeywordDuplicate, `duplicate key "action" at /recommendations/1`},
		{"NaN", exampleWith(t, `"confidence": 0.62`, `"confidence": NaN`), "/recommendations/0/confidence", KeywordNumber, "NaN is not a JSON number"},
		{"Infinity", exampleWith(t, `"limit_price": 42010.5`, `"limit_price": Infinity`), "/recommendations/0/limit_price", KeywordNumber, "Infinity is not a JSON number"},
		{"-Infinity", exampleWith(t, `"size_pct": 1.0`, `"size_pct": -Infinity`), "/recommendations/0/size_pct", KeywordNumber, "-Infinity is not a JSON number"},
		{"overflow", exampleWith(t, `"confidence": 0.62`, `"confidence": 1e999`), "/recommendations/0/confidence", KeywordNumber, "number 1e999 overflows float64 at /recommendations/0/confidence"},
		{"number literal too long", exampleWith(t, `"limit_price": 42010.5`, `"limit_price": 1`+strings.Repeat("0", 309)), "/recommendations/0/limit_price", KeywordNumber, "at most 100 are allowed"},
		{"underflow", exampleWith(t, `"confidence": 0.62`, `"confidence": 1e-400`), "/recommendations/0/confidence", KeywordNumber, "underflows float64"},
		{"huge exponent on zero", exampleWith(t, `"size_pct": 0`, `"size_pct": 0e-999999999`), "/recommendations/1/size_pct", KeywordNumber, "exponent beyond"},
		{"leading zero", exampleWith(t, `"size_pct": 0`, `"size_pct": 00`), "/recommendations/1/size_pct", KeywordSyntax, "leading zero"},
		{"plus sign", exampleWith(t, `"size_pct": 0`, `"size_pct": +1`), "/recommendations/1/size_pct", KeywordSyntax, "unexpected character '+'"},
		{"hex number", exampleWith(t, `"size_pct": 0`, `"size_pct": 0x10`), "/recommendations/1", KeywordSyntax, "expected ',' or '}' after the value of \"size_pct\""},
		{"deep nesting", deep, strings.Repeat("/0", MaxDepth), KeywordDepth, "nesting deeper than 32 levels"},
		{"oversize", `{"rationale": "` + strings.Repeat("a", MaxResponseBytes) + `"}`, "", KeywordSize, "at most 262144 bytes"},
		{"invalid UTF-8", exampleWith(t, "No clear edge.", "No clear \xff edge."), "/recommendations/1/reason", KeywordUTF8, "invalid UTF-8 byte 0xff"},
		{"overlong UTF-8", exampleWith(t, "No clear edge.", "No clear \xC0\xAF edge."), "/recommendations/1/reason", KeywordUTF8, "invalid UTF-8"},
		{"lone surrogate", exampleWith(t, "No clear edge.", `No clear \ud800 edge.`), "/recommendations/1/reason", KeywordUTF8, `lone surrogate \uD800`},
		{"raw control character", exampleWith(t, "No clear edge.", "No clear\x01edge."), "/recommendations/1/reason", KeywordSyntax, "control character 0x01"},
		{"bad escape", exampleWith(t, "No clear edge.", `No clear \x edge.`), "/recommendations/1/reason", KeywordSyntax, `invalid escape \x`},

		// The schema.
		{"unknown top-level field", exampleWith(t, `"rationale":`, `"note": "hi", "rationale":`), "/note", "additionalProperties", `unknown property "note" at the top level`},
		{"unknown nested field", exampleWith(t, `"symbol": "BTC/USDT",`, `"symbol": "BTC/USDT", "leverage": 10,`), "/recommendations/0/leverage", "additionalProperties", `unknown property "leverage" at /recommendations/0`},
		{"missing required", exampleWith(t, `"stop_loss": 41200.0,`, ``), "/recommendations/0/stop_loss", "required", `missing required property "stop_loss" at /recommendations/0`},
		{"missing rationale", `{"recommendations": []}`, "/rationale", "required", `missing required property "rationale" at the top level`},
		{"top level not an object", `[]`, "", "type", "the top level must be an object, not an array"},
		{"wrong type string for number", exampleWith(t, `"confidence": 0.62`, `"confidence": "0.62"`), "/recommendations/0/confidence", "type", `/recommendations/0/confidence must be a number, not the string "0.62"`},
		{"wrong type number for string", exampleWith(t, `"symbol": "BTC/USDT"`, `"symbol": 42`), "/recommendations/0/symbol", "type", "must be a string, not the number 42"},
		{"wrong type nullable", exampleWith(t, `"stop_loss": 41200.0`, `"stop_loss": true`), "/recommendations/0/stop_loss", "type", "must be a number or null, not the boolean true"},
		{"null not allowed", exampleWith(t, `"confidence": 0.62`, `"confidence": null`), "/recommendations/0/confidence", "type", "must be a number, not null"},
		{"recommendations not array", `{"rationale": "x", "recommendations": {}}`, "/recommendations", "type", "must be an array, not an object"},
		{"lowercase symbol", exampleWith(t, `"BTC/USDT"`, `"btc/usdt"`), "/recommendations/0/symbol", "pattern", "contains lower-case letters"},
		{"lookalike symbol", exampleWith(t, `"BTC/USDT"`, `"BTC/USDТ"`), "/recommendations/0/symbol", "pattern", "non-ASCII character 'Т' (U+0422)"},
		{"fullwidth slash", exampleWith(t, `"BTC/USDT"`, `"BTC／USDT"`), "/recommendations/0/symbol", "pattern", "U+FF0F"},
		{"symbol without slash", exampleWith(t, `"BTC/USDT"`, `"BTCUSDT"`), "/recommendations/0/symbol", "pattern", "'/' between base and quote is missing"},
		{"symbol with two slashes", exampleWith(t, `"BTC/USDT"`, `"BTC/USDT/X"`), "/recommendations/0/symbol", "pattern", "more than one '/'"},
		{"symbol with space", exampleWith(t, `"BTC/USDT"`, `"BTC/USDT "`), "/recommendations/0/symbol", "pattern", `symbol "BTC/USDT " must be BASE/QUOTE`},
		{"action not in enum", exampleWith(t, `"action": "buy"`, `"action": "short"`), "/recommendations/0/action", "enum", `is the string "short"; it must be one of "buy", "sell", "hold"`},
		{"action upper case", exampleWith(t, `"action": "buy"`, `"action": "BUY"`), "/recommendations/0/action", "enum", `the string "BUY"`},
		{"order type not in enum", exampleWith(t, `"order_type": "limit"`, `"order_type": "stop"`), "/recommendations/0/order_type", "enum", `it must be one of "limit", "market"`},
		{"confidence 1.5", exampleWith(t, `"confidence": 0.62`, `"confidence": 1.5`), "/recommendations/0/confidence", "maximum", "/recommendations/0/confidence is 1.5; it must be at most 1"},
		{"confidence negative", exampleWith(t, `"confidence": 0.62`, `"confidence": -0.1`), "/recommendations/0/confidence", "minimum", "is -0.1; it must be at least 0"},
		{"size_pct -1", exampleWith(t, `"size_pct": 1.0`, `"size_pct": -1`), "/recommendations/0/size_pct", "minimum", "/recommendations/0/size_pct is -1; it must be at least 0"},
		{"size_pct 100.5", exampleWith(t, `"size_pct": 1.0`, `"size_pct": 100.5`), "/recommendations/0/size_pct", "maximum", "it must be at most 100"},
		{"limit_price 0", exampleWith(t, `"limit_price": 42010.5`, `"limit_price": 0`), "/recommendations/0/limit_price", "exclusiveMinimum", "/recommendations/0/limit_price is 0; it must be greater than 0"},
		{"stop_loss negative", exampleWith(t, `"stop_loss": 41200.0`, `"stop_loss": -5`), "/recommendations/0/stop_loss", "exclusiveMinimum", "greater than 0"},
		{"empty rationale", exampleWith(t, `"BTC reclaimed its 20-period high on rising volume while ETH lags; funding is neutral. A small long in BTC with a tight stop is justified; ETH has no edge today."`, `""`), "/rationale", "minLength", "/rationale is empty; it must be 1 to 8000 characters"},
		{"blank reason", exampleWith(t, `"No clear edge."`, `" \n "`), "/recommendations/1/reason", "pattern", "must contain text, not only whitespace"},
		{"rationale too long", exampleWith(t, `"rationale": "BTC`, `"rationale": "`+strings.Repeat("é", 8000)+`BTC`), "/rationale", "maxLength", "characters long; at most 8000 are allowed"},
		{"reason too long", exampleWith(t, `"No clear edge."`, `"`+strings.Repeat("x", 1001)+`"`), "/recommendations/1/reason", "maxLength", "is 1001 characters long; at most 1000 are allowed"},
		{"no recommendations", `{"rationale": "nothing", "recommendations": []}`, "/recommendations", "minItems", "has 0 items; at least 1 are required"},
		{"too many recommendations", `{"rationale": "x", "recommendations": [` + strings.TrimSuffix(strings.Repeat(`{"symbol":"BTC/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"r"},`, 21), ",") + `]}`, "/recommendations", "maxItems", "has 21 items; at most 20 are allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResponse([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseResponse(%.80q) = %+v, nil; want an error", tt.in, got)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseResponse(%.80q) error %T %v; want *ParseError", tt.in, err, err)
			}
			if len(got.Recommendations) != 0 || got.Rationale != "" {
				t.Errorf("ParseResponse(%.80q) returned a partial response %+v alongside the error", tt.in, got)
			}
			for _, p := range pe.Problems {
				if p.Pointer == tt.wantPointer && p.Keyword == tt.wantKeyword && strings.Contains(p.Message, tt.wantMsg) {
					return
				}
			}
			t.Errorf("ParseResponse(%.80q) problems = %+v; want one with pointer %q, keyword %q, message containing %q", tt.in, pe.Problems, tt.wantPointer, tt.wantKeyword, tt.wantMsg)
		})
	}
}

func TestParseResponseAccepts(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(Response) bool
	}{
		{"escaped strings", exampleWith(t, `"No clear edge."`, `"No \"clear\" edge \u00e9 \ud83d\ude00 \/ \\ \n."`), func(r Response) bool {
			return r.Recommendations[1].Reason == "No \"clear\" edge é 😀 / \\ \n."
		}},
		{"exponent number", exampleWith(t, `"limit_price": 42010.5`, `"limit_price": 4.20105E+4`), func(r Response) bool {
			return r.Recommendations[0].LimitPrice.Equal(dec("42010.5"))
		}},
		{"integer bounds inclusive", exampleWith(t, `"confidence": 0.62`, `"confidence": 1`), func(r Response) bool {
			return r.Recommendations[0].Confidence.Equal(dec("1"))
		}},
		{"size_pct 100", exampleWith(t, `"size_pct": 1.0`, `"size_pct": 100`), func(r Response) bool {
			return r.Recommendations[0].SizePct.Equal(dec("100"))
		}},
		{"tiny price", exampleWith(t, `"limit_price": 42010.5`, `"limit_price": 0.00000001`), func(r Response) bool {
			return r.Recommendations[0].LimitPrice.Equal(dec("0.00000001"))
		}},
		{"precision beyond float64", exampleWith(t, `"limit_price": 42010.5`, `"limit_price": 42010.123456789012345678`), func(r Response) bool {
			return r.Recommendations[0].LimitPrice.String() == "42010.123456789012345678"
		}},
		{"symbol with digits", exampleWith(t, `"BTC/USDT"`, `"1INCH/USDT"`), func(r Response) bool {
			return r.Recommendations[0].Symbol == "1INCH/USDT"
		}},
		{"market order", exampleWith(t, `"order_type": "limit"`, `"order_type": "market"`), func(r Response) bool {
			return r.Recommendations[0].OrderType == OrderMarket
		}},
		{"compact and CRLF whitespace", strings.ReplaceAll(string(readTestdata(t, "recommendation.example.json")), "\n", "\r\n"), func(r Response) bool {
			return len(r.Recommendations) == 2
		}},
		{"non-ASCII text in reason", exampleWith(t, `"No clear edge."`, `"Kein klarer Vorteil — 没有优势"`), func(r Response) bool {
			return r.Recommendations[1].Reason == "Kein klarer Vorteil — 没有优势"
		}},
		{"exactly 8000 characters", exampleWith(t, `"rationale": "BTC reclaimed its 20-period high on rising volume while ETH lags; funding is neutral. A small long in BTC with a tight stop is justified; ETH has no edge today."`, `"rationale": "`+strings.Repeat("ü", 8000)+`"`), func(r Response) bool {
			return len([]rune(r.Rationale)) == 8000
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResponse([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseResponse(%.80q) error: %v", tt.in, err)
			}
			if !tt.check(got) {
				t.Errorf("ParseResponse(%.80q) = %+v; check failed", tt.in, got)
			}
		})
	}
}

func TestParseResponseReportsEveryProblem(t *testing.T) {
	in := `{"rationale": "", "recommendations": [
	  {"symbol": "btc/usdt", "action": "short", "confidence": 1.5, "size_pct": -1, "order_type": "limit",
	   "limit_price": 0, "stop_loss": "x", "take_profit": null, "reason": "r", "extra": 1},
	  {"symbol": "ETH/USDT", "action": "hold", "confidence": 0.5, "size_pct": 0, "order_type": "limit",
	   "limit_price": null, "stop_loss": null, "take_profit": null}
	]}`
	_, err := ParseResponse([]byte(in))
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("ParseResponse error = %v; want *ParseError", err)
	}
	want := []struct{ pointer, keyword string }{
		{"/rationale", "minLength"},
		{"/recommendations/0/action", "enum"},
		{"/recommendations/0/confidence", "maximum"},
		{"/recommendations/0/extra", "additionalProperties"},
		{"/recommendations/0/limit_price", "exclusiveMinimum"},
		{"/recommendations/0/size_pct", "minimum"},
		{"/recommendations/0/stop_loss", "type"},
		{"/recommendations/0/symbol", "pattern"},
		{"/recommendations/1/reason", "required"},
	}
	if len(pe.Problems) != len(want) {
		t.Fatalf("got %d problems %+v; want %d", len(pe.Problems), pe.Problems, len(want))
	}
	for i, w := range want {
		if p := pe.Problems[i]; p.Pointer != w.pointer || p.Keyword != w.keyword {
			t.Errorf("problem %d = %s %s (%s); want %s %s", i, p.Pointer, p.Keyword, p.Message, w.pointer, w.keyword)
		}
	}
	if !strings.HasPrefix(err.Error(), "invalid response (9 problems): /rationale is empty") {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestParseErrorViolations(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantRule string
		wantPtr  string
	}{
		{"strict JSON problem", `{"a": 1, "a": 2}`, RuleJSON, "/a"},
		{"schema problem", exampleWith(t, `"BTC/USDT"`, `"BTCUSDT"`), RuleSchema, "/recommendations/0/symbol"},
		{"size problem", strings.Repeat(" ", MaxResponseBytes+1), RuleJSON, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseResponse([]byte(tt.in))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseResponse error = %v; want *ParseError", err)
			}
			vs := pe.Violations()
			if len(vs) != len(pe.Problems) || len(vs) == 0 {
				t.Fatalf("Violations() = %+v; want one per problem %+v", vs, pe.Problems)
			}
			v := vs[0]
			if v.Rule != tt.wantRule || v.Source != SourceSchema || v.Pointer != tt.wantPtr || v.Message != pe.Problems[0].Message {
				t.Errorf("Violations()[0] = %+v; want rule %q, source %q, pointer %q, message %q", v, tt.wantRule, SourceSchema, tt.wantPtr, pe.Problems[0].Message)
			}
		})
	}
}

func TestMarshalResponseRoundTrip(t *testing.T) {
	in := readTestdata(t, "recommendation.example.json")
	r, err := ParseResponse(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalResponse(r)
	if err != nil {
		t.Fatalf("MarshalResponse: %v", err)
	}
	want := `{"rationale":"BTC reclaimed its 20-period high on rising volume while ETH lags; funding is neutral. A small long in BTC with a tight stop is justified; ETH has no edge today.","recommendations":[` +
		`{"symbol":"BTC/USDT","action":"buy","confidence":0.62,"size_pct":1,"order_type":"limit","limit_price":42010.5,"stop_loss":41200,"take_profit":43900,"reason":"Breakout above the 20-period high with volume confirmation."},` +
		`{"symbol":"ETH/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"No clear edge."}]}`
	if string(b) != want {
		t.Errorf("MarshalResponse(example) =\n%s\nwant\n%s", b, want)
	}
	r2, err := ParseResponse(b)
	if err != nil {
		t.Fatalf("ParseResponse(MarshalResponse(example)) error: %v", err)
	}
	if diff := diffResponse(r2, r); diff != "" {
		t.Errorf("round trip: %s", diff)
	}
}

// TestParseResponseConcurrent shares the compiled schema across goroutines;
// run with -race.
func TestParseResponseConcurrent(t *testing.T) {
	good := readTestdata(t, "recommendation.example.json")
	bad := []byte(exampleWith(t, `"BTC/USDT"`, `"btc/usdt"`))
	done := make(chan error)
	for i := 0; i < 8; i++ {
		go func() {
			for j := 0; j < 50; j++ {
				if _, err := ParseResponse(good); err != nil {
					done <- err
					return
				}
				if _, err := ParseResponse(bad); err == nil {
					done <- errors.New("accepted btc/usdt")
					return
				}
			}
			done <- nil
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestToResponseReportsTypeMismatch covers the conversion's own checks,
// which the schema makes unreachable from ParseResponse: a mismatch is an
// error, never a zero value passed on.
func TestToResponseReportsTypeMismatch(t *testing.T) {
	doc := map[string]any{
		"rationale": json.Number("1"),
		"recommendations": []any{
			"not an object",
			map[string]any{"symbol": "BTC/USDT", "action": "buy", "confidence": "high", "size_pct": json.Number("1"),
				"order_type": "limit", "limit_price": true, "stop_loss": nil, "take_profit": nil, "reason": "r"},
		},
	}
	got, problems := toResponse(doc)
	var pointers []string
	for _, p := range problems {
		pointers = append(pointers, p.Pointer)
	}
	want := []string{"/rationale", "/recommendations/0", "/recommendations/1/confidence", "/recommendations/1/limit_price"}
	if strings.Join(pointers, " ") != strings.Join(want, " ") {
		t.Errorf("toResponse problems at %v; want %v (%+v)", pointers, want, problems)
	}
	if got.Rationale != "" || got.Recommendations != nil {
		t.Errorf("toResponse returned %+v alongside problems; want the zero Response", got)
	}
	if _, problems := toResponse([]any{}); len(problems) != 1 || problems[0].Pointer != "" {
		t.Errorf("toResponse([]) problems = %+v; want one at the top level", problems)
	}
}

// TestMarshalResponseExtremeNumbers: every number ParseResponse accepts,
// however tiny or large, is written back as a literal the strict parser
// accepts again, with the same value. decimal's plain notation wrote
// 1e-320 as a 322-character literal, which the parser refuses: a wrapper
// that re-marshals answers (anonymised prompts, consensus) turned a
// recommendation the policy would have rejected into a schema error that
// voided the whole response (black-box finding).
func TestMarshalResponseExtremeNumbers(t *testing.T) {
	ex := string(readTestdata(t, "recommendation.example.json"))
	for _, tc := range []struct{ old, lit string }{
		{`"size_pct": 1.0`, "1e-320"},
		{`"size_pct": 1.0`, "-0"},
		{`"size_pct": 1.0`, "100"},
		{`"confidence": 0.62`, "1e-320"},
		{`"confidence": 0.62`, "0.000000000000000000000000000000000000000000000000000000000000000000000000001"},
		{`"limit_price": 42010.5`, "1e308"},
		{`"limit_price": 42010.5`, "1.7976931348623157e308"},
		{`"limit_price": 42010.5`, "1e-320"},
		{`"stop_loss": 41200.0`, "4.9e-324"},
		{`"stop_loss": 41200.0`, "123456789.123456789e-300"},
		{`"take_profit": 43900.0`, "98765432109876543210e280"},
	} {
		t.Run(tc.old+"="+tc.lit, func(t *testing.T) {
			in := strings.Replace(ex, tc.old, tc.old[:strings.Index(tc.old, ":")+2]+tc.lit, 1)
			r, err := ParseResponse([]byte(in))
			if err != nil {
				t.Fatalf("ParseResponse(%s): %v", tc.lit, err)
			}
			b, err := MarshalResponse(r)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := ParseResponse(b)
			if err != nil {
				t.Fatalf("ParseResponse(MarshalResponse(r)) with %s: %v\n%.300s", tc.lit, err, b)
			}
			if d := diffResponse(r2, r); d != "" {
				t.Fatalf("round trip of %s: %s", tc.lit, d)
			}
		})
	}
	// Ordinary numbers keep their plain form.
	for in, want := range map[string]string{"42010.5": "42010.5", "1e-320": "1e-320", "1e308": "1e308", "0.00000001": "0.00000001", "2.5e-321": "25e-322"} {
		if got := wireNumber(decimal.RequireFromString(in)); got != want {
			t.Errorf("wireNumber(%s) = %s; want %s", in, got, want)
		}
	}
}
