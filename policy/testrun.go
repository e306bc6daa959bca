package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"

	"github.com/warden-trading/warden/schemas"
)

// A policy test file is YAML:
//
//	state: {...}             # base state, the shape of the state contract
//	state_file: state.json   # or a file, relative to the test file
//	recommendation: {...}    # base recommendation, patched by each case
//	limits: {max_order_notional: 1000}
//	cases:
//	  - name: a buy over the position cap is rejected
//	    state_patch: {account: {equity: 1000}}   # merge patch onto the base state
//	    recommendations: [{size_pct: 5}]          # merge patches onto the base recommendation
//	    expect:
//	      - decision: rejected
//	        violations: [max_position]
//
// A case gives either recommendations (patches) or a whole response (an
// object, or a string sent to the parser as it is); state (inline) or
// state_file (a JSON file, relative to the test file) replaces the base
// state, and state_patch patches the case's state. expect lists, per recommendation, the
// decision and the exact set of violated rule names (policy, sizing and
// limit rules alike) and, optionally, warnings. schema_error: true expects
// the response to fail the schema. lenient_state: true decodes the state
// without the contract's checks (schemas.ParseState), to test how the
// validator fails closed on states built in Go that the contract would
// refuse, such as a market with a zero bid.
type testFile struct {
	State          any        `yaml:"state"`
	StateFile      string     `yaml:"state_file"`
	Recommendation any        `yaml:"recommendation"`
	Limits         testLimits `yaml:"limits"`
	Cases          []testCase `yaml:"cases"`
}

type testLimits struct {
	MaxOrderNotional string `yaml:"max_order_notional"`
}

type testCase struct {
	Name            string       `yaml:"name"`
	State           any          `yaml:"state"`
	StateFile       string       `yaml:"state_file"`
	StatePatch      any          `yaml:"state_patch"`
	Response        any          `yaml:"response"`
	Recommendations []any        `yaml:"recommendations"`
	SchemaError     bool         `yaml:"schema_error"`
	LenientState    bool         `yaml:"lenient_state"`
	Expect          []testExpect `yaml:"expect"`
	line            int
}

type testExpect struct {
	Decision   schemas.Decision `yaml:"decision"`
	Violations []string         `yaml:"violations"`
	Warnings   []string         `yaml:"warnings"`
}

// RuleCoverage counts, for one rule, the cases' recommendations it failed
// (Tripped) and the ones it applied to and passed (Passed).
type RuleCoverage struct {
	Tripped int
	Passed  int
}

// Summary is the outcome of a test run.
type Summary struct {
	Passed   int
	Failed   int
	Skipped  int      // cases left out by TestOptions.Run
	Failures []string // names of the failed cases
	// Coverage is keyed by rule name, for every rule of the policy.
	Coverage map[string]*RuleCoverage
}

// Uncovered lists the rules that no case tripped or no case passed.
func (s Summary) Uncovered() []string {
	var out []string
	for n, c := range s.Coverage {
		if c.Tripped == 0 || c.Passed == 0 {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// CoveragePct is the share of the policy's rules, in percent, that some
// case tripped and some case passed (100 when the policy has no rules).
func (s Summary) CoveragePct() float64 {
	if len(s.Coverage) == 0 {
		return 100
	}
	return float64(len(s.Coverage)-len(s.Uncovered())) * 100 / float64(len(s.Coverage))
}

// TestOptions shape a test run, like `opa test`'s flags.
type TestOptions struct {
	// Verbose prints a PASS line for every passing case; otherwise only
	// failures and the summary are printed.
	Verbose bool
	// Run, when set, runs only the cases whose name it matches.
	Run *regexp.Regexp
}

// RunTests runs the YAML test cases in testsSrc (name names the file in
// output and anchors state_file paths) against p, printing one PASS or FAIL
// line per case as FILE:LINE: case name, like `opa test -v`, and a
// summary. The error is for a test file that cannot be used at all (a
// duplicate key in it, with its line, among others); failed cases are
// counted in the Summary.
func RunTests(ctx context.Context, w io.Writer, p *Policy, testsSrc []byte, name string) (Summary, error) {
	return RunTestsWith(ctx, w, p, testsSrc, name, TestOptions{Verbose: true})
}

// RunTestsWith is RunTests with options.
func RunTestsWith(ctx context.Context, w io.Writer, p *Policy, testsSrc []byte, name string, opt TestOptions) (Summary, error) {
	sum := Summary{Coverage: map[string]*RuleCoverage{}}
	if p == nil {
		return sum, errors.New("no policy to test")
	}
	for _, r := range p.rules {
		sum.Coverage[r.name] = &RuleCoverage{}
	}
	if dups := duplicateKeys(testsSrc); len(dups) > 0 {
		msgs := make([]string, len(dups))
		for i, d := range dups {
			msgs[i] = fmt.Sprintf("%s:%d: %s", name, d.Line, d)
		}
		return sum, errors.New(strings.Join(msgs, "\n"))
	}
	tf, err := parseTestFile(name, testsSrc)
	if err != nil {
		return sum, err
	}
	var lim Limits
	if tf.Limits.MaxOrderNotional != "" {
		d, err := decimal.NewFromString(tf.Limits.MaxOrderNotional)
		if err != nil {
			return sum, fmt.Errorf("%s: limits.max_order_notional: %v", name, err)
		}
		lim.MaxOrderNotional = d
	}
	base := tf.State
	if tf.StateFile != "" {
		if base != nil {
			return sum, fmt.Errorf("%s: give state or state_file, not both", name)
		}
		if base, err = readStateFile(name, tf.StateFile); err != nil {
			return sum, fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(tf.Cases) == 0 {
		return sum, fmt.Errorf("%s: no cases", name)
	}
	v := NewValidator(p, lim)
	seen := map[string]int{}
	for _, c := range tf.Cases {
		if first, dup := seen[c.Name]; dup {
			return sum, fmt.Errorf("%s:%d: duplicate case name %q (first on line %d)", name, c.line, c.Name, first)
		}
		seen[c.Name] = c.line
	}
	for _, c := range tf.Cases {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		if opt.Run != nil && !opt.Run.MatchString(c.Name) {
			sum.Skipped++
			continue
		}
		where := fmt.Sprintf("%s:%d", name, c.line)
		start := time.Now()
		caseBase := base
		if c.StateFile != "" {
			if caseBase, err = readStateFile(name, c.StateFile); err != nil {
				return sum, fmt.Errorf("%s: case %q: %w", where, c.Name, err)
			}
		}
		problems := runCase(v, caseBase, tf.Recommendation, c, sum.Coverage)
		took := time.Since(start).Round(time.Microsecond)
		if len(problems) == 0 {
			sum.Passed++
			if opt.Verbose {
				fmt.Fprintf(w, "PASS: %s: %s (%s)\n", where, c.Name, took)
			}
			continue
		}
		sum.Failed++
		sum.Failures = append(sum.Failures, c.Name)
		fmt.Fprintf(w, "FAIL: %s: %s (%s)\n", where, c.Name, took)
		for _, pr := range problems {
			fmt.Fprintf(w, "    %s\n", pr)
		}
	}
	total := sum.Passed + sum.Failed
	if total == 0 && opt.Run != nil {
		return sum, fmt.Errorf("%s: no case name matches --run %q", name, opt.Run.String())
	}
	fmt.Fprintln(w, strings.Repeat("-", 80))
	fmt.Fprintf(w, "PASS: %d/%d\n", sum.Passed, total)
	if sum.Failed > 0 {
		fmt.Fprintf(w, "FAIL: %d/%d\n", sum.Failed, total)
	}
	if sum.Skipped > 0 {
		fmt.Fprintf(w, "SKIPPED: %d (not matching --run)\n", sum.Skipped)
	}
	return sum, nil
}

// readStateFile reads a state JSON file named in a test file; a relative
// path is relative to the test file.
func readStateFile(testsName, path string) (any, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(testsName), path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("state_file: %w", err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("state_file %s: %w", path, err)
	}
	return doc, nil
}

// parseTestFile reads the tests file src; name names it in errors, as
// name:line: where the line is known.
func parseTestFile(name string, src []byte) (*testFile, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	var tf testFile
	if err := dec.Decode(&tf); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty test file", name)
		}
		return nil, testsYAMLError(name, src, err)
	}
	if err := yaml.Unmarshal(src, &root); err == nil {
		lineCases(&root, tf.Cases)
	}
	for i, c := range tf.Cases {
		if strings.TrimSpace(c.Name) == "" {
			return nil, fmt.Errorf("%s:%d: case %d has no name", name, c.line, i+1)
		}
		if (c.Response == nil) == (c.Recommendations == nil) {
			return nil, fmt.Errorf("%s:%d: case %q: give exactly one of response and recommendations", name, c.line, c.Name)
		}
		if c.State != nil && c.StateFile != "" {
			return nil, fmt.Errorf("%s:%d: case %q: give state or state_file, not both", name, c.line, c.Name)
		}
		if len(c.Expect) == 0 && !c.SchemaError {
			return nil, fmt.Errorf("%s:%d: case %q: expect is empty", name, c.line, c.Name)
		}
		for j, e := range c.Expect {
			switch e.Decision {
			case schemas.DecisionApproved, schemas.DecisionRejected, schemas.DecisionNoAction:
			default:
				return nil, fmt.Errorf("%s:%d: case %q: expect[%d].decision %q is not approved, rejected or no_action", name, c.line, c.Name, j, e.Decision)
			}
			if e.Decision == schemas.DecisionRejected && len(e.Violations) == 0 {
				return nil, fmt.Errorf("%s:%d: case %q: expect[%d] is rejected but lists no violations", name, c.line, c.Name, j)
			}
		}
	}
	return &tf, nil
}

// testsYAMLError is the decoder's err on the tests file src, one line per
// problem as name:line: case "NAME": message, an unknown key named as such
// with the keys known there.
func testsYAMLError(name string, src []byte, err error) error {
	msgs := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	cases := itemSpans(src, "cases")
	out := make([]string, len(msgs))
	for i, m := range msgs {
		line := 0
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			line, _ = strconv.Atoi(sm[1])
			m = sm[2]
		}
		m = plainYAMLMsg(m)
		if c := cases.ruleAt(line); c != "" {
			m = fmt.Sprintf("case %q: %s", c, m)
		}
		where := name
		if line > 0 {
			where = fmt.Sprintf("%s:%d", name, line)
		}
		out[i] = where + ": " + m
	}
	return errors.New(strings.Join(out, "\n"))
}

// lineCases records each case's line for messages.
func lineCases(root *yaml.Node, cases []testCase) {
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return
	}
	top := root.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "cases" && top.Content[i+1].Kind == yaml.SequenceNode {
			for j, n := range top.Content[i+1].Content {
				if j < len(cases) {
					cases[j].line = n.Line
				}
			}
		}
	}
}

// runCase runs one case and returns what did not match.
func runCase(v *Validator, baseState, baseRec any, c testCase, cov map[string]*RuleCoverage) []string {
	stDoc := baseState
	if c.State != nil {
		stDoc = c.State
	}
	if c.StatePatch != nil {
		stDoc = mergePatch(stDoc, c.StatePatch)
	}
	if stDoc == nil {
		return []string{"no state: give state in the file or the case"}
	}
	stRaw, err := json.Marshal(jsonable(stDoc))
	if err != nil {
		return []string{fmt.Sprintf("state: %v", err)}
	}
	var st schemas.State
	if c.LenientState {
		err = json.Unmarshal(stRaw, &st)
	} else {
		st, err = schemas.ParseState(stRaw)
	}
	if err != nil {
		return []string{fmt.Sprintf("state is not valid: %v", err)}
	}

	var raw []byte
	switch r := c.Response.(type) {
	case nil:
		recs := make([]any, len(c.Recommendations))
		for i, patch := range c.Recommendations {
			recs[i] = mergePatch(baseRec, patch)
		}
		raw, err = json.Marshal(jsonable(map[string]any{
			"rationale":       "policy test case",
			"recommendations": recs,
		}))
	case string:
		raw = []byte(r)
	default:
		raw, err = json.Marshal(jsonable(r))
	}
	if err != nil {
		return []string{fmt.Sprintf("response: %v", err)}
	}

	res, applied := v.validateRawCoverage(raw, st)
	var problems []string
	if c.SchemaError != (len(res.SchemaErrors) > 0) {
		if c.SchemaError {
			problems = append(problems, "schema errors = none; want some")
		} else {
			for _, se := range res.SchemaErrors {
				problems = append(problems, fmt.Sprintf("unexpected schema error at %q: %s", se.Pointer, se.Message))
			}
		}
	}
	if len(res.Verdicts) != len(c.Expect) {
		problems = append(problems, fmt.Sprintf("verdicts = %d; want %d", len(res.Verdicts), len(c.Expect)))
	}
	for i, vd := range res.Verdicts {
		for j, rr := range vd.Rules {
			rc := cov[rr.Name]
			switch {
			case rc == nil, rr.NotApplicable:
			case !rr.Passed:
				rc.Tripped++
			case applied[i][j]:
				rc.Passed++
			}
		}
		if i >= len(c.Expect) {
			continue
		}
		want := c.Expect[i]
		if vd.Decision != want.Decision {
			problems = append(problems, fmt.Sprintf("verdict %d (%s %s): decision = %s; want %s%s",
				i, vd.Action, vd.Symbol, vd.Decision, want.Decision, describeViolations(vd.Violations)))
		}
		if got := ruleNames(vd.Violations); !sameSet(got, want.Violations) {
			problems = append(problems, fmt.Sprintf("verdict %d (%s %s): violations = %v; want %v%s",
				i, vd.Action, vd.Symbol, got, sorted(want.Violations), describeViolations(vd.Violations)))
		}
		if got := ruleNames(vd.Warnings); !sameSet(got, want.Warnings) {
			problems = append(problems, fmt.Sprintf("verdict %d (%s %s): warnings = %v; want %v",
				i, vd.Action, vd.Symbol, got, sorted(want.Warnings)))
		}
	}
	return problems
}

func describeViolations(vs []schemas.Violation) string {
	if len(vs) == 0 {
		return ""
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.Rule + ": " + v.Message
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func ruleNames(vs []schemas.Violation) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Rule
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func sameSet(a, b []string) bool {
	return slices.Equal(sorted(a), sorted(b))
}

// mergePatch applies a JSON merge patch (RFC 7386, except that null sets
// the key to null instead of removing it, since null prices are what tests
// need); neither input is changed.
func mergePatch(base, patch any) any {
	pm, ok := asMap(patch)
	if !ok {
		return patch
	}
	out := map[string]any{}
	if bm, ok := asMap(base); ok {
		for k, v := range bm {
			out[k] = v
		}
	}
	for k, v := range pm {
		out[k] = mergePatch(out[k], v)
	}
	return out
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[fmt.Sprint(k)] = x
		}
		return out, true
	}
	return nil, false
}

// jsonable turns YAML-decoded values into values encoding/json accepts.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	}
	return v
}
