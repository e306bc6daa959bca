package policy

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// Sizing rules: the reasons a recommendation cannot become an order. They
// are reported with source "sizing"; no policy edit removes them.
const (
	RuleSizingAction         = "sizing_action"          // action is not buy, sell or hold
	RuleSizingOrderType      = "sizing_order_type"      // order_type is not limit or market
	RuleSizingSizePct        = "sizing_size_pct"        // size_pct must be > 0 and ≤ 100 for buy and sell
	RuleSizingEquity         = "sizing_equity"          // equity must be > 0
	RuleSizingMarket         = "sizing_market"          // no market (steps) for the symbol: cannot round to exchange precision
	RuleSizingLimitPrice     = "sizing_limit_price"     // a limit order needs a limit_price > 0
	RuleSizingReferencePrice = "sizing_reference_price" // a market order needs a bid (sell) or ask (buy) > 0
	RuleSizingPriceZero      = "sizing_price_zero"      // the price rounds to zero at price_step
	RuleSizingQuantityZero   = "sizing_quantity_zero"   // the quantity rounds down to zero at amount_step
)

var (
	hundred   = decimal.NewFromInt(100)
	hundredth = decimal.New(1, -2) // ×0.01 is exact where ÷100 would round at 16 digits
)

// SizeOrder turns a buy or sell recommendation into an order at exchange
// precision, or says why it cannot:
//
//	notional = equity × size_pct / 100
//	price    = limit_price rounded to price_step (buys down, sells up);
//	           a market order uses the ask (buy) or bid (sell) as its price
//	quantity = notional / price, rounded DOWN to amount_step
//	notional = quantity × price (the final, rounded order)
//	stop_loss, take_profit = rounded onto price_step towards the price
//	           (a buy's stop below its price rounds up, a take-profit above
//	           it rounds down): the values every rule sees, the verdict
//	           records and the executor places
//
// Sells are sized the same way, from size_pct of equity (not of the held
// quantity); whether the account holds that much is for the policy to check.
// Nothing is clamped: what does not fit is refused with the rule named.
// All arithmetic is decimal.
func SizeOrder(rec schemas.Recommendation, st schemas.State) (*schemas.Order, []schemas.Violation) {
	var vs []schemas.Violation
	bad := func(rule, format string, args ...any) {
		vs = append(vs, schemas.Violation{Rule: rule, Message: fmt.Sprintf(format, args...), Source: schemas.SourceSizing})
	}
	var side schemas.Side
	switch rec.Action {
	case schemas.ActionBuy:
		side = schemas.SideBuy
	case schemas.ActionSell:
		side = schemas.SideSell
	default:
		bad(RuleSizingAction, "action %q cannot be sized: only buy and sell make orders", rec.Action)
		return nil, vs
	}
	if rec.OrderType != schemas.OrderLimit && rec.OrderType != schemas.OrderMarket {
		bad(RuleSizingOrderType, "order_type %q is not limit or market", rec.OrderType)
	}
	if !rec.SizePct.IsPositive() || rec.SizePct.GreaterThan(hundred) {
		bad(RuleSizingSizePct, "size_pct %s must be above 0 and at most 100 for a %s", rec.SizePct, rec.Action)
	}
	equity := st.Account.Equity
	if !equity.IsPositive() {
		bad(RuleSizingEquity, "equity %s is not positive: nothing can be sized", equity)
	}
	m, ok := st.Markets[rec.Symbol]
	if !ok || !m.PriceStep.IsPositive() || !m.AmountStep.IsPositive() {
		bad(RuleSizingMarket, "no market precision for %s (price_step and amount_step): cannot size at exchange precision", rec.Symbol)
	}
	var raw decimal.Decimal
	switch rec.OrderType {
	case schemas.OrderLimit:
		if rec.LimitPrice == nil || !rec.LimitPrice.IsPositive() {
			bad(RuleSizingLimitPrice, "a limit order needs a limit_price above 0")
		} else {
			raw = *rec.LimitPrice
		}
	case schemas.OrderMarket:
		ref := m.Ask
		if side == schemas.SideSell {
			ref = m.Bid
		}
		if !ok || !ref.IsPositive() {
			bad(RuleSizingReferencePrice, "a market order needs a reference price (ask for buys, bid for sells) and %s has none", rec.Symbol)
		} else {
			raw = ref
		}
	}
	if len(vs) > 0 {
		return nil, vs
	}

	price := roundToStep(raw, m.PriceStep, side == schemas.SideSell)
	if !price.IsPositive() {
		bad(RuleSizingPriceZero, "price %s rounds to zero at price_step %s", raw, m.PriceStep)
		return nil, vs
	}
	target := equity.Mul(rec.SizePct).Mul(hundredth)
	// floor(target / (price × step)) steps: QuoRem at precision 0 is an exact
	// truncated division, so rounding can never go up.
	steps, _ := target.QuoRem(price.Mul(m.AmountStep), 0)
	qty := steps.Mul(m.AmountStep)
	if !qty.IsPositive() {
		bad(RuleSizingQuantityZero, "%s%% of equity %s is %s, less than one amount_step %s at price %s: quantity rounds down to zero",
			rec.SizePct, equity, target, m.AmountStep, price)
		return nil, vs
	}
	o := &schemas.Order{
		Symbol:     rec.Symbol,
		Side:       side,
		Type:       rec.OrderType,
		Quantity:   qty,
		Price:      price,
		Notional:   qty.Mul(price),
		StopLoss:   towardPrice(rec.StopLoss, price, m.PriceStep),
		TakeProfit: towardPrice(rec.TakeProfit, price, m.PriceStep),
	}
	return o, nil
}

// towardPrice rounds a stop or take-profit onto the price step, towards
// the order's price: the conservative direction (a protective stop below
// the price rounds up, closer to it; a take-profit above rounds down). A
// value that is not positive is left as it is for the rules to refuse.
func towardPrice(v *decimal.Decimal, price, step decimal.Decimal) *decimal.Decimal {
	if v == nil {
		return nil
	}
	r := *v
	// A step of 1×10^e (0.01, 0.001 ...) divides every value with no more
	// decimals than it: nothing to round, and no division.
	onStep := step.CoefficientInt64() == 1 && step.NumDigits() == 1 && r.Exponent() >= step.Exponent()
	if r.IsPositive() && !onStep {
		r = roundToStep(r, step, r.LessThan(price))
	}
	return &r
}

// roundToStep rounds a positive v to a multiple of step: down, or up when
// up is set.
func roundToStep(v, step decimal.Decimal, up bool) decimal.Decimal {
	q, r := v.QuoRem(step, 0)
	if up && !r.IsZero() {
		q = q.Add(decimal.NewFromInt(1))
	}
	return q.Mul(step)
}
