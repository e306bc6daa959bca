package prompts

import (
	"strings"
	"testing"
	"text/template"

	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/schemas"
)

// TestFastExecMatchesTextTemplate: the fast executor gives exactly the
// bytes text/template gives, over varied data.
func TestFastExecMatchesTextTemplate(t *testing.T) {
	tp, err := loadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	if tp.systemFast == nil || tp.userFast == nil {
		t.Fatalf("the embedded templates left the fast subset (system %v, user %v)", tp.systemFast != nil, tp.userFast != nil)
	}
	base := testData(t)
	variants := map[string]func(*Data){
		"as is":        func(*Data) {},
		"safe mode":    func(d *Data) { d.SafeMode = true },
		"no positions": func(d *Data) { d.Account.Positions = nil },
		"no exchange":  func(d *Data) { d.Markets = nil },
		"one symbol": func(d *Data) {
			d.Snapshots = map[string]market.Snapshot{"ETH/USDT": d.Snapshots["ETH/USDT"]}
		},
		"position without snapshot": func(d *Data) {
			d.Account.Positions = map[string]schemas.Position{"XRP/USDT": {Qty: dec("10"), AvgPrice: dec("0.5")}}
		},
		"zero equity": func(d *Data) { d.Account.Equity = dec("0") },
		"2 rows":      func(d *Data) { d.CandleRows = 2 },
		"no mode":     func(d *Data) { d.Mode = "" },
	}
	for name, mutate := range variants {
		t.Run(name, func(t *testing.T) {
			d := base
			mutate(&d)
			uv := newUserView(tp, d)
			for _, c := range []struct {
				tm   *template.Template
				fast *fastExec
				data any
			}{
				{tp.user, tp.userFast, uv},
				{tp.system, tp.systemFast, systemView{Policy: d.Policy, Schema: tp.schema}},
			} {
				var slow, fast strings.Builder
				if err := c.tm.Execute(&slow, c.data); err != nil {
					t.Fatal(err)
				}
				if err := c.fast.execute(&fast, c.data); err != nil {
					t.Fatal(err)
				}
				if slow.String() != fast.String() {
					t.Errorf("%s: fast executor differs from text/template:\n--- text/template\n%s\n--- fast\n%s", c.tm.Name(), slow.String(), fast.String())
				}
			}
		})
	}
}

func TestFastExecSubset(t *testing.T) {
	for src, want := range map[string]bool{
		"plain {{.A}} {{len .B}} {{if .C}}x{{else}}y{{end}} {{range .B}}{{.}}{{else}}none{{end}}": true,
		`{{printf "%d" .A}}`:            false,
		`{{$x := .A}}{{$x}}`:            false,
		`{{with .A}}{{.}}{{end}}`:       false,
		`{{define "u"}}x{{end}}{{.A}}`:  false,
		`{{.A | html}}`:                 false,
		`{{if eq .A 1}}one{{end}}`:      false,
		`{{range $i, $v := .B}}{{end}}`: false,
		`{{template "x" .}}`:            false,
		`{{.A.B.C}}`:                    true,
	} {
		tm := template.Must(template.New("t").Parse(src))
		if got := newFastExec(tm) != nil; got != want {
			t.Errorf("newFastExec(%q) supported = %v; want %v", src, got, want)
		}
	}
	type inner struct{ C string }
	type v struct {
		A int
		B []string
		C bool
		D inner
	}
	tm := template.Must(template.New("t").Parse("{{.A}} {{len .B}} {{if .C}}x{{else}}y{{end}} {{range .B}}<{{.}}>{{else}}none{{end}} {{.D.C}}"))
	for _, data := range []v{{A: 3, B: []string{"p", "q"}, C: true, D: inner{"z"}}, {}} {
		var slow, fast strings.Builder
		tm.Execute(&slow, data)
		if err := newFastExec(tm).execute(&fast, data); err != nil {
			t.Fatal(err)
		}
		if slow.String() != fast.String() {
			t.Errorf("fast %q; text/template %q", fast.String(), slow.String())
		}
	}
}

type stringerValue struct{}

func (stringerValue) String() string { return "via Stringer" }

// A value outside the fast subset at run time falls back to text/template
// with the same result.
func TestFastExecFallback(t *testing.T) {
	tm := template.Must(template.New("t").Parse("a {{.S}} b"))
	fast := newFastExec(tm)
	if fast == nil {
		t.Fatal("simple template not in the fast subset")
	}
	tp := &templates{}
	var b strings.Builder
	b.WriteString("prefix|")
	if err := tp.execute(&b, tm, fast, struct{ S stringerValue }{}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "prefix|a via Stringer b" {
		t.Errorf("fallback render = %q", got)
	}
}
