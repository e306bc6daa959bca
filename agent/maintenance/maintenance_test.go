package maintenance

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustRecurring(t *testing.T, every, tz string) Window {
	t.Helper()
	w, err := Recurring(every, tz)
	if err != nil {
		t.Fatalf("Recurring(%q, %q) error = %v", every, tz, err)
	}
	return w
}

// TestContainsBoundaries: a window is [start, end): its first second is
// in, its last second is in, its end is out; 2026-12-02 is a Wednesday.
func TestContainsBoundaries(t *testing.T) {
	tests := []struct {
		every, tz, t string
		want         bool
	}{
		{"Wed 02:00-04:00", "UTC", "2026-12-02T01:59:59Z", false},
		{"Wed 02:00-04:00", "UTC", "2026-12-02T02:00:00Z", true},
		{"Wed 02:00-04:00", "UTC", "2026-12-02T03:59:59Z", true},
		{"Wed 02:00-04:00", "UTC", "2026-12-02T04:00:00Z", false},
		{"Wed 02:00-04:00", "UTC", "2026-12-09T02:30:00Z", true},  // next week
		{"Wed 02:00-04:00", "UTC", "2026-12-03T02:30:00Z", false}, // Thursday
		{"Wed 02:00-04:00", "", "2026-12-02T02:00:00Z", true},     // tz defaults to UTC
		{"wed 02:00-04:00", "UTC", "2026-12-02T02:00:00Z", true},  // day in any case
		// Berlin is UTC+1 in December: 02:00 Berlin is 01:00 UTC.
		{"Wed 02:00-04:00", "Europe/Berlin", "2026-12-02T00:59:59Z", false},
		{"Wed 02:00-04:00", "Europe/Berlin", "2026-12-02T01:00:00Z", true},
		{"Wed 02:00-04:00", "Europe/Berlin", "2026-12-02T03:00:00Z", false},
		// Crossing midnight: Sunday 23:00 to Monday 01:00 (2026-12-06 is a Sunday).
		{"Sun 23:00-01:00", "UTC", "2026-12-06T22:59:59Z", false},
		{"Sun 23:00-01:00", "UTC", "2026-12-06T23:00:00Z", true},
		{"Sun 23:00-01:00", "UTC", "2026-12-07T00:59:59Z", true},
		{"Sun 23:00-01:00", "UTC", "2026-12-07T01:00:00Z", false},
		{"Sun 23:00-01:00", "UTC", "2026-12-01T00:30:00Z", false}, // a Tuesday morning
		// Daily, and 24:00 as the end of the day.
		{"22:00-24:00", "UTC", "2026-12-03T23:59:59Z", true},
		{"22:00-24:00", "UTC", "2026-12-04T00:00:00Z", false},
		{"23:30-00:30", "UTC", "2026-12-04T00:15:00Z", true},
	}
	for _, tt := range tests {
		w := mustRecurring(t, tt.every, tt.tz)
		if got := w.Contains(at(tt.t)); got != tt.want {
			t.Errorf("%q %s Contains(%s) = %v; want %v", tt.every, tt.tz, tt.t, got, tt.want)
		}
	}
	one, err := OneOff(at("2026-03-01T00:00:00Z"), at("2026-03-01T06:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{"2026-02-28T23:59:59Z": false, "2026-03-01T00:00:00Z": true, "2026-03-01T05:59:59Z": true, "2026-03-01T06:00:00Z": false} {
		if got := one.Contains(at(s)); got != want {
			t.Errorf("one-off Contains(%s) = %v; want %v", s, got, want)
		}
	}
	ws := Windows{mustRecurring(t, "Wed 02:00-04:00", "UTC"), one}
	if w, ok := ws.Active(at("2026-03-01T01:00:00Z")); !ok || w.String() != "2026-03-01T00:00:00Z to 2026-03-01T06:00:00Z" {
		t.Errorf("Active = %v, %v; want the one-off window", w, ok)
	}
	if _, ok := ws.Active(at("2026-03-02T01:00:00Z")); ok {
		t.Error("Active on a Monday outside both windows = true")
	}
	if _, ok := (Windows{}).Active(at("2026-03-02T01:00:00Z")); ok {
		t.Error("no windows: Active = true")
	}
	if !(Window{Every: "Wed 02:00-04:00"}).Contains(at("2026-03-02T01:00:00Z")) {
		t.Error("an uncompiled recurring window does not fail closed")
	}
}

type doc struct {
	Maintenance Windows `yaml:"maintenance"`
}

// TestYAML: windows read from YAML; every bad window is an error with its
// line.
func TestYAML(t *testing.T) {
	var d doc
	src := "maintenance:\n  - every: \"Wed 02:00-04:00\"\n    tz: UTC\n  - from: 2026-03-01T00:00:00Z\n    to: 2026-03-01T06:00:00+02:00\n"
	if err := yaml.Unmarshal([]byte(src), &d); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if len(d.Maintenance) != 2 || d.Maintenance[0].Line != 2 || d.Maintenance[1].Line != 4 {
		t.Fatalf("windows = %+v", d.Maintenance)
	}
	if !d.Maintenance[0].Contains(at("2026-12-02T03:00:00Z")) || !d.Maintenance[1].Contains(at("2026-03-01T03:59:59Z")) || d.Maintenance[1].Contains(at("2026-03-01T04:00:00Z")) {
		t.Errorf("windows read from YAML do not contain their times: %+v", d.Maintenance)
	}
	bad := []struct{ src, want string }{
		{"maintenance:\n  - every: \"Wed 2:00-04:00\"\n", `line 2: maintenance window: every "Wed 2:00-04:00": "2:00" is not HH:MM`},
		{"maintenance:\n  - every: \"Wen 02:00-04:00\"\n", `line 2: maintenance window: every "Wen 02:00-04:00": "Wen" is not a day`},
		{"maintenance:\n  - every: \"Wed 02:00-24:01\"\n", `"24:01" is not a time of day`},
		{"maintenance:\n  - every: \"Wed 24:00-02:00\"\n", `"24:00" is not a time of day`},
		{"maintenance:\n  - every: \"Wed 02:00-02:00\"\n", "the window is empty"},
		{"maintenance:\n  - every: \"Wed 02:00\"\n", "is not HH:MM-HH:MM"},
		{"maintenance:\n  - every: \"every Wed 02:00-04:00\"\n", `is not "[Day] HH:MM-HH:MM"`},
		{"maintenance:\n  - every: \"Wed 02:00-04:00\"\n    tz: Mars/Olympus\n", `line 2: maintenance window: tz "Mars/Olympus" is not an IANA time zone`},
		{"maintenance:\n  - {every: \"Wed 02:00-04:00\", from: 2026-03-01T00:00:00Z, to: 2026-03-02T00:00:00Z}\n", "not both"},
		{"maintenance:\n  - from: 2026-03-01T00:00:00Z\n", "needs both from and to"},
		{"maintenance:\n  - from: 2026-03-02T00:00:00Z\n    to: 2026-03-01T00:00:00Z\n", "is not after from"},
		{"maintenance:\n  - from: 2026-03-01T00:00:00Z\n    to: 2026-03-01T00:00:00Z\n", "is not after from"},
		{"maintenance:\n  - from: \"2026-03-01 00:00\"\n    to: 2026-03-02T00:00:00Z\n", `line 2: maintenance window: from "2026-03-01 00:00" is not an RFC 3339 time`},
		{"maintenance:\n  - from: 2026-03-01T00:00:00Z\n    to: 2026-03-02T00:00:00Z\n    tz: UTC\n", "tz applies to every only"},
		{"maintenance:\n  - every: \"Wed 02:00-04:00\"\n    zone: UTC\n", `line 3: maintenance window: unknown key "zone"`},
		{"maintenance:\n  - every: \"Wed 02:00-04:00\"\n    every: \"Thu 02:00-04:00\"\n", "line 3: maintenance window: every given twice"},
		{"maintenance:\n  - \"Wed 02:00-04:00\"\n", "line 2: maintenance window: must be a mapping"},
		{"maintenance:\n  - {}\n", "needs every"},
		{"maintenance:\n  - every: [Wed]\n", "every must be a single value"},
	}
	for _, tt := range bad {
		var d doc
		err := yaml.Unmarshal([]byte(tt.src), &d)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Unmarshal(%q) error = %v; want it to contain %q", tt.src, err, tt.want)
		}
	}
}

func TestValidateHandBuilt(t *testing.T) {
	ws := Windows{{Every: "Mon 01:00-02:00"}}
	if err := ws.Validate(); err != nil {
		t.Fatal(err)
	}
	if !ws[0].Contains(at("2026-12-07T01:30:00Z")) || ws[0].Contains(at("2026-12-07T02:30:00Z")) {
		t.Error("hand-built window after Validate does not contain its times")
	}
	if err := (Windows{{Every: "Mon 1-2", Line: 7}}).Validate(); err == nil || !strings.Contains(err.Error(), "maintenance[0] (line 7)") {
		t.Errorf("Validate(bad) = %v", err)
	}
}
