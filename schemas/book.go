package schemas

import "github.com/shopspring/decimal"

// NotionalWithin is the quote value (price × quantity, summed exactly) of
// the levels from the best on that lie within bound: at or above it for
// bids, at or below it for asks. The prompt's depth line and the policy's
// market.depth_quote_within_bps both read a book this way.
func NotionalWithin(levels []BookLevel, bound decimal.Decimal, bids bool) decimal.Decimal {
	return sumNotional(levels[:leadingWithin(levels, bound, bids)])
}

// leadingWithin counts the levels from the first on whose price is at or
// above bound (above) or at or below it. Prices on one exponent, as a
// book on a price step has, are compared as int64 coefficients against
// the bound rounded the safe way; any other level in decimal.
func leadingWithin(ls []BookLevel, bound decimal.Decimal, above bool) int {
	if len(ls) == 0 {
		return 0
	}
	pe := ls[0].Price.Exponent()
	// In units of 10^pe, a coefficient c is at or above bound iff c >=
	// ceil(bound), at or below iff c <= floor(bound).
	scaled := bound.Shift(-pe)
	lim := scaled.Floor()
	if above {
		lim = scaled.Ceil()
	}
	fast := lim.NumDigits() <= 17 && lim.Exponent() <= 0
	limC := lim.IntPart()
	for i, l := range ls {
		if fast && l.Price.Exponent() == pe && l.Price.NumDigits() <= 17 {
			c := l.Price.CoefficientInt64()
			if (above && c < limC) || (!above && c > limC) {
				return i
			}
			continue
		}
		if (above && l.Price.LessThan(bound)) || (!above && l.Price.GreaterThan(bound)) {
			return i
		}
	}
	return len(ls)
}

// sumNotional is the sum of price × quantity over levels, exact. Levels
// whose prices share one exponent and quantities another (a book on
// fixed steps) are summed in int64 when that cannot overflow; any other
// book in decimal.
func sumNotional(ls []BookLevel) decimal.Decimal {
	if len(ls) == 0 {
		return decimal.Decimal{}
	}
	pe, qe := ls[0].Price.Exponent(), ls[0].Qty.Exponent()
	var sum int64
	// Coefficients of at most 8 digits make products below 10^16, and 900
	// of them sum below 9×10^18 < MaxInt64.
	fast := len(ls) <= 900
	for _, l := range ls {
		if !fast {
			break
		}
		if l.Price.Exponent() != pe || l.Qty.Exponent() != qe || l.Price.NumDigits() > 8 || l.Qty.NumDigits() > 8 || l.Price.Sign() < 0 || l.Qty.Sign() < 0 {
			fast = false
			break
		}
		sum += l.Price.CoefficientInt64() * l.Qty.CoefficientInt64()
	}
	if fast {
		return decimal.New(sum, pe+qe)
	}
	var out decimal.Decimal
	for _, l := range ls {
		out = out.Add(l.Price.Mul(l.Qty))
	}
	return out
}
