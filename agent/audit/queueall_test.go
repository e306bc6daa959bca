package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/warden-trading/warden/schemas"
)

// TestQueueAllRecordsTheSame: a batched Scratch store (a backtest's: order
// and breaker events queue too, and verdicts take their run's advisor,
// model and recommendation from the records it just wrote instead of
// querying them) writes exactly the records, byte for byte and hash for
// hash, that an unbatched store writes for the same calls — with
// redaction, text that JSON escapes, an invalid response between valid
// ones, and verdicts of a run other than the last one.
func TestQueueAllRecordsTheSame(t *testing.T) {
	ctx := context.Background()
	record := func(opts Options) string {
		clk := newClock()
		opts.Clock, opts.Secrets = clk.Now, []string{"sk-secret-value"}
		s, path := openTest(t, opts)
		recordRun(t, s, clk, "run-1")
		clk.Advance(3600e9)
		tricky := testResponse()
		tricky.Recommendations[0].Reason = "<b>&</b> \u2028 é 🙂 \"quoted\" \\ sk-secret-value\ttab"
		tricky.Recommendations[1].Confidence = dec("0.0000001")
		raw, _ := json.Marshal(tricky)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(s.BeginRun(ctx, Run{ID: "run-2", Mode: "backtest", Advisor: "baseline", Model: "m \"sk-secret-value\"", PolicyHash: "pol-1"}))
		must(s.RecordResponse(ctx, "run-2", raw, tricky, nil))
		must(s.RecordResponse(ctx, "run-2", []byte(`{"oops"`), nil, []schemas.Violation{{Rule: "schema", Message: "bad"}}))
		must(s.BeginRun(ctx, Run{ID: "run-3", Mode: "backtest", Advisor: "baseline", PolicyHash: "pol-1"}))
		// Verdicts of run-2 after run-3 began: the store asks the database.
		if _, err := s.RecordVerdicts(ctx, "run-2", "pol-1", testState(clk.Now()), testVerdicts()); err != nil {
			t.Fatal(err)
		}
		// Verdicts of a run with no valid response.
		if _, err := s.RecordVerdicts(ctx, "run-3", "pol-1", testState(clk.Now()), testVerdicts()[:1]); err != nil {
			t.Fatal(err)
		}
		must(s.BeginRun(ctx, Run{ID: "run-4", Mode: "backtest", Advisor: "baseline", PolicyHash: "pol-1"}))
		must(s.RecordResponse(ctx, "run-4", raw, tricky, nil))
		if _, err := s.RecordVerdicts(ctx, "run-4", "pol-1", testState(clk.Now()), testVerdicts()); err != nil {
			t.Fatal(err)
		}
		// A run nothing in is redacted: its verdicts copy the
		// recommendations encoded when the response was recorded.
		clean := testResponse()
		clean.Recommendations[0].Reason = "<b>&</b> \u2028 é 🙂 \"quoted\" \\ clean\ttab"
		cleanRaw, _ := json.Marshal(clean)
		must(s.BeginRun(ctx, Run{ID: "run-5", Mode: "backtest", Advisor: "baseline", Model: "m-5", PolicyHash: "pol-1"}))
		must(s.RecordResponse(ctx, "run-5", cleanRaw, clean, nil))
		if _, err := s.RecordVerdicts(ctx, "run-5", "pol-1", testState(clk.Now()), testVerdicts()); err != nil {
			t.Fatal(err)
		}
		// A model call and a run end with the secret in them, and equity
		// (the writer encodes these in a backtest's store).
		must(s.RecordLLMCall(ctx, LLMCall{RunID: "run-5", Attempt: 1, Advisor: "openai", Model: "m-5", PromptHash: "h",
			Request:  `{"system":"` + strings.Repeat("You advise. ", 40) + `","user":"key sk-secret-value, BTC at 42005 <&>"}`,
			Response: `{"choices":[{"message":{"content":"sk-secret-value \u2028"}}]}`, HTTPStatus: 200, Status: "ok", TotalTokens: 9}))
		must(s.RecordEquity(ctx, clk.Now(), dec("10000.5")))
		clk.Advance(3600e9)
		must(s.RecordEquity(ctx, clk.Now(), dec("9999.25")))
		must(s.EndRun(ctx, "run-5", "ok", map[string]string{"reason": "sk-secret-value"}))
		must(s.Flush(ctx))
		var out bytes.Buffer
		rows, err := rawDB(t, path).Query(`SELECT seq, kind, run_id, decision_id, state, body, hex(hash) FROM records ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var seq int64
			var kind, run, dec, state, body, hash string
			if err := rows.Scan(&seq, &kind, &run, &dec, &state, &body, &hash); err != nil {
				t.Fatal(err)
			}
			out.WriteString(kind + " " + run + " " + dec + " " + state + " " + hash + "\n" + body + "\n")
		}
		return out.String()
	}
	plain := record(Options{Scratch: true})
	queued := record(Options{Scratch: true, BatchSize: 256})
	if plain != queued {
		t.Fatalf("the batched scratch store wrote other records:\n--- unbatched\n%s\n--- batched\n%s", plain, queued)
	}
	// Batches of 3: most are committed in the background, between and
	// across the synchronous writes (fills, notifications, deliveries).
	if small := record(Options{Scratch: true, BatchSize: 3}); small != plain {
		t.Fatalf("the scratch store in batches of 3 wrote other records:\n--- unbatched\n%s\n--- batched\n%s", plain, small)
	}
	for _, want := range []string{`"recommendation":{"symbol":"BTC/USDT"`, `\u2028`, `[REDACTED]`, `"model":"m-5","recommendation":{"symbol":"BTC/USDT"`, `clean\ttab`, `"peak":"10000.5"`, "run_end run-5", "llm_call run-5"} {
		if !bytes.Contains([]byte(queued), []byte(want)) {
			t.Errorf("records lack %s", want)
		}
	}
	if strings.Contains(queued, "sk-secret-value") {
		t.Errorf("the batched store wrote the secret:\n%s", queued)
	}
}

// TestQueueAllBackgroundError: in a batched Scratch store a full batch is
// committed in the background; a write in it that fails (a decision
// recorded twice) loses only itself, its error comes back from the next
// call that writes, and the records before and after it are all on
// record, in order, with the chain whole.
func TestQueueAllBackgroundError(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, path := openTest(t, Options{Clock: clk.Now, Scratch: true, BatchSize: 4})
	st := testState(clk.Now())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.BeginRun(ctx, Run{ID: "bt-1", Advisor: "baseline"}))
	_, err := s.RecordVerdicts(ctx, "bt-1", "pol", st, testVerdicts()[:1])
	must(err)
	// The same decision again: queued now, refused by the unique index
	// when its batch commits.
	_, err = s.RecordVerdicts(ctx, "bt-1", "pol", st, testVerdicts()[:1])
	must(err)
	must(s.RecordEvent(ctx, Event{Kind: "a"})) // fills the batch: committed in the background
	// The next full batch waits for the first and reports its error.
	must(s.RecordEvent(ctx, Event{Kind: "b"}))
	must(s.RecordEvent(ctx, Event{Kind: "c"}))
	must(s.RecordEvent(ctx, Event{Kind: "d"}))
	err = s.RecordEvent(ctx, Event{Kind: "e"}) // fills the second batch
	if err == nil || !strings.Contains(err.Error(), "queued records could not be committed") {
		t.Fatalf("the write after a failed background batch = %v; want that batch's error", err)
	}
	must(s.Flush(ctx))
	var kinds []string
	rows, err := rawDB(t, path).Query(`SELECT kind, ref, body FROM records ORDER BY seq`)
	must(err)
	defer rows.Close()
	for rows.Next() {
		var k, ref, body string
		must(rows.Scan(&k, &ref, &body))
		kinds = append(kinds, k+":"+ref)
		// The batch ran again without the failed write: bodies the writer
		// encodes were encoded again, not taken from its reused buffer.
		if !json.Valid([]byte(body)) || (k == KindRun && !strings.Contains(body, `"id":"bt-1"`)) ||
			(k == KindVerdict && !strings.Contains(body, `"decision_id":"bt-1:0"`)) {
			t.Errorf("%s record's body after the retried batch: %s", k, body)
		}
	}
	want := "run:baseline state: verdict:buy event:a event:b event:c event:d event:e"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("records = %s; want %s", got, want)
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}
