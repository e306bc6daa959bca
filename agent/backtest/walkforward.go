package backtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// WalkForwardConfig shapes the rolling windows.
type WalkForwardConfig struct {
	// TrainMonths and TestMonths are the window lengths; windows step by
	// TestMonths. Defaults 6 and 3.
	TrainMonths, TestMonths int
	// MinTrades is the least number of closed round trips a train run
	// needs for its Sharpe to count (default 3): a parameter set that
	// hardly trades has a Sharpe of noise.
	MinTrades int
	// Workers runs train backtests in parallel (default GOMAXPROCS).
	Workers int
	// TrendThreshold classifies the test windows (default
	// DefaultTrendThreshold).
	TrendThreshold float64
	// OnWindow, when set, is called after each test window (i of n,
	// 1-based), for progress reports.
	OnWindow func(i, n int, w WalkForwardWindow)
	// DustNotional is the remainder below which a round trip counts as
	// closed, as in the runs (the markets' largest minimum notional).
	DustNotional decimal.Decimal
}

func (c WalkForwardConfig) withDefaults() WalkForwardConfig {
	if c.TrainMonths <= 0 {
		c.TrainMonths = 6
	}
	if c.TestMonths <= 0 {
		c.TestMonths = 3
	}
	if c.MinTrades <= 0 {
		c.MinTrades = 3
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	return c
}

// WindowRunner backtests the baseline with params over the bars opening in
// [from, to) with fresh capital, using only candles closed before each
// decision; history before from is warm-up.
type WindowRunner func(ctx context.Context, from, to time.Time, params any) (Result, error)

// WindowSpan is one train/test pair.
type WindowSpan struct {
	TrainFrom, TrainTo, TestFrom, TestTo time.Time
}

// Spans lays out the rolling windows over [from, to): train N months, test
// M months, step M months. A test window that would end after to is cut at
// to if it keeps at least half its length, else dropped.
func Spans(from, to time.Time, trainMonths, testMonths int) []WindowSpan {
	var out []WindowSpan
	for s := from; ; s = s.AddDate(0, testMonths, 0) {
		trainTo := s.AddDate(0, trainMonths, 0)
		testTo := trainTo.AddDate(0, testMonths, 0)
		if !trainTo.Before(to) {
			break
		}
		if testTo.After(to) {
			full := testTo.Sub(trainTo)
			if to.Sub(trainTo) < full/2 {
				break
			}
			testTo = to
		}
		out = append(out, WindowSpan{TrainFrom: s, TrainTo: trainTo, TestFrom: trainTo, TestTo: testTo})
	}
	return out
}

// WalkForward calibrates on each train window by the Sharpe of the
// baseline with each params in grid (at least cfg.MinTrades round trips;
// when none qualifies, grid[0], the defaults, is kept), then tests the
// winner on the next window. The out-of-sample record chains the test
// windows. ppy annualises.
func WalkForward(ctx context.Context, from, to time.Time, cfg WalkForwardConfig, grid []any, ppy float64, run WindowRunner) (*WalkForwardReport, error) {
	cfg = cfg.withDefaults()
	if len(grid) == 0 {
		return nil, errors.New("backtest: walk-forward needs at least one parameter set")
	}
	spans := Spans(from, to, cfg.TrainMonths, cfg.TestMonths)
	if len(spans) == 0 {
		return nil, fmt.Errorf("backtest: %s to %s is too short for a walk-forward of %d+%d months", from.Format("2006-01-02"), to.Format("2006-01-02"), cfg.TrainMonths, cfg.TestMonths)
	}
	rep := &WalkForwardReport{TrainMonths: cfg.TrainMonths, TestMonths: cfg.TestMonths,
		Objective: "sharpe", MinTrades: cfg.MinTrades, GridSize: len(grid)}
	var windows []Window
	var oos, oosBH []Point
	var fills []Result
	for _, sp := range spans {
		scores, err := trainGrid(ctx, sp, grid, cfg.Workers, run)
		if err != nil {
			return nil, err
		}
		best := -1
		for i, sc := range scores {
			if sc.trips < cfg.MinTrades {
				continue
			}
			if best < 0 || sc.sharpe > scores[best].sharpe {
				best = i
			}
		}
		calibrated := best >= 0
		if !calibrated {
			best = 0
		}
		res, err := run(ctx, sp.TestFrom, sp.TestTo, grid[best])
		if err != nil {
			return nil, fmt.Errorf("backtest: walk-forward test %s–%s: %w", sp.TestFrom.Format("2006-01-02"), sp.TestTo.Format("2006-01-02"), err)
		}
		w, err := NewWindow(res.Curve, res.BuyHold, cfg.TrendThreshold)
		if err != nil {
			return nil, fmt.Errorf("backtest: walk-forward test %s–%s: %w", sp.TestFrom.Format("2006-01-02"), sp.TestTo.Format("2006-01-02"), err)
		}
		windows = append(windows, w)
		oos = chain(oos, res.Curve)
		oosBH = chain(oosBH, res.BuyHold)
		fills = append(fills, res)
		rep.Windows = append(rep.Windows, WalkForwardWindow{
			TrainFrom: sp.TrainFrom, TrainTo: sp.TrainTo, TestFrom: sp.TestFrom, TestTo: sp.TestTo,
			Params: grid[best], Calibrated: calibrated,
			TrainScore: scores[best].sharpe, TrainTrips: scores[best].trips,
			Regime: w.Regime, Trend: w.Trend, TestReturn: w.Return, TestBuyHold: w.BuyHold,
			TestSharpe: res.Summary.Advisor.Sharpe, TestMaxDD: res.Summary.Advisor.MaxDrawdown,
			TestTrips: res.Summary.Advisor.RoundTrips,
		})
		if cfg.OnWindow != nil {
			cfg.OnWindow(len(rep.Windows), len(spans), rep.Windows[len(rep.Windows)-1])
		}
	}
	var allFills = fills[0].Fills[:0:0]
	for _, r := range fills {
		allFills = append(allFills, r.Fills...)
	}
	var err error
	if rep.OutOfSample, err = Analyze(Input{Curve: oos, Fills: allFills, PeriodsPerYear: ppy, DustNotional: cfg.DustNotional}); err != nil {
		return nil, fmt.Errorf("backtest: walk-forward out of sample: %w", err)
	}
	if rep.OutOfSampleBuyHold, err = Analyze(Input{Curve: oosBH, PeriodsPerYear: ppy}); err != nil {
		return nil, fmt.Errorf("backtest: walk-forward buy-and-hold: %w", err)
	}
	rep.ByRegime = ByRegime(windows, ppy)
	return rep, nil
}

type trainScore struct {
	sharpe float64
	trips  int
}

// trainGrid backtests every params of grid on the train span, in parallel.
func trainGrid(ctx context.Context, sp WindowSpan, grid []any, workers int, run WindowRunner) ([]trainScore, error) {
	scores := make([]trainScore, len(grid))
	errs := make([]error, len(grid))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, len(grid)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res, err := run(ctx, sp.TrainFrom, sp.TrainTo, grid[i])
				if err != nil {
					errs[i] = err
					cancel()
					continue
				}
				m := res.Summary.Advisor
				s := m.Sharpe
				if math.IsNaN(s) {
					s = 0
				}
				scores[i] = trainScore{sharpe: s, trips: m.RoundTrips}
			}
		}()
	}
	for i := range grid {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("backtest: walk-forward train %s–%s, params %d: %w", sp.TrainFrom.Format("2006-01-02"), sp.TrainTo.Format("2006-01-02"), i, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return scores, nil
}

// chain appends curve c to acc, scaled so that c's first mark (its start
// cash) coincides with acc's last mark: the chained returns are c's own.
func chain(acc, c []Point) []Point {
	if len(c) == 0 {
		return acc
	}
	if len(acc) == 0 {
		return append(acc, c...)
	}
	// c's base mark (its start cash) becomes acc's last mark, which also
	// takes over what c held after its first decision.
	last := &acc[len(acc)-1]
	k := last.Equity / c[0].Equity
	last.Invested = c[0].Invested * k
	at := last.Time
	for _, p := range c[1:] {
		if !p.Time.After(at) {
			continue
		}
		acc = append(acc, Point{Time: p.Time, Equity: p.Equity * k, Invested: p.Invested * k})
	}
	return acc
}
