package metrics

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoGlobalRegistry fails if production code registers with the default
// registry, serves promhttp.Handler (the default registry) or has init().
func TestNoGlobalRegistry(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	banned := map[string]bool{"MustRegister": true, "Register": true, "DefaultRegisterer": true,
		"DefaultGatherer": true, "Handler": true}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Name.Name == "init" && n.Recv == nil {
					t.Errorf("%s: init() in package metrics", fset.Position(n.Pos()))
				}
			case *ast.SelectorExpr:
				// prometheus.X or promhttp.X at package level means the
				// global registry; m.reg.MustRegister is fine.
				if id, ok := n.X.(*ast.Ident); ok && (id.Name == "prometheus" || id.Name == "promhttp") && banned[n.Sel.Name] {
					t.Errorf("%s: %s.%s uses the global registry", fset.Position(n.Pos()), id.Name, n.Sel.Name)
				}
			}
			return true
		})
	}
}
