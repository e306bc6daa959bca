package backtest

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// year is the length of a year for annualisation: 24/7 markets, 365 days.
const year = 365 * 24 * time.Hour

// MinCAGRSpan is the shortest curve whose return is annualised.
const MinCAGRSpan = 30 * 24 * time.Hour

// DefaultExposureMin is the share of equity the positions must be worth for
// a bar to count as exposed, so dust left by rounding down is not exposure.
const DefaultExposureMin = 0.01

// Point is one mark of an equity curve, taken at the close of a candle.
// Values are float64 because they only feed analytics; they are converted
// from the paper exchange's decimal balances at each mark, never
// accumulated.
type Point struct {
	Time time.Time `json:"time"`
	// Equity is cash plus positions at the candle's close, in the quote
	// currency.
	Equity float64 `json:"equity"`
	// Invested is what the positions alone are worth.
	Invested float64 `json:"invested"`
}

// Metrics are the results of one equity curve with its fills. JSON field
// names are stable: tools read summary.json.
type Metrics struct {
	From           time.Time `json:"from"`
	To             time.Time `json:"to"`
	Bars           int       `json:"bars"`
	PeriodsPerYear float64   `json:"periods_per_year"`
	StartEquity    float64   `json:"start_equity"`
	EndEquity      float64   `json:"end_equity"`
	TotalReturn    float64   `json:"total_return"`
	// CAGR annualises TotalReturn over 365-day years; nil (null, "n/a")
	// when the curve spans less than MinCAGRSpan, where annualising
	// would turn a few days' noise into an absurd yearly rate.
	CAGR        *float64 `json:"cagr"`
	Volatility  float64  `json:"volatility"`
	Sharpe      float64  `json:"sharpe"`
	Sortino     float64  `json:"sortino"`
	MaxDrawdown float64  `json:"max_drawdown"`
	// DrawdownPeak, DrawdownTrough and DrawdownRecovery date the max
	// drawdown; DrawdownRecovery is nil when the peak was never regained.
	DrawdownPeak     time.Time  `json:"max_drawdown_peak"`
	DrawdownTrough   time.Time  `json:"max_drawdown_trough"`
	DrawdownRecovery *time.Time `json:"max_drawdown_recovery"`
	Exposure         float64    `json:"exposure"`
	Turnover         float64    `json:"turnover"`
	TradedNotional   float64    `json:"traded_notional"`
	// FeesPaid is exact: the sum of the fills' fees in the quote currency
	// (a fee charged in the base asset is valued at its fill's price).
	FeesPaid   decimal.Decimal `json:"fees_paid"`
	Fills      int             `json:"fills"`
	RoundTrips int             `json:"round_trips"`
	Wins       int             `json:"wins"`
	WinRate    float64         `json:"win_rate"`
	// OpenTrips counts positions still open at the end (not in WinRate).
	OpenTrips int `json:"open_trips"`
}

// Input is what Analyze reads.
type Input struct {
	Curve []Point
	// Fills are the paper exchange's trades, in time order.
	Fills []executor.Trade
	// PeriodsPerYear annualises per-bar statistics (8760 for 1h bars).
	PeriodsPerYear float64
	// DustNotional: a position worth less than this (in the quote currency,
	// at the last fill price) is flat for round trips. Zero means exactly
	// zero.
	DustNotional decimal.Decimal
	// ExposureMin is the share of equity above which a bar is exposed;
	// DefaultExposureMin when zero.
	ExposureMin float64
}

// Analyze computes the metrics of an equity curve and its fills. The curve
// must hold at least one point, in strictly increasing time, with positive
// equity; anything else is an error.
func Analyze(in Input) (Metrics, error) {
	c := in.Curve
	if len(c) == 0 {
		return Metrics{}, errors.New("backtest: empty equity curve")
	}
	if in.PeriodsPerYear <= 0 || math.IsNaN(in.PeriodsPerYear) || math.IsInf(in.PeriodsPerYear, 0) {
		return Metrics{}, fmt.Errorf("backtest: periods per year %v must be positive", in.PeriodsPerYear)
	}
	for i, p := range c {
		if !(p.Equity > 0) || math.IsInf(p.Equity, 0) {
			return Metrics{}, fmt.Errorf("backtest: equity %v at %s (point %d) is not positive", p.Equity, p.Time.Format(time.RFC3339), i)
		}
		if i > 0 && !p.Time.After(c[i-1].Time) {
			return Metrics{}, fmt.Errorf("backtest: equity curve not in increasing time at point %d (%s after %s)", i, p.Time.Format(time.RFC3339), c[i-1].Time.Format(time.RFC3339))
		}
	}
	m := Metrics{
		From: c[0].Time, To: c[len(c)-1].Time, Bars: len(c), PeriodsPerYear: in.PeriodsPerYear,
		StartEquity: c[0].Equity, EndEquity: c[len(c)-1].Equity,
	}
	m.TotalReturn = m.EndEquity/m.StartEquity - 1
	if span := m.To.Sub(m.From); span >= MinCAGRSpan {
		cagr := math.Pow(m.EndEquity/m.StartEquity, float64(year)/float64(span)) - 1
		m.CAGR = &cagr
	}
	rets := Returns(c)
	st := returnStats(rets)
	ann := math.Sqrt(in.PeriodsPerYear)
	m.Volatility = st.sd * ann
	if st.sd > 0 {
		m.Sharpe = st.mean / st.sd * ann
	}
	if st.dd > 0 {
		m.Sortino = st.mean / st.dd * ann
	}
	dd := MaxDrawdown(c)
	m.MaxDrawdown, m.DrawdownPeak, m.DrawdownTrough, m.DrawdownRecovery = dd.Depth, dd.Peak, dd.Trough, dd.Recovery

	minShare := in.ExposureMin
	if minShare <= 0 {
		minShare = DefaultExposureMin
	}
	m.Exposure = exposure(c, minShare)

	trips, err := RoundTrips(in.Fills, in.DustNotional)
	if err != nil {
		return Metrics{}, err
	}
	m.Fills = len(in.Fills)
	fees, notional := decimal.Zero, decimal.Zero
	for _, f := range in.Fills {
		fee, err := feeInQuote(f)
		if err != nil {
			return Metrics{}, err
		}
		fees = fees.Add(fee)
		notional = notional.Add(f.Quantity.Mul(f.Price).Abs())
	}
	m.FeesPaid = fees
	m.TradedNotional = notional.InexactFloat64()
	var sum float64
	for _, p := range c {
		sum += p.Equity
	}
	m.Turnover = m.TradedNotional / (sum / float64(len(c)))
	for _, t := range trips {
		if t.Open {
			m.OpenTrips++
			continue
		}
		m.RoundTrips++
		if t.PnL.IsPositive() {
			m.Wins++
		}
	}
	if m.RoundTrips > 0 {
		m.WinRate = float64(m.Wins) / float64(m.RoundTrips)
	}
	return m, nil
}

// Returns are the simple per-bar returns of a curve, one fewer than its
// points.
func Returns(c []Point) []float64 {
	if len(c) < 2 {
		return nil
	}
	out := make([]float64, len(c)-1)
	for i := 1; i < len(c); i++ {
		out[i-1] = c[i].Equity/c[i-1].Equity - 1
	}
	return out
}

type stats struct {
	n        int
	mean, sd float64 // sd: sample stdev (n−1)
	dd       float64 // downside deviation, target 0, over all n
}

func returnStats(r []float64) stats {
	s := stats{n: len(r)}
	if s.n == 0 {
		return s
	}
	var sum float64
	for _, x := range r {
		sum += x
	}
	s.mean = sum / float64(s.n)
	var ss, down float64
	for _, x := range r {
		d := x - s.mean
		ss += d * d
		if x < 0 {
			down += x * x
		}
	}
	if s.n > 1 {
		s.sd = math.Sqrt(ss / float64(s.n-1))
	}
	s.dd = math.Sqrt(down / float64(s.n))
	return s
}

// Drawdown is the largest fall of a curve from a running peak.
type Drawdown struct {
	Depth    float64    // 1 − trough/peak; 0 when the curve never fell
	Peak     time.Time  // when the peak before the fall was set
	Trough   time.Time  // the lowest point of the fall
	Recovery *time.Time // first time back at or above the peak; nil if never
}

// MaxDrawdown finds the deepest drawdown of c. Ties keep the earliest.
func MaxDrawdown(c []Point) Drawdown {
	var d Drawdown
	if len(c) == 0 {
		return d
	}
	peak, peakAt := c[0].Equity, c[0].Time
	var peakIdx, troughIdx int
	found := false
	pi := 0
	for i, p := range c {
		if p.Equity > peak {
			peak, peakAt, pi = p.Equity, p.Time, i
			continue
		}
		if depth := 1 - p.Equity/peak; depth > d.Depth {
			d.Depth, d.Peak, d.Trough = depth, peakAt, p.Time
			peakIdx, troughIdx, found = pi, i, true
		}
	}
	if !found {
		d.Peak, d.Trough = c[0].Time, c[0].Time
		return d
	}
	for i := troughIdx + 1; i < len(c); i++ {
		if c[i].Equity >= c[peakIdx].Equity {
			t := c[i].Time
			d.Recovery = &t
			break
		}
	}
	return d
}

// DrawdownSeries is 1 − E/peak at every point (0 at new highs), for charts.
func DrawdownSeries(c []Point) []float64 {
	out := make([]float64, len(c))
	peak := 0.0
	for i, p := range c {
		peak = math.Max(peak, p.Equity)
		if peak > 0 {
			out[i] = 1 - p.Equity/peak
		}
	}
	return out
}

// exposure is the time-weighted share of the curve's span during which the
// positions held (as marked at the start of each interval) were worth at
// least minShare of equity.
func exposure(c []Point, minShare float64) float64 {
	if len(c) < 2 {
		return 0
	}
	var in, total time.Duration
	for i := 1; i < len(c); i++ {
		dt := c[i].Time.Sub(c[i-1].Time)
		total += dt
		if c[i-1].Invested >= minShare*c[i-1].Equity && c[i-1].Invested > 0 {
			in += dt
		}
	}
	return float64(in) / float64(total)
}

// RoundTrip is one position of one symbol from flat to flat.
type RoundTrip struct {
	Symbol string          `json:"symbol"`
	Opened time.Time       `json:"opened"`
	Closed time.Time       `json:"closed"` // zero while open
	Cost   decimal.Decimal `json:"cost"`   // buy notional plus fees
	// Proceeds is sell notional minus fees.
	Proceeds decimal.Decimal `json:"proceeds"`
	// PnL is Proceeds − Cost; for an open trip it ignores the held position.
	PnL  decimal.Decimal `json:"pnl"`
	Open bool            `json:"open"`
	// Quantity is the base bought; EntryPrice and ExitPrice are the
	// quantity-weighted prices of the buys and of the sells (zero while
	// nothing was sold); Fees are the fills' fees in the quote currency;
	// Fills counts them.
	Quantity   decimal.Decimal `json:"quantity"`
	EntryPrice decimal.Decimal `json:"entry_price"`
	ExitPrice  decimal.Decimal `json:"exit_price"`
	Fees       decimal.Decimal `json:"fees"`
	Fills      int             `json:"fills"`
	sold       decimal.Decimal // base sold, for ExitPrice
	boughtN    decimal.Decimal // buy notional, for EntryPrice
	soldN      decimal.Decimal // sell notional, for ExitPrice
}

// Return is PnL over Cost (0 for a trip that cost nothing).
func (t RoundTrip) Return() float64 {
	if !t.Cost.IsPositive() {
		return 0
	}
	return t.PnL.Div(t.Cost).InexactFloat64()
}

// finish sets the average prices.
func (t *RoundTrip) finish() {
	if t.Quantity.IsPositive() {
		t.EntryPrice = t.boughtN.DivRound(t.Quantity, 8)
	}
	if t.sold.IsPositive() {
		t.ExitPrice = t.soldN.DivRound(t.sold, 8)
	}
}

// RoundTrips groups spot fills into round trips per symbol, in the order
// they closed (open trips last, by symbol). A sell larger than the position
// is an error: a spot backtest cannot go short.
//
// Money is booked as `warden trades` and `profit` book it (audit.Ledger,
// average cost), so a backtest's realised PnL and the views of its audit
// database agree, and the realised PnL of every trip plus the cost of what
// is still held is the cash the fills moved: a fee in the base asset is
// paid in quantity (a buy delivers less, a sell gives up more), never also
// in money; a trip that closes with a remainder worth less than dust keeps
// that remainder's cost out of its PnL (it stays held at its cost, taken by
// the sale that later sells it). A stop that sells such a remainder later
// (its price rose past the minimum order) belongs to the closed trip.
func RoundTrips(fills []executor.Trade, dust decimal.Decimal) ([]RoundTrip, error) {
	type state struct {
		led  audit.Ledger
		trip *RoundTrip
		last int // index in out of the symbol's last closed trip, -1 none
	}
	pos := map[string]*state{}
	var out []RoundTrip
	for i, f := range fills {
		if !f.Quantity.IsPositive() || !f.Price.IsPositive() {
			return nil, fmt.Errorf("backtest: fill %d (%s) has quantity %s and price %s; both must be positive", i, f.ID, f.Quantity, f.Price)
		}
		base, quote, err := splitSymbol(f.Symbol)
		if err != nil {
			return nil, fmt.Errorf("backtest: fill %d: %w", i, err)
		}
		fee, err := feeInQuote(f)
		if err != nil {
			return nil, err
		}
		s := pos[f.Symbol]
		if s == nil {
			s = &state{last: -1}
			pos[f.Symbol] = s
		}
		rec := audit.FillRecord{Trade: f}
		if rec.FeeCurrency == "" {
			rec.FeeCurrency = quote // as feeInQuote reads it
		}
		notional := f.Quantity.Mul(f.Price)
		switch f.Side {
		case schemas.SideBuy:
			if s.trip == nil {
				s.trip = &RoundTrip{Symbol: f.Symbol, Opened: f.Time}
			}
			basis := s.led.Basis
			s.led.Apply(rec)
			s.trip.Cost = s.trip.Cost.Add(s.led.Basis.Sub(basis))
			s.trip.Quantity = s.trip.Quantity.Add(f.Quantity)
			s.trip.boughtN = s.trip.boughtN.Add(notional)
			s.trip.Fees, s.trip.Fills = s.trip.Fees.Add(fee), s.trip.Fills+1
		case schemas.SideSell:
			gone := f.Quantity
			if rec.FeeCurrency == base {
				gone = gone.Add(f.Fee)
			}
			held := decimal.Max(s.led.Qty, decimal.Zero)
			if held.Add(dustQty(dust, f.Price)).LessThan(gone) || s.trip == nil && s.last < 0 {
				return nil, fmt.Errorf("backtest: fill %d (%s) sells %s %s with only %s held", i, f.ID, f.Quantity, f.Symbol, held)
			}
			realised, share := s.led.Apply(rec)
			t, late := s.trip, s.trip == nil
			if late {
				t = &out[s.last] // the remainder a closed trip left
			}
			t.Proceeds = t.Proceeds.Add(realised).Add(share)
			t.PnL = t.PnL.Add(realised)
			t.sold, t.soldN = t.sold.Add(f.Quantity), t.soldN.Add(notional)
			t.Fees, t.Fills = t.Fees.Add(fee), t.Fills+1
			if late {
				t.Closed = f.Time
				t.finish()
				continue
			}
			if s.led.Qty.Sign() <= 0 || s.led.Qty.Mul(f.Price).LessThan(dust) {
				t.Closed = f.Time
				t.finish()
				out = append(out, *t)
				s.trip, s.last = nil, len(out)-1
			}
		default:
			return nil, fmt.Errorf("backtest: fill %d (%s) has side %q", i, f.ID, f.Side)
		}
	}
	syms := make([]string, 0, len(pos))
	for sym, s := range pos {
		if s.trip != nil {
			syms = append(syms, sym)
		}
	}
	sort.Strings(syms)
	for _, sym := range syms {
		t := *pos[sym].trip
		t.Open = true // PnL: what its sells realised so far
		t.finish()
		out = append(out, t)
	}
	return out, nil
}

// dustQty is the quantity worth dust at price: sells may overshoot the
// tracked position by that much (rounding of fees).
func dustQty(dust, price decimal.Decimal) decimal.Decimal {
	if !dust.IsPositive() || !price.IsPositive() {
		return decimal.Zero
	}
	return dust.Div(price)
}

// feeInQuote values a fill's fee in the quote currency.
func feeInQuote(f executor.Trade) (decimal.Decimal, error) {
	if f.Fee.IsNegative() {
		return decimal.Zero, fmt.Errorf("backtest: fill %s has a negative fee %s", f.ID, f.Fee)
	}
	if f.Fee.IsZero() {
		return decimal.Zero, nil
	}
	base, quote, err := splitSymbol(f.Symbol)
	if err != nil {
		return decimal.Zero, err
	}
	switch f.FeeCurrency {
	case quote, "":
		return f.Fee, nil
	case base:
		return f.Fee.Mul(f.Price), nil
	}
	return decimal.Zero, fmt.Errorf("backtest: fill %s of %s has a fee in %q, neither %s nor %s", f.ID, f.Symbol, f.FeeCurrency, base, quote)
}

func splitSymbol(s string) (base, quote string, err error) {
	b, q, ok := strings.Cut(s, "/")
	if !ok || b == "" || q == "" {
		return "", "", fmt.Errorf("symbol %q is not BASE/QUOTE", s)
	}
	return b, q, nil
}
