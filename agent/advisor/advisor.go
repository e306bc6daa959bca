// Package advisor owns the one interface every advisor implements — the
// OpenAI-compatible model client (advisor/openai), the deterministic rules
// baseline (advisor/baseline) and the replay of recorded responses
// (advisor/replay) — together with the classified errors they return and a
// response cache for backtests. An advisor only writes text: its reply is
// parsed, checked and judged by schemas, policy and limits elsewhere.
package advisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/prompts"
	"github.com/warden-trading/warden/schemas"
)

// Advisor turns one analysis run's inputs into a model response.
type Advisor interface {
	// Name is the advisor kind: "openai", "baseline", "replay".
	Name() string
	// Advise returns the raw JSON response. An error means no
	// recommendation at all: the caller audits it (with Reply.Calls, which
	// is filled even on error) and places nothing.
	Advise(ctx context.Context, req Request) (Reply, error)
}

// Request is everything an advisor may use for one run.
type Request struct {
	RunID     string
	Now       time.Time
	Prompt    prompts.Rendered
	Snapshots map[string]market.Snapshot
	State     schemas.State
}

// Reply is an advisor's answer.
type Reply struct {
	// Raw is the model's JSON text, exactly as received (or recorded).
	Raw     []byte
	Advisor string
	Model   string
	// Calls lists every HTTP attempt, retries and repairs included, in
	// order. Empty for advisors that make no call.
	Calls []Call
	// Repairs is how many repair round trips were needed.
	Repairs int
	// Cached is true when Raw came from the response cache.
	Cached bool
	// Transform describes how the prompt was changed before the model saw
	// it (dates removed, prices rescaled by the recorded factors), and so
	// how Raw was mapped back; empty when it was not (agent/advisor/transform).
	Transform string
}

// TotalTokens sums the token usage of every call.
func (r Reply) TotalTokens() int64 {
	var n int64
	for _, c := range r.Calls {
		n += int64(c.TotalTokens)
	}
	return n
}

// Call is one HTTP attempt to a model endpoint, for the audit. RequestJSON
// is the exact body sent (never the API key, which travels only in the
// Authorization header); ResponseBody the exact body received.
type Call struct {
	Attempt          int           `json:"attempt"` // 1-based across the whole Advise
	Purpose          string        `json:"purpose"` // "initial", "retry" or "repair"
	Started          time.Time     `json:"started"`
	RequestJSON      []byte        `json:"request_json"`
	ResponseBody     []byte        `json:"response_body"`
	HTTPStatus       int           `json:"http_status"` // 0 when no response arrived
	Latency          time.Duration `json:"latency"`
	PromptTokens     int           `json:"prompt_tokens"`
	CompletionTokens int           `json:"completion_tokens"`
	TotalTokens      int           `json:"total_tokens"`
	FinishReason     string        `json:"finish_reason"`
	RetryAfter       time.Duration `json:"retry_after,omitempty"`
	Err              string        `json:"err,omitempty"`
	// Advisor and Model, when set, name who made this call where it
	// differs from the Reply's (a consensus member, "consensus/name#k").
	Advisor string `json:"advisor,omitempty"`
	Model   string `json:"model,omitempty"`
	// PromptHash, when set, is the "system:user" template hashes of the
	// prompt this call sent where it differs from the run's (an
	// anonymised or perturbed prompt).
	PromptHash string `json:"prompt_hash,omitempty"`
	// Kind classifies this call's failure when the call itself carried
	// it: a refusal, truncated output, an answer that is not schema-valid
	// (then repaired or given up), a bad response. Empty when it did not
	// fail, or failed in transport (see Err).
	Kind Kind `json:"kind,omitempty"`
}

// MarshalJSON writes the bodies as JSON strings (readable in an audit
// record) rather than base64.
func (c Call) MarshalJSON() ([]byte, error) {
	type plain Call
	return json.Marshal(struct {
		plain
		RequestJSON  string `json:"request_json"`
		ResponseBody string `json:"response_body"`
	}{plain(c), string(c.RequestJSON), string(c.ResponseBody)})
}

// Kind classifies why an advisor gave no recommendation.
type Kind string

const (
	KindRefusal         Kind = "refusal"                     // the model refused (message.refusal, content filter)
	KindTruncated       Kind = "truncated"                   // finish_reason "length": output cut off
	KindTransport       Kind = "transport"                   // network error, timeout or 5xx, after retries
	KindRateLimited     Kind = "rate_limited"                // 429, after retries
	KindQuota           Kind = "quota_exhausted"             // 429 insufficient_quota: the account's credit or plan is spent; never retried
	KindAuth            Kind = "auth"                        // 401/403: bad or missing key; never retried
	KindBadRequest      Kind = "bad_request"                 // another 4xx (e.g. context length); never retried
	KindBadResponse     Kind = "bad_response"                // a 2xx body that is not a usable completion
	KindBudgetExhausted Kind = "budget_exhausted"            // the daily token budget is spent (or unknown)
	KindSchemaInvalid   Kind = "schema_invalid_after_repair" // still not schema-valid after the repairs
	KindNoRecording     Kind = "no_recording"                // replay: nothing recorded for this run
	KindInput           Kind = "input"                       // the request itself is unusable
	KindCanceled        Kind = "canceled"                    // the caller's context ended
)

// Error is an advisor failure with its classification. Msg never holds a
// secret.
type Error struct {
	Kind    Kind
	Advisor string
	Msg     string
	// Violations are the last schema problems, for KindSchemaInvalid.
	Violations []schemas.Violation
	Err        error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("advisor %s: %s: %s", e.Advisor, e.Kind, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the classification of err, or "" when err is not an
// advisor *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}
