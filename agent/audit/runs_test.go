package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func ptr(d decimal.Decimal) *decimal.Decimal { return &d }

func testState(now time.Time) schemas.State {
	return schemas.State{
		Now: now, Mode: "paper",
		Account: schemas.Account{Quote: "USDT", Equity: dec("10000"), Cash: dec("9200"), PeakEquity: dec("10400"), DayStartEquity: dec("10100"),
			Positions: map[string]schemas.Position{"ETH/USDT": {Qty: dec("0.35"), AvgPrice: dec("2300")}}},
		Markets: map[string]schemas.Market{"BTC/USDT": {Bid: dec("42000"), Ask: dec("42010"), Last: dec("42005"), AmountStep: dec("0.00001"), PriceStep: dec("0.01"), MinNotional: dec("5")}},
	}
}

func testResponse() *schemas.Response {
	return &schemas.Response{
		Rationale: "BTC trends up above its 50-period EMA; ETH is stretched.",
		Recommendations: []schemas.Recommendation{
			{Symbol: "BTC/USDT", Action: schemas.ActionBuy, Confidence: dec("0.7"), SizePct: dec("2"), OrderType: schemas.OrderLimit, LimitPrice: ptr(dec("42000")), StopLoss: ptr(dec("41000")), Reason: "trend up"},
			{Symbol: "ETH/USDT", Action: schemas.ActionSell, Confidence: dec("0.6"), SizePct: dec("50"), OrderType: schemas.OrderMarket, Reason: "overbought"},
		},
	}
}

func testVerdicts() []schemas.Verdict {
	return []schemas.Verdict{
		{Index: 0, Symbol: "BTC/USDT", Action: schemas.ActionBuy, Decision: schemas.DecisionApproved,
			Order:    &schemas.Order{Symbol: "BTC/USDT", Side: schemas.SideBuy, Type: schemas.OrderLimit, Quantity: dec("0.00476"), Price: dec("42000"), Notional: dec("199.92"), StopLoss: ptr(dec("41000"))},
			Warnings: []schemas.Violation{{Rule: "low_confidence", Message: "confidence below 0.75", Source: schemas.SourcePolicy}},
			Rules:    []schemas.RuleResult{{Name: "max_size", Mode: "enforce", Passed: true}, {Name: "low_confidence", Mode: "warn", Passed: false, Message: "confidence below 0.75"}}},
		{Index: 1, Symbol: "ETH/USDT", Action: schemas.ActionSell, Decision: schemas.DecisionRejected,
			Violations: []schemas.Violation{{Rule: "max_size", Message: "size 50% above 10%", Source: schemas.SourcePolicy}},
			Rules:      []schemas.RuleResult{{Name: "max_size", Mode: "enforce", Passed: false, Message: "size 50% above 10%"}}},
	}
}

// recordRun records one whole run: start, two model calls (a 429 and a
// success), the response, two verdicts, an order with a fill, an event, a
// notification with a failed and a delivered attempt, and the end.
func recordRun(t testing.TB, s *Store, clk *fakeClock, runID string) []string {
	t.Helper()
	ctx := context.Background()
	now := clk.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.BeginRun(ctx, Run{ID: runID, Mode: "paper", Advisor: "openai", Model: "gpt-4o-mini", PolicyHash: "pol-1",
		PromptHashes: map[string]string{"system": "h-sys", "user": "h-user"}, Config: json.RawMessage(`{"symbols":["BTC/USDT","ETH/USDT"]}`)}))
	req := `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You advise."},{"role":"user","content":"BTC at 42005"}]}`
	must(s.RecordLLMCall(ctx, LLMCall{RunID: runID, Attempt: 1, Advisor: "openai", Model: "gpt-4o-mini", BaseURL: "http://127.0.0.1:1/v1", PromptHash: "h-user",
		Request: req, Response: `{"error":{"message":"Rate limit reached"}}`, HTTPStatus: 429, Status: "http_error", Latency: 30 * time.Millisecond, Error: "429 Too Many Requests"}))
	raw, _ := json.Marshal(testResponse())
	must(s.RecordLLMCall(ctx, LLMCall{RunID: runID, Attempt: 2, Advisor: "openai", Model: "gpt-4o-mini", BaseURL: "http://127.0.0.1:1/v1", PromptHash: "h-user",
		Request: req, Response: `{"choices":[{"message":{"content":` + string(mustJSON(t, string(raw))) + `}}]}`, HTTPStatus: 200, Status: "ok",
		Latency: 800 * time.Millisecond, PromptTokens: 1200, CompletionTokens: 300, TotalTokens: 1500, FinishReason: "stop"}))
	must(s.RecordResponse(ctx, runID, raw, testResponse(), nil))
	ids, err := s.RecordVerdicts(ctx, runID, "pol-1", testState(now), testVerdicts())
	must(err)
	coid := "wd-" + strings.ReplaceAll(ids[0], ":", "-")
	ev := schemas.OrderEvent{ClientOrderID: coid, DecisionID: ids[0], Role: "entry", State: schemas.OrderIntent, Symbol: "BTC/USDT", Side: schemas.SideBuy, Type: "limit", Quantity: dec("0.00476"), Price: dec("42000")}
	must(s.AppendOrderEvent(ctx, ev))
	ev.State = schemas.OrderAcknowledged
	must(s.AppendOrderEvent(ctx, ev))
	_, err = s.RecordFill(ctx, executor.Trade{ID: runID + "-t1", ClientOrderID: coid, Symbol: "BTC/USDT", Side: schemas.SideBuy, Price: dec("42000"), Quantity: dec("0.00476"), Fee: dec("0.2"), FeeCurrency: "USDT", Time: now})
	must(err)
	ev.State, ev.FilledQty, ev.AvgPrice = schemas.OrderFilled, dec("0.00476"), dec("42000")
	must(s.AppendOrderEvent(ctx, ev))
	must(s.RecordEvent(ctx, Event{Kind: EventBreaker, RunID: runID, State: "tripped", Detail: json.RawMessage(`{"breaker":"volatility"}`)}))
	id, err := s.Enqueue(ctx, schemas.Notification{Channel: "slack", Kind: "approved", Title: "Approved BTC/USDT buy", Text: "trend up", DedupKey: "approved:" + ids[0], RunID: runID})
	must(err)
	must(s.RecordDelivery(ctx, schemas.DeliveryAttempt{NotificationID: id, Error: "503", NextAttempt: now.Add(time.Second)}))
	must(s.RecordDelivery(ctx, schemas.DeliveryAttempt{NotificationID: id, Delivered: true}))
	must(s.EndRun(ctx, runID, "ok", map[string]int{"approved": 1, "rejected": 1}))
	return ids
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRecordRunAndShow(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, Options{Clock: clk.Now})
	ids := recordRun(t, s, clk, "run-1")
	if len(ids) != 2 || ids[0] != "run-1:0" || ids[1] != "run-1:1" {
		t.Fatalf("RecordVerdicts ids = %v; want [run-1:0 run-1:1]", ids)
	}

	// Decision ids are recorded once.
	if _, err := s.RecordVerdicts(ctx, "run-1", "pol-1", testState(clk.Now()), testVerdicts()[:1]); err == nil {
		t.Errorf("RecordVerdicts of an already recorded decision = nil error; want one")
	}

	st, err := s.Show(ctx, "run-1:0")
	if err != nil {
		t.Fatalf("Show(run-1:0) = %v", err)
	}
	if st.Kind != "decision" || st.Run == nil || st.Run.Model != "gpt-4o-mini" || st.End == nil || st.End.Status != "ok" {
		t.Errorf("Show(run-1:0) kind/run/end = %q %+v %+v", st.Kind, st.Run, st.End)
	}
	if len(st.LLMCalls) != 2 || st.LLMCalls[0].HTTPStatus != 429 || !strings.Contains(st.LLMCalls[1].Request, "BTC at 42005") || st.LLMCalls[1].Latency != 800*time.Millisecond {
		t.Errorf("Show(run-1:0) LLM calls = %+v; want the 429 and the success with the prompt", st.LLMCalls)
	}
	if len(st.Responses) != 1 || !st.Responses[0].Valid || !strings.Contains(st.Responses[0].Raw, "trend up") || st.Responses[0].Parsed.Rationale == "" {
		t.Errorf("Show(run-1:0) responses = %+v", st.Responses)
	}
	if len(st.Decisions) != 1 {
		t.Fatalf("Show(run-1:0) decisions = %d; want 1", len(st.Decisions))
	}
	d := st.Decisions[0]
	if d.DecisionID != "run-1:0" || d.Decision != schemas.DecisionApproved || d.PolicyHash != "pol-1" || d.Advisor != "openai" || len(d.Verdict.Rules) != 2 {
		t.Errorf("Show(run-1:0) decision = %+v", d.DecisionRow)
	}
	if !bytes.Contains(d.Recommendation, []byte(`"trend up"`)) || !bytes.Contains(d.State, []byte(`"peak_equity":"10400"`)) {
		t.Errorf("Show(run-1:0) recommendation = %s, state = %s", d.Recommendation, d.State)
	}
	if len(d.Orders) != 1 || len(d.Orders[0].Events) != 3 || len(d.Orders[0].Fills) != 1 || d.Orders[0].Events[2].State != schemas.OrderFilled {
		t.Errorf("Show(run-1:0) orders = %+v; want 1 order with 3 events and 1 fill", d.Orders)
	}
	if len(st.Notifications) != 1 || len(st.Notifications[0].Attempts) != 2 || !st.Notifications[0].Attempts[1].Delivered {
		t.Errorf("Show(run-1:0) notifications = %+v", st.Notifications)
	}
	if len(st.Events) != 1 || st.Events[0].Kind != EventBreaker {
		t.Errorf("Show(run-1:0) events = %+v", st.Events)
	}

	st, err = s.Show(ctx, "run-1")
	if err != nil || st.Kind != "run" || len(st.Decisions) != 2 || len(st.Decisions[1].Orders) != 0 {
		t.Errorf("Show(run-1) = %s kind, %d decisions, %v", st.Kind, len(st.Decisions), err)
	}
	if _, err := s.Show(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Show(nope) = %v; want ErrNotFound", err)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("Verify() = %+v, %v; want OK", rep, err)
	}
}

func TestListFilters(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, Options{Clock: clk.Now})
	recordRun(t, s, clk, "run-1")
	clk.Advance(time.Hour)
	recordRun(t, s, clk, "run-2")
	clk.Advance(time.Hour)
	// A baseline run without a response: its verdicts carry no recommendation.
	if err := s.BeginRun(ctx, Run{ID: "run-3", Mode: "paper", Advisor: "baseline", PolicyHash: "pol-2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordVerdicts(ctx, "run-3", "pol-2", testState(clk.Now()), testVerdicts()[1:]); err != nil {
		t.Fatal(err)
	}
	t0 := newClock().Now()

	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all newest first", Filter{}, []string{"run-3:1", "run-2:1", "run-2:0", "run-1:1", "run-1:0"}},
		{"limit", Filter{Limit: 2}, []string{"run-3:1", "run-2:1"}},
		{"from", Filter{From: t0.Add(30 * time.Minute)}, []string{"run-3:1", "run-2:1", "run-2:0"}},
		{"to", Filter{To: t0.Add(30 * time.Minute)}, []string{"run-1:1", "run-1:0"}},
		{"symbol", Filter{Symbol: "BTC/USDT"}, []string{"run-2:0", "run-1:0"}},
		{"decision", Filter{Decision: schemas.DecisionRejected}, []string{"run-3:1", "run-2:1", "run-1:1"}},
		{"rule violated", Filter{Rule: "max_size"}, []string{"run-3:1", "run-2:1", "run-1:1"}},
		{"rule warned", Filter{Rule: "low_confidence"}, []string{"run-2:0", "run-1:0"}},
		{"rule unknown", Filter{Rule: "nope"}, nil},
		{"advisor", Filter{Advisor: "baseline"}, []string{"run-3:1"}},
		{"model", Filter{Model: "gpt-4o-mini", Decision: schemas.DecisionApproved}, []string{"run-2:0", "run-1:0"}},
		{"run", Filter{RunID: "run-2"}, []string{"run-2:1", "run-2:0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := s.List(ctx, tt.f)
			if err != nil {
				t.Fatalf("List(%+v) = %v", tt.f, err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.DecisionID)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("List(%+v) = %v; want %v", tt.f, got, tt.want)
			}
		})
	}

	rows, err := s.List(ctx, Filter{RunID: "run-1", Symbol: "BTC/USDT"})
	if err != nil || len(rows) != 1 {
		t.Fatalf("List(run-1 BTC) = %v, %v", rows, err)
	}
	if r := rows[0].FailedRules(); len(r) != 1 || r[0] != "low_confidence (warn)" {
		t.Errorf("FailedRules() = %v; want [low_confidence (warn)]", r)
	}

	decs, err := s.RecordedDecisions(ctx, t0.Add(30*time.Minute))
	if err != nil || len(decs) != 3 {
		t.Fatalf("RecordedDecisions(t0+30m) = %d, %v; want 3", len(decs), err)
	}
	if d := decs[0]; d.DecisionID != "run-2:0" || d.Recommendation == nil || d.Recommendation.Reason != "trend up" || !d.State.Account.PeakEquity.Equal(dec("10400")) || d.Verdict.Decision != schemas.DecisionApproved || d.PolicyHash != "pol-1" {
		t.Errorf("RecordedDecisions[0] = %+v", d)
	}
	if d := decs[2]; d.DecisionID != "run-3:1" || d.Recommendation != nil || d.State.Markets["BTC/USDT"].Ask.String() != "42010" {
		t.Errorf("RecordedDecisions[2] = %+v; want no recommendation and the state", d)
	}
}

func TestExport(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, Options{Clock: clk.Now})
	recordRun(t, s, clk, "run-1")

	var buf bytes.Buffer
	if err := s.Export(ctx, &buf, FormatJSONL, Filter{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("Export(jsonl) = %d lines; want 2:\n%s", len(lines), buf.String())
	}
	var d DecisionRow
	if err := json.Unmarshal([]byte(lines[0]), &d); err != nil || d.DecisionID != "run-1:0" || d.Verdict.Order == nil {
		t.Errorf("Export(jsonl) first line = %+v, %v; want run-1:0 with its order", d, err)
	}

	buf.Reset()
	if err := s.Export(ctx, &buf, FormatCSV, Filter{Decision: schemas.DecisionRejected}); err != nil {
		t.Fatal(err)
	}
	want := "seq,decision_id,run_id,at,symbol,action,decision,advisor,model,policy_hash,violations,warnings,side,quantity,price,notional,confidence,size_pct,reason\n"
	if !strings.HasPrefix(buf.String(), want) || !strings.Contains(buf.String(), ",run-1:1,run-1,2024-01-10T12:00:00Z,ETH/USDT,sell,rejected,openai,gpt-4o-mini,pol-1,max_size,,,,,,0.6,50,overbought\n") {
		t.Errorf("Export(csv) =\n%s", buf.String())
	}
	buf.Reset()
	if err := s.ExportRecords(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	recs := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var first, last RawRecord
	if err := json.Unmarshal([]byte(recs[0]), &first); err != nil || first.Seq != 1 || first.Kind != KindRun || first.PrevHash != strings.Repeat("0", 64) {
		t.Errorf("ExportRecords first = %+v, %v", first, err)
	}
	rep, _ := s.Verify(ctx)
	if err := json.Unmarshal([]byte(recs[len(recs)-1]), &last); err != nil || last.Seq != rep.HeadSeq || last.Hash != rep.HeadHash {
		t.Errorf("ExportRecords last = seq %d hash %s; want the head %d %s", last.Seq, last.Hash, rep.HeadSeq, rep.HeadHash)
	}
	if err := s.Export(ctx, &buf, "xml", Filter{}); err == nil {
		t.Errorf("Export(xml) = nil; want an error")
	}
}

func TestTokensUsedSince(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, Options{Clock: clk.Now})
	recordRun(t, s, clk, "run-1")
	clk.Advance(2 * time.Hour)
	if err := s.RecordLLMCall(ctx, LLMCall{RunID: "run-2", Attempt: 1, PromptTokens: 100, CompletionTokens: 20}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		since time.Time
		want  int64
	}{
		{newClock().Now(), 1620},
		{clk.Now().Add(-time.Hour), 120},
		{clk.Now().Add(time.Second), 0},
	} {
		if got, err := s.TokensUsedSince(ctx, tt.since); got != tt.want || err != nil {
			t.Errorf("TokensUsedSince(%v) = %d, %v; want %d", tt.since, got, err, tt.want)
		}
	}
}

// TestTokensUsedSinceCountsWhenSent: a model call recorded on the offline
// replay's clock (years before the wall clock) counts towards the wall
// clock's day by when it was sent (SentAt), at the day's first nanosecond
// and not one before it; its decision time does not count.
func TestTokensUsedSinceCountsWhenSent(t *testing.T) {
	ctx := context.Background()
	replay := time.Date(2022, 6, 1, 10, 0, 0, 0, time.UTC)
	day := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	s, _ := openTest(t, Options{Clock: func() time.Time { return replay }})
	for i, sent := range []time.Time{day.Add(-time.Nanosecond), day, day.Add(9 * time.Hour)} {
		c := LLMCall{RunID: fmt.Sprintf("r-%d", i), Attempt: 1, At: replay.Add(time.Duration(i) * time.Hour), SentAt: sent, TotalTokens: int64(100 << i)}
		if err := s.RecordLLMCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		since time.Time
		want  int64
	}{
		{day, 200 + 400},
		{day.Add(-time.Nanosecond), 100 + 200 + 400},
		{day.Add(time.Nanosecond), 400},
		{replay, 700},
		{day.Add(24 * time.Hour), 0},
	} {
		if got, err := s.TokensUsedSince(ctx, tt.since); got != tt.want || err != nil {
			t.Errorf("TokensUsedSince(%s) = %d, %v; want %d", tt.since.Format(time.RFC3339Nano), got, err, tt.want)
		}
	}
	// The record keeps both times: the decision time as at, the wall
	// clock's in the body and the due column.
	var body string
	var due int64
	if err := s.db.QueryRowContext(ctx, `SELECT body, due FROM records WHERE kind = 'llm_call' AND run_id = 'r-2'`).Scan(&body, &due); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"at":"2022-06-01T12:00:00Z","sent_at":"2026-12-07T09:00:00Z"`) || due != day.Add(9*time.Hour).UnixNano() {
		t.Errorf("llm_call record: due %d, body %s; want sent_at 2026-12-07T09:00:00Z in both", due, body)
	}
}
