package backtest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
)

// SummarySchema names the version of summary.json's shape. Fields are only
// ever added under one version.
const SummarySchema = "warden.backtest.summary/v1"

// RunInfo describes what was backtested.
type RunInfo struct {
	From        time.Time       `json:"from"`
	To          time.Time       `json:"to"`
	Symbols     []string        `json:"symbols"`
	Timeframe   string          `json:"timeframe"`
	Advisor     string          `json:"advisor"`
	Model       string          `json:"model,omitempty"`
	Every       string          `json:"every"`
	StartCash   decimal.Decimal `json:"start_cash"`
	FeeBps      decimal.Decimal `json:"fee_bps"`
	SlippageBps decimal.Decimal `json:"slippage_bps"`
	SpreadBps   decimal.Decimal `json:"spread_bps"`
	// Candles is how many candle closes the clock stepped through (marks
	// of the equity curve).
	Candles    int    `json:"candles"`
	PolicyHash string `json:"policy_hash,omitempty"`
	Audit      bool   `json:"audit"`
}

// Summary is summary.json.
type Summary struct {
	Schema   string   `json:"schema"`
	Run      RunInfo  `json:"run"`
	Evidence Evidence `json:"evidence"`
	Advisor  Metrics  `json:"advisor"`
	BuyHold  Metrics  `json:"buy_and_hold"`
	// Baseline is the baseline advisor through the same pipeline, when the
	// advisor under test is another one; nil otherwise.
	Baseline  *Metrics      `json:"baseline"`
	Decisions DecisionStats `json:"decisions"`
	// Breakers counts the circuit breakers' trips and the cycles at each
	// level.
	Breakers BreakerStats `json:"breakers"`
	// Regimes aggregates calendar months of the run by market regime (the
	// advisor's whole run, so in-sample for a calibrated baseline; the
	// walk-forward's ByRegime is out of sample).
	Regimes     []RegimeResult     `json:"regimes"`
	Months      []Window           `json:"months"`
	WalkForward *WalkForwardReport `json:"walk_forward,omitempty"`
	Warnings    []string           `json:"warnings"`
}

// Result is everything a backtest produced.
type Result struct {
	Summary Summary
	// Curve is the advisor's equity curve, one mark per candle close.
	Curve    []Point
	BuyHold  []Point
	Baseline []Point // nil when Summary.Baseline is nil
	// Fills are the paper exchange's trades of the advisor's run.
	Fills     []executor.Trade
	Decisions []Decision
}

// WriteJSON writes the summary as indented JSON.
func (s Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteReport writes dir/summary.json and dir/report.html, creating dir.
func WriteReport(dir string, r Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("backtest: report dir: %w", err)
	}
	var js, page bytes.Buffer
	if err := r.Summary.WriteJSON(&js); err != nil {
		return fmt.Errorf("backtest: summary: %w", err)
	}
	if err := WriteHTML(&page, r); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), js.Bytes(), 0o644); err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.html"), page.Bytes(), 0o644); err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	return nil
}

//go:embed report.html.tmpl
var reportTmpl string

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct":   func(f float64) string { return fmtPct(f) },
	"num":   func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"money": func(f float64) string { return fmtMoney(f) },
	"date":  func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"datep": func(t *time.Time) string {
		if t == nil {
			return "not recovered"
		}
		return t.UTC().Format("2006-01-02")
	},
	"json": func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	},
}).Parse(reportTmpl))

// comparisonRow is one metric across the advisor, buy-and-hold and the
// baseline.
type comparisonRow struct {
	Name  string
	Cells []string
}

type reportData struct {
	S            Summary
	Columns      []string
	Rows         []comparisonRow
	Outcomes     []kv
	Rules        []kv
	Trips        []kv
	Levels       []levelRow
	EquitySVG    template.HTML
	DrawdownSVG  template.HTML
	EChartsJS    string
	EquityOpt    template.JS
	DrawdownOpt  template.JS
	EquityElemID string
	DrawElemID   string
}

type levelRow struct {
	Level  string
	Cycles int
	Share  string
}

type kv struct {
	Key   string
	Value int
}

func sortedKV(m map[string]int) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Value != out[j].Value {
			return out[i].Value > out[j].Value
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// WriteHTML writes the self-contained HTML report. The equity and drawdown
// charts are drawn twice: as inline SVG, readable offline and without
// JavaScript, and as interactive go-echarts charts whose echarts.min.js comes
// from the go-echarts CDN (the library is not in the Go module cache, so it
// cannot be embedded); without network the page shows the SVG alone.
func WriteHTML(w io.Writer, r Result) error {
	s := r.Summary
	cols := []string{"advisor: " + s.Run.Advisor, "buy and hold"}
	ms := []Metrics{s.Advisor, s.BuyHold}
	if s.Baseline != nil {
		cols = append(cols, "baseline")
		ms = append(ms, *s.Baseline)
	}
	row := func(name string, f func(Metrics) string) comparisonRow {
		r := comparisonRow{Name: name}
		for _, m := range ms {
			r.Cells = append(r.Cells, f(m))
		}
		return r
	}
	d := reportData{S: s, Columns: cols,
		Rows: []comparisonRow{
			row("Total return", func(m Metrics) string { return fmtPct(m.TotalReturn) }),
			row("CAGR", func(m Metrics) string { return fmtPct(m.CAGR) }),
			row("Sharpe (ann., rf 0)", func(m Metrics) string { return fmt.Sprintf("%.2f", m.Sharpe) }),
			row("Sortino (ann., target 0)", func(m Metrics) string { return fmt.Sprintf("%.2f", m.Sortino) }),
			row("Volatility (ann.)", func(m Metrics) string { return fmtPct(m.Volatility) }),
			row("Max drawdown", func(m Metrics) string { return fmtPct(-m.MaxDrawdown) }),
			row("Max drawdown dates", func(m Metrics) string {
				rec := "not recovered"
				if m.DrawdownRecovery != nil {
					rec = "recovered " + m.DrawdownRecovery.UTC().Format("2006-01-02")
				}
				return m.DrawdownPeak.UTC().Format("2006-01-02") + " → " + m.DrawdownTrough.UTC().Format("2006-01-02") + ", " + rec
			}),
			row("End equity", func(m Metrics) string { return fmtMoney(m.EndEquity) }),
			row("Exposure", func(m Metrics) string { return fmtPct(m.Exposure) }),
			row("Turnover (× mean equity)", func(m Metrics) string { return fmt.Sprintf("%.2f", m.Turnover) }),
			row("Fees paid", func(m Metrics) string { return m.FeesPaid.StringFixed(2) }),
			row("Fills", func(m Metrics) string { return fmt.Sprint(m.Fills) }),
			row("Round trips (won)", func(m Metrics) string { return fmt.Sprintf("%d (%d)", m.RoundTrips, m.Wins) }),
			row("Win rate", func(m Metrics) string {
				if m.RoundTrips == 0 {
					return "–"
				}
				return fmtPct(m.WinRate)
			}),
		},
		Outcomes: sortedKV(s.Decisions.ByOutcome),
		Rules:    sortedKV(s.Decisions.RejectionsByRule),
		Trips:    sortedKV(s.Breakers.Trips),
	}
	for _, l := range []string{"active", "reduce", "safe_mode"} {
		d.Levels = append(d.Levels, levelRow{Level: l, Cycles: s.Breakers.Levels[l], Share: fmtPct(s.Breakers.LevelShare[l])})
	}
	eq := []series{{Name: "advisor", Color: "#1f6feb", Times: times(r.Curve), Values: values(r.Curve)},
		{Name: "buy and hold", Color: "#8b949e", Times: times(r.BuyHold), Values: values(r.BuyHold)}}
	dd := []series{{Name: "advisor", Color: "#cf222e", Times: times(r.Curve), Values: DrawdownSeries(r.Curve)},
		{Name: "buy and hold", Color: "#8b949e", Times: times(r.BuyHold), Values: DrawdownSeries(r.BuyHold)}}
	if r.Baseline != nil {
		eq = append(eq, series{Name: "baseline", Color: "#2da44e", Times: times(r.Baseline), Values: values(r.Baseline)})
		dd = append(dd, series{Name: "baseline", Color: "#2da44e", Times: times(r.Baseline), Values: DrawdownSeries(r.Baseline)})
	}
	d.EquitySVG = svgChart("Equity ("+quoteOf(s.Run.Symbols)+")", eq, fmtMoney, true)
	for i := range dd {
		for j := range dd[i].Values {
			dd[i].Values[j] = -dd[i].Values[j]
		}
	}
	d.DrawdownSVG = svgChart("Drawdown from peak", dd, func(f float64) string { return fmtPct(f) }, false)

	eqChart, eqID, js := echartsLine("Equity", eq, false)
	ddChart, ddID, _ := echartsLine("Drawdown", dd, true)
	d.EquityOpt, d.DrawdownOpt = template.JS(eqChart), template.JS(ddChart)
	d.EquityElemID, d.DrawElemID, d.EChartsJS = eqID, ddID, js

	if err := reportTemplate.Execute(w, d); err != nil {
		return fmt.Errorf("backtest: report: %w", err)
	}
	return nil
}

// echartsLine builds a go-echarts line chart and returns its option JSON,
// its element id and the URL of echarts.min.js it would load.
func echartsLine(title string, lines []series, pct bool) (option, id, jsURL string) {
	line := charts.NewLine()
	id = "chart_" + strings.ToLower(title)
	line.SetGlobalOptions(
		charts.WithInitializationOpts(opts.Initialization{ChartID: id, Width: "100%", Height: "340px"}),
		charts.WithTitleOpts(opts.Title{Title: title}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "0", Right: "10"}),
		charts.WithDataZoomOpts(opts.DataZoom{Type: "inside"}, opts.DataZoom{Type: "slider"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "time"}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Scale: opts.Bool(!pct)}),
	)
	for _, s := range lines {
		ts, vs := reduce(s.Times, s.Values, 4000)
		data := make([]opts.LineData, len(ts))
		for i := range ts {
			v := vs[i]
			if pct {
				v = math.Round(v*10000) / 100 // percent, 2 decimals
			} else {
				v = math.Round(v*100) / 100
			}
			data[i] = opts.LineData{Value: []any{ts[i].UTC().Format("2006-01-02T15:04:05Z"), v}}
		}
		line.AddSeries(s.Name, data, charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(false)}),
			charts.WithItemStyleOpts(opts.ItemStyle{Color: s.Color}))
	}
	snip := line.RenderSnippet()
	jsURL = line.AssetsHost + "echarts.min.js"
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(snip.Option), ";")), id, jsURL
}

func times(c []Point) []time.Time {
	out := make([]time.Time, len(c))
	for i, p := range c {
		out[i] = p.Time
	}
	return out
}

func values(c []Point) []float64 {
	out := make([]float64, len(c))
	for i, p := range c {
		out[i] = p.Equity
	}
	return out
}

func quoteOf(symbols []string) string {
	for _, s := range symbols {
		if _, q, err := splitSymbol(s); err == nil {
			return q
		}
	}
	return "quote"
}

func fmtPct(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f%%", f*100)
}

func fmtMoney(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "–"
	}
	neg := f < 0
	s := fmt.Sprintf("%.2f", math.Abs(f))
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, ch := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	out := b.String() + "." + frac
	if neg {
		out = "-" + out
	}
	return out
}
