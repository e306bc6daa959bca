package baseline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

var dec = decimal.RequireFromString

type feed struct {
	replays map[string]*market.Replay
}

func newFeed(t testing.TB) *feed {
	t.Helper()
	f := &feed{replays: map[string]*market.Replay{}}
	for _, s := range []string{"BTC/USDT", "ETH/USDT"} {
		r, err := market.BundledReplay(s, "1h")
		if err != nil {
			t.Fatal(err)
		}
		f.replays[s] = r
	}
	return f
}

var markets = map[string]schemas.Market{
	"BTC/USDT": {PriceStep: dec("0.01"), AmountStep: dec("0.00001"), MinAmount: dec("0.00001"), MinNotional: dec("5")},
	"ETH/USDT": {PriceStep: dec("0.01"), AmountStep: dec("0.0001"), MinAmount: dec("0.0001"), MinNotional: dec("5")},
}

// request builds snapshots at now (lenient checks: the real history has
// gaps) and a state holding positions.
func (f *feed) request(t testing.TB, now time.Time, positions map[string]schemas.Position) (advisor.Request, bool) {
	t.Helper()
	snaps := map[string]market.Snapshot{}
	st := schemas.State{Now: now, Mode: "paper", Account: schemas.Account{
		Quote: "USDT", Equity: dec("10000"), Cash: dec("9000"), PeakEquity: dec("10000"), DayStartEquity: dec("10000"),
		Positions: positions,
	}, Markets: map[string]schemas.Market{}}
	for sym, r := range f.replays {
		last, ok := r.Last(now)
		if !ok {
			return advisor.Request{}, false
		}
		p := decimal.NewFromFloat(last.Close).Round(2)
		tk := executor.Ticker{Symbol: sym, Bid: p, Ask: p.Add(dec("0.01")), Last: p, Time: now}
		s, err := market.Build(sym, "1h", r.Window(now, market.DefaultLookback), tk, now, market.BuildOptions{Check: market.CheckOptions{MaxMissingBars: 1000, OutlierPct: 10, OutlierATR: 1e9}})
		if err != nil {
			return advisor.Request{}, false
		}
		snaps[sym] = s
		m := markets[sym]
		m.Bid, m.Ask, m.Last = tk.Bid, tk.Ask, tk.Last
		// A liquid market: the liquidity floor (min_quote_volume) is the
		// market's property, not the baseline's; it is tested in policy.
		m.QuoteVolume24h = dec("1000000000")
		st.Markets[sym] = m
	}
	return advisor.Request{RunID: "r", Now: now, Snapshots: snaps, State: st}, true
}

func mustNew(t testing.TB, p Params) *Advisor {
	t.Helper()
	a, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// checkInvariants parses raw and checks what the policy will check.
func checkInvariants(t *testing.T, p Params, req advisor.Request, raw []byte) schemas.Response {
	t.Helper()
	resp, err := schemas.ParseResponse(raw)
	if err != nil {
		t.Fatalf("ParseResponse(baseline output) = %v\n%s", err, raw)
	}
	if len(resp.Recommendations) != len(req.Snapshots) {
		t.Fatalf("%d recommendations for %d symbols", len(resp.Recommendations), len(req.Snapshots))
	}
	equity := req.State.Account.Equity
	for i, r := range resp.Recommendations {
		if i > 0 && resp.Recommendations[i-1].Symbol >= r.Symbol {
			t.Errorf("recommendations not in symbol order: %s before %s", resp.Recommendations[i-1].Symbol, r.Symbol)
		}
		tk := req.Snapshots[r.Symbol].Ticker
		mid := tk.Bid.Add(tk.Ask).Div(decimal.NewFromInt(2))
		if r.OrderType != schemas.OrderLimit {
			t.Errorf("%s: order_type %s; want limit", r.Symbol, r.OrderType)
		}
		switch r.Action {
		case schemas.ActionHold:
			if !r.SizePct.IsZero() || r.LimitPrice != nil || r.StopLoss != nil || r.TakeProfit != nil {
				t.Errorf("%s hold with size %s / prices %v %v %v", r.Symbol, r.SizePct, r.LimitPrice, r.StopLoss, r.TakeProfit)
			}
		case schemas.ActionBuy:
			lp, sl, tp := *r.LimitPrice, *r.StopLoss, *r.TakeProfit
			if !sl.LessThan(lp) || !sl.IsPositive() || !tp.GreaterThan(lp) {
				t.Errorf("%s buy: stop %s, limit %s, tp %s; want 0 < stop < limit < tp", r.Symbol, sl, lp, tp)
			}
			if dist := lp.Sub(sl).Div(lp).Mul(decimal.NewFromInt(100)); dist.GreaterThan(decimal.NewFromFloat(p.MaxStopPct)) {
				t.Errorf("%s buy: stop %s%% below; want ≤ %v%%", r.Symbol, dist, p.MaxStopPct)
			}
			if !r.SizePct.IsPositive() || r.SizePct.GreaterThan(decimal.NewFromFloat(p.MaxSizePct)) {
				t.Errorf("%s buy: size_pct %s; want (0, %v]", r.Symbol, r.SizePct, p.MaxSizePct)
			}
			// Loss at the stop is at most the risk budget (plus rounding).
			loss := r.SizePct.Mul(lp.Sub(sl)).Div(lp)
			if loss.GreaterThan(decimal.NewFromFloat(p.RiskPct * 1.01)) {
				t.Errorf("%s buy: loss at stop %s%% of equity; want ≤ %v%%", r.Symbol, loss, p.RiskPct)
			}
			if r.Confidence.LessThan(decimal.NewFromFloat(p.MinConfidence)) {
				t.Errorf("%s buy: confidence %s below %v", r.Symbol, r.Confidence, p.MinConfidence)
			}
			if bps := lp.Sub(mid).Abs().Div(mid).Mul(decimal.NewFromInt(10000)); bps.GreaterThan(decimal.NewFromInt(50)) {
				t.Errorf("%s buy: limit %s is %s bps from mid %s", r.Symbol, lp, bps, mid)
			}
			if pos := req.State.Account.Positions[r.Symbol]; pos.Qty.Mul(tk.Bid).GreaterThanOrEqual(dec("5")) {
				t.Errorf("%s buy while holding %s", r.Symbol, pos.Qty)
			}
			if req.State.SafeMode {
				t.Errorf("%s buy in safe mode", r.Symbol)
			}
		case schemas.ActionSell:
			held := req.State.Account.Positions[r.Symbol].Qty
			qty := equity.Mul(r.SizePct).Div(decimal.NewFromInt(100)).Div(*r.LimitPrice)
			if qty.GreaterThan(held) || !qty.IsPositive() {
				t.Errorf("%s sell of %s (size %s%%) with %s held", r.Symbol, qty, r.SizePct, held)
			}
			if r.StopLoss != nil || r.TakeProfit != nil {
				t.Errorf("%s sell carries stop/tp", r.Symbol)
			}
		}
	}
	return resp
}

// TestBaselineOverHistory runs the baseline at many decision times over
// the bundled history, flat and holding, and checks every output.
func TestBaselineOverHistory(t *testing.T) {
	f := newFeed(t)
	p := DefaultParams()
	a := mustNew(t, p)
	start := time.Date(2017, 9, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2022, 10, 1, 0, 0, 0, 0, time.UTC)
	counts := map[schemas.Action]int{}
	n := 0
	for now := start; now.Before(end); now = now.Add(37 * time.Hour) {
		for _, positions := range []map[string]schemas.Position{
			nil,
			{"BTC/USDT": {Qty: dec("0.004"), AvgPrice: dec("20000")}, "ETH/USDT": {Qty: dec("0.05"), AvgPrice: dec("1000")}},
		} {
			req, ok := f.request(t, now, positions)
			if !ok {
				continue
			}
			req.State.SafeMode = n%11 == 0
			rep, err := a.Advise(context.Background(), req)
			if err != nil {
				t.Fatalf("Advise(at %s) = %v", now, err)
			}
			if rep.Advisor != "baseline" || rep.Model != Model || len(rep.Calls) != 0 {
				t.Fatalf("Reply meta = %q %q %d calls", rep.Advisor, rep.Model, len(rep.Calls))
			}
			for _, r := range checkInvariants(t, p, req, rep.Raw).Recommendations {
				counts[r.Action]++
			}
			n++
		}
	}
	t.Logf("%d decisions: %v", n, counts)
	if n < 2000 || counts[schemas.ActionBuy] < 50 || counts[schemas.ActionSell] < 50 || counts[schemas.ActionHold] < 50 {
		t.Errorf("over %d decisions the baseline gave %v; want many of each action", n, counts)
	}
}

func TestBaselineDeterministic(t *testing.T) {
	f := newFeed(t)
	a := mustNew(t, DefaultParams())
	for _, now := range []time.Time{
		time.Date(2020, 11, 20, 9, 0, 0, 0, time.UTC),
		time.Date(2021, 6, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2022, 6, 13, 3, 0, 0, 0, time.UTC),
	} {
		req, ok := f.request(t, now, map[string]schemas.Position{"ETH/USDT": {Qty: dec("0.1"), AvgPrice: dec("1000")}})
		if !ok {
			t.Fatalf("no snapshot at %s", now)
		}
		first, err := a.Advise(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10; i++ {
			req2, _ := f.request(t, now, map[string]schemas.Position{"ETH/USDT": {Qty: dec("0.1"), AvgPrice: dec("1000")}})
			again, err := mustNew(t, DefaultParams()).Advise(context.Background(), req2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Raw, first.Raw) {
				t.Fatalf("Advise(at %s) not deterministic:\n%s\n%s", now, first.Raw, again.Raw)
			}
		}
		// The fast marshal writes exactly what the schemas package writes.
		resp, err := schemas.ParseResponse(first.Raw)
		if err != nil {
			t.Fatal(err)
		}
		canon, err := schemas.MarshalResponse(resp)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(canon, first.Raw) {
			t.Errorf("baseline JSON differs from schemas.MarshalResponse:\n%s\n%s", first.Raw, canon)
		}
	}
}

// A snapshot built with the default periods and one recomputed from its
// candles (custom periods equal to the defaults, forcing the slow path)
// must agree on the action.
func TestBaselineCustomParams(t *testing.T) {
	f := newFeed(t)
	p := DefaultParams()
	p.FastEMA, p.SlowEMA, p.TrendSMA = 10, 30, 60
	a := mustNew(t, p)
	buys := 0
	for now := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC); now.Before(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)); now = now.Add(29 * time.Hour) {
		req, ok := f.request(t, now, nil)
		if !ok {
			continue
		}
		rep, err := a.Advise(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range checkInvariants(t, p, req, rep.Raw).Recommendations {
			if r.Action == schemas.ActionBuy {
				buys++
			}
		}
	}
	if buys == 0 {
		t.Errorf("custom params: no buys over 2019")
	}
	bad := DefaultParams()
	bad.SlowEMA = 5
	if _, err := New(bad); err == nil {
		t.Errorf("New(slow EMA < fast) = nil error; want error")
	}
	bad = DefaultParams()
	bad.RiskPct = 0
	if _, err := New(bad); err == nil {
		t.Errorf("New(risk 0) = nil error; want error")
	}
}

func TestBaselineBadInput(t *testing.T) {
	a := mustNew(t, DefaultParams())
	_, err := a.Advise(context.Background(), advisor.Request{})
	if advisor.KindOf(err) != advisor.KindInput {
		t.Errorf("Advise(no snapshots) = %v; want kind input", err)
	}
	many := map[string]market.Snapshot{}
	for i := 0; i < 21; i++ {
		s := fmt.Sprintf("A%02d/USDT", i)
		many[s] = market.Snapshot{Symbol: s}
	}
	if _, err := a.Advise(context.Background(), advisor.Request{Snapshots: many}); advisor.KindOf(err) != advisor.KindInput {
		t.Errorf("Advise(21 snapshots) = %v; want kind input", err)
	}
	if _, err := a.Advise(context.Background(), advisor.Request{Snapshots: map[string]market.Snapshot{"BTC/USDT": {Symbol: "ETH/USDT"}}}); advisor.KindOf(err) != advisor.KindInput {
		t.Errorf("Advise(mislabelled snapshot) = %v; want kind input", err)
	}
	// Snapshots without indicators or ticker give holds, never a trade.
	rep, err := a.Advise(context.Background(), advisor.Request{Snapshots: map[string]market.Snapshot{"BTC/USDT": {Symbol: "BTC/USDT"}}, State: schemas.State{Account: schemas.Account{Equity: dec("100")}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := schemas.ParseResponse(rep.Raw)
	if err != nil || resp.Recommendations[0].Action != schemas.ActionHold {
		t.Errorf("Advise(empty snapshot) = %s, %v; want a hold", rep.Raw, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Advise(ctx, advisor.Request{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Advise(canceled) = %v; want context.Canceled", err)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "tab\tnl\n\x01", "ünïcødé ×ATR", "bad\xffutf8", "<html>&"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("appendString(%q) = %s: not JSON: %v", s, got, err)
			continue
		}
		want := string(bytes.ToValidUTF8([]byte(s), []byte("\uFFFD")))
		if back != want {
			t.Errorf("appendString(%q) round-trips to %q; want %q", s, back, want)
		}
	}
}

func BenchmarkAdvise(b *testing.B) {
	f := newFeed(b)
	a := mustNew(b, DefaultParams())
	req, ok := f.request(b, time.Date(2021, 2, 1, 12, 0, 0, 0, time.UTC), map[string]schemas.Position{"ETH/USDT": {Qty: dec("0.1"), AvgPrice: dec("1000")}})
	if !ok {
		b.Fatal("no snapshot")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Advise(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAdviseHold is the common backtest case: nothing to do.
func BenchmarkAdviseHold(b *testing.B) {
	f := newFeed(b)
	a := mustNew(b, DefaultParams())
	req, ok := f.request(b, time.Date(2022, 6, 13, 3, 0, 0, 0, time.UTC), nil)
	if !ok {
		b.Fatal("no snapshot")
	}
	rep, err := a.Advise(context.Background(), req)
	if err != nil || bytes.Contains(rep.Raw, []byte(`"buy"`)) || bytes.Contains(rep.Raw, []byte(`"sell"`)) {
		b.Fatalf("not a hold-only request: %s %v", rep.Raw, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Advise(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
