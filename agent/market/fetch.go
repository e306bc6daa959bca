package market

import (
	"context"
	"fmt"
	"time"

	"github.com/warden-trading/warden/executor"
)

// Source is the market data Fetch needs: the two read methods of
// executor.Exchange (live ccxt or paper over a replay).
type Source interface {
	Ticker(ctx context.Context, symbol string) (executor.Ticker, error)
	OHLCV(ctx context.Context, symbol, timeframe string, since time.Time, limit int) ([]executor.Candle, error)
}

// Fetch reads enough recent candles and the ticker of symbol from src and
// builds the snapshot at now (see Build: only candles closed by now count,
// and the data must pass the checks). A fetch error is returned as is; a
// data problem as a *SnapshotError.
func Fetch(ctx context.Context, src Source, symbol, tf string, now time.Time, opts BuildOptions) (Snapshot, error) {
	step, err := Step(tf)
	if err != nil {
		return Snapshot{}, err
	}
	lookback := opts.Lookback
	if lookback <= 0 {
		lookback = DefaultLookback
	}
	// One extra candle for the one still open at now, one for slack.
	since := now.Add(-time.Duration(lookback+1) * step).Truncate(step)
	cs, err := src.OHLCV(ctx, symbol, tf, since, lookback+2)
	if err != nil {
		return Snapshot{}, fmt.Errorf("market: candles %s %s: %w", symbol, tf, err)
	}
	tk, err := src.Ticker(ctx, symbol)
	if err != nil {
		return Snapshot{}, fmt.Errorf("market: ticker %s: %w", symbol, err)
	}
	return Build(symbol, tf, cs, tk, now, opts)
}
