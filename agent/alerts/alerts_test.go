package alerts

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

var (
	d   = decimal.RequireFromString
	now = time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
)

func names(as []Alert) string {
	var out []string
	for _, a := range as {
		out = append(out, a.Name)
	}
	return strings.Join(out, ",")
}

// TestThresholdBoundaries: each alert is raised exactly at its threshold
// and not one step below it.
func TestThresholdBoundaries(t *testing.T) {
	base := Inputs{Now: now, MaxDayLossPct: d("3"), MaxDrawdownPct: d("10"), MaxExposurePct: d("30")}
	tests := []struct {
		name      string
		at, below func(*Inputs)
		wantText  string
	}{
		{DayLoss, func(in *Inputs) { in.DayLossPct = d("2.1") }, func(in *Inputs) { in.DayLossPct = d("2.0999999") },
			"the day's loss is 2.10 %, 70.0 % of its limit of 3 % (warning at 70 %)"},
		{Drawdown, func(in *Inputs) { in.DrawdownPct = d("7") }, func(in *Inputs) { in.DrawdownPct = d("6.9999") },
			"drawdown from peak equity is 7.00 %, 70.0 % of its limit of 10 %"},
		{Exposure, func(in *Inputs) { in.ExposurePct = d("27") }, func(in *Inputs) { in.ExposurePct = d("26.99") },
			"exposure is 27.00 %, 90.0 % of its limit of 30 %"},
		{TokenBudget, func(in *Inputs) { in.TokenBudget, in.TokensToday = 2_000_000, 1_600_000 }, func(in *Inputs) { in.TokenBudget, in.TokensToday = 2_000_000, 1_599_999 },
			"1600000 tokens used today, 80.0 % of the daily budget of 2000000"},
		{ModelErrors, func(in *Inputs) { in.ModelCalls, in.ModelFailed = 20, 2 }, func(in *Inputs) { in.ModelCalls, in.ModelFailed = 20, 1 },
			"2 of the last 20 model calls failed or gave invalid output (10.0 %"},
		{KeyAge, func(in *Inputs) { in.KeyRotationDays, in.KeyCreated = 90, now.AddDate(0, 0, -90) },
			func(in *Inputs) { in.KeyRotationDays, in.KeyCreated = 90, now.AddDate(0, 0, -90).Add(time.Second) },
			"the exchange API key is 90 days old (created 2026-09-08); rotate it every 90 days"},
	}
	for _, tc := range tests {
		at, below := base, base
		tc.at(&at)
		tc.below(&below)
		got := Check(Config{}, at)
		if names(got) != tc.name {
			t.Errorf("%s at the threshold: alerts %q; want %s", tc.name, names(got), tc.name)
			continue
		}
		if !strings.Contains(got[0].Text, tc.wantText) {
			t.Errorf("%s text = %q; want it to contain %q", tc.name, got[0].Text, tc.wantText)
		}
		if got[0].Day != "2026-12-07" || !strings.HasPrefix(got[0].DedupKey(), "alert/"+tc.name+"/") || !strings.HasSuffix(got[0].DedupKey(), "/2026-12-07") {
			t.Errorf("%s dedup key = %q", tc.name, got[0].DedupKey())
		}
		if b := Check(Config{}, below); len(b) != 0 {
			t.Errorf("%s one step below the threshold: alerts %q; want none", tc.name, names(b))
		}
	}
}

func TestConfigured(t *testing.T) {
	in := Inputs{Now: now, DayLossPct: d("1.5"), MaxDayLossPct: d("3"), ModelCalls: 5, ModelFailed: 1}
	// 50 % of the day-loss limit: raised with a 50 % threshold, not with the default 70 %.
	if got := names(Check(Config{DayLossPct: d("50"), ModelErrorPct: d("-1")}, in)); got != DayLoss {
		t.Errorf("day-loss threshold 50: %q", got)
	}
	if got := names(Check(Config{ModelErrorPct: d("-1")}, in)); got != "" {
		t.Errorf("default thresholds at 50 %% of the day-loss limit: %q", got)
	}
	// 1 failed of a window of 10 is 10 %: raised.
	if got := names(Check(Config{ModelErrorWindow: 10, DayLossPct: d("-1")}, in)); got != ModelErrors {
		t.Errorf("1 of a window of 10: %q", got)
	}
	// Switched off, or no limit set: nothing.
	off := Inputs{Now: now, DayLossPct: d("5"), MaxDayLossPct: d("3")}
	if got := names(Check(Config{DayLossPct: d("-1")}, off)); got != "" {
		t.Errorf("day-loss alert switched off: %q", got)
	}
	if got := names(Check(Config{}, Inputs{Now: now, DayLossPct: d("5")})); got != "" {
		t.Errorf("no day-loss limit: %q", got)
	}
	if err := (Config{ExposurePct: d("100.1")}).Validate(); err == nil || !strings.Contains(err.Error(), "alerts.exposure_pct: 100.1 is over 100") {
		t.Errorf("Validate(101) = %v", err)
	}
	if err := (Config{ExposurePct: d("100"), DayLossPct: d("-1")}).Validate(); err != nil {
		t.Errorf("Validate(100, -1) = %v", err)
	}
	// The same alert the next day has another key.
	a := Check(Config{}, off)[0]
	next := off
	next.Now = now.Add(24 * time.Hour)
	if b := Check(Config{}, next)[0]; b.DedupKey() == a.DedupKey() {
		t.Errorf("the next day's key is the same: %s", a.DedupKey())
	}
}
