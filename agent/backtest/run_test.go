package backtest

import (
	"context"
	"testing"
	"time"
)

func TestRunSmoke(t *testing.T) {
	from := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	res, err := Run(context.Background(), Config{From: from, To: from.AddDate(0, 1, 0), Symbols: []string{"BTC/USDT"}, Timeframe: "1h"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("decisions %+v", res.Summary.Decisions)
	t.Logf("advisor %+v", res.Summary.Advisor)
	t.Logf("bh %+v", res.Summary.BuyHold)
}
