package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
	body, err := marshal(r)
	if err != nil {
		return err
	}
	err = s.appendRecords(ctx, false, &record{kind: KindRun, at: r.StartedAt.UnixNano(), runID: r.ID, ref: r.Advisor, body: body})
	return err
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
	body, err := marshal(end)
	if err != nil {
		return err
	}
	err = s.appendRecords(ctx, false, &record{kind: KindRunEnd, at: end.EndedAt.UnixNano(), runID: runID, state: status, body: body})
	return err
}

// LLMCall is one request to a model and what came back. Every retry and
// every repair attempt is its own call.
type LLMCall struct {
	RunID      string    `json:"run_id"`
	Attempt    int       `json:"attempt"` // 1, 2, ... within the run
	At         time.Time `json:"at"`      // when the request was sent
	Advisor    string    `json:"advisor"`
	Model      string    `json:"model"`
	BaseURL    string    `json:"base_url"`
	PromptHash string    `json:"prompt_hash"`
	// Request is the full request body sent (model, messages, response
	// format...): no key, but redacted anyway.
	Request string `json:"request"`
	// Response is the raw response body as received, whatever it is.
	Response         string        `json:"response"`
	HTTPStatus       int           `json:"http_status"`
	Status           string        `json:"status"` // ok, refusal, truncated, http_error, transport_error, timeout, budget
	Latency          time.Duration `json:"latency_ns"`
	PromptTokens     int64         `json:"prompt_tokens"`
	CompletionTokens int64         `json:"completion_tokens"`
	TotalTokens      int64         `json:"total_tokens"`
	FinishReason     string        `json:"finish_reason,omitempty"`
	Error            string        `json:"error,omitempty"`
}

// RecordLLMCall records one model call.
func (s *Store) RecordLLMCall(ctx context.Context, c LLMCall) error {
	if c.At.IsZero() {
		c.At = s.clock()
	}
	total := c.TotalTokens
	if total == 0 {
		total = c.PromptTokens + c.CompletionTokens
	}
	body, err := marshal(c)
	if err != nil {
		return err
	}
	err = s.appendRecords(ctx, false, &record{kind: KindLLMCall, at: c.At.UnixNano(), runID: c.RunID, ref: c.Advisor, state: c.Status, tokens: total, body: body})
	return err
}

// TokensUsedSince sums the tokens of every model call made at or after t,
// for the daily token budget.
func (s *Store) TokensUsedSince(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.queryRow(ctx, `SELECT COALESCE(SUM(tokens), 0) FROM records WHERE kind = 'llm_call' AND at >= CAST(? AS INTEGER)`, t.UnixNano()).Scan(&n)
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
	Parsed       *schemas.Response   `json:"parsed"`
	SchemaErrors []schemas.Violation `json:"schema_errors,omitempty"`
}

// RecordResponse records the raw response of a run's advisor, the parsed
// response (nil when parsing failed) and the schema errors.
func (s *Store) RecordResponse(ctx context.Context, runID string, raw []byte, parsed *schemas.Response, schemaErrors []schemas.Violation) error {
	rr := ResponseRecord{RunID: runID, At: s.clock(), Valid: parsed != nil && len(schemaErrors) == 0, Raw: string(raw), Parsed: parsed, SchemaErrors: schemaErrors}
	body, err := marshal(rr)
	if err != nil {
		return err
	}
	state := "invalid"
	if rr.Valid {
		state = "valid"
	}
	err = s.appendRecords(ctx, false, &record{kind: KindResponse, at: rr.At.UnixNano(), runID: runID, state: state, body: body})
	return err
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
	stateBody, err := marshal(state)
	if err != nil {
		return nil, err
	}
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
		if encoded[i], err = marshal(v); err != nil {
			return nil, err
		}
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
		if err := w.queryRow(qRunContext, runID).Scan(&advisor, &model, &recsJSON); err != nil {
			return fmt.Errorf("audit: look up run %s: %w", runID, err)
		}
		if len(recsJSON) > 0 {
			if err := json.Unmarshal(recsJSON, &recs); err != nil {
				return fmt.Errorf("audit: recorded recommendations of run %s: %w", runID, err)
			}
		}
		if _, err := w.append(&record{kind: KindState, at: at.UnixNano(), runID: runID, body: stateBody}); err != nil {
			return err
		}
		for i, v := range outs {
			vb := verdictRecord{DecisionID: ids[i], RunID: runID, At: at, PolicyHash: policyHash, Advisor: advisor, Model: model, Verdict: encoded[i]}
			if v.Index >= 0 && v.Index < len(recs) {
				vb.Recommendation = recs[v.Index]
			}
			body, err := marshal(vb)
			if err != nil {
				return err
			}
			r := &record{kind: KindVerdict, at: at.UnixNano(), runID: runID, decisionID: ids[i], ref: v.Action, symbol: v.Symbol, state: v.Decision, body: body, parentIndex: 1}
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
