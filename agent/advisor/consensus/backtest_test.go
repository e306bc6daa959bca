package consensus_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/advisor/baseline"
	"github.com/warden-trading/warden/agent/advisor/consensus"
	"github.com/warden-trading/warden/agent/backtest"
	"github.com/warden-trading/warden/schemas"
)

// noisy is the baseline with its action replaced, with probability p per
// symbol, by another one: a hold becomes a 2 % buy at the ask with a 5 %
// stop, a buy or a sell becomes a hold. Seeded: the same run twice is the
// same run.
type noisy struct {
	inner advisor.Advisor
	p     float64
	mu    sync.Mutex
	rng   *rand.Rand
}

func (n *noisy) Name() string     { return "noisy" }
func (n *noisy) UsesPrompt() bool { return false }
func (n *noisy) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	rep, err := n.inner.Advise(ctx, req)
	if err != nil {
		return rep, err
	}
	resp, err := schemas.ParseResponse(rep.Raw)
	if err != nil {
		return rep, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, r := range resp.Recommendations {
		if n.rng.Float64() >= n.p {
			continue
		}
		switch r.Action {
		case schemas.ActionHold:
			ask := req.Snapshots[r.Symbol].Ticker.Ask
			stop := ask.Mul(decimal.RequireFromString("0.95")).Round(2)
			r = schemas.Recommendation{Symbol: r.Symbol, Action: schemas.ActionBuy, Confidence: decimal.RequireFromString("0.6"),
				SizePct: decimal.NewFromInt(2), OrderType: schemas.OrderLimit, LimitPrice: &ask, StopLoss: &stop, Reason: "noise: buy"}
		default:
			r = schemas.Recommendation{Symbol: r.Symbol, Action: schemas.ActionHold, Confidence: decimal.RequireFromString("0.5"),
				SizePct: decimal.Zero, OrderType: schemas.OrderLimit, Reason: "noise: hold"}
		}
		resp.Recommendations[i] = r
	}
	raw, err := schemas.MarshalResponse(resp)
	rep.Raw, rep.Advisor = raw, "noisy"
	return rep, err
}

// TestBacktestBaselineWithNoisyMember backtests a bundled year (2021,
// BTC/USDT and ETH/USDT, 1h candles, a decision every 4 hours) three
// ways: the baseline alone, and a consensus (require all) of the baseline
// and a member that changes the baseline's action at random 10 % and 30 %
// of the time. It reports the no-consensus rate and the trades, and
// checks what the consensus promises: every no-consensus cycle is counted,
// more noise means more disagreement, and the consensus never trades
// more often than the baseline does alone (a buy needs both members).
//
//	go test ./agent/advisor/consensus -run TestBacktestBaselineWithNoisyMember -v
func TestBacktestBaselineWithNoisyMember(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a year of backtests (not under -short or -race)")
	}
	from, to := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
	run := func(adv advisor.Advisor, model string) backtest.Result {
		t.Helper()
		res, err := backtest.Run(context.Background(), backtest.Config{
			From: from, To: to, Symbols: []string{"BTC/USDT", "ETH/USDT"}, Timeframe: "1h", Every: 4 * time.Hour,
			Advisor: adv, Model: model,
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	base := run(nil, "")
	t.Logf("%-28s %8s %8s %8s %8s %10s %10s", "advisor", "asked", "no cons", "rate %", "buys", "fills", "return %")
	report := func(name string, r backtest.Result) {
		t.Logf("%-28s %8d %8d %8s %8d %10d %10.2f", name, r.Summary.Model.Asked, r.Summary.Model.NoConsensusCycles,
			r.Summary.Model.NoConsensusRate.StringFixed(2), r.Summary.Decisions.ByAction["buy"], len(r.Fills), r.Summary.Advisor.TotalReturn*100)
	}
	report("baseline alone", base)
	prevRate := decimal.NewFromInt(-1)
	for _, p := range []float64{0.1, 0.3} {
		b1, _ := baseline.New(baseline.DefaultParams())
		b2, _ := baseline.New(baseline.DefaultParams())
		adv, err := consensus.New(consensus.Config{
			Members: []consensus.Member{
				{Name: "baseline", Advisor: b1},
				{Name: "noisy", Advisor: &noisy{inner: b2, p: p, rng: rand.New(rand.NewPCG(1, 16))}},
			},
			Samples: 1, Require: consensus.RequireAll, Size: consensus.SizeMin,
		})
		if err != nil {
			t.Fatal(err)
		}
		res := run(adv, fmt.Sprintf("baseline+noisy(%.0f%%)", p*100))
		report(fmt.Sprintf("consensus, noise %.0f %%", p*100), res)
		m := res.Summary.Model
		if m.Asked == 0 || m.NoConsensusCycles == 0 || m.NoConsensusHolds < m.NoConsensusCycles {
			t.Fatalf("noise %.0f%%: model stats %+v; want no-consensus cycles counted", p*100, m)
		}
		if !m.NoConsensusRate.GreaterThan(prevRate) {
			t.Errorf("noise %.0f%%: no-consensus rate %s is not above %s at less noise", p*100, m.NoConsensusRate, prevRate)
		}
		prevRate = m.NoConsensusRate
		if res.Summary.Decisions.ByAction["buy"] > base.Summary.Decisions.ByAction["buy"] {
			t.Errorf("noise %.0f%%: %d buys under consensus, more than the baseline's %d alone", p*100, res.Summary.Decisions.ByAction["buy"], base.Summary.Decisions.ByAction["buy"])
		}
	}
}
