package console

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/redact"
)

// TestRouteMatrix sends every route of the table with no session, as a
// viewer and as an operator: a page without a session goes to the login
// page (401 for the API and for POSTs), a viewer is refused operator
// routes with 403, and a refused request writes nothing.
func TestRouteMatrix(t *testing.T) {
	e := newEnv(t)
	propose(e, withApprovals(e), 1, e.clock.Now()) // the approval routes with a proposal to act on
	sessions := map[string]string{"none": "", "viewer": e.login("victor"), "operator": e.login("alice")}
	decision := audit.DecisionID(runID, 1)
	if len(e.srv.routes) < 20 {
		t.Fatalf("route table has %d routes; want every route listed", len(e.srv.routes))
	}
	for _, rt := range e.srv.routes {
		path := strings.NewReplacer("{id}", decision, "{$}", "").Replace(rt.pattern)
		for _, who := range []string{"none", "viewer", "operator"} {
			t.Run(rt.method+" "+rt.pattern+" as "+who, func(t *testing.T) {
				before, ks := e.records(), e.killSwitch()
				hdr := map[string]string{}
				if rt.method == "POST" {
					hdr["Content-Type"] = "application/x-www-form-urlencoded"
					if rt.api {
						hdr["Content-Type"] = "application/json"
					}
				}
				body := strings.NewReader("")
				if rt.api && rt.method == "POST" {
					body = strings.NewReader("{}")
				}
				resp := do(e.srv, rt.method, path, body, hdr, sessions[who])
				text := readAll(t, resp)
				have := map[string]role{"none": rolePublic, "viewer": roleViewer, "operator": roleOperator}[who]
				switch {
				case have >= rt.need:
					if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
						t.Fatalf("%s %s as %s: status %d, want access: %s", rt.method, path, who, resp.StatusCode, text)
					}
				case have == rolePublic && rt.method == "GET" && !rt.api:
					if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
						t.Fatalf("%s %s without session: status %d location %q, want 303 to /login", rt.method, path, resp.StatusCode, resp.Header.Get("Location"))
					}
				case have == rolePublic:
					if resp.StatusCode != http.StatusUnauthorized {
						t.Fatalf("%s %s without session: status %d, want 401: %s", rt.method, path, resp.StatusCode, text)
					}
				default:
					if resp.StatusCode != http.StatusForbidden {
						t.Fatalf("%s %s as %s: status %d, want 403: %s", rt.method, path, who, resp.StatusCode, text)
					}
				}
				if have < rt.need {
					if after := e.records(); after != before {
						t.Errorf("refused %s %s as %s wrote %d record(s)", rt.method, path, who, after-before)
					}
				}
				if rt.pattern == "/logout" && have >= rt.need { // signed out: sign in again for the next routes
					sessions[who] = e.login(map[string]string{"viewer": "victor", "operator": "alice"}[who])
				}
				if e.killSwitch() != ks {
					t.Errorf("%s %s as %s changed the kill switch without a TOTP code", rt.method, path, who)
				}
			})
		}
	}
}

func TestLoginFailures(t *testing.T) {
	e := newEnv(t)
	before := len(e.events(audit.EventConsoleLogin))
	cases := []struct {
		name, user, password, code string
		want                       int
	}{
		{"wrong password", "alice", "wrong password here", e.code("alice"), http.StatusUnauthorized},
		{"wrong totp", "alice", testPassword, "000000", http.StatusUnauthorized},
		{"malformed totp", "alice", testPassword, "12ab56", http.StatusUnauthorized},
		{"unknown user", "mallory", testPassword, "123456", http.StatusUnauthorized},
		{"invalid user name", "../../etc/passwd", testPassword, "123456", http.StatusUnauthorized},
		{"missing totp", "alice", testPassword, "", http.StatusBadRequest},
	}
	for _, c := range cases {
		resp := e.postLogin(e.srv, c.user, c.password, c.code, "")
		text := readAll(t, resp)
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d: %s", c.name, resp.StatusCode, c.want, text)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("%s: a cookie was set", c.name)
		}
		if c.want == http.StatusUnauthorized && !strings.Contains(text, errLogin) {
			t.Errorf("%s: body does not say %q: %s", c.name, errLogin, text)
		}
	}
	evs := e.events(audit.EventConsoleLogin)
	if got := len(evs) - before; got != 5 {
		t.Fatalf("failed logins recorded: %d, want 5 (the form error is not a login)", got)
	}
	for _, ev := range evs {
		d := string(ev.Detail)
		// An unknown name is not kept either: it may be a password typed
		// in the wrong field.
		if strings.Contains(d, testPassword) || strings.Contains(d, "wrong password here") || strings.Contains(d, "passwd") || strings.Contains(d, "mallory") {
			t.Errorf("a login record holds what was typed: %s", d)
		}
	}
}

// TestTOTPReplay: a code works once, also in another process (a second
// store and server on the same database), and also for the step-up.
func TestTOTPReplay(t *testing.T) {
	e := newEnv(t)
	code := e.code("alice")
	resp := e.postLogin(e.srv, "alice", testPassword, code, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first login: %d", resp.StatusCode)
	}
	other := e.server(e.open(false))
	resp = e.postLogin(other, "alice", testPassword, code, "")
	if text := readAll(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed code in a second process: status %d, want 401: %s", resp.StatusCode, text)
	}
	evs := e.events(audit.EventConsoleLogin)
	if !strings.Contains(string(evs[0].Detail), "already used") {
		t.Errorf("replay recorded as %s, want the reason 'already used'", evs[0].Detail)
	}
	// The step-up needs a code after the login's.
	cookie := e.login("alice")
	body, hdr := form(map[string]string{"reason": "test", "totp": code})
	resp = do(e.srv, "POST", "/kill", body, hdr, cookie)
	if text := readAll(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(text, "already used (a code works once): the next one comes in") {
		t.Fatalf("kill with a used code: status %d: %s", resp.StatusCode, text)
	}
	if e.killSwitch().On {
		t.Fatal("kill switch engaged with a used code")
	}
}

// TestKillRightAfterSigningIn: an operator who presses Kill with the code
// they just signed in with (still on their authenticator) is told to wait
// for the next one, however often they try: a right code used before is no
// failure, so the account is not locked and the next code engages the
// switch. (Counting them locked the operator out of the kill switch.)
func TestKillRightAfterSigningIn(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.MaxFailures = 3
		o.Lockout = 10 * time.Minute
		o.LoginBurst = 100
		o.ActionBurst = 100
	})
	cookie := e.login("alice")
	used := e.codeAt("alice", e.lastTS["alice"])
	for i := 0; i < 6; i++ {
		body, hdr := form(map[string]string{"reason": "emergency", "totp": used})
		resp := do(e.srv, "POST", "/kill", body, hdr, cookie)
		if text := readAll(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(text, "the next one comes in") {
			t.Fatalf("kill %d with the sign-in code: status %d: %s", i+1, resp.StatusCode, text)
		}
	}
	body, hdr := form(map[string]string{"reason": "emergency", "totp": e.code("alice")})
	resp := do(e.srv, "POST", "/kill", body, hdr, cookie)
	if text := readAll(t, resp); resp.StatusCode >= 400 {
		t.Fatalf("kill with the next code after six refusals: status %d: %s", resp.StatusCode, text)
	}
	if !e.killSwitch().On {
		t.Fatal("the kill switch is off after the next code")
	}
}

// TestLockout: MaxFailures-1 failures leave the account open; the
// MaxFailures-th locks it (the correct password and code are refused
// until the lockout ends), recorded; after the lockout it opens again.
func TestLockout(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxFailures = 3; o.Lockout = 10 * time.Minute; o.LoginBurst = 100 })
	for i := 1; i <= 2; i++ {
		if resp := e.postLogin(e.srv, "alice", "wrong password!!", "123456", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i, resp.StatusCode)
		}
	}
	if len(e.events(audit.EventConsoleLogin)) == 0 {
		t.Fatal("failures not recorded")
	}
	// At the limit minus one a correct login still works, and resets the count.
	e.login("alice")
	// The failure that locks the account, and failures while it is
	// locked, answer as any failed login does (and as an unknown name
	// does): the lockout reveals no user name.
	var unknown string
	for i := 1; i <= 5; i++ {
		resp := e.postLogin(e.srv, "alice", "wrong password!!", "123456", "")
		text := readAll(t, resp)
		u := e.postLogin(e.srv, "nosuchuser", "wrong password!!", "123456", "")
		unknown = readAll(t, u)
		if resp.StatusCode != http.StatusUnauthorized || u.StatusCode != http.StatusUnauthorized || text != unknown || resp.Header.Get("Retry-After") != "" {
			t.Fatalf("failure %d: status %d %q; an unknown name gets %d %q: want the same 401", i, resp.StatusCode, text, u.StatusCode, unknown)
		}
	}
	// The right password with a wrong code: still the common answer.
	if resp := e.postLogin(e.srv, "alice", testPassword, "000000", ""); readAll(t, resp) != unknown || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("right password, wrong code while locked: status %d; want the common 401", resp.StatusCode)
	}
	// Only the right password and code learn of the lockout.
	resp := e.postLogin(e.srv, "alice", testPassword, e.code("alice"), "")
	if text := readAll(t, resp); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(text, "locked") {
		t.Fatalf("correct login while locked: status %d: %s", resp.StatusCode, text)
	}
	locked := e.events(audit.EventConsoleLogin)
	found := false
	for _, ev := range locked {
		found = found || ev.State == "locked"
	}
	if !found {
		t.Fatal("lockout not recorded")
	}
	if n, _ := e.st.ConsoleSessionCount(context.Background(), "alice"); n != 0 {
		t.Errorf("lockout left %d session(s) of alice", n)
	}
	// A second process sees the lockout (it is in the store).
	other := e.server(e.open(false))
	if resp := e.postLogin(other, "alice", testPassword, e.code("alice"), ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second process, locked: status %d, want 429", resp.StatusCode)
	}
	e.clock.Advance(10*time.Minute + time.Second)
	e.login("alice")
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.LoginRate = 0.001; o.LoginBurst = 3 })
	for i := 1; i <= 3; i++ {
		if resp := e.postLogin(e.srv, "mallory", "x", "123456", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d (within the burst): status %d, want 401", i, resp.StatusCode)
		}
	}
	resp := e.postLogin(e.srv, "alice", testPassword, e.code("alice"), "")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("attempt 4: status %d, want 429 with Retry-After", resp.StatusCode)
	}
	n := 0
	for _, ev := range e.events(audit.EventConsoleLogin) {
		if ev.State == "rate_limited" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("rate limiting recorded %d times, want 1", n)
	}
	e.postLogin(e.srv, "alice", testPassword, e.code("alice"), "")
	for _, ev := range e.events(audit.EventConsoleLogin) {
		if ev.State == "rate_limited" {
			n--
		}
	}
	if n != 0 {
		t.Fatal("a second refusal within the minute was recorded again")
	}
}

func TestCrossOriginRefused(t *testing.T) {
	e := newEnv(t)
	cookie := e.login("alice")
	before := e.records()
	foreign := map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
	body, hdr := form(map[string]string{"username": "alice", "password": testPassword, "totp": e.code("alice")})
	for k, v := range foreign {
		hdr[k] = v
	}
	if resp := do(e.srv, "POST", "/login", body, hdr, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin login: status %d, want 403", resp.StatusCode)
	}
	body, hdr = form(map[string]string{"reason": "csrf", "totp": e.code("alice")})
	for k, v := range foreign {
		hdr[k] = v
	}
	resp := do(e.srv, "POST", "/kill", body, hdr, cookie)
	if text := readAll(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(text, "cross-origin") {
		t.Fatalf("cross-origin kill: status %d: %s", resp.StatusCode, text)
	}
	hdr = map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}
	if resp := do(e.srv, "POST", "/api/kill", strings.NewReader(`{"reason":"x","totp":"`+e.code("alice")+`"}`), hdr, cookie); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin API kill (Origin only): status %d, want 403", resp.StatusCode)
	}
	if e.killSwitch().On || e.records() != before {
		t.Fatal("a cross-origin request changed something")
	}
	// Same origin passes.
	body, hdr = form(map[string]string{"reason": "same origin", "totp": e.code("alice")})
	hdr["Sec-Fetch-Site"] = "same-origin"
	if resp := do(e.srv, "POST", "/kill", body, hdr, cookie); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin kill: status %d, want 303", resp.StatusCode)
	}
}

func TestSessionTimeouts(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.IdleTimeout = 10 * time.Minute; o.AbsoluteTimeout = time.Hour })
	cookie := e.login("victor")
	get := func() int { return do(e.srv, "GET", "/api/status", nil, nil, cookie).StatusCode }
	// Idle: at the limit the session holds; one step past it ends.
	e.clock.Advance(10 * time.Minute)
	if c := get(); c != http.StatusOK {
		t.Fatalf("at the idle limit: %d, want 200", c)
	}
	for range 5 { // activity keeps it alive up to the absolute limit
		e.clock.Advance(9 * time.Minute)
		if c := get(); c != http.StatusOK {
			t.Fatalf("active session: %d, want 200", c)
		}
	}
	e.clock.Advance(10*time.Minute + time.Nanosecond)
	if c := get(); c != http.StatusUnauthorized {
		t.Fatalf("idle past the limit: %d, want 401", c)
	}
	ends := e.events(audit.EventConsoleLogout)
	if len(ends) != 1 || ends[0].State != "expired" || !strings.Contains(string(ends[0].Detail), `"remote":"192.0.2.1"`) {
		t.Fatalf("expiry recorded as %+v (%s), want one 'expired' from 192.0.2.1", ends, ends[0].Detail)
	}
	// Absolute: at the limit it holds, one step past it ends whatever the activity.
	cookie = e.login("victor")
	for range 7 {
		e.clock.Advance(8*time.Minute + 30*time.Second)
		get()
	}
	e.clock.Advance(time.Hour - 7*(8*time.Minute+30*time.Second))
	if c := get(); c != http.StatusOK {
		t.Fatalf("at the absolute limit: %d, want 200", c)
	}
	e.clock.Advance(time.Nanosecond)
	if c := get(); c != http.StatusUnauthorized {
		t.Fatalf("past the absolute limit: %d, want 401", c)
	}
}

func TestLogoutAndRotation(t *testing.T) {
	e := newEnv(t)
	first := e.login("victor")
	// Logging in again with the old cookie rotates the id: the old one ends.
	resp := e.postLogin(e.srv, "victor", testPassword, e.code("victor"), first)
	var second string
	for _, c := range resp.Cookies() {
		second = c.Value
	}
	if second == "" || second == first {
		t.Fatalf("login did not issue a new session id")
	}
	if c := do(e.srv, "GET", "/api/status", nil, nil, first).StatusCode; c != http.StatusUnauthorized {
		t.Fatalf("old session after a new login: %d, want 401", c)
	}
	resp = do(e.srv, "POST", "/logout", nil, nil, second)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if c := resp.Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("logout does not clear the cookie: %+v", c)
	}
	if c := do(e.srv, "GET", "/api/status", nil, nil, second).StatusCode; c != http.StatusUnauthorized {
		t.Fatalf("after logout: %d, want 401", c)
	}
	if n, _ := e.st.ConsoleSessionCount(context.Background(), ""); n != 0 {
		t.Fatalf("%d session(s) left after logout", n)
	}
	// The logout is recorded with the address it came from.
	var logouts []string
	for _, ev := range e.events(audit.EventConsoleLogout) {
		if ev.State == "logout" {
			logouts = append(logouts, string(ev.Detail))
		}
	}
	if len(logouts) != 1 || !strings.Contains(logouts[0], `"remote":"192.0.2.1"`) {
		t.Errorf("logout recorded as %q; want one, from 192.0.2.1", logouts)
	}
}

func TestCookieAndHeaders(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.TLS = tls })
			resp := e.postLogin(e.srv, "victor", testPassword, e.code("victor"), "")
			cs := resp.Cookies()
			if len(cs) != 1 {
				t.Fatalf("cookies %+v", cs)
			}
			c := cs[0]
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != tls || c.Path != "/" {
				t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Secure=%v, Path=/", c, tls)
			}
			if tls && c.Name != "__Host-warden_session" {
				t.Errorf("cookie name %q under TLS, want the __Host- prefix", c.Name)
			}
			for _, path := range []string{"/login", "/nope", "/static/style.css"} {
				h := do(e.srv, "GET", path, nil, nil, "").Header
				csp := h.Get("Content-Security-Policy")
				for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"} {
					if !strings.Contains(csp, want) {
						t.Errorf("%s: CSP %q lacks %q", path, csp, want)
					}
				}
				if strings.Contains(csp, "unsafe-inline") {
					t.Errorf("%s: CSP allows inline script: %q", path, csp)
				}
				for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
					if got := h.Get(k); got != want {
						t.Errorf("%s: %s = %q, want %q", path, k, got, want)
					}
				}
				if got := h.Get("Strict-Transport-Security"); (got != "") != tls {
					t.Errorf("%s: HSTS %q with tls=%v", path, got, tls)
				}
			}
		})
	}
}

// TestKillAndResumeStepUp: the operator's kill and resume need a fresh
// code, are recorded with the user and announced through the outbox.
func TestKillAndResumeStepUp(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Channels = []string{"slack"} })
	cookie := e.login("alice")
	api := func(path, body string) (int, string) {
		resp := do(e.srv, "POST", path, strings.NewReader(body), map[string]string{"Content-Type": "application/json"}, cookie)
		return resp.StatusCode, readAll(t, resp)
	}
	before := e.records()
	for _, c := range []struct {
		body string
		want int
	}{
		{`{"reason":"news"}`, http.StatusBadRequest},                       // no code
		{`{"totp":"123456"}`, http.StatusBadRequest},                       // no reason
		{`{"reason":"news","totp":"000000"}`, http.StatusForbidden},        // wrong code
		{`{"reason":"news","totp":"123456","x":1}`, http.StatusBadRequest}, // unknown field
		{`{"reason":`, http.StatusBadRequest},                              // malformed
	} {
		if code, text := api("/api/kill", c.body); code != c.want {
			t.Errorf("kill %s: status %d, want %d: %s", c.body, code, c.want, text)
		}
	}
	if e.killSwitch().On {
		t.Fatal("kill switch on without a valid code")
	}
	if got := e.records() - before; got != 1 { // the wrong code's failure
		t.Fatalf("refused kills wrote %d records, want 1 (the failed step-up)", got)
	}
	code, text := api("/api/kill", `{"reason":"exchange incident","totp":"`+e.code("alice")+`"}`)
	if code != http.StatusOK || !strings.Contains(text, `"on": true`) {
		t.Fatalf("kill: %d %s", code, text)
	}
	ks := e.killSwitch()
	if !ks.On || ks.Actor != "console:alice@192.0.2.1" || ks.Reason != "exchange incident" {
		t.Fatalf("kill switch %+v, want on by console:alice", ks)
	}
	// Another process sees it.
	if on, err := e.open(true).KillSwitch(context.Background()); err != nil || !on {
		t.Fatalf("kill switch from a read-only open: %v %v", on, err)
	}
	pending, err := e.st.PendingNotifications(context.Background(), "slack", e.clock.Now(), 10)
	if err != nil || len(pending) != 1 || pending[0].Kind != "kill_switch" || !strings.Contains(pending[0].Text, "console:alice") {
		t.Fatalf("notification %+v (%v), want one kill_switch naming console:alice", pending, err)
	}
	body, hdr := form(map[string]string{"reason": "checked", "totp": e.code("alice")})
	resp := do(e.srv, "POST", "/resume", body, hdr, cookie)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/status?done=resumed" {
		t.Fatalf("resume: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if e.killSwitch().On {
		t.Fatal("resume left the kill switch on")
	}
}

func TestActionRateLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ActionRate = 0.001; o.ActionBurst = 2 })
	cookie := e.login("alice")
	for i, want := range []int{http.StatusSeeOther, http.StatusSeeOther, http.StatusTooManyRequests} {
		body, hdr := form(map[string]string{"reason": "drill", "totp": e.code("alice")})
		if resp := do(e.srv, "POST", "/kill", body, hdr, cookie); resp.StatusCode != want {
			t.Fatalf("action %d: status %d, want %d", i+1, resp.StatusCode, want)
		}
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	cookie := e.login("alice")
	before := e.records()
	big := strings.Repeat("a", MaxBodyBytes+1)
	cases := []struct {
		method, path, body, ctype string
		want                      int
	}{
		{"GET", "/nope", "", "", http.StatusNotFound},
		{"GET", "/decisions/..%2f..%2fetc%2fpasswd", "", "", http.StatusBadRequest},
		{"GET", "/decisions/" + runID, "", "", http.StatusNotFound}, // a run id is not a decision
		{"GET", "/decisions/no-such:9", "", "", http.StatusNotFound},
		{"GET", "/api/decisions/%00", "", "", http.StatusBadRequest},
		{"GET", "/decisions?symbol=../../x", "", "", http.StatusBadRequest},
		{"GET", "/decisions?decision=maybe", "", "", http.StatusBadRequest},
		{"GET", "/decisions?rule=a%0Ab", "", "", http.StatusBadRequest},
		{"GET", "/decisions?order=1", "", "", http.StatusBadRequest},
		{"GET", "/decisions?day=2024-13-01", "", "", http.StatusBadRequest},
		{"GET", "/api/decisions?day=yesterday", "", "", http.StatusBadRequest},
		{"GET", "/events?kind=../x", "", "", http.StatusBadRequest},
		{"GET", "/static/../console.go", "", "", http.StatusTemporaryRedirect}, // the mux cleans the path: to /console.go
		{"GET", "/console.go", "", "", http.StatusNotFound},
		{"GET", "/static/../../../../etc/passwd", "", "", http.StatusTemporaryRedirect},
		{"GET", "/etc/passwd", "", "", http.StatusNotFound},
		{"GET", "/static/%2e%2e/console.go", "", "", http.StatusNotFound},
		{"POST", "/kill", "reason=" + big, "application/x-www-form-urlencoded", http.StatusRequestEntityTooLarge},
		{"POST", "/kill", "reason=" + big[:MaxBodyBytes-len("reason=")], "application/x-www-form-urlencoded", http.StatusBadRequest}, // at the limit: read, then refused for its content
		{"POST", "/api/kill", `{"reason":"` + big + `"}`, "application/json", http.StatusRequestEntityTooLarge},
		{"POST", "/kill", "%zz", "application/x-www-form-urlencoded", http.StatusBadRequest},
		{"POST", "/api/kill", "reason=x", "text/plain", http.StatusUnsupportedMediaType},
		{"POST", "/login", "username=%zz", "application/x-www-form-urlencoded", http.StatusBadRequest},
		// Forms are as strict as JSON: only their fields, each once, no query.
		{"POST", "/login", "username=alice&password=" + testPassword + "&totp=000000&role=operator", "application/x-www-form-urlencoded", http.StatusBadRequest},
		{"POST", "/login", "username=alice&username=bob&password=" + testPassword + "&totp=000000", "application/x-www-form-urlencoded", http.StatusBadRequest},
		{"POST", "/login?next=/kill", "username=alice&password=" + testPassword + "&totp=000000", "application/x-www-form-urlencoded", http.StatusBadRequest},
		{"POST", "/kill", "reason=news&totp=000000&by=bob", "application/x-www-form-urlencoded", http.StatusBadRequest},
		{"POST", "/resume?force=1", "reason=news&totp=000000", "application/x-www-form-urlencoded", http.StatusBadRequest},
		{"POST", "/logout", "all=1", "application/x-www-form-urlencoded", http.StatusBadRequest},
	}
	for _, c := range cases {
		hdr := map[string]string{}
		if c.ctype != "" {
			hdr["Content-Type"] = c.ctype
		}
		resp := do(e.srv, c.method, c.path, strings.NewReader(c.body), hdr, cookie)
		text := readAll(t, resp)
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: status %d, want %d: %.200s", c.method, c.path, resp.StatusCode, c.want, text)
		}
		for _, leak := range []string{"goroutine", ".go:", "panic"} {
			if strings.Contains(text, leak) {
				t.Errorf("%s %s: response shows %q: %.300s", c.method, c.path, leak, text)
			}
		}
	}
	if after := e.records(); after != before {
		t.Errorf("bad input wrote %d record(s)", after-before)
	}
}

// TestReadOnlyDatabase: a console over a database it cannot write gives a
// clear error for a login and writes nothing; nothing panics.
func TestReadOnlyDatabase(t *testing.T) {
	e := newEnv(t)
	ro := e.server(e.open(true))
	resp := e.postLogin(ro, "alice", testPassword, e.code("alice"), "")
	text := readAll(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(text, "read-only") || !strings.Contains(text, "nothing was changed") {
		t.Fatalf("login on a read-only store: %d %s", resp.StatusCode, text)
	}
	if n, _ := e.st.ConsoleSessionCount(context.Background(), ""); n != 0 {
		t.Fatal("a session was stored")
	}
}

func TestPagesShowTheRecord(t *testing.T) {
	e := newEnv(t)
	cookie := e.login("victor")
	get := func(path string) string {
		resp := do(e.srv, "GET", path, nil, nil, cookie)
		text := readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, text)
		}
		return text
	}
	d := get("/decisions/" + audit.DecisionID(runID, 1))
	for _, want := range []string{"BTC broke above its 20-day range", "max_position_pct", "FAIL", "position would be 50% of equity, over 10%", "min_confidence", "rejected"} {
		if !strings.Contains(d, want) {
			t.Errorf("decision page lacks %q", want)
		}
	}
	d = get("/decisions/" + audit.DecisionID(runID, 0))
	for _, want := range []string{"wd-" + runID + "-0", "filled", "42010"} {
		if !strings.Contains(d, want) {
			t.Errorf("approved decision page lacks %q", want)
		}
	}
	if l := get("/decisions?decision=rejected"); !strings.Contains(l, "ETH/USDT") || strings.Contains(l, ">BTC/USDT<") {
		t.Errorf("decisions filtered by rejected: %s", l)
	}
	if l := get("/decisions?symbol=BTC/USDT"); strings.Contains(l, ">ETH/USDT<") {
		t.Error("symbol filter let ETH through")
	}
	if l := get("/decisions?rule=max_position_pct"); !strings.Contains(l, "ETH/USDT") || strings.Contains(l, ">BTC/USDT<") {
		t.Error("rule filter")
	}
	if s := get("/status"); !strings.Contains(s, "Kill switch") || strings.Contains(s, "Engage the kill switch") {
		t.Error("status page: a viewer sees the action forms, or no kill switch")
	} else if !strings.Contains(s, "<td>BTC/USDT</td><td class=\"num\">0.01</td><td class=\"num\">42010</td><td class=\"num\">42100</td><td class=\"num\">421.00</td>") || !strings.Contains(s, "10000.00 USDT") {
		t.Errorf("status page lacks the position or the account:\n%s", s)
	}
	if s := get("/status"); !strings.Contains(s, `<tr class="over"><td>position BTC/USDT</td><td class="num">4.21 %</td><td class="num">4.2 %</td><td>max_position_pct</td><td>OVER: buys are refused</td>`) ||
		!strings.Contains(s, `<tr class="within"><td>open positions</td><td class="num">1</td><td class="num">1</td>`) || !strings.Contains(s, "Next run: 2024-01-10 13:00:00Z (schedule @hourly)") {
		t.Errorf("status page lacks the limits used (a position one step past its cap, the open positions at theirs) or the next run:\n%s", s)
	}
	if l := get("/decisions?day=2024-01-10"); !strings.Contains(l, "ETH/USDT") || !strings.Contains(l, "BTC/USDT") {
		t.Error("day filter: the day's decisions are missing")
	}
	if l := get("/decisions?day=2024-01-11"); !strings.Contains(l, "No decisions match") {
		t.Error("day filter: decisions of another day shown")
	}
	if r := get("/runs"); !strings.Contains(r, runID) {
		t.Error("runs page lacks the run")
	}
	if p := get("/policy"); !strings.Contains(p, "abc123") || !strings.Contains(p, "A position stays under 10% of equity.") {
		t.Error("policy page lacks hash or rule words")
	}
	if a := get("/audit"); !strings.Contains(a, "verified: intact") {
		t.Errorf("audit page: %s", a)
	}
	if ev := get("/events"); !strings.Contains(ev, "console_login") {
		t.Error("events page lacks the login")
	}
}

// TestResponsesRedacted: a secret that reached the database (written
// before it was configured as one) never leaves through a page or the API.
func TestResponsesRedacted(t *testing.T) {
	const secret = "sk-live-4f9a8b7c6d5e4f3a2b1c"
	e := newEnv(t, func(o *Options) { o.Redactor = redact.New(secret) })
	if err := e.st.SetKillSwitch(context.Background(), true, "ops", "key "+secret+" leaked in a log"); err != nil {
		t.Fatal(err)
	}
	cookie := e.login("victor")
	for _, path := range []string{"/status", "/api/status", "/events", "/api/events"} {
		text := readAll(t, do(e.srv, "GET", path, nil, nil, cookie))
		if strings.Contains(text, secret) {
			t.Errorf("%s shows the secret", path)
		}
		if !strings.Contains(text, redact.Mask) {
			t.Errorf("%s does not show the mask where the secret was", path)
		}
	}
}

// TestAuditVerifiedAtMostOnceAMinute: the audit page shows the chain's
// verification, recomputed at most once a minute however often it is
// asked for.
func TestAuditVerifiedAtMostOnceAMinute(t *testing.T) {
	e := newEnv(t)
	cookie := e.login("victor")
	page := func() string { return readAll(t, do(e.srv, "GET", "/audit", nil, nil, cookie)) }
	first := page()
	head := fmt.Sprintf("head seq %d", e.records())
	if !strings.Contains(first, head) || !strings.Contains(first, "verified: intact") {
		t.Fatalf("audit page lacks %q", head)
	}
	if err := e.st.SetKillSwitch(context.Background(), true, "ops", "drill"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(verifyEvery - time.Second)
	if !strings.Contains(page(), head) {
		t.Fatal("verified again within the minute")
	}
	e.clock.Advance(time.Second)
	if again := page(); !strings.Contains(again, fmt.Sprintf("head seq %d", e.records())) {
		t.Fatal("not verified again after a minute")
	}
}

// TestAuditPageWarnsOfARemovedGuard: with a trigger of the schema
// removed by hand, the audit page still says the chain is intact and warns
// that the database no longer refuses deletes by itself.
func TestAuditPageWarnsOfARemovedGuard(t *testing.T) {
	e := newEnv(t)
	cookie := e.login("victor")
	page := func() string { return readAll(t, do(e.srv, "GET", "/audit", nil, nil, cookie)) }
	if first := page(); strings.Contains(first, "warning:") {
		t.Fatalf("audit page of an intact database warns:\n%s", first)
	}
	raw, err := sql.Open("sqlite3", "file:"+e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DROP TRIGGER records_no_delete`); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(verifyEvery)
	if again := page(); !strings.Contains(again, "verified: intact") || !strings.Contains(again, "warning: trigger records_no_delete on records is missing") {
		t.Errorf("audit page after the delete trigger was dropped lacks the warning:\n%s", again)
	}
}

// TestTOTPStepRace: two processes (two stores on one file) racing to use
// the same code: exactly one wins.
func TestTOTPStepRace(t *testing.T) {
	e := newEnv(t)
	stores := []*audit.Store{e.st, e.open(false)}
	step := e.clock.Now().Unix()/totpPeriod + 1
	for round := range 5 {
		wins := make(chan bool, 8)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := stores[i%2].UseConsoleTOTPStep(context.Background(), "alice", step)
				if err != nil {
					t.Error(err)
				}
				wins <- ok
			}()
		}
		wg.Wait()
		close(wins)
		n := 0
		for ok := range wins {
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("round %d: %d of 8 racing uses of one step won, want 1", round, n)
		}
		step++
	}
}

// TestDatabaseReplacedUnderTheConsole: once the database file at the
// console's path is deleted or replaced (a fresh start, a restored
// backup), every page and action is refused with 503, the kill switch
// included: set in the old file it would reach no other process.
func TestDatabaseReplacedUnderTheConsole(t *testing.T) {
	e := newEnv(t)
	cookie := e.login("alice")
	if resp := do(e.srv, "GET", "/status", nil, nil, cookie); resp.StatusCode != http.StatusOK {
		t.Fatalf("status page before: %d", resp.StatusCode)
	}
	// Replaced: a new file under the same name.
	if err := os.Rename(e.path, e.path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.path, []byte("another file"), 0o600); err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{"Content-Type": "application/json"}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/status", ""}, {"GET", "/login", ""},
		{"POST", "/api/kill", `{"reason":"stop","totp":"` + e.code("alice") + `"}`},
	} {
		resp := do(e.srv, c.method, c.path, strings.NewReader(c.body), hdr, cookie)
		if text := readAll(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(text, "replaced") {
			t.Errorf("%s %s after the file was replaced: %d %q; want 503 naming it", c.method, c.path, resp.StatusCode, text)
		}
	}
	// Deleted.
	os.Remove(e.path)
	if resp := do(e.srv, "GET", "/status", nil, nil, cookie); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(readAll(t, resp), "deleted") {
		t.Errorf("status page after the file was deleted: %d; want 503", resp.StatusCode)
	}
	// The same file back under its name: served again.
	if err := os.Rename(e.path+".old", e.path); err != nil {
		t.Fatal(err)
	}
	if resp := do(e.srv, "GET", "/status", nil, nil, cookie); resp.StatusCode != http.StatusOK {
		t.Errorf("status page with the file back: %d", resp.StatusCode)
	}
}

// TestHostMustBeLoopback: without TLS the console answers only to a
// loopback host name: a page that rebinds its own name to 127.0.0.1 (DNS
// rebinding) gets 421 before any login is tried or counted.
func TestHostMustBeLoopback(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxFailures = 100 })
	before := e.records()
	for _, c := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:8787", true}, {"localhost:8787", true}, {"LOCALHOST", true}, {"[::1]:8787", true}, {"127.0.0.2:8787", true},
		{"evil.example:8787", false}, {"evil.example", false}, {"127.0.0.1.evil.example:8787", false}, {"10.0.0.1:8787", false}, {"", false},
	} {
		body, hdr := form(map[string]string{"username": "alice", "password": "wrong password!!", "totp": "123456"})
		r := httptest.NewRequest("POST", "/login", body)
		r.Host = c.host
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		if c.host != "" {
			r.Header.Set("Origin", "http://"+c.host)
		}
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, r)
		if got := w.Code != http.StatusMisdirectedRequest; got != c.ok {
			t.Errorf("Host %q: status %d; want served %v", c.host, w.Code, c.ok)
		}
	}
	if got := e.records() - before; got != 5 {
		t.Errorf("%d records; want 5 (the failed logins under loopback names only)", got)
	}
}

// TestStepUpSuccessEndsAFailureRun: the lockout counts failures in a row:
// a step-up with the right code ends the run, so typos around a good code
// do not add up to a lockout (they did: only a login reset the count).
func TestStepUpSuccessEndsAFailureRun(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxFailures = 3; o.ActionBurst = 100 })
	cookie := e.login("alice")
	api := func(body string) int {
		resp := do(e.srv, "POST", "/api/kill", strings.NewReader(body), map[string]string{"Content-Type": "application/json"}, cookie)
		readAll(t, resp)
		return resp.StatusCode
	}
	wrong := `{"reason":"typo","totp":"000000"}`
	for i := 0; i < 2; i++ {
		if code := api(wrong); code != http.StatusForbidden {
			t.Fatalf("wrong step-up %d: %d, want 403", i+1, code)
		}
	}
	if code := api(`{"reason":"incident","totp":"` + e.code("alice") + `"}`); code != http.StatusOK {
		t.Fatalf("step-up with the right code: %d", code)
	}
	for i := 0; i < 2; i++ { // at the limit minus one again: not locked
		if code := api(wrong); code != http.StatusForbidden {
			t.Fatalf("wrong step-up %d after a good one: %d, want 403 (not locked)", i+1, code)
		}
	}
	if code := api(wrong); code != http.StatusTooManyRequests {
		t.Errorf("third wrong step-up in a row: %d, want 429 (locked)", code)
	}
}

// TestAutoRefreshIsNotActivity: the status page's own refresh (?auto=1,
// every 30 s) keeps it current but does not keep the session alive: a
// forgotten tab is signed out at the idle timeout; a click is activity.
func TestAutoRefreshIsNotActivity(t *testing.T) {
	e := newEnv(t)
	cookie := e.login("alice")
	start := e.clock.t
	for e.clock.t.Sub(start) < 20*time.Minute { // a user clicking every 30 s: kept
		e.clock.Advance(30 * time.Second)
		if resp := do(e.srv, "GET", "/status", nil, nil, cookie); resp.StatusCode != http.StatusOK {
			t.Fatalf("a user active every 30 s was signed out after %s: %d", e.clock.t.Sub(start), resp.StatusCode)
		}
	}
	start = e.clock.t
	for e.clock.t.Sub(start) < 16*time.Minute { // then only the page's refresh
		e.clock.Advance(30 * time.Second)
		readAll(t, do(e.srv, "GET", "/status?auto=1", nil, nil, cookie))
	}
	if resp := do(e.srv, "GET", "/status?auto=1", nil, nil, cookie); resp.StatusCode == http.StatusOK {
		t.Errorf("after 16 minutes of auto-refresh only, the session is still open")
	}
}

// TestStatusNextRunOnTheReplay: on the offline replay's clock the status
// is read as of the last run, and the next run decides one candle of the
// timeframe after it, whatever the hourly schedule says.
func TestStatusNextRunOnTheReplay(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Status.ReplayClock, o.Status.ReplayStep = true, 24*time.Hour })
	cookie := e.login("victor")
	resp := do(e.srv, "GET", "/api/status", nil, nil, cookie)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/status = %d", resp.StatusCode)
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	want := time.Date(2024, 1, 11, 12, 0, 0, 0, time.UTC) // the seeded run at 2024-01-10 12:00, plus a day (the schedule's next hour is 13:00)
	if st.Clock != "replay" || !st.NextRun.Equal(want) {
		t.Errorf("status clock %s, next run %s; want replay and %s", st.Clock, st.NextRun, want)
	}
}
