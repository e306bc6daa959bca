package agent

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

// TestSummaryEncodesAsEncodingJSON: a run's summary, as the audit store
// writes it into the run_end record, is byte for byte what encoding/json
// wrote from its fields.
func TestSummaryEncodesAsEncodingJSON(t *testing.T) {
	var _ audit.Appender = summaryRecord{}
	r := rand.New(rand.NewPCG(13, 14))
	strs := []string{"", "ok", "BTC/USDT", "<&>", "a\u2028b", "\x00\n\"\\", "\xff bad", "σ 🙂"}
	str := func() string { return strs[r.IntN(len(strs))] }
	for i := range 3000 {
		eq := decimal.New(r.Int64N(1<<40), -int32(r.IntN(9)))
		s := summaryRecord{Equity: &eq, KillSwitch: r.IntN(2) == 0, Level: str(), Orders: r.IntN(5),
			Reason: str(), RiskScale: decimal.New(r.Int64N(200), -2), SafeMode: r.IntN(2) == 0}
		if r.IntN(5) == 0 {
			s.Equity = nil // a cycle that never read the account
		}
		if r.IntN(4) > 0 {
			s.Decisions = map[schemas.Decision]int{}
			for range r.IntN(4) {
				s.Decisions[schemas.Decision(str())] = r.IntN(9)
			}
		}
		if r.IntN(3) > 0 {
			s.OrderErrors = []string{}
			for range r.IntN(3) {
				s.OrderErrors = append(s.OrderErrors, str())
			}
		}
		if r.IntN(3) > 0 {
			s.Trips = []Trip{}
			for range r.IntN(3) {
				s.Trips = append(s.Trips, Trip{Breaker: str(), Symbol: str(), Reason: str(), Level: str()})
			}
		}
		switch r.IntN(3) {
		case 1:
			s.Warnings = []schemas.Violation{}
		case 2:
			s.Warnings = []schemas.Violation{{Rule: str(), Message: str(), Source: str(), Pointer: str()}}
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		got, err := s.AppendJSON(nil)
		if err != nil || !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("summary %d: %v\n got %s\nwant %s", i, err, got, want.Bytes())
		}
	}
}
