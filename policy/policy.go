package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"gopkg.in/yaml.v3"
)

// Cost limits. CEL's cost is an abstract measure of CPU: roughly one unit per
// operation, and one per ten characters for string operations.
const (
	// RuleCostLimit is the most one expression (a rule's when, expr or
	// message) may cost: its static estimate must fit when the policy loads,
	// and an evaluation that goes over it fails the rule.
	RuleCostLimit = 10_000
	// PolicyCostLimit bounds the sum of the estimates over every expression
	// of a policy, so one evaluation of the whole policy has a budget.
	PolicyCostLimit = 200_000
	// MaxPolicySize bounds a policy file.
	MaxPolicySize = 1 << 20
)

// Rule modes.
const (
	ModeEnforce = "enforce" // a failed rule rejects the recommendation
	ModeWarn    = "warn"    // a failed rule is reported as a warning only
)

// Policy is a loaded, compiled and type-checked policy. It is immutable and
// safe for concurrent use.
type Policy struct {
	name        string
	file        string
	description string
	hash        string
	src         []byte
	paramNames  []string
	params      *paramsObj
	paramText   map[string]string
	rules       []*rule
	// trailing is params.trailing (nil: no trailing stop).
	trailing *Trailing
	// all is every rule in one program (see compileAll); nil if it did not
	// compile.
	all cel.Program
}

// rule is one compiled rule.
type rule struct {
	name        string
	description string
	mode        string
	line        int
	when        *program // nil: the rule always applies
	expr        *program
	message     *program // nil: the fallback is the message
	fallback    string
	// needsOrder: when or expr reads a value of the sized order (see
	// sizedFields); such a rule is not applicable when sizing fails.
	needsOrder bool
}

// Problem is one reason a policy did not load.
type Problem struct {
	File string
	Line int    // 0 when unknown
	Rule string // "" when the problem is not in a rule
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Rule != "" {
		fmt.Fprintf(&b, "rule %s: ", p.Rule)
	}
	b.WriteString(p.Msg)
	return b.String()
}

// LoadError lists every problem found in a policy that was refused.
type LoadError struct {
	Problems []Problem
}

func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "policy refused:\n" + strings.Join(lines, "\n")
}

// Name is the policy's name (its "name" key, else the file name). Name,
// Hash and Describe return zero values on a nil *Policy.
func (p *Policy) Name() string {
	if p == nil {
		return ""
	}
	return p.name
}

// File is the file name the policy was loaded from.
func (p *Policy) File() string { return p.file }

// Hash is the hex sha256 of the policy file's bytes: the policy revision
// every verdict records.
func (p *Policy) Hash() string {
	if p == nil {
		return ""
	}
	return p.hash
}

// Source returns a copy of the policy file's bytes.
func (p *Policy) Source() []byte { return bytes.Clone(p.src) }

// RuleNames lists the rules in file order.
func (p *Policy) RuleNames() []string {
	out := make([]string, len(p.rules))
	for i, r := range p.rules {
		out[i] = r.name
	}
	return out
}

// Describe returns one plain-word line per rule, from the rule descriptions
// with {param} placeholders replaced by the param values, for the model's
// prompt. Warn-mode rules are marked as advisory.
func (p *Policy) Describe() []string {
	if p == nil {
		return nil
	}
	out := make([]string, 0, len(p.rules))
	for _, r := range p.rules {
		d := r.description
		if r.mode == ModeWarn {
			d += " (advisory: reported, not enforced)"
		}
		out = append(out, d)
	}
	return out
}

// LoadFile reads and loads the policy file at path.
func LoadFile(path string) (*Policy, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxPolicySize+1))
	if err != nil {
		return nil, err
	}
	return Load(path, src)
}

// file is the YAML shape of a policy file. Rule fields are nodes so errors
// can name their line.
type fileDoc struct {
	Name        string    `yaml:"name"`
	Description string    `yaml:"description"`
	Params      yaml.Node `yaml:"params"`
	Rules       []ruleDoc `yaml:"rules"`
}

type ruleDoc struct {
	Name            yaml.Node `yaml:"name"`
	Description     yaml.Node `yaml:"description"`
	When            yaml.Node `yaml:"when"`
	Expr            yaml.Node `yaml:"expr"`
	Message         yaml.Node `yaml:"message"`
	MessageFallback yaml.Node `yaml:"message_fallback"`
	Mode            yaml.Node `yaml:"mode"`
}

var (
	identRE       = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	placeholderRE = regexp.MustCompile(`\{([a-z][a-z0-9_]*)\}`)
	yamlLineRE    = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// Load compiles the policy in src; file names it in errors. Every expression
// is parsed and type-checked, its output type checked (bool for when and
// expr, string for message) and its cost estimated. Any problem refuses the
// whole policy with a *LoadError listing every problem found.
func Load(file string, src []byte) (*Policy, error) {
	l := &loader{file: file}
	p := l.load(src)
	if len(l.problems) > 0 {
		return nil, &LoadError{Problems: l.problems}
	}
	return p, nil
}

type loader struct {
	file     string
	problems []Problem
}

func (l *loader) fail(line int, rule, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: l.file, Line: line, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) load(src []byte) *Policy {
	if len(src) > MaxPolicySize {
		l.fail(0, "", "file is larger than %d bytes", MaxPolicySize)
		return nil
	}
	if dups := duplicateKeys(src); len(dups) > 0 {
		spans := ruleSpans(src)
		for _, d := range dups {
			l.fail(d.Line, spans.ruleAt(d.Line), "%s", d)
		}
		return nil
	}
	var doc fileDoc
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.fail(0, "", "empty policy file")
			return nil
		}
		l.yamlError(src, err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		l.fail(extra.Line, "", "more than one YAML document in a policy file")
		return nil
	}

	p := &Policy{
		name:        doc.Name,
		file:        l.file,
		description: doc.Description,
		src:         bytes.Clone(src),
	}
	sum := sha256.Sum256(src)
	p.hash = hex.EncodeToString(sum[:])
	if p.name == "" {
		p.name = l.file
	}

	paramTypes, listSizes := l.params(p, &doc.Params)
	env, err := newEnv(paramTypes)
	if err != nil {
		l.fail(0, "", "building the CEL environment: %v", err)
		return nil
	}
	est := sizeEstimator{listSizes: listSizes}

	if len(doc.Rules) == 0 {
		l.fail(0, "", "policy has no rules")
	}
	seen := map[string]int{}
	var total uint64
	for i := range doc.Rules {
		r, cost := l.rule(env, est, p, &doc.Rules[i], i, seen)
		total += cost
		if r != nil {
			p.rules = append(p.rules, r)
		}
	}
	if total > PolicyCostLimit {
		l.fail(0, "", "estimated cost of all rules together is %d, over the limit of %d", total, PolicyCostLimit)
	}
	if len(l.problems) == 0 {
		p.all = compileAll(env, doc.Rules)
	}
	return p
}

// compileAll plans every rule as one conjunction, (when ? expr : true) &&
// ..., for the common case in which every rule passes. The conjunction is
// true exactly when every rule evaluates to true without an error (CEL's
// && is false if any side is false and an error if any side errors
// otherwise), so a true result is the same verdict as evaluating the rules
// one by one; anything else is evaluated rule by rule. It returns nil if the
// conjunction does not compile, which only costs speed.
func compileAll(env *cel.Env, rules []ruleDoc) cel.Program {
	parts := make([]string, 0, len(rules))
	for i := range rules {
		e := "(" + rules[i].Expr.Value + ")"
		if rules[i].When.Kind != 0 {
			e = "((" + rules[i].When.Value + ") ? " + e + " : true)"
		}
		parts = append(parts, e)
	}
	ast, iss := env.Compile(strings.Join(parts, " && "))
	if iss != nil && iss.Err() != nil || !ast.OutputType().IsExactType(types.BoolType) {
		return nil
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil
	}
	return prg
}

// yamlError turns a YAML error into problems with lines and, where the line
// falls inside a rule, the rule's name.
func (l *loader) yamlError(src []byte, err error) {
	var te *yaml.TypeError
	msgs := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	spans := ruleSpans(src)
	for _, m := range msgs {
		line := 0
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			line, _ = strconv.Atoi(sm[1])
			m = sm[2]
		}
		l.fail(line, spans.ruleAt(line), "%s", plainYAMLMsg(m))
	}
}

// yamlKeys are the keys each YAML shape of the policy and tests files
// accepts, by the type name yaml.v3 gives in its errors.
var yamlKeys = func() map[string][]string {
	out := map[string][]string{}
	for _, t := range []reflect.Type{
		reflect.TypeFor[fileDoc](), reflect.TypeFor[ruleDoc](),
		reflect.TypeFor[testFile](), reflect.TypeFor[testCase](), reflect.TypeFor[testExpect](), reflect.TypeFor[testLimits](),
	} {
		var keys []string
		for i := 0; i < t.NumField(); i++ {
			if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
				keys = append(keys, name)
			}
		}
		sort.Strings(keys)
		out[t.String()] = keys
	}
	return out
}()

var unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)

// plainYAMLMsg is msg, a yaml.v3 error message, with "field X not found
// in type policy.T" said as `unknown key "X" (known: ...)`: the Go type
// means nothing to whoever wrote the file.
func plainYAMLMsg(msg string) string {
	m := unknownFieldRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	if keys := yamlKeys[m[2]]; len(keys) > 0 {
		return fmt.Sprintf("unknown key %q (known: %s)", m[1], strings.Join(keys, ", "))
	}
	return fmt.Sprintf("unknown key %q", m[1])
}

type span struct {
	name        string
	first, last int
}

type spanList []span

func (s spanList) ruleAt(line int) string {
	for _, sp := range s {
		if line >= sp.first && line <= sp.last {
			return sp.name
		}
	}
	return ""
}

// ruleSpans finds the lines of each rule in a syntactically valid file.
func ruleSpans(src []byte) spanList { return itemSpans(src, "rules") }

// itemSpans finds the lines of each item of the top-level list key (a
// policy's rules, a tests file's cases), named by its name key, in a
// syntactically valid file.
func itemSpans(src []byte, key string) spanList {
	var root yaml.Node
	if yaml.Unmarshal(src, &root) != nil || len(root.Content) == 0 {
		return nil
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil
	}
	var out spanList
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != key || top.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		items := top.Content[i+1].Content
		for j, it := range items {
			sp := span{first: it.Line, last: math.MaxInt}
			if j+1 < len(items) {
				sp.last = items[j+1].Line - 1
			}
			if it.Kind == yaml.MappingNode {
				for k := 0; k+1 < len(it.Content); k += 2 {
					if it.Content[k].Value == "name" {
						sp.name = it.Content[k+1].Value
					}
				}
			}
			out = append(out, sp)
		}
	}
	return out
}

// params reads the params mapping: numbers become CEL doubles, lists of
// strings or of numbers become CEL lists.
func (l *loader) params(p *Policy, n *yaml.Node) (map[string]*types.Type, map[string]uint64) {
	p.params = &paramsObj{vals: map[string]ref.Val{}}
	p.paramText = map[string]string{}
	typ := map[string]*types.Type{}
	sizes := map[string]uint64{}
	if n.Kind == 0 {
		return typ, sizes
	}
	if n.Kind != yaml.MappingNode {
		l.fail(n.Line, "", "params must be a mapping of names to numbers or lists")
		return typ, sizes
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if k.Kind != yaml.ScalarNode || !identRE.MatchString(name) {
			l.fail(k.Line, "", "param name %q must be lower_snake_case", name)
			continue
		}
		switch v.Kind {
		case yaml.ScalarNode:
			f, ok := yamlNumber(v)
			if !ok {
				l.fail(v.Line, "", "param %s: %q is not a finite number (params are numbers or lists)", name, v.Value)
				continue
			}
			p.params.vals[name] = types.Double(f)
			p.paramText[name] = formatNumber(f)
			typ[name] = types.DoubleType
		case yaml.SequenceNode:
			if len(v.Content) == 0 {
				l.fail(v.Line, "", "param %s: an empty list has no element type", name)
				continue
			}
			var strs []string
			var nums []float64
			bad := false
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					bad = true
					break
				}
				if it.Tag == "!!str" {
					strs = append(strs, it.Value)
				} else if f, ok := yamlNumber(it); ok {
					nums = append(nums, f)
				} else {
					bad = true
					break
				}
			}
			switch {
			case bad || (len(strs) > 0 && len(nums) > 0):
				l.fail(v.Line, "", "param %s: a list must hold only strings or only finite numbers", name)
				continue
			case len(strs) > 0:
				p.params.vals[name] = types.NewStringList(types.DefaultTypeAdapter, strs)
				p.paramText[name] = strings.Join(strs, ", ")
				typ[name] = types.NewListType(types.StringType)
				sizes[name] = uint64(len(strs))
			default:
				vals := make([]ref.Val, len(nums))
				txt := make([]string, len(nums))
				for j, f := range nums {
					vals[j] = types.Double(f)
					txt[j] = formatNumber(f)
				}
				p.params.vals[name] = types.NewRefValList(types.DefaultTypeAdapter, vals)
				p.paramText[name] = strings.Join(txt, ", ")
				typ[name] = types.NewListType(types.DoubleType)
				sizes[name] = uint64(len(nums))
			}
		case yaml.MappingNode:
			if name != "trailing" {
				l.fail(v.Line, "", "param %s: must be a number or a list of strings or numbers (only trailing is a mapping)", name)
				continue
			}
			t, err := parseTrailing(v)
			if err != nil {
				l.fail(v.Line, "", "param trailing: %v", err)
				continue
			}
			p.trailing = &t
			p.paramText[name] = t.Kind + " " + t.Distance.String()
			continue // read in Go only, not a CEL param
		default:
			l.fail(v.Line, "", "param %s: must be a number or a list of strings or numbers", name)
			continue
		}
		p.paramNames = append(p.paramNames, name)
	}
	sort.Strings(p.paramNames)
	return typ, sizes
}

func yamlNumber(n *yaml.Node) (float64, bool) {
	if n.Tag != "!!int" && n.Tag != "!!float" {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil {
		// YAML ints may be written in hex or octal.
		i, ierr := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if ierr != nil {
			return 0, false
		}
		f = float64(i)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// scalar returns a scalar node's value, or reports that the key is not a
// plain string.
func (l *loader) scalar(n *yaml.Node, rule, key string) (string, bool) {
	if n.Kind == 0 {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		l.fail(n.Line, rule, "%s must be a string", key)
		return "", false
	}
	return n.Value, true
}

func firstLine(nodes ...*yaml.Node) int {
	for _, n := range nodes {
		if n.Line > 0 {
			return n.Line
		}
	}
	return 0
}

func (l *loader) rule(env *cel.Env, est sizeEstimator, p *Policy, d *ruleDoc, idx int, seen map[string]int) (*rule, uint64) {
	line := firstLine(&d.Name, &d.Description, &d.Expr, &d.When, &d.Message, &d.MessageFallback, &d.Mode)
	name, _ := l.scalar(&d.Name, "", "name")
	label := name
	if label == "" {
		label = fmt.Sprintf("#%d", idx+1)
	}
	before := len(l.problems)
	switch {
	case name == "":
		l.fail(line, label, "rule has no name")
	case !identRE.MatchString(name):
		l.fail(d.Name.Line, label, "name must be lower_snake_case ([a-z][a-z0-9_]*)")
	default:
		if prev, dup := seen[name]; dup {
			l.fail(d.Name.Line, label, "duplicate rule name (first defined on line %d)", prev)
		} else {
			seen[name] = d.Name.Line
		}
	}
	desc, _ := l.scalar(&d.Description, label, "description")
	if strings.TrimSpace(desc) == "" {
		l.fail(line, label, "description is required: it tells the model the limit in plain words")
	}
	desc = placeholderRE.ReplaceAllStringFunc(desc, func(m string) string {
		pn := m[1 : len(m)-1]
		v, ok := p.paramText[pn]
		if !ok {
			l.fail(d.Description.Line, label, "description refers to unknown param {%s}", pn)
			return m
		}
		return v
	})
	mode, _ := l.scalar(&d.Mode, label, "mode")
	switch mode {
	case "":
		mode = ModeEnforce
	case ModeEnforce, ModeWarn:
	default:
		l.fail(d.Mode.Line, label, "mode must be enforce or warn, not %q", mode)
	}
	fallback, _ := l.scalar(&d.MessageFallback, label, "message_fallback")
	if fallback == "" {
		fallback = fmt.Sprintf("rule %s failed: %s", name, desc)
	}

	r := &rule{name: name, description: desc, mode: mode, line: line, fallback: fallback}
	var cost uint64
	compile := func(n *yaml.Node, key string, want *types.Type) *program {
		src, ok := l.scalar(n, label, key)
		if !ok || n.Kind == 0 {
			return nil
		}
		if strings.TrimSpace(src) == "" {
			l.fail(n.Line, label, "%s is empty", key)
			return nil
		}
		prg, c, err := compileExpr(env, est, src, want)
		if err != nil {
			l.fail(n.Line, label, "%s: %v", key, err)
			return nil
		}
		cost += c
		return prg
	}
	if d.Expr.Kind == 0 {
		l.fail(line, label, "expr is required")
	}
	r.expr = compile(&d.Expr, "expr", types.BoolType)
	r.when = compile(&d.When, "when", types.BoolType)
	r.message = compile(&d.Message, "message", types.StringType)
	r.needsOrder = (r.expr != nil && r.expr.needsOrder) || (r.when != nil && r.when.needsOrder)
	if len(l.problems) > before {
		return nil, cost
	}
	return r, cost
}

// compileExpr parses, type-checks and plans one expression.
func compileExpr(env *cel.Env, est sizeEstimator, src string, want *types.Type) (*program, uint64, error) {
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, 0, errors.New(strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if out := ast.OutputType(); !out.IsExactType(want) {
		return nil, 0, fmt.Errorf("must evaluate to %s but got %s", want, out)
	}
	ce, err := env.EstimateCost(ast, est)
	if err != nil {
		return nil, 0, fmt.Errorf("estimating cost: %v", err)
	}
	if ce.Max > RuleCostLimit {
		return nil, 0, fmt.Errorf("estimated cost %d is over the limit of %d per expression", ce.Max, RuleCostLimit)
	}
	fast, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, 0, err
	}
	guarded, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(RuleCostLimit))
	if err != nil {
		return nil, 0, err
	}
	return &program{fast: fast, guarded: guarded, needsOrder: readsSized(ast)}, ce.Max, nil
}

// sizedFields are the values that exist only for a sized order: reading
// any of them (or the order object as a whole) makes a rule not
// applicable when sizing fails. order.symbol, order.side and order.type
// come from the recommendation and are always there.
var sizedFields = map[string]map[string]bool{
	"order": {"quantity": true, "price": true, "notional": true, "stop_loss": true, "take_profit": true,
		"limit_distance_bps": true, "stop_distance_pct": true, "expected_slippage_bps": true},
	"account": {"position_qty_after": true, "position_notional_after": true, "position_pct_after": true,
		"exposure_after": true, "exposure_pct_after": true, "open_positions_after": true},
}

// readsSized reports whether a checked expression reads a value of the
// sized order.
func readsSized(a *cel.Ast) bool {
	idents := 0 // references to order, every one of which must be a select of an unsized field
	safe := 0
	needs := false
	celast.PostOrderVisit(celast.NavigateAST(a.NativeRep()), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			if e.AsIdent() == "order" {
				idents++
			}
		case celast.SelectKind:
			sel := e.AsSelect()
			op := sel.Operand()
			if op.Kind() != celast.IdentKind {
				return
			}
			fields, ok := sizedFields[op.AsIdent()]
			if !ok {
				return
			}
			if fields[sel.FieldName()] {
				needs = true
			} else if op.AsIdent() == "order" {
				safe++
			}
		}
	}))
	return needs || idents > safe
}

// program is one compiled expression, planned twice. The static estimate
// (at most RuleCostLimit) is an upper bound of the runtime cost as long as
// every string is within maxStringSize, so when the activation satisfies
// that the fast plan runs without cost tracking; otherwise the guarded plan
// runs with cel.CostLimit and stops at the limit with an error.
type program struct {
	fast, guarded cel.Program
	needsOrder    bool // reads a value of the sized order
}

func (p *program) eval(a *activation) (ref.Val, error) {
	prg := p.fast
	if !a.withinEstimate() {
		prg = p.guarded
	}
	out, _, err := prg.Eval(a)
	return out, err
}
