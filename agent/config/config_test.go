package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v; want nil", err)
	}
}

func TestParseOverridesDefaults(t *testing.T) {
	c, err := Parse("t.yaml", []byte(`
mode: live
symbols: [BTC/USDT]
limits: {max_order_notional: 250.5}
paper: {start_cash: 5000, participation: 0.25}
advisor:
  kind: openai
  openai: {model: gpt-4o-mini, temperature: 0, timeout: 30s}
`))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if c.Mode != "live" || len(c.Symbols) != 1 || c.Limits.MaxOrderNotional.String() != "250.5" {
		t.Errorf("Parse = mode %q symbols %v max %s", c.Mode, c.Symbols, c.Limits.MaxOrderNotional)
	}
	if c.Paper.StartCash.String() != "5000" || c.Paper.Participation.String() != "0.25" {
		t.Errorf("paper = %s %s", c.Paper.StartCash, c.Paper.Participation)
	}
	if c.Advisor.OpenAI.Temperature == nil || *c.Advisor.OpenAI.Temperature != 0 {
		t.Errorf("temperature = %v; want explicit 0", c.Advisor.OpenAI.Temperature)
	}
	if c.Advisor.OpenAI.Timeout != 30*time.Second || c.Advisor.OpenAI.RepairAttempts != 1 {
		t.Errorf("openai = %+v", c.Advisor.OpenAI)
	}
	if c.DB != "./warden.db" {
		t.Errorf("db = %q; want the default kept", c.DB)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "mode: paper\nmood: happy\n", "field mood not found"},
		{"nested unknown key", "advisor: {kind: baseline, temprature: 0}\n", "field temprature not found"},
		{"bad mode", "mode: yolo\n", `mode: "yolo"`},
		{"lowercase symbol", "symbols: [btc/usdt]\n", `"btc/usdt" is not BASE/QUOTE`},
		{"duplicate symbol", "symbols: [BTC/USDT, BTC/USDT]\n", "listed twice"},
		{"bad schedule", "schedule: every hour\n", "schedule:"},
		{"zero max notional", "limits: {max_order_notional: 0}\n", "max_order_notional"},
		{"negative fee", "paper: {maker_fee_bps: -1}\n", "paper.maker_fee_bps"},
		{"openai without model", "advisor: {kind: openai}\n", "advisor.openai.model"},
		{"secret in env name", "advisor: {openai: {api_key_env: sk-live-abc123}}\n", "looks like a secret"},
		{"not yaml", "mode: [\n", "config t.yaml"},
		{"two documents", "mode: paper\n---\nmode: live\n", "more than one YAML document"},
		{"bad timeframe", "timeframe: 7h\n", "timeframe"},
		{"negative reconcile period", "executor: {reconcile_every: -1m}\n", "executor.reconcile_every"},
		{"bad money", "limits: {max_order_notional: lots}\n", "config t.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse(%q) error = %v; want containing %q", tt.yaml, err, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("Load(missing) = %v; want a not-exist error", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}
