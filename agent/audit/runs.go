package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/warden-trading/warden/schemas"
)

// Run is the start of one analysis run (or one backtest step).
type Run struct {
	ID        string    `json:"id"`
	StartedAt time.Time `json:"started_at"`
	Mode      string    `json:"mode"`    // paper, live, backtest
	Advisor   string    `json:"advisor"` // openai, baseline, replay
	Model     string    `json:"model,omitempty"`
	// PolicyHash is the content hash of the policy in force.
	PolicyHash string `json:"policy_hash"`
	// PromptHashes maps each prompt template's name to its content hash.
	PromptHashes map[string]string `json:"prompt_hashes,omitempty"`
	// Config is a summary of the configuration (no secrets), any JSON.
	Config json.RawMessage `json:"config,omitempty"`
}

// RunEnd closes a run; EndRun records it as a new row.
type RunEnd struct {
	RunID   string          `json:"run_id"`
	EndedAt time.Time       `json:"ended_at"`
	Status  string          `json:"status"` // ok, skipped, failed, ...
	Summary json.RawMessage `json:"summary,omitempty"`
}

// BeginRun records the start of a run.
func (s *Store) BeginRun(ctx context.Context, r Run) error {
	if r.ID == "" {
		return errors.New("audit: run without id")
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = s.clock()
	}
	rec := &record{kind: KindRun, at: r.StartedAt.UnixNano(), runID: r.ID, ref: r.Advisor}
	if err := s.lazyBody(rec, r); err != nil {
		return err
	}
	if !s.queueAll {
		return s.appendRecords(ctx, false, rec)
	}
	return s.write(ctx, false, true, func(w *writeTx) error {
		if _, err := w.append(rec); err != nil {
			return err
		}
		rb := struct{ Advisor, Model string }{r.Advisor, r.Model}
		if rec.redacted { // as written, not as given
			if err := json.Unmarshal(rec.body, &rb); err != nil {
				return fmt.Errorf("audit: run %s as recorded: %w", r.ID, err)
			}
		}
		s.runCtx = &runContext{runID: rec.runID, advisor: rb.Advisor, model: rb.Model}
		return nil
	})
}

// runContext is what the verdicts of the run a queueAll store recorded
// last copy from it (see qRunContext), taken from the records as
// written: no other process writes a backtest's database, so the query
// would find the same.
type runContext struct {
	runID, advisor, model string
	recs                  []json.RawMessage
}

// noteResponse updates s.runCtx with a response record just appended;
// recs are its parsed recommendations as encoded in the record, taken
// instead of reading the record again unless redaction changed it.
func (s *Store) noteResponse(rec *record, recs []json.RawMessage) error {
	c := s.runCtx
	if c == nil {
		return nil
	}
	if c.runID != rec.runID {
		s.runCtx = nil
		return nil
	}
	if rec.state != "valid" {
		return nil
	}
	if !rec.redacted {
		c.recs = recs
		return nil
	}
	var rb struct {
		Parsed *struct {
			Recommendations []json.RawMessage `json:"recommendations"`
		} `json:"parsed"`
	}
	if err := json.Unmarshal(rec.body, &rb); err != nil {
		return fmt.Errorf("audit: response of run %s as recorded: %w", rec.runID, err)
	}
	c.recs = nil
	if rb.Parsed != nil {
		c.recs = rb.Parsed.Recommendations
	}
	return nil
}

// EndRun records the end of a run with its status and a summary (any
// value that encodes as JSON; nil for none).
func (s *Store) EndRun(ctx context.Context, runID, status string, summary any) error {
	if runID == "" {
		return errors.New("audit: end of a run without id")
	}
	end := RunEnd{RunID: runID, EndedAt: s.clock(), Status: status}
	if summary != nil {
		b, err := marshal(summary)
		if err != nil {
			return err
		}
		end.Summary = b
	}
	rec := &record{kind: KindRunEnd, at: end.EndedAt.UnixNano(), runID: runID, state: status}
	if err := s.lazyBody(rec, end); err != nil {
		return err
	}
	return s.appendRecords(ctx, false, rec)
}

// LLMCall is one request to a model and what came back. Every retry and
// every repair attempt is its own call.
type LLMCall struct {
	RunID   string    `json:"run_id"`
	Attempt int       `json:"attempt"` // 1, 2, ... within the run
	At      time.Time `json:"at"`      // when the request was sent (on the decision clock: see SentAt)
	// SentAt is when the request was sent by the wall clock, when At is
	// not that (a run on the offline replay's or a backtest's clock): the
	// daily token budget counts real tokens on real days. Its column is
	// due (unused otherwise by model calls).
	SentAt     time.Time `json:"sent_at,omitzero"`
	Advisor    string    `json:"advisor"`
	Model      string    `json:"model"`
	BaseURL    string    `json:"base_url"`
	PromptHash string    `json:"prompt_hash"`
	// Request is the full request body sent (model, messages, response
	// format...): no key, but redacted anyway. In the database, a request
	// whose static parts are stored once (blobs.go) has RequestParts
	// instead; reads (Show) join them back into Request.
	Request      string        `json:"request"`
	RequestParts []RequestPart `json:"request_parts,omitempty"`
	// Response is the raw response body as received, whatever it is; in
	// the database a long one is in blobs (ResponseBlob, its hash).
	Response         string        `json:"response"`
	ResponseBlob     string        `json:"response_blob,omitempty"`
	HTTPStatus       int           `json:"http_status"`
	Status           string        `json:"status"` // ok, refusal, truncated, http_error, transport_error, timeout, budget
	Latency          time.Duration `json:"latency_ns"`
	PromptTokens     int64         `json:"prompt_tokens"`
	CompletionTokens int64         `json:"completion_tokens"`
	TotalTokens      int64         `json:"total_tokens"`
	FinishReason     string        `json:"finish_reason,omitempty"`
	Error            string        `json:"error,omitempty"`
	// Purpose is initial, retry, repair or member (a consensus member
	// with no HTTP call); Kind the call's failure class (refusal,
	// truncated, schema_invalid_after_repair, bad_response), for the
	// reliability figures.
	Purpose string `json:"purpose,omitempty"`
	Kind    string `json:"kind,omitempty"`
}

// Tokens is the call's total tokens: TotalTokens, or prompt and
// completion tokens when no total was reported.
func (c LLMCall) Tokens() int64 {
	if c.TotalTokens == 0 {
		return c.PromptTokens + c.CompletionTokens
	}
	return c.TotalTokens
}

// RecordLLMCall records one model call.
func (s *Store) RecordLLMCall(ctx context.Context, c LLMCall) error {
	if c.At.IsZero() {
		c.At = s.clock()
	}
	total := c.Tokens()
	blobs := blobSet{}
	if parts := s.splitRequest(c.Request, blobs); parts != nil {
		c.Request, c.RequestParts = "", parts
	}
	if h := s.textRef(s.redactText(c.Response), blobs); h != "" {
		c.Response, c.ResponseBlob = "", h
	}
	rec := &record{kind: KindLLMCall, at: c.At.UnixNano(), runID: c.RunID, ref: c.Advisor, state: c.Status, tokens: total}
	if !c.SentAt.IsZero() {
		rec.due = c.SentAt.UnixNano()
	}
	if err := s.lazyBody(rec, c); err != nil {
		return err
	}
	return s.writeQueued(ctx, false, true, func(w *writeTx) error {
		if err := w.putBlobs(blobs); err != nil {
			return err
		}
		_, err := w.append(rec)
		return err
	}, func() { s.pendCall = append(s.pendCall, pendingCall{at: rec.at, status: c.Status, kind: c.Kind}) })
}

// pendingCall is a model call recorded by a write still in the batch
// queue, for RecentInvalidOutput.
type pendingCall struct {
	at           int64
	status, kind string
}

// TokensUsedSince sums the tokens of every model call sent at or after t
// by the wall clock, for the daily token budget: a call recorded on
// another clock (the offline replay's, a backtest's) counts by when it was
// sent (LLMCall.SentAt, the due column), not by its decision time.
func (s *Store) TokensUsedSince(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.queryRow(ctx, `SELECT COALESCE(SUM(tokens), 0) FROM records
		WHERE kind = 'llm_call' AND CASE WHEN due <> 0 THEN due ELSE at END >= CAST(? AS INTEGER)`, t.UnixNano()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("audit: tokens used since %s: %w", t.Format(time.RFC3339), err)
	}
	return n, nil
}

// ResponseRecord is a model response as recorded: the raw text, what the
// strict parser made of it, and the schema errors if it failed.
type ResponseRecord struct {
	RunID        string              `json:"run_id"`
	At           time.Time           `json:"at"`
	Valid        bool                `json:"valid"`
	Raw          string              `json:"raw"`
	RawBlob      string              `json:"raw_blob,omitempty"` // in the database: a long Raw is in blobs
	Parsed       *schemas.Response   `json:"parsed"`
	SchemaErrors []schemas.Violation `json:"schema_errors,omitempty"`
}

// RecordResponse records the raw response of a run's advisor, the parsed
// response (nil when parsing failed) and the schema errors. A batched
// scratch store (a backtest's) encodes the record when its batch commits:
// parsed and schemaErrors must not be changed after the call (the agent
// parses a new response at every cycle and never changes one).
func (s *Store) RecordResponse(ctx context.Context, runID string, raw []byte, parsed *schemas.Response, schemaErrors []schemas.Violation) error {
	rr := ResponseRecord{RunID: runID, At: s.clock(), Valid: parsed != nil && len(schemaErrors) == 0, Raw: string(raw), Parsed: parsed, SchemaErrors: schemaErrors}
	blobs := blobSet{}
	if h := s.textRef(s.redactText(rr.Raw), blobs); h != "" {
		rr.Raw, rr.RawBlob = "", h
	}
	state := "invalid"
	if rr.Valid {
		state = "valid"
	}
	rec := &record{kind: KindResponse, at: rr.At.UnixNano(), runID: runID, state: state}
	if err := s.lazyBody(rec, rr); err != nil {
		return err
	}
	var recs []json.RawMessage
	if s.queueAll && rr.Valid {
		// The verdicts of the run copy these (runContext): encoded here,
		// on the caller's goroutine, by the encoder marshal used for body.
		recs = make([]json.RawMessage, len(parsed.Recommendations))
		for i := range parsed.Recommendations {
			recs[i] = parsed.Recommendations[i].AppendJSON(nil)
		}
	}
	return s.write(ctx, false, true, func(w *writeTx) error {
		if err := w.putBlobs(blobs); err != nil {
			return err
		}
		if _, err := w.append(rec); err != nil {
			return err
		}
		if s.queueAll {
			return s.noteResponse(rec, recs)
		}
		return nil
	})
}

// DecisionID is the id of the index-th verdict of a run.
func DecisionID(runID string, index int) string { return runID + ":" + strconv.Itoa(index) }

// verdictBody is the JSON of a verdict record, shaped like an OPA decision
// log event: the decision id, the policy revision, the input (the
// recommendation here; the state is its parent record) and the result.
type verdictBody struct {
	DecisionID     string          `json:"decision_id"`
	RunID          string          `json:"run_id"`
	At             time.Time       `json:"at"`
	PolicyHash     string          `json:"policy_hash"`
	Advisor        string          `json:"advisor,omitempty"`
	Model          string          `json:"model,omitempty"`
	Recommendation json.RawMessage `json:"recommendation,omitempty"`
	Verdict        schemas.Verdict `json:"verdict"`
}

// verdictRecord is verdictBody as written, the verdict already encoded.
type verdictRecord struct {
	DecisionID     string          `json:"decision_id"`
	RunID          string          `json:"run_id"`
	At             time.Time       `json:"at"`
	PolicyHash     string          `json:"policy_hash"`
	Advisor        string          `json:"advisor,omitempty"`
	Model          string          `json:"model,omitempty"`
	Recommendation json.RawMessage `json:"recommendation,omitempty"`
	Verdict        json.RawMessage `json:"verdict"`
}

// RecordVerdicts records, in one transaction, the state the verdicts were
// judged against (for policy replay) and one record per verdict with its
// per-rule results, the policy's content hash, and the recommendation it
// judged (from the run's latest recorded response). It returns the
// decision ids, DecisionID(runID, verdict.Index) in order.
func (s *Store) RecordVerdicts(ctx context.Context, runID, policyHash string, state schemas.State, verdicts []schemas.Verdict) ([]string, error) {
	if runID == "" {
		return nil, errors.New("audit: verdicts without run id")
	}
	at := state.Now
	if at.IsZero() {
		at = s.clock()
	}
	// The state's own encoder writes what marshal would, without
	// encoding/json's pass over it (a state is encoded at every cycle).
	stateBody, err := state.AppendJSON(make([]byte, 0, 2048))
	if err != nil {
		return nil, fmt.Errorf("audit: encode record: %w", err)
	}
	blobs := blobSet{}
	stateBody = s.stateRecordBody(stateBody, blobs)
	ids := make([]string, len(verdicts))
	seen := make(map[string]bool, len(verdicts))
	// Encoded now: in batch mode the write runs later, and the caller may
	// reuse what it passed.
	encoded := make([]json.RawMessage, len(verdicts))
	for i, v := range verdicts {
		ids[i] = DecisionID(runID, v.Index)
		if seen[ids[i]] {
			return nil, fmt.Errorf("audit: two verdicts with index %d in run %s", v.Index, runID)
		}
		seen[ids[i]] = true
		encoded[i] = appendExact(v.AppendJSON)
	}
	type verdictOut struct {
		Index                    int
		Action, Symbol, Decision string
	}
	outs := make([]verdictOut, len(verdicts))
	for i, v := range verdicts {
		outs[i] = verdictOut{v.Index, string(v.Action), v.Symbol, string(v.Decision)}
	}
	err = s.write(ctx, false, true, func(w *writeTx) error {
		var (
			advisor, model string
			recsJSON       []byte
			recs           []json.RawMessage
		)
		if c := s.runCtx; s.queueAll && c != nil && c.runID == runID {
			advisor, model, recs = c.advisor, c.model, c.recs
		} else if err := w.queryRow(qRunContext, runID).Scan(&advisor, &model, &recsJSON); err != nil {
			return fmt.Errorf("audit: look up run %s: %w", runID, err)
		}
		if len(recsJSON) > 0 {
			if err := json.Unmarshal(recsJSON, &recs); err != nil {
				return fmt.Errorf("audit: recorded recommendations of run %s: %w", runID, err)
			}
		}
		if err := w.putBlobs(blobs); err != nil {
			return err
		}
		if _, err := w.append(&record{kind: KindState, at: at.UnixNano(), runID: runID, body: stateBody}); err != nil {
			return err
		}
		for i, v := range outs {
			vb := verdictRecord{DecisionID: ids[i], RunID: runID, At: at, PolicyHash: policyHash, Advisor: advisor, Model: model, Verdict: encoded[i]}
			if v.Index >= 0 && v.Index < len(recs) {
				vb.Recommendation = recs[v.Index]
			}
			// Encoded by the writer, into its buffer: this runs there.
			r := &record{kind: KindVerdict, at: at.UnixNano(), runID: runID, decisionID: ids[i], ref: v.Action, symbol: v.Symbol, state: v.Decision, encode: vb.AppendJSON, parentIndex: 1}
			if _, err := w.append(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// Run outcomes: what a run came to, for operators and schedulers. A run
// that failed is "failed" whatever else was on; one that ran under the
// kill switch or in safe mode says so.
const (
	OutcomeOK         = "ok"
	OutcomeFailed     = "failed"     // advisor error, snapshot rejected, exchange or store error, order error
	OutcomeKilled     = "killed"     // ran under the kill switch: nothing could be placed
	OutcomeSafeMode   = "safe_mode"  // ran in safe mode: only reducing sells
	OutcomeUnfinished = "unfinished" // started and never ended: the process died, or the run is in progress
)

// RunOutcome maps a run's recorded status and switches to its outcome.
// Any status other than "ok" (skipped, advisor_error, failed, and any
// status a later version records) is a failure, and so is an ok run whose
// approved orders met errors; an empty status is a run that never ended.
func RunOutcome(status string, killSwitch, safeMode bool, orderErrors int) string {
	switch {
	case status == "":
		return OutcomeUnfinished
	case status != "ok" || orderErrors > 0:
		return OutcomeFailed
	case killSwitch:
		return OutcomeKilled
	case safeMode:
		return OutcomeSafeMode
	}
	return OutcomeOK
}

// RunRow is one run as listed: its start, its end and what it came to.
type RunRow struct {
	Seq        int64     `json:"seq"`
	RunID      string    `json:"run_id"`
	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	Mode       string    `json:"mode"`
	Advisor    string    `json:"advisor"`
	Model      string    `json:"model,omitempty"`
	PolicyHash string    `json:"policy_hash"`
	// Status is the status the run ended with (ok, skipped, advisor_error,
	// failed, ...); empty when it never ended.
	Status string `json:"status"`
	// Outcome is RunOutcome of the status and switches.
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason,omitempty"`
	KillSwitch bool   `json:"kill_switch"`
	SafeMode   bool   `json:"safe_mode"`
	// Level is the breakers' level the run decided under (active, reduce,
	// safe_mode), when its summary says.
	Level       string         `json:"level,omitempty"`
	Decisions   map[string]int `json:"decisions,omitempty"`
	Orders      int            `json:"orders"`
	OrderErrors []string       `json:"order_errors,omitempty"`
	// Summary is the whole summary the run ended with, for fields this
	// listing does not name (breaker trips, levels...).
	Summary json.RawMessage `json:"summary,omitempty"`
}

// RunFilter selects runs. Zero fields do not filter.
type RunFilter struct {
	From    time.Time // runs started at or after
	To      time.Time // runs started before
	RunID   string
	Status  string // a recorded status (advisor_error...) or an outcome (failed, killed...)
	Mode    string
	Advisor string
	Model   string
	Limit   int // ListRuns: the newest Limit runs; ExportRuns: the oldest Limit
}

func (f RunFilter) where() (string, []any) {
	conds := []string{"r.kind = 'run'"}
	var args []any
	add := func(c string, a ...any) { conds = append(conds, c); args = append(args, a...) }
	if !f.From.IsZero() {
		add("r.at >= CAST(? AS INTEGER)", f.From.UnixNano())
	}
	if !f.To.IsZero() {
		add("r.at < CAST(? AS INTEGER)", f.To.UnixNano())
	}
	if f.RunID != "" {
		add("r.run_id = CAST(? AS TEXT) AND r.run_id <> ''", f.RunID)
	}
	if f.Advisor != "" {
		add("r.ref = CAST(? AS TEXT)", f.Advisor)
	}
	if f.Mode != "" {
		add("json_extract(r.body, '$.mode') = ?", f.Mode)
	}
	if f.Model != "" {
		add("json_extract(r.body, '$.model') = ?", f.Model)
	}
	return strings.Join(conds, " AND "), args
}

// ListRuns returns the runs matching f, newest first.
func (s *Store) ListRuns(ctx context.Context, f RunFilter) ([]RunRow, error) {
	out := []RunRow{}
	err := s.eachRun(ctx, f, true, func(r RunRow) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

func (s *Store) eachRun(ctx context.Context, f RunFilter, newestFirst bool, fn func(RunRow) error) error {
	where, args := f.where()
	q := `SELECT r.seq, r.body, (SELECT e.body FROM records e WHERE e.run_id = r.run_id AND e.run_id <> '' AND e.kind = 'run_end' ORDER BY e.seq DESC LIMIT 1)
		FROM records r WHERE ` + where + " ORDER BY r.seq"
	if newestFirst {
		q += " DESC"
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("audit: list runs: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			seq       int64
			body, end []byte
		)
		if err := rows.Scan(&seq, &body, &end); err != nil {
			return fmt.Errorf("audit: read run: %w", err)
		}
		r, err := decodeRunRow(seq, body, end)
		if err != nil {
			return err
		}
		if f.Status != "" && f.Status != r.Status && f.Status != r.Outcome {
			continue
		}
		if err := fn(r); err != nil {
			return err
		}
		if n++; f.Limit > 0 && n >= f.Limit {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: list runs: %w", err)
	}
	return nil
}

// runSummary is what a run listing reads of a run's end summary (the
// agent's runSummary); other fields stay in RunRow.Summary.
type runSummary struct {
	Reason      string         `json:"reason"`
	KillSwitch  bool           `json:"kill_switch"`
	SafeMode    bool           `json:"safe_mode"`
	Level       string         `json:"level"`
	Decisions   map[string]int `json:"decisions"`
	Orders      int            `json:"orders"`
	OrderErrors []string       `json:"order_errors"`
}

func decodeRunRow(seq int64, body, end []byte) (RunRow, error) {
	var r Run
	if err := json.Unmarshal(body, &r); err != nil {
		return RunRow{}, fmt.Errorf("audit: decode run at seq %d: %w", seq, err)
	}
	row := RunRow{Seq: seq, RunID: r.ID, StartedAt: r.StartedAt, Mode: r.Mode, Advisor: r.Advisor, Model: r.Model, PolicyHash: r.PolicyHash}
	if end != nil {
		var e RunEnd
		if err := json.Unmarshal(end, &e); err != nil {
			return RunRow{}, fmt.Errorf("audit: decode end of run %s: %w", r.ID, err)
		}
		row.EndedAt, row.Status, row.Summary = e.EndedAt, e.Status, e.Summary
		if len(e.Summary) > 0 && string(e.Summary) != "null" {
			var sum runSummary
			// A summary of another shape keeps only its status.
			if json.Unmarshal(e.Summary, &sum) == nil {
				row.Reason, row.KillSwitch, row.SafeMode, row.Level = sum.Reason, sum.KillSwitch, sum.SafeMode, sum.Level
				row.Decisions, row.Orders, row.OrderErrors = sum.Decisions, sum.Orders, sum.OrderErrors
			}
		}
	}
	row.Outcome = RunOutcome(row.Status, row.KillSwitch, row.SafeMode, len(row.OrderErrors))
	return row, nil
}

// runsCSVHeader is the header of a CSV export of runs.
var runsCSVHeader = []string{"seq", "run_id", "started_at", "ended_at", "mode", "advisor", "model", "policy_hash",
	"status", "outcome", "reason", "kill_switch", "safe_mode", "decisions", "orders", "order_errors", "level"}

// ExportRuns writes the runs matching f, oldest first, as JSON lines (one
// RunRow per line) or CSV.
func (s *Store) ExportRuns(ctx context.Context, w io.Writer, format string, f RunFilter) error {
	switch format {
	case FormatJSONL:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return s.eachRun(ctx, f, false, func(r RunRow) error { return enc.Encode(r) })
	case FormatCSV:
		cw := NewCSVWriter(w)
		if err := cw.Write(runsCSVHeader); err != nil {
			return err
		}
		err := s.eachRun(ctx, f, false, func(r RunRow) error {
			ended := ""
			if !r.EndedAt.IsZero() {
				ended = r.EndedAt.UTC().Format(time.RFC3339Nano)
			}
			return cw.Write([]string{strconv.FormatInt(r.Seq, 10), r.RunID, r.StartedAt.UTC().Format(time.RFC3339Nano), ended,
				r.Mode, r.Advisor, r.Model, r.PolicyHash, r.Status, r.Outcome, r.Reason,
				strconv.FormatBool(r.KillSwitch), strconv.FormatBool(r.SafeMode), DecisionCounts(r.Decisions),
				strconv.Itoa(r.Orders), strings.Join(r.OrderErrors, "; "), r.Level})
		})
		if err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	}
	return fmt.Errorf("audit: export format %q: want %q or %q", format, FormatJSONL, FormatCSV)
}

// DecisionCounts formats a run's decision counts as "approved=1
// rejected=2", in name order; "" when there were none.
func DecisionCounts(m map[string]int) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, k := range names {
		parts = append(parts, k+"="+strconv.Itoa(m[k]))
	}
	return strings.Join(parts, " ")
}

// LastRunAt is when a run last started or ended in this database, by the
// time of its record; ok is false when no run was ever recorded.
func (s *Store) LastRunAt(ctx context.Context) (at time.Time, ok bool, err error) {
	var ns sql.NullInt64
	err = s.queryRow(ctx, `SELECT MAX(at) FROM (
		SELECT at FROM (SELECT at FROM records WHERE kind = 'run_end' ORDER BY seq DESC LIMIT 1)
		UNION ALL
		SELECT at FROM (SELECT at FROM records WHERE kind = 'run' ORDER BY seq DESC LIMIT 1))`).Scan(&ns)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("audit: last run: %w", err)
	}
	if !ns.Valid {
		return time.Time{}, false, nil
	}
	return time.Unix(0, ns.Int64).UTC(), true, nil
}
