package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
)

// historySource serves bundled candles as if they were live, and records
// what it was asked.
type historySource struct {
	cs    map[string][]executor.Candle
	calls int
}

func (h *historySource) OHLCV(_ context.Context, symbol, _ string, since time.Time, limit int) ([]executor.Candle, error) {
	h.calls++
	var out []executor.Candle
	for _, c := range h.cs[symbol] {
		if !c.Time.Before(since) && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func TestLiveFeedFeedsOnlyClosedCandlesOnce(t *testing.T) {
	btc, err := market.Bundled("BTC/USDT", "1h")
	if err != nil {
		t.Fatal(err)
	}
	src := &historySource{cs: map[string][]executor.Candle{"BTC/USDT": btc}}
	px, _ := paper.New(paper.DefaultConfig())
	f, err := agent.NewLiveFeed(src, px, []string{"BTC/USDT"}, "1h", 300)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Half past the hour: the candle that opened on the hour is forming.
	now := time.Date(2021, 9, 1, 12, 30, 0, 0, time.UTC)
	if err := f.Advance(ctx, now); err != nil {
		t.Fatal(err)
	}
	got, _ := px.OHLCV(ctx, "BTC/USDT", "1h", time.Time{}, 1000)
	if len(got) != 300 {
		t.Fatalf("fresh account fed %d candles; want the 300 of warm-up", len(got))
	}
	if last := got[len(got)-1].Time; !last.Equal(time.Date(2021, 9, 1, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("last candle fed opened at %s; want 11:00 (12:00 is still forming at 12:30)", last)
	}
	// An hour later exactly one more candle has closed.
	if err := f.Advance(ctx, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := f.Advance(ctx, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ = px.OHLCV(ctx, "BTC/USDT", "1h", time.Time{}, 1000)
	if len(got) != 301 || !got[300].Time.Equal(time.Date(2021, 9, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("after an hour: %d candles, last %s; want 301, last 12:00", len(got), got[len(got)-1].Time)
	}
}
