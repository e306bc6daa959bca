package backtest

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNiceStep(t *testing.T) {
	for _, tc := range []struct {
		span float64
		n    int
		want float64
	}{
		{100, 5, 20}, {183840.48, 5, 50000}, {1, 5, 0.2}, {0.37, 5, 0.1}, {7, 5, 2}, {10, 5, 2}, {50, 5, 10}, {0, 5, 1},
	} {
		if got := niceStep(tc.span, tc.n); math.Abs(got-tc.want) > 1e-12*tc.want {
			t.Errorf("niceStep(%v, %d) = %v; want %v", tc.span, tc.n, got, tc.want)
		}
	}
	lo, hi, step := niceRange(9961.3, 10006.2, 5)
	if lo != 9960 || hi != 10010 || step != 10 {
		t.Errorf("niceRange(9961.3, 10006.2) = %v, %v, %v; want 9960, 10010, 10", lo, hi, step)
	}
}

func TestTickFormat(t *testing.T) {
	for _, tc := range []struct {
		kind  axisKind
		ticks []float64
		want  []string
	}{
		{axisMoney, []float64{150000, 200000}, []string{"150,000", "200,000"}},
		{axisMoney, []float64{9995, 9997.5}, []string{"9,995.0", "9,997.5"}},
		{axisPercent, []float64{-0.4, -0.2, 0}, []string{"−40%", "−20%", "0%"}},
		{axisPercent, []float64{-0.005, 0}, []string{"−0.5%", "0.0%"}},
		{axisIndex, []float64{50, 100, 200, 1000}, []string{"50", "100", "200", "1,000"}},
	} {
		f := tickFormat(tc.kind, tc.ticks)
		var got []string
		for _, v := range tc.ticks {
			got = append(got, f(v))
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("tickFormat(%v) labels %q; want %q", tc.ticks, got, tc.want)
		}
	}
}

func TestLogTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{
		{50.4, 1600.9, "[100 200 500 1000]"},
		{10, 100000, "[10 100 1000 10000 100000]"},
		{80, 260, "[80 90 100 200]"},
	} {
		if got := fmt.Sprint(logTicks(tc.lo, tc.hi)); got != tc.want {
			t.Errorf("logTicks(%v, %v) = %s; want %s", tc.lo, tc.hi, got, tc.want)
		}
	}
}

func TestTimeTicks(t *testing.T) {
	day := func(s string) time.Time { tt, _ := time.Parse("2006-01-02", s); return tt }
	for _, tc := range []struct {
		from, to string
		want     string
	}{
		// Five years: half years.
		{"2017-09-09", "2022-10-11", "2018-01 2018-07 2019-01 2019-07 2020-01 2020-07 2021-01 2021-07 2022-01 2022-07"},
		// Twelve years: yearly.
		{"2010-03-01", "2022-03-01", "2011 2012 2013 2014 2015 2016 2017 2018 2019 2020 2021 2022"},
		// Two months: weekly dates.
		{"2022-01-01", "2022-03-01", "2022-01-08 2022-01-15 2022-01-22 2022-01-29 2022-02-05 2022-02-12 2022-02-19 2022-02-26"},
		// A year and a half: every other month.
		{"2019-07-01", "2021-01-01", "2019-09 2019-11 2020-01 2020-03 2020-05 2020-07 2020-09 2020-11 2021-01"},
	} {
		var got []string
		for _, tk := range timeTicks(day(tc.from), day(tc.to), 880) {
			got = append(got, tk.Label)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("timeTicks(%s, %s) = %q; want %q", tc.from, tc.to, got, tc.want)
		}
	}
}

var svgText = regexp.MustCompile(`<text x="([0-9.]+)" y="[0-9.]+" class="(xlab|ylab|leg|ctitle)">([^<]*)</text>`)

// TestChartLabelsInside: over the bundled range's shape (a last tick at
// the end of the data), every label's estimated box lies inside the
// viewBox, and the y ticks are round numbers.
func TestChartLabelsInside(t *testing.T) {
	from := time.Date(2017, 9, 9, 0, 0, 0, 0, time.UTC)
	to := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC) // a year boundary at the very end
	var ts []time.Time
	var eq, bh []float64
	for at, i := from, 0; !at.After(to); at, i = at.Add(6*time.Hour), i+1 {
		ts = append(ts, at)
		eq = append(eq, 183840.48+1000*math.Sin(float64(i)/50))
		bh = append(bh, 100*math.Exp(float64(i)/3000))
	}
	specs := []chartSpec{
		{Title: "Advisor equity (USDT)", Lines: []series{{Name: "advisor (baseline)", Color: colorAdvisor, Times: ts, Values: eq}}, Axis: axisMoney},
		{Title: "Growth of 100", Lines: []series{{Name: "buy and hold", Color: colorBuyHold, Times: ts, Values: bh}}, Axis: axisIndex, Log: true},
	}
	for i, html := range svgCharts(specs) {
		s := string(html)
		m := svgText.FindAllStringSubmatch(s, -1)
		if len(m) < 8 {
			t.Fatalf("chart %d has %d labels: %s", i, len(m), s[:200])
		}
		lastX := 0.0
		for _, l := range m {
			x, _ := strconv.ParseFloat(l[1], 64)
			w := float64(len([]rune(l[3]))) * charW
			var x0, x1 float64
			switch l[2] {
			case "xlab":
				x0, x1 = x-w/2, x+w/2
				lastX = math.Max(lastX, x1)
			case "ylab":
				x0, x1 = x-w, x
				if i == 0 {
					v, err := strconv.ParseFloat(strings.ReplaceAll(l[3], ",", ""), 64)
					if err != nil || math.Mod(v, 500) != 0 {
						t.Errorf("chart %d: y tick %q is not a round value", i, l[3])
					}
				}
			default:
				x0, x1 = x, x+w
			}
			if x0 < 0 || x1 > chartW {
				t.Errorf("chart %d: label %q spans x %.1f–%.1f, outside 0–%v", i, l[3], x0, x1, chartW)
			}
		}
		if lastX == 0 {
			t.Errorf("chart %d has no date labels", i)
		}
	}
}

func TestWFTable(t *testing.T) {
	type P struct{ FastEMA, SlowEMA, RSI int }
	wf := &WalkForwardReport{Windows: []WalkForwardWindow{
		{Params: P{12, 26, 14}}, {Params: P{8, 21, 14}}, {Params: P{12, 26, 14}},
	}}
	tb := newWFTable(wf)
	if got := strings.Join(tb.ParamCols, "|"); got != "fast EMA|slow EMA" {
		t.Errorf("param columns %q; want the two that vary", got)
	}
	if tb.Fixed != "RSI 14" {
		t.Errorf("fixed %q; want RSI 14", tb.Fixed)
	}
	if got := fmt.Sprint(tb.Rows[1].Params); got != "[8 21]" {
		t.Errorf("row 1 params %s; want [8 21]", got)
	}
	one := newWFTable(&WalkForwardReport{Windows: []WalkForwardWindow{{Params: P{12, 26, 14}}}})
	if len(one.ParamCols) != 3 || one.Fixed != "" {
		t.Errorf("a single window shows %v as columns and %q as fixed; want every parameter as a column", one.ParamCols, one.Fixed)
	}
	odd := newWFTable(&WalkForwardReport{Windows: []WalkForwardWindow{{Params: "custom"}}})
	if len(odd.ParamCols) != 1 || odd.ParamCols[0] != "params" || odd.Rows[0].Params[0] != "custom" {
		t.Errorf("non-object params: %+v", odd)
	}
}
