package config

import (
	"strings"
	"testing"
)

func TestLevenshtein(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "abc", 3}, {"schedule", "schedule", 0},
		{"shedule", "schedule", 1}, {"scheduel", "schedule", 2}, {"kitten", "sitting", 3}, {"BTC/USDТ", "BTC/USDT", 1},
	} {
		if got := Levenshtein(c.a, c.b); got != c.want {
			t.Errorf("Levenshtein(%q, %q) = %d; want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"mode", "db", "schedule", "symbols", "timeframe"}
	for _, c := range []struct{ name, want string }{
		{"shedule", "schedule"}, // 1 edit
		{"schedul", "schedule"},
		{"scheduel", "schedule"}, // 2 edits: the limit
		{"schdeuel", ""},         // 3 edits: one past it
		{"mood", "mode"},
		{"xy", ""},    // 2 edits of 2 runes is not a slip
		{"dbb", "db"}, // 1 edit of 3
		{"schedule", ""},
	} {
		if got := Suggest(c.name, keys); got != c.want {
			t.Errorf("Suggest(%q) = %q; want %q", c.name, got, c.want)
		}
	}
}

func TestUnknownKeysSuggest(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"shedule: \"@hourly\"\n", "field shedule not found in type config.Config (did you mean schedule?)"},
		{"advisor: {kind: baseline, temprature: 0}\n", "field temprature not found in type config.Advisor"},
		{"advisor: {openai: {temprature: 0}}\n", "field temprature not found in type config.OpenAI (did you mean temperature?)"},
		{"notify: {digets: \"0 8 * * MON\"}\n", "(did you mean digest?)"},
		{"breakers: {error_spik: {level: reduce}}\n", "unknown key breakers.error_spik (did you mean error_spike?)"},
		{"zzzzzz: 1\n", "field zzzzzz not found in type config.Config"},
	} {
		_, err := Parse("t.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v; want it to contain %q", c.yaml, err, c.want)
		}
	}
	for _, y := range []string{"zzzzzz: 1\n", "advisor: {kind: baseline, temprature: 0}\n"} {
		if _, err := Parse("t.yaml", []byte(y)); err == nil || strings.Contains(err.Error(), "did you mean") {
			t.Errorf("Parse(%q) = %v; want an error without a suggestion (nothing near)", y, err)
		}
	}
}
