package backtest

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// TestRoundTripsLateDustSale: a trip closes with a remainder worth less
// than the dust at its last fill's price; when the price has risen and a
// stop sells that remainder later, the sale belongs to the closed trip
// (its proceeds, fills and close time), not an error. A sell beyond the
// remainder is still refused.
func TestRoundTripsLateDustSale(t *testing.T) {
	fills := append(handFills()[:2:2],
		fill("3", "ETH/USDT", schemas.SideBuy, "0.0101", "1000", "0", "USDT", 2),
		fill("4", "ETH/USDT", schemas.SideSell, "0.0100", "1000", "0", "USDT", 3),  // 0.0001 left = 0.1 < 5
		fill("5", "ETH/USDT", schemas.SideSell, "0.0001", "60000", "0", "USDT", 9), // worth 6 later
	)
	trips, err := RoundTrips(fills, decimal.NewFromInt(5))
	if err != nil {
		t.Fatalf("RoundTrips = %v", err)
	}
	var eth *RoundTrip
	for i := range trips {
		if trips[i].Symbol == "ETH/USDT" {
			eth = &trips[i]
		}
	}
	if eth == nil || eth.Open || eth.Fills != 3 || !eth.Proceeds.Equal(d("16")) || !eth.PnL.Equal(d("5.9")) || !eth.Closed.Equal(t0.Add(9*3600e9)) {
		t.Fatalf("ETH trip = %+v; want 3 fills, proceeds 10+6, PnL 5.9, closed at the late sale", eth)
	}
	bad := append(fills[:len(fills):len(fills)], fill("6", "ETH/USDT", schemas.SideSell, "0.0001", "60000", "0", "USDT", 10))
	if _, err := RoundTrips(bad, decimal.NewFromInt(5)); err == nil || !strings.Contains(err.Error(), "with only 0 held") {
		t.Errorf("a second late sale beyond the remainder = %v; want refused", err)
	}
}
