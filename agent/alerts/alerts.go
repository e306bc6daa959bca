// Package alerts warns before a limit is hit: the day's loss at 70 % of
// the policy's limit, the drawdown at 70 %, exposure at 90 % of its cap,
// the model's error rate over its recent calls, the day's tokens at 80 %
// of the budget and an exchange key older than its rotation period. Each
// alert is raised once per threshold per day: the audit store records it
// once across processes (RecordEventOnce) and the notification outbox
// sends it once per channel (the same dedup key).
//
// Check is pure: it takes the measured values and the limits and returns
// the alerts due; the agent gathers the inputs at each cycle and raises
// them (audit event "alert", notification kind "alert").
package alerts

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Alert names.
const (
	DayLoss     = "day_loss"
	Drawdown    = "drawdown"
	Exposure    = "exposure"
	ModelErrors = "model_errors"
	TokenBudget = "token_budget"
	KeyAge      = "key_rotation"
)

// Config holds the thresholds. A zero percentage takes its default; a
// negative one switches that alert off.
type Config struct {
	DayLossPct     decimal.Decimal // % of the policy's max_day_loss_pct; default 70
	DrawdownPct    decimal.Decimal // % of max_drawdown_pct; default 70
	ExposurePct    decimal.Decimal // % of max_exposure_pct (× risk scale); default 90
	TokenBudgetPct decimal.Decimal // % of the daily token budget; default 80
	// ModelErrorPct is the share of the last ModelErrorWindow model calls
	// with invalid output or an error, in %, at which to warn (default 10:
	// half the invalid-output breaker's 20 %).
	ModelErrorPct    decimal.Decimal
	ModelErrorWindow int // default 20
}

var hundred = decimal.NewFromInt(100)

// Defaults.
var (
	DefaultDayLossPct     = decimal.NewFromInt(70)
	DefaultDrawdownPct    = decimal.NewFromInt(70)
	DefaultExposurePct    = decimal.NewFromInt(90)
	DefaultTokenBudgetPct = decimal.NewFromInt(80)
	DefaultModelErrorPct  = decimal.NewFromInt(10)
)

// DefaultModelErrorWindow is how many recent model calls the error rate
// is taken over.
const DefaultModelErrorWindow = 20

func pick(v, def decimal.Decimal) decimal.Decimal {
	if v.IsZero() {
		return def
	}
	return v
}

// WithDefaults fills zero thresholds with the defaults.
func (c Config) WithDefaults() Config {
	c.DayLossPct = pick(c.DayLossPct, DefaultDayLossPct)
	c.DrawdownPct = pick(c.DrawdownPct, DefaultDrawdownPct)
	c.ExposurePct = pick(c.ExposurePct, DefaultExposurePct)
	c.TokenBudgetPct = pick(c.TokenBudgetPct, DefaultTokenBudgetPct)
	c.ModelErrorPct = pick(c.ModelErrorPct, DefaultModelErrorPct)
	if c.ModelErrorWindow <= 0 {
		c.ModelErrorWindow = DefaultModelErrorWindow
	}
	return c
}

// Validate refuses thresholds above 100 % (an alert after the limit is no
// warning) and a model error threshold of 100 % or more.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    decimal.Decimal
	}{{"day_loss_pct", c.DayLossPct}, {"drawdown_pct", c.DrawdownPct}, {"exposure_pct", c.ExposurePct},
		{"token_budget_pct", c.TokenBudgetPct}, {"model_error_pct", c.ModelErrorPct}} {
		if f.v.GreaterThan(hundred) {
			return fmt.Errorf("alerts.%s: %s is over 100 (a warning must come before the limit; negative switches it off)", f.name, f.v)
		}
	}
	return nil
}

// Inputs are the values measured at one cycle. A limit that is zero or
// negative (not set in the policy, no budget, no rotation period) skips its
// alert.
type Inputs struct {
	Now time.Time
	// Account values in % (decimal, as the policy computes them) and the
	// policy's limits for them.
	DayLossPct, MaxDayLossPct   decimal.Decimal
	DrawdownPct, MaxDrawdownPct decimal.Decimal
	ExposurePct, MaxExposurePct decimal.Decimal
	// Model calls: how many of the last Calls (at most the window) failed.
	ModelCalls, ModelFailed int
	// Tokens used since 00:00 UTC and the daily budget.
	TokensToday, TokenBudget int64
	// The exchange key's creation date and rotation period in days.
	KeyCreated      time.Time
	KeyRotationDays int
}

// Alert is one threshold crossed.
type Alert struct {
	Name      string          `json:"name"`
	Threshold decimal.Decimal `json:"threshold"` // the alert's threshold: % of the limit, or % of calls
	Value     decimal.Decimal `json:"value"`
	Limit     decimal.Decimal `json:"limit"`
	Text      string          `json:"text"`
	// Day is the UTC day the alert belongs to; with Name and Threshold it
	// makes the dedup key.
	Day string `json:"day"`
}

// DedupKey identifies the alert for its day: "alert/day_loss/70/2026-12-07".
func (a Alert) DedupKey() string {
	return "alert/" + a.Name + "/" + a.Threshold.String() + "/" + a.Day
}

// Check returns the alerts due for in under c (with defaults filled).
// Each value is compared in decimal: value ≥ limit × threshold / 100
// raises the alert (at the threshold exactly, it is raised).
func Check(c Config, in Inputs) []Alert {
	c = c.WithDefaults()
	day := in.Now.UTC().Format("2006-01-02")
	var out []Alert
	ratio := func(name string, th, v, limit decimal.Decimal, what string) {
		if th.IsNegative() || !limit.IsPositive() {
			return
		}
		at := limit.Mul(th).Div(hundred)
		if v.LessThan(at) {
			return
		}
		out = append(out, Alert{Name: name, Threshold: th, Value: v, Limit: limit, Day: day,
			Text: fmt.Sprintf("%s is %s %%, %s %% of its limit of %s %% (warning at %s %%)", what,
				v.StringFixed(2), v.Mul(hundred).Div(limit).StringFixed(1), limit, th)})
	}
	ratio(DayLoss, c.DayLossPct, in.DayLossPct, in.MaxDayLossPct, "the day's loss")
	ratio(Drawdown, c.DrawdownPct, in.DrawdownPct, in.MaxDrawdownPct, "the drawdown from peak equity")
	ratio(Exposure, c.ExposurePct, in.ExposurePct, in.MaxExposurePct, "exposure")
	if !c.TokenBudgetPct.IsNegative() && in.TokenBudget > 0 {
		used, budget := decimal.NewFromInt(in.TokensToday), decimal.NewFromInt(in.TokenBudget)
		if !used.LessThan(budget.Mul(c.TokenBudgetPct).Div(hundred)) {
			out = append(out, Alert{Name: TokenBudget, Threshold: c.TokenBudgetPct, Value: used, Limit: budget, Day: day,
				Text: fmt.Sprintf("%d tokens used today, %s %% of the daily budget of %d (warning at %s %%); at the budget, model calls stop",
					in.TokensToday, used.Mul(hundred).Div(budget).StringFixed(1), in.TokenBudget, c.TokenBudgetPct)})
		}
	}
	if !c.ModelErrorPct.IsNegative() && in.ModelCalls > 0 {
		// Over the window: calls not made yet count as good, as the
		// invalid-output breaker counts them.
		win := decimal.NewFromInt(int64(c.ModelErrorWindow))
		failed := decimal.NewFromInt(int64(in.ModelFailed))
		rate := failed.Mul(hundred).Div(win)
		if in.ModelFailed > 0 && !rate.LessThan(c.ModelErrorPct) {
			out = append(out, Alert{Name: ModelErrors, Threshold: c.ModelErrorPct, Value: rate, Limit: win, Day: day,
				Text: fmt.Sprintf("%d of the last %d model calls failed or gave invalid output (%s %% of a window of %d; warning at %s %%)",
					in.ModelFailed, in.ModelCalls, rate.StringFixed(1), c.ModelErrorWindow, c.ModelErrorPct)})
		}
	}
	if in.KeyRotationDays > 0 && !in.KeyCreated.IsZero() {
		due := in.KeyCreated.AddDate(0, 0, in.KeyRotationDays)
		if !in.Now.Before(due) {
			age := int(in.Now.Sub(in.KeyCreated).Hours() / 24)
			out = append(out, Alert{Name: KeyAge, Threshold: decimal.NewFromInt(int64(in.KeyRotationDays)),
				Value: decimal.NewFromInt(int64(age)), Limit: decimal.NewFromInt(int64(in.KeyRotationDays)), Day: day,
				Text: fmt.Sprintf("the exchange API key is %d days old (created %s); rotate it every %d days",
					age, in.KeyCreated.UTC().Format("2006-01-02"), in.KeyRotationDays)})
		}
	}
	return out
}
