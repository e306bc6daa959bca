package schemas

import (
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

// TestSumNotionalIsExact: the int64 sum of a book's notional is the
// decimal one, for books on fixed steps (the fast path), books with mixed
// exponents and coefficients too large for it, and an empty side.
func TestSumNotionalIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ref := func(ls []BookLevel) decimal.Decimal {
		var out decimal.Decimal
		for _, l := range ls {
			out = out.Add(l.Price.Mul(l.Qty))
		}
		return out
	}
	for i := range 3000 {
		n := r.IntN(30)
		if i%500 == 0 {
			n = 900 + r.IntN(3)
		}
		pe, qe := int32(-r.IntN(9)), int32(-r.IntN(9))
		var ls []BookLevel
		for range n {
			pc, qc := r.Int64N(99_999_999)+1, r.Int64N(99_999_999)+1
			switch r.IntN(10) {
			case 0:
				pc *= 1_000_000_000 // too many digits: the decimal path
			case 1:
				ls = append(ls, BookLevel{Price: decimal.New(pc, pe-1), Qty: decimal.New(qc, qe)}) // another exponent
				continue
			}
			ls = append(ls, BookLevel{Price: decimal.New(pc, pe), Qty: decimal.New(qc, qe)})
		}
		got, want := sumNotional(ls), ref(ls)
		if !got.Equal(want) || got.StringFixed(0) != want.StringFixed(0) {
			t.Fatalf("book %d (%d levels): %s; decimal sum %s", i, n, got, want)
		}
	}
}

// TestLeadingWithinIsExact: the levels counted within a bound are those
// the decimal comparison counts, bounds on and between price steps, with
// levels of other exponents mixed in.
func TestLeadingWithinIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := range 5000 {
		pe := int32(-r.IntN(8))
		above := r.IntN(2) == 0
		best := r.Int64N(1_000_000_000) + 1000
		var ls []BookLevel
		c := best
		for range r.IntN(25) + 1 {
			p := decimal.New(c, pe)
			if r.IntN(15) == 0 {
				p = decimal.New(c*10, pe-1) // the same price, another exponent
			}
			ls = append(ls, BookLevel{Price: p, Qty: decimal.New(1, 0)})
			if above {
				c -= r.Int64N(50) + 1
			} else {
				c += r.Int64N(50) + 1
			}
		}
		// A bound near the book: on a step, between steps, or far.
		bound := decimal.New(best, pe).Mul(decimal.NewFromFloat([]float64{0.999, 1.001, 0.99999, 1.00001, 1, 0.5, 2}[r.IntN(7)]))
		if r.IntN(3) == 0 {
			bound = decimal.New(best-r.Int64N(400)+200, pe)
		}
		want := 0
		for _, l := range ls {
			if (above && l.Price.LessThan(bound)) || (!above && l.Price.GreaterThan(bound)) {
				break
			}
			want++
		}
		if got := leadingWithin(ls, bound, above); got != want {
			t.Fatalf("case %d (above %v, bound %s, first %s): %d levels; decimal comparison counts %d", i, above, bound, ls[0].Price, got, want)
		}
	}
}
