package backtest

import (
	"context"
	"sort"
	"time"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
)

// marketView is the paper exchange as the agent reads it in a backtest.
// Everything is the paper exchange's own but one read: OHLCV at the
// backtest's timeframe. The candles the paper exchange has been fed are
// exactly the tape's candles closed by the simulated clock, so they are cut
// from the tape (one copy of the answer) rather than copied out of the
// paper exchange's history on every call, which was a tenth of a
// backtest's CPU and half its allocations. A test checks both answers are
// equal; other timeframes go to the exchange.
type marketView struct {
	*paper.Exchange
	tp  *tape
	tf  string
	now func() time.Time
	idx map[string]int // symbol → tape index
}

func newMarketView(px *paper.Exchange, tp *tape, tf string, now func() time.Time) *marketView {
	idx := make(map[string]int, len(tp.symbols))
	for i, s := range tp.symbols {
		idx[s] = i
	}
	return &marketView{Exchange: px, tp: tp, tf: tf, now: now, idx: idx}
}

// OHLCV answers like paper.Exchange.OHLCV: candles fed so far, at or after
// since and the first limit of them; or, when since is zero, the last
// limit.
func (v *marketView) OHLCV(ctx context.Context, symbol, timeframe string, since time.Time, limit int) ([]executor.Candle, error) {
	si, ok := v.idx[symbol]
	if !ok || timeframe != v.tf {
		return v.Exchange.OHLCV(ctx, symbol, timeframe, since, limit)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	all := v.tp.series[si]
	now := v.now()
	fed := all[:sort.Search(len(all), func(i int) bool { return all[i].Time.Add(v.tp.step).After(now) })]
	if !since.IsZero() {
		fed = fed[sort.Search(len(fed), func(i int) bool { return !fed[i].Time.Before(since) }):]
		if limit > 0 && len(fed) > limit {
			fed = fed[:limit]
		}
	} else if limit > 0 && len(fed) > limit {
		fed = fed[len(fed)-limit:]
	}
	if len(fed) == 0 {
		return nil, nil
	}
	// The history is immutable for the whole run and the agent only reads
	// candles: hand out the window itself, capacity clipped so that an
	// append copies, instead of copying ~550 candles at every decision.
	return fed[:len(fed):len(fed)], nil
}
