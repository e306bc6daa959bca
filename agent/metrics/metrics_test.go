package metrics

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/warden-trading/warden/schemas"
)

// scrape fetches the handler's exposition and returns series -> value.
func scrape(t *testing.T, h http.Handler) map[string]string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: HTTP %d", resp.StatusCode)
	}
	return parse(t, resp.Body)
}

func parse(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSeriesValues(t *testing.T) {
	m := New()
	m.SetAccount(decimal.RequireFromString("10250.5"), decimal.RequireFromString("-1.25"),
		decimal.RequireFromString("3000"), decimal.RequireFromString("4.5"))
	m.SetBreakers(true, false)
	m.KnownBreakers("volatility_shock", "data_gap")
	m.BreakerTripped("volatility_shock", time.Now().Add(time.Hour))
	m.ObserveDecision(schemas.Verdict{Decision: schemas.DecisionApproved,
		Warnings: []schemas.Violation{{Rule: "wide_spread", Source: schemas.SourcePolicy}}})
	m.ObserveDecision(schemas.Verdict{Decision: schemas.DecisionRejected, Violations: []schemas.Violation{
		{Rule: "max_notional", Source: schemas.SourceLimit},
		{Rule: "min_confidence", Source: schemas.SourcePolicy},
	}})
	m.ObserveDecision(schemas.Verdict{Decision: schemas.DecisionRejected, Violations: []schemas.Violation{
		{Rule: "max_notional", Source: schemas.SourceLimit},
	}})
	m.ObserveLLMCall(1500*time.Millisecond, 1200, nil)
	m.ObserveLLMCall(30*time.Second, 0, errors.New("timeout"))
	m.OrderError("network")
	m.OrderError("network")
	m.OrderError("rejected")

	got := scrape(t, m.Handler())
	want := map[string]string{
		"warden_equity_quote":                                                 "10250.5",
		"warden_day_pnl_percent":                                              "-1.25",
		"warden_exposure_quote":                                               "3000",
		"warden_drawdown_percent":                                             "4.5",
		"warden_kill_switch":                                                  "1",
		"warden_safe_mode":                                                    "0",
		`warden_breaker_tripped{breaker="volatility_shock"}`:                  "1",
		`warden_breaker_tripped{breaker="data_gap"}`:                          "0",
		`warden_decisions_total{outcome="approved"}`:                          "1",
		`warden_decisions_total{outcome="rejected"}`:                          "2",
		`warden_decisions_total{outcome="no_action"}`:                         "0",
		`warden_rule_violations_total{rule="max_notional",source="limit"}`:    "2",
		`warden_rule_violations_total{rule="min_confidence",source="policy"}`: "1",
		`warden_rule_warnings_total{rule="wide_spread"}`:                      "1",
		"warden_llm_requests_total":                                           "2",
		"warden_llm_errors_total":                                             "1",
		"warden_llm_tokens_total":                                             "1200",
		"warden_llm_latency_seconds_count":                                    "2",
		"warden_llm_latency_seconds_sum":                                      "31.5",
		`warden_llm_latency_seconds_bucket{le="2"}`:                           "1",
		`warden_llm_latency_seconds_bucket{le="30"}`:                          "2",
		`warden_order_errors_total{kind="network"}`:                           "2",
		`warden_order_errors_total{kind="rejected"}`:                          "1",
	}
	for series, v := range want {
		if got[series] != v {
			t.Errorf("series %s = %q; want %q", series, got[series], v)
		}
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Errorf("no Go runtime series in the scrape")
	}
}

// TestBreakerGauge: a breaker's series exists at 0 before any trip, is 1
// from its trip until its cool-down ends (1 at the last instant before,
// 0 at the end), and 0 at once when a cycle runs at the active level (an
// operator resumed).
func TestBreakerGauge(t *testing.T) {
	m := New()
	m.KnownBreakers("data_gap", "drift")
	gauge := func(name string) string {
		t.Helper()
		return scrape(t, m.Handler())[`warden_breaker_tripped{breaker="`+name+`"}`]
	}
	if g, d := gauge("data_gap"), gauge("drift"); g != "0" || d != "0" {
		t.Fatalf("before any trip: data_gap %q, drift %q; want both 0", g, d)
	}
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	until := t0.Add(4 * time.Hour)
	m.BreakerTripped("data_gap", until)
	if g := gauge("data_gap"); g != "1" {
		t.Fatalf("at the trip: %q; want 1", g)
	}
	m.BreakersAt(until.Add(-time.Nanosecond), false)
	if g, d := gauge("data_gap"), gauge("drift"); g != "1" || d != "0" {
		t.Fatalf("one nanosecond before the cool-down ends: data_gap %q, drift %q; want 1, 0", g, d)
	}
	m.BreakersAt(until, false)
	if g := gauge("data_gap"); g != "0" {
		t.Fatalf("when the cool-down ends: %q; want 0", g)
	}
	m.BreakerTripped("drift", until)
	m.BreakersAt(t0.Add(time.Minute), true)
	if d := gauge("drift"); d != "0" {
		t.Fatalf("a cycle at the active level (resumed) inside the cool-down: %q; want 0", d)
	}
}

func TestRegistriesAreIndependent(t *testing.T) {
	a, b := New(), New() // two New calls must not collide (no global registry)
	a.OrderError("network")
	if got := scrape(t, b.Handler())[`warden_order_errors_total{kind="network"}`]; got != "" {
		t.Errorf("second Metrics sees the first's series: %q", got)
	}
}

func TestLabelCardinalityBounded(t *testing.T) {
	m := New()
	for i := range maxLabelValues + 50 {
		m.OrderError(strings.Repeat("k", i%70) + string(rune('a'+i%26)) + strings.Repeat("x", i/26))
	}
	got := scrape(t, m.Handler())
	n := 0
	for s := range got {
		if strings.HasPrefix(s, "warden_order_errors_total{") {
			n++
		}
	}
	if n > maxLabelValues+1 {
		t.Errorf("%d order error series; want at most %d", n, maxLabelValues+1)
	}
	if got[`warden_order_errors_total{kind="other"}`] == "" {
		t.Errorf("no \"other\" series after %d distinct kinds", maxLabelValues+50)
	}
}

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr  string
		allow bool
		ok    bool
	}{
		{"127.0.0.1:9100", false, true},
		{"[::1]:9100", false, true},
		{"localhost:9100", false, true},
		{"127.0.0.2:9100", false, true},
		{":9100", false, false},
		{"0.0.0.0:9100", false, false},
		{"[::]:9100", false, false},
		{"10.0.0.5:9100", false, false},
		{"metrics.example.com:9100", false, false},
		{"0.0.0.0:9100", true, true},
		{"9100", false, false},
		{"127.0.0.1:", false, false},
	}
	for _, tt := range tests {
		err := CheckAddr(tt.addr, tt.allow)
		if (err == nil) != tt.ok {
			t.Errorf("CheckAddr(%q, %v) = %v; want ok %v", tt.addr, tt.allow, err, tt.ok)
		}
	}
	if err := CheckAddr("0.0.0.0:9100", false); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("CheckAddr(0.0.0.0) = %v; want ErrNotLoopback", err)
	}
}

func TestServeRefusesNonLoopback(t *testing.T) {
	err := New().Serve(context.Background(), "0.0.0.0:0", false)
	if !errors.Is(err, ErrNotLoopback) {
		t.Errorf("Serve(0.0.0.0:0) = %v; want ErrNotLoopback", err)
	}
}

func TestServeAndShutdown(t *testing.T) {
	m := New()
	m.SetBreakers(false, true)
	ln, err := m.Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.ServeListener(ctx, ln) }()

	url := "http://" + ln.Addr().String()
	resp, err := http.Get(url + Path)
	if err != nil {
		t.Fatal(err)
	}
	got := parse(t, resp.Body)
	resp.Body.Close()
	if got["warden_safe_mode"] != "1" {
		t.Errorf("warden_safe_mode = %q; want 1", got["warden_safe_mode"])
	}
	if resp, err := http.Get(url + "/debug/pprof/"); err == nil {
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /debug/pprof/ = %d; want 404 (only %s is served)", resp.StatusCode, Path)
		}
		resp.Body.Close()
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener() = %v; want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeListener did not return after cancel")
	}
	if _, err := http.Get(url + Path); err == nil {
		t.Errorf("server still answers after shutdown")
	}
}

func TestModelMetrics(t *testing.T) {
	m := New()
	m.SetModelPrice("gpt-x", decimal.RequireFromString("2.5"), decimal.RequireFromString("10"))
	m.ObserveModelCall("gpt-x", "aaaa:bbbb", "ok", 1500*time.Millisecond, 1000, 100)
	m.ObserveModelCall("gpt-y", "aaaa:bbbb", "refusal", time.Second, 10, 0)
	m.ObserveNoConsensus()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", Path, nil))
	body := rec.Body.String()
	for _, want := range []string{
		`warden_model_calls_total{model="gpt-x",prompt="aaaa:bbbb",status="ok"} 1`,
		`warden_model_calls_total{model="gpt-y",prompt="aaaa:bbbb",status="refusal"} 1`,
		`warden_model_tokens_total{kind="completion",model="gpt-x",prompt="aaaa:bbbb"} 100`,
		`warden_model_cost_quote_total{model="gpt-x"} 0.0035`,
		`warden_no_consensus_total 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, `warden_model_cost_quote_total{model="gpt-y"}`) {
		t.Error("an unpriced model has a cost series: its cost is unknown, not zero")
	}
}
