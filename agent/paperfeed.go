package agent

import (
	"context"
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
	if _, err := r.sameTimeframe(); err != nil {
		return time.Time{}, err
	}
	if err := r.backfill(); err != nil {
		return time.Time{}, err
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
		return time.Time{}, fmt.Errorf("%w: its last candle closed at %s (the last decision time)", ErrReplayEnd, last.Add(r.step).Format(time.RFC3339))
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

// Current gives a restored account its market history again without
// feeding a new candle, and returns the decision time of the last cycle:
// what a process that acts between cycles (warden approve placing an
// approved proposal) decides at. An account no cycle has fed is an error.
func (r *PaperReplay) Current() (time.Time, error) {
	last := r.feed.Now()
	if last.IsZero() {
		return time.Time{}, errors.New("paper replay: no cycle has run on this account yet")
	}
	if fed, err := r.sameTimeframe(); err != nil {
		// The last cycle's time all the same, in the account's own
		// timeframe: what this process records until Advance refuses is
		// dated on the replay's clock, where it belongs.
		return last.Add(fed), err
	}
	if err := r.backfill(); err != nil {
		return time.Time{}, err
	}
	return last.Add(r.step), nil
}

// intervalFeed is a CandleFeed that knows the spacing of the candles each
// symbol was fed (executor/paper).
type intervalFeed interface {
	Interval(symbol string) time.Duration
}

// sameTimeframe refuses to go on with an account fed candles of another
// timeframe than the replay's (the config's timeframe changed on an
// existing database): its next close, counted in the new timeframe from
// the last candle's open, would lie before the last decision time, and
// the account's market history would mix the two. The error comes with
// the spacing the account was fed.
func (r *PaperReplay) sameTimeframe() (time.Duration, error) {
	f, ok := r.feed.(intervalFeed)
	if !ok {
		return r.step, nil
	}
	for _, rp := range r.replays {
		if iv := f.Interval(rp.Symbol()); iv > 0 && iv != r.step {
			return iv, fmt.Errorf("paper replay: this paper account was fed %s candles of %s, and the timeframe is now %s: the replay's clock would go back; set the timeframe back, or use a new database for the new timeframe",
				iv, rp.Symbol(), r.step)
		}
	}
	return r.step, nil
}

// historyFeed is a CandleFeed restored without its market history
// (executor/paper): HistoryUntil is the time of the newest candle a symbol
// had, whose history the feed must give again; zero when it needs none.
type historyFeed interface {
	HistoryUntil(symbol string) time.Time
}

// backfill gives a restored paper account the warm-up history of every
// symbol up to its newest candle again (as history: nothing is matched).
func (r *PaperReplay) backfill() error {
	hf, ok := r.feed.(historyFeed)
	if !ok {
		return nil
	}
	for _, rp := range r.replays {
		until := hf.HistoryUntil(rp.Symbol())
		if until.IsZero() {
			continue
		}
		for _, c := range rp.Window(until.Add(r.step), r.warmup) {
			if err := r.feed.OnCandle(rp.Symbol(), c); err != nil {
				return fmt.Errorf("paper replay: history of %s: %w", rp.Symbol(), err)
			}
		}
	}
	return nil
}

// PaperAccount is a paper exchange whose account persists
// (executor/paper.Exchange).
type PaperAccount interface {
	MarshalState() ([]byte, error)
	MarshalDelta() ([]byte, error)
	RestoreState([]byte) error
	ApplyDelta([]byte) error
}

// PaperStore keeps a paper account between processes (agent/audit.Store).
type PaperStore interface {
	PaperStateChain(ctx context.Context) (checkpoint []byte, deltas [][]byte, ok bool, err error)
	SavePaperCheckpoint(ctx context.Context, blob []byte) error
	SavePaperDelta(ctx context.Context, blob []byte) error
}

// PaperCheckpointEvery is how many deltas are saved between two
// checkpoints of a paper account: a week of hourly cycles that place no
// order (each order placed or cancelled adds one).
const PaperCheckpointEvery = 168

// PaperPersister saves a paper account: what changed since the last save
// (nothing when nothing did), and the whole account every
// PaperCheckpointEvery saves. Warden's runtime saves after every change of
// the account (an order placed or cancelled, candles fed), before the
// order journal records what the change answered (cmd/warden
// paperAccount). Not safe for concurrent use.
type PaperPersister struct {
	acct   PaperAccount
	store  PaperStore
	deltas int // deltas saved since the newest checkpoint; -1: none saved yet
}

// RestorePaper restores acct from the newest checkpoint in store and the
// deltas after it (restored is false when there is none) and returns the
// persister that saves it from then on.
func RestorePaper(ctx context.Context, store PaperStore, acct PaperAccount) (p *PaperPersister, restored bool, err error) {
	p = &PaperPersister{acct: acct, store: store, deltas: -1}
	cp, deltas, ok, err := store.PaperStateChain(ctx)
	if err != nil || !ok {
		return p, false, err
	}
	if err := acct.RestoreState(cp); err != nil {
		return nil, false, err
	}
	for i, d := range deltas {
		if err := acct.ApplyDelta(d); err != nil {
			return nil, false, fmt.Errorf("delta %d of %d after the checkpoint: %w", i+1, len(deltas), err)
		}
	}
	p.deltas = len(deltas)
	return p, true, nil
}

// Save saves what changed in the account since the last save.
func (p *PaperPersister) Save(ctx context.Context) error {
	if p.deltas < 0 || p.deltas >= PaperCheckpointEvery {
		blob, err := p.acct.MarshalState()
		if err != nil {
			return err
		}
		if err := p.store.SavePaperCheckpoint(ctx, blob); err != nil {
			p.deltas = -1
			return err
		}
		p.deltas = 0
		return nil
	}
	blob, err := p.acct.MarshalDelta()
	if err == nil && blob != nil {
		err = p.store.SavePaperDelta(ctx, blob)
	}
	if err != nil {
		// The account counts this delta as saved: the next save is a
		// checkpoint, so nothing is lost.
		p.deltas = -1
		return err
	}
	if blob == nil {
		return nil
	}
	p.deltas++
	return nil
}
