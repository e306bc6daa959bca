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

// svgChart draws lines on shared axes as a self-contained inline SVG: the
// report stays readable offline, without JavaScript. format labels the y
// axis. With logScale (and only positive values) the y axis is
// logarithmic, so curves an order of magnitude apart stay readable.
func svgChart(title string, lines []series, format func(float64) string, logScale bool) template.HTML {
	if logScale {
		for _, s := range lines {
			for _, v := range s.Values {
				if !(v > 0) {
					logScale = false
				}
			}
		}
	}
	if logScale {
		logged := make([]series, len(lines))
		for i, s := range lines {
			logged[i] = s
			logged[i].Values = make([]float64, len(s.Values))
			for j, v := range s.Values {
				logged[i].Values[j] = math.Log10(v)
			}
		}
		lines = logged
		plain := format
		format = func(v float64) string { return plain(math.Pow(10, v)) }
		title += " (log scale)"
	}
	const w, h = 960.0, 300.0
	const left, right, top, bottom = 78.0, 16.0, 28.0, 34.0
	var tmin, tmax time.Time
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range lines {
		for i, t := range s.Times {
			if tmin.IsZero() || t.Before(tmin) {
				tmin = t
			}
			if t.After(tmax) {
				tmax = t
			}
			v := s.Values[i]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, h, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="%.0f" y="18" class="ctitle">%s</text>`, left, html.EscapeString(title))
	if math.IsInf(ymin, 0) || !tmax.After(tmin) {
		b.WriteString(`<text x="400" y="150">no data</text></svg>`)
		return template.HTML(b.String())
	}
	if ymax == ymin {
		ymax, ymin = ymax+1, ymin-1
	}
	pad := (ymax - ymin) * 0.04
	lo, hi := ymin, ymax
	ymin, ymax = ymin-pad, ymax+pad
	if !logScale && lo >= 0 && ymin < 0 {
		ymin = 0 // no negative axis for values that never are
	}
	if !logScale && hi <= 0 && ymax > 0 {
		ymax = 0 // drawdowns: 0 at the top
	}
	pw, ph := w-left-right, h-top-bottom
	x := func(t time.Time) float64 { return left + pw*float64(t.Sub(tmin))/float64(tmax.Sub(tmin)) }
	y := func(v float64) float64 {
		return top + ph*(1-(v-ymin)/(ymax-ymin))
	}
	// Grid and y labels.
	for i := 0; i <= 4; i++ {
		v := ymin + (ymax-ymin)*float64(i)/4
		yy := y(v)
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" class="grid"/>`, left, w-right, yy, yy)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" class="ylab">%s</text>`, left-6, yy+4, html.EscapeString(format(v)))
	}
	// x labels: about six dates.
	for i := 0; i <= 5; i++ {
		t := tmin.Add(time.Duration(float64(tmax.Sub(tmin)) * float64(i) / 5))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" class="xlab">%s</text>`, x(t), h-12, t.UTC().Format("2006-01-02"))
	}
	for li, s := range lines {
		ts, vs := reduce(s.Times, s.Values, maxSVGPoints)
		b.WriteString(`<polyline fill="none" stroke-width="1.3" stroke="` + html.EscapeString(s.Color) + `" points="`)
		for i := range ts {
			if math.IsNaN(vs[i]) || math.IsInf(vs[i], 0) {
				continue
			}
			fmt.Fprintf(&b, "%.1f,%.1f ", x(ts[i]), y(vs[i]))
		}
		b.WriteString(`"/>`)
		lx := left + 10 + float64(li)*180
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="12" height="3" fill="%s"/><text x="%.0f" y="%.0f" class="leg">%s</text>`,
			lx, top+6, html.EscapeString(s.Color), lx+16, top+10, html.EscapeString(s.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
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
