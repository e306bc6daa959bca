package schemas

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// fuzzSeeds are the bad-input kinds of the table tests, as raw bytes.
func fuzzSeeds(t testing.TB) []string {
	ex := string(readTestdata(t, "recommendation.example.json"))
	rep := func(old, new string) string { return strings.Replace(ex, old, new, 1) }
	return []string{
		ex,
		"",
		`{"rationale": "x",}`,
		rep("\n}\n", "\n} thanks\n"),
		ex + ex,
		rep(`"symbol": "BTC/USDT",`, `"symbol": "BTC/USDT", "symbol": "ETH/USDT",`),
		rep(`"rationale":`, `"rationale": "a", "rationale":`),
		rep(`"confidence": 0.62`, `"confidence": NaN`),
		rep(`"limit_price": 42010.5`, `"limit_price": Infinity`),
		rep(`"confidence": 0.62`, `"confidence": 1e999`),
		rep(`"size_pct": 0`, `"size_pct": 0e-999999999`),
		rep(`"symbol": "BTC/USDT",`, `"symbol": "BTC/USDT", "leverage": 10,`),
		rep(`"confidence": 0.62`, `"confidence": "0.62"`),
		rep(`"stop_loss": 41200.0,`, ``),
		strings.Repeat("[", 40) + strings.Repeat("]", 40),
		rep("No clear edge.", "No clear \xff edge."),
		rep("No clear edge.", `No clear \ud800 edge.`),
		rep(`"BTC/USDT"`, `"BTC/USDТ"`),
		rep(`"BTC/USDT"`, `"btc/usdt"`),
		rep(`"BTC/USDT"`, `"BTCUSDT"`),
		rep(`"confidence": 0.62`, `"confidence": 1.5`),
		rep(`"size_pct": 1.0`, `"size_pct": -1`),
		rep(`"limit_price": 42010.5`, `"limit_price": 0`),
		`{"rationale":"r","recommendations":[]}`,
	}
}

// fuzzGoodSeeds are accepted inputs beyond the example.
func fuzzGoodSeeds(t testing.TB) []string {
	ex := string(readTestdata(t, "recommendation.example.json"))
	rep := func(old, new string) string { return strings.Replace(ex, old, new, 1) }
	return []string{
		rep(`"No clear edge."`, `"\u0000 \" \\ \ud83d\ude00"`),
		rep(`"limit_price": 42010.5`, `"limit_price": 4.20105e4`),
		rep(`"order_type": "limit"`, `"order_type": "market"`),
		// Extremes the parser accepts must survive MarshalResponse too.
		rep(`"size_pct": 1.0`, `"size_pct": 1e-320`),
		rep(`"limit_price": 42010.5`, `"limit_price": 1e308`),
		rep(`"stop_loss": 41200.0`, `"stop_loss": 4.9e-324`),
	}
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range append(fuzzSeeds(f), fuzzGoodSeeds(f)...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseResponse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || len(pe.Problems) == 0 {
				t.Fatalf("ParseResponse error %T %v; want *ParseError with problems", err, err)
			}
			for _, p := range pe.Problems {
				if p.Message == "" || p.Keyword == "" {
					t.Fatalf("problem without keyword or message: %+v", p)
				}
			}
			if len(pe.Violations()) != len(pe.Problems) {
				t.Fatal("Violations() lost problems")
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("ParseResponse accepted input encoding/json calls invalid: %q", data)
		}
		checkResponseInvariants(t, r)

		// encoding/json, on the same accepted bytes, must agree field for field.
		var std Response
		if err := json.Unmarshal(data, &std); err != nil {
			t.Fatalf("json.Unmarshal of an accepted response: %v", err)
		}
		if d := diffResponse(r, std); d != "" {
			t.Fatalf("ParseResponse and encoding/json disagree: %s", d)
		}

		// The wire form round-trips through the strict parser.
		b, err := MarshalResponse(r)
		if err != nil {
			t.Fatalf("MarshalResponse: %v", err)
		}
		r2, err := ParseResponse(b)
		if err != nil {
			t.Fatalf("ParseResponse(MarshalResponse(r)) error: %v\n%s", err, b)
		}
		if d := diffResponse(r2, r); d != "" {
			t.Fatalf("MarshalResponse round trip: %s", d)
		}

		// encoding/json's own form (decimals as strings) round-trips too.
		j, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		var r3 Response
		if err := json.Unmarshal(j, &r3); err != nil {
			t.Fatalf("json.Unmarshal(json.Marshal(r)): %v", err)
		}
		if d := diffResponse(r3, r); d != "" {
			t.Fatalf("encoding/json round trip: %s", d)
		}
	})
}

// checkResponseInvariants re-checks every schema bound in plain Go, without
// the schema or regexp.
func checkResponseInvariants(t *testing.T, r Response) {
	t.Helper()
	text := func(what, s string, max int) {
		n := utf8.RuneCountInString(s)
		blank := strings.IndexFunc(s, func(c rune) bool { return c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' }) < 0
		if !utf8.ValidString(s) || n < 1 || n > max || blank {
			t.Fatalf("%s %q: %d characters, blank %v; want 1..%d non-blank valid UTF-8", what, s, n, blank, max)
		}
	}
	text("rationale", r.Rationale, 8000)
	if n := len(r.Recommendations); n < 1 || n > 20 {
		t.Fatalf("%d recommendations; want 1..20", n)
	}
	zero, one, hundred := decimal.Zero, decimal.NewFromInt(1), decimal.NewFromInt(100)
	for i, rec := range r.Recommendations {
		base, quote, ok := strings.Cut(rec.Symbol, "/")
		if !ok || !upperAlnum(base) || !upperAlnum(quote) {
			t.Fatalf("rec %d symbol %q is not BASE/QUOTE upper-case ASCII", i, rec.Symbol)
		}
		if rec.Action != ActionBuy && rec.Action != ActionSell && rec.Action != ActionHold {
			t.Fatalf("rec %d action %q", i, rec.Action)
		}
		if rec.OrderType != OrderLimit && rec.OrderType != OrderMarket {
			t.Fatalf("rec %d order_type %q", i, rec.OrderType)
		}
		if rec.Confidence.LessThan(zero) || rec.Confidence.GreaterThan(one) {
			t.Fatalf("rec %d confidence %s outside 0..1", i, rec.Confidence)
		}
		if rec.SizePct.LessThan(zero) || rec.SizePct.GreaterThan(hundred) {
			t.Fatalf("rec %d size_pct %s outside 0..100", i, rec.SizePct)
		}
		for name, p := range map[string]*decimal.Decimal{"limit_price": rec.LimitPrice, "stop_loss": rec.StopLoss, "take_profit": rec.TakeProfit} {
			if p != nil && !p.IsPositive() {
				t.Fatalf("rec %d %s %s is not > 0", i, name, p)
			}
		}
		text("reason", rec.Reason, 1000)
	}
}

func upperAlnum(s string) bool {
	if len(s) < 2 || len(s) > 20 {
		return false
	}
	for _, c := range []byte(s) {
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func FuzzParseState(f *testing.F) {
	ex := string(readTestdata(f, "state.example.json"))
	f.Add([]byte(ex))
	f.Add([]byte(strings.Replace(ex, `"bid": 42000.0`, `"bid": 42020.0`, 1)))
	f.Add([]byte(strings.Replace(ex, `"equity": 10000.0,`, `"equity": 1, "equity": 2,`, 1)))
	f.Add([]byte(strings.Replace(ex, `"mode": "paper"`, `"mode": "live"`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseState(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || len(pe.Problems) == 0 {
				t.Fatalf("ParseState error %T %v; want *ParseError with problems", err, err)
			}
			return
		}
		if st.Mode != "paper" && st.Mode != "live" {
			t.Fatalf("mode %q", st.Mode)
		}
		a := st.Account
		for name, d := range map[string]decimal.Decimal{"equity": a.Equity, "cash": a.Cash, "peak_equity": a.PeakEquity, "day_start_equity": a.DayStartEquity} {
			if d.IsNegative() {
				t.Fatalf("%s %s negative", name, d)
			}
		}
		if a.OrdersLastMinute < 0 || a.OpenOrders < 0 || a.Positions == nil || st.Markets == nil {
			t.Fatalf("account %+v", a)
		}
		for sym, m := range st.Markets {
			base, quote, ok := strings.Cut(sym, "/")
			if !ok || !upperAlnum(base) || quote != a.Quote {
				t.Fatalf("market symbol %q with account quote %q", sym, a.Quote)
			}
			if !m.Bid.IsPositive() || !m.Ask.IsPositive() || !m.Last.IsPositive() || m.Bid.GreaterThan(m.Ask) ||
				!m.AmountStep.IsPositive() || !m.PriceStep.IsPositive() || m.DataAgeS.IsNegative() ||
				m.MinAmount.IsNegative() || m.MinNotional.IsNegative() || m.QuoteVolume24h.IsNegative() {
				t.Fatalf("market %s fails a sanity bound: %+v", sym, m)
			}
		}
	})
}

// TestFuzzSeedsBehave runs the seeds as a plain test so that go test (without
// -fuzz) also checks that every bad seed is refused and the example accepted.
func TestFuzzSeedsBehave(t *testing.T) {
	for i, s := range fuzzSeeds(t) {
		_, err := ParseResponse([]byte(s))
		if (i == 0) != (err == nil) {
			t.Errorf("bad seed %d (%.60q): err = %v; want accepted only for the example", i, s, err)
		}
	}
	for i, s := range fuzzGoodSeeds(t) {
		if _, err := ParseResponse([]byte(s)); err != nil {
			t.Errorf("good seed %d (%.60q): %v", i, s, err)
		}
	}
}
