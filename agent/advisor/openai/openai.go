// Package openai is the advisor that asks a model through any
// OpenAI-compatible chat-completions endpoint (OpenAI, Azure, OpenRouter,
// vLLM, Ollama, llama.cpp server). It is the only package of Warden that
// imports github.com/sashabaranov/go-openai.
//
// Every HTTP attempt is recorded for the audit (exact request and response
// bodies, status, latency, tokens). Transport errors, 429 and 5xx are
// retried with exponential backoff and jitter, honouring Retry-After,
// except a 429 insufficient_quota (quota_exhausted: the account's credit
// is spent, a retry cannot succeed);
// refusals and truncated output are rejections, never defaults; schema
// errors get at most RepairAttempts repair round trips; a daily token
// budget refuses a call that could take the day over it. The API key is
// read from the environment variable named in the config and travels only
// in the Authorization header.
//
// Model traffic is bounded: one Advise has one deadline that every
// attempt, wait and repair shares; max_tokens follows from the largest
// answer the response schema allows; a response over the parse cap is
// rejected without a repair turn; a repair turn carries the schema errors
// and at most an excerpt of the bad answer; and what is recorded of an
// oversized body is a bounded prefix with its length and SHA-256.
package openai

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/redact"
	"github.com/warden-trading/warden/schemas"
)

// Config selects the endpoint and model and tunes the calls.
type Config struct {
	// BaseURL of the OpenAI-compatible API, e.g. https://api.openai.com/v1
	// or http://localhost:11434/v1 (Ollama).
	BaseURL string
	Model   string
	// APIKeyEnv names the environment variable holding the API key; ""
	// means no key (local servers). The key itself is never configured,
	// logged or recorded.
	APIKeyEnv string
	// APIType is "" / "openai" or "azure" (then APIVersion applies).
	APIType    string
	APIVersion string
	// Temperature nil leaves the server default; 0 is sent as 0.
	Temperature *float64
	// MaxTokens caps the completion (max_tokens); 0 derives it from the
	// response schema (MaxAnswerTokens), negative leaves it unset.
	MaxTokens int
	// Timeout per HTTP attempt (default 60 s).
	Timeout time.Duration
	// Deadline bounds one Advise: the first call, its retries, the waits
	// between them and the repairs all share it (default 3 min). The
	// per-attempt Timeout applies within it.
	Deadline time.Duration
	// MaxRetries after the first attempt for transport errors, 429 and
	// 5xx (default 2; negative: no retry).
	MaxRetries int
	// StructuredOutputs sends response_format json_schema (strict) with
	// the response schema; otherwise JSON mode (json_object).
	StructuredOutputs bool
	// RepairAttempts is how many times schema errors are sent back for a
	// corrected answer (default 1; negative: none).
	RepairAttempts int
	// DailyTokenBudget bounds the tokens used since 00:00 UTC: a call is
	// made only when the tokens used so far plus its expected cost (the
	// prompt's estimated tokens and max_tokens) are at most the budget
	// (0: no budget).
	DailyTokenBudget int64
	Seed             *int
	// BackoffBase and BackoffMax shape the retry delays (defaults 500 ms
	// and 30 s). MaxRetryAfter is the longest Retry-After honoured
	// (default 2 min); a longer one ends the retries.
	BackoffBase, BackoffMax, MaxRetryAfter time.Duration
}

// DefaultDeadline is the deadline of one Advise when the config sets none.
const DefaultDeadline = 3 * time.Minute

// Bounds of what is sent back and recorded.
const (
	// RepairExcerptBytes is the most of a bad answer a repair turn quotes
	// back to the model; the schema errors carry the rest.
	RepairExcerptBytes = 8 << 10
	// maxViolationBytes bounds one schema error in a repair turn.
	maxViolationBytes = 300
	// MaxRecordedBody is the largest response body recorded whole. A
	// legitimate answer is at most schemas.MaxResponseBytes of content,
	// which JSON escaping in the completion envelope can grow; a larger
	// body is recorded as its first RecordedPrefix bytes, its length and
	// its SHA-256.
	MaxRecordedBody = 4 * schemas.MaxResponseBytes
	RecordedPrefix  = 16 << 10
)

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.Deadline <= 0 {
		c.Deadline = DefaultDeadline
	}
	switch {
	case c.MaxRetries == 0:
		c.MaxRetries = 2
	case c.MaxRetries < 0:
		c.MaxRetries = 0
	}
	switch {
	case c.RepairAttempts == 0:
		c.RepairAttempts = 1
	case c.RepairAttempts < 0:
		c.RepairAttempts = 0
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 500 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 30 * time.Second
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = 2 * time.Minute
	}
	return c
}

// Budget reports the tokens already used (the audit store implements it).
type Budget interface {
	TokensUsedSince(ctx context.Context, t time.Time) (int64, error)
}

// Deps are the advisor's collaborators; zero fields take defaults.
type Deps struct {
	Logger *slog.Logger
	Now    func() time.Time                           // clock (default time.Now)
	Getenv func(string) string                        // environment (default os.Getenv)
	Budget Budget                                     // required when DailyTokenBudget > 0
	Base   http.RoundTripper                          // transport under the recorder (default: a clone of http.DefaultTransport)
	Sleep  func(context.Context, time.Duration) error // waits between retries
	Jitter func() float64                             // in [0,1) (default math/rand/v2)
}

// Advisor is the OpenAI-compatible advisor. It is safe for concurrent use.
type Advisor struct {
	cfg    Config
	deps   Deps
	client *goopenai.Client
	key    string
	red    *redact.Redactor
	schema json.RawMessage // for structured outputs
}

var _ advisor.Advisor = (*Advisor)(nil)

// New checks cfg and builds the client. A configured key variable that is
// unset or empty is an error (fail early, not at the first run).
func New(cfg Config, deps Deps) (*Advisor, error) {
	cfg = cfg.withDefaults()
	if cfg.BaseURL == "" || cfg.Model == "" {
		return nil, errors.New("openai advisor: base URL and model are required")
	}
	if cfg.Temperature != nil && (math.IsNaN(*cfg.Temperature) || *cfg.Temperature < 0 || *cfg.Temperature > 2) {
		return nil, fmt.Errorf("openai advisor: temperature %v out of [0, 2]", *cfg.Temperature)
	}
	if cfg.DailyTokenBudget < 0 {
		return nil, errors.New("openai advisor: negative daily token budget")
	}
	if cfg.DailyTokenBudget > 0 && deps.Budget == nil {
		return nil, errors.New("openai advisor: a daily token budget needs a Budget to read usage from")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Getenv == nil {
		deps.Getenv = os.Getenv
	}
	if deps.Sleep == nil {
		deps.Sleep = sleep
	}
	if deps.Jitter == nil {
		deps.Jitter = rand.Float64
	}
	if deps.Base == nil {
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			deps.Base = t.Clone()
		} else {
			deps.Base = http.DefaultTransport
		}
	}
	a := &Advisor{cfg: cfg, deps: deps}
	if cfg.APIKeyEnv != "" {
		a.key = strings.TrimSpace(deps.Getenv(cfg.APIKeyEnv))
		if a.key == "" {
			return nil, fmt.Errorf("openai advisor: environment variable %s (the API key) is not set", cfg.APIKeyEnv)
		}
	}
	a.red = redact.New(a.key)
	if cfg.MaxTokens == 0 {
		n, err := MaxAnswerTokens()
		if err != nil {
			return nil, err
		}
		a.cfg.MaxTokens = n
	}
	var cc goopenai.ClientConfig
	switch strings.ToLower(cfg.APIType) {
	case "", "openai":
		cc = goopenai.DefaultConfig(a.key)
		cc.BaseURL = cfg.BaseURL
	case "azure":
		cc = goopenai.DefaultAzureConfig(a.key, cfg.BaseURL)
		if cfg.APIVersion != "" {
			cc.APIVersion = cfg.APIVersion
		}
	default:
		return nil, fmt.Errorf("openai advisor: api type %q (want openai or azure)", cfg.APIType)
	}
	rec := &recorder{base: deps.Base, temperatureZero: cfg.Temperature != nil && *cfg.Temperature == 0}
	cc.HTTPClient = &http.Client{Transport: rec}
	a.client = goopenai.NewClientWithConfig(cc)
	if cfg.StructuredOutputs {
		s, err := schemas.OpenAISchema()
		if err != nil {
			return nil, fmt.Errorf("openai advisor: response schema: %w", err)
		}
		if a.schema, err = json.Marshal(s); err != nil {
			return nil, fmt.Errorf("openai advisor: response schema: %w", err)
		}
	}
	return a, nil
}

func (a *Advisor) Name() string { return "openai" }

// Model is the configured model.
func (a *Advisor) Model() string { return a.cfg.Model }

func (a *Advisor) fail(kind advisor.Kind, msg string, err error) *advisor.Error {
	e := &advisor.Error{Kind: kind, Advisor: a.Name(), Msg: a.redact(msg)}
	if err != nil {
		e.Err = errors.New(a.redact(err.Error()))
	}
	return e
}

// redact removes the API key, in every form package redact knows, from
// anything recorded (it should never be there; this is a second lock
// behind the process's redactor).
func (a *Advisor) redact(s string) string { return a.red.String(s) }

func (a *Advisor) redactBytes(b []byte) []byte { return a.red.Bytes(b) }

// errDeadline is the cause of an Advise's context ending at its deadline.
var errDeadline = errors.New("advise deadline")

// MaxTokens is the max_tokens sent (0: none).
func (a *Advisor) MaxTokens() int { return max(a.cfg.MaxTokens, 0) }

// Advise asks the model, repairing schema errors at most RepairAttempts
// times. Reply.Calls lists every attempt, also when an error is returned.
func (a *Advisor) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	rep := advisor.Reply{Advisor: a.Name(), Model: a.cfg.Model}
	if strings.TrimSpace(req.Prompt.System) == "" || strings.TrimSpace(req.Prompt.User) == "" {
		return rep, a.fail(advisor.KindInput, "empty prompt", nil)
	}
	msgs := []goopenai.ChatCompletionMessage{
		{Role: goopenai.ChatMessageRoleSystem, Content: req.Prompt.System},
		{Role: goopenai.ChatMessageRoleUser, Content: req.Prompt.User},
	}
	ctx, cancel := context.WithTimeoutCause(ctx, a.cfg.Deadline, errDeadline)
	defer cancel()
	purpose := "initial"
	for {
		content, err := a.complete(ctx, msgs, purpose, &rep)
		if err != nil {
			return rep, err
		}
		last := &rep.Calls[len(rep.Calls)-1]
		if len(content) > schemas.MaxResponseBytes {
			last.Kind = advisor.KindBadResponse
			// Not worth a repair turn: sending it back would cost as much
			// again, and a model that wrote megabytes is not answering.
			return rep, a.fail(advisor.KindBadResponse, fmt.Sprintf("the answer is %d bytes, over the %d-byte cap; rejected without a repair turn", len(content), schemas.MaxResponseBytes), nil)
		}
		_, perr := schemas.ParseResponse([]byte(content))
		if perr == nil {
			rep.Raw = []byte(content)
			return rep, nil
		}
		// This call's answer is not schema-valid: repaired next, or the end.
		last.Kind = advisor.KindSchemaInvalid
		var pe *schemas.ParseError
		var vs []schemas.Violation
		if errors.As(perr, &pe) {
			vs = pe.Violations()
		} else {
			vs = []schemas.Violation{{Rule: schemas.RuleSchema, Message: perr.Error(), Source: schemas.SourceSchema}}
		}
		if rep.Repairs >= a.cfg.RepairAttempts {
			e := a.fail(advisor.KindSchemaInvalid, fmt.Sprintf("response not valid against the schema after %d repair(s)", rep.Repairs), perr)
			e.Violations = vs
			return rep, e
		}
		rep.Repairs++
		purpose = "repair"
		// The repair turn replaces the previous one: the conversation is
		// the prompt, an excerpt of the last bad answer and its errors, so
		// it does not grow with each repair.
		msgs = append(msgs[:2],
			goopenai.ChatCompletionMessage{Role: goopenai.ChatMessageRoleAssistant, Content: excerpt(content, RepairExcerptBytes)},
			goopenai.ChatCompletionMessage{Role: goopenai.ChatMessageRoleUser, Content: repairPrompt(vs, len(content) > RepairExcerptBytes)},
		)
	}
}

// excerpt returns at most n bytes of s, cut at a rune boundary, marked
// when cut.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("\n[… %d more bytes not repeated]", len(s)-cut)
}

// repairPrompt sends schema errors back: only schema errors, never a
// policy verdict. cut says the assistant turn before it is an excerpt.
func repairPrompt(vs []schemas.Violation, cut bool) string {
	var b strings.Builder
	b.WriteString("Your previous reply is not valid against the response JSON schema")
	if cut {
		b.WriteString(" (only its beginning is quoted above)")
	}
	b.WriteString(":\n")
	for i, v := range vs {
		if i == 20 {
			fmt.Fprintf(&b, "- … and %d more\n", len(vs)-20)
			break
		}
		b.WriteString("- ")
		if v.Pointer != "" {
			b.WriteString(v.Pointer)
			b.WriteString(": ")
		}
		b.WriteString(excerpt(v.Message, maxViolationBytes))
		b.WriteByte('\n')
	}
	b.WriteString("Reply again with only the corrected JSON object, matching the schema exactly. Change only what is needed to fix these problems.")
	return b.String()
}

func (a *Advisor) request(msgs []goopenai.ChatCompletionMessage) goopenai.ChatCompletionRequest {
	r := goopenai.ChatCompletionRequest{
		Model:    a.cfg.Model,
		Messages: msgs,
		Seed:     a.cfg.Seed,
	}
	if usesMaxCompletionTokens(a.cfg.Model) {
		r.MaxCompletionTokens = a.MaxTokens()
	} else {
		r.MaxTokens = a.MaxTokens()
	}
	if t := a.cfg.Temperature; t != nil {
		r.Temperature = float32(*t) // 0 is dropped by omitempty; the recorder puts it back
	}
	if a.cfg.StructuredOutputs {
		r.ResponseFormat = &goopenai.ChatCompletionResponseFormat{
			Type: goopenai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &goopenai.ChatCompletionResponseFormatJSONSchema{
				Name:   "warden_response",
				Schema: a.schema,
				Strict: true,
			},
		}
	} else {
		r.ResponseFormat = &goopenai.ChatCompletionResponseFormat{Type: goopenai.ChatCompletionResponseFormatTypeJSONObject}
	}
	return r
}

// usesMaxCompletionTokens reports the OpenAI reasoning models that refuse
// max_tokens (go-openai checks the same prefixes).
func usesMaxCompletionTokens(model string) bool {
	for _, p := range [...]string{"o1", "o3", "o4", "gpt-5"} {
		if strings.HasPrefix(model, p) {
			return true
		}
	}
	return false
}

// complete makes one chat completion, retrying what may be retried, and
// returns the message content.
func (a *Advisor) complete(ctx context.Context, msgs []goopenai.ChatCompletionMessage, purpose string, rep *advisor.Reply) (string, error) {
	req := a.request(msgs)
	cost := a.callTokens(msgs)
	for try := 0; ; try++ {
		if err := a.checkBudget(ctx, rep, cost); err != nil {
			return "", err
		}
		w := &wire{}
		call := advisor.Call{Attempt: len(rep.Calls) + 1, Purpose: purpose, Started: a.deps.Now()}
		if try > 0 {
			call.Purpose = "retry"
		}
		cctx, cancel := context.WithTimeout(withWire(ctx, w), a.cfg.Timeout)
		t0 := time.Now()
		resp, err := a.client.CreateChatCompletion(cctx, req)
		call.Latency = time.Since(t0)
		cancel()
		call.RequestJSON = a.redactBytes(w.request)
		call.ResponseBody = a.redactBytes(recordedBody(w.response, w.oversize))
		call.HTTPStatus = w.status
		call.RetryAfter = retryAfter(w.header, a.deps.Now())

		var kind advisor.Kind
		retryable := false
		if err == nil {
			call.PromptTokens, call.CompletionTokens, call.TotalTokens = resp.Usage.PromptTokens, resp.Usage.CompletionTokens, resp.Usage.TotalTokens
			if resp.Model != "" {
				rep.Model = resp.Model
			}
			content, kind, msg := a.examine(resp)
			if len(resp.Choices) > 0 {
				call.FinishReason = string(resp.Choices[0].FinishReason)
			}
			if kind == "" {
				rep.Calls = append(rep.Calls, call)
				return content, nil
			}
			call.Err, call.Kind = msg, kind
			rep.Calls = append(rep.Calls, call)
			return "", a.fail(kind, msg, nil)
		}
		kind, retryable = a.classify(ctx, err, w.status)
		if w.oversize {
			kind, retryable = advisor.KindBadResponse, false
		}
		if w.request == nil && kind != advisor.KindCanceled && !deadlineHit(ctx) {
			// The request never left: go-openai refused it (e.g. a
			// parameter the model does not take). Retrying cannot help.
			kind, retryable = advisor.KindBadRequest, false
		}
		call.Err = a.redact(err.Error())
		rep.Calls = append(rep.Calls, call)
		a.deps.Logger.WarnContext(ctx, "model call failed", "attempt", call.Attempt, "status", call.HTTPStatus, "kind", string(kind), "err", call.Err)
		if !retryable || try >= a.cfg.MaxRetries {
			msg := fmt.Sprintf("%d attempt(s), last HTTP status %d", try+1, w.status)
			switch {
			case deadlineHit(ctx):
				msg = fmt.Sprintf("the deadline of %s for one advice ran out after %d call(s)", a.cfg.Deadline, len(rep.Calls))
			case kind == advisor.KindCanceled:
				msg = "context done"
			case w.oversize:
				msg = fmt.Sprintf("response body over %d bytes; not read further", maxBody)
			case kind == advisor.KindQuota:
				msg = "HTTP 429 insufficient_quota: the account's quota (credit or plan) is exhausted; not retried, check the plan and billing"
			}
			return "", a.fail(kind, msg, err)
		}
		delay := a.backoff(try)
		if call.RetryAfter > 0 {
			if call.RetryAfter > a.cfg.MaxRetryAfter {
				return "", a.fail(kind, fmt.Sprintf("server asks to retry after %s (more than %s)", call.RetryAfter, a.cfg.MaxRetryAfter), err)
			}
			delay = max(delay, call.RetryAfter)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return "", a.fail(kind, fmt.Sprintf("the next retry (in %s) would fall after the deadline of %s for one advice; gave up after %d call(s)", delay.Round(time.Millisecond), a.cfg.Deadline, len(rep.Calls)), err)
		}
		if serr := a.deps.Sleep(ctx, delay); serr != nil {
			if deadlineHit(ctx) {
				return "", a.fail(advisor.KindTransport, fmt.Sprintf("the deadline of %s for one advice ran out while waiting to retry", a.cfg.Deadline), err)
			}
			return "", a.fail(advisor.KindCanceled, "context done while waiting to retry", serr)
		}
	}
}

// examine turns a 2xx completion into content or a rejection.
func (a *Advisor) examine(resp goopenai.ChatCompletionResponse) (string, advisor.Kind, string) {
	if len(resp.Choices) == 0 {
		return "", advisor.KindBadResponse, "the completion has no choices"
	}
	ch := resp.Choices[0]
	switch {
	case ch.Message.Refusal != "":
		return "", advisor.KindRefusal, "the model refused: " + ch.Message.Refusal
	case ch.FinishReason == goopenai.FinishReasonLength:
		return "", advisor.KindTruncated, "the output was cut off (finish_reason length)"
	case ch.FinishReason == goopenai.FinishReasonContentFilter:
		return "", advisor.KindRefusal, "the output was withheld by the content filter"
	case ch.FinishReason != goopenai.FinishReasonStop && ch.FinishReason != "":
		return "", advisor.KindBadResponse, fmt.Sprintf("unexpected finish_reason %q", ch.FinishReason)
	}
	return ch.Message.Content, "", ""
}

// deadlineHit reports whether ctx ended at the Advise deadline rather than
// by the caller.
func deadlineHit(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), errDeadline)
}

// recordedBody is what the audit keeps of a response body: the body, or
// for one over MaxRecordedBody (or cut off at maxBody) its first
// RecordedPrefix bytes, its length and its SHA-256, so a cycle with a
// runaway model grows the database by kilobytes, not megabytes.
func recordedBody(b []byte, oversize bool) []byte {
	if len(b) <= MaxRecordedBody && !oversize {
		return b
	}
	sum := sha256.Sum256(b)
	size := fmt.Sprintf("%d bytes", len(b))
	if oversize {
		size = fmt.Sprintf("over %d bytes (read %d)", maxBody, len(b))
	}
	prefix := b[:RecordedPrefix]
	for len(prefix) > 0 && !utf8.RuneStart(b[len(prefix)]) {
		prefix = prefix[:len(prefix)-1]
	}
	return fmt.Appendf(bytes.Clone(prefix), "\n[warden: response body of %s, sha256 %x; only the first %d bytes are recorded]", size, sum, len(prefix))
}

// classify maps a failed attempt to a kind and whether to retry it.
func (a *Advisor) classify(ctx context.Context, err error, status int) (advisor.Kind, bool) {
	if deadlineHit(ctx) {
		return advisor.KindTransport, false
	}
	if ctx.Err() != nil {
		return advisor.KindCanceled, false
	}
	var apiErr *goopenai.APIError
	var reqErr *goopenai.RequestError
	switch {
	case errors.As(err, &apiErr):
		status = apiErr.HTTPStatusCode
	case errors.As(err, &reqErr):
		status = reqErr.HTTPStatusCode
	}
	switch {
	case status == http.StatusTooManyRequests && apiErr != nil && isQuotaError(apiErr):
		// Not a rate limit: the account's quota (credit, plan) is spent,
		// and no retry within this advice's deadline can succeed.
		return advisor.KindQuota, false
	case status == http.StatusTooManyRequests:
		return advisor.KindRateLimited, true
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return advisor.KindAuth, false
	case status == http.StatusRequestTimeout || status >= 500:
		return advisor.KindTransport, true
	case status >= 400:
		return advisor.KindBadRequest, false
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) {
		return advisor.KindTransport, true
	}
	// A 2xx body go-openai could not decode, or a connection error.
	return advisor.KindTransport, true
}

// isQuotaError reports OpenAI's insufficient_quota error (a 429 body
// {"error":{"type":"insufficient_quota","code":"insufficient_quota",...}}).
func isQuotaError(e *goopenai.APIError) bool {
	code, _ := e.Code.(string)
	return code == "insufficient_quota" || e.Type == "insufficient_quota"
}

// backoff is exponential with full jitter in [d/2, d].
func (a *Advisor) backoff(try int) time.Duration {
	d := a.cfg.BackoffBase << min(try, 20)
	if d > a.cfg.BackoffMax || d <= 0 {
		d = a.cfg.BackoffMax
	}
	return d/2 + time.Duration(a.deps.Jitter()*float64(d/2))
}

// MessageOverheadTokens is what a chat message costs beside its content
// (role and separators; OpenAI's own count is 3 to 4 per message and 3
// for the reply's priming), taken at its upper end.
const MessageOverheadTokens = 4

// callTokens is the most one call with msgs is expected to use: the
// prompt estimated at CharsPerToken bytes per token (3: GPT tokenizers
// average about 4 characters per token for English, fewer for JSON and
// numbers, so this rarely underestimates), the structured-output schema
// sent with it, MessageOverheadTokens per message and the reply's, plus
// the max_tokens the completion may use (the schema's largest answer,
// MaxAnswerTokens, when max_tokens is unset).
func (a *Advisor) callTokens(msgs []goopenai.ChatCompletionMessage) int64 {
	chars := len(a.schema)
	for _, m := range msgs {
		chars += len(m.Content)
	}
	prompt := int64((chars+CharsPerToken-1)/CharsPerToken) + int64(MessageOverheadTokens*(len(msgs)+1))
	completion := int64(a.MaxTokens())
	if completion == 0 {
		if n, err := MaxAnswerTokens(); err == nil {
			completion = int64(n)
		}
	}
	return prompt + completion
}

// checkBudget refuses a call that could take the day's tokens (recorded,
// plus this Advise's calls not yet recorded) over the budget: one is made
// only when the tokens used so far plus the call's expected cost (cost,
// see callTokens) are at most the budget, so the budget is never
// overshot by a call Warden knew could overshoot it. An unreadable
// budget fails closed.
func (a *Advisor) checkBudget(ctx context.Context, rep *advisor.Reply, cost int64) error {
	if a.cfg.DailyTokenBudget <= 0 {
		return nil
	}
	now := a.deps.Now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	used, err := a.deps.Budget.TokensUsedSince(ctx, day)
	if err != nil {
		return a.fail(advisor.KindBudgetExhausted, "cannot read today's token usage", err)
	}
	used += rep.TotalTokens()
	if used >= a.cfg.DailyTokenBudget {
		return a.fail(advisor.KindBudgetExhausted, fmt.Sprintf("%d tokens used since %s, budget %d", used, day.Format(time.DateOnly), a.cfg.DailyTokenBudget), nil)
	}
	if used+cost > a.cfg.DailyTokenBudget {
		return a.fail(advisor.KindBudgetExhausted, fmt.Sprintf("%d tokens used since %s; the next call may use up to %d (prompt and max_tokens), %d over the budget %d: not made",
			used, day.Format(time.DateOnly), cost, used+cost-a.cfg.DailyTokenBudget, a.cfg.DailyTokenBudget), nil)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
