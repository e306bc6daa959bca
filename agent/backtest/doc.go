// Package backtest owns Warden's backtests: a simulated clock that steps
// through historical candles, feeds each closed candle to the paper exchange
// and, at decision times, runs the same agent cycle as live (snapshot →
// advisor → schema → policy → paper fills); the analytics of the resulting
// equity curve, fills and decisions against buy-and-hold and the baseline
// advisor; regime classification; walk-forward calibration of the baseline;
// and the JSON summary and HTML report.
//
// # Conventions of the analytics
//
// Returns are simple per-bar returns of the equity curve, r_i = E_i/E_{i-1} − 1,
// one per candle of the backtest's timeframe. Annualisation assumes a 24/7
// market: PeriodsPerYear = 365 days / bar length (8760 for 1h bars), and a
// year is 365 days for CAGR. The risk-free rate is 0.
//
//   - Volatility = stdev(r) · √PeriodsPerYear, sample stdev (n−1).
//   - Sharpe = mean(r) / stdev(r) · √PeriodsPerYear; 0 when stdev is 0.
//   - Sortino = mean(r) / DD · √PeriodsPerYear with the downside deviation
//     DD = √(Σ min(r_i, 0)² / n) over all n returns (target 0); 0 when no
//     return is negative.
//   - CAGR = (E_end/E_start)^(1/years) − 1 with years = elapsed / 365 days.
//   - Max drawdown is the largest fall from a running peak, 1 − E/peak, with
//     the dates of the peak, the trough and the recovery (none if the curve
//     never regained the peak).
//   - Exposure is the share of elapsed time during which the positions were
//     worth more than the dust threshold (by default 1% of equity).
//   - Turnover is traded notional divided by mean equity.
//   - A round trip runs from flat to flat for one symbol (flat: the
//     remaining quantity is worth less than the dust notional); it is a win
//     when sell proceeds exceed the buy cost, both net of fees.
//
// Regimes (bull, bear, chop) are classified by the trend-to-noise ratio of a
// window: the sum of its bar log returns divided by stdev(log returns)·√n (the
// t-statistic of the mean bar return). Bull when it is at least +0.5, bear
// when at most −0.5, chop in between. For a month of 1h BTC bars (hourly
// stdev near 0.8%) that is a move of roughly ±10%.
package backtest
