package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestSummaryCountsBreakers: over 2022-05-22..24 (drift on both symbols
// after the LUNA week) the summary counts the drift trips and the cycles
// at each level, in summary.json and in the report.
func TestSummaryCountsBreakers(t *testing.T) {
	from := time.Date(2022, 5, 22, 12, 0, 0, 0, time.UTC)
	res, err := Run(context.Background(), Config{From: from, To: from.Add(36 * time.Hour), Symbols: []string{"BTC/USDT", "ETH/USDT"}, Timeframe: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	b := res.Summary.Breakers
	if b.Cycles != res.Summary.Decisions.Cycles || b.Cycles == 0 {
		t.Fatalf("breaker cycles %d; decision cycles %d", b.Cycles, res.Summary.Decisions.Cycles)
	}
	if sum := b.Levels["active"] + b.Levels["reduce"] + b.Levels["safe_mode"]; sum != b.Cycles {
		t.Errorf("levels %v sum to %d; want every cycle (%d) at one level", b.Levels, sum, b.Cycles)
	}
	if b.Trips["drift"] == 0 || b.Levels["reduce"] == 0 || b.TripCycles["drift"] > b.Trips["drift"] {
		t.Errorf("breakers %+v; want drift trips and reduce cycles", b)
	}
	if got, want := b.LevelShare["reduce"], float64(b.Levels["reduce"])/float64(b.Cycles); got != want {
		t.Errorf("reduce share %v; want %v", got, want)
	}
	var js bytes.Buffer
	if err := res.Summary.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Breakers BreakerStats `json:"breakers"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Breakers.Trips["drift"] != b.Trips["drift"] {
		t.Fatalf("summary.json breakers = %+v, %v", back.Breakers, err)
	}
	var html bytes.Buffer
	if err := WriteHTML(&html, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), "Circuit breakers") || !strings.Contains(html.String(), "<td>drift</td>") {
		t.Errorf("report lacks the breaker table")
	}
}
