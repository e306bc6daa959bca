package agent

import (
	"time"

	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
)

// Prepared is the market work of one symbol at one decision time done
// ahead of the cycle: the snapshot's analysis (data check and indicators)
// and the market breakers' measures, and the closed candles they were
// computed from. A backtest prepares the decisions to come on a second
// goroutine while earlier cycles run; a cycle takes a Prepared only if its
// own candles are the same, candle for candle, and otherwise computes as
// it always does.
type Prepared struct {
	closed   []executor.Candle
	analysis market.Analysis
	trips    []Trip
}

// Preparer computes Prepared values with an agent's options. It carries
// the breakers' windows from call to call, as the agent does, so it is
// used from one goroutine at a time; it never touches the agent itself.
type Preparer struct {
	o     Options
	step  time.Duration
	drift map[string]*driftWindow
}

// NewPreparer returns a Preparer with a's options.
func (a *Agent) NewPreparer() *Preparer {
	return &Preparer{o: a.o, step: a.step, drift: map[string]*driftWindow{}}
}

// Window is what a cycle at now asks the market for, per symbol: the
// candles opened at or after since, at most n of them (the newest).
func (p *Preparer) Window(now time.Time) (since time.Time, n int) {
	return fetchWindow(p.o, p.step, now)
}

// fetchWindow is what a cycle at now reads per symbol: the candles opened
// at or after since, at most n, enough for the lookback and for the drift
// breaker's windows when they are longer.
func fetchWindow(o Options, step time.Duration, now time.Time) (since time.Time, n int) {
	need := o.Lookback
	if d := o.Breakers.DriftReference + o.Breakers.DriftRecent + 1; d > need {
		need = d
	}
	return now.Add(-time.Duration(need+1) * step), need + 2
}

// checkOptions are the data check's options of a cycle's snapshots.
func checkOptions(o Options) market.CheckOptions {
	return market.CheckOptions{MaxAge: o.MaxDataAge}
}

// driftFor is sym's breaker windows in m, created on first use.
func driftFor(m map[string]*driftWindow, sym string) *driftWindow {
	dw := m[sym]
	if dw == nil {
		dw = &driftWindow{}
		m[sym] = dw
	}
	return dw
}

// Prepare does the market work of sym at now on its closed candles (the
// candles of Window, Closed at now), which must never be written again.
func (p *Preparer) Prepare(sym string, closed []executor.Candle, now time.Time) *Prepared {
	return &Prepared{
		closed:   closed,
		analysis: market.Analyse(closed, p.o.Timeframe, now, p.o.Lookback, checkOptions(p.o)),
		trips:    marketTrips(sym, closed, p.step, p.o.Breakers, driftFor(p.drift, sym)),
	}
}

// UsePrepared makes the agent's cycles take market work from src (nil:
// none), which returns the Prepared of sym at now or nil. Set it before
// the first cycle.
func (a *Agent) UsePrepared(src func(sym string, now time.Time) *Prepared) {
	a.prepared = src
}

// preparedFor is src's Prepared of sym at now when it was computed at now
// from exactly the closed candles c, else nil. The Prepared returned is a
// copy whose analysis window is c's own (the same candles, now known).
func (a *Agent) preparedFor(sym string, c []executor.Candle, now time.Time) *Prepared {
	if a.prepared == nil {
		return nil
	}
	p := a.prepared(sym, now)
	if p == nil || !p.analysis.Now.Equal(now) {
		return nil
	}
	v := a.verified[sym]
	if v == nil {
		v = &verifiedPair{}
		a.verified[sym] = v
	}
	if !v.same(c, p.closed) {
		return nil
	}
	a.preparedTaken++
	q := *p
	q.analysis.Window = c[len(c)-len(p.analysis.Window):]
	return &q
}

// verifiedPair is the last pair of candle windows found equal for one
// symbol: the cycle's (a view of the agent's candle cache, which never
// writes a window it handed out) and the prepared one (never written
// again either, Prepare's contract). Where a new pair starts in the same
// two arrays at the same offset, the candles they share with the last pair
// are known equal without reading them again; only the new ones are
// compared. A cycle slides both windows by one candle, so it compares one.
type verifiedPair struct{ mine, theirs []executor.Candle }

func (v *verifiedPair) same(mine, theirs []executor.Candle) bool {
	if len(mine) != len(theirs) {
		return false
	}
	from := 0
	if k, ok := offsetIn(v.mine, mine); ok {
		if k2, ok := offsetIn(v.theirs, theirs); ok && k2 == k {
			from = min(len(v.mine)-k, len(mine))
		}
	}
	if !market.SameCandles(mine[from:], theirs[from:]) {
		v.mine, v.theirs = nil, nil
		return false
	}
	v.mine, v.theirs = mine, theirs
	return true
}

// offsetIn finds k with &old[k] == &cur[0]: cur starts inside old's array.
func offsetIn(old, cur []executor.Candle) (int, bool) {
	if len(cur) == 0 {
		return 0, false
	}
	for k := range old {
		if &old[k] == &cur[0] {
			return k, true
		}
	}
	return 0, false
}

// PreparedTaken is how many times a cycle took a symbol's market work
// from UsePrepared's source.
func (a *Agent) PreparedTaken() int { return a.preparedTaken }
