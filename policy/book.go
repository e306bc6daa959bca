package policy

import (
	"maps"
	"math"
	"slices"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// book is the account as the validator walks through one response: the
// state, plus the orders approved so far in the response. It keeps two
// views, because what may be bought and what may be sold fail differently:
//
//   - Caps (position, exposure, open positions, cash) assume every approved
//     buy fills and no approved sell does: the most the account can hold.
//   - What may be sold is what is held now, minus what open orders lock,
//     minus the sells approved earlier in the response; a buy that has not
//     filled never makes anything sellable.
//
// Valuation (one price per thing, for sizing and every cap alike): an
// order, and every buy approved earlier in the response, is valued at its
// own price (the limit price on the price step; a market order's ask or
// bid); a held position is valued at its mark (see mark).
type book struct {
	st     *schemas.State
	equity decimal.Decimal
	// cash is the state's cash less the approved buys' notional.
	cash decimal.Decimal
	// fills are the approved orders of the response, by symbol (a
	// response is short: a slice beats a map).
	fills []symFills
	// boughtTotal is the notional of every approved buy.
	boughtTotal decimal.Decimal
	// exposureNow and openNow are the state's positions, valued at the mark.
	exposureNow decimal.Decimal
	openNow     int
	// newOpen is the symbols not held in the state with an approved buy.
	newOpen int

	ordersLastMinute int
	openOrders       int

	// Per-state values CEL sees, computed once.
	dayPnlPct, dayLossPct, drawdownPct float64
	riskScale                          float64
}

// symFills is what the approved orders of a response did to one symbol.
type symFills struct {
	sym                       string
	boughtQty, boughtNotional decimal.Decimal
	soldQty                   decimal.Decimal
}

// fillsOf returns the approved orders for sym (zero when none).
func (b *book) fillsOf(sym string) symFills {
	for _, f := range b.fills {
		if f.sym == sym {
			return f
		}
	}
	return symFills{}
}

// fillsFor returns a pointer to sym's entry, adding it.
func (b *book) fillsFor(sym string) *symFills {
	for i := range b.fills {
		if b.fills[i].sym == sym {
			return &b.fills[i]
		}
	}
	b.fills = append(b.fills, symFills{sym: sym})
	return &b.fills[len(b.fills)-1]
}

func newBook(st *schemas.State) *book {
	b := &book{
		st:               st,
		equity:           st.Account.Equity,
		cash:             st.Account.Cash,
		ordersLastMinute: st.Account.OrdersLastMinute,
		openOrders:       st.Account.OpenOrders,
		dayPnlPct:        math.NaN(),
		dayLossPct:       math.NaN(),
		drawdownPct:      math.NaN(),
		riskScale:        math.NaN(),
	}
	for s, p := range st.Account.Positions {
		if p.Qty.IsZero() {
			continue
		}
		b.openNow++
		b.exposureNow = b.exposureNow.Add(p.Qty.Abs().Mul(b.mark(s)))
	}
	// Buys resting from earlier cycles count as if they fill, as approved
	// buys do (their funds are already out of the free cash).
	for _, s := range slices.Sorted(maps.Keys(st.Account.PendingBuys)) {
		if p := st.Account.PendingBuys[s]; p.Qty.IsPositive() {
			b.addBuy(s, p.Qty, p.Notional)
		}
	}
	// Undefined percentages stay NaN: every comparison with NaN is false, so
	// a rule reading them fails closed.
	acc := st.Account
	if acc.DayStartEquity.IsPositive() {
		pnl := acc.Equity.Sub(acc.DayStartEquity)
		b.dayPnlPct = ratioDbl(pnl, 100, acc.DayStartEquity, roundDown)
		b.dayLossPct = ratioDbl(pnl.Neg(), 100, acc.DayStartEquity, roundUp)
	}
	if acc.PeakEquity.IsPositive() {
		b.drawdownPct = ratioDbl(acc.PeakEquity.Sub(acc.Equity), 100, acc.PeakEquity, roundUp)
	}
	// An invalid scale is NaN to CEL (every cap comparison fails) and the
	// hard limit limit_risk_scale rejects the order besides.
	if st.RiskValid() {
		b.riskScale = dbl(st.Risk(), nearest)
	}
	return b
}

// apply records an approved order.
func (b *book) apply(o *schemas.Order) {
	if o.Side == schemas.SideBuy {
		b.addBuy(o.Symbol, o.Quantity, o.Notional)
		b.cash = b.cash.Sub(o.Notional)
	} else {
		f := b.fillsFor(o.Symbol)
		f.soldQty = f.soldQty.Add(o.Quantity)
	}
	b.ordersLastMinute++
	b.openOrders++
}

// addBuy counts a buy as if it fills: in sym's position and the total
// exposure, and as a new position when sym is neither held nor bought yet.
func (b *book) addBuy(sym string, qty, notional decimal.Decimal) {
	f := b.fillsFor(sym)
	if f.boughtQty.IsZero() && b.held(sym).IsZero() {
		b.newOpen++
	}
	f.boughtQty = f.boughtQty.Add(qty)
	f.boughtNotional = f.boughtNotional.Add(notional)
	b.boughtTotal = b.boughtTotal.Add(notional)
}

// held is the quantity of sym the state says is held now.
func (b *book) held(sym string) decimal.Decimal {
	return b.st.Account.Positions[sym].Qty
}

// sellable is what a sell of sym may sell: held now, less what open orders
// lock, less the sells approved earlier in the response; never negative.
func (b *book) sellable(sym string) decimal.Decimal {
	p := b.st.Account.Positions[sym]
	s := p.Qty.Sub(p.Locked).Sub(b.fillsOf(sym).soldQty)
	if s.IsNegative() {
		return decimal.Zero
	}
	return s
}

// marketKnown reports whether m has usable prices.
func marketKnown(m schemas.Market) bool {
	return m.Bid.IsPositive() && m.Ask.IsPositive() && m.Last.IsPositive() && !m.Ask.LessThan(m.Bid)
}

// half is exact: (bid+ask)×0.5 keeps the mid an exact short decimal, where
// dividing by two would round at 16 digits.
var half = decimal.New(5, -1)

// mark is the price a held position in sym is valued at: the mid when the
// market is known, else last, else the position's average price.
func (b *book) mark(sym string) decimal.Decimal {
	if m, ok := b.st.Markets[sym]; ok && marketKnown(m) {
		return m.Bid.Add(m.Ask).Mul(half)
	} else if ok && m.Last.IsPositive() {
		return m.Last
	}
	if p, ok := b.st.Account.Positions[sym]; ok && p.AvgPrice.IsPositive() {
		return p.AvgPrice
	}
	return decimal.Zero
}

// pctOfEquity is v as a percentage of equity, rounded up (caps hold it
// under a maximum); NaN when equity is not positive.
func (b *book) pctOfEquity(v decimal.Decimal) float64 {
	if !b.equity.IsPositive() {
		return math.NaN()
	}
	return ratioDbl(v, 100, b.equity, roundUp)
}

// fill sets the activation's rec, order, market, account and system from a
// recommendation, its sized order and the book. o is nil when sizing
// failed: the order's symbol, side and type then come from the
// recommendation, and the rules that need the sized order are not
// evaluated (see Policy.eval).
func (b *book) fill(a *activation, rec *schemas.Recommendation, o *schemas.Order) {
	st := b.st
	a.sized = o != nil
	a.rec = recObj{
		symbol:     rec.Symbol,
		action:     string(rec.Action),
		orderType:  string(rec.OrderType),
		reason:     rec.Reason,
		confidence: dbl(rec.Confidence, roundDown),
		sizePct:    dbl(rec.SizePct, roundUp),
	}
	a.rec.limitPrice, a.rec.hasLimit = optFloat(rec.LimitPrice)
	a.rec.stopLoss, a.rec.hasStop = optFloat(rec.StopLoss)
	a.rec.takeProfit, a.rec.hasTakeProfit = optFloat(rec.TakeProfit)

	sym := rec.Symbol
	m, ok := st.Markets[sym]
	known := ok && marketKnown(m)
	a.market = marketObj{
		bid:         m.Bid.InexactFloat64(),
		ask:         m.Ask.InexactFloat64(),
		last:        m.Last.InexactFloat64(),
		quoteVolume: m.QuoteVolume24h.InexactFloat64(),
		dataAge:     dbl(m.DataAgeS, roundUp),
		amountStep:  m.AmountStep.InexactFloat64(),
		priceStep:   m.PriceStep.InexactFloat64(),
		minAmount:   m.MinAmount.InexactFloat64(),
		minNotional: m.MinNotional.InexactFloat64(),
		known:       known,
		status:      m.TradingStatus(),
	}
	var mid decimal.Decimal
	if known {
		mid = m.Bid.Add(m.Ask).Mul(half)
		a.market.mid = mid.InexactFloat64()
		a.market.spreadBps = ratioDbl(m.Ask.Sub(m.Bid), 10000, mid, roundUp)
	}

	side := schemas.SideBuy
	if rec.Action == schemas.ActionSell {
		side = schemas.SideSell
	}
	a.order = orderObj{symbol: sym, side: string(side), typ: string(rec.OrderType)}
	if o != nil {
		a.order = orderObj{
			symbol:   o.Symbol,
			side:     string(o.Side),
			typ:      string(o.Type),
			quantity: o.Quantity.InexactFloat64(),
			price:    o.Price.InexactFloat64(),
			notional: o.Notional.InexactFloat64(),
		}
		side = o.Side
		a.order.stopLoss, a.order.hasStop = optFloat(o.StopLoss)
		a.order.takeProfit, a.order.hasTakeProfit = optFloat(o.TakeProfit)
		if known {
			a.order.limitDistanceBps = ratioDbl(o.Price.Sub(mid).Abs(), 10000, mid, roundUp)
		} else {
			a.order.limitDistanceBps = math.NaN()
		}
		if o.StopLoss != nil {
			// How far below the price the stop is, in % of the price
			// (negative when it is above).
			a.order.stopDistancePct = ratioDbl(o.Price.Sub(*o.StopLoss), 100, o.Price, roundUp)
		}
		if m.Book != nil {
			a.order.expectedSlippageBps, a.order.hasBook = expectedSlippage(m.Book, side, o.Quantity), true
		}
	}
	if m.Book != nil && known {
		a.market.depth = depthWithin(m.Book, side, mid)
	}

	held := b.held(sym)
	pos := st.Account.Positions[sym]
	mark := mid
	if !known {
		mark = b.mark(sym)
	}
	posNotional := held.Mul(mark)
	agg := b.fillsOf(sym)
	qtyAfter := held.Add(agg.boughtQty)
	notionalAfter := posNotional.Add(agg.boughtNotional)
	exposureAfter := b.exposureNow.Add(b.boughtTotal)
	openAfter := b.openNow + b.newOpen
	if o != nil && side == schemas.SideBuy {
		qtyAfter = qtyAfter.Add(o.Quantity)
		notionalAfter = notionalAfter.Add(o.Notional)
		exposureAfter = exposureAfter.Add(o.Notional)
		if held.IsZero() && agg.boughtQty.IsZero() {
			openAfter++
		}
	}
	acc := st.Account
	a.account = accountObj{
		equity:                acc.Equity.InexactFloat64(),
		cash:                  b.cash.InexactFloat64(),
		peakEquity:            acc.PeakEquity.InexactFloat64(),
		dayStartEquity:        acc.DayStartEquity.InexactFloat64(),
		positionQty:           held.InexactFloat64(),
		positionNotional:      posNotional.InexactFloat64(),
		positionPct:           b.pctOfEquity(posNotional),
		positionLockedQty:     pos.Locked.InexactFloat64(),
		sellableQty:           dbl(b.sellable(sym), roundDown),
		positionQtyAfter:      qtyAfter.InexactFloat64(),
		positionNotionalAfter: notionalAfter.InexactFloat64(),
		positionPctAfter:      b.pctOfEquity(notionalAfter),
		exposure:              b.exposureNow.InexactFloat64(),
		exposureAfter:         exposureAfter.InexactFloat64(),
		exposurePct:           b.pctOfEquity(b.exposureNow),
		exposurePctAfter:      b.pctOfEquity(exposureAfter),
		openPositions:         float64(b.openNow),
		openPositionsAfter:    float64(openAfter),
		openOrders:            float64(b.openOrders),
		ordersLastMinute:      float64(b.ordersLastMinute),
		dayPnlPct:             b.dayPnlPct,
		dayLossPct:            b.dayLossPct,
		drawdownPct:           b.drawdownPct,
	}
	a.system = systemObj{mode: st.Mode, killSwitch: st.KillSwitch, safeMode: st.SafeMode, riskScale: b.riskScale,
		exchangeStatus: st.Exchange(), inMaintenance: st.InMaintenance}
}

// expectedSlippage walks the book's side an order of qty takes (asks for
// a buy, bids for a sell) from the best level and returns how far its
// average fill price is from that best price, in bps, rounded up: what
// the order would pay over the touch if it took the book. A book that
// cannot fill qty is +Inf (any slippage limit fails).
func expectedSlippage(bk *schemas.Book, side schemas.Side, qty decimal.Decimal) float64 {
	levels := bk.Asks
	if side == schemas.SideSell {
		levels = bk.Bids
	}
	if len(levels) == 0 {
		return math.Inf(1)
	}
	if !qty.IsPositive() {
		return 0
	}
	rem, cost := qty, decimal.Zero
	for _, l := range levels {
		take := decimal.Min(rem, l.Qty)
		cost = cost.Add(take.Mul(l.Price))
		rem = rem.Sub(take)
		if !rem.IsPositive() {
			break
		}
	}
	if rem.IsPositive() {
		return math.Inf(1)
	}
	best := levels[0].Price
	// avg - best = (cost - qty×best) / qty; in bps of best.
	diff := cost.Sub(qty.Mul(best))
	if side == schemas.SideSell {
		diff = diff.Neg()
	}
	return ratioDbl(diff, 10000, qty.Mul(best), roundUp)
}

// depthWithin is the quote value on the order's side of the book (asks
// for a buy, bids for a sell) within each of DepthBps of mid, rounded
// down (a depth is held above a minimum).
func depthWithin(bk *schemas.Book, side schemas.Side, mid decimal.Decimal) ref.Val {
	levels, sign := bk.Asks, int64(1)
	if side == schemas.SideSell {
		levels, sign = bk.Bids, -1
	}
	out := make(map[int64]float64, len(DepthBps))
	for _, bps := range DepthBps {
		bound := mid.Mul(decimal.NewFromInt(10000 + sign*bps)).Div(decimal.NewFromInt(10000))
		out[bps] = dbl(schemas.NotionalWithin(levels, bound, sign < 0), roundDown)
	}
	return types.DefaultTypeAdapter.NativeToValue(out)
}

func optFloat(d *decimal.Decimal) (float64, bool) {
	if d == nil {
		return 0, false
	}
	return d.InexactFloat64(), true
}
