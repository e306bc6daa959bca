package schemas

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// plainState is State without its methods: encoding/json writes it from
// the fields, the reference State.AppendJSON must match.
type plainState State

// encodeJSON is what a json.Encoder writes of v, without its newline.
func encodeJSON(t *testing.T, v any, escapeHTML bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

var trickyStrings = []string{
	"", "TRADING", "BTC/USDT", "USDT", "normal", "<b>&amp;</b>", "a\u2028b\u2029c", "\x00\x01\x1f\b\f\n\r\t\x7f",
	"\xff\xfe bad utf-8 \xc3", "é 🙂 日本", `"quoted" \ back\slash`, "end\\", "\u00e9\u2027\u202a",
}

func randomDecimal(r *rand.Rand) decimal.Decimal {
	switch r.IntN(8) {
	case 0:
		return decimal.Decimal{}
	case 1:
		return decimal.New(r.Int64N(1e6)-5e5, -int32(r.IntN(12)))
	case 2:
		return decimal.New(r.Int64(), int32(r.IntN(50))-40) // past int64 digits when scaled
	case 3:
		return decimal.RequireFromString("123456789012345678901234567890.000000000000000000001")
	case 4:
		return decimal.New(r.Int64N(1000), int32(r.IntN(5))) // positive exponent
	default:
		return decimal.NewFromFloat(r.Float64() * 1e5).Round(int32(r.IntN(9)))
	}
}

func randomState(r *rand.Rand) State {
	str := func() string { return trickyStrings[r.IntN(len(trickyStrings))] }
	locs := []*time.Location{time.UTC, time.FixedZone("X", 5*3600+1800), time.FixedZone("Y", -7*3600)}
	s := State{
		Now:            time.Date(1+r.IntN(9999), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(3)*r.IntN(1e9), locs[r.IntN(len(locs))]),
		Mode:           str(),
		KillSwitch:     r.IntN(2) == 0,
		SafeMode:       r.IntN(2) == 0,
		RiskScale:      randomDecimal(r),
		ExchangeStatus: str(),
		InMaintenance:  r.IntN(2) == 0,
		Account: Account{Quote: str(), Equity: randomDecimal(r), Cash: randomDecimal(r), PeakEquity: randomDecimal(r), DayStartEquity: randomDecimal(r),
			OrdersLastMinute: r.IntN(40) - 5, OpenOrders: r.IntN(1 << 20)},
	}
	if r.IntN(4) > 0 {
		s.Account.Positions = map[string]Position{}
		for range r.IntN(4) {
			s.Account.Positions[str()] = Position{Qty: randomDecimal(r), AvgPrice: randomDecimal(r), Locked: randomDecimal(r)}
		}
	}
	if r.IntN(4) > 0 {
		s.Markets = map[string]Market{}
		for range r.IntN(4) {
			m := Market{Bid: randomDecimal(r), Ask: randomDecimal(r), Last: randomDecimal(r), QuoteVolume24h: randomDecimal(r), DataAgeS: randomDecimal(r),
				AmountStep: randomDecimal(r), PriceStep: randomDecimal(r), MinAmount: randomDecimal(r), MinNotional: randomDecimal(r), Status: str()}
			switch r.IntN(3) {
			case 0:
			case 1:
				m.Book = &Book{}
			default:
				m.Book = &Book{Bids: []BookLevel{{randomDecimal(r), randomDecimal(r)}}, Asks: []BookLevel{}}
			}
			s.Markets[str()] = m
		}
	}
	return s
}

// TestStateJSONIsEncodingJSON: the state's own encoder writes what
// encoding/json writes from its fields, byte for byte, with HTML escaping
// off (as the audit store encodes) and on (json.Marshal), over random
// states with every kind of string, decimal, map and time in them.
func TestStateJSONIsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 3000; i++ {
		s := randomState(r)
		got, err := s.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := encodeJSON(t, plainState(s), false); !bytes.Equal(got, want) {
			t.Fatalf("state %d:\n got %s\nwant %s", i, got, want)
		}
		marshalled, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := json.Marshal(plainState(s)); !bytes.Equal(marshalled, want) {
			t.Fatalf("json.Marshal of state %d:\n got %s\nwant %s", i, marshalled, want)
		}
	}
	// A year encoding/json refuses is refused.
	s := State{Now: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := s.AppendJSON(nil); err == nil {
		t.Fatal("AppendJSON of year 10000: no error")
	}
	if _, err := json.Marshal(s); err == nil || !strings.Contains(err.Error(), "year") {
		t.Fatalf("json.Marshal of year 10000 = %v; want the year error", err)
	}
}

// plainResponse and plainRecommendation are Response and Recommendation
// without their methods.
type (
	plainRecommendation Recommendation
	plainResponse       struct {
		Rationale       string                `json:"rationale"`
		Recommendations []plainRecommendation `json:"recommendations"`
	}
)

func randomResponse(r *rand.Rand) Response {
	str := func() string { return trickyStrings[r.IntN(len(trickyStrings))] }
	opt := func() *decimal.Decimal {
		if r.IntN(3) == 0 {
			return nil
		}
		d := randomDecimal(r)
		return &d
	}
	resp := Response{Rationale: str()}
	if r.IntN(5) > 0 {
		resp.Recommendations = []Recommendation{}
		for range r.IntN(4) {
			resp.Recommendations = append(resp.Recommendations, Recommendation{Symbol: str(), Action: Action(str()), Confidence: randomDecimal(r), SizePct: randomDecimal(r),
				OrderType: OrderType(str()), LimitPrice: opt(), StopLoss: opt(), TakeProfit: opt(), Reason: str()})
		}
	}
	return resp
}

// TestResponseJSONIsEncodingJSON: as TestStateJSONIsEncodingJSON, for the
// response and its recommendations.
func TestResponseJSONIsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 3000; i++ {
		resp := randomResponse(r)
		plain := plainResponse{Rationale: resp.Rationale}
		if resp.Recommendations != nil {
			plain.Recommendations = []plainRecommendation{}
		}
		for _, rec := range resp.Recommendations {
			plain.Recommendations = append(plain.Recommendations, plainRecommendation(rec))
		}
		want := encodeJSON(t, plain, false)
		if got := resp.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("response %d:\n got %s\nwant %s", i, got, want)
		}
		for _, escape := range []bool{false, true} {
			if got, want := encodeJSON(t, resp, escape), encodeJSON(t, plain, escape); !bytes.Equal(got, want) {
				t.Fatalf("response %d through encoding/json (escape HTML %v):\n got %s\nwant %s", i, escape, got, want)
			}
		}
	}
}

func BenchmarkStateJSON(b *testing.B) {
	s := randomState(rand.New(rand.NewPCG(5, 6)))
	s.Markets = map[string]Market{"BTC/USDT": {Bid: decimal.RequireFromString("31879.82"), Ask: decimal.RequireFromString("31886.2"),
		Book: &Book{Bids: make([]BookLevel, 20), Asks: make([]BookLevel, 20)}}}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = s.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(plainState(s))
		}
	})
}

// TestVerdictJSONIsEncodingJSON: as TestStateJSONIsEncodingJSON, for a
// verdict with its order, violations, warnings and rule results.
func TestVerdictJSONIsEncodingJSON(t *testing.T) {
	type plainVerdict Verdict // the fields without the methods
	r := rand.New(rand.NewPCG(9, 10))
	str := func() string { return trickyStrings[r.IntN(len(trickyStrings))] }
	opt := func() *decimal.Decimal {
		if r.IntN(3) == 0 {
			return nil
		}
		d := randomDecimal(r)
		return &d
	}
	violations := func() []Violation {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return []Violation{}
		}
		var vs []Violation
		for range 1 + r.IntN(3) {
			v := Violation{Rule: str(), Message: str(), Source: str()}
			if r.IntN(2) == 0 {
				v.Pointer = str()
			}
			vs = append(vs, v)
		}
		return vs
	}
	for i := 0; i < 3000; i++ {
		v := Verdict{Index: r.IntN(2000) - 1000, Symbol: str(), Action: Action(str()), Decision: Decision(str()), Violations: violations(), Warnings: violations()}
		if r.IntN(2) == 0 {
			v.Order = &Order{Symbol: str(), Side: Side(str()), Type: OrderType(str()), Quantity: randomDecimal(r), Price: randomDecimal(r), Notional: randomDecimal(r), StopLoss: opt(), TakeProfit: opt()}
		}
		switch r.IntN(3) {
		case 0:
		case 1:
			v.Rules = []RuleResult{}
		default:
			for range 1 + r.IntN(5) {
				rr := RuleResult{Name: str(), Mode: str(), Passed: r.IntN(2) == 0, NotApplicable: r.IntN(3) == 0}
				if r.IntN(2) == 0 {
					rr.Message = str()
				}
				if r.IntN(3) == 0 {
					rr.Error = str()
				}
				v.Rules = append(v.Rules, rr)
			}
		}
		want := encodeJSON(t, plainVerdict(v), false)
		if got := v.AppendJSON([]byte("x")); !bytes.Equal(got, append([]byte("x"), want...)) {
			t.Fatalf("verdict %d:\n got %s\nwant %s", i, got, want)
		}
		if got, want := AppendViolationsJSON(nil, v.Violations), encodeJSON(t, v.Violations, false); !bytes.Equal(got, want) {
			t.Fatalf("violations %d:\n got %s\nwant %s", i, got, want)
		}
		for _, escape := range []bool{false, true} {
			if got, want := encodeJSON(t, v, escape), encodeJSON(t, plainVerdict(v), escape); !bytes.Equal(got, want) {
				t.Fatalf("verdict %d through encoding/json (escape HTML %v):\n got %s\nwant %s", i, escape, got, want)
			}
		}
	}
}
