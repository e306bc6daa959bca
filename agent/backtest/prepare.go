package backtest

import (
	"context"
	"sort"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
)

// prepareAhead makes runs prepare the market work of the decisions to
// come on a second goroutine (tests turn it off to compare).
var prepareAhead = true

// prepChunk is how many decisions the preparing goroutine hands over at a
// time, and prepQueue how many such chunks it may be ahead: handing work
// to another thread one decision at a time costs more than the work.
const (
	prepChunk = 64
	prepQueue = 4
)

// prepEntry is the prepared work of one decision time, by symbol index.
type prepEntry struct {
	now   time.Time
	preps []*agent.Prepared
}

// ahead prepares, on its own goroutine and in decision order, the market
// work of every decision of a run (the data check, the indicators and the
// market breakers: work on candles alone) from the tape, which it only
// reads. The agent takes it through get when its own candles are the same
// (agent.UsePrepared), so a cycle's outcome does not depend on it.
type ahead struct {
	ch     chan []prepEntry
	stop   chan struct{}
	done   chan struct{}
	cur    []prepEntry
	over   bool
	symIdx map[string]int
}

func startAhead(ctx context.Context, pr *agent.Preparer, tp *tape, every time.Duration) *ahead {
	q := &ahead{
		ch:     make(chan []prepEntry, prepQueue),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		symIdx: make(map[string]int, len(tp.symbols)),
	}
	for i, s := range tp.symbols {
		q.symIdx[s] = i
	}
	go func() {
		defer close(q.done)
		defer close(q.ch)
		var chunk []prepEntry
		send := func() bool {
			select {
			case q.ch <- chunk:
				chunk = nil
				return true
			case <-q.stop:
			case <-ctx.Done():
			}
			return false
		}
		for i := range tp.opens {
			at := tp.closeTime(i)
			if !isDecision(at, every) {
				continue
			}
			e := prepEntry{now: at, preps: make([]*agent.Prepared, len(tp.symbols))}
			since, n := pr.Window(at)
			for si, s := range tp.symbols {
				e.preps[si] = pr.Prepare(s, closedAt(tp, si, at, since, n), at)
			}
			if chunk = append(chunk, e); len(chunk) == prepChunk && !send() {
				return
			}
		}
		if len(chunk) > 0 {
			send()
		}
	}()
	return q
}

// closedAt is what the market view serves a cycle at now asking for the
// candles of symbol si opened at or after since, at most n (OHLCV), closed
// at now: a read-only view of the tape.
func closedAt(tp *tape, si int, now, since time.Time, n int) []executor.Candle {
	all := tp.series[si]
	fed := all[:sort.Search(len(all), func(i int) bool { return all[i].Time.Add(tp.step).After(now) })]
	fed = fed[sort.Search(len(fed), func(i int) bool { return !fed[i].Time.Before(since) }):]
	if len(fed) > n {
		fed = fed[:n]
	}
	return market.Closed(fed[:len(fed):len(fed)], tp.step, now)
}

// get returns the prepared work of sym at now, or nil when there is none
// (a decision the run skipped is passed over). Called by the agent's
// cycle only, in decision order.
func (q *ahead) get(sym string, now time.Time) *agent.Prepared {
	si, ok := q.symIdx[sym]
	if !ok {
		return nil
	}
	for {
		for len(q.cur) > 0 && q.cur[0].now.Before(now) {
			q.cur = q.cur[1:]
		}
		if len(q.cur) > 0 {
			if q.cur[0].now.Equal(now) {
				return q.cur[0].preps[si]
			}
			return nil
		}
		if q.over {
			return nil
		}
		chunk, ok := <-q.ch
		if !ok {
			q.over = true
			return nil
		}
		q.cur = chunk
	}
}

// close stops the goroutine and waits for it.
func (q *ahead) close() {
	close(q.stop)
	<-q.done
}
