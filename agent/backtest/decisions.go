package backtest

import (
	"time"

	"github.com/warden-trading/warden/schemas"
)

// Outcomes of a decision beyond the validator's approved, rejected and
// no_action.
const (
	// OutcomeSkipped: the cycle ran but asked nothing of the validator (a
	// bad snapshot, the kill switch, or no recommendation).
	OutcomeSkipped = "skipped"
	// OutcomeError: the cycle failed (advisor or exchange error).
	OutcomeError = "error"
)

// Decision is one recommendation's fate at one decision time, as the
// analytics count it.
type Decision struct {
	Time   time.Time      `json:"time"`
	Symbol string         `json:"symbol,omitempty"`
	Action schemas.Action `json:"action,omitempty"`
	// Outcome is approved, rejected, no_action, skipped or error.
	Outcome string `json:"outcome"`
	// Rules are the names of the rules that rejected it (every violation,
	// whatever its source).
	Rules []string `json:"rules,omitempty"`
	// Reason says why a cycle was skipped or failed.
	Reason string `json:"reason,omitempty"`
	// OrderError is set when an approved order was not placed (the
	// exchange refused it, or the order-rate limit did).
	OrderError string `json:"order_error,omitempty"`
}

// DecisionStats count decisions by outcome and rejections by rule.
type DecisionStats struct {
	// Cycles is how many decision times ran.
	Cycles int `json:"cycles"`
	// Total is how many decisions (recommendations, or skipped/failed
	// cycles) were counted.
	Total     int            `json:"total"`
	ByOutcome map[string]int `json:"by_outcome"`
	// ByAction counts recommendations by the advisor's action.
	ByAction map[string]int `json:"by_action"`
	// RejectionsByRule counts each rule once per rejected decision it
	// failed; a decision failing two rules counts for both.
	RejectionsByRule map[string]int `json:"rejections_by_rule"`
	// OrderErrors counts approved decisions whose order was not placed.
	OrderErrors int `json:"order_errors"`
	// SkippedByReason and ErrorsByReason explain the skipped and the
	// failed cycles: grouped by cause (ReasonKey), the most frequent first.
	SkippedByReason []ReasonCount `json:"skipped_by_reason"`
	ErrorsByReason  []ReasonCount `json:"errors_by_reason"`
}

// CountDecisions tallies ds.
func CountDecisions(cycles int, ds []Decision) DecisionStats {
	st := DecisionStats{
		Cycles: cycles, Total: len(ds),
		ByOutcome: map[string]int{}, ByAction: map[string]int{}, RejectionsByRule: map[string]int{},
	}
	for _, d := range ds {
		st.ByOutcome[d.Outcome]++
		if d.OrderError != "" {
			st.OrderErrors++
		}
		if d.Action != "" {
			st.ByAction[string(d.Action)]++
		}
		seen := map[string]bool{}
		for _, r := range d.Rules {
			if !seen[r] {
				st.RejectionsByRule[r]++
				seen[r] = true
			}
		}
	}
	st.SkippedByReason = countReasons(ds, OutcomeSkipped)
	st.ErrorsByReason = countReasons(ds, OutcomeError)
	return st
}

// DecisionsFromVerdicts turns a cycle's verdicts into Decisions.
func DecisionsFromVerdicts(at time.Time, vs []schemas.Verdict) []Decision {
	out := make([]Decision, 0, len(vs))
	for _, v := range vs {
		d := Decision{Time: at, Symbol: v.Symbol, Action: v.Action, Outcome: string(v.Decision)}
		for _, viol := range v.Violations {
			d.Rules = append(d.Rules, viol.Rule)
		}
		out = append(out, d)
	}
	return out
}
