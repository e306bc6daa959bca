// Package prompts owns the prompt templates (embedded files), their
// rendering from a run's data, and a content hash per template recorded
// with every model call. Static content comes first (system prompt: role,
// rules, policy limits, response schema) and the run's data last (user
// prompt), so providers' prompt caching applies. Rendering is
// deterministic: the same data give byte-identical prompts. The package
// never calls the network, and its Data has no place for a secret.
package prompts

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/marketdata"
	"github.com/warden-trading/warden/schemas"
)

// Version names the template set; the hashes identify the exact bytes.
const Version = "v1"

// DefaultCandleRows is how many recent candles the user prompt lists.
const DefaultCandleRows = 12

//go:embed templates/system.tmpl templates/user.tmpl
var templateFS embed.FS

// Data is everything a prompt may show. It has no field for credentials:
// nothing secret can reach a prompt through it.
type Data struct {
	Now      time.Time // the decision time
	Mode     string    // "paper" or "live" ("unknown" when empty)
	SafeMode bool
	// RiskScale is the breakers' reduce factor on the policy's caps
	// (system.risk_scale); zero or 1 means full size.
	RiskScale decimal.Decimal
	Account   schemas.Account
	// Markets holds the exchange's precision and minimums per symbol
	// (optional per symbol).
	Markets map[string]schemas.Market
	// Snapshots are the validated market snapshots, one per symbol.
	Snapshots map[string]marketdata.Snapshot
	// Policy is the policy's rules in plain words (policy.Describe()).
	Policy []string
	// CandleRows is how many recent candles to list per symbol (default
	// DefaultCandleRows).
	CandleRows int
	// Exchange is the exchange's system status (normal, maintenance,
	// unknown; empty: not shown) and InMaintenance whether a configured
	// maintenance window is open.
	Exchange      string
	InMaintenance bool
	// Trailing describes the policy's trailing stop in words (empty: none).
	Trailing string
}

// Rendered is one rendered prompt with the hashes of the templates that
// made it.
type Rendered struct {
	System     string `json:"system"`
	User       string `json:"user"`
	SystemHash string `json:"system_hash"`
	UserHash   string `json:"user_hash"`
	Version    string `json:"version"`
}

type templates struct {
	system, user         *template.Template
	systemFast, userFast *fastExec // nil: run through text/template
	systemHash, userHash string
	schema               string

	// The system prompt depends only on the policy lines: the last one
	// rendered is kept, since it is the same at every cycle.
	mu         sync.Mutex
	lastPolicy []string
	lastSystem string

	// rows memoises formatted candle rows: consecutive cycles share all
	// but one of their rows. Bounded; reset when full.
	rowMu sync.Mutex
	rows  map[executor.Candle]string
}

const maxMemoRows = 4096

// candleTable writes one indented line per candle (open time UTC | open |
// high | low | close | volume).
func (t *templates) candleTable(cs []executor.Candle) string {
	t.rowMu.Lock()
	defer t.rowMu.Unlock()
	if t.rows == nil || len(t.rows) > maxMemoRows {
		t.rows = make(map[executor.Candle]string, 64)
	}
	var arr [32]string
	lines := arr[:0]
	n := 0
	for _, c := range cs {
		r, ok := t.rows[c]
		if !ok {
			r = candleRow(c)
			t.rows[c] = r
		}
		lines = append(lines, r)
		n += 3 + len(r)
	}
	b := make([]byte, 0, n)
	for i, r := range lines {
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, "  "...)
		b = append(b, r...)
	}
	return string(b)
}

func (t *templates) renderSystem(policy []string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lastPolicy != nil && slices.Equal(t.lastPolicy, policy) {
		return t.lastSystem, nil
	}
	var b strings.Builder
	b.Grow(8 << 10)
	if err := t.execute(&b, t.system, t.systemFast, systemView{Policy: policy, Schema: t.schema}); err != nil {
		return "", err
	}
	t.lastPolicy, t.lastSystem = slices.Clone(policy), b.String()
	return t.lastSystem, nil
}

var loadTemplates = sync.OnceValues(func() (*templates, error) {
	t := &templates{}
	var err error
	if t.system, t.systemHash, err = parseTemplate("templates/system.tmpl"); err != nil {
		return nil, err
	}
	if t.user, t.userHash, err = parseTemplate("templates/user.tmpl"); err != nil {
		return nil, err
	}
	t.systemFast, t.userFast = newFastExec(t.system), newFastExec(t.user)
	schema := schemas.ResponseSchema()
	if len(schema) == 0 {
		return nil, errors.New("prompts: the response schema is empty")
	}
	t.schema = strings.TrimSpace(string(schema))
	return t, nil
})

// execute renders with the fast executor when the template allows it.
func (t *templates) execute(b *strings.Builder, tm *template.Template, fast *fastExec, data any) error {
	if fast != nil {
		start := b.Len()
		err := fast.execute(b, data)
		if !errors.Is(err, errUnsupported) {
			return err
		}
		// A value the fast path does not print: redo it all the slow way.
		s := b.String()[:start]
		b.Reset()
		b.WriteString(s)
	}
	return tm.Execute(b, data)
}

func parseTemplate(name string) (*template.Template, string, error) {
	src, err := templateFS.ReadFile(name)
	if err != nil {
		return nil, "", fmt.Errorf("prompts: %w", err)
	}
	tm, err := template.New(name).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, "", fmt.Errorf("prompts: parse %s: %w", name, err)
	}
	return tm, Hash(src), nil
}

// Hash is the short content hash used for templates: the first 12 hex
// digits of the SHA-256 of b.
func Hash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// TemplateHashes returns the content hashes of the system and user
// templates.
func TemplateHashes() (system, user string, err error) {
	t, err := loadTemplates()
	if err != nil {
		return "", "", err
	}
	return t.systemHash, t.userHash, nil
}

// Render fills the templates with d. It refuses incomplete data (no
// decision time, no snapshot, no policy) rather than render a prompt that
// misleads the model.
func Render(d Data) (Rendered, error) {
	t, err := loadTemplates()
	if err != nil {
		return Rendered{}, err
	}
	if d.Now.IsZero() {
		return Rendered{}, errors.New("prompts: no decision time")
	}
	if len(d.Snapshots) == 0 {
		return Rendered{}, errors.New("prompts: no market snapshot")
	}
	if len(d.Policy) == 0 {
		return Rendered{}, errors.New("prompts: no policy limits to state")
	}
	for sym, s := range d.Snapshots {
		if s.Symbol != sym {
			return Rendered{}, fmt.Errorf("prompts: snapshot under %q is for %q", sym, s.Symbol)
		}
	}
	sys, err := t.renderSystem(d.Policy)
	if err != nil {
		return Rendered{}, fmt.Errorf("prompts: system: %w", err)
	}
	var usr strings.Builder
	usr.Grow(4 << 10)
	if err := t.execute(&usr, t.user, t.userFast, newUserView(t, d)); err != nil {
		return Rendered{}, fmt.Errorf("prompts: user: %w", err)
	}
	return Rendered{
		System:     sys,
		User:       usr.String(),
		SystemHash: t.systemHash,
		UserHash:   t.userHash,
		Version:    Version,
	}, nil
}

type systemView struct {
	Policy []string
	Schema string
}

type positionView struct {
	Symbol, Qty, AvgPrice, Value, PctOfEquity string
}

type marketView struct {
	Symbol, Timeframe, LastOpen                          string
	Bid, Ask, Last, QuoteVolume, TickerTime              string
	HasExchange                                          bool
	PriceStep, AmountStep, MinAmount, MinNotional        string
	Bars, Rows                                           int
	Table                                                string
	Close, Return1, Return24, SMA20, SMA50, EMA12, EMA26 string
	RSI14, ATR14, ATRPct, Volatility, VolumeRatio        string
	MarketLine                                           string // status and depth, when the state has them
}

type userView struct {
	Now, Mode                                       string
	SafeMode                                        bool
	Reduced                                         bool
	RiskScale                                       string
	Quote, Equity, Cash, PeakEquity, DayStartEquity string
	OpenOrders, OrdersLastMinute                    int
	Positions                                       []positionView
	Markets                                         []marketView
	SymbolList                                      string
	ExchangeLine, TrailingLine                      string
}

func newUserView(t *templates, d Data) userView {
	a := d.Account
	mode := d.Mode
	if mode == "" {
		mode = "unknown"
	}
	v := userView{
		Now: fmtTime(d.Now), Mode: mode, SafeMode: d.SafeMode,
		Reduced: d.RiskScale.IsPositive() && d.RiskScale.LessThan(decimal.NewFromInt(1)), RiskScale: d.RiskScale.String(),
		Quote: a.Quote, Equity: a.Equity.String(), Cash: a.Cash.String(),
		PeakEquity: a.PeakEquity.String(), DayStartEquity: a.DayStartEquity.String(),
		OpenOrders: a.OpenOrders, OrdersLastMinute: a.OrdersLastMinute,
	}
	if v.Quote == "" {
		v.Quote = "?"
	}
	for _, sym := range slices.Sorted(maps.Keys(a.Positions)) {
		p := a.Positions[sym]
		pv := positionView{Symbol: sym, Qty: p.Qty.String(), AvgPrice: p.AvgPrice.String()}
		if s, ok := d.Snapshots[sym]; ok && s.Ticker.Last.IsPositive() {
			val := p.Qty.Mul(s.Ticker.Last)
			pv.Value = val.StringFixed(2)
			if a.Equity.IsPositive() {
				pv.PctOfEquity = val.Mul(decimal.NewFromInt(100)).Div(a.Equity).StringFixed(2) + "%"
			} else {
				pv.PctOfEquity = "n/a"
			}
		}
		v.Positions = append(v.Positions, pv)
	}
	rows := d.CandleRows
	if rows <= 0 {
		rows = DefaultCandleRows
	}
	syms := slices.Sorted(maps.Keys(d.Snapshots))
	v.SymbolList = strings.Join(syms, ", ")
	v.ExchangeLine = exchangeLine(d.Exchange, d.InMaintenance)
	if d.Trailing != "" {
		v.TrailingLine = "Trailing stop: each cycle the protective stops are raised to " + d.Trailing + " (never lowered)."
	}
	for _, sym := range syms {
		s := d.Snapshots[sym]
		in := s.Indicators
		mv := marketView{
			Symbol: sym, Timeframe: s.Timeframe, LastOpen: fmtTime(in.LastOpen),
			Bid: s.Ticker.Bid.String(), Ask: s.Ticker.Ask.String(), Last: s.Ticker.Last.String(),
			QuoteVolume: s.Ticker.QuoteVolume24h.StringFixed(0), TickerTime: fmtTime(s.Ticker.Time),
			Bars:  in.Bars,
			Close: num(in.Close), Return1: pct(in.Return1, true), Return24: pct(in.Return24, true),
			SMA20: num(in.SMA20), SMA50: num(in.SMA50), EMA12: num(in.EMA12), EMA26: num(in.EMA26),
			RSI14: fixed(in.RSI14, 1), ATR14: num(in.ATR14), ATRPct: pct(in.ATR14/in.Close, false),
			Volatility: pct(in.Volatility, false), VolumeRatio: ratio(in.VolumeRatio),
		}
		if m, ok := d.Markets[sym]; ok {
			mv.MarketLine = marketLine(m, a.Quote)
			mv.HasExchange = true
			mv.PriceStep, mv.AmountStep = m.PriceStep.String(), m.AmountStep.String()
			mv.MinAmount, mv.MinNotional = m.MinAmount.String(), m.MinNotional.String()
		}
		cs := s.Candles[max(0, len(s.Candles)-rows):]
		mv.Rows = len(cs)
		mv.Table = t.candleTable(cs)
		v.Markets = append(v.Markets, mv)
	}
	return v
}

// exchangeLine says in words whether the exchange takes new orders.
func exchangeLine(status string, window bool) string {
	switch {
	case status == "":
		return ""
	case status == schemas.ExchangeMaintenance:
		return "Exchange: IN MAINTENANCE: no new order is accepted now; protective stops already on the exchange stay."
	case status == schemas.ExchangeUnknown:
		return "Exchange: status UNKNOWN (it could not be read): no new order is accepted now; protective stops stay."
	case window:
		return "Exchange: normal, but a configured maintenance window is open: no new order is accepted now."
	}
	return "Exchange: normal operation."
}

// marketLine is a market's status and the book's quote depth within 10
// bps of mid, in words; empty when the state has neither.
func marketLine(m schemas.Market, quote string) string {
	if m.Status == "" && m.Book == nil {
		return ""
	}
	line := "- market status: " + m.TradingStatus()
	if m.TradingStatus() != schemas.MarketTrading {
		line += " (not trading: no new order in this market)"
	}
	if b := m.Book; b != nil && len(b.Bids) > 0 && len(b.Asks) > 0 {
		bids, asks := bookDepth(b)
		line += fmt.Sprintf("; order book within 10 bps of mid: bids %s, asks %s %s (an order walking past it pays slippage)", bids.StringFixed(0), asks.StringFixed(0), quote)
	}
	return line
}

var (
	depthLo = decimal.NewFromFloat(0.999)
	depthHi = decimal.NewFromFloat(1.001)
)

// bookDepth is the quote value of the bids at or above mid×0.999 and of
// the asks at or below mid×1.001, from the best level on.
func bookDepth(b *schemas.Book) (bids, asks decimal.Decimal) {
	mid := b.Bids[0].Price.Add(b.Asks[0].Price).Div(decimal.NewFromInt(2))
	return schemas.NotionalWithin(b.Bids, mid.Mul(depthLo), true), schemas.NotionalWithin(b.Asks, mid.Mul(depthHi), false)
}

func candleRow(c executor.Candle) string { return string(appendRow(nil, c)) }

func appendRow(b []byte, c executor.Candle) []byte {
	b = c.Time.UTC().AppendFormat(b, "2006-01-02 15:04")
	for _, x := range [...]float64{c.Open, c.High, c.Low, c.Close, c.Volume} {
		b = append(b, " | "...)
		b = appendNum(b, x)
	}
	return b
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}

func bad(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }

// num formats a price-like value with a fixed number of decimals chosen by
// its magnitude, so output is stable and readable across assets.
func num(x float64) string { return string(appendNum(nil, x)) }

func appendNum(b []byte, x float64) []byte {
	if bad(x) {
		return append(b, "n/a"...)
	}
	a := math.Abs(x)
	prec := 8
	switch {
	case a >= 1000:
		prec = 2
	case a >= 1:
		prec = 4
	case a >= 0.01:
		prec = 6
	}
	return strconv.AppendFloat(b, x, 'f', prec, 64)
}

func fixed(x float64, prec int) string {
	if bad(x) {
		return "n/a"
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// pct formats a fraction as a percentage with two decimals.
func pct(x float64, signed bool) string {
	if bad(x) {
		return "n/a"
	}
	s := strconv.FormatFloat(100*x, 'f', 2, 64)
	if signed && x >= 0 {
		s = "+" + s
	}
	return s + "%"
}

func ratio(x float64) string {
	if bad(x) {
		return "n/a"
	}
	return strconv.FormatFloat(x, 'f', 2, 64) + "x"
}
