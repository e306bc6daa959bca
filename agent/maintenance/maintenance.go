// Package maintenance holds the configured maintenance windows of an
// exchange: the times in which Warden places no new orders whatever the
// exchange says (config key maintenance, CEL system.in_maintenance).
//
//	maintenance:
//	  - every: "Wed 02:00-04:00"   # weekly; "02:00-04:00" is every day
//	    tz: UTC                    # IANA zone of every (default UTC)
//	  - from: "2026-03-01T00:00:00Z"
//	    to: "2026-03-01T06:00:00Z"
//
// A window is half-open, [start, end). A recurring window whose end is not
// after its start crosses midnight ("Sun 23:00-01:00" ends Monday 01:00);
// 24:00 is the end of the day. A window that does not parse is an error
// naming its line in the config file.
package maintenance

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // zones resolve on hosts without a zoneinfo database

	"gopkg.in/yaml.v3"
)

// Window is one maintenance window: recurring (Every, TZ) or one-off
// (From, To).
type Window struct {
	Every string    `json:"every,omitempty"`
	TZ    string    `json:"tz,omitempty"`
	From  time.Time `json:"from,omitzero"`
	To    time.Time `json:"to,omitzero"`
	// Line is the window's line in the config file (0 when not read from
	// one).
	Line int `json:"-"`

	loc        *time.Location
	daily      bool
	day        time.Weekday
	start, end int // minutes after midnight; end may be ≤ start (crosses midnight)
}

var days = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Recurring returns the window "every" in zone tz ("" is UTC).
func Recurring(every, tz string) (Window, error) {
	w := Window{Every: every, TZ: tz}
	return w, w.compile()
}

// OneOff returns the window [from, to).
func OneOff(from, to time.Time) (Window, error) {
	w := Window{From: from, To: to}
	return w, w.compile()
}

func (w *Window) compile() error {
	recurring := w.Every != ""
	oneOff := !w.From.IsZero() || !w.To.IsZero()
	switch {
	case recurring && oneOff:
		return fmt.Errorf("a window is either every (recurring) or from/to (one-off), not both")
	case !recurring && !oneOff:
		return fmt.Errorf("a window needs every (e.g. \"Wed 02:00-04:00\") or from and to (RFC 3339 times)")
	case oneOff:
		if w.TZ != "" {
			return fmt.Errorf("tz applies to every only; from and to carry their own offset")
		}
		if w.From.IsZero() || w.To.IsZero() {
			return fmt.Errorf("a one-off window needs both from and to")
		}
		if !w.To.After(w.From) {
			return fmt.Errorf("to %s is not after from %s", w.To.Format(time.RFC3339), w.From.Format(time.RFC3339))
		}
		return nil
	}
	tz := w.TZ
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return fmt.Errorf("tz %q is not an IANA time zone (e.g. UTC, Europe/Berlin)", w.TZ)
	}
	w.loc = loc
	f := strings.Fields(w.Every)
	span := ""
	switch len(f) {
	case 1:
		w.daily, span = true, f[0]
	case 2:
		d, ok := days[strings.ToLower(f[0])]
		if !ok || len(f[0]) != 3 {
			return fmt.Errorf("every %q: %q is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)", w.Every, f[0])
		}
		w.day, span = d, f[1]
	default:
		return fmt.Errorf("every %q is not \"[Day] HH:MM-HH:MM\" (e.g. \"Wed 02:00-04:00\")", w.Every)
	}
	a, b, ok := strings.Cut(span, "-")
	if !ok {
		return fmt.Errorf("every %q: %q is not HH:MM-HH:MM", w.Every, span)
	}
	if w.start, err = clock(a, false); err != nil {
		return fmt.Errorf("every %q: %v", w.Every, err)
	}
	if w.end, err = clock(b, true); err != nil {
		return fmt.Errorf("every %q: %v", w.Every, err)
	}
	if w.start == w.end {
		return fmt.Errorf("every %q: the window is empty (start equals end)", w.Every)
	}
	return nil
}

// clock parses HH:MM into minutes after midnight; 24:00 only as an end.
func clock(s string, end bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && (mm != 0 || !end)) {
		return 0, fmt.Errorf("%q is not a time of day (00:00 to 23:59, or 24:00 as an end)", s)
	}
	return hh*60 + mm, nil
}

// Contains reports whether t falls in the window.
func (w Window) Contains(t time.Time) bool {
	if w.Every == "" {
		return !t.Before(w.From) && t.Before(w.To)
	}
	if w.loc == nil {
		// Not compiled (a zero or hand-built Window): fail closed.
		return true
	}
	lt := t.In(w.loc)
	mins := lt.Hour()*60 + lt.Minute()
	today := w.daily || lt.Weekday() == w.day
	yesterday := w.daily || lt.Weekday() == (w.day+1)%7
	if w.start < w.end {
		return today && mins >= w.start && mins < w.end
	}
	// Crosses midnight: from start to the end of the day, then the next
	// morning until end.
	return (today && mins >= w.start) || (yesterday && mins < w.end)
}

// String describes the window for logs and messages.
func (w Window) String() string {
	if w.Every != "" {
		tz := w.TZ
		if tz == "" {
			tz = "UTC"
		}
		return "every " + w.Every + " " + tz
	}
	return w.From.Format(time.RFC3339) + " to " + w.To.Format(time.RFC3339)
}

// UnmarshalYAML reads one window from a config mapping: keys every, tz,
// from and to, nothing else. Errors name the line.
func (w *Window) UnmarshalYAML(n *yaml.Node) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("line %d: maintenance window: %s", n.Line, fmt.Sprintf(format, args...))
	}
	if n.Kind != yaml.MappingNode {
		return fail("must be a mapping with every (and tz) or from and to")
	}
	*w = Window{Line: n.Line}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return fmt.Errorf("line %d: maintenance window: %s given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: maintenance window: %s must be a single value", v.Line, k.Value)
		}
		switch k.Value {
		case "every":
			w.Every = v.Value
		case "tz":
			w.TZ = v.Value
		case "from", "to":
			t, err := time.Parse(time.RFC3339, v.Value)
			if err != nil {
				return fmt.Errorf("line %d: maintenance window: %s %q is not an RFC 3339 time such as 2026-03-01T02:00:00Z", v.Line, k.Value, v.Value)
			}
			if k.Value == "from" {
				w.From = t
			} else {
				w.To = t
			}
		default:
			return fmt.Errorf("line %d: maintenance window: unknown key %q (allowed: every, tz, from, to)", k.Line, k.Value)
		}
	}
	if err := w.compile(); err != nil {
		return fail("%v", err)
	}
	return nil
}

// Windows is the configured list.
type Windows []Window

// Active returns the first window that contains t.
func (ws Windows) Active(t time.Time) (Window, bool) {
	for _, w := range ws {
		if w.Contains(t) {
			return w, true
		}
	}
	return Window{}, false
}

// Validate re-checks windows built by hand (not read from YAML).
func (ws Windows) Validate() error {
	for i := range ws {
		if ws[i].loc == nil || ws[i].Every == "" {
			w := ws[i]
			if err := w.compile(); err != nil {
				if w.Line > 0 {
					return fmt.Errorf("maintenance[%d] (line %d): %v", i, w.Line, err)
				}
				return fmt.Errorf("maintenance[%d]: %v", i, err)
			}
			ws[i] = w
		}
	}
	return nil
}
