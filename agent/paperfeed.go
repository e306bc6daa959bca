package agent

import (
	"errors"
	"fmt"
	"time"

	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
)

// ErrReplayEnd means the bundled history has no candle after the paper
// account's clock: the offline replay has run through its data.
var ErrReplayEnd = errors.New("replay reached the end of the bundled candles")

// CandleFeed is what a paper exchange needs to be driven (executor/paper).
type CandleFeed interface {
	OnCandle(symbol string, c executor.Candle) error
	Now() time.Time
}

// PaperReplay drives a paper exchange over bundled historical candles: each
// Advance feeds the next candle of every symbol, so each `warden run`
// cycle sees one more closed candle, as it would live.
type PaperReplay struct {
	feed    CandleFeed
	replays []*market.Replay
	step    time.Duration
	warmup  int
}

// NewPaperReplay prepares a replay of the bundled candles of symbols at
// timeframe tf. warmup is how many candles a fresh account is fed before
// its first decision (the snapshot's lookback and the drift window).
func NewPaperReplay(feed CandleFeed, symbols []string, tf string, warmup int) (*PaperReplay, error) {
	r := &PaperReplay{feed: feed, warmup: warmup}
	for _, s := range symbols {
		rp, err := market.BundledReplay(s, tf)
		if err != nil {
			return nil, fmt.Errorf("paper replay: %w", err)
		}
		r.replays = append(r.replays, rp)
		r.step = rp.Step()
	}
	if len(r.replays) == 0 {
		return nil, errors.New("paper replay: no symbols")
	}
	return r, nil
}

// Advance feeds the next closed candle of every symbol and returns the
// decision time: the close of the newest candle fed. A fresh account (its
// clock is zero) is first fed the warm-up history closed by start.
func (r *PaperReplay) Advance(start time.Time) (time.Time, error) {
	last := r.feed.Now()
	if last.IsZero() {
		start = start.UTC().Truncate(r.step)
		fed := false
		for _, rp := range r.replays {
			for _, c := range rp.Window(start, r.warmup) {
				if err := r.feed.OnCandle(rp.Symbol(), c); err != nil {
					return time.Time{}, err
				}
				fed = true
			}
		}
		if !fed {
			return time.Time{}, fmt.Errorf("paper replay: no bundled candles close before %s", start.Format(time.RFC3339))
		}
		return r.feed.Now().Add(r.step), nil
	}
	// The next close after the last candle fed; across a gap in the data,
	// the first close that brings any candle (the snapshot check then
	// reports the gap).
	exhausted := true
	for _, rp := range r.replays {
		if rp.Len() > 0 && rp.Candle(rp.Len()-1).Time.After(last) {
			exhausted = false
		}
	}
	if exhausted {
		return time.Time{}, fmt.Errorf("%w: the paper clock is at %s", ErrReplayEnd, last.Format(time.RFC3339))
	}
	for close, tries := last.Add(2*r.step), 0; tries < 24*14; close, tries = close.Add(r.step), tries+1 {
		fed := false
		for _, rp := range r.replays {
			cs := rp.Closed(close)
			j := len(cs)
			for j > 0 && cs[j-1].Time.After(last) {
				j--
			}
			for _, c := range cs[j:] {
				if err := r.feed.OnCandle(rp.Symbol(), c); err != nil {
					return time.Time{}, err
				}
				fed = true
			}
		}
		if fed {
			return close, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: no candle within two weeks after %s", ErrReplayEnd, last.Format(time.RFC3339))
}
