package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/common/types"

	"github.com/warden-trading/warden/schemas"
)

// Validator judges model responses against a state with one policy and one
// set of hard limits. It is safe for concurrent use: the compiled programs
// are shared and every call builds its own activation.
type Validator struct {
	p   *Policy
	lim Limits
}

// NewValidator returns a validator for p. A nil p is refused by every call
// (fail closed), never treated as an empty policy.
func NewValidator(p *Policy, lim Limits) *Validator {
	return &Validator{p: p, lim: lim}
}

// Policy returns the validator's policy.
func (v *Validator) Policy() *Policy { return v.p }

// Limits returns the validator's hard limits.
func (v *Validator) Limits() Limits { return v.lim }

// RuleNoPolicy is the violation when a validator has no policy.
const RuleNoPolicy = "no_policy"

// Result is the outcome of ValidateRaw: the parsed response (nil when it
// did not parse), schema errors, and a verdict per recommendation.
type Result struct {
	Response     *schemas.Response   `json:"-"`
	PolicyHash   string              `json:"policy_hash"`
	SchemaErrors []schemas.Violation `json:"schema_errors"`
	Verdicts     []schemas.Verdict   `json:"verdicts"`
	// Warnings are run-level warnings (see UniverseWarnings); they never
	// reject anything. ValidateRaw leaves them empty.
	Warnings []schemas.Violation `json:"warnings,omitempty"`
}

// AllApproved reports whether the response passed the schema and every
// buy and sell in it was approved (holds are neither). A response that did
// not parse is never approved.
func (r Result) AllApproved() bool {
	if len(r.SchemaErrors) > 0 || r.Response == nil {
		return false
	}
	for _, v := range r.Verdicts {
		if v.Decision != schemas.DecisionApproved && v.Decision != schemas.DecisionNoAction {
			return false
		}
	}
	return true
}

// ValidateRaw parses raw strictly (schemas.ParseResponse) and, when it
// parses, validates it against st.
func (v *Validator) ValidateRaw(raw []byte, st schemas.State) Result {
	res := Result{SchemaErrors: []schemas.Violation{}, Verdicts: []schemas.Verdict{}}
	if v.p != nil {
		res.PolicyHash = v.p.hash
	}
	resp, err := schemas.ParseResponse(raw)
	if err != nil {
		var pe *schemas.ParseError
		if errors.As(err, &pe) && len(pe.Violations()) > 0 {
			res.SchemaErrors = append(res.SchemaErrors, pe.Violations()...)
		} else {
			res.SchemaErrors = append(res.SchemaErrors, schemas.Violation{
				Rule: "schema", Message: err.Error(), Source: schemas.SourceSchema,
			})
		}
		return res
	}
	res.Response = &resp
	res.Verdicts = v.Validate(resp, st)
	return res
}

// Validate judges each recommendation in order, each against the state as
// updated by the orders approved before it. hold gives no_action; buy and
// sell are sized, checked by every policy rule and by the hard limits, and
// approved only when nothing failed. A verdict's Order is set whenever
// sizing succeeded, approved or not (the audit log shows what was refused):
// only Decision == approved means the order may be placed.
func (v *Validator) Validate(resp schemas.Response, st schemas.State) []schemas.Verdict {
	return v.validate(resp, st, nil)
}

// validate is Validate; applied, when not nil, gets per recommendation and
// rule whether the rule applied.
func (v *Validator) validate(resp schemas.Response, st schemas.State, applied [][]bool) []schemas.Verdict {
	b := newBook(&st)
	a := &activation{now: celTimestamp(st.Now)}
	if v.p != nil {
		a.params = v.p.params
	}
	out := make([]schemas.Verdict, len(resp.Recommendations))
	for i := range resp.Recommendations {
		var ap []bool
		if applied != nil && v.p != nil {
			ap = make([]bool, len(v.p.rules))
			applied[i] = ap
		}
		// A response holds at most a few dozen recommendations: a scan
		// beats a map.
		sym := resp.Recommendations[i].Symbol
		first := i
		for j := 0; j < i; j++ {
			if resp.Recommendations[j].Symbol == sym {
				first = j
				break
			}
		}
		out[i] = v.judge(i, first, &resp.Recommendations[i], b, a, ap)
		if out[i].Decision == schemas.DecisionApproved {
			b.apply(out[i].Order)
		}
	}
	return out
}

// validateRawCoverage is ValidateRaw for the test runner, with which rules
// applied to each recommendation.
func (v *Validator) validateRawCoverage(raw []byte, st schemas.State) (Result, [][]bool) {
	res := v.ValidateRaw(raw, st)
	if res.Response == nil {
		return res, nil
	}
	applied := make([][]bool, len(res.Response.Recommendations))
	res.Verdicts = v.validate(*res.Response, st, applied)
	return res, applied
}

// RuleOnePerSymbol rejects every recommendation after the first for the
// same symbol in one response (the prompt asks for exactly one per symbol).
const RuleOnePerSymbol = "one_per_symbol"

// judge decides one recommendation. applied, when not nil, receives per
// rule whether the rule applied (its when held); the test runner uses it
// for coverage. first is the index of the response's first recommendation
// for the same symbol.
func (v *Validator) judge(i, first int, rec *schemas.Recommendation, b *book, a *activation, applied []bool) schemas.Verdict {
	vd := schemas.Verdict{
		Index:      i,
		Symbol:     rec.Symbol,
		Action:     rec.Action,
		Violations: []schemas.Violation{},
		Warnings:   []schemas.Violation{},
	}
	dup := first != i
	if dup {
		vd.Violations = append(vd.Violations, schemas.Violation{
			Rule:    RuleOnePerSymbol,
			Message: fmt.Sprintf("recommendation %d is a second one for %s (the first is recommendation %d): one recommendation per symbol", i, rec.Symbol, first),
			Source:  schemas.SourceResponse,
		})
	}
	if rec.Action == schemas.ActionHold {
		vd.Decision = schemas.DecisionNoAction
		if dup {
			vd.Decision = schemas.DecisionRejected
		}
		return vd
	}
	o, sv := SizeOrder(*rec, *b.st)
	vd.Violations = append(vd.Violations, sv...)
	vd.Order = o
	if v.p == nil {
		vd.Violations = append(vd.Violations, schemas.Violation{
			Rule: RuleNoPolicy, Message: "no policy is loaded: nothing is approved", Source: schemas.SourcePolicy,
		})
	} else {
		// Every rule is judged, sized or not: the rules that need the sized
		// order are reported as not applicable with the sizing reason.
		b.fill(a, rec, o)
		vd.Rules = v.p.eval(a, applied, sizingReason(sv))
		for _, r := range vd.Rules {
			if r.Passed || r.NotApplicable {
				continue
			}
			msg := r.Message
			if r.Error != "" {
				msg = fmt.Sprintf("%s (evaluation error: %s)", r.Message, r.Error)
			}
			viol := schemas.Violation{Rule: r.Name, Message: msg, Source: schemas.SourcePolicy}
			if r.Mode == ModeWarn {
				vd.Warnings = append(vd.Warnings, viol)
			} else {
				vd.Violations = append(vd.Violations, viol)
			}
		}
	}
	vd.Violations = append(vd.Violations, v.lim.check(rec, o, b)...)
	if len(vd.Violations) == 0 && o != nil {
		vd.Decision = schemas.DecisionApproved
	} else {
		vd.Decision = schemas.DecisionRejected
	}
	return vd
}

// sizingReason is the text a not-applicable rule carries.
func sizingReason(sv []schemas.Violation) string {
	if len(sv) == 0 {
		return ""
	}
	parts := make([]string, len(sv))
	for i, x := range sv {
		parts[i] = x.Rule + ": " + x.Message
	}
	return "not applicable: the order could not be sized (" + strings.Join(parts, "; ") + ")"
}

// eval runs every rule on a filled activation. Any evaluation error fails
// the rule it happened in (fail closed).
//
// When the order could not be sized (a.sized is false), a rule that reads
// the sized order is not evaluated: it is reported as not applicable with
// notSized as its message.
func (p *Policy) eval(a *activation, applied []bool, notSized string) []schemas.RuleResult {
	out := make([]schemas.RuleResult, len(p.rules))
	// Fast path: one evaluation when every rule passes. It runs without
	// cost tracking, so only on inputs within the static estimate, whose
	// total is bounded by PolicyCostLimit.
	if p.all != nil && applied == nil && a.sized && a.withinEstimate() {
		if v, _, err := p.all.Eval(a); err == nil && v == types.True {
			for i, r := range p.rules {
				out[i] = schemas.RuleResult{Name: r.name, Mode: r.mode, Passed: true}
			}
			return out
		}
	}
	for i, r := range p.rules {
		res := schemas.RuleResult{Name: r.name, Mode: r.mode}
		if !a.sized && r.needsOrder {
			res.NotApplicable = true
			res.Message = notSized
			if res.Message == "" {
				res.Message = "not applicable: the order could not be sized"
			}
			out[i] = res
			continue
		}
		ok, applies, err := r.check(a)
		if applied != nil {
			applied[i] = applies
		}
		switch {
		case err != nil:
			res.Message = r.fallback
			res.Error = err.Error()
		case ok:
			res.Passed = true
		default:
			res.Message = r.msg(a)
		}
		out[i] = res
	}
	return out
}

// check evaluates the rule: passed, whether it applied, and any error.
func (r *rule) check(a *activation) (passed, applies bool, err error) {
	if r.when != nil {
		w, err := evalBool(r.when, a)
		if err != nil {
			return false, true, fmt.Errorf("when: %w", err)
		}
		if !w {
			return true, false, nil
		}
	}
	ok, err := evalBool(r.expr, a)
	return ok, true, err
}

var errNotBool = errors.New("expression did not evaluate to a bool")

func evalBool(prg *program, a *activation) (bool, error) {
	out, err := prg.eval(a)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, errNotBool
	}
	return bool(b), nil
}

// msg is the failed rule's message: its message expression, or the fallback
// when there is none or it does not evaluate to a non-empty string.
func (r *rule) msg(a *activation) string {
	if r.message == nil {
		return r.fallback
	}
	out, err := r.message.eval(a)
	if err != nil {
		return r.fallback
	}
	s, ok := out.(types.String)
	if !ok || s == "" {
		return r.fallback
	}
	return string(s)
}
