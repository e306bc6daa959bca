package backtest

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
)

// series is one line of an SVG chart.
type series struct {
	Name   string
	Color  string
	Times  []time.Time
	Values []float64
}

// maxSVGPoints bounds the points drawn per line; longer series are reduced
// to each bucket's minimum and maximum, in time order, so troughs and peaks
// survive.
const maxSVGPoints = 1600

// axisKind says how a chart's y values are shown.
type axisKind int

const (
	axisMoney   axisKind = iota // 12,500
	axisIndex                   // growth of 100: 150
	axisPercent                 // a fraction shown as a percent: −20%
)

// chartSpec is one SVG chart.
type chartSpec struct {
	Title string
	Lines []series
	Axis  axisKind
	// Log asks for a logarithmic y axis; it is used only when every value
	// is positive and the largest is at least three times the smallest
	// (otherwise a linear axis reads better).
	Log bool
	// ZeroTop pins the top of the y axis at 0 (drawdowns).
	ZeroTop bool
}

// Chart geometry, in viewBox units. The SVG scales to the page width; the
// font sizes below are in the same units.
const (
	chartW, chartH = 960.0, 300.0
	chartTop       = 34.0 // title and legend row above the plot
	chartBottom    = 26.0 // date labels below the plot
	chartRight     = 14.0
	labelFont      = 11.0
	// charW is the width of one character of an 11-unit label in a
	// sans-serif font, rounded up: used to keep labels inside the chart
	// and apart from each other.
	charW = 6.6
)

// yAxis is a chart's vertical scale: its range, round ticks and their
// labels.
type yAxis struct {
	ok         bool // there is something to draw
	log        bool
	lo, hi     float64
	ticks      []float64
	format     func(float64) string
	tmin, tmax time.Time
	title      string
}

// axisOf lays out the axes of spec.
func axisOf(spec chartSpec) yAxis {
	a := yAxis{title: spec.Title}
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range spec.Lines {
		for i, t := range s.Times {
			if a.tmin.IsZero() || t.Before(a.tmin) {
				a.tmin = t
			}
			if t.After(a.tmax) {
				a.tmax = t
			}
			v := s.Values[i]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
		}
	}
	a.log = spec.Log && ymin > 0 && ymax/ymin >= 3
	if a.log {
		a.title += " (log scale)"
	}
	if math.IsInf(ymin, 0) || !a.tmax.After(a.tmin) {
		return a
	}
	a.ok = true
	if a.log {
		a.ticks = logTicks(ymin, ymax)
		// Pad the range a little in log space; ticks stay inside.
		lo, hi := math.Log10(ymin), math.Log10(ymax)
		pad := (hi - lo) * 0.03
		a.lo, a.hi = math.Pow(10, lo-pad), math.Pow(10, hi+pad)
	} else {
		if spec.ZeroTop && ymax <= 0 {
			ymax = 0
		}
		if ymax == ymin {
			ymax, ymin = ymax+math.Max(math.Abs(ymax)*0.01, 0.01), ymin-math.Max(math.Abs(ymin)*0.01, 0.01)
			if spec.ZeroTop {
				ymax = 0
			}
		}
		var step float64
		a.lo, a.hi, step = niceRange(ymin, ymax, 5)
		for v := a.lo; v <= a.hi+step/2; v += step {
			a.ticks = append(a.ticks, roundTo(v, step))
		}
	}
	a.format = tickFormat(spec.Axis, a.ticks)
	return a
}

// left is the margin that fits the longest y label.
func (a yAxis) left() float64 {
	longest := 0
	for _, v := range a.ticks {
		longest = max(longest, len([]rune(a.format(v))))
	}
	return math.Ceil(float64(longest)*charW + 14)
}

// svgCharts draws the charts with one left margin, so their time axes
// line up on the page.
func svgCharts(specs []chartSpec) []template.HTML {
	axes := make([]yAxis, len(specs))
	left := 0.0
	for i, sp := range specs {
		axes[i] = axisOf(sp)
		if axes[i].ok {
			left = math.Max(left, axes[i].left())
		}
	}
	out := make([]template.HTML, len(specs))
	for i, sp := range specs {
		out[i] = svgChart(sp, axes[i], left)
	}
	return out
}

// svgChart draws the lines of spec on shared axes as a self-contained
// inline SVG: readable offline, without JavaScript. The y ticks sit on
// round values (1, 2 or 5 times a power of ten; on a log axis, 1-2-5 per
// decade), the x ticks on calendar boundaries (days, months, quarters or
// years), and every label lies inside the chart. left is the plot's left
// margin (at least the axis's own).
func svgChart(spec chartSpec, ax yAxis, left float64) template.HTML {
	lines, title := spec.Lines, ax.title
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH, html.EscapeString(title))
	if !ax.ok {
		fmt.Fprintf(&b, `<text x="12" y="20" class="ctitle">%s</text><text x="400" y="150">no data</text></svg>`, html.EscapeString(title))
		return template.HTML(b.String())
	}
	left = math.Max(left, ax.left())
	logScale, ticks, format := ax.log, ax.ticks, ax.format
	ymin, ymax, tmin, tmax := ax.lo, ax.hi, ax.tmin, ax.tmax
	tr := func(v float64) float64 {
		if logScale {
			return math.Log10(v)
		}
		return v
	}
	pw, ph := chartW-left-chartRight, chartH-chartTop-chartBottom
	x := func(t time.Time) float64 { return left + pw*float64(t.Sub(tmin))/float64(tmax.Sub(tmin)) }
	y := func(v float64) float64 {
		return chartTop + ph*(1-(tr(v)-tr(ymin))/(tr(ymax)-tr(ymin)))
	}

	// Title left, legend right, both above the plot.
	fmt.Fprintf(&b, `<text x="%.0f" y="20" class="ctitle">%s</text>`, left, html.EscapeString(title))
	lx := chartW - chartRight
	for i := len(lines) - 1; i >= 0; i-- {
		s := lines[i]
		lx -= float64(len([]rune(s.Name)))*charW + 4
		fmt.Fprintf(&b, `<text x="%.1f" y="21" class="leg">%s</text>`, lx, html.EscapeString(s.Name))
		lx -= 22
		fmt.Fprintf(&b, `<rect x="%.1f" y="14" width="18" height="4" fill="%s"/>`, lx, html.EscapeString(s.Color))
		lx -= 14
	}
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" class="frame"/>`, left, chartTop, pw, ph)
	for _, v := range ticks {
		yy := y(v)
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" class="grid"/>`, left, chartW-chartRight, yy, yy)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" class="ylab">%s</text>`, left-6, yy+4, html.EscapeString(format(v)))
	}
	for _, tk := range timeTicks(tmin, tmax, pw) {
		xx := x(tk.At)
		half := float64(len([]rune(tk.Label))) * charW / 2
		if xx-half < 2 || xx+half > chartW-2 {
			continue // its label would stick out of the chart
		}
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" class="grid"/>`, xx, xx, chartTop, chartTop+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" class="xlab">%s</text>`, xx, chartH-8, tk.Label)
	}
	for _, s := range lines {
		ts, vs := reduce(s.Times, s.Values, maxSVGPoints)
		b.WriteString(`<polyline fill="none" stroke-width="1.4" stroke="` + html.EscapeString(s.Color) + `" points="`)
		for i := range ts {
			if math.IsNaN(vs[i]) || math.IsInf(vs[i], 0) || (logScale && vs[i] <= 0) {
				continue
			}
			fmt.Fprintf(&b, "%.1f,%.1f ", x(ts[i]), y(vs[i]))
		}
		b.WriteString(`"/>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceStep is the round step (1, 2 or 5 × 10^k) that cuts span into about
// n parts.
func niceStep(span float64, n int) float64 {
	if !(span > 0) || n < 1 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag*(1+1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// niceRange widens [lo, hi] to multiples of a round step giving about n
// intervals.
func niceRange(lo, hi float64, n int) (float64, float64, float64) {
	step := niceStep(hi-lo, n)
	return math.Floor(lo/step+1e-9) * step, math.Ceil(hi/step-1e-9) * step, step
}

// roundTo removes the float noise of repeated additions of step.
func roundTo(v, step float64) float64 {
	dec := math.Max(0, -math.Floor(math.Log10(step))) + 2
	p := math.Pow(10, dec)
	return math.Round(v*p) / p
}

// logTicks are three to eight round values inside [lo, hi], lo > 0:
// 1, 2, 5 × 10^k; more per decade over a narrow range; only 1 (and 3) ×
// 10^k over a wide one.
func logTicks(lo, hi float64) []float64 {
	gen := func(ms []float64) []float64 {
		var out []float64
		for e := math.Floor(math.Log10(lo)) - 1; e <= math.Ceil(math.Log10(hi)); e++ {
			for _, m := range ms {
				v := m * math.Pow(10, e)
				if v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
					out = append(out, v)
				}
			}
		}
		return out
	}
	// Narrow ranges need more marks per decade, wide ones fewer.
	for _, ms := range [][]float64{{1, 2, 5}, {1, 2, 3, 5, 7}, {1, 2, 3, 4, 5, 6, 7, 8, 9}} {
		if t := gen(ms); len(t) >= 3 && len(t) <= 8 {
			return t
		}
	}
	for _, ms := range [][]float64{{1, 3}, {1}} {
		if t := gen(ms); len(t) >= 2 && len(t) <= 8 {
			return t
		}
	}
	// Over less than a factor of two, fall back to linear round steps.
	_, _, step := niceRange(lo, hi, 4)
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		out = append(out, roundTo(v, step))
	}
	return out
}

// tickFormat labels ticks with as many decimals as their spacing needs.
func tickFormat(kind axisKind, ticks []float64) func(float64) string {
	scale := 1.0
	if kind == axisPercent {
		scale = 100
	}
	dec := 0
	for _, v := range ticks {
		for dec < 4 && math.Abs(v*scale*math.Pow(10, float64(dec))-math.Round(v*scale*math.Pow(10, float64(dec)))) > 1e-6 {
			dec++
		}
	}
	return func(v float64) string {
		v *= scale
		if math.Abs(v) < 1e-12 {
			v = 0
		}
		s := groupThousands(fmt.Sprintf("%.*f", dec, v))
		if kind == axisPercent {
			s += "%"
		}
		return strings.Replace(s, "-", "−", 1)
	}
}

// groupThousands puts commas into the integer part of a formatted number.
func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, ch := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	return b.String()
}

// timeTick is a date mark on the x axis.
type timeTick struct {
	At    time.Time
	Label string
}

// timeTicks puts marks on calendar boundaries strictly inside (tmin,
// tmax]: the smallest of days, weeks, months, quarters, half years, years
// or several years whose labels fit the plot width without touching.
func timeTicks(tmin, tmax time.Time, width float64) []timeTick {
	type unit struct {
		next   func(time.Time) time.Time // the first boundary after t
		layout string
	}
	day := func(n int) unit {
		return unit{func(t time.Time) time.Time {
			d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
			for (d.YearDay()-1)%n != 0 {
				d = d.AddDate(0, 0, 1)
			}
			return d
		}, "2006-01-02"}
	}
	month := func(n int) unit {
		return unit{func(t time.Time) time.Time {
			m := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)
			for (int(m.Month())-1)%n != 0 {
				m = m.AddDate(0, 1, 0)
			}
			return m
		}, "2006-01"}
	}
	year := func(n int) unit {
		return unit{func(t time.Time) time.Time {
			y := t.Year() + 1
			for y%n != 0 {
				y++
			}
			return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		}, "2006"}
	}
	units := []unit{day(1), day(2), day(7), month(1), month(2), month(3), month(6), year(1), year(2), year(5), year(10)}
	tmin, tmax = tmin.UTC(), tmax.UTC()
	span := tmax.Sub(tmin)
	for _, u := range units {
		var out []timeTick
		for t := u.next(tmin); !t.After(tmax); t = u.next(t) {
			out = append(out, timeTick{At: t, Label: t.Format(u.layout)})
			if len(out) > 60 {
				break
			}
		}
		if len(out) > 60 {
			continue
		}
		// Spacing between neighbours in plot units against the label width.
		minGap := math.Inf(1)
		for i := 1; i < len(out); i++ {
			minGap = math.Min(minGap, width*float64(out[i].At.Sub(out[i-1].At))/float64(span))
		}
		need := float64(len(u.layout))*charW + 16
		if len(out) <= 1 || minGap >= need {
			return out
		}
	}
	return nil
}

// reduce keeps at most about limit points: each bucket contributes its first
// minimum and maximum in time order; the last point is always kept.
func reduce(ts []time.Time, vs []float64, limit int) ([]time.Time, []float64) {
	if len(ts) <= limit || limit < 4 {
		return ts, vs
	}
	buckets := limit / 2
	size := (len(ts) + buckets - 1) / buckets
	ot := make([]time.Time, 0, limit+1)
	ov := make([]float64, 0, limit+1)
	for start := 0; start < len(ts); start += size {
		end := min(start+size, len(ts))
		lo, hi := start, start
		for i := start; i < end; i++ {
			if vs[i] < vs[lo] {
				lo = i
			}
			if vs[i] > vs[hi] {
				hi = i
			}
		}
		a, z := min(lo, hi), max(lo, hi)
		ot, ov = append(ot, ts[a]), append(ov, vs[a])
		if z != a {
			ot, ov = append(ot, ts[z]), append(ov, vs[z])
		}
	}
	if last := len(ts) - 1; !ot[len(ot)-1].Equal(ts[last]) {
		ot, ov = append(ot, ts[last]), append(ov, vs[last])
	}
	return ot, ov
}

// normalise rescales a curve to start at 100: the growth of 100 invested.
func normalise(c []Point) []float64 {
	out := make([]float64, len(c))
	if len(c) == 0 || !(c[0].Equity > 0) {
		return out
	}
	for i, p := range c {
		out[i] = 100 * p.Equity / c[0].Equity
	}
	return out
}
