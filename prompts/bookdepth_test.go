package prompts

import (
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// TestSumNotionalIsExact: the int64 sum of a book's notional is the
// decimal one, for books on fixed steps (the fast path), books with mixed
// exponents and coefficients too large for it, and an empty side.
func TestSumNotionalIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ref := func(ls []schemas.BookLevel) decimal.Decimal {
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
		var ls []schemas.BookLevel
		for range n {
			pc, qc := r.Int64N(99_999_999)+1, r.Int64N(99_999_999)+1
			switch r.IntN(10) {
			case 0:
				pc *= 1_000_000_000 // too many digits: the decimal path
			case 1:
				ls = append(ls, schemas.BookLevel{Price: decimal.New(pc, pe-1), Qty: decimal.New(qc, qe)}) // another exponent
				continue
			}
			ls = append(ls, schemas.BookLevel{Price: decimal.New(pc, pe), Qty: decimal.New(qc, qe)})
		}
		got, want := sumNotional(ls), ref(ls)
		if !got.Equal(want) || got.StringFixed(0) != want.StringFixed(0) {
			t.Fatalf("book %d (%d levels): %s; decimal sum %s", i, n, got, want)
		}
	}
}
