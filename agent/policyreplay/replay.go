// Package policyreplay owns the policy what-if: it re-judges recorded
// recommendations, each against the state recorded when it was judged,
// under a new policy, and reports the decisions that would change and the
// rules that made them change.
//
// Decisions of one model response were judged in sequence, each against the
// state as updated by the orders approved before it. Replay re-validates
// each recorded response as a whole, in its original order, so that
// sequencing is reproduced, then compares verdict by verdict.
package policyreplay

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// Source is where recorded decisions come from; *audit.Store satisfies it.
type Source interface {
	RecordedDecisions(ctx context.Context, since time.Time) ([]audit.RecordedDecision, error)
}

var _ Source = (*audit.Store)(nil)

// Change kinds.
const (
	ApprovedToRejected = "approved_to_rejected"
	RejectedToApproved = "rejected_to_approved"
	RulesChanged       = "rules_changed"    // same decision, different failed rules
	DecisionChanged    = "decision_changed" // any other change of decision
)

// Report is the outcome of a replay.
type Report struct {
	Policy PolicyInfo `json:"policy"`
	// Since is the earliest decision time replayed (zero: all).
	Since time.Time `json:"since,omitzero"`
	// RecordedPolicies are the content hashes of the policies the replayed
	// decisions were originally judged under, sorted.
	RecordedPolicies []string `json:"recorded_policies"`
	Totals           Totals   `json:"totals"`
	// Changes lists every decision whose verdict would differ, oldest
	// first (time, run, index).
	Changes []Change `json:"changes"`
	// Skipped lists the decisions that could not be replayed, with why.
	Skipped []Skip `json:"skipped"`
}

// PolicyInfo names the policy a replay ran under.
type PolicyInfo struct {
	File string `json:"file"`
	Name string `json:"name"`
	Hash string `json:"hash"`
}

// Totals counts decisions by outcome. Decisions = Unchanged +
// ApprovedToRejected + RejectedToApproved + RulesChanged +
// DecisionChanged + Skipped.
type Totals struct {
	Decisions          int `json:"decisions"`
	Unchanged          int `json:"unchanged"`
	ApprovedToRejected int `json:"approved_to_rejected"`
	RejectedToApproved int `json:"rejected_to_approved"`
	RulesChanged       int `json:"rules_changed"`
	DecisionChanged    int `json:"decision_changed"`
	Skipped            int `json:"skipped"`
}

// Changed is the number of decisions that would change.
func (t Totals) Changed() int {
	return t.ApprovedToRejected + t.RejectedToApproved + t.RulesChanged + t.DecisionChanged
}

// Change is one decision whose verdict differs under the new policy.
type Change struct {
	DecisionID string         `json:"decision_id"`
	RunID      string         `json:"run_id"`
	Index      int            `json:"index"`
	At         time.Time      `json:"at"`
	Symbol     string         `json:"symbol"`
	Action     schemas.Action `json:"action"`
	Kind       string         `json:"kind"`
	Old        Outcome        `json:"old"`
	New        Outcome        `json:"new"`
	// NewlyFailing are the rules that fail under the new policy and did not
	// before (with the new message); NoLongerFailing the rules that failed
	// and no longer do (with the old message).
	NewlyFailing    []RuleFailure `json:"newly_failing"`
	NoLongerFailing []RuleFailure `json:"no_longer_failing"`
}

// Outcome is one verdict in short: the decision and the rules that failed.
type Outcome struct {
	Decision   schemas.Decision `json:"decision"`
	PolicyHash string           `json:"policy_hash"`
	// Failed lists the rules that rejected, then those that only warned
	// (marked "(warn)"), each group in verdict order.
	Failed []string `json:"failed"`
}

// RuleFailure is one failed rule: a violation, or a warning when Warn.
type RuleFailure struct {
	Rule    string `json:"rule"`
	Source  string `json:"source"`
	Warn    bool   `json:"warn,omitempty"`
	Message string `json:"message"`
}

func (f RuleFailure) key() string {
	if f.Warn {
		return f.Rule + " (warn)"
	}
	return f.Rule
}

// Skip is a recorded decision that could not be replayed.
type Skip struct {
	DecisionID string    `json:"decision_id"`
	At         time.Time `json:"at"`
	Reason     string    `json:"reason"`
}

// Replay re-judges every decision recorded at or after since with newV,
// each against the state recorded with it, and reports what would change.
// A recorded response is re-validated whole and in order, so a decision
// that depended on an earlier approval in the same response is judged
// against the same updated state it would have been. Replay only reads:
// it neither places orders nor writes to the source.
func Replay(ctx context.Context, src Source, newV *policy.Validator, since time.Time) (Report, error) {
	if newV == nil || newV.Policy() == nil {
		return Report{}, fmt.Errorf("policyreplay: no policy to replay under")
	}
	p := newV.Policy()
	rep := Report{
		Policy:           PolicyInfo{File: p.File(), Name: p.Name(), Hash: p.Hash()},
		Since:            since,
		RecordedPolicies: []string{},
		Changes:          []Change{},
		Skipped:          []Skip{},
	}
	decs, err := src.RecordedDecisions(ctx, since)
	if err != nil {
		return Report{}, fmt.Errorf("policyreplay: read recorded decisions: %w", err)
	}
	hashes := map[string]bool{}
	for _, g := range groupResponses(decs) {
		if err := ctx.Err(); err != nil {
			return Report{}, err
		}
		for _, d := range g {
			if !hashes[d.PolicyHash] {
				hashes[d.PolicyHash] = true
				rep.RecordedPolicies = append(rep.RecordedPolicies, d.PolicyHash)
			}
		}
		rep.Totals.Decisions += len(g)
		resp, why := rebuild(g)
		if why != "" {
			for _, d := range g {
				rep.Skipped = append(rep.Skipped, Skip{DecisionID: d.DecisionID, At: d.At, Reason: why})
			}
			rep.Totals.Skipped += len(g)
			continue
		}
		verdicts := newV.Validate(resp, g[0].State)
		if len(verdicts) != len(g) {
			return Report{}, fmt.Errorf("policyreplay: run %s: %d verdicts for %d recommendations", g[0].RunID, len(verdicts), len(g))
		}
		for i, d := range g {
			c, changed := compare(d, verdicts[i], p.Hash())
			if !changed {
				rep.Totals.Unchanged++
				continue
			}
			switch c.Kind {
			case ApprovedToRejected:
				rep.Totals.ApprovedToRejected++
			case RejectedToApproved:
				rep.Totals.RejectedToApproved++
			case RulesChanged:
				rep.Totals.RulesChanged++
			default:
				rep.Totals.DecisionChanged++
			}
			rep.Changes = append(rep.Changes, c)
		}
	}
	sort.Strings(rep.RecordedPolicies)
	return rep, nil
}

// groupResponses splits decisions into the responses they were judged in:
// one group per run and recording time (RecordVerdicts stamps every verdict
// of a response with the same time and state), each sorted by index, the
// groups oldest first.
func groupResponses(decs []audit.RecordedDecision) [][]audit.RecordedDecision {
	type key struct {
		run string
		at  int64
	}
	idx := map[key]int{}
	var groups [][]audit.RecordedDecision
	for _, d := range decs {
		k := key{d.RunID, d.At.UnixNano()}
		i, ok := idx[k]
		if !ok {
			i = len(groups)
			idx[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], d)
	}
	for _, g := range groups {
		sort.SliceStable(g, func(i, j int) bool { return g[i].Verdict.Index < g[j].Verdict.Index })
	}
	sort.SliceStable(groups, func(i, j int) bool {
		a, b := groups[i][0], groups[j][0]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		return a.RunID < b.RunID
	})
	return groups
}

// rebuild puts a recorded response back together from its decisions, or
// says why it cannot be replayed faithfully.
func rebuild(g []audit.RecordedDecision) (schemas.Response, string) {
	resp := schemas.Response{Recommendations: make([]schemas.Recommendation, 0, len(g))}
	for i, d := range g {
		if d.Recommendation == nil {
			return schemas.Response{}, "the recommendation was not recorded (the response never parsed)"
		}
		if d.Verdict.Index != i {
			return schemas.Response{}, fmt.Sprintf("run %s: recorded recommendations are not 0..%d in order (found index %d at %d): the sequence cannot be reproduced", d.RunID, len(g)-1, d.Verdict.Index, i)
		}
		if d.State.Now.IsZero() && d.State.Mode == "" {
			return schemas.Response{}, "no state was recorded with the decision"
		}
		resp.Recommendations = append(resp.Recommendations, *d.Recommendation)
	}
	return resp, ""
}

// failures lists a verdict's failed rules: violations, then warnings.
func failures(v schemas.Verdict) []RuleFailure {
	out := make([]RuleFailure, 0, len(v.Violations)+len(v.Warnings))
	for _, x := range v.Violations {
		out = append(out, RuleFailure{Rule: x.Rule, Source: x.Source, Message: x.Message})
	}
	for _, x := range v.Warnings {
		out = append(out, RuleFailure{Rule: x.Rule, Source: x.Source, Warn: true, Message: x.Message})
	}
	return out
}

func outcome(v schemas.Verdict, hash string, fs []RuleFailure) Outcome {
	o := Outcome{Decision: v.Decision, PolicyHash: hash, Failed: make([]string, 0, len(fs))}
	seen := map[string]bool{}
	for _, f := range fs {
		if k := f.key(); !seen[k] {
			seen[k] = true
			o.Failed = append(o.Failed, k)
		}
	}
	return o
}

// compare says whether the new verdict differs from the recorded one in
// decision or in the set of failed rules, and how.
func compare(d audit.RecordedDecision, nv schemas.Verdict, newHash string) (Change, bool) {
	ov := d.Verdict
	oldF, newF := failures(ov), failures(nv)
	c := Change{
		DecisionID: d.DecisionID, RunID: d.RunID, Index: ov.Index, At: d.At,
		Symbol: ov.Symbol, Action: ov.Action,
		Old: outcome(ov, d.PolicyHash, oldF), New: outcome(nv, newHash, newF),
		NewlyFailing: diff(newF, oldF), NoLongerFailing: diff(oldF, newF),
	}
	if c.Symbol == "" && d.Recommendation != nil {
		c.Symbol, c.Action = d.Recommendation.Symbol, d.Recommendation.Action
	}
	switch {
	case ov.Decision == nv.Decision:
		if len(c.NewlyFailing) == 0 && len(c.NoLongerFailing) == 0 {
			return Change{}, false
		}
		c.Kind = RulesChanged
	case ov.Decision == schemas.DecisionApproved && nv.Decision == schemas.DecisionRejected:
		c.Kind = ApprovedToRejected
	case ov.Decision == schemas.DecisionRejected && nv.Decision == schemas.DecisionApproved:
		c.Kind = RejectedToApproved
	default:
		c.Kind = DecisionChanged
	}
	return c, true
}

// diff lists the failures in a whose rule (and mode) is not in b, in a's
// order, once per rule.
func diff(a, b []RuleFailure) []RuleFailure {
	in := make(map[string]bool, len(b))
	for _, f := range b {
		in[f.key()] = true
	}
	out := []RuleFailure{}
	for _, f := range a {
		if !in[f.key()] {
			in[f.key()] = true
			out = append(out, f)
		}
	}
	return out
}
