package backtest

import (
	"context"
	"sort"
	"time"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
)

// marketView is the paper exchange as the agent reads it in a backtest.
// Orders, balances and trades are the paper exchange's own; two reads are
// served differently, without changing what they return:
//
//   - Ticker: the paper exchange stamps its ticker with the open time of
//     the last candle fed, but the ticker's prices are that candle's close,
//     known at its close time. At a decision time (a candle close) the
//     data are fresh, not one candle old, so the ticker is stamped at the
//     close. Once the paper exchange stamps closes itself this changes
//     nothing.
//   - OHLCV at the backtest's timeframe: the candles the paper exchange has
//     been fed are exactly the tape's candles closed by the simulated clock,
//     so they are cut from the tape (one copy of the answer) rather than
//     copied out of the paper exchange's history on every call. A test
//     checks both answers are equal; other timeframes go to the exchange.
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

func (v *marketView) Ticker(ctx context.Context, symbol string) (executor.Ticker, error) {
	tk, err := v.Exchange.Ticker(ctx, symbol)
	if err != nil {
		return tk, err
	}
	if closeAt := tk.Time.Add(v.tp.step); !closeAt.After(v.now()) {
		tk.Time = closeAt
	}
	return tk, nil
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
	return append([]executor.Candle(nil), fed...), nil
}
