// Package market owns the market data a decision may see: the bundled real
// candles for offline runs and backtests, indicators computed in Go, the
// checks a snapshot must pass before it reaches a prompt (gaps, duplicates,
// order, prices, outliers, staleness), and the point-in-time snapshot itself,
// built only from candles closed by the decision time (no look-ahead).
package market
