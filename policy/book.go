package policy

import (
	"math"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// book is the account as the validator walks through one response: the
// state, plus every order approved so far (assumed filled at its price, which
// is the conservative view for every cap).
type book struct {
	st               *schemas.State
	cash             decimal.Decimal
	positions        map[string]decimal.Decimal
	ordersLastMinute int
	openOrders       int
}

func newBook(st *schemas.State) *book {
	b := &book{
		st:               st,
		cash:             st.Account.Cash,
		positions:        make(map[string]decimal.Decimal, len(st.Account.Positions)+1),
		ordersLastMinute: st.Account.OrdersLastMinute,
		openOrders:       st.Account.OpenOrders,
	}
	for s, p := range st.Account.Positions {
		b.positions[s] = p.Qty
	}
	return b
}

// apply records an approved order.
func (b *book) apply(o *schemas.Order) {
	q := b.positions[o.Symbol]
	if o.Side == schemas.SideBuy {
		b.positions[o.Symbol] = q.Add(o.Quantity)
		b.cash = b.cash.Sub(o.Notional)
	} else {
		b.positions[o.Symbol] = q.Sub(o.Quantity)
		b.cash = b.cash.Add(o.Notional)
	}
	b.ordersLastMinute++
	b.openOrders++
}

// marketKnown reports whether m has usable prices.
func marketKnown(m schemas.Market) bool {
	return m.Bid.IsPositive() && m.Ask.IsPositive() && m.Last.IsPositive() && !m.Ask.LessThan(m.Bid)
}

// half is exact: (bid+ask)×0.5 keeps the mid an exact short decimal, where
// dividing by two would round at 16 digits.
var half = decimal.New(5, -1)

// mark is the price a position in sym is valued at: the mid when the
// market is known, else last, else the position's average price.
func (b *book) mark(sym string) decimal.Decimal {
	if m, ok := b.st.Markets[sym]; ok {
		if marketKnown(m) {
			return m.Bid.Add(m.Ask).Mul(half)
		}
		if m.Last.IsPositive() {
			return m.Last
		}
	}
	if p, ok := b.st.Account.Positions[sym]; ok && p.AvgPrice.IsPositive() {
		return p.AvgPrice
	}
	return decimal.Zero
}

// exposure is the total absolute position value in quote.
func (b *book) exposure() decimal.Decimal {
	total := decimal.Zero
	for s, q := range b.positions {
		if q.IsZero() {
			continue
		}
		total = total.Add(q.Abs().Mul(b.mark(s)))
	}
	return total
}

func (b *book) openPositions() int {
	n := 0
	for _, q := range b.positions {
		if !q.IsZero() {
			n++
		}
	}
	return n
}

// fill sets the activation's rec, order, market, account and system from a
// recommendation, its sized order and the book.
func (b *book) fill(a *activation, rec *schemas.Recommendation, o *schemas.Order) {
	st := b.st
	a.rec = recObj{
		symbol:     rec.Symbol,
		action:     string(rec.Action),
		orderType:  string(rec.OrderType),
		reason:     rec.Reason,
		confidence: rec.Confidence.InexactFloat64(),
		sizePct:    rec.SizePct.InexactFloat64(),
	}
	a.rec.limitPrice, a.rec.hasLimit = optFloat(rec.LimitPrice)
	a.rec.stopLoss, a.rec.hasStop = optFloat(rec.StopLoss)
	a.rec.takeProfit, a.rec.hasTakeProfit = optFloat(rec.TakeProfit)

	a.order = orderObj{
		symbol:   o.Symbol,
		side:     string(o.Side),
		typ:      string(o.Type),
		quantity: o.Quantity.InexactFloat64(),
		price:    o.Price.InexactFloat64(),
		notional: o.Notional.InexactFloat64(),
	}
	a.order.stopLoss, a.order.hasStop = optFloat(o.StopLoss)
	a.order.takeProfit, a.order.hasTakeProfit = optFloat(o.TakeProfit)

	m, ok := st.Markets[o.Symbol]
	a.market = marketObj{
		bid:         m.Bid.InexactFloat64(),
		ask:         m.Ask.InexactFloat64(),
		last:        m.Last.InexactFloat64(),
		quoteVolume: m.QuoteVolume24h.InexactFloat64(),
		dataAge:     m.DataAgeS.InexactFloat64(),
		amountStep:  m.AmountStep.InexactFloat64(),
		priceStep:   m.PriceStep.InexactFloat64(),
		minAmount:   m.MinAmount.InexactFloat64(),
		minNotional: m.MinNotional.InexactFloat64(),
		known:       ok && marketKnown(m),
	}
	if a.market.known {
		// Ratios are for the policy's view only and computed in float from
		// exact decimal inputs; money stays decimal.
		a.market.mid = m.Bid.Add(m.Ask).Mul(half).InexactFloat64()
		a.market.spreadBps = m.Ask.Sub(m.Bid).InexactFloat64() / a.market.mid * 10000
	}

	mark := b.mark(o.Symbol)
	if !mark.IsPositive() {
		mark = o.Price
	}
	qty := b.positions[o.Symbol]
	qtyAfter := qty.Add(o.Quantity)
	if o.Side == schemas.SideSell {
		qtyAfter = qty.Sub(o.Quantity)
	}
	posNotional := qty.Mul(mark)
	posNotionalAfter := qtyAfter.Mul(mark)
	exposure := b.exposure()
	exposureAfter := exposure.Sub(posNotional.Abs()).Add(posNotionalAfter.Abs())
	open := b.openPositions()
	openAfter := open
	switch {
	case qty.IsZero() && !qtyAfter.IsZero():
		openAfter++
	case !qty.IsZero() && qtyAfter.IsZero():
		openAfter--
	}
	acc := st.Account
	a.account = accountObj{
		equity:                acc.Equity.InexactFloat64(),
		cash:                  b.cash.InexactFloat64(),
		peakEquity:            acc.PeakEquity.InexactFloat64(),
		dayStartEquity:        acc.DayStartEquity.InexactFloat64(),
		positionQty:           qty.InexactFloat64(),
		positionNotional:      posNotional.InexactFloat64(),
		positionQtyAfter:      qtyAfter.InexactFloat64(),
		positionNotionalAfter: posNotionalAfter.InexactFloat64(),
		exposure:              exposure.InexactFloat64(),
		exposureAfter:         exposureAfter.InexactFloat64(),
		openPositions:         float64(open),
		openPositionsAfter:    float64(openAfter),
		openOrders:            float64(b.openOrders),
		ordersLastMinute:      float64(b.ordersLastMinute),
		dayPnlPct:             math.NaN(),
		drawdownPct:           math.NaN(),
	}
	// Undefined percentages stay NaN: every comparison with NaN is false, so
	// a rule reading them fails closed.
	if acc.DayStartEquity.IsPositive() {
		a.account.dayPnlPct = acc.Equity.Sub(acc.DayStartEquity).Mul(hundred).InexactFloat64() / a.account.dayStartEquity
	}
	if acc.PeakEquity.IsPositive() {
		a.account.drawdownPct = acc.PeakEquity.Sub(acc.Equity).Mul(hundred).InexactFloat64() / a.account.peakEquity
	}
	a.system = systemObj{mode: st.Mode, killSwitch: st.KillSwitch, safeMode: st.SafeMode}
}

func optFloat(d *decimal.Decimal) (float64, bool) {
	if d == nil {
		return 0, false
	}
	return d.InexactFloat64(), true
}
