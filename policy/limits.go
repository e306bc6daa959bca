package policy

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// Hard limits: checks in Go that run on every buy and sell whatever the
// policy says. They are reported with source "limit".
const (
	RuleLimitSystemMode       = "limit_system_mode"        // the state's mode is not a known mode
	RuleLimitKillSwitch       = "limit_kill_switch"        // the kill switch blocks every order
	RuleLimitSafeMode         = "limit_safe_mode"          // safe mode allows only sells that reduce a position
	RuleLimitMaxOrderNotional = "limit_max_order_notional" // an order's notional is over Limits.MaxOrderNotional
	RuleLimitMarketData       = "limit_market_data"        // no order without market data for its symbol
	RuleLimitRiskScale        = "limit_risk_scale"         // the state's risk scale is not in (0, 1]
	RuleLimitStopPlaceable    = "limit_stop_placeable"     // a buy's protective stop would be below the exchange's minimums
	RuleLimitPriceBand        = "limit_price_band"         // a limit buy priced over the mid by more than Limits.MaxPriceDeviationPct (a sell under it)
)

// DefaultMaxPriceDeviationPct is how far, in % of the mid, a limit buy may
// be priced above it (a limit sell below it) when
// Limits.MaxPriceDeviationPct is zero or negative.
var DefaultMaxPriceDeviationPct = decimal.NewFromInt(10)

// DefaultMaxOrderNotional is the maximum order notional, in quote units,
// used when Limits.MaxOrderNotional is zero or negative.
var DefaultMaxOrderNotional = decimal.NewFromInt(1000)

// KnownModes are the system modes the validator accepts; any other mode
// denies every order.
var KnownModes = []string{"paper", "live"}

// Limits configures the hard limits. The zero value is safe: a zero or
// negative MaxOrderNotional means DefaultMaxOrderNotional (there is no way to
// switch the cap off).
type Limits struct {
	// MaxOrderNotional caps one order's notional, in quote units.
	MaxOrderNotional decimal.Decimal
	// BaseFee is the largest fee a buy may pay in the asset it buys, as a
	// fraction (Binance takes its 0.1 % from what a buy receives): what
	// filled less this is what the protective stop sells. Zero or less
	// means DefaultBaseFee; a smaller value is not taken (a VIP rate may
	// change, the check must not become optimistic).
	BaseFee decimal.Decimal
	// MaxPriceDeviationPct is how far a limit buy may be priced above the
	// market's mid (a limit sell below it), in % of the mid. Such an order
	// fills at once at whatever the book gives up to its price: a price the
	// model made up far beyond the market is a market order without a
	// bound. Zero or less means DefaultMaxPriceDeviationPct; there is no
	// way to switch it off. A buy below the mid (a sell above) rests and
	// is not bounded here.
	MaxPriceDeviationPct decimal.Decimal
}

func (l Limits) maxDeviation() decimal.Decimal {
	if !l.MaxPriceDeviationPct.IsPositive() {
		return DefaultMaxPriceDeviationPct
	}
	return l.MaxPriceDeviationPct
}

// DefaultBaseFee is Binance's standard spot fee, 0.1 %.
var DefaultBaseFee = decimal.RequireFromString("0.001")

func (l Limits) baseFee() decimal.Decimal {
	if l.BaseFee.GreaterThan(DefaultBaseFee) {
		return l.BaseFee
	}
	return DefaultBaseFee
}

func (l Limits) maxNotional() decimal.Decimal {
	if !l.MaxOrderNotional.IsPositive() {
		return DefaultMaxOrderNotional
	}
	return l.MaxOrderNotional
}

// hardLimits checks a buy or sell (o is nil when it could not be sized)
// against the limits no policy edit can remove.
func (l Limits) check(rec *schemas.Recommendation, o *schemas.Order, b *book) []schemas.Violation {
	var vs []schemas.Violation
	bad := func(rule, format string, args ...any) {
		vs = append(vs, schemas.Violation{Rule: rule, Message: fmt.Sprintf(format, args...), Source: schemas.SourceLimit})
	}
	st := b.st
	known := false
	for _, m := range KnownModes {
		if st.Mode == m {
			known = true
		}
	}
	if !known {
		bad(RuleLimitSystemMode, "system mode %q is not one of %v: no order is allowed", st.Mode, KnownModes)
	}
	if st.KillSwitch {
		bad(RuleLimitKillSwitch, "the kill switch is on: no order is allowed")
	}
	if !st.RiskValid() {
		bad(RuleLimitRiskScale, "risk scale %s is not above 0 and at most 1: no order is allowed", st.RiskScale)
	}
	if st.SafeMode {
		sellable := b.sellable(rec.Symbol)
		reducing := rec.Action == schemas.ActionSell && o != nil && sellable.IsPositive() && !o.Quantity.GreaterThan(sellable)
		if !reducing {
			bad(RuleLimitSafeMode, "safe mode is on: only sells that reduce a held position are allowed")
		}
	}
	if m, ok := st.Markets[rec.Symbol]; !ok || !marketKnown(m) {
		bad(RuleLimitMarketData, "no usable market data for %s (needs bid, ask and last above 0 and ask >= bid)", rec.Symbol)
	}
	if o != nil {
		if max := l.maxNotional(); o.Notional.GreaterThan(max) {
			bad(RuleLimitMaxOrderNotional, "order notional %s is over the maximum of %s per order", o.Notional, max)
		}
		if m, ok := st.Markets[rec.Symbol]; ok {
			if msg := l.unplaceableStop(o, m); msg != "" {
				bad(RuleLimitStopPlaceable, "%s", msg)
			}
			if msg := l.outOfBand(o, m); msg != "" {
				bad(RuleLimitPriceBand, "%s", msg)
			}
		}
	}
	return vs
}

// outOfBand says why limit order o is priced too far beyond the mid on
// the side it pays (see Limits.MaxPriceDeviationPct), in exact decimals;
// empty when it is within the band, when it is a market order or when
// the market has no usable bid and ask (RuleLimitMarketData says so).
func (l Limits) outOfBand(o *schemas.Order, m schemas.Market) string {
	if o.Type != schemas.OrderLimit || !marketKnown(m) {
		return ""
	}
	mid := m.Bid.Add(m.Ask).Mul(half)
	dev := l.maxDeviation()
	off := dev.Div(decimal.NewFromInt(100))
	one := decimal.NewFromInt(1)
	switch o.Side {
	case schemas.SideBuy:
		if top := mid.Mul(one.Add(off)); o.Price.GreaterThan(top) {
			return fmt.Sprintf("limit buy at %s is over %s, %s%% above the mid %s: a price that far above the market fills at once at whatever the book asks; no buy over it", o.Price, top, dev, mid)
		}
	case schemas.SideSell:
		if floor := mid.Mul(one.Sub(off)); o.Price.LessThan(floor) {
			return fmt.Sprintf("limit sell at %s is under %s, %s%% below the mid %s: a price that far below the market fills at once at whatever the book bids; no sell under it", o.Price, floor, dev, mid)
		}
	}
	return ""
}

// unplaceableStop says why the protective stop of buy o could not be
// placed once it filled: the stop sells what the fill left after a fee in
// the bought asset (BaseFee), rounded down to the amount step, at the
// stop's limit price (schemas.StopLimitOffset under the trigger, on the price
// step), and the exchange refuses it under its minimum amount or
// notional. Such a buy would hold a position nothing protects and that
// may be too small even to sell. Empty when the stop can be placed, when
// o is not a buy with a stop loss, or when o itself is under the
// minimums (nothing fills).
func (l Limits) unplaceableStop(o *schemas.Order, m schemas.Market) string {
	if o.Side != schemas.SideBuy || o.StopLoss == nil || !o.StopLoss.IsPositive() || !m.AmountStep.IsPositive() || !m.PriceStep.IsPositive() {
		return ""
	}
	if o.Quantity.LessThan(m.MinAmount) || o.Notional.LessThan(m.MinNotional) {
		// The order itself is under the minimums: the exchange refuses it,
		// and the policy's min_amount and min_notional rules say so.
		return ""
	}
	one := decimal.NewFromInt(1)
	fee := l.baseFee()
	net := roundToStep(o.Quantity.Mul(one.Sub(fee)), m.AmountStep, false)
	trigger := roundToStep(*o.StopLoss, m.PriceStep, false)
	limit := roundToStep(trigger.Mul(one.Sub(schemas.StopLimitOffset)), m.PriceStep, false)
	notional := net.Mul(limit)
	feePct := fee.Mul(decimal.NewFromInt(100))
	switch {
	case net.LessThan(m.MinAmount) || !net.IsPositive():
		return fmt.Sprintf("the protective stop could not be placed: quantity %s less a %s%% fee is %s at amount step %s, under the minimum amount %s; buy more or not at all",
			o.Quantity, feePct, net, m.AmountStep, m.MinAmount)
	case notional.LessThan(m.MinNotional):
		return fmt.Sprintf("the protective stop could not be placed: quantity %s less a %s%% fee is %s, worth %s at the stop's limit price %s (trigger %s), under the minimum notional %s; buy more or not at all",
			o.Quantity, feePct, net, notional, limit, trigger, m.MinNotional)
	}
	return ""
}
