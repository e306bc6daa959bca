// Package baseline is Warden's deterministic rules advisor: trend following
// with an ATR-based stop. It writes the same rationale and JSON a model
// must, so it runs through the same schema, policy and limits. It is the
// offline default and the yardstick a model must beat. The same request
// always gives byte-identical output.
package baseline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/schemas"
)

// Model is the name the baseline reports as its model.
const Model = "baseline-trend-v1"

// Params are the rules' knobs; walk-forward calibrates them. With the
// default periods the advisor reads the snapshot's precomputed indicators;
// other periods are computed from the snapshot's candles, so they must fit
// in market.BuildOptions.Keep candles (default 100).
type Params struct {
	FastEMA  int // fast EMA period (12)
	SlowEMA  int // slow EMA period (26)
	TrendSMA int // trend filter: close above this SMA (50)
	RSI      int // RSI period (14)
	ATR      int // ATR period (14)

	RSIMaxBuy     float64 // no buy at or above this RSI: overbought (70)
	StopATR       float64 // stop loss this many ATRs below entry (2)
	TakeProfitATR float64 // take profit this many ATRs above entry (3)
	MaxStopPct    float64 // the stop is never further than this % below entry (8)
	RiskPct       float64 // % of equity lost if the stop is hit (0.5)
	MaxSizePct    float64 // cap on a buy's size_pct (1.5)
	MinConfidence float64 // no buy below this confidence (0.55)
}

// DefaultParams are the defaults: EMA 12/26, SMA 50, RSI 14 < 70, stop
// 2×ATR14 (at most 8 %), take profit 3×ATR14, risk 0.5 % of equity, size at
// most 1.5 % of equity (inside the default policy's 2 % position cap),
// minimum confidence 0.55 (the default policy's buy threshold).
func DefaultParams() Params {
	return Params{
		FastEMA: 12, SlowEMA: 26, TrendSMA: 50, RSI: 14, ATR: 14,
		RSIMaxBuy: 70, StopATR: 2, TakeProfitATR: 3, MaxStopPct: 8,
		RiskPct: 0.5, MaxSizePct: 1.5, MinConfidence: 0.55,
	}
}

// Validate reports unusable parameters.
func (p Params) Validate() error {
	var errs []error
	if p.FastEMA < 1 || p.SlowEMA <= p.FastEMA {
		errs = append(errs, fmt.Errorf("EMA periods %d/%d: want 1 ≤ fast < slow", p.FastEMA, p.SlowEMA))
	}
	if p.TrendSMA < 1 || p.RSI < 1 || p.ATR < 1 {
		errs = append(errs, fmt.Errorf("periods SMA %d RSI %d ATR %d: want ≥ 1", p.TrendSMA, p.RSI, p.ATR))
	}
	if !(p.StopATR > 0) || !(p.TakeProfitATR > 0) || !(p.MaxStopPct > 0 && p.MaxStopPct < 100) {
		errs = append(errs, fmt.Errorf("stop %g×ATR, take profit %g×ATR, max stop %g%%: want > 0 (max stop < 100)", p.StopATR, p.TakeProfitATR, p.MaxStopPct))
	}
	if !(p.RiskPct > 0) || !(p.MaxSizePct > 0 && p.MaxSizePct <= 100) {
		errs = append(errs, fmt.Errorf("risk %g%%, max size %g%%: want > 0 (max size ≤ 100)", p.RiskPct, p.MaxSizePct))
	}
	if !(p.RSIMaxBuy > 0 && p.RSIMaxBuy <= 100) || !(p.MinConfidence >= 0 && p.MinConfidence <= 1) {
		errs = append(errs, fmt.Errorf("RSI max %g, min confidence %g: want (0,100] and [0,1]", p.RSIMaxBuy, p.MinConfidence))
	}
	return errors.Join(errs...)
}

// usesSnapshotIndicators reports whether the snapshot's precomputed
// indicators are the ones these parameters ask for.
func (p Params) usesSnapshotIndicators() bool {
	return p.FastEMA == market.PeriodEMAFast && p.SlowEMA == market.PeriodEMASlow &&
		p.TrendSMA == market.PeriodSMASlow && p.RSI == market.PeriodRSI && p.ATR == market.PeriodATR
}

// Advisor is the baseline advisor. It is safe for concurrent use.
type Advisor struct {
	p Params
}

var _ advisor.Advisor = (*Advisor)(nil)

// New returns a baseline advisor with p.
func New(p Params) (*Advisor, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	return &Advisor{p: p}, nil
}

// Params returns the advisor's parameters.
func (a *Advisor) Params() Params { return a.p }

func (a *Advisor) Name() string { return "baseline" }

// Model names the rules and their version, recorded with every run.
func (a *Advisor) Model() string { return Model }

// UsesPrompt is false: the baseline answers from the snapshots and the
// state, never from the rendered prompt (the agent still renders it when
// the audit log keeps it).
func (a *Advisor) UsesPrompt() bool { return false }

// maxRecommendations is the schema's maxItems.
const maxRecommendations = 20

// Advise writes one recommendation per snapshot, symbols sorted.
func (a *Advisor) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	rep := advisor.Reply{Advisor: a.Name(), Model: Model}
	if err := ctx.Err(); err != nil {
		return rep, &advisor.Error{Kind: advisor.KindCanceled, Advisor: a.Name(), Msg: "context done", Err: err}
	}
	if n := len(req.Snapshots); n == 0 || n > maxRecommendations {
		return rep, &advisor.Error{Kind: advisor.KindInput, Advisor: a.Name(), Msg: fmt.Sprintf("%d snapshots; want 1 to %d", n, maxRecommendations)}
	}
	var symsBuf [maxRecommendations]string
	syms := symsBuf[:0]
	for s := range req.Snapshots {
		syms = append(syms, s)
	}
	sort.Strings(syms)
	var recsBuf [maxRecommendations]rec
	recs := recsBuf[:0]
	for _, s := range syms {
		r, err := a.decide(s, req.Snapshots[s], req.State)
		if err != nil {
			return rep, &advisor.Error{Kind: advisor.KindInput, Advisor: a.Name(), Msg: s, Err: err}
		}
		recs = append(recs, r)
	}
	rep.Raw = a.marshal(recs)
	return rep, nil
}

// rec is one decision before it is written as JSON.
type rec struct {
	symbol     string
	action     schemas.Action
	confidence float64
	sizePct    decimal.Decimal
	limit      *decimal.Decimal
	stop, tp   *decimal.Decimal
	reason     string
	summary    string // for the rationale
}

type signals struct {
	fast, slow, sma, rsi, atr, close float64
}

func (a *Advisor) signals(s market.Snapshot) signals {
	in := s.Indicators
	if a.p.usesSnapshotIndicators() && in.Bars > 0 {
		return signals{fast: in.EMA12, slow: in.EMA26, sma: in.SMA50, rsi: in.RSI14, atr: in.ATR14, close: in.Close}
	}
	var buf [512]float64
	closes := buf[:0]
	if len(s.Candles) > len(buf) {
		closes = make([]float64, 0, len(s.Candles))
	}
	for _, c := range s.Candles {
		closes = append(closes, c.Close)
	}
	last := math.NaN()
	if len(closes) > 0 {
		last = closes[len(closes)-1]
	}
	return signals{
		fast: market.EMA(closes, a.p.FastEMA), slow: market.EMA(closes, a.p.SlowEMA),
		sma: market.SMA(closes, a.p.TrendSMA), rsi: market.RSI(closes, a.p.RSI),
		atr: market.ATR(s.Candles, a.p.ATR), close: last,
	}
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

var hundred = decimal.NewFromInt(100)

func hold(sym, reason string) rec {
	return rec{symbol: sym, action: schemas.ActionHold, confidence: 0.5, sizePct: decimal.Zero, reason: reason, summary: "hold"}
}

func (a *Advisor) decide(sym string, s market.Snapshot, st schemas.State) (rec, error) {
	if s.Symbol != "" && s.Symbol != sym {
		return rec{}, fmt.Errorf("snapshot under %q is for %q", sym, s.Symbol)
	}
	p := a.p
	sg := a.signals(s)
	if !finite(sg.fast, sg.slow, sg.sma, sg.rsi, sg.atr, sg.close) || sg.atr <= 0 || sg.close <= 0 {
		return hold(sym, "Not enough closed candles for the indicators; no trade."), nil
	}
	tk := s.Ticker
	if !tk.Bid.IsPositive() || !tk.Ask.IsPositive() || tk.Bid.GreaterThan(tk.Ask) {
		return hold(sym, "No usable bid and ask; no trade."), nil
	}
	equity := st.Account.Equity
	if !equity.IsPositive() {
		return hold(sym, "Account equity is not positive; no trade."), nil
	}
	mk := st.Markets[sym]
	pos := st.Account.Positions[sym]
	held := pos.Qty.IsPositive() && pos.Qty.Mul(tk.Bid).GreaterThanOrEqual(mk.MinNotional)
	if mk.MinNotional.IsZero() {
		held = pos.Qty.IsPositive()
	}
	up := sg.fast > sg.slow && sg.close > sg.sma
	strength := (sg.fast - sg.slow) / sg.atr // trend in ATRs
	trend := a.trendText(sg)

	if held {
		if up {
			r := hold(sym, trend+": uptrend intact, keep the position.")
			r.summary = "hold (position, uptrend intact)"
			return r, nil
		}
		price := roundStep(tk.Bid, mk.PriceStep, true)
		size := pos.Qty.Mul(price).Mul(hundred).Div(equity).Truncate(6)
		if !size.IsPositive() {
			return hold(sym, trend+": trend broken, but the position is too small to sell."), nil
		}
		if size.GreaterThan(hundred) {
			size = hundred
		}
		return rec{
			symbol: sym, action: schemas.ActionSell, confidence: clamp(0.5+0.15*math.Abs(strength), 0.55, 0.9),
			sizePct: size, limit: &price,
			reason:  trend + ": trend broken, sell the position at the bid " + price.String() + ".",
			summary: "sell (trend broken)",
		}, nil
	}
	switch {
	case st.SafeMode:
		return hold(sym, trend+": safe mode, no new positions."), nil
	case !up:
		return hold(sym, trend+": no uptrend, stay out."), nil
	case sg.rsi >= p.RSIMaxBuy:
		return hold(sym, trend+": uptrend but overbought, wait."), nil
	}
	conf := clamp(0.5+0.15*strength, 0.5, 0.9)
	if conf < p.MinConfidence {
		return hold(sym, trend+": uptrend too weak ("+strconv.FormatFloat(strength, 'f', 2, 64)+" ATR between the EMAs)."), nil
	}
	entry := roundStep(tk.Ask, mk.PriceStep, false)
	entryF := entry.InexactFloat64()
	stopDist := math.Min(p.StopATR*sg.atr, entryF*p.MaxStopPct/100)
	stop := roundStep(decimal.NewFromFloat(entryF-stopDist), mk.PriceStep, false)
	if entry.Sub(stop).Mul(hundred).GreaterThan(entry.Mul(decimal.NewFromFloat(p.MaxStopPct))) {
		// Rounding down pushed the stop past the cap: round up instead.
		stop = roundStep(decimal.NewFromFloat(entryF-stopDist), mk.PriceStep, true)
	}
	tp := roundStep(decimal.NewFromFloat(entryF+p.TakeProfitATR*sg.atr), mk.PriceStep, true)
	if !stop.IsPositive() || !stop.LessThan(entry) {
		return hold(sym, trend+": no valid stop below the entry."), nil
	}
	sizeF := math.Min(p.RiskPct*entryF/entry.Sub(stop).InexactFloat64(), p.MaxSizePct)
	size := decimal.NewFromFloat(sizeF).Truncate(2)
	notional := equity.Mul(size).Div(hundred)
	if !size.IsPositive() || notional.LessThan(mk.MinNotional) {
		return hold(sym, trend+": uptrend, but the sized order is below the exchange minimum."), nil
	}
	return rec{
		symbol: sym, action: schemas.ActionBuy, confidence: conf, sizePct: size,
		limit: &entry, stop: &stop, tp: &tp,
		reason: trend + ": uptrend; buy at the ask " + entry.String() + ", stop " + stop.String() +
			" (" + strconv.FormatFloat(p.StopATR, 'f', -1, 64) + "×ATR" + strconv.Itoa(p.ATR) + " " + fnum(sg.atr) +
			"), take profit " + tp.String() + ", size " + size.String() + "% of equity risking about " +
			strconv.FormatFloat(p.RiskPct, 'f', -1, 64) + "% at the stop.",
		summary: "buy (uptrend)",
	}, nil
}

func clamp(x, lo, hi float64) float64 {
	x = math.Round(x*100) / 100
	return math.Max(lo, math.Min(hi, x))
}

func cmp(a, b float64) string {
	switch {
	case a > b:
		return ">"
	case a < b:
		return "<"
	}
	return "="
}

func above(a, b float64) string {
	if a > b {
		return "above"
	}
	return "not above"
}

// trendText describes the signals, e.g. "EMA12 100.5 > EMA26 99.1, close
// 101.2 above SMA50 98.0, RSI14 55.0". Built by appending: it runs at every
// decision of a backtest.
func (a *Advisor) trendText(sg signals) string {
	p := &a.p
	b := make([]byte, 0, 128)
	b = append(b, "EMA"...)
	b = strconv.AppendInt(b, int64(p.FastEMA), 10)
	b = append(b, ' ')
	b = appendNum(b, sg.fast)
	b = append(b, ' ')
	b = append(b, cmp(sg.fast, sg.slow)...)
	b = append(b, " EMA"...)
	b = strconv.AppendInt(b, int64(p.SlowEMA), 10)
	b = append(b, ' ')
	b = appendNum(b, sg.slow)
	b = append(b, ", close "...)
	b = appendNum(b, sg.close)
	b = append(b, ' ')
	b = append(b, above(sg.close, sg.sma)...)
	b = append(b, " SMA"...)
	b = strconv.AppendInt(b, int64(p.TrendSMA), 10)
	b = append(b, ' ')
	b = appendNum(b, sg.sma)
	b = append(b, ", RSI"...)
	b = strconv.AppendInt(b, int64(p.RSI), 10)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, sg.rsi, 'f', 1, 64)
	return string(b)
}

func appendNum(b []byte, x float64) []byte {
	return strconv.AppendFloat(b, x, 'f', numPrec(x), 64)
}

func numPrec(x float64) int {
	a := math.Abs(x)
	switch {
	case a >= 1000:
		return 2
	case a >= 1:
		return 4
	case a >= 0.01:
		return 6
	}
	return 8
}

// fnum formats an indicator value with decimals by magnitude.
func fnum(x float64) string {
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
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// roundStep rounds x to a multiple of step (up or down); with no step it
// keeps 8 significant digits' worth of decimals by magnitude.
func roundStep(x, step decimal.Decimal, up bool) decimal.Decimal {
	if step.IsPositive() {
		q := x.Div(step)
		if up {
			q = q.Ceil()
		} else {
			q = q.Floor()
		}
		return q.Mul(step)
	}
	places := int32(8)
	switch a := x.Abs(); {
	case a.GreaterThanOrEqual(decimal.NewFromInt(1000)):
		places = 2
	case a.GreaterThanOrEqual(decimal.NewFromInt(1)):
		places = 4
	}
	if up {
		return x.RoundCeil(places)
	}
	return x.RoundFloor(places)
}

// marshal writes the response by hand (the fast path): fields in schema
// order, numbers as JSON numbers.
func (a *Advisor) marshal(recs []rec) []byte {
	b := make([]byte, 0, 512+400*len(recs))
	b = append(b, `{"rationale":`...)
	var rat []byte
	rat = append(rat, "Baseline trend-following rules: buy when EMA"...)
	rat = strconv.AppendInt(rat, int64(a.p.FastEMA), 10)
	rat = append(rat, " is above EMA"...)
	rat = strconv.AppendInt(rat, int64(a.p.SlowEMA), 10)
	rat = append(rat, " and the close above SMA"...)
	rat = strconv.AppendInt(rat, int64(a.p.TrendSMA), 10)
	rat = append(rat, " with RSI"...)
	rat = strconv.AppendInt(rat, int64(a.p.RSI), 10)
	rat = append(rat, " below "...)
	rat = strconv.AppendFloat(rat, a.p.RSIMaxBuy, 'f', -1, 64)
	rat = append(rat, "; stop "...)
	rat = strconv.AppendFloat(rat, a.p.StopATR, 'f', -1, 64)
	rat = append(rat, "×ATR, take profit "...)
	rat = strconv.AppendFloat(rat, a.p.TakeProfitATR, 'f', -1, 64)
	rat = append(rat, "×ATR; sell a held position when the trend breaks. Today: "...)
	for i, r := range recs {
		if i > 0 {
			rat = append(rat, "; "...)
		}
		rat = append(rat, r.symbol...)
		rat = append(rat, ' ')
		rat = append(rat, r.summary...)
	}
	rat = append(rat, '.')
	b = appendString(b, string(rat))
	b = append(b, `,"recommendations":[`...)
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"symbol":`...)
		b = appendString(b, r.symbol)
		b = append(b, `,"action":"`...)
		b = append(b, r.action...)
		b = append(b, `","confidence":`...)
		b = strconv.AppendFloat(b, r.confidence, 'f', -1, 64)
		b = append(b, `,"size_pct":`...)
		b = append(b, r.sizePct.String()...)
		b = append(b, `,"order_type":"limit","limit_price":`...)
		b = appendDec(b, r.limit)
		b = append(b, `,"stop_loss":`...)
		b = appendDec(b, r.stop)
		b = append(b, `,"take_profit":`...)
		b = appendDec(b, r.tp)
		b = append(b, `,"reason":`...)
		b = appendString(b, r.reason)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func appendDec(b []byte, d *decimal.Decimal) []byte {
	if d == nil {
		return append(b, "null"...)
	}
	return append(b, d.String()...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
