package schemas

import (
	"strconv"
	"strings"
)

// Problem keywords for failures found before the JSON schema runs. Schema
// failures carry the JSON-schema keyword instead (type, required, pattern...).
const (
	KeywordSize      = "size"      // input larger than the cap
	KeywordSyntax    = "syntax"    // not JSON
	KeywordTrailing  = "trailing"  // something after the one JSON value
	KeywordDuplicate = "duplicate" // an object key appears twice
	KeywordNumber    = "number"    // NaN, Infinity, overflow, underflow, too long
	KeywordDepth     = "depth"     // nesting deeper than MaxDepth
	KeywordUTF8      = "utf8"      // invalid UTF-8 or a lone surrogate escape
)

// Rule names used by ParseError.Violations.
const (
	RuleJSON   = "json"   // strict JSON parsing failed
	RuleSchema = "schema" // the JSON schema (or the state's checks) failed
)

// Problem is one reason a document was refused.
type Problem struct {
	// Pointer is the RFC 6901 JSON pointer of the offending value ("" is the
	// whole document). For a missing or unknown property it points at that
	// property inside its object.
	Pointer string `json:"pointer"`
	// Keyword names the failed check: one of the Keyword* constants for
	// strict JSON problems, or the JSON-schema keyword.
	Keyword string `json:"keyword"`
	// Message is a complete sentence for an operator.
	Message string `json:"message"`
}

// strict reports whether p was found by the strict JSON reader rather than
// by the schema or the typed checks.
func (p Problem) strict() bool {
	switch p.Keyword {
	case KeywordSize, KeywordSyntax, KeywordTrailing, KeywordDuplicate,
		KeywordNumber, KeywordDepth, KeywordUTF8:
		return true
	}
	return false
}

// ParseError is returned by ParseResponse and ParseState when the input is
// refused. It lists every problem found; strict JSON problems stop the
// reader, so there is then exactly one.
type ParseError struct {
	// What is "response" or "state".
	What     string
	Problems []Problem
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("invalid ")
	if e.What == "" {
		b.WriteString("document")
	} else {
		b.WriteString(e.What)
	}
	switch len(e.Problems) {
	case 0:
		return b.String()
	case 1:
		b.WriteString(": ")
		b.WriteString(e.Problems[0].Message)
		return b.String()
	}
	b.WriteString(" (")
	b.WriteString(strconv.Itoa(len(e.Problems)))
	b.WriteString(" problems): ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

// Violations maps the problems to verdict violations: Rule "json" for strict
// parsing failures, "schema" for everything else, Source SourceSchema.
func (e *ParseError) Violations() []Violation {
	out := make([]Violation, 0, len(e.Problems))
	for _, p := range e.Problems {
		rule := RuleSchema
		if p.strict() {
			rule = RuleJSON
		}
		out = append(out, Violation{Rule: rule, Message: p.Message, Source: SourceSchema, Pointer: p.Pointer})
	}
	return out
}

// escapePointerToken escapes one reference token per RFC 6901.
func escapePointerToken(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	s = strings.ReplaceAll(s, "~", "~0")
	return strings.ReplaceAll(s, "/", "~1")
}

// unescapePointerToken reverses escapePointerToken.
func unescapePointerToken(s string) string {
	if !strings.Contains(s, "~") {
		return s
	}
	s = strings.ReplaceAll(s, "~1", "/")
	return strings.ReplaceAll(s, "~0", "~")
}

// joinPointer appends one unescaped token to a pointer.
func joinPointer(ptr, token string) string {
	return ptr + "/" + escapePointerToken(token)
}

// splitPointer returns the unescaped tokens of ptr ("" gives none).
func splitPointer(ptr string) []string {
	if ptr == "" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	for i, p := range parts {
		parts[i] = unescapePointerToken(p)
	}
	return parts
}

// where names a location for a message: the pointer, or "the top level".
func where(ptr string) string {
	if ptr == "" {
		return "the top level"
	}
	return ptr
}
