package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"github.com/shopspring/decimal"
)

// MaxResponseBytes caps the size of a raw model response.
const MaxResponseBytes = 256 << 10

// ParseResponse turns raw model output into a Response, or refuses it.
//
// It reads the bytes once with the strict JSON reader (size cap, exactly one
// value, no duplicate keys, finite numbers, depth cap, valid UTF-8), checks
// that generic value against recommendation.schema.json, and converts the
// same value into the typed Response: numbers go from their JSON text
// straight to decimal, so the value checked is the value used. A refusal is
// a *ParseError listing every problem with its JSON pointer; there is no
// partial or default result.
func ParseResponse(raw []byte) (Response, error) {
	doc, p := decodeStrict(raw, MaxResponseBytes, "response")
	if p != nil {
		return Response{}, &ParseError{What: "response", Problems: []Problem{*p}}
	}
	sch, err := compiledResponseSchema()
	if err != nil {
		return Response{}, err
	}
	if err := sch.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return Response{}, &ParseError{What: "response", Problems: schemaProblems(sch, doc, ve)}
		}
		return Response{}, &ParseError{What: "response", Problems: []Problem{{Keyword: "schema", Message: "schema check failed: " + err.Error()}}}
	}
	resp, problems := toResponse(doc)
	if len(problems) > 0 {
		return Response{}, &ParseError{What: "response", Problems: problems}
	}
	return resp, nil
}

// toResponse converts a schema-checked generic value. The schema already
// guarantees every type below; a mismatch is still reported, never assumed.
func toResponse(doc any) (Response, []Problem) {
	c := converter{base: -1}
	root, ok := doc.(map[string]any)
	if !ok {
		c.bad("", "an object", doc)
		return Response{}, c.problems
	}
	resp := Response{Rationale: c.str(root, "rationale")}
	recs, ok := root["recommendations"].([]any)
	if !ok {
		c.bad("/recommendations", "an array", root["recommendations"])
		return Response{}, c.problems
	}
	resp.Recommendations = make([]Recommendation, len(recs))
	for i, rv := range recs {
		m, ok := rv.(map[string]any)
		if !ok {
			c.bad("/recommendations/"+strconv.Itoa(i), "an object", rv)
			continue
		}
		c.base = i
		resp.Recommendations[i] = Recommendation{
			Symbol:     c.str(m, "symbol"),
			Action:     Action(c.str(m, "action")),
			Confidence: c.dec(m, "confidence"),
			SizePct:    c.dec(m, "size_pct"),
			OrderType:  OrderType(c.str(m, "order_type")),
			LimitPrice: c.optDec(m, "limit_price"),
			StopLoss:   c.optDec(m, "stop_loss"),
			TakeProfit: c.optDec(m, "take_profit"),
			Reason:     c.str(m, "reason"),
		}
	}
	if len(c.problems) > 0 {
		return Response{}, c.problems
	}
	return resp, nil
}

// converter reads typed fields out of generic objects: the top level when
// base < 0, else /recommendations/<base>. Pointers are built only on failure.
type converter struct {
	base     int
	problems []Problem
}

func (c *converter) ptr(key string) string {
	if c.base < 0 {
		return joinPointer("", key)
	}
	return joinPointer("/recommendations/"+strconv.Itoa(c.base), key)
}

func (c *converter) bad(ptr, want string, v any) {
	c.problems = append(c.problems, Problem{Pointer: ptr, Keyword: "type", Message: fmt.Sprintf("%s must be %s, not %s", where(ptr), want, describeValue(v))})
}

func (c *converter) str(m map[string]any, key string) string {
	s, ok := m[key].(string)
	if !ok {
		c.bad(c.ptr(key), "a string", m[key])
	}
	return s
}

func (c *converter) dec(m map[string]any, key string) decimal.Decimal {
	n, ok := m[key].(json.Number)
	if !ok {
		c.bad(c.ptr(key), "a number", m[key])
		return decimal.Decimal{}
	}
	d, err := decimal.NewFromString(string(n))
	if err != nil {
		ptr := c.ptr(key)
		c.problems = append(c.problems, Problem{Pointer: ptr, Keyword: KeywordNumber, Message: fmt.Sprintf("number %s at %s is not a decimal: %v", n, ptr, err)})
	}
	return d
}

func (c *converter) optDec(m map[string]any, key string) *decimal.Decimal {
	if v, ok := m[key]; ok && v == nil {
		return nil
	}
	if _, ok := m[key].(json.Number); !ok {
		c.bad(c.ptr(key), "a number or null", m[key])
		return nil
	}
	d := c.dec(m, key)
	return &d
}

// schemaProblems flattens a jsonschema error tree into its leaves and words
// each as a Problem with the instance pointer, in document order.
func schemaProblems(root *jsonschema.Schema, doc any, ve *jsonschema.ValidationError) []Problem {
	var out []Problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, describeSchemaError(root, doc, e)...)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	// An empty string fails both minLength and the non-blank pattern; the
	// second says nothing new.
	var empty []string
	for _, p := range out {
		if p.Keyword == "minLength" {
			empty = append(empty, p.Pointer)
		}
	}
	if len(empty) > 0 {
		out = slices.DeleteFunc(out, func(p Problem) bool {
			return p.Keyword == "pattern" && slices.Contains(empty, p.Pointer)
		})
	}
	sortProblems(out)
	return slices.Compact(out)
}

// sortProblems orders problems by pointer in document order (array indexes
// numerically), then keyword and message.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if c := comparePointers(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		if c := strings.Compare(a.Keyword, b.Keyword); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
}

func comparePointers(a, b string) int {
	ta, tb := splitPointer(a), splitPointer(b)
	for i := 0; i < len(ta) && i < len(tb); i++ {
		if ta[i] == tb[i] {
			continue
		}
		na, ea := strconv.Atoi(ta[i])
		nb, eb := strconv.Atoi(tb[i])
		if ea == nil && eb == nil {
			if na < nb {
				return -1
			}
			return 1
		}
		return strings.Compare(ta[i], tb[i])
	}
	return len(ta) - len(tb)
}

// describeSchemaError words one leaf error. It reads the offending value from
// the document and the bounds from the compiled schema, so messages quote
// both.
func describeSchemaError(root *jsonschema.Schema, doc any, e *jsonschema.ValidationError) []Problem {
	ptr := e.InstanceLocation
	kw := e.KeywordLocation[strings.LastIndexByte(e.KeywordLocation, '/')+1:]
	val, _ := valueAt(doc, ptr)
	sub := schemaAt(root, ptr)
	one := func(msg string) []Problem { return []Problem{{Pointer: ptr, Keyword: kw, Message: msg}} }
	if sub == nil {
		return one(where(ptr) + ": " + e.Message)
	}
	switch kw {
	case "type":
		return one(fmt.Sprintf("%s must be %s, not %s", where(ptr), typePhrase(sub.Types), describeValue(val)))
	case "required":
		obj, _ := val.(map[string]any)
		var ps []Problem
		for _, name := range sub.Required {
			if _, ok := obj[name]; !ok {
				ps = append(ps, Problem{Pointer: joinPointer(ptr, name), Keyword: kw, Message: fmt.Sprintf("missing required property %q at %s", name, where(ptr))})
			}
		}
		if len(ps) > 0 {
			return ps
		}
	case "additionalProperties":
		obj, _ := val.(map[string]any)
		var ps []Problem
		for name := range obj {
			if _, ok := sub.Properties[name]; !ok {
				ps = append(ps, Problem{Pointer: joinPointer(ptr, name), Keyword: kw, Message: fmt.Sprintf("unknown property %q at %s (the schema allows no other properties)", name, where(ptr))})
			}
		}
		if len(ps) > 0 {
			return ps
		}
	case "enum":
		allowed := make([]string, len(sub.Enum))
		for i, a := range sub.Enum {
			allowed[i] = fmt.Sprintf("%q", a)
		}
		return one(fmt.Sprintf("%s is %s; it must be one of %s", where(ptr), describeValue(val), strings.Join(allowed, ", ")))
	case "pattern":
		s, _ := val.(string)
		if strings.HasSuffix(ptr, "/symbol") {
			return one(symbolMessage(ptr, s))
		}
		if sub.Pattern != nil && sub.Pattern.String() == `\S` {
			return one(fmt.Sprintf("%s must contain text, not only whitespace", where(ptr)))
		}
	case "minLength", "maxLength":
		s, _ := val.(string)
		n := utf8.RuneCountInString(s)
		if n == 0 {
			return one(fmt.Sprintf("%s is empty; it must be %d to %d characters", where(ptr), sub.MinLength, sub.MaxLength))
		}
		if kw == "maxLength" {
			return one(fmt.Sprintf("%s is %d characters long; at most %d are allowed", where(ptr), n, sub.MaxLength))
		}
		return one(fmt.Sprintf("%s is %d characters long; at least %d are required", where(ptr), n, sub.MinLength))
	case "minimum":
		return one(fmt.Sprintf("%s is %v; it must be at least %s", where(ptr), val, ratString(sub.Minimum)))
	case "maximum":
		return one(fmt.Sprintf("%s is %v; it must be at most %s", where(ptr), val, ratString(sub.Maximum)))
	case "exclusiveMinimum":
		return one(fmt.Sprintf("%s is %v; it must be greater than %s", where(ptr), val, ratString(sub.ExclusiveMinimum)))
	case "exclusiveMaximum":
		return one(fmt.Sprintf("%s is %v; it must be less than %s", where(ptr), val, ratString(sub.ExclusiveMaximum)))
	case "minItems":
		a, _ := val.([]any)
		return one(fmt.Sprintf("%s has %d items; at least %d are required (use action \"hold\" with a reason for a symbol with nothing to do)", where(ptr), len(a), sub.MinItems))
	case "maxItems":
		a, _ := val.([]any)
		return one(fmt.Sprintf("%s has %d items; at most %d are allowed", where(ptr), len(a), sub.MaxItems))
	}
	return one(where(ptr) + ": " + e.Message)
}

func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	return r.RatString()
}

// symbolMessage explains why a symbol failed the pattern, naming lookalike
// characters, which print the same as the ASCII letters they imitate.
func symbolMessage(ptr, s string) string {
	msg := fmt.Sprintf("%s: symbol %q must be BASE/QUOTE in upper-case ASCII letters and digits, 2 to 20 each (e.g. \"BTC/USDT\")", ptr, s)
	for i, r := range s {
		if r >= utf8.RuneSelf {
			return msg + fmt.Sprintf("; it contains the non-ASCII character %q (U+%04X) at byte %d", r, r, i)
		}
	}
	switch n := strings.Count(s, "/"); {
	case strings.IndexFunc(s, unicode.IsLower) >= 0:
		return msg + "; it contains lower-case letters"
	case n == 0:
		return msg + "; the '/' between base and quote is missing"
	case n > 1:
		return msg + "; it contains more than one '/'"
	}
	return msg
}

// typePhrase words a list of JSON types: "a number or null".
func typePhrase(types []string) string {
	words := make([]string, len(types))
	for i, t := range types {
		switch t {
		case "null":
			words[i] = "null"
		case "array", "object", "integer":
			words[i] = "an " + t
		default:
			words[i] = "a " + t
		}
	}
	return strings.Join(words, " or ")
}

// describeValue words a generic JSON value for a message.
func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "the boolean " + strconv.FormatBool(v)
	case json.Number:
		return "the number " + string(v)
	case string:
		if utf8.RuneCountInString(v) > 60 {
			v = string([]rune(v)[:60]) + "…"
		}
		return fmt.Sprintf("the string %q", v)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// valueAt returns the value at ptr in a generic document.
func valueAt(doc any, ptr string) (any, bool) {
	v := doc
	for _, tok := range splitPointer(ptr) {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// schemaAt returns the compiled subschema that applies at ptr, following
// properties and items; nil if there is none.
func schemaAt(s *jsonschema.Schema, ptr string) *jsonschema.Schema {
	for _, tok := range splitPointer(ptr) {
		if s == nil {
			return nil
		}
		if sub, ok := s.Properties[tok]; ok {
			s = sub
			continue
		}
		if _, err := strconv.Atoi(tok); err == nil {
			if s.Items2020 != nil {
				s = s.Items2020
				continue
			}
			if it, ok := s.Items.(*jsonschema.Schema); ok {
				s = it
				continue
			}
		}
		return nil
	}
	return s
}

// MarshalResponse writes r in the contract's wire form: numbers as JSON
// numbers (not the quoted strings decimal's MarshalJSON produces; see
// wireNumber), nulls for absent prices, fields in schema order.
// ParseResponse(MarshalResponse(r)) gives r back for any r that
// ParseResponse returned.
func MarshalResponse(r Response) ([]byte, error) {
	type wireRec struct {
		Symbol     string       `json:"symbol"`
		Action     Action       `json:"action"`
		Confidence json.Number  `json:"confidence"`
		SizePct    json.Number  `json:"size_pct"`
		OrderType  OrderType    `json:"order_type"`
		LimitPrice *json.Number `json:"limit_price"`
		StopLoss   *json.Number `json:"stop_loss"`
		TakeProfit *json.Number `json:"take_profit"`
		Reason     string       `json:"reason"`
	}
	type wire struct {
		Rationale       string    `json:"rationale"`
		Recommendations []wireRec `json:"recommendations"`
	}
	num := func(d decimal.Decimal) json.Number { return json.Number(wireNumber(d)) }
	opt := func(d *decimal.Decimal) *json.Number {
		if d == nil {
			return nil
		}
		n := num(*d)
		return &n
	}
	w := wire{Rationale: r.Rationale, Recommendations: make([]wireRec, len(r.Recommendations))}
	for i, rec := range r.Recommendations {
		w.Recommendations[i] = wireRec{
			Symbol: rec.Symbol, Action: rec.Action, Confidence: num(rec.Confidence), SizePct: num(rec.SizePct),
			OrderType: rec.OrderType, LimitPrice: opt(rec.LimitPrice), StopLoss: opt(rec.StopLoss),
			TakeProfit: opt(rec.TakeProfit), Reason: rec.Reason,
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, fmt.Errorf("schemas: marshal response: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// maxPlainNumber is the longest number MarshalResponse writes in plain
// decimal notation; a longer one is written with an exponent when that is
// shorter.
const maxPlainNumber = 32

// wireNumber writes d as a JSON number the strict reader takes back: in
// plain notation ("42010.5") when that is short, else as coefficient and
// exponent ("1e-320", "25e-322"). decimal's String always writes plain
// notation, which for a value the parser accepted, such as 1e-320 or
// 1e308, is a literal of 300 digits and more that the parser refuses
// (maxNumberLen): the answer would no longer pass the schema it passed.
func wireNumber(d decimal.Decimal) string {
	plain := d.String()
	if len(plain) <= maxPlainNumber {
		return plain
	}
	c := new(big.Int).Set(d.Coefficient())
	e := int(d.Exponent())
	ten := big.NewInt(10)
	q, m := new(big.Int), new(big.Int)
	for c.Sign() != 0 {
		q.QuoRem(c, ten, m)
		if m.Sign() != 0 {
			break
		}
		c.Set(q)
		e++
	}
	sci := c.String() + "e" + strconv.Itoa(e)
	if len(sci) < len(plain) {
		return sci
	}
	return plain
}
