// Package metrics exposes Warden's health to Prometheus: account equity,
// day PnL, exposure and drawdown; kill switch, safe mode and circuit
// breakers; decisions by outcome and by rule; LLM latency, tokens and
// errors; order errors.
//
// Every Metrics has its own registry: nothing is registered globally and
// nothing happens at package init. The endpoint is off unless the caller
// runs Serve, and Serve binds to loopback unless explicitly allowed not to.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/shopspring/decimal"
	"github.com/warden-trading/warden/schemas"
)

// Path is where Serve answers scrapes.
const Path = "/metrics"

// maxLabelValues bounds each label's distinct values; later newcomers are
// counted under "other", so a misbehaving caller cannot blow up the series
// count.
const maxLabelValues = 200

// Metrics holds Warden's collectors and their registry. Its methods are safe
// for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	equity      prometheus.Gauge
	dayPnLPct   prometheus.Gauge
	exposure    prometheus.Gauge
	drawdownPct prometheus.Gauge
	killSwitch  prometheus.Gauge
	safeMode    prometheus.Gauge
	breakers    *prometheus.GaugeVec

	decisions  *prometheus.CounterVec
	violations *prometheus.CounterVec
	warnings   *prometheus.CounterVec

	llmRequests prometheus.Counter
	llmErrors   prometheus.Counter
	llmTokens   prometheus.Counter
	llmLatency  prometheus.Histogram

	orderErrors *prometheus.CounterVec

	model modelCollectors // per model and prompt version (model.go)

	mu     sync.Mutex
	labels map[string]map[string]bool // label name -> values seen
	// breakerUntil is when each breaker's last trip's cool-down ends.
	breakerUntil map[string]time.Time
}

// New returns Metrics registered in a registry of their own, together with
// the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg:          prometheus.NewRegistry(),
		labels:       map[string]map[string]bool{},
		breakerUntil: map[string]time.Time{},
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "warden", Name: name, Help: help})
	}
	m.equity = gauge("equity_quote", "Account equity in the quote currency.")
	m.dayPnLPct = gauge("day_pnl_percent", "Profit or loss since the start of the day, in percent of the day's starting equity.")
	m.exposure = gauge("exposure_quote", "Market value of open positions in the quote currency.")
	m.drawdownPct = gauge("drawdown_percent", "Drawdown from peak equity, in percent.")
	m.killSwitch = gauge("kill_switch", "1 when the kill switch is engaged.")
	m.safeMode = gauge("safe_mode", "1 when safe mode is on.")
	m.breakers = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "warden", Name: "breaker_tripped",
		Help: "1 while the named circuit breaker's trip holds (its cool-down, unless an operator resumed first)."}, []string{"breaker"})

	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "warden", Name: "decisions_total",
		Help: "Validator decisions by outcome (approved, rejected, no_action)."}, []string{"outcome"})
	m.violations = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "warden", Name: "rule_violations_total",
		Help: "Violated rules in rejected decisions, by rule and source (schema, sizing, policy, limit)."}, []string{"rule", "source"})
	m.warnings = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "warden", Name: "rule_warnings_total",
		Help: "Failed warn-mode rules, by rule."}, []string{"rule"})

	m.llmRequests = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "warden", Name: "llm_requests_total",
		Help: "Calls to the advisor's language model."})
	m.llmErrors = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "warden", Name: "llm_errors_total",
		Help: "Calls to the language model that failed."})
	m.llmTokens = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "warden", Name: "llm_tokens_total",
		Help: "Tokens used by the language model (prompt and completion)."})
	m.llmLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "warden", Name: "llm_latency_seconds",
		Help:    "Latency of calls to the language model.",
		Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120}})

	m.orderErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "warden", Name: "order_errors_total",
		Help: "Order errors by kind."}, []string{"kind"})

	m.reg.MustRegister(
		m.equity, m.dayPnLPct, m.exposure, m.drawdownPct, m.killSwitch, m.safeMode, m.breakers,
		m.decisions, m.violations, m.warnings,
		m.llmRequests, m.llmErrors, m.llmTokens, m.llmLatency,
		m.orderErrors,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.reg.MustRegister(m.initModel()...)
	// Known outcomes start at zero, so rates work from the first scrape.
	for _, o := range []schemas.Decision{schemas.DecisionApproved, schemas.DecisionRejected, schemas.DecisionNoAction} {
		m.decisions.WithLabelValues(string(o))
	}
	return m
}

// Registry is the registry the metrics live in, for callers adding their
// own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// label returns v for use as a value of label name: trimmed, at most 64
// bytes, "" as "none", and "other" once the label has maxLabelValues
// distinct values.
func (m *Metrics) label(name, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		v = "none"
	}
	if len(v) > 64 {
		v = v[:64]
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := m.labels[name]
	if seen == nil {
		seen = map[string]bool{}
		m.labels[name] = seen
	}
	if !seen[v] {
		if len(seen) >= maxLabelValues {
			return "other"
		}
		seen[v] = true
	}
	return v
}

// ObserveDecision counts a validator verdict by outcome, and each of its
// violated and warned rules.
func (m *Metrics) ObserveDecision(v schemas.Verdict) {
	m.decisions.WithLabelValues(m.label("outcome", string(v.Decision))).Inc()
	for _, x := range v.Violations {
		m.violations.WithLabelValues(m.label("rule", x.Rule), m.label("source", x.Source)).Inc()
	}
	for _, x := range v.Warnings {
		m.warnings.WithLabelValues(m.label("rule", x.Rule)).Inc()
	}
}

// ObserveLLMCall records one call to the language model: its latency, the
// tokens it used and whether it failed.
func (m *Metrics) ObserveLLMCall(latency time.Duration, tokens int, err error) {
	m.llmRequests.Inc()
	if latency >= 0 {
		m.llmLatency.Observe(latency.Seconds())
	}
	if tokens > 0 {
		m.llmTokens.Add(float64(tokens))
	}
	if err != nil {
		m.llmErrors.Inc()
	}
}

// SetAccount sets the account gauges: equity and exposure in the quote
// currency, day PnL and drawdown in percent. Gauges are floats; the
// decimals are converted only here, for display.
func (m *Metrics) SetAccount(equity, dayPnLPct, exposure, drawdownPct decimal.Decimal) {
	m.equity.Set(equity.InexactFloat64())
	m.dayPnLPct.Set(dayPnLPct.InexactFloat64())
	m.exposure.Set(exposure.InexactFloat64())
	m.drawdownPct.Set(drawdownPct.InexactFloat64())
}

// SetBreakers sets the kill switch and safe mode gauges.
func (m *Metrics) SetBreakers(killSwitch, safeMode bool) {
	m.killSwitch.Set(b2f(killSwitch))
	m.safeMode.Set(b2f(safeMode))
}

// KnownBreakers starts each named circuit breaker's series at 0, so an
// alert on it works before its first trip.
func (m *Metrics) KnownBreakers(names ...string) {
	for _, n := range names {
		m.breakers.WithLabelValues(m.label("breaker", n))
	}
}

// BreakerTripped marks the named breaker tripped until its cool-down ends.
func (m *Metrics) BreakerTripped(name string, until time.Time) {
	m.mu.Lock()
	if until.After(m.breakerUntil[name]) {
		m.breakerUntil[name] = until
	}
	m.mu.Unlock()
	m.breakers.WithLabelValues(m.label("breaker", name)).Set(1)
}

// BreakersAt sets every breaker's gauge for a cycle at now: 1 while its
// trip's cool-down holds, 0 after; all 0 when the cycle runs at the active
// level (an operator's resume ends every raise before its cool-down).
func (m *Metrics) BreakersAt(now time.Time, active bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, until := range m.breakerUntil {
		tripped := !active && now.Before(until)
		if !tripped {
			delete(m.breakerUntil, name)
		}
		m.breakers.WithLabelValues(name).Set(b2f(tripped))
	}
}

// KnownOrderErrors starts each named order error kind's counter at 0, so a
// rate over it works before the first error.
func (m *Metrics) KnownOrderErrors(kinds ...string) {
	for _, k := range kinds {
		m.orderErrors.WithLabelValues(m.label("kind", k))
	}
}

// OrderError counts an order error of the given kind (the executor's error
// kind: "network", "rejected", "unknown_outcome", ...).
func (m *Metrics) OrderError(kind string) {
	m.orderErrors.WithLabelValues(m.label("kind", kind)).Inc()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// ErrNotLoopback is returned for a listen address that is not loopback
// when non-loopback addresses are not allowed.
var ErrNotLoopback = errors.New("metrics: refusing to listen on a non-loopback address (allow it explicitly)")

// CheckAddr reports whether addr ("host:port") may be listened on: a
// loopback IP or "localhost", or anything when allowNonLoopback. An empty
// host (all interfaces) is not loopback.
func CheckAddr(addr string, allowNonLoopback bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("metrics: listen address %q: %w", addr, err)
	}
	if port == "" {
		return fmt.Errorf("metrics: listen address %q has no port", addr)
	}
	if allowNonLoopback {
		return nil
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %q", ErrNotLoopback, addr)
	}
	return nil
}

// Listen opens the metrics listener on addr after CheckAddr.
func (m *Metrics) Listen(addr string, allowNonLoopback bool) (net.Listener, error) {
	if err := CheckAddr(addr, allowNonLoopback); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return ln, nil
}

// Serve listens on addr (see CheckAddr) and serves Path until ctx ends,
// then shuts the server down. Call it only when metrics are configured.
func (m *Metrics) Serve(ctx context.Context, addr string, allowNonLoopback bool) error {
	ln, err := m.Listen(addr, allowNonLoopback)
	if err != nil {
		return err
	}
	return m.ServeListener(ctx, ln)
}

// ServeListener serves Path on ln until ctx ends, then shuts down and
// returns nil; it returns the server's error if serving fails first. It
// closes ln.
func (m *Metrics) ServeListener(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle(Path, m.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve: %w", err)
	}
	return nil
}
