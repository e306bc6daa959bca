package prompts

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
)

// fastExec executes a parsed text/template for the small subset of the
// language our templates use — text, {{.Field}} chains, {{len .Field}},
// {{if}}/{{else}} and {{range}}/{{else}} over fields, {{.}} — without
// text/template's per-action reflection cost (it renders at every cycle of
// a backtest). supported() decides once per template; anything else runs
// through text/template. A test checks both give identical bytes.
type fastExec struct {
	root *parse.ListNode
}

var errUnsupported = errors.New("prompts: template construct outside the fast subset")

// newFastExec returns nil when tm uses anything outside the subset.
func newFastExec(tm *template.Template) *fastExec {
	if tm.Tree == nil || !supported(tm.Tree.Root) || len(tm.Templates()) != 1 {
		return nil
	}
	return &fastExec{root: tm.Tree.Root}
}

func supported(n parse.Node) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return true
		}
		for _, c := range n.Nodes {
			if !supported(c) {
				return false
			}
		}
		return true
	case *parse.TextNode:
		return true
	case *parse.ActionNode:
		return simplePipe(n.Pipe, true)
	case *parse.IfNode:
		return simplePipe(n.Pipe, false) && supported(n.List) && supported(n.ElseList)
	case *parse.RangeNode:
		return simplePipe(n.Pipe, false) && supported(n.List) && supported(n.ElseList)
	}
	return false
}

// simplePipe: one command, no variables, either a field chain or dot, or
// (for printing) "len" of a field chain.
func simplePipe(p *parse.PipeNode, allowLen bool) bool {
	if p == nil || len(p.Decl) != 0 || len(p.Cmds) != 1 || p.IsAssign {
		return false
	}
	args := p.Cmds[0].Args
	switch len(args) {
	case 1:
		switch args[0].(type) {
		case *parse.FieldNode, *parse.DotNode:
			return true
		}
	case 2:
		id, ok := args[0].(*parse.IdentifierNode)
		_, field := args[1].(*parse.FieldNode)
		return allowLen && ok && id.Ident == "len" && field
	}
	return false
}

func (f *fastExec) execute(b *strings.Builder, data any) error {
	return f.walk(b, f.root, reflect.ValueOf(data))
}

func (f *fastExec) walk(b *strings.Builder, n parse.Node, dot reflect.Value) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := f.walk(b, c, dot); err != nil {
				return err
			}
		}
		return nil
	case *parse.TextNode:
		b.Write(n.Text)
		return nil
	case *parse.ActionNode:
		v, err := eval(n.Pipe, dot)
		if err != nil {
			return err
		}
		return printValue(b, v)
	case *parse.IfNode:
		v, err := eval(n.Pipe, dot)
		if err != nil {
			return err
		}
		if truth(v) {
			return f.walk(b, n.List, dot)
		}
		return f.walk(b, n.ElseList, dot)
	case *parse.RangeNode:
		v, err := eval(n.Pipe, dot)
		if err != nil {
			return err
		}
		v = indirect(v)
		if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
			return fmt.Errorf("%w: range over %s", errUnsupported, v.Kind())
		}
		if v.Len() == 0 {
			return f.walk(b, n.ElseList, dot)
		}
		for i := 0; i < v.Len(); i++ {
			if err := f.walk(b, n.List, v.Index(i)); err != nil {
				return err
			}
		}
		return nil
	}
	return errUnsupported
}

func eval(p *parse.PipeNode, dot reflect.Value) (reflect.Value, error) {
	args := p.Cmds[0].Args
	if len(args) == 2 { // len .Field
		v, err := field(dot, args[1].(*parse.FieldNode).Ident)
		if err != nil {
			return v, err
		}
		v = indirect(v)
		switch v.Kind() {
		case reflect.Slice, reflect.Array, reflect.Map, reflect.String:
			return reflect.ValueOf(v.Len()), nil
		}
		return reflect.Value{}, fmt.Errorf("%w: len of %s", errUnsupported, v.Kind())
	}
	switch a := args[0].(type) {
	case *parse.DotNode:
		return dot, nil
	case *parse.FieldNode:
		return field(dot, a.Ident)
	}
	return reflect.Value{}, errUnsupported
}

// fieldIndex caches struct field indexes by type and name.
var fieldIndex sync.Map // map[reflect.Type]map[string][]int

func field(v reflect.Value, chain []string) (reflect.Value, error) {
	for _, name := range chain {
		v = indirect(v)
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, fmt.Errorf("%w: .%s on %s", errUnsupported, name, v.Kind())
		}
		t := v.Type()
		m, ok := fieldIndex.Load(t)
		if !ok {
			idx := make(map[string][]int, t.NumField())
			for i := 0; i < t.NumField(); i++ {
				if sf := t.Field(i); sf.IsExported() {
					idx[sf.Name] = sf.Index
				}
			}
			m, _ = fieldIndex.LoadOrStore(t, idx)
		}
		ix, ok := m.(map[string][]int)[name]
		if !ok {
			return reflect.Value{}, fmt.Errorf("prompts: no field %s in %s", name, t)
		}
		v = v.FieldByIndex(ix)
	}
	return v, nil
}

func indirect(v reflect.Value) reflect.Value {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return v
		}
		v = v.Elem()
	}
	return v
}

func truth(v reflect.Value) bool {
	v = indirect(v)
	if !v.IsValid() {
		return false
	}
	switch v.Kind() {
	case reflect.Bool:
		return v.Bool()
	case reflect.String, reflect.Slice, reflect.Array, reflect.Map:
		return v.Len() > 0
	case reflect.Int, reflect.Int64, reflect.Int32:
		return v.Int() != 0
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil()
	case reflect.Struct:
		return true
	}
	return !v.IsZero()
}

var (
	stringType = reflect.TypeFor[string]()
	intType    = reflect.TypeFor[int]()
)

func printValue(b *strings.Builder, v reflect.Value) error {
	v = indirect(v)
	if !v.IsValid() {
		b.WriteString("<no value>")
		return nil
	}
	switch v.Type() {
	case stringType:
		b.WriteString(v.String())
		return nil
	case intType:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
		return nil
	}
	if v.Type().Implements(reflect.TypeFor[fmt.Stringer]()) || v.Type().Implements(reflect.TypeFor[error]()) {
		return fmt.Errorf("%w: printing a %s", errUnsupported, v.Type())
	}
	switch v.Kind() {
	case reflect.String:
		b.WriteString(v.String())
	case reflect.Int, reflect.Int64, reflect.Int32:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	default:
		return fmt.Errorf("%w: printing a %s", errUnsupported, v.Kind())
	}
	return nil
}
