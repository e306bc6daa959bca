package prompts

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// TestPromptShowsTheLevel: the model is told when risk is reduced and by
// how much, and safe mode says more than reduce.
func TestPromptShowsTheLevel(t *testing.T) {
	tests := []struct {
		name  string
		scale string
		safe  bool
		want  string
		not   string
	}{
		{"active", "1", false, "", "REDUCED RISK"},
		{"reduce", "0.5", false, "REDUCED RISK: the caps on position and exposure are multiplied by 0.5", "SAFE MODE"},
		{"safe mode", "0.5", true, "SAFE MODE", "REDUCED RISK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testData(t)
			d.RiskScale, d.SafeMode = decimal.RequireFromString(tt.scale), tt.safe
			r, err := Render(d)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(r.User, "\n")
			if tt.want != "" && !strings.Contains(first, tt.want) {
				t.Errorf("first line %q lacks %q", first, tt.want)
			}
			if strings.Contains(first, tt.not) {
				t.Errorf("first line %q has %q", first, tt.not)
			}
		})
	}
}
