package audit

import (
	"maps"
	"slices"

	"github.com/warden-trading/warden/schemas"
	"github.com/warden-trading/warden/schemas/jsonw"
)

// Appender is a record body that writes its own JSON: byte for byte what
// encoding/json writes from its fields with HTML escaping off (each one
// is tested against it), without reflection and without encoding/json's
// second pass over every nested MarshalJSON and RawMessage. marshal uses
// it when a body has it: the run, call, response, verdict, equity and
// run-end records are written at every cycle, and in a backtest at every
// candle. A caller's summary for EndRun may implement it too.
type Appender interface {
	AppendJSON(b []byte) ([]byte, error)
}

// AppendJSON appends the run's JSON to b.
func (r Run) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = jsonw.String(b, r.ID)
	b = append(b, `,"started_at":`...)
	b, err := jsonw.Time(b, r.StartedAt)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"mode":`...)
	b = jsonw.String(b, r.Mode)
	b = append(b, `,"advisor":`...)
	b = jsonw.String(b, r.Advisor)
	if r.Model != "" {
		b = append(b, `,"model":`...)
		b = jsonw.String(b, r.Model)
	}
	b = append(b, `,"policy_hash":`...)
	b = jsonw.String(b, r.PolicyHash)
	if len(r.PromptHashes) > 0 {
		b = append(b, `,"prompt_hashes":{`...)
		for i, k := range slices.Sorted(maps.Keys(r.PromptHashes)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.String(b, k)
			b = append(b, ':')
			b = jsonw.String(b, r.PromptHashes[k])
		}
		b = append(b, '}')
	}
	if len(r.Config) > 0 {
		b = append(b, `,"config":`...)
		if b, err = jsonw.Raw(b, r.Config); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// AppendJSON appends the run end's JSON to b.
func (e RunEnd) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"run_id":`...)
	b = jsonw.String(b, e.RunID)
	b = append(b, `,"ended_at":`...)
	b, err := jsonw.Time(b, e.EndedAt)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"status":`...)
	b = jsonw.String(b, e.Status)
	if len(e.Summary) > 0 {
		b = append(b, `,"summary":`...)
		if b, err = jsonw.Raw(b, e.Summary); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// AppendJSON appends the call's JSON to b.
func (c LLMCall) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"run_id":`...)
	b = jsonw.String(b, c.RunID)
	b = append(b, `,"attempt":`...)
	b = jsonw.Int(b, int64(c.Attempt))
	b = append(b, `,"at":`...)
	b, err := jsonw.Time(b, c.At)
	if err != nil {
		return nil, err
	}
	if !c.SentAt.IsZero() {
		b = append(b, `,"sent_at":`...)
		if b, err = jsonw.Time(b, c.SentAt); err != nil {
			return nil, err
		}
	}
	for _, f := range [...]struct{ key, v string }{{`,"advisor":`, c.Advisor}, {`,"model":`, c.Model}, {`,"base_url":`, c.BaseURL}, {`,"prompt_hash":`, c.PromptHash}, {`,"request":`, c.Request}} {
		b = append(b, f.key...)
		b = jsonw.String(b, f.v)
	}
	if len(c.RequestParts) > 0 {
		b = append(b, `,"request_parts":[`...)
		for i, p := range c.RequestParts {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			if p.Text != "" {
				b = append(b, `"text":`...)
				b = jsonw.String(b, p.Text)
			}
			if p.Blob != "" {
				if p.Text != "" {
					b = append(b, ',')
				}
				b = append(b, `"blob":`...)
				b = jsonw.String(b, p.Blob)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"response":`...)
	b = jsonw.String(b, c.Response)
	if c.ResponseBlob != "" {
		b = append(b, `,"response_blob":`...)
		b = jsonw.String(b, c.ResponseBlob)
	}
	b = append(b, `,"http_status":`...)
	b = jsonw.Int(b, int64(c.HTTPStatus))
	b = append(b, `,"status":`...)
	b = jsonw.String(b, c.Status)
	for _, f := range [...]struct {
		key string
		v   int64
	}{{`,"latency_ns":`, int64(c.Latency)}, {`,"prompt_tokens":`, c.PromptTokens}, {`,"completion_tokens":`, c.CompletionTokens}, {`,"total_tokens":`, c.TotalTokens}} {
		b = append(b, f.key...)
		b = jsonw.Int(b, f.v)
	}
	for _, f := range [...]struct{ key, v string }{{`,"finish_reason":`, c.FinishReason}, {`,"error":`, c.Error}, {`,"purpose":`, c.Purpose}, {`,"kind":`, c.Kind}} {
		if f.v != "" {
			b = append(b, f.key...)
			b = jsonw.String(b, f.v)
		}
	}
	return append(b, '}'), nil
}

// AppendJSON appends the response record's JSON to b.
func (r ResponseRecord) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"run_id":`...)
	b = jsonw.String(b, r.RunID)
	b = append(b, `,"at":`...)
	b, err := jsonw.Time(b, r.At)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"valid":`...)
	b = jsonw.Bool(b, r.Valid)
	b = append(b, `,"raw":`...)
	b = jsonw.String(b, r.Raw)
	if r.RawBlob != "" {
		b = append(b, `,"raw_blob":`...)
		b = jsonw.String(b, r.RawBlob)
	}
	b = append(b, `,"parsed":`...)
	if r.Parsed == nil {
		b = append(b, "null"...)
	} else {
		b = r.Parsed.AppendJSON(b)
	}
	if len(r.SchemaErrors) > 0 {
		b = append(b, `,"schema_errors":`...)
		b = schemas.AppendViolationsJSON(b, r.SchemaErrors)
	}
	return append(b, '}'), nil
}

// AppendJSON appends the verdict record's JSON to b. Its recommendation
// and verdict were written by their own encoders (compact JSON) and are
// appended as they are.
func (v verdictRecord) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"decision_id":`...)
	b = jsonw.String(b, v.DecisionID)
	b = append(b, `,"run_id":`...)
	b = jsonw.String(b, v.RunID)
	b = append(b, `,"at":`...)
	b, err := jsonw.Time(b, v.At)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"policy_hash":`...)
	b = jsonw.String(b, v.PolicyHash)
	if v.Advisor != "" {
		b = append(b, `,"advisor":`...)
		b = jsonw.String(b, v.Advisor)
	}
	if v.Model != "" {
		b = append(b, `,"model":`...)
		b = jsonw.String(b, v.Model)
	}
	if len(v.Recommendation) > 0 {
		b = append(b, `,"recommendation":`...)
		b = append(b, v.Recommendation...)
	}
	b = append(b, `,"verdict":`...)
	if len(v.Verdict) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, v.Verdict...)
	}
	return append(b, '}'), nil
}

// AppendJSON appends the equity record's JSON to b.
func (e equityBody) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"at":`...)
	b, err := jsonw.Time(b, e.At)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"equity":`...)
	b = jsonw.QuotedDecimal(b, e.Equity)
	b = append(b, `,"peak":`...)
	b = jsonw.QuotedDecimal(b, e.Peak)
	return append(b, '}'), nil
}

// lazyBody gives r the body of v. A store that commits in the background
// (queueAll: a backtest's) leaves the encoding to its writer goroutine,
// which encodes into a buffer it reuses: the decisions go on meanwhile,
// and no body is allocated. Elsewhere the body is encoded now, so an
// encoding error is the caller's. v must be a value nothing changes once
// recorded (strings, numbers, times, slices and maps made for the record).
func (s *Store) lazyBody(r *record, v Appender) error {
	if s.queueAll {
		r.encode = v.AppendJSON
		return nil
	}
	b, err := marshal(v)
	r.body = b
	return err
}
