package backtest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
)

// TestMarketViewMatchesPaper: the OHLCV the backtest serves from its tape
// is what the paper exchange, fed the same candles, answers — across a
// real gap in the data and for every kind of since and limit — and the
// ticker the agent reads is stamped at the last close (fresh at a decision
// time, so the policy's data_fresh rule judges real staleness only).
func TestMarketViewMatchesPaper(t *testing.T) {
	cs, err := market.Bundled("BTC/USDT", "1h")
	if err != nil {
		t.Fatal(err)
	}
	gap := -1
	for i := 600; i < len(cs); i++ {
		if cs[i].Time.Sub(cs[i-1].Time) > time.Hour {
			gap = i
			break
		}
	}
	if gap < 0 {
		t.Fatal("no gap in the bundled candles")
	}
	from, to := cs[gap-30].Time, cs[gap+30].Time
	const warmup = 120
	tp, _, err := newTape(map[string][]executor.Candle{"BTC/USDT": cs}, []string{"BTC/USDT"}, time.Hour, from, to, warmup)
	if err != nil {
		t.Fatal(err)
	}
	pc := paper.DefaultConfig()
	pc.Balances = map[string]decimal.Decimal{"USDT": decimal.NewFromInt(1000)}
	pc.MaxCandles = 100000
	px, err := paper.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range tp.warm[0] {
		if err := px.OnCandle("BTC/USDT", c); err != nil {
			t.Fatal(err)
		}
	}
	var now time.Time
	v := newMarketView(px, tp, "1h", func() time.Time { return now })
	ctx := context.Background()
	for i := range tp.opens {
		if tp.has[i][0] {
			if err := px.OnCandle("BTC/USDT", tp.bars[i][0]); err != nil {
				t.Fatal(err)
			}
		}
		now = tp.closeTime(i)
		for _, q := range []struct {
			since time.Time
			limit int
		}{
			{time.Time{}, 0}, {time.Time{}, 50}, {now.Add(-80 * time.Hour), 0}, {now.Add(-80 * time.Hour), 20},
			{now.Add(-80*time.Hour + 30*time.Minute), 500}, {now, 10}, {now.Add(-10000 * time.Hour), 3},
		} {
			want, err := px.OHLCV(ctx, "BTC/USDT", "1h", q.since, q.limit)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.OHLCV(ctx, "BTC/USDT", "1h", q.since, q.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 && len(got) == 0 {
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("at %s OHLCV(since %s, limit %d): view gave %d candles, paper %d", now, q.since, q.limit, len(got), len(want))
			}
		}
		tk, err := v.Ticker(ctx, "BTC/USDT")
		if err != nil {
			t.Fatal(err)
		}
		if tp.has[i][0] && !tk.Time.Equal(now) {
			t.Errorf("ticker at %s stamped %s; want the close %s", now, tk.Time, now)
		}
	}
	// Other timeframes are the exchange's.
	got, err := v.OHLCV(ctx, "BTC/USDT", "4h", time.Time{}, 5)
	if err != nil || len(got) != 5 || !got[4].Time.Equal(got[4].Time.Truncate(4*time.Hour)) {
		t.Errorf("4h OHLCV through the view = %v, %v; want the exchange's five 4h buckets", got, err)
	}
}
