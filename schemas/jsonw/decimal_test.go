package jsonw

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

// TestDecimalIsString: Decimal writes exactly what String()
// does, for coefficients small and large, negative and zero, and
// exponents on both sides of the point.
func TestDecimalIsString(t *testing.T) {
	cases := []decimal.Decimal{
		decimal.Zero, decimal.New(0, -8), decimal.New(0, 3), decimal.New(-5, -1), decimal.New(-10, -1), decimal.New(50, -2),
		decimal.New(1, -40), decimal.New(1, -41), decimal.New(123, 18), decimal.New(123, 19), decimal.New(math.MaxInt64, -3),
		decimal.New(math.MinInt64, -3), decimal.New(-math.MaxInt64, 0), decimal.New(999999999999999999, -18),
		decimal.RequireFromString("30855.89"), decimal.RequireFromString("36.14743000"), decimal.RequireFromString("0.00000483"),
		decimal.RequireFromString("-0.000001"), decimal.RequireFromString("100.0"), decimal.RequireFromString("12345678901234567890.5"),
		decimal.NewFromBigInt(new(big.Int).Lsh(big.NewInt(1), 80), -5),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		c := r.Int64N(1<<62) >> r.IntN(62)
		if r.IntN(2) == 0 {
			c = -c
		}
		cases = append(cases, decimal.New(c, int32(r.IntN(50)-40)))
	}
	for _, d := range cases {
		if got, want := string(Decimal([]byte("x"), d)), "x"+d.String(); got != want {
			t.Fatalf("Decimal(%s) = %q; want %q", d, got, want)
		}
	}
}
