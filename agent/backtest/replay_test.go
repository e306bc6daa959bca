package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor/replay"
)

// TestReplayReproducesABacktest records every raw response of a backtest
// (JSONL, by run id), replays the same backtest from the recording and
// gets the same verdicts, orders and equity.
func TestReplayReproducesABacktest(t *testing.T) {
	var rec bytes.Buffer
	var first []string
	cfg := Config{From: april, To: april.AddDate(0, 0, 6), Symbols: []string{"BTC/USDT", "ETH/USDT"}}
	cfg.OnCycle = func(r agent.CycleResult) {
		if len(r.Raw) > 0 {
			if err := replay.WriteJSONL(&rec, r.RunID, r.Raw); err != nil {
				t.Fatal(err)
			}
		}
		v, _ := json.Marshal(r.Verdicts)
		first = append(first, r.RunID+" "+string(v))
	}
	orig, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	src, err := replay.ReadJSONL(&rec)
	if err != nil {
		t.Fatal(err)
	}
	var second []string
	cfg.Advisor, cfg.Model = replay.New(src, ""), "replay"
	cfg.OnCycle = func(r agent.CycleResult) {
		v, _ := json.Marshal(r.Verdicts)
		second = append(second, r.RunID+" "+string(v))
	}
	again, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != len(second) || len(first) < 100 {
		t.Fatalf("cycles: %d recorded, %d replayed", len(first), len(second))
	}
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("cycle %d differs on replay:\n%s\n%s", i, first[i], second[i])
		}
	}
	if orig.Summary.Advisor.EndEquity != again.Summary.Advisor.EndEquity || orig.Summary.Advisor.Fills == 0 {
		t.Errorf("end equity %v replayed as %v (fills %d)", orig.Summary.Advisor.EndEquity, again.Summary.Advisor.EndEquity, orig.Summary.Advisor.Fills)
	}
	if again.Summary.Run.Advisor != "replay" || again.Summary.Evidence.Evidence {
		t.Errorf("replayed run: advisor %q, evidence %+v; want replay, flagged as not evidence (the model behind it is unknown)", again.Summary.Run.Advisor, again.Summary.Evidence)
	}
}
