package executor

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

// refToStep is ToStep by exact rational arithmetic: the reference the
// integer arithmetic is checked against.
func refToStep(v, step decimal.Decimal, mode StepRounding) decimal.Decimal {
	q := new(big.Rat).Quo(v.Rat(), step.Rat())
	n, d := q.Num(), q.Denom()                       // d > 0
	fl, r := new(big.Int).DivMod(n, d, new(big.Int)) // Euclidean: fl = ⌊q⌋, r ≥ 0
	switch mode {
	case StepCeil:
		if r.Sign() > 0 {
			fl.Add(fl, big.NewInt(1))
		}
	case StepNearest:
		// half away from zero: compare 2r with d, ties go up for q > 0 and
		// stay at ⌊q⌋ (the larger magnitude) for q < 0
		c := new(big.Int).Lsh(r, 1).Cmp(d)
		if c > 0 || (c == 0 && q.Sign() > 0) {
			fl.Add(fl, big.NewInt(1))
		}
	}
	return decimal.NewFromBigInt(fl, 0).Mul(step)
}

func TestToStepIsExact(t *testing.T) {
	d := decimal.RequireFromString
	modes := []StepRounding{StepFloor, StepCeil, StepNearest}
	for _, tc := range []struct {
		v, step              string
		floor, ceil, nearest string
	}{
		{"31883.017", "0.01", "31883.01", "31883.02", "31883.02"},
		{"31883.01", "0.01", "31883.01", "31883.01", "31883.01"},
		{"0.123456789", "0.00001", "0.12345", "0.12346", "0.12346"},
		{"0.123455", "0.00001", "0.12345", "0.12346", "0.12346"}, // a tie rounds away from zero
		{"-0.123455", "0.00001", "-0.12346", "-0.12345", "-0.12346"},
		{"-7", "5", "-10", "-5", "-5"},
		{"7.5", "5", "5", "10", "10"},
		{"12", "0.5", "12", "12", "12"},
		{"5", "0.01", "5", "5", "5"},
		{"0", "0.01", "0", "0", "0"},
		{"3", "0.25", "3", "3", "3"},
		{"3.1", "0.25", "3", "3.25", "3"},
		// Just under a step, past 16 digits: decimal's Div rounded the
		// quotient up to 1 and put the floor a step above the value.
		{"0.00999999999999999999", "0.01", "0", "0.01", "0.01"},
		// Coefficients past int64.
		{"123456789012345678901234.5", "0.1", "123456789012345678901234.5", "123456789012345678901234.5", "123456789012345678901234.5"},
		{"123456789012345678901234.56", "0.1", "123456789012345678901234.5", "123456789012345678901234.6", "123456789012345678901234.6"},
		{"1", "0.000000000000000000001", "1", "1", "1"},
	} {
		want := []string{tc.floor, tc.ceil, tc.nearest}
		for i, m := range modes {
			got := ToStep(d(tc.v), d(tc.step), m)
			if !got.Equal(d(want[i])) {
				t.Errorf("ToStep(%s, %s, %d) = %s; want %s", tc.v, tc.step, m, got, want[i])
			}
			if ref := refToStep(d(tc.v), d(tc.step), m); !ref.Equal(got) {
				t.Errorf("ToStep(%s, %s, %d) = %s; the exact reference says %s", tc.v, tc.step, m, got, ref)
			}
		}
	}
	if got := FloorToStep(d("1.23"), decimal.Zero); !got.Equal(d("1.23")) {
		t.Errorf("FloorToStep with a zero step = %s; want the value unchanged", got)
	}
	// Random values and steps of every size against the exact reference;
	// where 16 digits hold the quotient, also against the formula ToStep
	// replaced, digit for digit (the same exponent too).
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		v := decimal.New(r.Int64N(1e12)-5e11, -int32(r.IntN(12)))
		if i%10 == 0 {
			v = decimal.New(r.Int64(), int32(r.IntN(30))-25)
		}
		step := decimal.New(int64(1+r.IntN(1000)), -int32(r.IntN(9)))
		for _, m := range modes {
			got := ToStep(v, step, m)
			if ref := refToStep(v, step, m); !ref.Equal(got) {
				t.Fatalf("ToStep(%s, %s, %d) = %s; the exact reference says %s", v, step, m, got, ref)
			}
			if got.Exponent() != step.Exponent() {
				t.Fatalf("ToStep(%s, %s, %d) has exponent %d; want the step's %d", v, step, m, got.Exponent(), step.Exponent())
			}
		}
		if v.NumDigits() <= 12 {
			old := v.Div(step).Floor().Mul(step)
			if got := FloorToStep(v, step); got.String() != old.String() || got.Exponent() != old.Exponent() {
				t.Fatalf("FloorToStep(%s, %s) = %s (exp %d); Div/Floor/Mul gave %s (exp %d)", v, step, got, got.Exponent(), old, old.Exponent())
			}
		}
	}
}

func BenchmarkFloorToStep(b *testing.B) {
	v, step := decimal.RequireFromString("31883.0171234"), decimal.RequireFromString("0.01")
	b.ReportAllocs()
	for b.Loop() {
		FloorToStep(v, step)
	}
}
