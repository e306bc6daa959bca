package metrics

import (
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"
)

// modelCollectors are the reliability and cost figures per model and
// prompt version (issue 16).
type modelCollectors struct {
	calls       *prometheus.CounterVec   // model, prompt, status
	tokens      *prometheus.CounterVec   // model, prompt, kind (prompt, completion)
	latency     *prometheus.HistogramVec // model, prompt
	cost        *prometheus.CounterVec   // model: only for priced models (no series: unknown)
	noConsensus prometheus.Counter
	prices      map[string][2]decimal.Decimal
}

func (m *Metrics) initModel() []prometheus.Collector {
	m.model.calls = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "warden", Name: "model_calls_total",
		Help: "Model calls by model, prompt version and status (ok, refusal, truncated, schema_invalid, bad_response, http_error, transport_error, error)."},
		[]string{"model", "prompt", "status"})
	m.model.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "warden", Name: "model_tokens_total",
		Help: "Tokens by model, prompt version and kind (prompt, completion)."}, []string{"model", "prompt", "kind"})
	m.model.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "warden", Name: "model_latency_seconds",
		Help: "Latency of model calls by model and prompt version.", Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120}},
		[]string{"model", "prompt"})
	m.model.cost = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "warden", Name: "model_cost_quote_total",
		Help: "Cost of model calls in the quote currency, by model; only models with a configured price have a series (no series: unknown, not zero)."},
		[]string{"model"})
	m.model.noConsensus = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "warden", Name: "no_consensus_total",
		Help: "Recommendations held because the consensus members did not agree."})
	return []prometheus.Collector{m.model.calls, m.model.tokens, m.model.latency, m.model.cost, m.model.noConsensus}
}

// SetModelPrice sets a model's price per million prompt and completion
// tokens, in the quote currency; calls from then on add to its cost.
func (m *Metrics) SetModelPrice(model string, inputPerMTok, outputPerMTok decimal.Decimal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.model.prices == nil {
		m.model.prices = map[string][2]decimal.Decimal{}
	}
	m.model.prices[model] = [2]decimal.Decimal{inputPerMTok, outputPerMTok}
}

// ObserveModelCall records one model call under its model and prompt
// version: status, latency, tokens and, for a priced model, cost.
func (m *Metrics) ObserveModelCall(model, prompt, status string, latency time.Duration, promptTokens, completionTokens int) {
	mo, pr := m.label("model", model), m.label("prompt", prompt)
	m.model.calls.WithLabelValues(mo, pr, m.label("status", status)).Inc()
	if latency > 0 {
		m.model.latency.WithLabelValues(mo, pr).Observe(latency.Seconds())
	}
	if promptTokens > 0 {
		m.model.tokens.WithLabelValues(mo, pr, "prompt").Add(float64(promptTokens))
	}
	if completionTokens > 0 {
		m.model.tokens.WithLabelValues(mo, pr, "completion").Add(float64(completionTokens))
	}
	m.mu.Lock()
	p, ok := m.model.prices[model]
	if !ok {
		// A server names a snapshot ("gpt-4o-2024-08-06"); the price is
		// configured for the model ("gpt-4o").
		p, ok = m.model.prices[dateSuffix.ReplaceAllString(model, "")]
	}
	m.mu.Unlock()
	if ok {
		c := decimal.NewFromInt(int64(promptTokens)).Mul(p[0]).Add(decimal.NewFromInt(int64(completionTokens)).Mul(p[1])).Div(decimal.NewFromInt(1_000_000))
		m.model.cost.WithLabelValues(mo).Add(c.InexactFloat64())
	}
}

// ObserveNoConsensus counts one recommendation held for want of consensus.
func (m *Metrics) ObserveNoConsensus() { m.model.noConsensus.Inc() }

// dateSuffix is a model snapshot's date: "-2024-08-06", "-0613", "-20240806".
var dateSuffix = regexp.MustCompile(`-(\d{4}-\d{2}-\d{2}|\d{4}|\d{8})$`)
