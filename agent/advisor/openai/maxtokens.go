package openai

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/warden-trading/warden/schemas"
)

// CharsPerToken is the conversion used to turn the largest answer the
// response schema allows, in characters, into a max_tokens: 3 characters
// per token. English prose averages about 4 characters per token in the
// GPT tokenizers and JSON punctuation, numbers and non-English text fewer;
// 3 leaves a legitimate answer of the maximum size room to finish, and a
// model that needs more is cut off (finish_reason length, a rejection).
const CharsPerToken = 3

// Size bounds for schema values that carry no length of their own.
const (
	// numberChars is the longest number literal the strict parser takes.
	numberChars = 32
	// openStringChars bounds a string with a pattern but no maxLength (the
	// symbol, two 20-character parts).
	openStringChars = 48
	// whitespaceChars is the indentation and line breaks a pretty-printed
	// answer spends per property.
	whitespaceChars = 12
)

// MaxAnswerChars is the largest answer the response schema allows, in
// characters: every array at its maxItems, every string at its maxLength,
// every number at the longest literal, pretty-printed.
func MaxAnswerChars() (int, error) {
	var s map[string]any
	if err := json.Unmarshal(schemas.ResponseSchema(), &s); err != nil {
		return 0, fmt.Errorf("openai: response schema: %w", err)
	}
	return schemaChars(s)
}

// MaxAnswerTokens is the max_tokens Warden sends when the config sets
// none: MaxAnswerChars / CharsPerToken, rounded up.
func MaxAnswerTokens() (int, error) {
	n, err := MaxAnswerChars()
	if err != nil {
		return 0, err
	}
	return (n + CharsPerToken - 1) / CharsPerToken, nil
}

// schemaChars bounds the size of any value valid against s.
func schemaChars(s map[string]any) (int, error) {
	if enum, ok := s["enum"].([]any); ok {
		n := 0
		for _, v := range enum {
			n = max(n, len(fmt.Sprint(v))+2)
		}
		return n, nil
	}
	n := 0
	for _, t := range types(s["type"]) {
		m, err := typeChars(t, s)
		if err != nil {
			return 0, err
		}
		n = max(n, m)
	}
	return n, nil
}

func types(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func typeChars(t string, s map[string]any) (int, error) {
	switch t {
	case "null", "boolean":
		return 5, nil
	case "number", "integer":
		return numberChars, nil
	case "string":
		if ml, ok := number(s["maxLength"]); ok {
			return int(ml) + 2, nil
		}
		if _, ok := s["pattern"]; ok {
			return openStringChars + 2, nil
		}
		return 0, fmt.Errorf("openai: a string in the response schema has no maxLength: max_tokens cannot be derived")
	case "array":
		items, _ := s["items"].(map[string]any)
		mi, ok := number(s["maxItems"])
		if items == nil || !ok {
			return 0, fmt.Errorf("openai: an array in the response schema has no items or maxItems: max_tokens cannot be derived")
		}
		n, err := schemaChars(items)
		if err != nil {
			return 0, err
		}
		return 2 + int(mi)*(n+1+whitespaceChars), nil
	case "object":
		props, _ := s["properties"].(map[string]any)
		n := 2
		for name, p := range props {
			pm, _ := p.(map[string]any)
			m, err := schemaChars(pm)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", name, err)
			}
			n += len(name) + 4 + m + whitespaceChars
		}
		return n, nil
	}
	return 0, fmt.Errorf("openai: response schema type %q: max_tokens cannot be derived", t)
}

func number(v any) (float64, bool) {
	f, ok := v.(float64)
	return f, ok && !math.IsNaN(f) && f >= 0
}
