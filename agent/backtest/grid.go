package backtest

import (
	"context"
	"fmt"
	"time"

	"github.com/warden-trading/warden/agent/advisor/baseline"
)

// DefaultGrid is the walk-forward's small grid over the baseline: three
// EMA pairs × three stop distances, take profit at 1.5× the stop. The
// defaults come first, so they are what a window keeps when no set
// trades enough.
func DefaultGrid() []baseline.Params {
	def := baseline.DefaultParams()
	out := []baseline.Params{def}
	for _, ema := range [][2]int{{12, 26}, {8, 21}, {20, 50}} {
		for _, stop := range []float64{2, 1.5, 3} {
			p := def
			p.FastEMA, p.SlowEMA = ema[0], ema[1]
			p.StopATR, p.TakeProfitATR = stop, stop*1.5
			if p == def {
				continue
			}
			out = append(out, p)
		}
	}
	return out
}

// walkForward runs the walk-forward over the run's span with the
// baseline, never audited and without a progress bar.
func (c *normalised) walkForward(ctx context.Context) (*WalkForwardReport, error) {
	grid := c.Grid
	if grid == nil {
		grid = DefaultGrid()
	}
	anyGrid := make([]any, len(grid))
	for i, p := range grid {
		anyGrid[i] = p
	}
	run := func(ctx context.Context, from, to time.Time, params any) (Result, error) {
		adv, err := baseline.New(params.(baseline.Params))
		if err != nil {
			return Result{}, err
		}
		o, err := runOnce(ctx, c, "walk-forward", adv, from, to, nil, func(int) *progress { return nil }, nil)
		if err != nil {
			return Result{}, err
		}
		return c.result(o, adv.Name(), baseline.Model)
	}
	from := c.walkForwardFrom()
	wcfg := *c.WalkForward
	wcfg.DustNotional = c.dust
	if c.Progress != nil && wcfg.OnWindow == nil {
		start := c.Wall()
		wcfg.OnWindow = func(i, n int, w WalkForwardWindow) {
			fmt.Fprintf(c.Progress, "\rwalk-forward: %d/%d test windows (%s to %s, %s), %s elapsed", i, n,
				w.TestFrom.Format("2006-01-02"), w.TestTo.Format("2006-01-02"), w.Regime, c.Wall().Sub(start).Round(time.Second))
			if i == n {
				fmt.Fprintln(c.Progress)
			}
		}
	}
	return WalkForward(ctx, from, c.To, wcfg, anyGrid, c.ppy, run)
}

// walkForwardFrom is where the walk-forward's windows start: on a calendar
// month, the first one after the data (and their warm-up) begin, or From
// itself when it is later.
func (c *normalised) walkForwardFrom() time.Time {
	from := c.From
	if first := c.firstBar(); first.After(from) {
		from = time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC)
		if from.Before(first) {
			from = from.AddDate(0, 1, 0)
		}
	}
	return from
}

// checkWalkForward fails before any work when the span cannot hold one
// train and test window.
func (c *normalised) checkWalkForward() error {
	if c.WalkForward == nil {
		return nil
	}
	w := c.WalkForward.withDefaults()
	from := c.walkForwardFrom()
	if len(Spans(from, c.To, w.TrainMonths, w.TestMonths)) == 0 {
		return fmt.Errorf("backtest: %s to %s is too short for a walk-forward of %d+%d months", from.Format("2006-01-02"), c.To.Format("2006-01-02"), w.TrainMonths, w.TestMonths)
	}
	return nil
}

// firstBar is the earliest open time with warm-up history for every
// symbol.
func (c *normalised) firstBar() time.Time {
	var t time.Time
	for _, s := range c.Symbols {
		cs := c.candles[s]
		if c.warmup < len(cs) && cs[c.warmup].Time.After(t) {
			t = cs[c.warmup].Time
		}
	}
	return t
}
