package backtest

import (
	"context"
	"time"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
)

// closedTicker is the paper exchange as the agent reads it in a backtest,
// with one correction: the paper exchange stamps its ticker with the open
// time of the last candle fed, but the ticker's prices are that candle's
// close, known at its close time. At a decision time (a candle close) the
// data are fresh, not one candle old, so the ticker is stamped at the
// close. Once the paper exchange stamps closes itself this changes
// nothing.
type closedTicker struct {
	*paper.Exchange
	step time.Duration
	now  func() time.Time
}

func (c closedTicker) Ticker(ctx context.Context, symbol string) (executor.Ticker, error) {
	tk, err := c.Exchange.Ticker(ctx, symbol)
	if err != nil {
		return tk, err
	}
	if closeAt := tk.Time.Add(c.step); !closeAt.After(c.now()) {
		tk.Time = closeAt
	}
	return tk, nil
}
