package policy

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/warden-trading/warden/schemas"
)

func TestQuick(t *testing.T) {
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile("testdata/recommendation.example.json")
	sraw, _ := os.ReadFile("testdata/state.example.json")
	st, err := schemas.ParseState(sraw)
	if err != nil {
		t.Fatal(err)
	}
	res := NewValidator(p, Limits{}).ValidateRaw(raw, st)
	b, _ := json.MarshalIndent(res, "", "  ")
	t.Logf("%s", b)
	for _, d := range p.Describe() {
		t.Log(d)
	}
}
