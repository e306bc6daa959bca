package agent_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/advisor/baseline"
	"github.com/warden-trading/warden/agent/metrics"
	"github.com/warden-trading/warden/policy"
)

// flaky fails while fail is set and answers as the baseline otherwise.
type flaky struct {
	fail bool
	base advisor.Advisor
}

func (f *flaky) Name() string { return "flaky" }
func (f *flaky) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	if f.fail {
		return advisor.Reply{Advisor: "flaky", Model: "m"}, errors.New("model unavailable: 503")
	}
	return f.base.Advise(ctx, req)
}

// TestBreakerGaugeFollowsTheTrip: with the metrics as the observer, the
// error-spike breaker's series is 0 before its trip, 1 from the trip
// through a good cycle inside its cool-down, and 0 once an operator has
// resumed; the other breakers stay 0 throughout.
func TestBreakerGaugeFollowsTheTrip(t *testing.T) {
	base, err := baseline.New(baseline.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	adv := &flaky{fail: true, base: base}
	h := newHarness(t, adv, "")
	m := metrics.New()
	m.KnownBreakers(agent.BreakerNames()...)
	pol, _ := policy.Default()
	h.agent, err = agent.New(agent.Deps{
		Market: h.px, Orders: h.exec, Advisor: adv, Validator: policy.NewValidator(pol, policy.Limits{}),
		Store: h.store, Clock: func() time.Time { return h.now }, Logger: quiet, Observer: m,
	}, agent.Options{Mode: "paper", Symbols: []string{"BTC/USDT", "ETH/USDT"}, Timeframe: "1h",
		Breakers: agent.DefaultBreakers(), MaxDataAge: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	gauges := func() map[string]string {
		t.Helper()
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		out := map[string]string{}
		for _, line := range strings.Split(rec.Body.String(), "\n") {
			if name, ok := strings.CutPrefix(line, `warden_breaker_tripped{breaker="`); ok {
				n, v, _ := strings.Cut(name, `"} `)
				out[n] = v
			}
		}
		return out
	}
	want := func(when string, tripped string) {
		t.Helper()
		g := gauges()
		if len(g) != len(agent.BreakerNames()) {
			t.Fatalf("%s: series %v; want one per breaker %v", when, g, agent.BreakerNames())
		}
		for name, v := range g {
			w := "0"
			if name == tripped {
				w = "1"
			}
			if v != w {
				t.Errorf("%s: %s = %s; want %s", when, name, v, w)
			}
		}
	}
	want("before any cycle", "")
	for range 3 {
		h.step()
	}
	want("after three failed cycles", agent.BreakerErrorSpike)
	adv.fail = false
	if res := h.step(); res.Level != "safe_mode" {
		t.Fatalf("good cycle inside the cool-down ran at level %q; want safe_mode", res.Level)
	}
	want("a good cycle inside the cool-down", agent.BreakerErrorSpike)
	if err := h.store.EndLevels(context.Background(), "operator", "checked"); err != nil {
		t.Fatal(err)
	}
	h.step()
	want("the cycle after a resume", "")
}
