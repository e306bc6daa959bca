package schemas

import (
	"encoding/json"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

// TestAppendDecimalIsString: appendDecimal writes exactly what String()
// does, for coefficients small and large, negative and zero, and
// exponents on both sides of the point.
func TestAppendDecimalIsString(t *testing.T) {
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
		if got, want := string(appendDecimal([]byte("x"), d)), "x"+d.String(); got != want {
			t.Fatalf("appendDecimal(%s) = %q; want %q", d, got, want)
		}
	}
}

// TestBookMarshalsAsItsFields: Book's own encoder writes what
// encoding/json writes from its fields, empty and missing sides included.
func TestBookMarshalsAsItsFields(t *testing.T) {
	type fields struct {
		Bids []BookLevel `json:"bids"`
		Asks []BookLevel `json:"asks"`
	}
	lv := func(p, q string) BookLevel {
		return BookLevel{Price: decimal.RequireFromString(p), Qty: decimal.RequireFromString(q)}
	}
	books := []Book{
		{},
		{Bids: []BookLevel{}, Asks: []BookLevel{}},
		{Bids: []BookLevel{lv("30855.89", "36.14743")}},
		{Bids: []BookLevel{lv("30855.89", "36.14743"), lv("30852.80", "0.00001")}, Asks: []BookLevel{lv("30862.07", "1e-8"), lv("30865.1600", "1000000")}},
	}
	for _, b := range books {
		got, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(fields(b))
		if string(got) != string(want) {
			t.Errorf("Book encodes as %s; its fields as %s", got, want)
		}
		var back Book
		if err := json.Unmarshal(got, &back); err != nil || len(back.Bids) != len(b.Bids) {
			t.Errorf("Book %s does not read back: %v", got, err)
		}
	}
}
