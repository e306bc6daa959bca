package agent_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

// killWhileAnswering is a model that takes its time: while it "thinks",
// an operator runs `warden kill` in another process (a second store on the
// same file), then it recommends a buy.
type killWhileAnswering struct {
	db     string
	called bool
	t      *testing.T
}

func (k *killWhileAnswering) Name() string { return "slow-model" }
func (k *killWhileAnswering) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	k.called = true
	op, err := audit.Open(ctx, k.db, audit.Options{})
	if err != nil {
		k.t.Fatal(err)
	}
	defer op.Close()
	if err := op.SetKillSwitch(ctx, true, "operator", "news event"); err != nil {
		k.t.Fatal(err)
	}
	ask := req.State.Markets["BTC/USDT"].Ask
	buy := fmt.Sprintf(`{"symbol":"BTC/USDT","action":"buy","confidence":0.8,"size_pct":1,"order_type":"limit","limit_price":%s,"stop_loss":%s,"take_profit":null,"reason":"momentum"}`,
		ask.String(), ask.Mul(decimal.RequireFromString("0.97")).Round(2).String())
	raw := []byte(`{"rationale":"breakout","recommendations":[` + buy + `,` +
		`{"symbol":"ETH/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"flat"}]}`)
	return advisor.Reply{Advisor: "slow-model", Model: "m", Raw: raw}, nil
}

// TestKillDuringTheModelCallPlacesNothing: the kill switch is read when a
// cycle begins and again before every order, so one set while the model
// answers stops the order the answer would have placed. The verdict stays
// as judged (approved, under a switch that was off); the order is withheld
// and recorded, and the run counts as killed.
func TestKillDuringTheModelCallPlacesNothing(t *testing.T) {
	db := filepath.Join(t.TempDir(), "warden.db")
	adv := &killWhileAnswering{db: db, t: t}
	h := newHarness(t, adv, db)
	res := h.step()
	if !adv.called {
		t.Fatal("the model was not asked")
	}
	approved := 0
	for _, v := range res.Verdicts {
		if v.Decision == schemas.DecisionApproved && v.Order != nil {
			approved++
		}
	}
	if approved != 1 {
		t.Fatalf("verdicts %+v: want the buy approved (the switch was off when the cycle read it)", res.Verdicts)
	}
	ctx := context.Background()
	opens, err := h.px.OpenOrders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	trades, err := h.px.MyTrades(ctx, "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Orders) != 0 || len(opens) != 0 || len(trades) != 0 {
		t.Fatalf("after a kill during the model call: %d orders placed, %d open, %d trades; want none", len(res.Orders), len(opens), len(trades))
	}
	if !res.KillSwitch {
		t.Error("the run does not count as killed")
	}
	evs, err := h.store.ListEvents(ctx, audit.EventFilter{Kinds: []string{audit.EventOrderWithheld}})
	if err != nil || len(evs) != 1 || evs[0].Symbol != "BTC/USDT" || evs[0].RunID != res.RunID {
		t.Fatalf("withheld events = %+v, %v; want one for BTC/USDT in run %s", evs, err, res.RunID)
	}
}
