package prompts

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoUpwardImports: prompts reads the market types from package
// marketdata and imports nothing of the agent (the one import that pointed
// upward was agent/market).
func TestNoUpwardImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/warden-trading/warden/agent") {
			t.Errorf("prompts depends on %s", dep)
		}
	}
}
