package main

import (
	"os"
	"strings"
	"testing"
)

// TestStatusWithAPolicyFileNotInForce: status says when the policy file on
// disk is not the one the last run decided under (an edit the service
// refused or has not reloaded), labelling the limits as the file's; with a
// file that does not load it still shows everything else, with the hash in
// force and no limits, instead of failing (exit 2) when it is needed most.
func TestStatusWithAPolicyFileNotInForce(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, _, errOut := runMain(t, "policy", "init", "--out", "policy.yaml"); code != 0 {
		t.Fatalf("policy init = %d %s", code, errOut)
	}
	os.WriteFile("warden.yaml", []byte("policy: policy.yaml\n"), 0o600)
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ := runMain(t, "status", "--config", "warden.yaml")
	if code != 0 || strings.Contains(out, "NOTE") || !strings.Contains(out, "limits (policy in force)") {
		t.Fatalf("status with the policy in force = %d\n%s", code, out)
	}
	src, _ := os.ReadFile("policy.yaml")
	edited := strings.Replace(string(src), "max_position_pct: 2 ", "max_position_pct: 60 ", 1)
	if edited == string(src) {
		t.Fatal("could not edit max_position_pct")
	}
	os.WriteFile("policy.yaml", []byte(edited), 0o600)
	code, out, _ = runMain(t, "status", "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "is not the one the last run decided under") || !strings.Contains(out, "NOT the one in force") {
		t.Errorf("status after an edit not in force = %d\n%s", code, out)
	}
	os.WriteFile("policy.yaml", []byte("params: [\n"), 0o600)
	code, out, errOut := runMain(t, "status", "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "the policy file does not load") || !strings.Contains(out, "no limits shown") || !strings.Contains(out, "kill switch") || strings.Contains(out, "limits (") {
		t.Errorf("status with a policy file that does not load = %d\n%s\n%s", code, out, errOut)
	}
}
