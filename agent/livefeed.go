package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
)

// OHLCVSource is a public market-data source: the live exchange through
// ccxt, no keys needed.
type OHLCVSource interface {
	OHLCV(ctx context.Context, symbol, timeframe string, since time.Time, limit int) ([]executor.Candle, error)
}

// PaperBook is a paper exchange as a live feed drives it: candles go in,
// and what it already has is read back.
type PaperBook interface {
	CandleFeed
	OHLCV(ctx context.Context, symbol, timeframe string, since time.Time, limit int) ([]executor.Candle, error)
}

// LiveFeed drives a paper exchange with live public candles: paper trading
// on today's market, with the same fills, fees and balances as a replay.
type LiveFeed struct {
	src     OHLCVSource
	book    PaperBook
	symbols []string
	tf      string
	step    time.Duration
	warmup  int
}

// NewLiveFeed prepares a feed of symbols' candles at timeframe tf; a fresh
// paper account is first given warmup candles of history.
func NewLiveFeed(src OHLCVSource, book PaperBook, symbols []string, tf string, warmup int) (*LiveFeed, error) {
	step, err := market.Step(tf)
	if err != nil {
		return nil, err
	}
	if len(symbols) == 0 {
		return nil, errors.New("live feed: no symbols")
	}
	return &LiveFeed{src: src, book: book, symbols: symbols, tf: tf, step: step, warmup: warmup}, nil
}

// Advance feeds every candle closed by now that the paper exchange has not
// seen yet. It never feeds a candle that is still forming.
func (f *LiveFeed) Advance(ctx context.Context, now time.Time) error {
	for _, sym := range f.symbols {
		if err := f.backfill(ctx, sym); err != nil {
			return err
		}
		have, err := f.book.OHLCV(ctx, sym, f.tf, now.Add(-time.Duration(f.warmup+2)*f.step), f.warmup+2)
		if err != nil {
			return fmt.Errorf("live feed %s: paper history: %w", sym, err)
		}
		since := now.Truncate(f.step).Add(-time.Duration(f.warmup) * f.step)
		var last time.Time
		if len(have) > 0 {
			last = have[len(have)-1].Time
			since = last.Add(f.step)
		}
		limit := int(now.Sub(since)/f.step) + 2
		if limit > 1000 {
			limit = 1000
		}
		cs, err := f.src.OHLCV(ctx, sym, f.tf, since, limit)
		if err != nil {
			return fmt.Errorf("live feed %s: %w", sym, err)
		}
		for _, c := range market.Closed(cs, f.step, now) {
			if !last.IsZero() && !c.Time.After(last) {
				continue
			}
			if err := f.book.OnCandle(sym, c); err != nil {
				return fmt.Errorf("live feed %s: %w", sym, err)
			}
			last = c.Time
		}
	}
	return nil
}

// backfill gives a paper account restored without its market history (a
// new process) the warm-up window up to its newest candle again, as
// history: its snapshots then see the whole window. With a StoredCandles
// source these candles come from the store, not the exchange.
func (f *LiveFeed) backfill(ctx context.Context, sym string) error {
	hf, ok := f.book.(historyFeed)
	if !ok {
		return nil
	}
	until := hf.HistoryUntil(sym)
	if until.IsZero() {
		return nil
	}
	since := until.Add(-time.Duration(f.warmup-1) * f.step)
	cs, err := f.src.OHLCV(ctx, sym, f.tf, since, f.warmup)
	if err != nil {
		return fmt.Errorf("live feed %s: history: %w", sym, err)
	}
	for _, c := range cs {
		if c.Time.After(until) {
			break
		}
		if err := f.book.OnCandle(sym, c); err != nil {
			return fmt.Errorf("live feed %s: history: %w", sym, err)
		}
	}
	return nil
}
