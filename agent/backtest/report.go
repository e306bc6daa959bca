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
// ever added under one version. v2: cagr is null under 30 days; regimes
// average their months (mean_return, positive_share) instead of
// compounding months that do not follow each other; skipped and failed
// cycles by reason; per-symbol breakdown.
const SummarySchema = "warden.backtest.summary/v2"

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
	// Model is how the advisor's answers held up (advisor errors,
	// no-consensus rate) and the prompt form it was given (issue 16).
	Model ModelStats `json:"model"`
	// Symbols breaks the advisor's run down per symbol.
	Symbols []SymbolStats `json:"symbols"`
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
	// Fills are the paper exchange's trades of the advisor's run, Trips
	// the round trips they make.
	Fills     []executor.Trade
	Trips     []RoundTrip
	Decisions []Decision
}

// WriteJSON writes the summary as indented JSON.
func (s Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// ReportFiles are the files WriteReport writes into its directory.
var ReportFiles = []string{"report.html", "summary.json", "equity.csv", "trades.csv"}

// WriteReport writes dir/report.html, dir/summary.json, dir/equity.csv
// (the curves mark by mark) and dir/trades.csv (the round trips),
// creating dir. Everything is rendered before the first file is written.
func WriteReport(dir string, r Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("backtest: report dir: %w", err)
	}
	var js, page, equity, trades bytes.Buffer
	if err := r.Summary.WriteJSON(&js); err != nil {
		return fmt.Errorf("backtest: summary: %w", err)
	}
	if err := WriteHTML(&page, r); err != nil {
		return err
	}
	if err := WriteEquityCSV(&equity, r); err != nil {
		return err
	}
	if err := WriteTradesCSV(&trades, r.Trips); err != nil {
		return fmt.Errorf("backtest: trades: %w", err)
	}
	for i, b := range []*bytes.Buffer{&page, &js, &equity, &trades} {
		if err := os.WriteFile(filepath.Join(dir, ReportFiles[i]), b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("backtest: %w", err)
		}
	}
	return nil
}

//go:embed report.html.tmpl
var reportTmpl string

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(f float64) string { return fmtPct(f) },
	"dd":  func(f float64) string { return fmtPct(-f) },
	"regimeTable": func(unit, per, who string, rows []RegimeResult) regimeTable {
		return regimeTable{Unit: unit, Per: per, Who: who, Rows: rows}
	},
	"pctp":  func(f *float64) string { return fmtPctPtr(f) },
	"num":   func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"money": func(f float64) string { return fmtMoney(f) },
	"dec":   func(d decimal.Decimal) string { return fmtMoney(d.InexactFloat64()) },
	"date":  func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"datep": func(t *time.Time) string {
		if t == nil {
			return "not recovered"
		}
		return t.UTC().Format("2006-01-02")
	},
}).Parse(reportTmpl))

// ComparisonRow is one metric across the advisor, buy-and-hold and the
// baseline. Wide rows (dates) are left out of narrow tables.
type ComparisonRow struct {
	Name  string
	Cells []string
	Wide  bool
}

// regimeTable is one regime table of the report: Unit names its windows
// ("months"), Per one of them ("month"), Who the strategy.
type regimeTable struct {
	Unit, Per, Who string
	Rows           []RegimeResult
}

type reportData struct {
	S        Summary
	Columns  []string
	Rows     []ComparisonRow
	Outcomes []kv
	Rules    []kv
	Trips    []kv
	Levels   []levelRow
	Charts   []template.HTML
	// Trades is the trade list, newest last; TradesShown how many of
	// Trades the page lists (all of them up to maxTradeRows).
	Trades      []tradeRow
	TradesTotal int
	WF          *wfTable
	EChartsJS   string
	ECharts     []echart
}

type echart struct {
	ID     string
	Option template.JS
}

type tradeRow struct {
	Symbol, Opened, Closed, Hold, Qty, Entry, Exit, Fees, PnL, Return string
	Win, Open                                                         bool
}

// maxTradeRows bounds the trade list in the page; trades.csv has them all.
const maxTradeRows = 2000

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

// ComparisonRows are the advisor against buy-and-hold (and the baseline)
// as text, one column each: the report's first table and the terminal's.
func ComparisonRows(s Summary) (cols []string, rows []ComparisonRow) {
	cols = []string{s.Run.Advisor, "buy and hold"}
	ms := []Metrics{s.Advisor, s.BuyHold}
	if s.Baseline != nil {
		cols = append(cols, "baseline")
		ms = append(ms, *s.Baseline)
	}
	row := func(name string, f func(Metrics) string) ComparisonRow {
		r := ComparisonRow{Name: name}
		for _, m := range ms {
			r.Cells = append(r.Cells, f(m))
		}
		return r
	}
	wide := func(r ComparisonRow) ComparisonRow { r.Wide = true; return r }
	rows = []ComparisonRow{
		row("Total return", func(m Metrics) string { return fmtPct(m.TotalReturn) }),
		row("CAGR", func(m Metrics) string { return fmtPctPtr(m.CAGR) }),
		row("Sharpe (ann., rf 0)", func(m Metrics) string { return fmt.Sprintf("%.2f", m.Sharpe) }),
		row("Sortino (ann., target 0)", func(m Metrics) string { return fmt.Sprintf("%.2f", m.Sortino) }),
		row("Volatility (ann.)", func(m Metrics) string { return fmtPct(m.Volatility) }),
		row("Max drawdown", func(m Metrics) string { return fmtPct(-m.MaxDrawdown) }),
		wide(row("Max drawdown dates", func(m Metrics) string {
			if m.MaxDrawdown == 0 {
				return "–"
			}
			rec := "not recovered"
			if m.DrawdownRecovery != nil {
				rec = "recovered " + m.DrawdownRecovery.UTC().Format("2006-01-02")
			}
			return m.DrawdownPeak.UTC().Format("2006-01-02") + " → " + m.DrawdownTrough.UTC().Format("2006-01-02") + ", " + rec
		})),
		row("End equity", func(m Metrics) string { return fmtMoney(m.EndEquity) }),
		row("Exposure", func(m Metrics) string { return fmtPct(m.Exposure) }),
		row("Turnover (× mean equity)", func(m Metrics) string { return fmt.Sprintf("%.2f", m.Turnover) }),
		row("Fees paid", func(m Metrics) string { return fmtMoney(m.FeesPaid.InexactFloat64()) }),
		row("Fills", func(m Metrics) string { return fmt.Sprint(m.Fills) }),
		row("Round trips (won)", func(m Metrics) string { return fmt.Sprintf("%d (%d)", m.RoundTrips, m.Wins) }),
		row("Win rate", func(m Metrics) string {
			if m.RoundTrips == 0 {
				return "–"
			}
			return fmtPct(m.WinRate)
		}),
	}
	return cols, rows
}

// Chart colours: one per curve, the same in every chart.
const (
	colorAdvisor  = "#1f6feb"
	colorBuyHold  = "#8b949e"
	colorBaseline = "#2da44e"
)

// WriteHTML writes the self-contained HTML report. The charts are inline
// SVG, readable offline and without JavaScript: the advisor's equity on
// its own axis, the growth of 100 of the advisor, buy-and-hold and the
// baseline on one (log) axis, and the drawdowns. When the page can load
// echarts.min.js from the go-echarts CDN (the library is not in the Go
// module cache, so it cannot be embedded), interactive charts replace
// them.
func WriteHTML(w io.Writer, r Result) error {
	s := r.Summary
	cols, rows := ComparisonRows(s)
	cols[0] = "advisor: " + cols[0]
	d := reportData{S: s, Columns: cols, Rows: rows,
		Outcomes: sortedKV(s.Decisions.ByOutcome),
		Rules:    sortedKV(s.Decisions.RejectionsByRule),
		Trips:    sortedKV(s.Breakers.Trips),
	}
	for _, l := range []string{"active", "reduce", "safe_mode"} {
		d.Levels = append(d.Levels, levelRow{Level: l, Cycles: s.Breakers.Levels[l], Share: fmtPct(s.Breakers.LevelShare[l])})
	}
	adv := "advisor (" + s.Run.Advisor + ")"
	growth := []series{{Name: adv, Color: colorAdvisor, Times: times(r.Curve), Values: normalise(r.Curve)}}
	dd := []series{{Name: adv, Color: colorAdvisor, Times: times(r.Curve), Values: negate(DrawdownSeries(r.Curve))}}
	if r.Baseline != nil {
		growth = append(growth, series{Name: "baseline", Color: colorBaseline, Times: times(r.Baseline), Values: normalise(r.Baseline)})
		dd = append(dd, series{Name: "baseline", Color: colorBaseline, Times: times(r.Baseline), Values: negate(DrawdownSeries(r.Baseline))})
	}
	growth = append(growth, series{Name: "buy and hold", Color: colorBuyHold, Times: times(r.BuyHold), Values: normalise(r.BuyHold)})
	dd = append(dd, series{Name: "buy and hold", Color: colorBuyHold, Times: times(r.BuyHold), Values: negate(DrawdownSeries(r.BuyHold))})
	own := []series{{Name: adv, Color: colorAdvisor, Times: times(r.Curve), Values: values(r.Curve)}}
	specs := []chartSpec{
		{Title: "Advisor equity (" + quoteOf(s.Run.Symbols) + ")", Lines: own, Axis: axisMoney},
		{Title: "Growth of 100, all curves", Lines: growth, Axis: axisIndex, Log: true},
		{Title: "Drawdown from peak", Lines: dd, Axis: axisPercent, ZeroTop: true},
	}
	d.Charts = svgCharts(specs)
	for i, sp := range specs {
		opt, js := echartsLine(sp)
		d.ECharts = append(d.ECharts, echart{ID: fmt.Sprintf("echart_%d", i), Option: template.JS(opt)})
		d.EChartsJS = js
	}

	d.TradesTotal = len(r.Trips)
	trips := r.Trips
	if len(trips) > maxTradeRows {
		trips = trips[len(trips)-maxTradeRows:]
	}
	for _, t := range trips {
		row := tradeRow{Symbol: t.Symbol, Opened: t.Opened.UTC().Format("2006-01-02 15:04"),
			Qty: t.Quantity.String(), Entry: fmtPrice(t.EntryPrice), Exit: fmtPrice(t.ExitPrice),
			Fees: fmtMoney(t.Fees.InexactFloat64()), PnL: fmtMoney(t.PnL.InexactFloat64()), Return: fmtPct(t.Return()),
			Win: t.PnL.IsPositive(), Open: t.Open}
		if t.Open {
			row.Closed, row.Hold, row.Exit, row.PnL, row.Return = "open", "–", "–", "–", "–"
		} else {
			row.Closed, row.Hold = t.Closed.UTC().Format("2006-01-02 15:04"), fmtHold(t.Closed.Sub(t.Opened))
		}
		d.Trades = append(d.Trades, row)
	}
	if wf := s.WalkForward; wf != nil {
		d.WF = newWFTable(wf)
	}
	if err := reportTemplate.Execute(w, d); err != nil {
		return fmt.Errorf("backtest: report: %w", err)
	}
	return nil
}

func negate(vs []float64) []float64 {
	for i := range vs {
		vs[i] = -vs[i]
	}
	return vs
}

// echartsLine builds the interactive twin of an SVG chart with go-echarts
// and returns its option JSON and the URL of echarts.min.js it loads.
func echartsLine(sp chartSpec) (option, jsURL string) {
	line := charts.NewLine()
	yType := "value"
	if sp.Log {
		yType = "log"
		for _, s := range sp.Lines {
			for _, v := range s.Values {
				if !(v > 0) {
					yType = "value"
				}
			}
		}
	}
	line.SetGlobalOptions(
		charts.WithTitleOpts(opts.Title{Title: sp.Title}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "0", Right: "10"}),
		charts.WithDataZoomOpts(opts.DataZoom{Type: "inside"}, opts.DataZoom{Type: "slider"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "time"}),
		charts.WithYAxisOpts(opts.YAxis{Type: yType, Scale: opts.Bool(sp.Axis != axisPercent)}),
	)
	for _, s := range sp.Lines {
		ts, vs := reduce(s.Times, s.Values, 4000)
		data := make([]opts.LineData, len(ts))
		for i := range ts {
			v := vs[i]
			if sp.Axis == axisPercent {
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
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(snip.Option), ";")), jsURL
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

func fmtPctPtr(f *float64) string {
	if f == nil {
		return "n/a"
	}
	return fmtPct(*f)
}

// fmtPrice shows a price with its significant decimals.
func fmtPrice(d decimal.Decimal) string {
	if d.IsZero() {
		return "–"
	}
	f := d.InexactFloat64()
	switch {
	case f >= 1000:
		return groupThousands(d.StringFixed(2))
	case f >= 1:
		return d.StringFixed(4)
	}
	return d.StringFixed(8)
}

// fmtHold is a holding time in days and hours.
func fmtHold(d time.Duration) string {
	h := int(d.Round(time.Hour).Hours())
	if h < 24 {
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dd %dh", h/24, h%24)
}

func fmtPct(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "–"
	}
	s := fmt.Sprintf("%.2f%%", f*100)
	if s == "-0.00%" {
		return "0.00%" // a loss too small to show is no loss
	}
	return s
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
