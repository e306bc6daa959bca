package schemas

import (
	"testing"
)

func BenchmarkParseResponse(b *testing.B) {
	raw := readTestdata(b, "recommendation.example.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := ParseResponse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseResponseStages splits ParseResponse into its three stages to
// show where the time goes.
func BenchmarkParseResponseStages(b *testing.B) {
	raw := readTestdata(b, "recommendation.example.json")
	doc, p := decodeStrict(raw, MaxResponseBytes, "response")
	if p != nil {
		b.Fatal(p.Message)
	}
	sch, err := compiledResponseSchema()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("strict-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, p := decodeStrict(raw, MaxResponseBytes, "response"); p != nil {
				b.Fatal(p.Message)
			}
		}
	})
	b.Run("schema", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := sch.Validate(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("convert", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ps := toResponse(doc); ps != nil {
				b.Fatal(ps)
			}
		}
	})
}

func BenchmarkParseResponseRejected(b *testing.B) {
	raw := []byte(exampleWith(b, `"BTC/USDT"`, `"BTC/USDТ"`))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseResponse(raw); err == nil {
			b.Fatal("accepted a lookalike symbol")
		}
	}
}

func BenchmarkParseState(b *testing.B) {
	raw := readTestdata(b, "state.example.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseState(raw); err != nil {
			b.Fatal(err)
		}
	}
}
