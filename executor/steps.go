package executor

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"regexp"

	"github.com/shopspring/decimal"
)

// ClientIDPrefix starts every client order id Warden generates, so an order
// on the exchange without it is recognisably not ours.
const ClientIDPrefix = "wd"

// Order roles. The entry is the decision's own order (whichever side); stops
// and exits are the protection the executor places for a filled entry. A
// resized stop gets a new role "stop.2", "stop.3"... so each exchange order
// has its own client id.
const (
	RoleEntry = "entry"
	RoleStop  = "stop"
	RoleExit  = "exit"
)

var clientIDRe = regexp.MustCompile(`^[\.A-Z\:/a-z0-9_-]{1,36}$`)

// ClientOrderID derives the client order id of one order of a decision:
// "wd" and the first 30 hex digits of sha256(decisionID, role). The same
// decision and role always give the same id, so a resend is recognisable;
// the id matches Binance's ^[\.A-Z\:/a-z0-9_-]{1,36}$.
func ClientOrderID(decisionID, role string) string {
	// Hashed from a buffer on the stack and written out in one allocation:
	// protection derives the ids of a decision's orders at every poll.
	var in [128]byte
	b := append(in[:0], decisionID...)
	b = append(b, 0)
	b = append(b, role...)
	sum := sha256.Sum256(b)
	var out [2 + 30]byte
	copy(out[:], ClientIDPrefix)
	hex.Encode(out[2:], sum[:15])
	return string(out[:])
}

// ValidClientOrderID reports whether id is acceptable to Binance.
func ValidClientOrderID(id string) bool { return clientIDRe.MatchString(id) }

// FloorToStep rounds v down to a multiple of step; a zero or negative step
// leaves v unchanged.
func FloorToStep(v, step decimal.Decimal) decimal.Decimal {
	return ToStep(v, step, StepFloor)
}

// StepRounding is how ToStep rounds: down, up, or to the nearest multiple
// (half away from zero, as decimal.Round).
type StepRounding int

const (
	StepFloor StepRounding = iota
	StepCeil
	StepNearest
)

// ToStep rounds v to a multiple of step as mode says; a zero or negative
// step leaves v unchanged. The result is quotient × step with step's
// exponent, as v.Div(step).Floor().Mul(step) wrote it, but the quotient is
// exact: integer division at a common exponent. (decimal's Div stops at
// 16 digits and can round a quotient just under a whole number up to it,
// and so put a floor a step above v; it was also the dearest part of
// every price and quantity on a step.)
func ToStep(v, step decimal.Decimal, mode StepRounding) decimal.Decimal {
	if step.Sign() <= 0 {
		return v
	}
	ve, se := v.Exponent(), step.Exponent()
	e := min(ve, se)
	// Common case: both coefficients, scaled to exponent e, fit in int64.
	if v.NumDigits()+int(ve-e) <= 18 && step.NumDigits()+int(se-e) <= 18 {
		a := v.CoefficientInt64() * pow10i64[ve-e]
		b := step.CoefficientInt64() * pow10i64[se-e]
		q, r := a/b, a%b // truncated toward zero
		q += int64(mode.adjust(cmp.Compare(r, 0), func() int { return cmp.Compare(2*absInt64(r), b) }))
		if c := step.CoefficientInt64(); q == 0 || c <= 1<<62/absInt64(q) {
			return decimal.New(q*c, se)
		}
		return decimal.NewFromBigInt(new(big.Int).Mul(big.NewInt(q), step.Coefficient()), se)
	}
	a := scaledCoefficient(v, e)
	b := scaledCoefficient(step, e)
	q, r := new(big.Int).QuoRem(a, b, new(big.Int))
	q.Add(q, big.NewInt(int64(mode.adjust(r.Sign(), func() int { return new(big.Int).Lsh(new(big.Int).Abs(r), 1).Cmp(b) }))))
	return decimal.NewFromBigInt(q.Mul(q, step.Coefficient()), se)
}

// adjust is what mode adds to a quotient truncated toward zero, given the
// sign of the remainder and, for StepNearest, how twice its magnitude
// compares with the divisor (ties go away from zero).
func (mode StepRounding) adjust(rSign int, twiceCmp func() int) int {
	switch {
	case rSign == 0:
		return 0
	case mode == StepFloor && rSign < 0, mode == StepCeil && rSign > 0:
		return rSign
	case mode == StepNearest && twiceCmp() >= 0:
		return rSign
	}
	return 0
}

// pow10i64[k] is 10^k, for k up to 18.
var pow10i64 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

func absInt64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// scaledCoefficient is d's coefficient scaled to exponent e ≤ d's.
func scaledCoefficient(d decimal.Decimal, e int32) *big.Int {
	c := d.Coefficient()
	if k := int64(d.Exponent()) - int64(e); k > 0 {
		c.Mul(c, new(big.Int).Exp(big.NewInt(10), big.NewInt(k), nil))
	}
	return c
}

// IsStepMultiple reports whether v is a whole multiple of step; a zero step
// accepts anything.
func IsStepMultiple(v, step decimal.Decimal) bool {
	if step.Sign() <= 0 {
		return true
	}
	return v.Mod(step).IsZero()
}
