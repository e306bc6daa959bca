package agent_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/schemas"
)

// bookFeed is the paper exchange with its book changed by mod.
type bookFeed struct {
	*paper.Exchange
	mod func(*executor.OrderBook)
}

func (f bookFeed) OrderBook(ctx context.Context, symbol string, depth int) (executor.OrderBook, error) {
	ob, err := f.Exchange.OrderBook(ctx, symbol, depth)
	if err == nil && f.mod != nil {
		f.mod(&ob)
	}
	return ob, err
}

// TestBookGuards runs cycles on the paper exchange's modelled book: the
// state carries the book and the buy is approved through it; a thin book
// makes the same buy fail max_slippage; a crossed or stale book skips the
// run before any prompt (snapshot rejected).
func TestBookGuards(t *testing.T) {
	h := newHarness(t, nil, "")
	b := &buyer{}
	var _ agent.MarketData = bookFeed{}
	res := cycleAt(t, h, maintenanceAgent(t, h, h.px, b, nil))
	if len(res.Verdicts) == 0 || res.Verdicts[0].Decision != schemas.DecisionApproved {
		t.Fatalf("deep modelled book: verdicts %+v; want the buy approved", res.Verdicts)
	}
	st := b.states[len(b.states)-1]
	if bk := st.Markets["BTC/USDT"].Book; bk == nil || len(bk.Asks) != executor.BookDepth || len(bk.Bids) != executor.BookDepth {
		t.Fatalf("state book = %+v; want %d levels a side", bk, executor.BookDepth)
	}
	thin := bookFeed{Exchange: h.px, mod: func(ob *executor.OrderBook) {
		for i := range ob.Asks {
			ob.Asks[i].Qty = decimal.RequireFromString("0.00001")
		}
	}}
	res = cycleAt(t, h, maintenanceAgent(t, h, thin, b, nil))
	if len(res.Verdicts) == 0 || !hasRule(res.Verdicts[0], "max_slippage") || len(res.Orders) != 0 {
		t.Fatalf("thin book: verdicts %+v orders %d; want the buy rejected by max_slippage", res.Verdicts, len(res.Orders))
	}
	calls := len(b.states)
	for name, mod := range map[string]func(*executor.OrderBook){
		"crossed": func(ob *executor.OrderBook) { ob.Bids[0].Price = ob.Asks[0].Price },
		"empty":   func(ob *executor.OrderBook) { ob.Asks = nil },
		"stale":   func(ob *executor.OrderBook) { ob.Time = ob.Time.Add(-3 * 3600e9) },
	} {
		res := cycleAt(t, h, maintenanceAgent(t, h, bookFeed{Exchange: h.px, mod: mod}, b, nil))
		if res.Status != "skipped" || len(b.states) != calls || !strings.Contains(res.Reason, "book") {
			t.Errorf("%s book: status %q reason %q, advisor calls %d; want skipped before the advisor", name, res.Status, res.Reason, len(b.states)-calls)
		}
	}
}

// countingFeed is the paper exchange counting the calls a cycle makes, as
// the ccxt adapter does.
type countingFeed struct {
	*paper.Exchange
	n *int64
}

func (f countingFeed) Requests() int64 { return *f.n }
func (f countingFeed) Ticker(ctx context.Context, s string) (executor.Ticker, error) {
	*f.n++
	return f.Exchange.Ticker(ctx, s)
}
func (f countingFeed) OrderBook(ctx context.Context, s string, d int) (executor.OrderBook, error) {
	*f.n++
	return f.Exchange.OrderBook(ctx, s, d)
}
func (f countingFeed) SystemStatus(ctx context.Context) (string, error) {
	*f.n++
	return f.Exchange.SystemStatus(ctx)
}

// TestCycleCountsRequests: the cycle's exchange calls land in
// CycleResult.ExchangeRequests (here the counted ones: a ticker and a book
// per symbol and the system status).
func TestCycleCountsRequests(t *testing.T) {
	h := newHarness(t, nil, "")
	var n int64
	res := cycleAt(t, h, maintenanceAgent(t, h, countingFeed{Exchange: h.px, n: &n}, &buyer{}, nil))
	if res.ExchangeRequests != 5 || n != 5 {
		t.Errorf("ExchangeRequests = %d (counter %d); want 5", res.ExchangeRequests, n)
	}
}
