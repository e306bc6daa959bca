package redact_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeaf: redact imports nothing of Warden and only the standard
// library, so every package (the exchange adapter included) may use it.
func TestLeaf(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/warden-trading/warden/agent/redact").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		if d != "github.com/warden-trading/warden/agent/redact" && strings.Contains(d, ".") {
			t.Errorf("redact depends on %s; it must be a leaf of the standard library", d)
		}
	}
}
