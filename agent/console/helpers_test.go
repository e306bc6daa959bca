package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	testPassword = "correct horse battery staple"
	runID        = "run-20240110T120000Z"
	rationale    = "BTC broke above its 20-day range on rising volume; ETH lags and is left alone."
)

// env is a console over a real audit database with one recorded run.
type env struct {
	t      *testing.T
	path   string
	clock  *fakeClock
	st     *audit.Store
	srv    *Server
	totp   map[string]string // user -> TOTP secret
	lastTS map[string]int64  // user -> last step a code was generated for
}

func newEnv(t *testing.T, mutate ...func(*Options)) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "warden.db"), clock: &fakeClock{t: time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC)},
		totp: map[string]string{}, lastTS: map[string]int64{}}
	e.st = e.open(false)
	seed(t, e.st, e.clock)
	for _, u := range []struct{ name, role string }{{"alice", RoleOperator}, {"victor", RoleViewer}} {
		en, err := AddUser(context.Background(), e.st, u.name, u.role, testPassword, "test")
		if err != nil {
			t.Fatal(err)
		}
		e.totp[u.name] = en.Secret
	}
	e.srv = e.server(e.st, mutate...)
	return e
}

func (e *env) open(ro bool) *audit.Store {
	e.t.Helper()
	st, err := audit.Open(context.Background(), e.path, audit.Options{Clock: e.clock.Now, ReadOnly: ro})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	return st
}

func (e *env) server(st *audit.Store, mutate ...func(*Options)) *Server {
	e.t.Helper()
	opts := Options{Store: st, Now: e.clock.Now, LoginBurst: 1000, Policy: PolicyInfo{Name: "default", Hash: "abc123", Rules: []RuleInfo{{Name: "max_position_pct", Words: "A position stays under 10% of equity."}},
		Source: "params:\n  max_position_pct: 4.2\n  max_exposure_pct: 30\n  max_day_loss_pct: 3\n  max_drawdown_pct: 10\n  max_open_positions: 1\n"},
		Status: StatusConfig{Mode: "paper", Schedule: "@hourly", ReduceScale: decimal.RequireFromString("0.5")}}
	for _, m := range mutate {
		m(&opts)
	}
	s, err := New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// code returns a valid TOTP code for a step after any code of user handed
// out before (codes are single use): now, then the next steps in turn.
func (e *env) code(user string) string {
	e.t.Helper()
	step := e.clock.Now().Unix() / totpPeriod
	if last, ok := e.lastTS[user]; ok && step <= last {
		// Wait for the next code, as a person would.
		e.clock.Advance(time.Duration((last+1)*totpPeriod-e.clock.Now().Unix()) * time.Second)
		step = last + 1
	}
	e.lastTS[user] = step
	c, err := totp.GenerateCode(e.totp[user], time.Unix(step*totpPeriod, 0))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// do sends a request to srv and returns the response.
func do(srv http.Handler, method, target string, body io.Reader, hdr map[string]string, cookie string) *http.Response {
	r := httptest.NewRequest(method, target, body)
	r.Host = "127.0.0.1:8787" // as a browser on this machine sends it
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: "warden_session", Value: cookie})
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	return w.Result()
}

func form(vals map[string]string) (io.Reader, map[string]string) {
	f := url.Values{}
	for k, v := range vals {
		f.Set(k, v)
	}
	return strings.NewReader(f.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
}

func (e *env) postLogin(srv http.Handler, user, password, code, cookie string) *http.Response {
	body, hdr := form(map[string]string{"username": user, "password": password, "totp": code})
	return do(srv, "POST", "/login", body, hdr, cookie)
}

// login signs user in and returns the session cookie value.
func (e *env) login(user string) string {
	e.t.Helper()
	resp := e.postLogin(e.srv, user, testPassword, e.code(user), "")
	if resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("login %s: status %d: %s", user, resp.StatusCode, b)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "warden_session" {
			return c.Value
		}
	}
	e.t.Fatalf("login %s: no session cookie", user)
	return ""
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// records is the number of records in the chain.
func (e *env) records() int64 {
	e.t.Helper()
	seq, _, err := e.st.Head(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return seq
}

func (e *env) events(kind string) []audit.EventRow {
	e.t.Helper()
	evs, err := e.st.ListEvents(context.Background(), audit.EventFilter{Kinds: []string{kind}})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func (e *env) killSwitch() audit.SwitchState {
	e.t.Helper()
	ks, err := e.st.KillSwitchState(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return ks
}

// seed records one run as warden run would: the response with its
// rationale, a state, two verdicts (one approved with an order and its
// events, one rejected by a rule), and the run's end.
func seed(t *testing.T, st *audit.Store, clock *fakeClock) {
	t.Helper()
	ctx := context.Background()
	now := clock.Now()
	if err := st.BeginRun(ctx, audit.Run{ID: runID, StartedAt: now, Mode: "paper", Advisor: "baseline", PolicyHash: "abc123"}); err != nil {
		t.Fatal(err)
	}
	d := decimal.RequireFromString
	resp := &schemas.Response{Rationale: rationale, Recommendations: []schemas.Recommendation{
		{Symbol: "BTC/USDT", Action: "buy", Confidence: d("0.7"), SizePct: d("5"), OrderType: "market", Reason: "breakout"},
		{Symbol: "ETH/USDT", Action: "buy", Confidence: d("0.4"), SizePct: d("50"), OrderType: "market", Reason: "catch up"},
	}}
	raw, _ := json.Marshal(resp)
	if err := st.RecordResponse(ctx, runID, raw, resp, nil); err != nil {
		t.Fatal(err)
	}
	state := schemas.State{Now: now, Mode: "paper",
		Account: schemas.Account{Quote: "USDT", Equity: d("10000"), Cash: d("9580"), PeakEquity: d("10050"), DayStartEquity: d("9990"),
			Positions: map[string]schemas.Position{"BTC/USDT": {Qty: d("0.01"), AvgPrice: d("42000")}}},
		Markets: map[string]schemas.Market{"BTC/USDT": {Last: d("42100"), Bid: d("42090"), Ask: d("42110")}}}
	order := &schemas.Order{Symbol: "BTC/USDT", Side: "buy", Type: "market", Quantity: d("0.01"), Price: d("42000"), Notional: d("420")}
	verdicts := []schemas.Verdict{
		{Index: 0, Symbol: "BTC/USDT", Action: "buy", Decision: "approved", Order: order, Rules: []schemas.RuleResult{
			{Name: "max_position_pct", Mode: "enforce", Passed: true},
			{Name: "min_confidence", Mode: "enforce", Passed: true},
		}},
		{Index: 1, Symbol: "ETH/USDT", Action: "buy", Decision: "rejected",
			Violations: []schemas.Violation{{Rule: "max_position_pct", Message: "position would be 50% of equity, over 10%"}},
			Rules: []schemas.RuleResult{
				{Name: "max_position_pct", Mode: "enforce", Passed: false, Message: "position would be 50% of equity, over 10%"},
				{Name: "min_confidence", Mode: "enforce", Passed: true},
			}},
	}
	if _, err := st.RecordVerdicts(ctx, runID, "abc123", state, verdicts); err != nil {
		t.Fatal(err)
	}
	coid := "wd-" + runID + "-0"
	for _, s := range []schemas.OrderState{schemas.OrderIntent, schemas.OrderSubmitted, schemas.OrderFilled} {
		ev := schemas.OrderEvent{ClientOrderID: coid, DecisionID: audit.DecisionID(runID, 0), Role: "entry", State: s, Symbol: "BTC/USDT", Side: "buy", Type: "market", Quantity: d("0.01"), Price: d("42000")}
		if s == schemas.OrderFilled {
			ev.FilledQty, ev.AvgPrice = d("0.01"), d("42010")
		}
		if err := st.AppendOrderEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.EndRun(ctx, runID, "ok", nil); err != nil {
		t.Fatal(err)
	}
}
