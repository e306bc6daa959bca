package backtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
)

var april = time.Date(2021, 4, 1, 0, 0, 0, 0, time.UTC)

func TestRunBaseline(t *testing.T) {
	res, err := Run(context.Background(), Config{From: april, To: april.AddDate(0, 0, 20), Symbols: []string{"BTC/USDT", "ETH/USDT"}, Timeframe: "1h"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := res.Summary
	// The bundled data have real gaps (exchange outages): count the bars.
	bars := map[time.Time]bool{}
	for _, sym := range []string{"BTC/USDT", "ETH/USDT"} {
		cs, err := market.Bundled(sym, "1h")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if !c.Time.Before(april) && c.Time.Before(april.AddDate(0, 0, 20)) {
				bars[c.Time] = true
			}
		}
	}
	want := len(bars)
	if want < 20*24-10 || s.Run.Candles != want || len(res.Curve) != want || len(res.BuyHold) != want {
		t.Errorf("candles %d, curve %d, benchmark %d; want %d each (of %d hours)", s.Run.Candles, len(res.Curve), len(res.BuyHold), want, 20*24)
	}
	if s.Decisions.Cycles != want {
		t.Errorf("cycles = %d; want one per candle (%d)", s.Decisions.Cycles, want)
	}
	if s.Advisor.Fills == 0 || s.Decisions.ByOutcome["approved"] == 0 {
		t.Errorf("no trades: %+v", s.Decisions)
	}
	if !res.Curve[0].Time.Equal(april.Add(time.Hour)) || res.Curve[0].Equity != 10000 {
		t.Errorf("first mark %+v; want 10000 at the first close %s", res.Curve[0], april.Add(time.Hour))
	}
	if !s.Evidence.Evidence || s.Run.Advisor != "baseline" || s.Run.PolicyHash == "" || s.Baseline != nil {
		t.Errorf("summary run info %+v evidence %+v baseline %v", s.Run, s.Evidence, s.Baseline)
	}
	// Fees and fills agree with the paper exchange's trades.
	m, err := Analyze(Input{Curve: res.Curve, Fills: res.Fills, PeriodsPerYear: 8760})
	if err != nil || !m.FeesPaid.Equal(s.Advisor.FeesPaid) || !m.FeesPaid.IsPositive() {
		t.Errorf("fees %s (err %v); summary says %s", m.FeesPaid, err, s.Advisor.FeesPaid)
	}
	// Equity never drifts from the exchange: the final mark is what the
	// balances are worth.
	if d := res.Curve[len(res.Curve)-1].Equity - s.Advisor.EndEquity; d != 0 {
		t.Errorf("end equity %v vs last mark: diff %v", s.Advisor.EndEquity, d)
	}
}

func TestRunDailyCadence(t *testing.T) {
	var ats []time.Time
	res, err := Run(context.Background(), Config{From: april, To: april.AddDate(0, 0, 10), Symbols: []string{"BTC/USDT"}, Timeframe: "1h",
		Every: 24 * time.Hour, OnCycle: func(r agent.CycleResult) { ats = append(ats, r.At) }})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(ats) != 10 || res.Summary.Run.Every != "day" {
		t.Fatalf("daily cycles at %v (every %q); want 10 at UTC midnights", ats, res.Summary.Run.Every)
	}
	for _, at := range ats {
		if !at.Equal(at.Truncate(24 * time.Hour)) {
			t.Errorf("daily cycle at %s; want UTC midnight", at)
		}
	}
}

func TestRunErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown timeframe", Config{Timeframe: "7m"}, "unknown timeframe"},
		{"unknown symbol", Config{Symbols: []string{"DOGE/USDT"}}, "no market DOGE/USDT"},
		{"symbol twice", Config{Symbols: []string{"BTC/USDT", "BTC/USDT"}}, "listed twice"},
		{"cadence not a multiple", Config{Timeframe: "4h", Every: 6 * time.Hour}, "not a multiple"},
		{"to before from", Config{From: april, To: april.Add(-time.Hour)}, "not after"},
		{"beyond the data", Config{From: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC)}, "no candles"},
		{"out-of-order candles", Config{From: april, To: april.AddDate(0, 0, 1), Symbols: []string{"BTC/USDT"},
			Candles: map[string][]executor.Candle{"BTC/USDT": {{Time: april, Close: 1}, {Time: april, Close: 1}}}}, "out of order"},
		{"model advisor without a model name", Config{Advisor: &countingAdvisor{}, Cache: memCache{}}, "model name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(ctx, tc.cfg)
			var ce *ConfigError
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ce) {
				t.Errorf("Run(%s) error = %v; want a *ConfigError containing %q", tc.name, err, tc.want)
			}
		})
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Run(cctx, Config{From: april, To: april.AddDate(0, 0, 2), Symbols: []string{"BTC/USDT"}}); err == nil {
		t.Errorf("Run with a cancelled context: no error")
	}
}

func TestRunFromBeforeTheDataStartsAfterWarmUp(t *testing.T) {
	res, err := Run(context.Background(), Config{From: time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2017, 10, 1, 0, 0, 0, 0, time.UTC), Symbols: []string{"BTC/USDT"}, Every: 24 * time.Hour})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.Summary.Warnings) == 0 || !strings.Contains(res.Summary.Warnings[0], "warm-up") {
		t.Errorf("warnings %q; want one about the warm-up moving the start", res.Summary.Warnings)
	}
	if !res.Curve[0].Time.After(time.Date(2017, 9, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("first mark %s; want after the ~550 h of warm-up from 2017-08-17", res.Curve[0].Time)
	}
}

// countingAdvisor is a stand-in model: it answers hold for every symbol
// and counts its calls.
type countingAdvisor struct{ calls atomic.Int64 }

var _ advisor.Advisor = (*countingAdvisor)(nil)

func (a *countingAdvisor) Name() string { return "openai" }

func (a *countingAdvisor) Advise(_ context.Context, req advisor.Request) (advisor.Reply, error) {
	a.calls.Add(1)
	var recs []string
	for sym := range req.Snapshots {
		recs = append(recs, fmt.Sprintf(`{"symbol":%q,"action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"wait"}`, sym))
	}
	raw := `{"rationale":"stand-in model","recommendations":[` + strings.Join(recs, ",") + `]}`
	return advisor.Reply{Raw: []byte(raw), Advisor: "openai", Model: "stand-in"}, nil
}

type memCache map[string][]byte

func (m memCache) CachedResponse(_ context.Context, k string) ([]byte, bool, error) {
	b, ok := m[k]
	return b, ok, nil
}
func (m memCache) PutCachedResponse(_ context.Context, k, _ string, b []byte) error {
	m[k] = b
	return nil
}

// TestModelAdvisorRerunCostsNothing: the second run of the same backtest
// answers every prompt from the SQLite response cache and decides the same.
func TestModelAdvisorRerunCostsNothing(t *testing.T) {
	store, err := audit.Open(context.Background(), filepath.Join(t.TempDir(), "cache.db"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cut := time.Date(2023, 10, 1, 0, 0, 0, 0, time.UTC)
	run := func() (Result, int64) {
		m := &countingAdvisor{}
		res, err := Run(context.Background(), Config{From: april, To: april.AddDate(0, 0, 3), Symbols: []string{"BTC/USDT"},
			Advisor: m, Model: "stand-in-1", TrainingCutoff: &cut, Cache: store, CompareBaseline: true})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		return res, m.calls.Load()
	}
	first, calls1 := run()
	second, calls2 := run()
	if calls1 != 72 || calls2 != 0 {
		t.Errorf("model calls: first run %d, rerun %d; want 72 and 0", calls1, calls2)
	}
	a, _ := json.Marshal(first.Summary)
	b, _ := json.Marshal(second.Summary)
	if string(a) != string(b) {
		t.Errorf("the rerun's summary differs:\n%s\n%s", a, b)
	}
	s := first.Summary
	if s.Evidence.Evidence || !strings.Contains(s.Evidence.Warning, "NOT EVIDENCE") {
		t.Errorf("evidence %+v; want a not-evidence warning (data before the cutoff)", s.Evidence)
	}
	if s.Baseline == nil || first.Baseline == nil || s.Advisor.Fills != 0 {
		t.Errorf("baseline comparison %v, advisor fills %d; want a baseline and no fills for an all-hold model", s.Baseline, s.Advisor.Fills)
	}
}

// TestAuditOnMatchesAuditOff: with audit records on (the store opened as
// `warden backtest --audit` opens it), the same decisions are made as with
// them off (the in-memory store keeps what the agent reads back), every
// decision and order event is in the store, and its chain verifies.
func TestAuditOnMatchesAuditOff(t *testing.T) {
	store, err := audit.Open(context.Background(), filepath.Join(t.TempDir(), "bt.db"), audit.Options{BatchSize: 256, Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg := Config{From: april, To: april.AddDate(0, 0, 8), Symbols: []string{"BTC/USDT"}}
	off, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Audit = store
	on, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(off.Decisions)
	b, _ := json.Marshal(on.Decisions)
	if string(a) != string(b) {
		t.Errorf("decisions differ with audit on")
	}
	if off.Summary.Advisor.EndEquity != on.Summary.Advisor.EndEquity {
		t.Errorf("end equity %v with audit on; %v off", on.Summary.Advisor.EndEquity, off.Summary.Advisor.EndEquity)
	}
	rows, err := store.List(context.Background(), audit.Filter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	verdicts := 0
	for _, d := range on.Decisions {
		if d.Symbol != "" {
			verdicts++
		}
	}
	if len(rows) != verdicts || verdicts == 0 {
		t.Errorf("audit store holds %d decisions; want %d", len(rows), verdicts)
	}
	if !on.Summary.Run.Audit {
		t.Errorf("summary run.audit = false with a store")
	}
	placed := 0
	for _, d := range on.Decisions {
		if d.Outcome == "approved" && d.OrderError == "" {
			placed++
		}
	}
	fills, err := store.FillRecords(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if placed == 0 || len(fills) == 0 {
		t.Errorf("%d approved orders and %d filled orders on record; the window should trade", placed, len(fills))
	}
	rep, err := store.Verify(context.Background())
	if err != nil || !rep.OK {
		t.Errorf("Verify = %+v, %v; want an intact chain", rep, err)
	}
}

func TestRunWalkForward(t *testing.T) {
	if testing.Short() {
		t.Skip("walk-forward over a year of candles")
	}
	s := config.Default()
	res, err := Run(context.Background(), Config{
		From: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC),
		Symbols: []string{"BTC/USDT"}, Timeframe: "1h", Every: 24 * time.Hour, Settings: s,
		WalkForward: &WalkForwardConfig{TrainMonths: 6, TestMonths: 3, MinTrades: 1}, Grid: DefaultGrid()[:3],
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	wf := res.Summary.WalkForward
	if wf == nil || len(wf.Windows) != 2 || wf.GridSize != 3 {
		t.Fatalf("walk-forward %+v; want 2 windows over a grid of 3", wf)
	}
	n := 0
	for _, r := range wf.ByRegime {
		n += r.Windows
	}
	if n != 2 {
		t.Errorf("regimes hold %d windows; want 2", n)
	}
	if wf.Windows[0].TestFrom != time.Date(2020, 7, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("first test window starts %s; want 2020-07-01", wf.Windows[0].TestFrom)
	}
	// The out-of-sample record counts the test windows' round trips (it
	// once closed none: the remainders fees leave were never dust to it).
	trips := 0
	for _, w := range wf.Windows {
		trips += w.TestTrips
	}
	if oos := wf.OutOfSample; trips == 0 || oos.RoundTrips < trips-len(wf.Windows) || oos.RoundTrips > trips {
		t.Errorf("out of sample: %d round trips (%d open) over %d fills; the test windows closed %d", oos.RoundTrips, oos.OpenTrips, oos.Fills, trips)
	}
}
