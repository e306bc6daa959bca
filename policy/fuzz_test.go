package policy

import (
	"fmt"
	"math/big"
	"os"
	"reflect"
	"testing"

	"github.com/warden-trading/warden/schemas"
)

// The oracle below restates the default policy's invariants in plain Go
// with exact rational arithmetic. It shares no code with the validator
// (no sizing, no book, no CEL): if the validator approves something the
// oracle rejects, one of them is wrong.

func rat(s fmt.Stringer) *big.Rat {
	r, ok := new(big.Rat).SetString(s.String())
	if !ok {
		panic("oracle: not a number: " + s.String())
	}
	return r
}

func ratStr(s string) *big.Rat {
	r, _ := new(big.Rat).SetString(s)
	return r
}

func isMultiple(v, step *big.Rat) bool {
	q := new(big.Rat).Quo(v, step)
	return q.IsInt()
}

// oracleMark values a position: the mid when the market has prices, else
// the average price.
func oracleMark(st schemas.State, sym string) *big.Rat {
	if m, ok := st.Markets[sym]; ok {
		bid, ask := rat(m.Bid), rat(m.Ask)
		if bid.Sign() > 0 && ask.Sign() > 0 && ask.Cmp(bid) >= 0 {
			mid := new(big.Rat).Add(bid, ask)
			return mid.Quo(mid, big.NewRat(2, 1))
		}
	}
	if p, ok := st.Account.Positions[sym]; ok {
		return rat(p.AvgPrice)
	}
	return new(big.Rat)
}

// oracleCheck checks every approved verdict of one response against st,
// applying approved orders in turn. It returns the first broken invariant.
//
// Every limit is inclusive and exact (big.Rat, no slack): the validator may
// approve a value exactly at a limit and nothing past it. This is what
// "nothing rejected before is approved now, except values exactly at an
// inclusive limit" means for the first build's invariants (position and
// exposure caps, sells within holdings, stops, confidence, order rate). The
// valuation is the documented one: an order (and each buy approved earlier
// in the response) at its own price, a held position at its mid; caps count
// approved buys and never approved sells, and sells are judged against what
// the state holds less earlier approved sells, never against buys.
func oracleCheck(resp schemas.Response, st schemas.State, verdicts []schemas.Verdict) error {
	held := map[string]*big.Rat{} // what the state holds, less approved sells
	for s, p := range st.Account.Positions {
		held[s] = rat(p.Qty)
	}
	bought := map[string]*big.Rat{} // notional of approved buys, by symbol
	seen := map[string]bool{}
	equity := rat(st.Account.Equity)
	approved := 0
	for i, v := range verdicts {
		rec := resp.Recommendations[i]
		first := !seen[rec.Symbol]
		seen[rec.Symbol] = true
		if rec.Action == schemas.ActionHold {
			want := schemas.DecisionNoAction
			if !first {
				want = schemas.DecisionRejected
			}
			if v.Decision != want || v.Order != nil {
				return fmt.Errorf("rec %d: hold gave %s", i, v.Decision)
			}
			continue
		}
		if v.Decision != schemas.DecisionApproved {
			continue
		}
		if !first {
			return fmt.Errorf("rec %d: a second recommendation for %s approved", i, rec.Symbol)
		}
		o := v.Order
		if o == nil {
			return fmt.Errorf("rec %d: approved without an order", i)
		}
		if o.Symbol != rec.Symbol || (o.Symbol != "BTC/USDT" && o.Symbol != "ETH/USDT") {
			return fmt.Errorf("rec %d: approved symbol %q", i, o.Symbol)
		}
		m, ok := st.Markets[o.Symbol]
		if !ok {
			return fmt.Errorf("rec %d: approved without market data", i)
		}
		if o.Type != schemas.OrderLimit || rec.OrderType != schemas.OrderLimit || rec.LimitPrice == nil {
			return fmt.Errorf("rec %d: approved a %s order", i, o.Type)
		}
		if string(o.Side) != string(rec.Action) {
			return fmt.Errorf("rec %d: side %s for action %s", i, o.Side, rec.Action)
		}
		qty, price := rat(o.Quantity), rat(o.Price)
		notional := new(big.Rat).Mul(qty, price)
		if notional.Cmp(rat(o.Notional)) != 0 {
			return fmt.Errorf("rec %d: notional %s is not quantity × price", i, o.Notional)
		}
		step := rat(m.PriceStep)
		if qty.Sign() <= 0 || !isMultiple(qty, rat(m.AmountStep)) || !isMultiple(price, step) {
			return fmt.Errorf("rec %d: quantity %s or price %s off the exchange steps", i, o.Quantity, o.Price)
		}
		if qty.Cmp(rat(m.MinAmount)) < 0 || notional.Cmp(rat(m.MinNotional)) < 0 {
			return fmt.Errorf("rec %d: under the exchange minimums", i)
		}
		if notional.Cmp(ratStr("1000")) > 0 {
			return fmt.Errorf("rec %d: notional %s over the hard cap", i, o.Notional)
		}
		target := new(big.Rat).Mul(equity, rat(rec.SizePct))
		target.Quo(target, big.NewRat(100, 1))
		if notional.Cmp(target) > 0 {
			return fmt.Errorf("rec %d: notional %s over size_pct of equity %s", i, o.Notional, target.FloatString(8))
		}
		// The price moved only by rounding to one step, in the safe direction.
		lp := rat(*rec.LimitPrice)
		diff := new(big.Rat).Sub(lp, price)
		if rec.Action == schemas.ActionSell {
			diff.Neg(diff)
		}
		if diff.Sign() < 0 || diff.Cmp(step) >= 0 {
			return fmt.Errorf("rec %d: price %s is not %s rounded to one step", i, o.Price, rec.LimitPrice)
		}
		// Within 50 bps of mid, inclusive: |price - mid| × 10000 <= 50 × mid.
		mid := oracleMark(st, o.Symbol)
		dist := new(big.Rat).Abs(new(big.Rat).Sub(price, mid))
		if dist.Mul(dist, big.NewRat(10000, 1)).Cmp(new(big.Rat).Mul(mid, big.NewRat(50, 1))) > 0 {
			return fmt.Errorf("rec %d: price %s more than 50 bps from mid %s", i, o.Price, mid.FloatString(4))
		}
		// A take-profit, when given, is on the step and on the right side.
		if o.TakeProfit != nil {
			tp := rat(*o.TakeProfit)
			if !isMultiple(tp, step) || (rec.Action == schemas.ActionBuy) != (tp.Cmp(price) > 0) || tp.Cmp(price) == 0 {
				return fmt.Errorf("rec %d: take_profit %s off the step or on the wrong side of %s", i, o.TakeProfit, o.Price)
			}
		}
		if st.KillSwitch {
			return fmt.Errorf("rec %d: approved with the kill switch on", i)
		}
		h := held[o.Symbol]
		if h == nil {
			h = new(big.Rat)
		}
		if rec.Action == schemas.ActionBuy {
			if st.SafeMode {
				return fmt.Errorf("rec %d: buy approved in safe mode", i)
			}
			if o.StopLoss == nil {
				return fmt.Errorf("rec %d: buy without a stop", i)
			}
			stop := rat(*o.StopLoss)
			if stop.Sign() <= 0 || stop.Cmp(price) >= 0 || !isMultiple(stop, step) {
				return fmt.Errorf("rec %d: stop %s not on the step below the price %s", i, o.StopLoss, o.Price)
			}
			// At most 10% below, inclusive: stop >= price × 0.9.
			if stop.Cmp(new(big.Rat).Mul(price, big.NewRat(9, 10))) < 0 {
				return fmt.Errorf("rec %d: stop %s more than 10%% below %s", i, o.StopLoss, o.Price)
			}
			// The stop moved only by rounding to one step, towards the price.
			sd := new(big.Rat).Sub(stop, rat(*rec.StopLoss))
			if sd.Sign() < 0 || sd.Cmp(step) >= 0 {
				return fmt.Errorf("rec %d: stop %s is not %s rounded up to one step", i, o.StopLoss, rec.StopLoss)
			}
			if rec.Confidence.LessThan(d("0.55")) {
				return fmt.Errorf("rec %d: buy with confidence %s", i, rec.Confidence)
			}
			b := bought[o.Symbol]
			if b == nil {
				b = new(big.Rat)
			}
			b = new(big.Rat).Add(b, notional)
			bought[o.Symbol] = b
			posValue := new(big.Rat).Add(new(big.Rat).Mul(rat(st.Account.Positions[o.Symbol].Qty), oracleMark(st, o.Symbol)), b)
			if posValue.Cmp(new(big.Rat).Mul(equity, big.NewRat(2, 100))) > 0 {
				return fmt.Errorf("rec %d: position after %s over 2%% of equity", i, posValue.FloatString(4))
			}
			exposure := new(big.Rat)
			open := map[string]bool{}
			for s, p := range st.Account.Positions {
				if p.Qty.IsPositive() {
					open[s] = true
				}
				exposure.Add(exposure, new(big.Rat).Mul(rat(p.Qty), oracleMark(st, s)))
			}
			for s, n := range bought {
				open[s] = true
				exposure.Add(exposure, n)
			}
			if exposure.Cmp(new(big.Rat).Mul(equity, big.NewRat(30, 100))) > 0 {
				return fmt.Errorf("rec %d: exposure after %s over 30%% of equity", i, exposure.FloatString(4))
			}
			if len(open) > 3 {
				return fmt.Errorf("rec %d: %d open positions after a buy", i, len(open))
			}
		} else {
			if qty.Cmp(h) > 0 {
				return fmt.Errorf("rec %d: sold %s with %s held", i, o.Quantity, h.FloatString(8))
			}
			held[o.Symbol] = new(big.Rat).Sub(h, qty)
		}
		approved++
		if st.Account.OrdersLastMinute+approved > 6 {
			return fmt.Errorf("rec %d: more than 6 orders a minute", i)
		}
	}
	return nil
}

// FuzzValidate feeds raw response bytes through the whole path: it must
// never panic, and every approval must satisfy the oracle.
func FuzzValidate(f *testing.F) {
	raw, err := os.ReadFile("testdata/recommendation.example.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	rec := `{"symbol":"%s","action":"%s","confidence":%s,"size_pct":%s,"order_type":"limit","limit_price":%s,"stop_loss":%s,"take_profit":null,"reason":"r"}`
	for _, seed := range [][]string{
		{"BTC/USDT", "buy", "0.9", "1.9", "42005.017", "40000"},
		{"BTC/USDT", "buy", "0.55", "2", "42009.99", "41999"},
		{"ETH/USDT", "sell", "0.1", "8", "2285.213", "null"},
		{"ETH/USDT", "buy", "0.6", "1.99", "2290", "2100"},
		{"BTC/USDT", "sell", "0.6", "1", "42000", "null"},
		// At the inclusive limits: exactly 2% with the limit below mid,
		// the stop exactly 10% below, confidence exactly 0.55, the limit
		// exactly 50 bps above mid (42005 × 1.005 = 42215.025, on the step
		// rounded down), a stop off the step.
		{"BTC/USDT", "buy", "0.55", "2", "41900", "37710"},
		{"BTC/USDT", "buy", "0.55", "1", "42215.02", "37993.518"},
		{"BTC/USDT", "buy", "0.550000000000000000001", "1.99999999", "42005", "41200.005"},
		{"ETH/USDT", "sell", "0.1", "7.9982", "2285.2", "null"},
		{"ETH/USDT", "sell", "0.1", "7.99821", "2285.2", "null"},
	} {
		one := fmt.Sprintf(rec, seed[0], seed[1], seed[2], seed[3], seed[4], seed[5])
		f.Add([]byte(`{"rationale":"r","recommendations":[` + one + `]}`))
		f.Add([]byte(`{"rationale":"r","recommendations":[` + one + "," + one + "," + one + `]}`))
	}
	f.Add([]byte(`{"rationale":"r","recommendations":[]}`))
	f.Add([]byte(`[`))
	_, st := loadExamples(f)
	v := NewValidator(mustDefault(f), Limits{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		res := v.ValidateRaw(raw, st)
		if res.Response == nil {
			if len(res.SchemaErrors) == 0 || len(res.Verdicts) != 0 || res.AllApproved() {
				t.Fatalf("unparsed response: %+v", res)
			}
			return
		}
		if len(res.Verdicts) != len(res.Response.Recommendations) {
			t.Fatalf("%d verdicts for %d recommendations", len(res.Verdicts), len(res.Response.Recommendations))
		}
		// The one-program fast path and the rule-by-rule path agree.
		slow := v.validate(*res.Response, st, make([][]bool, len(res.Response.Recommendations)))
		if !reflect.DeepEqual(slow, res.Verdicts) {
			t.Fatalf("fast and rule-by-rule verdicts differ:\n%+v\n%+v", res.Verdicts, slow)
		}
		if err := oracleCheck(*res.Response, st, res.Verdicts); err != nil {
			t.Fatalf("oracle: %v\nresponse: %s\nverdicts: %+v", err, raw, res.Verdicts)
		}
	})
}

// TestOracle shows the oracle accepts the contract approval and catches
// verdicts that break an invariant, so FuzzValidate is not vacuous.
func TestOracle(t *testing.T) {
	raw, st := loadExamples(t)
	res := NewValidator(mustDefault(t), Limits{}).ValidateRaw(raw, st)
	if err := oracleCheck(*res.Response, st, res.Verdicts); err != nil {
		t.Fatalf("oracle rejects the contract approval: %v", err)
	}
	tamper := []struct {
		name string
		f    func(o *schemas.Order)
	}{
		{"quantity off step", func(o *schemas.Order) { o.Quantity = d("0.002385"); o.Notional = o.Quantity.Mul(o.Price) }},
		{"position over 2%", func(o *schemas.Order) { o.Quantity = d("0.005"); o.Notional = o.Quantity.Mul(o.Price) }},
		{"no stop", func(o *schemas.Order) { o.StopLoss = nil }},
		{"notional mismatch", func(o *schemas.Order) { o.Notional = d("1") }},
		{"symbol", func(o *schemas.Order) { o.Symbol = "SOL/USDT" }},
		{"stop one tick past 10%", func(o *schemas.Order) { s := o.Price.Mul(d("0.9")).Sub(d("0.01")); o.StopLoss = &s }},
		{"stop off the step", func(o *schemas.Order) { s := d("41200.005"); o.StopLoss = &s }},
		{"take-profit below a buy", func(o *schemas.Order) { s := d("41000"); o.TakeProfit = &s }},
		{"price 50.01 bps from mid", func(o *schemas.Order) {
			o.Price = d("42215.07")
			o.Notional = o.Quantity.Mul(o.Price)
		}},
	}
	for _, tc := range tamper {
		vs := append([]schemas.Verdict(nil), res.Verdicts...)
		o := *vs[0].Order
		tc.f(&o)
		vs[0].Order = &o
		if err := oracleCheck(*res.Response, st, vs); err == nil {
			t.Errorf("oracle accepts a verdict with %s", tc.name)
		}
	}
	// Response-level: a second approval for a symbol, and a sell of what
	// only an earlier buy would bring.
	buy := res.Response.Recommendations[0]
	sell := buy
	sell.Action, sell.StopLoss, sell.TakeProfit = schemas.ActionSell, nil, nil
	two := schemas.Response{Recommendations: []schemas.Recommendation{buy, sell}}
	o := *res.Verdicts[0].Order
	so := o
	so.Side, so.StopLoss, so.TakeProfit = schemas.SideSell, nil, nil
	vs := []schemas.Verdict{res.Verdicts[0], {Index: 1, Decision: schemas.DecisionApproved, Order: &so}}
	if err := oracleCheck(two, st, vs); err == nil {
		t.Errorf("oracle accepts a sell of an unfilled buy, or a second recommendation for a symbol")
	}
}

// FuzzLoad: loading any bytes as a policy never panics, and a policy that
// loads evaluates the contract example without panicking.
func FuzzLoad(f *testing.F) {
	f.Add(DefaultSource())
	f.Add([]byte("rules:\n  - name: a\n    description: d\n    when: order.side == 'buy'\n    expr: rec.size_pct < params.x\n    message: string(rec.size_pct)\nparams: {x: 1, l: [a, b]}\n"))
	f.Add([]byte("rules: 5\n"))
	f.Add([]byte("params: [1]\nrules: [{name: [a], expr: {b: 1}}]\n"))
	raw, st := loadExamples(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Load("fuzz.yaml", src)
		if err != nil {
			if p != nil {
				t.Fatal("Load returned a policy and an error")
			}
			return
		}
		res := NewValidator(p, Limits{}).ValidateRaw(raw, st)
		if len(res.Verdicts) != 2 || res.Verdicts[1].Decision != "no_action" {
			t.Fatalf("verdicts = %+v", res.Verdicts)
		}
	})
}
