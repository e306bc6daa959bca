package backtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/advisor/baseline"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
)

// probe is the baseline advisor with a recorder: for every request it keeps
// a hash of the whole prompt and the newest candle any snapshot holds.
type probe struct {
	inner *baseline.Advisor
	step  time.Duration

	mu      sync.Mutex
	prompts map[time.Time][32]byte
	newest  map[time.Time]time.Time // decision time → newest candle open time seen
}

var _ advisor.Advisor = (*probe)(nil)

func newProbe(t *testing.T, step time.Duration) *probe {
	b, err := baseline.New(baseline.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	return &probe{inner: b, step: step, prompts: map[time.Time][32]byte{}, newest: map[time.Time]time.Time{}}
}

func (p *probe) Name() string { return "baseline" }

func (p *probe) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	p.mu.Lock()
	p.prompts[req.Now] = sha256.Sum256([]byte(req.Prompt.System + "\x00" + req.Prompt.User))
	var newest time.Time
	for _, s := range req.Snapshots {
		for _, c := range s.Candles {
			if c.Time.After(newest) {
				newest = c.Time
			}
		}
		if s.Indicators.LastOpen.After(newest) {
			newest = s.Indicators.LastOpen
		}
	}
	p.newest[req.Now] = newest
	p.mu.Unlock()
	return p.inner.Advise(ctx, req)
}

// cycleRecord is what one cycle decided, as comparable bytes.
type cycleRecord struct {
	raw      []byte
	verdicts string
	orders   string
}

func recordCycles(t *testing.T, into map[time.Time]cycleRecord) func(agent.CycleResult) {
	return func(r agent.CycleResult) {
		v, err := json.Marshal(r.Verdicts)
		if err != nil {
			t.Fatal(err)
		}
		o, err := json.Marshal(r.Orders)
		if err != nil {
			t.Fatal(err)
		}
		into[r.At] = cycleRecord{raw: r.Raw, verdicts: string(v), orders: string(o) + fmt.Sprint(r.OrderErrors, r.Status, r.Reason)}
	}
}

// poison replaces every candle opening at or after cut with absurd prices
// and volumes: a thousand times the real ones, with the high and low far
// apart. Any of it reaching a decision made by cut would change it.
func poison(cs []executor.Candle, cut time.Time) []executor.Candle {
	out := append([]executor.Candle(nil), cs...)
	for i := range out {
		if !out[i].Time.Before(cut) {
			c := &out[i]
			c.Open, c.Close = c.Open*1000, c.Close*1000
			c.High, c.Low = c.High*5000, c.Low/1000
			c.Volume *= 1000
		}
	}
	return out
}

// TestNoLookAhead runs the same backtest on the real candles and on
// candles poisoned from a cut-off on: every decision up to the cut-off —
// prompt, raw response, verdicts and orders — and every equity mark before
// it must be identical, and no snapshot may hold a candle that had not
// closed at its decision time.
func TestNoLookAhead(t *testing.T) {
	real, err := market.Bundled("BTC/USDT", "1h")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2021, 4, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2021, 4, 21, 0, 0, 0, 0, time.UTC)
	cut := time.Date(2021, 4, 11, 0, 0, 0, 0, time.UTC) // a decision time: the close of the 23:00 bar
	run := func(cs []executor.Candle) (Result, *probe, map[time.Time]cycleRecord) {
		p := newProbe(t, time.Hour)
		recs := map[time.Time]cycleRecord{}
		res, err := Run(context.Background(), Config{
			From: from, To: to, Symbols: []string{"BTC/USDT"}, Timeframe: "1h",
			Advisor: p, Candles: map[string][]executor.Candle{"BTC/USDT": cs},
			OnCycle: recordCycles(t, recs),
		})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		return res, p, recs
	}
	clean, pClean, rClean := run(real)
	dirty, pDirty, rDirty := run(poison(real, cut))

	if clean.Summary.Decisions.ByOutcome["approved"] == 0 {
		t.Fatalf("the clean run approved nothing (%+v): the comparison would prove little", clean.Summary.Decisions)
	}
	compared := 0
	for at, c := range rClean {
		if at.After(cut) {
			continue
		}
		compared++
		d, ok := rDirty[at]
		if !ok {
			t.Errorf("decision at %s missing from the poisoned run", at)
			continue
		}
		if !bytes.Equal(c.raw, d.raw) || c.verdicts != d.verdicts || c.orders != d.orders {
			t.Errorf("decision at %s (≤ cut-off %s) differs with poisoned future candles:\nclean %s %s %s\npoisoned %s %s %s", at, cut, c.raw, c.verdicts, c.orders, d.raw, d.verdicts, d.orders)
		}
		if pClean.prompts[at] != pDirty.prompts[at] {
			t.Errorf("prompt at %s differs with poisoned future candles", at)
		}
	}
	if compared < 24*9 {
		t.Fatalf("compared %d decisions before the cut-off; want at least %d", compared, 24*9)
	}
	for i, p := range clean.Curve {
		if p.Time.After(cut) {
			break
		}
		if q := dirty.Curve[i]; q != p {
			t.Errorf("equity mark %d at %s = %+v poisoned; want %+v", i, p.Time, q, p)
		}
	}
	// The poison is visible after the cut-off: the test is not vacuous.
	if lastC, lastD := clean.Curve[len(clean.Curve)-1], dirty.Curve[len(dirty.Curve)-1]; lastC.Time != lastD.Time || clean.BuyHold[len(clean.BuyHold)-1] == dirty.BuyHold[len(dirty.BuyHold)-1] {
		t.Errorf("the poisoned run ends like the clean one (buy-and-hold %v vs %v): the poison had no effect", clean.BuyHold[len(clean.BuyHold)-1], dirty.BuyHold[len(dirty.BuyHold)-1])
	}
	after := 0
	for at, c := range rClean {
		if at.After(cut) {
			if d := rDirty[at]; !bytes.Equal(c.raw, d.raw) {
				after++
			}
		}
	}
	if after == 0 {
		t.Errorf("no decision after the cut-off changed with poisoned candles: the advisor never saw them at all")
	}
	// No snapshot ever holds a candle still open at its decision time.
	for _, p := range []*probe{pClean, pDirty} {
		for at, newest := range p.newest {
			if newest.Add(time.Hour).After(at) {
				t.Errorf("decision at %s saw the candle opening %s, which closes after it", at, newest)
			}
		}
	}
}
