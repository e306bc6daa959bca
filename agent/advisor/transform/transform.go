// Package transform wraps an advisor so that the model cannot tell the
// period from the prompt: absolute dates are removed (candles are "t-1",
// "t-2", ...) and each market's prices are put on another scale; the
// model's prices are mapped back, exactly in decimal, before the answer
// goes on to validation.
//
// Two scales: Anonymise rebases each market to 100 at the open of the
// first candle shown (advisor.anonymise); Perturb multiplies prices by a
// random factor (the stability probe, consensus member kind perturbed).
// Both pick the factor f so that mapping back (shown price × f) is exact
// decimal arithmetic; an answer that still cannot be mapped back exactly
// (a result beyond the decimal precision kept, a price for a market the
// state has but the prompt did not show) is a failed call, never a guess.
// A symbol outside the prompt and the state (an invented one) is passed
// on unscaled for the policy to reject, so it does not void the answer.
package transform

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/prompts"
	"github.com/warden-trading/warden/schemas"
)

// Mode is how prices are rescaled.
type Mode string

const (
	// Anonymise rebases each market to 100 at the first candle shown.
	Anonymise Mode = "anonymise"
	// Perturb rescales all prices by one random factor per call.
	Perturb Mode = "perturb"
)

// AnonymisedNote describes anonymised prompts, for reports.
const AnonymisedNote = "anonymised (no dates: candles t-1, t-2, ...; prices rebased to 100 at the first candle shown, answers mapped back exactly)"

// Factors are the back factors a perturbation draws from: products of
// powers of 2 and 5, so a price times the factor and a price divided by
// it are both finite decimals. 1 is left out: it would not perturb.
var Factors = []string{"0.25", "0.32", "0.4", "0.5", "0.625", "0.8", "1.25", "1.6", "2", "2.5", "3.125", "4"}

// Scale is one request's transformation: per symbol, the back factor f
// (real price = shown price × f).
type Scale struct {
	Mode    Mode
	Factors map[string]decimal.Decimal
}

// String describes the scale for the audit ("perturb: BTC/USDT ×1.6, ...").
func (s Scale) String() string {
	syms := make([]string, 0, len(s.Factors))
	for sym := range s.Factors {
		syms = append(syms, sym)
	}
	sort.Strings(syms)
	parts := make([]string, 0, len(syms))
	for _, sym := range syms {
		parts = append(parts, sym+" real = shown × "+s.Factors[sym].String())
	}
	return string(s.Mode) + " (dates relative; " + strings.Join(parts, ", ") + ")"
}

// precision is the digits kept when dividing a real price by its factor
// for the prompt (display only) and when checking a mapped-back price.
const precision = 24

// Forward is the shown value of a real price (rounded for display).
func (s Scale) Forward(sym string, real decimal.Decimal) decimal.Decimal {
	return real.DivRound(s.Factors[sym], 8)
}

// Back maps a shown price back to the real one: shown × f, exact. It
// fails for a symbol the prompt did not show, and when the round trip
// does not give the shown price back exactly.
func (s Scale) Back(sym string, shown decimal.Decimal) (decimal.Decimal, error) {
	f, ok := s.Factors[sym]
	if !ok || !f.IsPositive() {
		return decimal.Zero, fmt.Errorf("no price scale for %s: the prompt did not show it", sym)
	}
	real := shown.Mul(f)
	if !real.DivRound(f, precision).Equal(shown) {
		return decimal.Zero, fmt.Errorf("%s price %s does not map back exactly (× %s)", sym, shown, f)
	}
	return real, nil
}

// MapBack maps every price of r back to real prices.
//
// A recommendation for a symbol the prompt did not show (an invented
// "DOGE/USDT", a lookalike "BTC/USDTT") has no scale: it is passed on as
// the model wrote it, symbol and prices untouched, for the policy to
// reject (symbol_allowlist; with no market it cannot be sized either),
// so the other recommendations of the answer are still judged. A
// symbol is never rewritten to one the prompt showed. Advise refuses the
// whole answer instead should such a symbol have a market in the state
// (see unscaledMarket): a price on an unknown scale must never be sized.
func (s Scale) MapBack(r schemas.Response) (schemas.Response, error) {
	out := r
	out.Recommendations = make([]schemas.Recommendation, len(r.Recommendations))
	for i, rec := range r.Recommendations {
		if _, shown := s.Factors[rec.Symbol]; !shown {
			out.Recommendations[i] = rec
			continue
		}
		for _, p := range []**decimal.Decimal{&rec.LimitPrice, &rec.StopLoss, &rec.TakeProfit} {
			if *p == nil {
				continue
			}
			real, err := s.Back(rec.Symbol, **p)
			if err != nil {
				return schemas.Response{}, fmt.Errorf("recommendation %d: %w", i+1, err)
			}
			*p = &real
		}
		out.Recommendations[i] = rec
	}
	return out, nil
}

// unscaledMarket returns a symbol of r that the scale does not cover but
// markets (the state the answer will be judged against) has, or "". Its
// prices could not be mapped back, yet it could be sized: fail closed.
func (s Scale) unscaledMarket(r schemas.Response, markets map[string]schemas.Market) string {
	for _, rec := range r.Recommendations {
		if _, shown := s.Factors[rec.Symbol]; shown {
			continue
		}
		if _, traded := markets[rec.Symbol]; traded {
			return rec.Symbol
		}
	}
	return ""
}

// Config is a transforming advisor.
type Config struct {
	Mode Mode
	// Rand draws perturbation factors; nil: a random source. Tests pass
	// a seeded one.
	Rand *rand.Rand
	// CandleRows is how many candles the prompt lists (its first is the
	// anonymised 100); 0: prompts.DefaultCandleRows.
	CandleRows int
	// Policy is the policy's rules in words, for the prompt data (the
	// system prompt is taken from the request as rendered).
	Policy []string
}

// Advisor is the transforming wrapper.
type Advisor struct {
	inner advisor.Advisor
	cfg   Config
	mu    sync.Mutex
}

var _ advisor.Advisor = (*Advisor)(nil)

// Wrap returns inner behind cfg's transformation.
func Wrap(inner advisor.Advisor, cfg Config) (*Advisor, error) {
	if inner == nil {
		return nil, fmt.Errorf("transform: no advisor to wrap")
	}
	if cfg.Mode != Anonymise && cfg.Mode != Perturb {
		return nil, fmt.Errorf("transform: mode %q is not anonymise or perturb", cfg.Mode)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.CandleRows <= 0 {
		cfg.CandleRows = prompts.DefaultCandleRows
	}
	return &Advisor{inner: inner, cfg: cfg}, nil
}

// Name is the inner advisor's kind: the transformation is a property of
// the prompt, recorded with the reply, not another advisor.
func (a *Advisor) Name() string { return a.inner.Name() }

// Model is the inner advisor's model.
func (a *Advisor) Model() string {
	if m, ok := a.inner.(interface{ Model() string }); ok {
		return m.Model()
	}
	return ""
}

// UsesPrompt is true: the point is the prompt.
func (a *Advisor) UsesPrompt() bool { return true }

// ScaleFor picks the request's scale.
func (a *Advisor) ScaleFor(snaps map[string]market.Snapshot) (Scale, error) {
	s := Scale{Mode: a.cfg.Mode, Factors: map[string]decimal.Decimal{}}
	switch a.cfg.Mode {
	case Anonymise:
		for sym, snap := range snaps {
			cs := snap.Candles[max(0, len(snap.Candles)-a.cfg.CandleRows):]
			if len(cs) == 0 || !(cs[0].Open > 0) {
				return Scale{}, fmt.Errorf("%s: no first candle to rebase on", sym)
			}
			// real = shown × open/100: exact, the open being the decimal
			// the float prints as.
			s.Factors[sym] = decimal.NewFromFloat(cs[0].Open).Div(decimal.NewFromInt(100))
		}
	case Perturb:
		a.mu.Lock()
		f := decimal.RequireFromString(Factors[a.cfg.Rand.IntN(len(Factors))])
		a.mu.Unlock()
		for sym := range snaps {
			s.Factors[sym] = f
		}
	}
	return s, nil
}

// Advise renders the request's user prompt without dates and on the
// scale, asks the inner advisor, and maps its answer back.
func (a *Advisor) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	fail := func(rep advisor.Reply, kind advisor.Kind, msg string, err error) (advisor.Reply, error) {
		rep.Raw = nil
		return rep, &advisor.Error{Kind: kind, Advisor: a.Name(), Msg: msg, Err: err}
	}
	sc, err := a.ScaleFor(req.Snapshots)
	if err != nil {
		return fail(advisor.Reply{Advisor: a.Name()}, advisor.KindInput, "cannot rescale the prompt", err)
	}
	d := sc.data(req, a.cfg)
	user, hash, err := prompts.RenderUserRelative(d)
	if err != nil {
		return fail(advisor.Reply{Advisor: a.Name()}, advisor.KindInput, "cannot render the prompt without dates", err)
	}
	in := req
	in.Prompt.User, in.Prompt.UserHash = user, hash
	in.Snapshots = d.Snapshots
	rep, err := a.inner.Advise(ctx, in)
	rep.Transform = sc.String()
	for i := range rep.Calls {
		// The calls sent the relative template: their prompt version.
		rep.Calls[i].PromptHash = in.Prompt.SystemHash + ":" + hash
	}
	if err != nil {
		return rep, err
	}
	resp, perr := schemas.ParseResponse(rep.Raw)
	if perr != nil {
		return fail(rep, advisor.KindSchemaInvalid, "the answer is not schema-valid", perr)
	}
	if sym := sc.unscaledMarket(resp, req.State.Markets); sym != "" {
		return fail(rep, advisor.KindBadResponse, "the answer cannot be mapped back exactly", fmt.Errorf("no price scale for %s: the prompt did not show it, yet it has a market", sym))
	}
	back, err := sc.MapBack(resp)
	if err != nil {
		return fail(rep, advisor.KindBadResponse, "the answer cannot be mapped back exactly", err)
	}
	raw, err := schemas.MarshalResponse(back)
	if err != nil {
		return fail(rep, advisor.KindBadResponse, "the mapped-back answer", err)
	}
	// What goes on is checked as the model's own answer was: a price
	// mapped back past what the parser takes (4.9e-324 × 0.25 underflows,
	// 1e308 × 4 overflows) is a failed call here, never a response the
	// agent would find invalid after the advisor called it good.
	if _, perr := schemas.ParseResponse(raw); perr != nil {
		return fail(rep, advisor.KindBadResponse, "the mapped-back answer is not valid against the schema", perr)
	}
	rep.Raw = raw
	return rep, nil
}

// data is the prompt data of req on the scale: prices divided by the
// factor, base quantities multiplied by it (values in the quote currency
// unchanged), no dates.
func (s Scale) data(req advisor.Request, cfg Config) prompts.Data {
	st := req.State
	d := prompts.Data{
		Now: req.Now, Mode: st.Mode, SafeMode: st.SafeMode, RiskScale: st.RiskScale,
		Policy: cfg.Policy, CandleRows: cfg.CandleRows,
		Exchange: st.Exchange(), InMaintenance: st.InMaintenance,
		Snapshots: make(map[string]market.Snapshot, len(req.Snapshots)),
		Markets:   make(map[string]schemas.Market, len(st.Markets)),
	}
	acct := st.Account
	acct.Positions = make(map[string]schemas.Position, len(st.Account.Positions))
	for sym, p := range st.Account.Positions {
		if f, ok := s.Factors[sym]; ok {
			p.Qty = p.Qty.Mul(f)
			p.AvgPrice = p.AvgPrice.DivRound(f, 8)
			p.Locked = p.Locked.Mul(f)
		}
		acct.Positions[sym] = p
	}
	d.Account = acct
	for sym, m := range st.Markets {
		if f, ok := s.Factors[sym]; ok {
			m.Bid, m.Ask, m.Last = m.Bid.DivRound(f, 8), m.Ask.DivRound(f, 8), m.Last.DivRound(f, 8)
			m.PriceStep = m.PriceStep.DivRound(f, 12)
			m.AmountStep, m.MinAmount = m.AmountStep.Mul(f), m.MinAmount.Mul(f)
		}
		d.Markets[sym] = m
	}
	for sym, snap := range req.Snapshots {
		f, ok := s.Factors[sym]
		if !ok {
			continue
		}
		ff := f.InexactFloat64()
		c2 := make([]executor.Candle, len(snap.Candles))
		for i, c := range snap.Candles {
			c2[i] = executor.Candle{Time: c.Time, Open: c.Open / ff, High: c.High / ff, Low: c.Low / ff, Close: c.Close / ff, Volume: c.Volume * ff}
		}
		if s.Mode == Anonymise {
			// The first candle shown opens at exactly 100.
			if k := len(c2) - cfg.CandleRows; k >= 0 && k < len(c2) {
				c2[k].Open = 100
			} else if len(c2) > 0 {
				c2[0].Open = 100
			}
		}
		snap.Candles = c2
		snap.Ticker.Bid, snap.Ticker.Ask, snap.Ticker.Last = snap.Ticker.Bid.DivRound(f, 8), snap.Ticker.Ask.DivRound(f, 8), snap.Ticker.Last.DivRound(f, 8)
		in := snap.Indicators
		in.Close, in.SMA20, in.SMA50, in.EMA12, in.EMA26, in.ATR14 = in.Close/ff, in.SMA20/ff, in.SMA50/ff, in.EMA12/ff, in.EMA26/ff, in.ATR14/ff
		snap.Indicators = in
		d.Snapshots[sym] = snap
	}
	return d
}
