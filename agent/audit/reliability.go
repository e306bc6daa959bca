package audit

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Price is a model's price per million tokens, in the quote currency
// (advisor.openai.price).
type Price struct {
	InputPerMTok  decimal.Decimal `json:"input_per_mtok"`
	OutputPerMTok decimal.Decimal `json:"output_per_mtok"`
}

// Cost is the price of the given token counts.
func (p Price) Cost(prompt, completion int64) decimal.Decimal {
	m := decimal.NewFromInt(1_000_000)
	return decimal.NewFromInt(prompt).Mul(p.InputPerMTok).Add(decimal.NewFromInt(completion).Mul(p.OutputPerMTok)).Div(m)
}

// Reliability is how one model did under one prompt version in a window
// of the audit log: what its calls came to, how fast, how many tokens and
// at what cost.
type Reliability struct {
	Model string `json:"model"`
	// Prompt is the prompt version: the short hashes of the system and
	// user templates the calls were rendered from.
	Prompt string `json:"prompt"`
	// Advisors are the advisors that made the calls ("openai",
	// "consensus/fast", ...).
	Advisors []string `json:"advisors"`
	Calls    int      `json:"calls"`
	OK       int      `json:"ok"`
	// Refusals, Truncations, SchemaFailures (answers that were not
	// schema-valid, repaired later or not) and BadResponses are invalid
	// output; Errors are the rest of the failed calls (transport, HTTP).
	Refusals       int `json:"refusals"`
	Truncations    int `json:"truncations"`
	SchemaFailures int `json:"schema_failures"`
	BadResponses   int `json:"bad_responses"`
	Errors         int `json:"errors"`
	// Repairs is how many calls were repair turns.
	Repairs int `json:"repairs"`
	// Runs is how many runs the model was asked in; NoConsensus how many
	// of them ended with a "no consensus" hold for some symbol.
	Runs        int `json:"runs"`
	NoConsensus int `json:"no_consensus"`
	// Latency percentiles of the calls that reached the network.
	LatencyP50       time.Duration `json:"latency_p50_ns"`
	LatencyP90       time.Duration `json:"latency_p90_ns"`
	LatencyP99       time.Duration `json:"latency_p99_ns"`
	PromptTokens     int64         `json:"prompt_tokens"`
	CompletionTokens int64         `json:"completion_tokens"`
	// Cost in the quote currency; nil when no price is configured for
	// the model: unknown, never zero.
	Cost *decimal.Decimal `json:"cost"`
}

// InvalidRate is the share of calls with invalid output (refusal,
// truncation, schema failure, bad response), in percent.
func (r Reliability) InvalidRate() decimal.Decimal {
	if r.Calls == 0 {
		return decimal.Zero
	}
	return decimal.NewFromInt(int64(r.Invalid() * 100)).Div(decimal.NewFromInt(int64(r.Calls))).Round(1)
}

// Invalid counts the calls with invalid output.
func (r Reliability) Invalid() int {
	return r.Refusals + r.Truncations + r.SchemaFailures + r.BadResponses
}

// NoConsensusRate is NoConsensus over Runs, in percent.
func (r Reliability) NoConsensusRate() decimal.Decimal {
	if r.Runs == 0 {
		return decimal.Zero
	}
	return decimal.NewFromInt(int64(r.NoConsensus * 100)).Div(decimal.NewFromInt(int64(r.Runs))).Round(1)
}

// CostText is the cost, or "unknown" without a price.
func (r Reliability) CostText() string {
	if r.Cost == nil {
		return "unknown"
	}
	return r.Cost.StringFixed(4)
}

// invalidStatus reports whether a call's status or kind is invalid output.
// InvalidOutput says whether a model call with this status and kind (as
// LLMCall records them) had invalid output, as RecentInvalidOutput counts
// it.
func InvalidOutput(status, kind string) bool { return invalidStatus(status, kind) }

func invalidStatus(status, kind string) bool {
	switch status {
	case "refusal", "truncated", "schema_invalid", "bad_response":
		return true
	}
	switch kind {
	case "refusal", "truncated", "schema_invalid_after_repair", "bad_response":
		return true
	}
	return false
}

// Reliability reads the model calls in [from, to) (zero: unbounded) and
// returns the figures per model and prompt version, most calls first.
// prices maps a model name to its price; a model missing from it has an
// unknown cost.
func (s *Store) Reliability(ctx context.Context, from, to time.Time, prices map[string]Price) ([]Reliability, error) {
	// Calls are taken by the run they belong to (runs started in the
	// window), as the review counts them: a call's own time is the wall
	// clock's, a run's may be a replay's.
	runs, args := boundedKind(`SELECT run_id FROM records WHERE kind = 'run'`, from, to)
	q := `SELECT run_id, COALESCE(ref, ''), COALESCE(state, ''),
		COALESCE(json_extract(body, '$.model'), ''), COALESCE(json_extract(body, '$.prompt_hash'), ''),
		COALESCE(json_extract(body, '$.latency_ns'), 0), COALESCE(json_extract(body, '$.http_status'), 0),
		COALESCE(json_extract(body, '$.prompt_tokens'), 0), COALESCE(json_extract(body, '$.completion_tokens'), 0),
		COALESCE(json_extract(body, '$.purpose'), ''), COALESCE(json_extract(body, '$.kind'), '')
		FROM records WHERE kind = 'llm_call' AND run_id IN (` + runs + `)`
	rows, err := s.query(ctx, q+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: reliability: %w", err)
	}
	type acc struct {
		r        Reliability
		lat      []time.Duration
		runs     map[string]bool
		advisors map[string]bool
	}
	byKey := map[string]*acc{}
	var order []string
	for rows.Next() {
		var (
			runID, adv, status, model, ph, purpose, kind string
			latency                                      int64
			httpStatus                                   int
			pt, ct                                       int64
		)
		if err := rows.Scan(&runID, &adv, &status, &model, &ph, &latency, &httpStatus, &pt, &ct, &purpose, &kind); err != nil {
			rows.Close()
			return nil, fmt.Errorf("audit: reliability: %w", err)
		}
		if model == "" {
			model = "-"
		}
		prompt := shortPrompt(ph)
		key := model + "\x00" + prompt
		a := byKey[key]
		if a == nil {
			a = &acc{r: Reliability{Model: model, Prompt: prompt}, runs: map[string]bool{}, advisors: map[string]bool{}}
			byKey[key] = a
			order = append(order, key)
		}
		a.r.Calls++
		a.runs[runID] = true
		a.advisors[adv] = true
		switch {
		case status == "refusal" || kind == "refusal":
			a.r.Refusals++
		case status == "truncated" || kind == "truncated":
			a.r.Truncations++
		case status == "schema_invalid" || kind == "schema_invalid_after_repair":
			a.r.SchemaFailures++
		case status == "bad_response" || kind == "bad_response":
			a.r.BadResponses++
		case status == "ok":
			a.r.OK++
		default:
			a.r.Errors++
		}
		if purpose == "repair" {
			a.r.Repairs++
		}
		if latency > 0 {
			a.lat = append(a.lat, time.Duration(latency))
		}
		a.r.PromptTokens += pt
		a.r.CompletionTokens += ct
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("audit: reliability: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: reliability: %w", err)
	}
	nc, err := s.noConsensusRuns(ctx, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]Reliability, 0, len(order))
	for _, k := range order {
		a := byKey[k]
		r := a.r
		r.Runs = len(a.runs)
		for id := range a.runs {
			if nc[id] {
				r.NoConsensus++
			}
		}
		for adv := range a.advisors {
			r.Advisors = append(r.Advisors, adv)
		}
		sort.Strings(r.Advisors)
		sort.Slice(a.lat, func(i, j int) bool { return a.lat[i] < a.lat[j] })
		r.LatencyP50, r.LatencyP90, r.LatencyP99 = percentile(a.lat, 50), percentile(a.lat, 90), percentile(a.lat, 99)
		if p, ok := PriceFor(prices, r.Model); ok {
			c := p.Cost(r.PromptTokens, r.CompletionTokens)
			r.Cost = &c
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Calls > out[j].Calls })
	return out, nil
}

// noConsensusRuns are the runs in [from, to) whose response holds a
// symbol with the reason "no consensus: ...".
func (s *Store) noConsensusRuns(ctx context.Context, from, to time.Time) (map[string]bool, error) {
	runs, args := boundedKind(`SELECT run_id FROM records WHERE kind = 'run'`, from, to)
	q := `SELECT DISTINCT r.run_id FROM records r, json_each(r.body, '$.parsed.recommendations') j
		WHERE r.kind = 'response' AND r.run_id IN (` + runs + `) AND json_extract(j.value, '$.reason') LIKE 'no consensus:%'`
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: reliability: no-consensus runs: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("audit: reliability: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// RecentInvalidOutput counts, over the last n model calls on record (any
// process), how many had invalid output: a refusal, truncated output, an
// answer that was not schema-valid, a bad response. Transport and HTTP
// errors are not invalid output (the error-spike breaker sees those).
func (s *Store) RecentInvalidOutput(ctx context.Context, n int) (calls, invalid int, err error) {
	// The calls still queued (a batched backtest) are taken from memory
	// and the committed ones read without committing the queue: this is
	// asked at every cycle, and committing there made every batch one
	// cycle long. The write lock keeps the two views apart.
	err = s.lockWriter()
	defer s.wmu.Unlock()
	if err != nil {
		return 0, 0, err
	}
	var all []recentCall
	// The committed calls read last time serve again while no call was
	// committed since (the newest call's seq is an index lookup; the list
	// decodes every call's body).
	var newest int64
	if err := s.queryRowCommitted(ctx, `SELECT COALESCE(MAX(seq), 0) FROM records WHERE kind = 'llm_call'`).Scan(&newest); err != nil {
		return 0, 0, fmt.Errorf("audit: recent invalid output: %w", err)
	}
	if m := s.recentCalls; m != nil && m.newest == newest && m.n == n {
		all = append(all, m.calls...)
	} else {
		rows, err := s.queryCommitted(ctx, `SELECT at, seq, COALESCE(state, ''), COALESCE(json_extract(body, '$.kind'), '')
		FROM records WHERE kind = 'llm_call' ORDER BY at DESC, seq DESC LIMIT ?`, n)
		if err != nil {
			return 0, 0, fmt.Errorf("audit: recent invalid output: %w", err)
		}
		defer rows.Close()
		memo := &recentCalls{newest: newest, n: n}
		for rows.Next() {
			var c recentCall
			if err := rows.Scan(&c.at, &c.seq, &c.status, &c.kind); err != nil {
				return 0, 0, fmt.Errorf("audit: recent invalid output: %w", err)
			}
			all = append(all, c)
			memo.calls = append(memo.calls, c)
		}
		if err := rows.Err(); err != nil {
			return 0, 0, fmt.Errorf("audit: recent invalid output: %w", err)
		}
		s.recentCalls = memo
	}
	for i, p := range s.pendCall {
		all = append(all, recentCall{at: p.at, seq: 1<<62 + int64(i), status: p.status, kind: p.kind}) // after every committed record
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].at != all[j].at {
			return all[i].at > all[j].at
		}
		return all[i].seq > all[j].seq
	})
	if n >= 0 && len(all) > n {
		all = all[:n]
	}
	for _, c := range all {
		calls++
		if invalidStatus(c.status, c.kind) {
			invalid++
		}
	}
	return calls, invalid, nil
}

// recentCalls are the committed calls RecentInvalidOutput read last: the
// newest call's seq then, the limit, and the calls.
type recentCalls struct {
	newest int64
	n      int
	calls  []recentCall
}

// recentCall is one model call as the invalid-output breaker counts it.
type recentCall struct {
	at, seq      int64
	status, kind string
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// Nearest rank.
	i := (p*len(sorted) + 99) / 100
	if i < 1 {
		i = 1
	}
	return sorted[i-1]
}

// shortPrompt turns "sysHash:userHash" into 8+8 hex digits.
func shortPrompt(ph string) string {
	sys, user, _ := strings.Cut(ph, ":")
	if len(sys) > 8 {
		sys = sys[:8]
	}
	if len(user) > 8 {
		user = user[:8]
	}
	if sys == "" && user == "" {
		return "-"
	}
	return sys + ":" + user
}

// dateSuffix is a model snapshot's date: "-2024-08-06", "-0613", "-20240806".
var dateSuffix = regexp.MustCompile(`-(\d{4}-\d{2}-\d{2}|\d{4}|\d{8})$`)

// PriceFor finds the price of a model as a server names it: by its name,
// or by the name without a snapshot date ("gpt-4o-2024-08-06" is priced
// as "gpt-4o"), as a configuration names models.
func PriceFor(prices map[string]Price, model string) (Price, bool) {
	if p, ok := prices[model]; ok {
		return p, true
	}
	if base := dateSuffix.ReplaceAllString(model, ""); base != model {
		p, ok := prices[base]
		return p, ok
	}
	return Price{}, false
}
