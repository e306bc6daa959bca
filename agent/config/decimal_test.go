package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadDecimalNamesTheKey: a decimal setting whose value is not a
// number is refused naming the file, the line and the key, in plain words
// (the decimal library's own error named none of them), wherever the
// setting sits: a nested block, the breakers (read by their own
// UnmarshalYAML), a consensus member's price.
func TestBadDecimalNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, want string }{
		{"limits: {max_order_notional: abc}\n", `config FILE: line 1: limits.max_order_notional: "abc" is not a decimal number`},
		{"paper: {start_cash: NaN}\n", `line 1: paper.start_cash: "NaN" is not a decimal number`},
		{"paper:\n  taker_fee_bps: 10\n  maker_fee_bps: '1,5'\n", `line 3: paper.maker_fee_bps: "1,5" is not a decimal number`},
		{"breakers:\n  reduce_scale: half\n", `line 2: breakers.reduce_scale: "half" is not a decimal number`},
		{"advisor:\n  consensus:\n    members:\n      - kind: openai\n        openai: {price: {input_per_mtok: 1, output_per_mtok: x}}\n",
			`line 5: advisor.consensus.members[0].openai.price.output_per_mtok: "x" is not a decimal number`},
		// Every bad value at once.
		{"limits: {max_order_notional: abc}\npaper: {start_cash: .nan}\n", `line 1: limits.max_order_notional: "abc" is not a decimal number
line 2: paper.start_cash: ".nan" is not a decimal number`},
	} {
		file := filepath.Join(dir, "w.yaml")
		if err := os.WriteFile(file, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		want := strings.ReplaceAll(tc.want, "FILE", file)
		_, err := Load(file)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "can't convert") {
			t.Errorf("Load(%q) = %v; want an error containing %q", tc.yaml, err, want)
		}
	}
	// Good decimals, a null among them, still load.
	file := filepath.Join(dir, "ok.yaml")
	os.WriteFile(file, []byte("limits: {max_order_notional: 1e3}\npaper: {start_cash: '2500.50'}\nbreakers: {reduce_scale: 0.25}\n"), 0o600)
	c, err := Load(file)
	if err != nil || c.Limits.MaxOrderNotional.String() != "1000" || c.Paper.StartCash.String() != "2500.5" {
		t.Fatalf("Load(good decimals) = %v, %v, %v", c.Limits.MaxOrderNotional, c.Paper.StartCash, err)
	}
}
