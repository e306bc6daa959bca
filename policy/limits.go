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
)

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
	}
	return vs
}
