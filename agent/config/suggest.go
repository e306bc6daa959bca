package config

import (
	"errors"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Levenshtein is the edit distance between a and b (insertions, deletions
// and substitutions of one rune each).
func Levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// Suggest returns the candidate nearest to name, when it is near enough to
// be a slip of the keyboard: at most 2 edits, and fewer than the name's
// length less one (so a short name is not "near" everything); ""
// otherwise. Ties go to the earlier candidate.
func Suggest(name string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := Levenshtein(strings.ToLower(name), strings.ToLower(c))
		if d == 0 {
			continue
		}
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > 2 || bestD >= len([]rune(name))-1 {
		return ""
	}
	return best
}

// keysByType maps the name yaml.v3 gives each struct type of Config
// ("config.OpenAI") to the keys it accepts.
var keysByType = func() map[string][]string {
	out := map[string][]string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t.PkgPath() != reflect.TypeFor[Config]().PkgPath() {
			return
		}
		if _, done := out[t.String()]; done {
			return
		}
		var keys []string
		out[t.String()] = keys
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			keys = append(keys, name)
			walk(f.Type)
		}
		out[t.String()] = keys
	}
	walk(reflect.TypeFor[Config]())
	return out
}()

var unknownFieldRe = regexp.MustCompile(`field (\S+) not found in type (\S+)`)

// withSuggestions adds "did you mean KEY?" to each unknown key yaml.v3
// reports when a known key of the same mapping is near it.
func withSuggestions(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	changed := false
	out := make([]string, len(te.Errors))
	for i, msg := range te.Errors {
		out[i] = msg
		m := unknownFieldRe.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		if s := Suggest(m[1], keysByType[m[2]]); s != "" {
			out[i] = msg + " (did you mean " + s + "?)"
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &yaml.TypeError{Errors: out}
}
