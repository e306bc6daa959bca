package status

import (
	"os/exec"
	"strings"
	"testing"
)

// TestReadsNoLiveExchange: status only reads; of the executor it uses the
// in-memory paper exchange (to rebuild the saved paper account), never the
// live exchange client nor a network package.
func TestReadsNoLiveExchange(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/warden-trading/warden/agent/status").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list found %d dependencies; the fence checks nothing", len(deps))
	}
	for _, dep := range deps {
		if strings.Contains(dep, "ccxt") || strings.HasSuffix(dep, "/executor/exchangetest") || dep == "net/http" {
			t.Errorf("agent/status depends on %s", dep)
		}
	}
}
