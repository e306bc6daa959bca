package policy

import (
	"math"
	"strconv"

	"github.com/shopspring/decimal"
)

// The numeric model. Money, quantities and the quantities that rules
// compare against limits are decimals in Go; CEL sees doubles. A double
// holds any decimal of up to 15 significant digits exactly enough that two
// such decimals that differ are two different doubles, in the same order
// (DBL_DIG), and a param such as 0.55 or 2 in a policy file is the double
// nearest its text. So a value handed to CEL is first rounded to 15
// significant digits and then to the nearest double: a value equal to a
// limit of up to 15 digits is the same double as the limit (it passes an
// inclusive comparison), and a value past it, by however little, is a
// different and larger (or smaller) double (it fails).
//
// Which way the 15-digit rounding goes depends on the value: derived
// quantities that rules hold under a maximum (percentages of equity,
// distances in bps) round up, and those held over a minimum (confidence,
// what may be sold) round down, so the rounding can only make a rule
// stricter, never let a value past a limit through. Divisions are done at
// divPlaces decimal places in the same direction first.

// sigDigits is the number of significant decimal digits a double keeps
// distinct.
const sigDigits = 15

// divPlaces is the precision of the derived quotients, before the
// 15-digit rounding.
const divPlaces = 24

type rounding int8

const (
	nearest   rounding = iota
	roundUp            // towards +infinity: for values held under a maximum
	roundDown          // towards -infinity: for values held over a minimum
)

// dbl is d as CEL sees it: rounded to 15 significant digits in the
// direction r, then to the nearest double.
func dbl(d decimal.Decimal, r rounding) float64 {
	if r != nearest && !d.IsZero() {
		// digits before the point: NumDigits + exponent
		places := int32(sigDigits - d.NumDigits() - int(d.Exponent()))
		if d.Exponent() < -places {
			if r == roundUp {
				d = d.RoundCeil(places)
			} else {
				d = d.RoundFloor(places)
			}
		}
	}
	return d.InexactFloat64()
}

var (
	decOne = decimal.NewFromInt(1)
	tenK   = decimal.NewFromInt(10000)
)

// ratio is num×scale/den, rounded at divPlaces in the direction r (den > 0).
func ratio(num, scale, den decimal.Decimal, r rounding) decimal.Decimal {
	n := num.Mul(scale)
	q, rem := n.QuoRem(den, divPlaces)
	if rem.IsZero() {
		return q
	}
	ulp := decimal.New(1, -divPlaces)
	// QuoRem truncates towards zero; the remainder has the sign of n.
	switch {
	case r == roundUp && rem.Sign() > 0:
		q = q.Add(ulp)
	case r == roundDown && rem.Sign() < 0:
		q = q.Sub(ulp)
	}
	return q
}

// shortest is the shortest decimal that reads back as f: the decimal a
// param's text had, for a param of up to 15 significant digits.
func shortest(f float64) (decimal.Decimal, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(strconv.FormatFloat(f, 'g', -1, 64))
	return d, err == nil
}

// scaledCap is scaled(x, s) in CEL: the cap x times the scale s, computed
// in decimal from the shortest decimal of each double and rounded down to
// 15 significant digits (a scaled cap can only be stricter), so
// scaled(2, 0.5) is exactly 1 and scaled(0.3, 0.1) exactly 0.03.
func scaledCap(x, s float64) (float64, bool) {
	dx, ok1 := shortest(x)
	ds, ok2 := shortest(s)
	if !ok1 || !ok2 {
		return 0, false
	}
	return dbl(dx.Mul(ds), roundDown), true
}

// numText is num(x) in CEL: the shortest decimal that reads back as x, in
// plain notation ("0.55", "2", "42010.5"), for messages.
func numText(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// fixedVs is fixed_vs(x, limit) in CEL: x with two decimals, or as many
// more as it takes for the shown number to be on the same side of the
// limit as x itself (never equal to it), so a message never reads like
// the limit ("0.549 is below 0.55", not "0.55 is below 0.55"). A value
// equal to the limit is shown with two decimals.
func fixedVs(x, limit float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) || x == limit {
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
	for n := 2; n <= 17; n++ {
		s := strconv.FormatFloat(x, 'f', n, 64)
		shown, err := strconv.ParseFloat(s, 64)
		if err == nil && (shown > limit) == (x > limit) && shown != limit {
			return s
		}
	}
	return numText(x)
}
