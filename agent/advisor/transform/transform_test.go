package transform

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/prompts"
	"github.com/warden-trading/warden/schemas"
)

// capture answers with answer(prompt) and keeps the prompt it was given.
type capture struct {
	prompt prompts.Rendered
	answer func(p prompts.Rendered) string
}

func (c *capture) Name() string { return "openai" }
func (c *capture) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	c.prompt = req.Prompt
	return advisor.Reply{Raw: []byte(c.answer(req.Prompt)), Advisor: "openai", Model: "m"}, nil
}

func snapshot(t *testing.T, sym string) (market.Snapshot, executor.Candle) {
	t.Helper()
	cs, err := market.Bundled(sym, "1h")
	if err != nil {
		t.Fatal(err)
	}
	cs = cs[1000:1300]
	last := cs[len(cs)-1]
	now := last.Time.Add(2 * time.Hour)
	px := decimal.NewFromFloat(last.Close)
	tk := executor.Ticker{Symbol: sym, Bid: px, Ask: px.Add(decimal.RequireFromString("0.01")), Last: px, QuoteVolume24h: decimal.NewFromInt(1_000_000), Time: now}
	snap, err := market.Build(sym, "1h", cs, tk, now, market.BuildOptions{Lookback: 200})
	if err != nil {
		t.Fatal(err)
	}
	return snap, snap.Candles[len(snap.Candles)-prompts.DefaultCandleRows]
}

func request(t *testing.T) advisor.Request {
	btc, _ := snapshot(t, "BTC/USDT")
	eth, _ := snapshot(t, "ETH/USDT")
	return advisor.Request{
		RunID: "r1", Now: btc.At,
		Prompt:    prompts.Rendered{System: "system", User: "user with 2021-01-01"},
		Snapshots: map[string]market.Snapshot{"BTC/USDT": btc, "ETH/USDT": eth},
		State: schemas.State{Mode: "paper", Account: schemas.Account{Quote: "USDT", Equity: decimal.NewFromInt(10000), Cash: decimal.NewFromInt(9000),
			Positions: map[string]schemas.Position{"BTC/USDT": {Qty: decimal.RequireFromString("0.02"), AvgPrice: decimal.NewFromInt(50000)}}},
			Markets: map[string]schemas.Market{"BTC/USDT": {PriceStep: decimal.RequireFromString("0.01"), AmountStep: decimal.RequireFromString("0.00001")}}},
	}
}

func buyAt(limit, stop string) string {
	return fmt.Sprintf(`{"rationale":"r","recommendations":[{"symbol":"BTC/USDT","action":"buy","confidence":0.7,"size_pct":1,"order_type":"limit","limit_price":%s,"stop_loss":%s,"take_profit":null,"reason":"x"},{"symbol":"ETH/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"x"}]}`, limit, stop)
}

var dateRe = regexp.MustCompile(`(19|20)\d\d-\d\d-\d\d|\d\d:\d\d`)

func TestAnonymiseRebasesAndMapsBackExactly(t *testing.T) {
	req := request(t)
	_, first := snapshot(t, "BTC/USDT")
	inner := &capture{answer: func(prompts.Rendered) string { return buyAt("101.5", "97.25") }}
	a, err := Wrap(inner, Config{Mode: Anonymise})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := a.Advise(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	u := inner.prompt.User
	if dateRe.MatchString(u) {
		t.Fatalf("the anonymised prompt shows a date or time: %q", dateRe.FindString(u))
	}
	if !strings.Contains(u, "\n  t-12 | 100.0000 | ") || !strings.Contains(u, "\n  t-1 | ") {
		t.Fatalf("candles are not relative or not rebased to 100:\n%s", u)
	}
	if inner.prompt.UserHash == "" || inner.prompt.UserHash == req.Prompt.UserHash || inner.prompt.System != "system" {
		t.Fatalf("prompt hashes/system: %+v", inner.prompt)
	}
	resp, err := schemas.ParseResponse(rep.Raw)
	if err != nil {
		t.Fatal(err)
	}
	f := decimal.NewFromFloat(first.Open).Div(decimal.NewFromInt(100))
	r := resp.Recommendations[0]
	if want := decimal.RequireFromString("101.5").Mul(f); !r.LimitPrice.Equal(want) {
		t.Fatalf("limit %s; want exactly %s", r.LimitPrice, want)
	}
	if want := decimal.RequireFromString("97.25").Mul(f); !r.StopLoss.Equal(want) {
		t.Fatalf("stop %s; want exactly %s", r.StopLoss, want)
	}
	if !strings.HasPrefix(rep.Transform, "anonymise") {
		t.Fatalf("transform not recorded: %q", rep.Transform)
	}
}

func TestPerturbScalesByARecordedFactor(t *testing.T) {
	req := request(t)
	inner := &capture{answer: func(prompts.Rendered) string { return buyAt("123.45", "120") }}
	a, err := Wrap(inner, Config{Mode: Perturb, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := a.Advise(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`BTC/USDT real = shown × ([0-9.]+)`).FindStringSubmatch(rep.Transform)
	if m == nil {
		t.Fatalf("factor not recorded: %q", rep.Transform)
	}
	f := decimal.RequireFromString(m[1])
	if f.Equal(decimal.NewFromInt(1)) {
		t.Fatal("a perturbation by 1")
	}
	resp, _ := schemas.ParseResponse(rep.Raw)
	if want := decimal.RequireFromString("123.45").Mul(f); !resp.Recommendations[0].LimitPrice.Equal(want) {
		t.Fatalf("limit %s; want %s", resp.Recommendations[0].LimitPrice, want)
	}
	if dateRe.MatchString(inner.prompt.User) {
		t.Fatal("the perturbed prompt shows a date")
	}
	// The shown ask is the real ask divided by the factor.
	realAsk := req.Snapshots["BTC/USDT"].Ticker.Ask
	if !strings.Contains(inner.prompt.User, "ask "+realAsk.DivRound(f, 8).String()) {
		t.Fatalf("ask not rescaled by %s in:\n%s", f, inner.prompt.User)
	}
	// Every factor is exact both ways.
	for _, s := range Factors {
		x := decimal.RequireFromString(s)
		if !decimal.NewFromInt(1).DivRound(x, 30).Mul(x).Equal(decimal.NewFromInt(1)) {
			t.Errorf("factor %s has no finite inverse", s)
		}
	}
}

func TestAnswerThatCannotBeMappedBackIsAFailedCall(t *testing.T) {
	req := request(t)
	for _, tt := range []struct {
		name, answer string
	}{
		{"a price with more digits than are kept", buyAt("100.1234567890123456789012345678", "97")},
		// SOL/USDT has a market in the state but no scale: its price
		// cannot be mapped back, and it could be sized.
		{"a traded market the prompt did not show", strings.Replace(buyAt("101", "97"), "BTC/USDT", "SOL/USDT", 1)},
	} {
		inner := &capture{answer: func(prompts.Rendered) string { return tt.answer }}
		a, _ := Wrap(inner, Config{Mode: Perturb, Rand: rand.New(rand.NewPCG(3, 4))})
		req := req
		req.State.Markets = map[string]schemas.Market{"BTC/USDT": req.State.Markets["BTC/USDT"], "SOL/USDT": req.State.Markets["BTC/USDT"]}
		rep, err := a.Advise(context.Background(), req)
		if advisor.KindOf(err) != advisor.KindBadResponse || rep.Raw != nil {
			t.Errorf("%s: err %v raw %s; want a failed call (bad_response) and no answer", tt.name, err, rep.Raw)
		}
	}
}

// TestMappedBackAnswerIsCheckedAgain: a price the model's answer may hold
// but that, mapped back to the real scale, the parser would refuse
// (1e307 × an open of hundreds overflows float64) is a failed call, never
// an answer the agent then finds invalid.
func TestMappedBackAnswerIsCheckedAgain(t *testing.T) {
	req := request(t)
	inner := &capture{answer: func(prompts.Rendered) string { return buyAt("1e307", "97") }}
	a, _ := Wrap(inner, Config{Mode: Anonymise})
	rep, err := a.Advise(context.Background(), req)
	if advisor.KindOf(err) != advisor.KindBadResponse || rep.Raw != nil || !strings.Contains(err.Error(), "not valid against the schema") {
		t.Fatalf("err %v raw %.200s; want a failed call (bad_response) and no answer", err, rep.Raw)
	}
	// Tiny numbers that map back are written so that they parse again.
	inner.answer = func(prompts.Rendered) string {
		return strings.Replace(buyAt("101", "97"), `"size_pct":1`, `"size_pct":1e-320`, 1)
	}
	rep, err = a.Advise(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	r, err := schemas.ParseResponse(rep.Raw)
	if err != nil || !r.Recommendations[0].SizePct.Equal(decimal.RequireFromString("1e-320")) {
		t.Fatalf("mapped-back answer %.200s: %v", rep.Raw, err)
	}
}

// TestInventedSymbolIsPassedOnUnscaled: a symbol the prompt did not show
// and the state has no market for (an invented DOGE/USDT, a lookalike
// BTC/USDTT) does not void the answer: it is passed on as written, symbol
// and prices untouched, for the policy to reject, and the shown symbols
// are mapped back as usual (black-box finding: the whole answer was
// dropped).
func TestInventedSymbolIsPassedOnUnscaled(t *testing.T) {
	req := request(t)
	for _, sym := range []string{"DOGE/USDT", "BTC/USDTT", "BTC/USD"} {
		answer := strings.Replace(buyAt("101", "97"), `]}`, `,{"symbol":"`+sym+`","action":"buy","confidence":0.9,"size_pct":1,"order_type":"limit","limit_price":100.5,"stop_loss":95,"take_profit":null,"reason":"x"}]}`, 1)
		inner := &capture{answer: func(prompts.Rendered) string { return answer }}
		a, _ := Wrap(inner, Config{Mode: Perturb, Rand: rand.New(rand.NewPCG(3, 4))})
		rep, err := a.Advise(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", sym, err)
		}
		r, err := schemas.ParseResponse(rep.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Recommendations) != 3 {
			t.Fatalf("%s: %d recommendations passed on; want 3", sym, len(r.Recommendations))
		}
		inv := r.Recommendations[2]
		if inv.Symbol != sym || !inv.LimitPrice.Equal(decimal.RequireFromString("100.5")) || !inv.StopLoss.Equal(decimal.NewFromInt(95)) {
			t.Fatalf("%s passed on as %s @ %s stop %s; want it untouched", sym, inv.Symbol, inv.LimitPrice, inv.StopLoss)
		}
		if r.Recommendations[0].Symbol != "BTC/USDT" || r.Recommendations[0].LimitPrice.Equal(decimal.NewFromInt(101)) {
			t.Fatalf("BTC/USDT was not mapped back: %+v", r.Recommendations[0])
		}
	}
}
