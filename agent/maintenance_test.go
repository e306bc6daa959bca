package agent_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/maintenance"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// buyer always buys 1% of equity of BTC/USDT at the ask, stop 2% below:
// an order the default policy approves when nothing else stands in the way.
type buyer struct {
	states []schemas.State
	snaps  []map[string]market.Snapshot
}

func (b *buyer) Name() string { return "buyer" }
func (b *buyer) Advise(_ context.Context, req advisor.Request) (advisor.Reply, error) {
	b.states = append(b.states, req.State)
	b.snaps = append(b.snaps, req.Snapshots)
	ask := req.State.Markets["BTC/USDT"].Ask
	stop := ask.Mul(decimalOf("0.98")).Round(2)
	raw := fmt.Sprintf(`{"rationale":"test","recommendations":[{"symbol":"BTC/USDT","action":"buy","confidence":0.9,"size_pct":1,"order_type":"limit","limit_price":%s,"stop_loss":%s,"take_profit":null,"reason":"test buy"}]}`, ask, stop)
	return advisor.Reply{Raw: []byte(raw), Advisor: "buyer"}, nil
}

// statusFeed is the paper exchange with a system status that fails.
type statusFeed struct {
	agent.MarketData
	err error
}

func (s statusFeed) SystemStatus(context.Context) (string, error) { return "", s.err }

func maintenanceAgent(t *testing.T, h *harness, md agent.MarketData, adv advisor.Advisor, ws maintenance.Windows) *agent.Agent {
	t.Helper()
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Deps{
		Market: md, Orders: h.exec, Advisor: adv, Validator: policy.NewValidator(pol, policy.Limits{}),
		Store: h.store, Clock: func() time.Time { return h.now }, Logger: quiet,
	}, agent.Options{Mode: "paper", Symbols: []string{"BTC/USDT", "ETH/USDT"}, Timeframe: "1h",
		MaxDataAge: 2 * time.Hour, Breakers: agent.DefaultBreakers(), Maintenance: ws})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func cycleAt(t *testing.T, h *harness, a *agent.Agent) agent.CycleResult {
	t.Helper()
	now, err := h.replay.Advance(replayStart)
	if err != nil {
		t.Fatal(err)
	}
	h.now = now
	res, err := a.Cycle(context.Background())
	if err != nil {
		t.Fatalf("Cycle at %s: %v", now, err)
	}
	return res
}

// TestMaintenanceBlocksNewOrders runs real cycles through the paper
// exchange: a buy goes through when the exchange is normal; with the
// exchange in maintenance, a market on a break, a configured window open
// or a status that cannot be read, the same buy is rejected by the
// default policy and nothing is placed, while the protective stop already
// resting on the exchange stays.
func TestMaintenanceBlocksNewOrders(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil, "")
	b := &buyer{}
	a := maintenanceAgent(t, h, h.px, b, nil)

	res := cycleAt(t, h, a)
	if len(res.Verdicts) == 0 || res.Verdicts[0].Decision != schemas.DecisionApproved || len(res.Orders) == 0 {
		t.Fatalf("normal exchange: verdicts %+v orders %+v errors %v; want the buy approved and placed", res.Verdicts, res.Orders, res.OrderErrors)
	}
	st := b.states[len(b.states)-1]
	if st.ExchangeStatus != schemas.ExchangeNormal || st.InMaintenance || st.Markets["BTC/USDT"].Status != schemas.MarketTrading {
		t.Fatalf("state at run time = exchange %q, in_maintenance %v, BTC %q; want normal, false, TRADING", st.ExchangeStatus, st.InMaintenance, st.Markets["BTC/USDT"].Status)
	}
	openBefore, err := h.px.OpenOrders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}

	blocked := func(name, rule string, a *agent.Agent, undo func()) {
		t.Helper()
		res := cycleAt(t, h, a)
		undo()
		if len(res.Verdicts) == 0 || res.Verdicts[0].Decision != schemas.DecisionRejected || !hasRule(res.Verdicts[0], rule) || len(res.Orders) != 0 {
			t.Fatalf("%s: verdicts %+v orders %+v; want the buy rejected by %s and nothing placed", name, res.Verdicts, res.Orders, rule)
		}
		open, err := h.px.OpenOrders(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range openBefore {
			found := false
			for _, n := range open {
				found = found || n.ClientOrderID == o.ClientOrderID
			}
			if !found && o.Type == executor.TypeStopLossLimit {
				t.Errorf("%s: protective stop %s was touched", name, o.ClientOrderID)
			}
		}
	}
	h.px.SetMaintenance(true)
	blocked("exchange in maintenance", "exchange_open", a, func() { h.px.SetMaintenance(false) })
	if st := b.states[len(b.states)-1]; st.ExchangeStatus != schemas.ExchangeMaintenance {
		t.Errorf("state exchange_status = %q; want maintenance", st.ExchangeStatus)
	}

	if err := h.px.SetMarketStatus("BTC/USDT", "BREAK"); err != nil {
		t.Fatal(err)
	}
	blocked("market on a break", "market_trading", a, func() { _ = h.px.SetMarketStatus("BTC/USDT", executor.MarketTrading) })

	unreadable := maintenanceAgent(t, h, statusFeed{MarketData: h.px, err: errors.New("connection reset")}, b, nil)
	blocked("status unreadable", "exchange_open", unreadable, func() {})
	if st := b.states[len(b.states)-1]; st.ExchangeStatus != schemas.ExchangeUnknown {
		t.Errorf("state exchange_status with a failed read = %q; want unknown", st.ExchangeStatus)
	}

	// A window covering every hour of every day is open whenever the cycle runs.
	always, err := maintenance.Recurring("00:00-24:00", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	windowed := maintenanceAgent(t, h, h.px, b, maintenance.Windows{always})
	blocked("window open", "exchange_open", windowed, func() {})
	if st := b.states[len(b.states)-1]; !st.InMaintenance || st.ExchangeStatus != schemas.ExchangeNormal {
		t.Errorf("state in a window = in_maintenance %v exchange %q; want true, normal", st.InMaintenance, st.ExchangeStatus)
	}

	res = cycleAt(t, h, a)
	if len(res.Verdicts) == 0 || res.Verdicts[0].Decision != schemas.DecisionApproved {
		t.Fatalf("back to normal: verdicts %+v; want the buy approved again", res.Verdicts)
	}
}
