package policy

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies fences the package: the validator knows nothing about
// exchanges, the agent, the network or the database.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"github.com/warden-trading/warden/agent",
		"github.com/warden-trading/warden/executor",
		"github.com/warden-trading/warden/prompts",
		"github.com/ccxt/", "github.com/mattn/go-sqlite3", "github.com/sashabaranov/go-openai",
		"net/http",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f)) {
				t.Errorf("policy depends on %s", dep)
			}
		}
	}
}
