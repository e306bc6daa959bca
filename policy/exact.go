package policy

import (
	"math"
	"math/bits"
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
	if s == 1 && !math.IsNaN(x) && !math.IsInf(x, 0) {
		return x, true // the usual case: nothing scaled
	}
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

// pow10u are the powers of ten that fit a uint64.
var pow10u = func() [20]uint64 {
	var p [20]uint64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// exactPow10 are the powers of ten a double holds exactly.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

func digitsU(u uint64) int {
	n := 0
	for n < len(pow10u) && u >= pow10u[n] {
		n++
	}
	return n
}

// ratioDbl is dbl(ratio(num, scale, den, r), r): num×scale/den rounded to
// 15 significant digits in the direction r, then to the nearest double.
// scale is a power of ten (100 or 10000); den must be positive. Values
// with coefficients that fit 64 bits (every price, quantity and equity in
// practice) are done in integer arithmetic without allocating; anything
// else goes through decimal.
func ratioDbl(num decimal.Decimal, scale int64, den decimal.Decimal, r rounding) float64 {
	if f, ok := ratioFast(num, scale, den, r); ok {
		return f
	}
	return dbl(ratio(num, decimal.NewFromInt(scale), den, r), r)
}

func ratioFast(num decimal.Decimal, scale int64, den decimal.Decimal, r rounding) (float64, bool) {
	if num.IsZero() {
		return 0, true
	}
	if num.NumDigits() > 18 || den.NumDigits() > 18 || !den.IsPositive() || scale <= 0 {
		return 0, false
	}
	neg := num.IsNegative()
	a := num.CoefficientInt64()
	if neg {
		a = -a
	}
	dc := uint64(den.CoefficientInt64())
	// A = |num coefficient| × scale, 128 bits.
	hi, lo := bits.Mul64(uint64(a), uint64(scale))
	if hi >= dc {
		return 0, false
	}
	q, rem := bits.Div64(hi, lo, dc)
	exp := int(num.Exponent()) - int(den.Exponent())
	inexact := false
	nd := digitsU(q)
	switch {
	case nd > sigDigits:
		drop := nd - sigDigits
		if rem != 0 || q%pow10u[drop] != 0 {
			inexact = true
		}
		q /= pow10u[drop]
		exp += drop
	default:
		// Long division: more digits from the remainder until 15.
		for guard := 0; digitsU(q) < sigDigits && rem != 0 && guard < 4; guard++ {
			k := sigDigits - digitsU(q)
			if q == 0 {
				k = sigDigits
			}
			if k > 18 {
				k = 18
			}
			h, l := bits.Mul64(rem, pow10u[k])
			var frac uint64
			frac, rem = bits.Div64(h, l, dc) // h < dc since rem < dc
			q = q*pow10u[k] + frac
			exp -= k
		}
		if digitsU(q) > sigDigits+1 {
			return 0, false
		}
		if digitsU(q) < sigDigits && rem != 0 {
			return 0, false // too small to matter here: leave it to decimal
		}
		inexact = rem != 0
	}
	// Truncation rounds the magnitude down: up for a negative value, down
	// for a positive one. Step away from zero when that is the wrong way.
	if inexact && ((r == roundUp && !neg) || (r == roundDown && neg)) {
		q++
	} else if inexact && r == nearest {
		return 0, false
	}
	f := float64(q) // exact: q <= 10^16 < 2^53
	switch {
	case exp == 0:
	case exp > 0 && exp < len(exactPow10):
		f *= exactPow10[exp]
	case exp < 0 && -exp < len(exactPow10):
		f /= exactPow10[-exp]
	default:
		return 0, false
	}
	if neg {
		f = -f
	}
	return f, true
}
