package agent_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/policy"
)

// TestTrailingStopThroughCycles: with params.trailing {kind: percent,
// distance: 1} the position bought at the first cycle gets its stop raised
// by later cycles (each replacement journaled, the trigger never lower than
// before), and exactly one stop rests on the exchange at the end.
func TestTrailingStopThroughCycles(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil, "")
	src := strings.Replace(string(policy.DefaultSource()), "  max_slippage_bps: 10", "  max_slippage_bps: 10\n  trailing: {kind: percent, distance: 1}", 1)
	pol, err := policy.Load("trailing.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if pol.Trailing() == nil {
		t.Fatal("the test policy has no trailing stop")
	}
	a, err := agent.New(agent.Deps{Market: h.px, Orders: h.exec, Advisor: &buyOnce{}, Validator: policy.NewValidator(pol, policy.Limits{}),
		Store: h.store, Clock: func() time.Time { return h.now }, Logger: quiet},
		agent.Options{Mode: "paper", Symbols: []string{"BTC/USDT", "ETH/USDT"}, Timeframe: "1h", MaxDataAge: 2 * time.Hour, Breakers: agent.DefaultBreakers()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		cycleAt(t, h, a)
	}
	var triggers []string
	prev := ""
	for n := 1; n < 50; n++ {
		role := "stop"
		if n > 1 {
			role = "stop." + strconv.Itoa(n)
		}
		ev, ok, err := h.store.LastOrderEvent(ctx, executor.ClientOrderID(buyOnceDecision(t, h), role))
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if prev != "" && ev.StopPrice.LessThan(decimalOf(prev)) {
			t.Errorf("%s trigger %s is below the previous %s", role, ev.StopPrice, prev)
		}
		prev = ev.StopPrice.String()
		triggers = append(triggers, role+"@"+prev+"("+string(ev.State)+")")
	}
	if len(triggers) < 2 {
		t.Fatalf("stops of the position: %v; want the stop raised at least once over 12 cycles", triggers)
	}
	open, err := h.px.OpenOrders(ctx, "BTC/USDT")
	if err != nil {
		t.Fatal(err)
	}
	live := 0
	for _, o := range open {
		if o.Type == executor.TypeStopLossLimit {
			live++
		}
	}
	if live != 1 {
		t.Errorf("%d stops rest on the exchange; want 1 (stops: %v)", live, triggers)
	}
	t.Logf("stops: %v", triggers)
}

// buyOnce buys 1 % of BTC/USDT at the first call, holds after.
type buyOnce struct{ calls int }

func (b *buyOnce) Name() string { return "buy-once" }
func (b *buyOnce) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	b.calls++
	if b.calls == 1 {
		return (&buyer{}).Advise(ctx, req)
	}
	hold := func(sym string) string {
		return `{"symbol":"` + sym + `","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"hold"}`
	}
	return advisor.Reply{Raw: []byte(`{"rationale":"hold","recommendations":[` + hold("BTC/USDT") + `,` + hold("ETH/USDT") + `]}`), Advisor: "buy-once"}, nil
}

func buyOnceDecision(t *testing.T, h *harness) string {
	t.Helper()
	open, err := h.store.OpenOrderEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range open {
		if ev.Role == executor.RoleStop && ev.Symbol == "BTC/USDT" {
			return ev.DecisionID
		}
	}
	t.Fatalf("no open stop on BTC/USDT: %+v", open)
	return ""
}
