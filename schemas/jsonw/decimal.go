package jsonw

import (
	"strconv"

	"github.com/shopspring/decimal"
)

// Decimal appends d.String() to b. A coefficient that fits in an
// int64 (every price and quantity of a market) is formatted with strconv
// instead of big.Int's division: a state's book holds dozens of them and
// is encoded at every audited cycle.
func Decimal(b []byte, d decimal.Decimal) []byte {
	e := d.Exponent()
	if !decimal.TrimTrailingZeros || decimal.UseScientificNotation || e > 18 || e < -40 || d.NumDigits() > 18 {
		return append(b, d.String()...)
	}
	c := d.CoefficientInt64()
	if c == 0 {
		return append(b, '0')
	}
	if c < 0 {
		b = append(b, '-')
		c = -c
	}
	var buf [20]byte
	ds := strconv.AppendInt(buf[:0], c, 10)
	if e >= 0 {
		b = append(b, ds...)
		for range e {
			b = append(b, '0')
		}
		return b
	}
	n := int(-e) // digits after the point
	var intPart, frac []byte
	lead := 0
	if len(ds) > n {
		intPart, frac = ds[:len(ds)-n], ds[len(ds)-n:]
	} else {
		intPart, frac, lead = []byte{'0'}, ds, n-len(ds)
	}
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	b = append(b, intPart...)
	if len(frac) == 0 {
		return b
	}
	b = append(b, '.')
	for range lead {
		b = append(b, '0')
	}
	return append(b, frac...)
}
