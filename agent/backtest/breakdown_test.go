package backtest

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/market"
)

func TestReasonKey(t *testing.T) {
	snap := func(sym string, ps ...market.Problem) string {
		// The agent wraps the snapshot error like this (agent.snapshots).
		return fmt.Errorf("%s snapshot: %w", sym, &market.SnapshotError{Symbol: sym, Timeframe: "1h", Problems: ps}).Error()
	}
	gap := market.Problem{Kind: market.ProblemGap, Index: 17, Time: t0, Detail: "2 missing candles before 2021-01-01T03:00:00Z"}
	gap2 := gap
	gap2.Index, gap2.Time, gap2.Detail = 20, t0.Add(5*time.Hour), "1 missing candle"
	out := market.Problem{Kind: market.ProblemOutlier, Index: 3, Time: t0, Detail: "close jumped 40%"}
	stale := market.Problem{Kind: market.ProblemStale, Index: -1, Detail: "last candle 3h old"}
	for _, tc := range []struct{ in, want string }{
		{snap("BTC/USDT", gap), "snapshot BTC/USDT rejected: gap"},
		{snap("BTC/USDT", gap2), "snapshot BTC/USDT rejected: gap"},
		{snap("ETH/USDT", stale, gap, out), "snapshot ETH/USDT rejected: gap, outlier, stale"},
		{"exchange: balances: connection refused after 3 tries at 2021-01-01T00:00:00Z", "exchange: balances: connection refused after … tries at …"},
		{"", "no reason given"},
	} {
		if got := ReasonKey(tc.in); got != tc.want {
			t.Errorf("ReasonKey(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestCountDecisionsByReason(t *testing.T) {
	gapAt := func(h int) string {
		return fmt.Sprintf("BTC/USDT snapshot: market: snapshot BTC/USDT 1h rejected: 1 problem(s); gap at #%d (%s): %d missing candles", h, t0.Add(time.Duration(h)*time.Hour).Format(time.RFC3339), h)
	}
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	ds := []Decision{
		{Time: at(1), Outcome: OutcomeSkipped, Reason: gapAt(1)},
		{Time: at(2), Outcome: "approved"},
		{Time: at(3), Outcome: OutcomeSkipped, Reason: "exchange: down"},
		{Time: at(4), Outcome: OutcomeSkipped, Reason: gapAt(4)},
		{Time: at(9), Outcome: OutcomeSkipped, Reason: gapAt(9)},
		{Time: at(10), Outcome: OutcomeError, Reason: "advisor: timeout after 30s"},
	}
	st := CountDecisions(10, ds)
	want := []ReasonCount{
		{Reason: "snapshot BTC/USDT rejected: gap", Count: 3, First: at(1), Last: at(9), Example: gapAt(1)},
		{Reason: "exchange: down", Count: 1, First: at(3), Last: at(3), Example: "exchange: down"},
	}
	if fmt.Sprint(st.SkippedByReason) != fmt.Sprint(want) {
		t.Errorf("SkippedByReason = %+v; want %+v", st.SkippedByReason, want)
	}
	if n := st.ByOutcome[OutcomeSkipped]; n != 4 {
		t.Errorf("skipped = %d; want 4", n)
	}
	if len(st.ErrorsByReason) != 1 || st.ErrorsByReason[0].Reason != "advisor: timeout after …s" || st.ErrorsByReason[0].Count != 1 {
		t.Errorf("ErrorsByReason = %+v", st.ErrorsByReason)
	}
}

// TestRoundTripDetails: quantity, average prices, fees and fill counts of
// the hand-computed fills (metrics_test.go).
func TestRoundTripDetails(t *testing.T) {
	trips, err := RoundTrips(handFills(), d("0"))
	if err != nil {
		t.Fatal(err)
	}
	if len(trips) != 3 {
		t.Fatalf("%d trips; want 3", len(trips))
	}
	for i, tc := range []struct {
		qty, entry, exit, fees, pnl string
		fills                       int
		open                        bool
	}{
		{"1", "100", "110", "0.21", "9.79", 2, false},
		// The fee of 0.001 BTC is worth 0.05 USDT at the buy's price: it
		// is counted in fees, and paid in quantity (1.999 BTC delivered,
		// sold for 89.86505 against the 100 paid), not again in money.
		{"2", "50", "45", "0.13995", "-10.13495", 2, false},
		// Open, nothing sold: nothing realised yet.
		{"1", "10", "0", "0.01", "0", 1, true},
	} {
		tr := trips[i]
		if !tr.Quantity.Equal(d(tc.qty)) || !tr.EntryPrice.Equal(d(tc.entry)) || !tr.ExitPrice.Equal(d(tc.exit)) ||
			!tr.Fees.Equal(d(tc.fees)) || !tr.PnL.Equal(d(tc.pnl)) || tr.Fills != tc.fills || tr.Open != tc.open {
			t.Errorf("trip %d = qty %s entry %s exit %s fees %s pnl %s fills %d open %v; want %+v",
				i, tr.Quantity, tr.EntryPrice, tr.ExitPrice, tr.Fees, tr.PnL, tr.Fills, tr.Open, tc)
		}
	}
	if got, want := trips[0].Return(), 9.79/100.1; !near(got, want) {
		t.Errorf("trip 0 return %v; want %v", got, want)
	}
}

func TestBySymbol(t *testing.T) {
	fills := handFills()
	trips, err := RoundTrips(fills, d("0"))
	if err != nil {
		t.Fatal(err)
	}
	ds := []Decision{
		{Symbol: "BTC/USDT", Outcome: "approved"}, {Symbol: "BTC/USDT", Outcome: "rejected"},
		{Symbol: "ETH/USDT", Outcome: "approved"}, {Outcome: OutcomeSkipped},
	}
	got, err := BySymbol([]string{"BTC/USDT", "ETH/USDT"}, fills, trips, ds, map[string][]float64{"BTC/USDT": {100, 120}, "ETH/USDT": {10, 5}})
	if err != nil {
		t.Fatal(err)
	}
	btc, eth := got[0], got[1]
	if btc.Fills != 4 || btc.RoundTrips != 2 || btc.Wins != 1 || btc.WinRate != 0.5 || btc.OpenTrips != 0 ||
		!btc.RealisedPnL.Equal(d("-0.34495")) || !btc.Fees.Equal(d("0.34995")) || !btc.TradedNotional.Equal(d("399.955")) ||
		btc.Approved != 1 || btc.Rejected != 1 || !near(btc.BuyHoldReturn, 0.2) {
		t.Errorf("BTC = %+v", btc)
	}
	if eth.Fills != 1 || eth.RoundTrips != 0 || eth.OpenTrips != 1 || !eth.RealisedPnL.IsZero() || !eth.Fees.Equal(d("0.01")) ||
		eth.Approved != 1 || !near(eth.BuyHoldReturn, -0.5) {
		t.Errorf("ETH = %+v", eth)
	}
	// The symbols' realised PnL adds up to the closed trips' PnL.
	if _, err := BySymbol([]string{"BTC/USDT"}, fills, trips, nil, nil); err == nil {
		t.Errorf("BySymbol with a fill of a symbol not in the run = nil error")
	}
}

func TestTradesCSV(t *testing.T) {
	trips, err := RoundTrips(handFills(), d("0"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteTradesCSV(&b, trips); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || strings.Join(rows[0], ",") != "symbol,opened,closed,status,quantity,entry_price,exit_price,cost,proceeds,fees,pnl,return_pct,holding_hours,fills" {
		t.Fatalf("trades.csv = %q", rows)
	}
	if got := strings.Join(rows[1], ","); got != "BTC/USDT,2021-01-01T00:00:00Z,2021-01-01T01:00:00Z,closed,1,100,110,100.10000000,109.89000000,0.21000000,9.79000000,9.7802,1.00,2" {
		t.Errorf("first trade row = %s", got)
	}
	// Open, nothing sold: no exit price, nothing realised, no return (not
	// a loss of everything it cost).
	if got := strings.Join(rows[3], ","); got != "ETH/USDT,2021-01-01T04:00:00Z,,open,1,10,,10.01000000,0.00000000,0.01000000,0.00000000,,,1" {
		t.Errorf("open trade row = %s; want status open, no close, exit, return or holding time, pnl 0", got)
	}
}

func TestEquityCSV(t *testing.T) {
	curve := []Point{{Time: t0, Equity: 100, Invested: 0}, {Time: t0.Add(time.Hour), Equity: 110, Invested: 50}, {Time: t0.Add(2 * time.Hour), Equity: 99, Invested: 50}}
	bh := []Point{{Time: t0, Equity: 100}, {Time: t0.Add(time.Hour), Equity: 90}, {Time: t0.Add(2 * time.Hour), Equity: 95}}
	var b bytes.Buffer
	if err := WriteEquityCSV(&b, Result{Curve: curve, BuyHold: bh}); err != nil {
		t.Fatal(err)
	}
	want := "time,advisor_equity,advisor_invested,advisor_drawdown,buy_and_hold_equity,buy_and_hold_drawdown\n" +
		"2021-01-01T00:00:00Z,100.00,0.00,0.000000,100.00,0.000000\n" +
		"2021-01-01T01:00:00Z,110.00,50.00,0.000000,90.00,0.100000\n" +
		"2021-01-01T02:00:00Z,99.00,50.00,0.100000,95.00,0.050000\n"
	if b.String() != want {
		t.Errorf("equity.csv =\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := WriteEquityCSV(&b, Result{Curve: curve, BuyHold: bh, Baseline: curve}); err != nil || !strings.HasPrefix(b.String(), "time,advisor_equity,advisor_invested,advisor_drawdown,buy_and_hold_equity,buy_and_hold_drawdown,baseline_equity,baseline_drawdown\n") {
		t.Errorf("equity.csv with a baseline: %v\n%s", err, b.String())
	}
	if err := WriteEquityCSV(&b, Result{Curve: curve, BuyHold: bh[:2]}); err == nil {
		t.Errorf("WriteEquityCSV of curves of different lengths = nil error")
	}
	shifted := append([]Point(nil), bh...)
	shifted[1].Time = shifted[1].Time.Add(time.Minute)
	if err := WriteEquityCSV(&b, Result{Curve: curve, BuyHold: shifted}); err == nil {
		t.Errorf("WriteEquityCSV of curves with different marks = nil error")
	}
}

// TestRunInterrupted: a cancelled context stops a backtest with an
// InterruptedError that says how far it got.
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cycles := 0
	var fifth time.Time
	_, err := Run(ctx, Config{
		From: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2022, 2, 1, 0, 0, 0, 0, time.UTC),
		Symbols: []string{"BTC/USDT"}, Timeframe: "1h",
		OnCycle: func(r agent.CycleResult) {
			if cycles++; cycles == 5 {
				fifth = r.At
				cancel()
			}
		},
	})
	var ie *InterruptedError
	if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v; want an InterruptedError wrapping context.Canceled", err)
	}
	// The loop stops before the candle after the fifth decision: the
	// fifth decision's candle is the last one reached.
	if ie.Stage != "backtest" || fifth.IsZero() || !ie.At.Equal(fifth) {
		t.Errorf("interrupted at %s during %q; want %s (the fifth decision) during backtest", ie.At, ie.Stage, fifth)
	}
}
