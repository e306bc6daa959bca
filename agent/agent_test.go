package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/advisor/baseline"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// harness is one offline Warden: the paper exchange over the bundled
// candles, the real audit store on a file, the executor, and an agent.
type harness struct {
	t      *testing.T
	store  *audit.Store
	px     *paper.Exchange
	replay *agent.PaperReplay
	exec   *executor.Executor
	agent  *agent.Agent
	now    time.Time
	out    bytes.Buffer
}

var replayStart = time.Date(2021, 9, 1, 0, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, adv advisor.Advisor, dbPath string) *harness {
	t.Helper()
	return newHarnessBreakers(t, adv, dbPath, agent.DefaultBreakers())
}

// newHarnessBreakers is newHarness with the given breakers.
func newHarnessBreakers(t *testing.T, adv advisor.Advisor, dbPath string, breakers agent.BreakerConfig) *harness {
	t.Helper()
	return newHarnessPaper(t, adv, dbPath, breakers, paper.DefaultConfig())
}

// newHarnessPaper is newHarnessBreakers on a paper exchange configured
// as pcfg.
func newHarnessPaper(t *testing.T, adv advisor.Advisor, dbPath string, breakers agent.BreakerConfig, pcfg paper.Config) *harness {
	t.Helper()
	ctx := context.Background()
	h := &harness{t: t}
	if dbPath == "" {
		dbPath = filepath.Join(t.TempDir(), "warden.db")
	}
	var err error
	h.store, err = audit.Open(ctx, dbPath, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.store.Close() })
	h.px, err = paper.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	symbols := []string{"BTC/USDT", "ETH/USDT"}
	h.replay, err = agent.NewPaperReplay(h.px, symbols, "1h", 600)
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return h.now }
	h.exec, err = executor.New(h.px, h.store, executor.Options{Logger: quiet, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	if adv == nil {
		adv, err = baseline.New(baseline.DefaultParams())
		if err != nil {
			t.Fatal(err)
		}
	}
	h.agent, err = agent.New(agent.Deps{
		Market: h.px, Orders: h.exec, Advisor: adv, Validator: policy.NewValidator(pol, policy.Limits{}),
		Store: h.store, Clock: clock, Logger: quiet,
	}, agent.Options{
		Mode: "paper", Symbols: symbols, Timeframe: "1h",
		Breakers:   breakers,
		MaxDataAge: 2 * time.Hour, Output: &h.out,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) step() agent.CycleResult {
	h.t.Helper()
	now, err := h.replay.Advance(replayStart)
	if err != nil {
		h.t.Fatal(err)
	}
	h.now = now
	res, err := h.agent.Cycle(context.Background())
	if err != nil {
		h.t.Fatalf("Cycle at %s: %v", now, err)
	}
	return res
}

// TestOfflineCyclesPlaceOnlyApprovedOrders runs a day of hourly cycles and
// checks the promise: every order on the exchange belongs to an approved
// verdict on record, and every run's prompt and response are stored.
func TestOfflineCyclesPlaceOnlyApprovedOrders(t *testing.T) {
	h := newHarness(t, nil, "")
	ctx := context.Background()
	approved := map[string]bool{}
	var runs []agent.CycleResult
	for i := 0; i < 24; i++ {
		res := h.step()
		runs = append(runs, res)
		for j, v := range res.Verdicts {
			if v.Decision == schemas.DecisionApproved {
				approved[res.DecisionIDs[j]] = true
			}
		}
	}
	if len(approved) == 0 {
		t.Fatal("no approved decision in 24 cycles from 2021-09-01: the scenario no longer exercises placement")
	}
	opens, err := h.px.OpenOrders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	trades, err := h.px.MyTrades(ctx, "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	placed := map[string]bool{}
	for _, o := range opens {
		placed[o.ClientOrderID] = true
	}
	for _, tr := range trades {
		placed[tr.ClientOrderID] = true
	}
	for cid := range placed {
		ev, ok, err := h.store.LastOrderEvent(ctx, cid)
		if err != nil || !ok {
			t.Fatalf("exchange order %s has no journal record (ok=%v err=%v)", cid, ok, err)
		}
		if !approved[ev.DecisionID] {
			t.Errorf("exchange order %s belongs to decision %s, which was not approved", cid, ev.DecisionID)
		}
	}
	for _, res := range runs {
		story, err := h.store.Show(ctx, res.RunID)
		if err != nil {
			t.Fatalf("Show(%s) = %v", res.RunID, err)
		}
		text := storyText(t, story)
		if !strings.Contains(text, "Baseline trend-following") {
			t.Errorf("run %s: the stored story lacks the model's rationale", res.RunID)
		}
		if !strings.Contains(text, "BTC/USDT") || !strings.Contains(text, "policy") {
			t.Errorf("run %s: the stored story lacks the prompt's market data or the policy", res.RunID)
		}
	}
	if rep, err := h.store.Verify(ctx); err != nil || !rep.OK {
		t.Fatalf("Verify = %+v, %v; want an intact chain", rep, err)
	}
	if !strings.Contains(h.out.String(), "verdicts:") {
		t.Errorf("cycle output lacks the verdicts:\n%s", h.out.String())
	}
}

// TestKillSwitchBlocksEveryOrder sets the kill switch in the store the way
// `warden kill` does and checks that nothing reaches the exchange.
func TestKillSwitchBlocksEveryOrder(t *testing.T) {
	h := newHarness(t, nil, "")
	ctx := context.Background()
	if err := h.store.SetKillSwitch(ctx, true, "test", "drill"); err != nil {
		t.Fatal(err)
	}
	rejected := 0
	for i := 0; i < 24; i++ {
		res := h.step()
		if !res.KillSwitch {
			t.Fatalf("cycle %d did not see the kill switch", i)
		}
		if len(res.Orders) > 0 {
			t.Fatalf("cycle %d placed %d orders with the kill switch on", i, len(res.Orders))
		}
		for _, v := range res.Verdicts {
			if v.Decision == schemas.DecisionApproved {
				t.Fatalf("cycle %d approved %s with the kill switch on", i, v.Symbol)
			}
			if v.Decision == schemas.DecisionRejected {
				rejected++
				if !hasRule(v, policy.RuleLimitKillSwitch) {
					t.Errorf("rejection without the kill-switch limit: %+v", v.Violations)
				}
			}
		}
	}
	if rejected == 0 {
		t.Fatal("no recommendation was even attempted; the test proves nothing")
	}
	trades, _ := h.px.MyTrades(ctx, "", time.Time{})
	if len(trades) != 0 {
		t.Fatalf("%d trades with the kill switch on", len(trades))
	}
}

// failing is an advisor whose every call fails, like a model outage.
type failing struct{ calls int }

func (f *failing) Name() string { return "failing" }
func (f *failing) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	f.calls++
	return advisor.Reply{Advisor: "failing", Model: "m"}, errors.New("model unavailable: 503")
}

// TestAdvisorErrorsPlaceNothingAndTripTheBreaker: a failed model call is a
// rejection, never a default; three in a row switch to safe mode.
func TestAdvisorErrorsPlaceNothingAndTripTheBreaker(t *testing.T) {
	f := &failing{}
	h := newHarness(t, f, "")
	ctx := context.Background()
	var last agent.CycleResult
	for i := 0; i < 3; i++ {
		last = h.step()
		if last.Status != "advisor_error" || len(last.Orders) != 0 || len(last.Verdicts) != 0 {
			t.Fatalf("cycle %d = status %q, %d orders, %d verdicts; want advisor_error and nothing else", i, last.Status, len(last.Orders), len(last.Verdicts))
		}
	}
	if !hasTrip(last.Trips, "error_spike") {
		t.Fatalf("trips after 3 failures = %+v; want error_spike", last.Trips)
	}
	lv, err := h.store.Level(ctx, h.now)
	if err != nil || lv.Level != audit.LevelSafeMode || !strings.Contains(lv.Reason, "error_spike") {
		t.Fatalf("Level = %+v, %v; want safe_mode for error_spike", lv, err)
	}
	if f.calls != 3 {
		t.Errorf("advisor called %d times; want 3", f.calls)
	}
}

// staleFeed serves old candles: the snapshot must be refused before any
// prompt is built.
type staleFeed struct {
	agent.MarketData
	shift time.Duration
}

func (s staleFeed) Ticker(ctx context.Context, symbol string) (executor.Ticker, error) {
	tk, err := s.MarketData.Ticker(ctx, symbol)
	tk.Time = tk.Time.Add(-s.shift)
	return tk, err
}

func (s staleFeed) OHLCV(ctx context.Context, symbol, tf string, since time.Time, limit int) ([]executor.Candle, error) {
	cs, err := s.MarketData.OHLCV(ctx, symbol, tf, since, limit)
	if len(cs) > 10 {
		cs = cs[:len(cs)-10] // the last ten hours are missing
	}
	return cs, err
}

func TestBadSnapshotSkipsTheRun(t *testing.T) {
	f := &failing{}
	h := newHarness(t, f, "")
	pol, _ := policy.Default()
	a, err := agent.New(agent.Deps{
		Market: staleFeed{MarketData: h.px, shift: 10 * time.Hour}, Orders: h.exec, Advisor: f,
		Validator: policy.NewValidator(pol, policy.Limits{}), Store: h.store, Clock: func() time.Time { return h.now }, Logger: quiet,
	}, agent.Options{Mode: "paper", Symbols: []string{"BTC/USDT"}, Timeframe: "1h", MaxDataAge: 2 * time.Hour,
		Breakers: agent.DefaultBreakers()})
	if err != nil {
		t.Fatal(err)
	}
	h.now, err = h.replay.Advance(replayStart)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Cycle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "skipped" || f.calls != 0 {
		t.Fatalf("Cycle on stale data = status %q, advisor calls %d; want skipped and no call", res.Status, f.calls)
	}
	story, err := h.store.Show(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if text := storyText(t, story); !strings.Contains(text, "snapshot_rejected") {
		t.Errorf("the skipped run's story does not record the rejected snapshot:\n%.2000s", text)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	pol, _ := policy.Default()
	adv, _ := baseline.New(baseline.DefaultParams())
	px, _ := paper.New(paper.DefaultConfig())
	deps := agent.Deps{Market: px, Advisor: adv, Validator: policy.NewValidator(pol, policy.Limits{})}
	for name, o := range map[string]agent.Options{
		"mode":      {Mode: "yolo", Symbols: []string{"BTC/USDT"}, Timeframe: "1h"},
		"timeframe": {Mode: "paper", Symbols: []string{"BTC/USDT"}, Timeframe: "7h"},
		"no symbol": {Mode: "paper", Timeframe: "1h"},
		"quotes":    {Mode: "paper", Symbols: []string{"BTC/USDT", "ETH/BTC"}, Timeframe: "1h"},
	} {
		if _, err := agent.New(deps, o); err == nil {
			t.Errorf("New with bad %s = nil error", name)
		}
	}
	if _, err := agent.New(agent.Deps{}, agent.Options{Mode: "paper", Symbols: []string{"BTC/USDT"}, Timeframe: "1h"}); err == nil {
		t.Error("New without dependencies = nil error")
	}
}

// BenchmarkCycle is one whole offline cycle: replay step, snapshots,
// prompt, baseline advisor, validation, audit records and the paper
// exchange.
func BenchmarkCycle(b *testing.B) {
	ctx := context.Background()
	store, err := audit.Open(ctx, filepath.Join(b.TempDir(), "w.db"), audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	cfg := paper.DefaultConfig()
	cfg.Balances = map[string]decimal.Decimal{"USDT": decimal.NewFromInt(1_000_000)}
	px, _ := paper.New(cfg)
	symbols := []string{"BTC/USDT", "ETH/USDT"}
	rp, err := agent.NewPaperReplay(px, symbols, "1h", 600)
	if err != nil {
		b.Fatal(err)
	}
	var now time.Time
	clock := func() time.Time { return now }
	exec, _ := executor.New(px, store, executor.Options{Logger: quiet, Clock: clock})
	pol, _ := policy.Default()
	adv, _ := baseline.New(baseline.DefaultParams())
	a, err := agent.New(agent.Deps{Market: px, Orders: exec, Advisor: adv, Validator: policy.NewValidator(pol, policy.Limits{}),
		Store: store, Clock: clock, Logger: quiet},
		agent.Options{Mode: "paper", Symbols: symbols, Timeframe: "1h",
			Breakers: agent.DefaultBreakers()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if now, err = rp.Advance(time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			b.Fatal(err)
		}
		if _, err := a.Cycle(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func hasRule(v schemas.Verdict, rule string) bool {
	for _, vi := range v.Violations {
		if vi.Rule == rule {
			return true
		}
	}
	return false
}

func hasTrip(trips []agent.Trip, name string) bool {
	for _, t := range trips {
		if t.Breaker == name {
			return true
		}
	}
	return false
}

func storyText(t *testing.T, s audit.Story) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPositionAverageEntryPrice: the state's average entry price of a held
// position is the volume-weighted price of the buys that built it, read
// incrementally across cycles.
func TestPositionAverageEntryPrice(t *testing.T) {
	h := newHarness(t, nil, "")
	ctx := context.Background()
	checked := 0
	for i := 0; i < 72; i++ {
		now, err := h.replay.Advance(replayStart)
		if err != nil {
			t.Fatal(err)
		}
		h.now = now
		// The trades the cycle can know of: those before it runs.
		trades, _ := h.px.MyTrades(ctx, "", time.Time{})
		res, err := h.agent.Cycle(ctx)
		if err != nil {
			t.Fatal(err)
		}
		decs, err := h.store.RecordedDecisions(ctx, res.At)
		if err != nil {
			t.Fatal(err)
		}
		if len(decs) == 0 {
			continue
		}
		for sym, pos := range decs[len(decs)-1].State.Account.Positions {
			remaining, cost, got := pos.Qty, decimal.Zero, decimal.Zero
			for j := len(trades) - 1; j >= 0 && remaining.IsPositive(); j-- {
				if trades[j].Side != schemas.SideBuy || trades[j].Symbol != sym {
					continue
				}
				take := decimal.Min(trades[j].Quantity, remaining)
				cost, got, remaining = cost.Add(take.Mul(trades[j].Price)), got.Add(take), remaining.Sub(take)
			}
			if got.IsZero() {
				continue
			}
			if want := cost.Div(got).Round(8); !pos.AvgPrice.Equal(want) {
				t.Fatalf("cycle %d %s qty %s avg price = %s; want %s", i, sym, pos.Qty, pos.AvgPrice, want)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no position was held in 72 cycles: nothing checked")
	}
}
