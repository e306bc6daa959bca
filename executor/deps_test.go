package executor_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportFence: production code of the executor, the paper exchange and
// the contract suite imports neither agent, prompts, policy, ccxt, SQLite
// nor httptest.
func TestImportFence(t *testing.T) {
	banned := []string{
		"github.com/warden-trading/warden/agent", "github.com/warden-trading/warden/prompts",
		"github.com/warden-trading/warden/policy", "github.com/ccxt/", "github.com/mattn/go-sqlite3",
		"net/http/httptest", "github.com/sashabaranov/go-openai",
	}
	for _, dir := range []string{".", "paper", "exchangetest"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				for _, b := range banned {
					if strings.HasPrefix(p, b) {
						t.Errorf("%s imports %s; the executor must not", f, p)
					}
				}
			}
		}
	}
}

// TestCcxtxFence: the ccxt adapter reaches into Warden only for the
// executor's types, the shared schemas and the one redactor (a leaf of
// the standard library, see agent/redact's own test); never the agent,
// the policy or the prompts.
func TestCcxtxFence(t *testing.T) {
	allowed := map[string]bool{
		"github.com/warden-trading/warden/executor":     true,
		"github.com/warden-trading/warden/schemas":      true,
		"github.com/warden-trading/warden/agent/redact": true,
	}
	files, err := filepath.Glob(filepath.Join("ccxtx", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/warden-trading/warden") && !allowed[p] {
				t.Errorf("%s imports %s; the ccxt adapter may use only %v", f, p, allowed)
			}
		}
	}
}
