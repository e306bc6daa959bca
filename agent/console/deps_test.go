package console

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNoExecutor: the console reads through agent/audit and never
// imports the executor (nor an exchange client) itself.
func TestImportsNoExecutor(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goTool, "list", "-f", `{{join .Imports "\n"}}`, "github.com/warden-trading/warden/agent/console").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := strings.Fields(string(out))
	if len(imports) < 5 {
		t.Fatalf("go list found %d imports; the fence checks nothing", len(imports))
	}
	for _, imp := range imports {
		if strings.Contains(imp, "/executor") || strings.Contains(imp, "ccxt") || imp == "net/http/httptest" {
			t.Errorf("agent/console imports %s", imp)
		}
	}
}
