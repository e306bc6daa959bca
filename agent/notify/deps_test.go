package notify

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDependencyFence keeps notifiers send-only: agent/notify's production
// code imports nothing that can trade (executor, the ccxt adapter), no
// database driver and no test server.
func TestDependencyFence(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/warden-trading/warden/executor",
		"github.com/warden-trading/warden/agent/audit",
		"github.com/warden-trading/warden/policy",
		"github.com/ccxt/ccxt",
		"github.com/mattn/go-sqlite3",
		"github.com/sashabaranov/go-openai",
		"net/http/httptest",
		"github.com/slack-go/slack/socketmode",
		"github.com/slack-go/slack/slackevents",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("agent/notify depends on %s", dep)
			}
		}
	}
}

// TestNoInboundHandling fails if production code starts a bot's update
// loop, registers a chat command handler or serves webhooks: notifiers only
// send, so no chat message can reach anything that trades.
func TestNoInboundHandling(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	banned := map[string]bool{
		"Start": true, "StartWebhook": true, "RegisterHandler": true, "RegisterHandlerMatchFunc": true,
		"RegisterHandlerRegexp": true, "WebhookHandler": true, "GetUpdates": true, "SetWebhook": true,
		"WithDefaultHandler": true, "WithMessageTextHandler": true, "WithCallbackQueryDataHandler": true,
		"ListenAndServe": true, "HandleFunc": true, "Handle": true,
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && banned[sel.Sel.Name] {
				t.Errorf("%s: uses %s: notify must not handle inbound messages", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no production files checked")
	}
}
