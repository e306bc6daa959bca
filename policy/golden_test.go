package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGoldenContractVerdicts pins the full verdict for the contract
// examples (testdata/*.example.json are copies of shared/contracts).
// Regenerate with: go test ./policy -run Golden -update
func TestGoldenContractVerdicts(t *testing.T) {
	raw, st := loadExamples(t)
	res := NewValidator(mustDefault(t), Limits{}).ValidateRaw(raw, st)
	got, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	const golden = "testdata/contract.verdicts.golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("ValidateRaw(contract examples) =\n%s\nwant (%s):\n%s", got, golden, want)
	}
	if !res.AllApproved() || res.Verdicts[0].Decision != "approved" || res.Verdicts[1].Decision != "no_action" {
		t.Errorf("contract examples: want BTC approved and ETH no_action")
	}
}
