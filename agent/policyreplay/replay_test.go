package policyreplay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

var t0 = time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC)

func dp(s string) *decimal.Decimal {
	d := decimal.RequireFromString(s)
	return &d
}

// btcBuy is a limit buy of pct% of equity at the contract example's price.
func btcBuy(pct string) schemas.Recommendation {
	return schemas.Recommendation{
		Symbol: "BTC/USDT", Action: schemas.ActionBuy, Confidence: decimal.RequireFromString("0.62"),
		SizePct: decimal.RequireFromString(pct), OrderType: schemas.OrderLimit,
		LimitPrice: dp("42010.5"), StopLoss: dp("41200"), TakeProfit: dp("43900"), Reason: "breakout",
	}
}

func btcMarketBuy(pct string) schemas.Recommendation {
	r := btcBuy(pct)
	r.OrderType, r.LimitPrice = schemas.OrderMarket, nil
	return r
}

func ethSell(pct string) schemas.Recommendation {
	return schemas.Recommendation{
		Symbol: "ETH/USDT", Action: schemas.ActionSell, Confidence: decimal.RequireFromString("0.6"),
		SizePct: decimal.RequireFromString(pct), OrderType: schemas.OrderLimit, LimitPrice: dp("2285.2"), Reason: "trim",
	}
}

func ethHold() schemas.Recommendation {
	return schemas.Recommendation{Symbol: "ETH/USDT", Action: schemas.ActionHold, Confidence: decimal.RequireFromString("0.5"), OrderType: schemas.OrderLimit, Reason: "no edge"}
}

// history is what the test store records: one model response per run,
// an hour apart. Under the default policy (max_position_pct 2):
//
//	run-1  BTC buy 1.5%                         approved
//	run-2  BTC buy 0.5%                         approved
//	run-3  ETH sell 5%                          approved
//	run-4  BTC market buy 1.5%                  rejected [limit_only]
//	run-5  BTC buy 1%, BTC buy 0.9%, ETH hold   approved, rejected [one_per_symbol], no_action
//	run-6  BTC buy 3%                           rejected [max_position]
func history() [][]schemas.Recommendation {
	return [][]schemas.Recommendation{
		{btcBuy("1.5")},
		{btcBuy("0.5")},
		{ethSell("5")},
		{btcMarketBuy("1.5")},
		{btcBuy("1"), btcBuy("0.9"), ethHold()},
		{btcBuy("3")},
	}
}

func baseState(t testing.TB) schemas.State {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "state.example.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := schemas.ParseState(raw)
	if err != nil {
		t.Fatalf("ParseState: %v", err)
	}
	return st
}

// editedPolicy is the default policy with one textual edit.
func editedPolicy(t testing.TB, old, new string) *policy.Policy {
	t.Helper()
	src := string(policy.DefaultSource())
	if !strings.Contains(src, old) {
		t.Fatalf("default policy has no %q", old)
	}
	p, err := policy.Load("edited.yaml", []byte(strings.Replace(src, old, new, 1)))
	if err != nil {
		t.Fatalf("Load(edited): %v", err)
	}
	return p
}

func defaultPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// record writes the history into a new audit database, judged by v as the
// agent does (RecordResponse, then RecordVerdicts with the state), and
// returns the store opened read-only, as the CLI opens it.
func record(t *testing.T, v *policy.Validator) *audit.Store {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "warden.db")
	s, err := audit.Open(ctx, path, audit.Options{Clock: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	st := baseState(t)
	for i, recs := range history() {
		runID := "run-" + string(rune('1'+i))
		st.Now = t0.Add(time.Duration(i) * time.Hour)
		resp := schemas.Response{Rationale: "test", Recommendations: recs}
		raw, _ := json.Marshal(resp)
		if err := s.BeginRun(ctx, audit.Run{ID: runID, StartedAt: st.Now, Mode: "paper", Advisor: "test", PolicyHash: v.Policy().Hash()}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordResponse(ctx, runID, raw, &resp, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordVerdicts(ctx, runID, v.Policy().Hash(), st, v.Validate(resp, st)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := audit.Open(ctx, path, audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("Open(read-only) = %v", err)
	}
	t.Cleanup(func() { ro.Close() })
	return ro
}

// summary is a change in short, for exact comparison.
type summary struct {
	ID, Kind, Old, New string
	Plus, Minus        string
}

func summarize(cs []Change) []summary {
	out := []summary{}
	for _, c := range cs {
		var plus, minus []string
		for _, f := range c.NewlyFailing {
			plus = append(plus, f.key())
		}
		for _, f := range c.NoLongerFailing {
			minus = append(minus, f.key())
		}
		out = append(out, summary{c.DecisionID, c.Kind, string(c.Old.Decision), string(c.New.Decision), strings.Join(plus, ","), strings.Join(minus, ",")})
	}
	return out
}

func TestReplay(t *testing.T) {
	ctx := context.Background()
	def := defaultPolicy(t)
	tight := editedPolicy(t, "max_position_pct: 2 ", "max_position_pct: 1 ")
	noETH := editedPolicy(t, "allowed_symbols: [BTC/USDT, ETH/USDT]", "allowed_symbols: [BTC/USDT]")

	tests := []struct {
		name     string
		recorded *policy.Policy
		replay   *policy.Policy
		since    time.Time
		want     []summary
		totals   Totals
	}{
		{
			name: "identical policy changes nothing", recorded: def, replay: def,
			want:   []summary{},
			totals: Totals{Decisions: 8, Unchanged: 8},
		},
		{
			// run-5:1 (a second BTC buy, rejected by one_per_symbol) alone
			// (0.9%) fits under 1%; it fails max_position (1.9%) only because
			// the approved run-5:0 before it is counted: sequencing reproduced.
			// run-6:0 fails max_position either way (its message changes):
			// unchanged.
			name: "max position 2% to 1%", recorded: def, replay: tight,
			want: []summary{
				{"run-1:0", ApprovedToRejected, "approved", "rejected", "max_position", ""},
				{"run-4:0", RulesChanged, "rejected", "rejected", "max_position", ""},
				{"run-5:1", RulesChanged, "rejected", "rejected", "max_position", ""},
			},
			totals: Totals{Decisions: 8, Unchanged: 5, ApprovedToRejected: 1, RulesChanged: 2},
		},
		{
			name: "max position 1% back to 2%", recorded: tight, replay: def,
			want: []summary{
				{"run-1:0", RejectedToApproved, "rejected", "approved", "", "max_position"},
				{"run-4:0", RulesChanged, "rejected", "rejected", "", "max_position"},
				{"run-5:1", RulesChanged, "rejected", "rejected", "", "max_position"},
			},
			totals: Totals{Decisions: 8, Unchanged: 5, RejectedToApproved: 1, RulesChanged: 2},
		},
		{
			// The ETH hold of run-5 stays no_action.
			name: "allowlist without ETH", recorded: def, replay: noETH,
			want: []summary{
				{"run-3:0", ApprovedToRejected, "approved", "rejected", "symbol_allowlist", ""},
			},
			totals: Totals{Decisions: 8, Unchanged: 7, ApprovedToRejected: 1},
		},
		{
			name: "since", recorded: def, replay: tight, since: t0.Add(3 * time.Hour),
			want: []summary{
				{"run-4:0", RulesChanged, "rejected", "rejected", "max_position", ""},
				{"run-5:1", RulesChanged, "rejected", "rejected", "max_position", ""},
			},
			totals: Totals{Decisions: 5, Unchanged: 3, RulesChanged: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := record(t, policy.NewValidator(tt.recorded, policy.Limits{}))
			rep, err := Replay(ctx, src, policy.NewValidator(tt.replay, policy.Limits{}), tt.since)
			if err != nil {
				t.Fatalf("Replay = %v", err)
			}
			if got := summarize(rep.Changes); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Replay changes = %+v; want %+v", got, tt.want)
			}
			if rep.Totals != tt.totals {
				t.Errorf("Replay totals = %+v; want %+v", rep.Totals, tt.totals)
			}
			if want := []string{tt.recorded.Hash()}; !reflect.DeepEqual(rep.RecordedPolicies, want) {
				t.Errorf("RecordedPolicies = %v; want %v", rep.RecordedPolicies, want)
			}
			if rep.Policy.Hash != tt.replay.Hash() {
				t.Errorf("Policy.Hash = %s; want %s", rep.Policy.Hash, tt.replay.Hash())
			}
		})
	}
}

// The details of one flipped decision: time, symbol, action, both
// outcomes and the message of the rule that flipped.
func TestReplayChangeDetail(t *testing.T) {
	ctx := context.Background()
	def := defaultPolicy(t)
	tight := editedPolicy(t, "max_position_pct: 2 ", "max_position_pct: 1 ")
	rep, err := Replay(ctx, record(t, policy.NewValidator(def, policy.Limits{})), policy.NewValidator(tight, policy.Limits{}), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Changes[0]
	if c.DecisionID != "run-1:0" || c.RunID != "run-1" || !c.At.Equal(t0) || c.Symbol != "BTC/USDT" || c.Action != schemas.ActionBuy {
		t.Errorf("change = %+v; want run-1:0 at %v, BTC/USDT buy", c, t0)
	}
	if c.Old.PolicyHash != def.Hash() || c.New.PolicyHash != tight.Hash() || len(c.Old.Failed) != 0 || !reflect.DeepEqual(c.New.Failed, []string{"max_position"}) {
		t.Errorf("outcomes = %+v → %+v; want approved [] under default → rejected [max_position]", c.Old, c.New)
	}
	if f := c.NewlyFailing[0]; f.Source != schemas.SourcePolicy || !strings.Contains(f.Message, "1.50% of equity, over 1%") {
		t.Errorf("newly failing = %+v; want the max_position message", f)
	}
	// run-4: the rule that still fails is not reported as flipped.
	if c := rep.Changes[1]; !reflect.DeepEqual(c.Old.Failed, []string{"limit_only"}) || !reflect.DeepEqual(c.New.Failed, []string{"limit_only", "max_position"}) {
		t.Errorf("run-4 outcomes = %+v → %+v", c.Old, c.New)
	}
}

// A hard limit given to the replay validator is applied like any rule.
func TestReplayLimits(t *testing.T) {
	ctx := context.Background()
	def := defaultPolicy(t)
	src := record(t, policy.NewValidator(def, policy.Limits{}))
	rep, err := Replay(ctx, src, policy.NewValidator(def, policy.Limits{MaxOrderNotional: decimal.NewFromInt(120)}), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// Orders over 120 USDT: run-1 (150), run-3 (500), run-4 (150, already
	// rejected), run-6 (300, already rejected). run-5's are 100 and 90.
	want := []summary{
		{"run-1:0", ApprovedToRejected, "approved", "rejected", policy.RuleLimitMaxOrderNotional, ""},
		{"run-3:0", ApprovedToRejected, "approved", "rejected", policy.RuleLimitMaxOrderNotional, ""},
		{"run-4:0", RulesChanged, "rejected", "rejected", policy.RuleLimitMaxOrderNotional, ""},
		{"run-6:0", RulesChanged, "rejected", "rejected", policy.RuleLimitMaxOrderNotional, ""},
	}
	if got := summarize(rep.Changes); !reflect.DeepEqual(got, want) {
		t.Errorf("Replay(max notional 120) = %+v; want %+v", got, want)
	}
}

// fakeSource returns fixed decisions, or an error.
type fakeSource struct {
	decs  []audit.RecordedDecision
	err   error
	since time.Time
}

var _ Source = (*fakeSource)(nil)

func (f *fakeSource) RecordedDecisions(_ context.Context, since time.Time) ([]audit.RecordedDecision, error) {
	f.since = since
	return f.decs, f.err
}

func TestReplayUnreplayable(t *testing.T) {
	ctx := context.Background()
	def := defaultPolicy(t)
	v := policy.NewValidator(def, policy.Limits{})
	st := baseState(t)
	resp := schemas.Response{Recommendations: []schemas.Recommendation{btcBuy("1"), btcBuy("0.9")}}
	vs := v.Validate(resp, st)
	mk := func(run string, at time.Time, i int, rec *schemas.Recommendation, st schemas.State) audit.RecordedDecision {
		return audit.RecordedDecision{DecisionID: audit.DecisionID(run, i), RunID: run, At: at, PolicyHash: def.Hash(), Recommendation: rec, State: st, Verdict: vs[i]}
	}
	r0, r1 := resp.Recommendations[0], resp.Recommendations[1]
	src := &fakeSource{decs: []audit.RecordedDecision{
		// Listed out of order: replay orders by time, run, index.
		mk("run-c", t0.Add(2*time.Hour), 0, &r0, st),
		mk("run-c", t0.Add(2*time.Hour), 1, &r1, st),
		mk("run-a", t0, 1, &r1, st), // index 0 missing: sequence unknown
		mk("run-b", t0.Add(time.Hour), 0, nil, st),
		mk("run-b", t0.Add(time.Hour), 1, &r1, st),
		mk("run-d", t0.Add(3*time.Hour), 0, &r0, schemas.State{}), // no state
	}}
	since := t0.Add(-time.Minute)
	rep, err := Replay(ctx, src, v, since)
	if err != nil {
		t.Fatal(err)
	}
	if !src.since.Equal(since) {
		t.Errorf("source asked since %v; want %v", src.since, since)
	}
	want := Totals{Decisions: 6, Unchanged: 2, Skipped: 4}
	if rep.Totals != want {
		t.Errorf("totals = %+v; want %+v", rep.Totals, want)
	}
	var ids []string
	for _, s := range rep.Skipped {
		ids = append(ids, s.DecisionID)
	}
	if want := []string{"run-a:1", "run-b:0", "run-b:1", "run-d:0"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("skipped = %v; want %v", ids, want)
	}
	if !strings.Contains(rep.Skipped[0].Reason, "cannot be reproduced") || !strings.Contains(rep.Skipped[1].Reason, "never parsed") || !strings.Contains(rep.Skipped[3].Reason, "no state") {
		t.Errorf("skip reasons = %+v", rep.Skipped)
	}

	boom := errors.New("disk on fire")
	if _, err := Replay(ctx, &fakeSource{err: boom}, v, time.Time{}); !errors.Is(err, boom) {
		t.Errorf("Replay(failing source) = %v; want %v", err, boom)
	}
	if _, err := Replay(ctx, &fakeSource{}, nil, time.Time{}); err == nil {
		t.Errorf("Replay(nil validator) = nil error; want refused")
	}
}

func TestReportOutput(t *testing.T) {
	ctx := context.Background()
	def := defaultPolicy(t)
	tight := editedPolicy(t, "max_position_pct: 2 ", "max_position_pct: 1 ")
	src := record(t, policy.NewValidator(def, policy.Limits{}))
	rep, err := Replay(ctx, src, policy.NewValidator(tight, policy.Limits{}), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"under edited.yaml",
		"8 decisions: 5 unchanged, 1 approved→rejected, 0 rejected→approved, 2 rules changed\n",
		"DECISION",
		"run-1:0 buy BTC/USDT: approved → rejected\n",
		"run-1:0   2024-01-10T12:00:00Z  BTC/USDT  buy     approved                   rejected [max_position]\n",
		"run-4:0 buy BTC/USDT: still rejected, failed rules changed\n  + max_position: position in BTC/USDT after the buy would be 1.50% of equity, over 1%\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("WriteText missing %q in:\n%s", want, text.String())
		}
	}
	// Same input, same bytes.
	rep2, _ := Replay(ctx, src, policy.NewValidator(tight, policy.Limits{}), time.Time{})
	var text2 bytes.Buffer
	rep2.WriteText(&text2)
	if text.String() != text2.String() {
		t.Errorf("WriteText is not deterministic")
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("WriteJSON output does not decode: %v", err)
	}
	if back.Totals != rep.Totals || len(back.Changes) != 3 || back.Changes[2].NewlyFailing[0].Rule != "max_position" {
		t.Errorf("JSON round trip = %+v", back)
	}

	none, _ := Replay(ctx, src, policy.NewValidator(def, policy.Limits{}), time.Time{})
	text.Reset()
	none.WriteText(&text)
	if !strings.Contains(text.String(), "no decision would change") {
		t.Errorf("WriteText(no changes) =\n%s", text.String())
	}
}
