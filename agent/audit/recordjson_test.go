package audit

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/warden-trading/warden/schemas"
)

// reference is what encoding/json writes for v with HTML escaping off, as
// marshal wrote every record before the records encoded themselves.
func reference(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

var tricky = []string{"", "ok", "BTC/USDT", "bt-20170910T150000Z", "<b>&amp;</b>", "a\u2028b\u2029c", "\x00\x01\x1f\b\f\n\r\t\x7f",
	"\xff\xfe bad utf-8 \xc3", "é 🙂 σ", `"quoted" \ back\slash`, `{"system":"x","user":"y"}`}

type recordGen struct{ r *rand.Rand }

func (g recordGen) str() string { return tricky[g.r.IntN(len(tricky))] }

func (g recordGen) time() time.Time {
	zones := []*time.Location{time.UTC, time.FixedZone("x", 5*3600+1800), time.FixedZone("y", -7*3600)}
	var nanos int64
	if g.r.IntN(2) == 0 {
		nanos = g.r.Int64N(1e9)
	}
	return time.Unix(g.r.Int64N(4e9), nanos).In(zones[g.r.IntN(len(zones))])
}

func (g recordGen) raw() json.RawMessage {
	return [...]json.RawMessage{nil, {}, json.RawMessage(`{"a":1}`), json.RawMessage(" { \"b\" : [1, 2, \"x <&>\"] }\n"), json.RawMessage(`"s"`)}[g.r.IntN(5)]
}

func (g recordGen) decimal() decimal.Decimal {
	return decimal.New(g.r.Int64N(1<<40)-1<<39, int32(g.r.IntN(20)-12))
}

func (g recordGen) violations() []schemas.Violation {
	switch g.r.IntN(3) {
	case 0:
		return nil
	case 1:
		return []schemas.Violation{}
	}
	return []schemas.Violation{{Rule: g.str(), Message: g.str(), Source: g.str(), Pointer: g.str()}, {Rule: g.str(), Source: g.str()}}
}

func (g recordGen) response() *schemas.Response {
	if g.r.IntN(3) == 0 {
		return nil
	}
	resp := &schemas.Response{Rationale: g.str()}
	for range g.r.IntN(3) {
		sl := g.decimal()
		resp.Recommendations = append(resp.Recommendations, schemas.Recommendation{Symbol: g.str(), Action: schemas.Action(g.str()),
			Confidence: g.decimal(), SizePct: g.decimal(), OrderType: schemas.OrderType(g.str()), StopLoss: &sl, Reason: g.str()})
	}
	return resp
}

// TestRecordsEncodeAsEncodingJSON: every record body that encodes itself
// (Appender) writes exactly what encoding/json wrote from its fields, so
// records read the same as before and a reader decodes them the same
// way.
func TestRecordsEncodeAsEncodingJSON(t *testing.T) {
	g := recordGen{rand.New(rand.NewPCG(11, 12))}
	check := func(i int, v Appender) {
		t.Helper()
		want := reference(t, v)
		got, err := v.AppendJSON([]byte("x"))
		if err != nil || !bytes.Equal(got, append([]byte("x"), want...)) {
			t.Fatalf("%T %d: %v\n got %s\nwant x%s", v, i, err, got, want)
		}
		if m, err := marshal(v); err != nil || !bytes.Equal(m, want) {
			t.Fatalf("marshal(%T) %d: %v\n got %s\nwant %s", v, i, err, m, want)
		}
	}
	for i := range 2000 {
		run := Run{ID: g.str(), StartedAt: g.time(), Mode: g.str(), Advisor: g.str(), Model: g.str(), PolicyHash: g.str(), Config: g.raw()}
		switch g.r.IntN(3) {
		case 1:
			run.PromptHashes = map[string]string{}
		case 2:
			run.PromptHashes = map[string]string{g.str(): g.str(), "system": g.str(), "user": g.str()}
		}
		check(i, run)
		check(i, RunEnd{RunID: g.str(), EndedAt: g.time(), Status: g.str(), Summary: g.raw()})

		call := LLMCall{RunID: g.str(), Attempt: g.r.IntN(5), At: g.time(), Advisor: g.str(), Model: g.str(), BaseURL: g.str(), PromptHash: g.str(),
			Request: strings.Repeat(g.str(), g.r.IntN(50)), Response: g.str(), ResponseBlob: g.str(), HTTPStatus: g.r.IntN(600) - 1, Status: g.str(),
			Latency: time.Duration(g.r.Int64()), PromptTokens: g.r.Int64N(1e6), CompletionTokens: g.r.Int64N(1e6), TotalTokens: g.r.Int64N(1e6) - 5,
			FinishReason: g.str(), Error: g.str(), Purpose: g.str(), Kind: g.str()}
		if g.r.IntN(2) == 0 {
			call.SentAt = g.time()
		}
		switch g.r.IntN(3) {
		case 1:
			call.RequestParts = []RequestPart{}
		case 2:
			call.RequestParts = []RequestPart{{Text: g.str()}, {Blob: g.str()}, {Text: g.str(), Blob: g.str()}, {}}
		}
		check(i, call)

		check(i, ResponseRecord{RunID: g.str(), At: g.time(), Valid: g.r.IntN(2) == 0, Raw: g.str(), RawBlob: g.str(), Parsed: g.response(), SchemaErrors: g.violations()})

		verdict := schemas.Verdict{Index: g.r.IntN(3), Symbol: g.str(), Action: schemas.Action(g.str()), Decision: schemas.Decision(g.str()), Violations: g.violations()}
		vr := verdictRecord{DecisionID: g.str(), RunID: g.str(), At: g.time(), PolicyHash: g.str(), Advisor: g.str(), Model: g.str(), Verdict: verdict.AppendJSON(nil)}
		if resp := g.response(); resp != nil && len(resp.Recommendations) > 0 {
			vr.Recommendation = resp.Recommendations[0].AppendJSON(nil)
		}
		check(i, vr)

		check(i, equityBody{At: g.time(), Equity: g.decimal(), Peak: g.decimal()})
	}
}

// TestRecordEncodingRefusesWhatEncodingJSONRefuses: a time past year 9999
// and a malformed raw configuration are errors, as they were.
func TestRecordEncodingRefusesWhatEncodingJSONRefuses(t *testing.T) {
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, v := range []Appender{
		Run{ID: "r", StartedAt: far},
		Run{ID: "r", StartedAt: time.Unix(0, 0), Config: json.RawMessage(`{"a":`)},
		RunEnd{RunID: "r", EndedAt: time.Unix(0, 0), Summary: json.RawMessage(`[1,`)},
		LLMCall{At: far},
		ResponseRecord{At: far},
		verdictRecord{At: far},
		equityBody{At: far},
	} {
		if _, err := json.Marshal(v); err == nil {
			t.Fatalf("encoding/json accepts %T %+v", v, v)
		}
		if b, err := marshal(v); err == nil {
			t.Errorf("marshal(%T) = %s; want an error", v, b)
		}
	}
}
