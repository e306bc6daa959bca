package backtest

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws a one-line progress bar with plain carriage-return
// updates, at most every interval of wall time (and always at 100%).
type progress struct {
	w        io.Writer
	label    string
	total    int
	wall     func() time.Time
	interval time.Duration
	start    time.Time
	last     time.Time
	drawn    bool
}

func newProgress(w io.Writer, label string, total int, wall func() time.Time) *progress {
	if w == nil || total <= 0 {
		return nil
	}
	if wall == nil {
		wall = time.Now
	}
	p := &progress{w: w, label: label, total: total, wall: wall, interval: 200 * time.Millisecond}
	p.start = wall()
	return p
}

// update draws done of total, throttled. A nil progress does nothing.
func (p *progress) update(done, decisions int, at time.Time) {
	if p == nil {
		return
	}
	now := p.wall()
	if done < p.total && p.drawn && now.Sub(p.last) < p.interval {
		return
	}
	p.last, p.drawn = now, true
	const width = 30
	frac := float64(done) / float64(p.total)
	fill := int(frac * width)
	rate := ""
	if el := now.Sub(p.start).Seconds(); el > 0 {
		rate = fmt.Sprintf(" %.0f candles/s", float64(done)/el)
	}
	fmt.Fprintf(p.w, "\r%s [%s%s] %5.1f%% %d/%d candles, %d decisions, %s%s",
		p.label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), frac*100, done, p.total, decisions,
		at.UTC().Format("2006-01-02"), rate)
}

// finish ends the line.
func (p *progress) finish() {
	if p == nil || !p.drawn {
		return
	}
	fmt.Fprintln(p.w)
}
