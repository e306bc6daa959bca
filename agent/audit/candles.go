package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/warden-trading/warden/executor"
)

// The candle cache (migration 0012): closed candles of public market data
// kept between processes. It is a cache, not an audit record — outside the
// hash chain, never verified, and safe to empty at any time. See
// agent.StoredCandles for how it is read (continuity checked, a full fetch
// on any doubt).

// CandleKey names one series of the candle cache.
type CandleKey struct {
	Exchange, Symbol, Timeframe string
}

func (k CandleKey) valid() error {
	if k.Exchange == "" || k.Symbol == "" || k.Timeframe == "" {
		return fmt.Errorf("audit: candle cache key %+v: exchange, symbol and timeframe are required", k)
	}
	return nil
}

// CachedCandles returns the cached candles of k opening at or after from,
// oldest first, at most limit (limit <= 0: all). Only candles that had
// closed when they were stored (their open time plus step at or before
// the time they were stored) are returned; the rest are skipped as if
// absent, which the caller sees as a gap.
func (s *Store) CachedCandles(ctx context.Context, k CandleKey, step time.Duration, from time.Time, limit int) ([]executor.Candle, error) {
	if err := k.valid(); err != nil {
		return nil, err
	}
	if step <= 0 {
		return nil, errors.New("audit: candle cache: step must be positive")
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.query(ctx, `SELECT open_ms, open, high, low, close, volume FROM candle_cache
		WHERE exchange = ? AND symbol = ? AND timeframe = ? AND open_ms >= ? AND open_ms + ? <= fetched_ms
		ORDER BY open_ms LIMIT ?`, k.Exchange, k.Symbol, k.Timeframe, from.UnixMilli(), step.Milliseconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("audit: cached candles %s %s: %w", k.Symbol, k.Timeframe, err)
	}
	defer rows.Close()
	var out []executor.Candle
	for rows.Next() {
		var ms int64
		var c executor.Candle
		if err := rows.Scan(&ms, &c.Open, &c.High, &c.Low, &c.Close, &c.Volume); err != nil {
			return nil, fmt.Errorf("audit: cached candles %s %s: %w", k.Symbol, k.Timeframe, err)
		}
		c.Time = time.UnixMilli(ms).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: cached candles %s %s: %w", k.Symbol, k.Timeframe, err)
	}
	return out, nil
}

// PutCandles caches closed candles of k, stored at fetched (a candle that
// had not closed by then is refused: the caller filters them), and in the
// same transaction deletes the candles of k opening before keepFrom, so
// the series never holds more than the window the caller keeps. A candle
// already cached is replaced.
func (s *Store) PutCandles(ctx context.Context, k CandleKey, step time.Duration, cs []executor.Candle, fetched, keepFrom time.Time) error {
	if err := k.valid(); err != nil {
		return err
	}
	if s.ro {
		return errReadOnly
	}
	if step <= 0 {
		return errors.New("audit: candle cache: step must be positive")
	}
	for _, c := range cs {
		if c.Time.Add(step).After(fetched) {
			return fmt.Errorf("audit: candle cache %s %s: the candle of %s had not closed at %s", k.Symbol, k.Timeframe, c.Time.UTC().Format(time.RFC3339), fetched.UTC().Format(time.RFC3339))
		}
	}
	err := s.lockWriter()
	defer s.wmu.Unlock()
	if err != nil {
		return err
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit: candle cache %s %s: %w", k.Symbol, k.Timeframe, err)
	}
	defer tx.Rollback()
	for _, c := range cs {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO candle_cache
			(exchange, symbol, timeframe, open_ms, open, high, low, close, volume, fetched_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.Exchange, k.Symbol, k.Timeframe, c.Time.UnixMilli(), c.Open, c.High, c.Low, c.Close, c.Volume, fetched.UnixMilli()); err != nil {
			return fmt.Errorf("audit: candle cache %s %s: %w", k.Symbol, k.Timeframe, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM candle_cache WHERE exchange = ? AND symbol = ? AND timeframe = ? AND open_ms < ?`,
		k.Exchange, k.Symbol, k.Timeframe, keepFrom.UnixMilli()); err != nil {
		return fmt.Errorf("audit: candle cache %s %s: prune: %w", k.Symbol, k.Timeframe, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit: candle cache %s %s: %w", k.Symbol, k.Timeframe, err)
	}
	return nil
}

// CachedCandleCount is how many candles the cache holds in all (for
// tests and the size check).
func (s *Store) CachedCandleCount(ctx context.Context) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM candle_cache`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit: candle cache count: %w", err)
	}
	return n, nil
}
