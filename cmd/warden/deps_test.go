package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyFences keeps each outside dependency in one package and the
// layering of DESIGN.md, for every package of the module (like tailscale's
// tstest/deptest): only executor/ccxtx imports ccxt, only agent/audit
// imports go-sqlite3, only agent/advisor/openai imports go-openai, no
// production code imports net/http/httptest, and executor never imports
// the agent (but for its leaf agent/redact) or the prompts.
func TestDependencyFences(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goTool, "list", "-json=ImportPath,Imports", "github.com/warden-trading/warden/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/warden-trading/warden/"
	only := map[string]string{ // imported package prefix -> the one package allowed to import it
		"github.com/ccxt/" + "ccxt/go":      mod + "executor/ccxtx", // split: text searches for ccxt imports find only ccxtx
		"github.com/mattn/go-sqlite3":       mod + "agent/audit",
		"github.com/sashabaranov/go-openai": mod + "agent/advisor/openai",
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		for _, imp := range p.Imports {
			for prefix, owner := range only {
				if strings.HasPrefix(imp, prefix) && p.ImportPath != owner {
					t.Errorf("%s imports %s; only %s may", p.ImportPath, imp, owner)
				}
			}
			if imp == "net/http/httptest" {
				t.Errorf("production code of %s imports net/http/httptest", p.ImportPath)
			}
			// agent/redact is the one exception: the one redactor, a leaf of
			// the standard library (its own test), which the exchange adapter
			// must share so that its error texts are redacted like the rest.
			if strings.HasPrefix(p.ImportPath, mod+"executor") && imp != mod+"agent/redact" &&
				(strings.HasPrefix(imp, mod+"agent") || strings.HasPrefix(imp, mod+"prompts")) {
				t.Errorf("%s imports %s: the executor must not know the agent or the prompts", p.ImportPath, imp)
			}
			// schemas/jsonw, the JSON appenders of the contract types (and of
			// the audit records), is part of the leaf.
			if strings.HasPrefix(p.ImportPath, mod+"schemas") && strings.HasPrefix(imp, mod) && !strings.HasPrefix(imp, mod+"schemas/") {
				t.Errorf("%s imports %s: schemas is a leaf", p.ImportPath, imp)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("go list saw %d packages; the fence checks nothing", seen)
	}
}
