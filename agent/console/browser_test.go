package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/internal/browsertest"
)

// TestConsoleInBrowser drives the console in headless Chromium as a person
// would: signs in with the password and a TOTP code computed here, opens a
// decision and reads its rationale and rules, engages the kill switch with
// a fresh code, and checks the store. Screenshots of the status and
// decision pages are kept under $WARDEN_SCREENSHOTS.
func TestConsoleInBrowser(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	b := browsertest.New(t)

	p := b.Open(t, ts.URL+"/status", browsertest.DefaultWidth)
	if !strings.HasSuffix(p.URL, "/status") && browsertest.Eval[string](p, "location.pathname") != "/login" {
		t.Fatalf("without a session /status should lead to /login, at %s", browsertest.Eval[string](p, "location.href"))
	}
	p.Fill("#username", "alice")
	p.Fill("#password", testPassword)
	p.Fill("#totp", e.code("alice"))
	if code := p.Submit("#signin"); code != http.StatusOK {
		t.Fatalf("sign in: status %d", code)
	}
	if path := browsertest.Eval[string](p, "location.pathname"); path != "/status" {
		t.Fatalf("after sign in at %s, want /status", path)
	}
	if n := browsertest.Eval[int](p, "document.querySelectorAll('script:not([src])').length"); n != 0 {
		t.Errorf("the status page has %d inline script(s)", n)
	}
	if src := browsertest.Eval[string](p, "Array.from(document.scripts).map(s => s.src).join(' ')"); src != ts.URL+"/static/refresh.js" {
		t.Errorf("scripts %q, want only the embedded refresh.js", src)
	}
	p.RequireNoHorizontalOverflow()
	p.Screenshot("console-status")

	id := audit.DecisionID(runID, 1)
	d := b.Open(t, ts.URL+"/decisions/"+id, browsertest.DefaultWidth)
	if got := browsertest.Eval[string](d, "document.getElementById('rationale').textContent"); got != rationale {
		t.Fatalf("rationale shown: %q, want %q", got, rationale)
	}
	rules := browsertest.Eval[string](d, "document.getElementById('rules').innerText")
	for _, want := range []string{"max_position_pct", "FAIL", "position would be 50% of equity, over 10%", "min_confidence", "pass"} {
		if !strings.Contains(rules, want) {
			t.Errorf("rules table lacks %q:\n%s", want, rules)
		}
	}
	// The stylesheet loaded (CSP allows 'self'): the failing rule's row is tinted.
	if bg := browsertest.Eval[string](d, "getComputedStyle(document.querySelector('#rules tr.fail')).backgroundColor"); bg == "rgba(0, 0, 0, 0)" {
		t.Error("the failed rule row is not styled: the stylesheet did not load")
	}
	d.RequireNoHorizontalOverflow()
	d.Screenshot("console-decision")

	// On a phone: nothing scrolls sideways but the wide tables in their own
	// boxes, and the kill switch form is there.
	for _, path := range []string{"/status", "/decisions/" + id} {
		m := b.Open(t, ts.URL+path, 390)
		if o := m.Overflow(); o.ScrollWidth > o.ClientWidth {
			t.Errorf("%s at 390 px: the page scrolls sideways (%s)", path, o)
		}
		if path == "/status" {
			if n := browsertest.Eval[int](m, "document.querySelectorAll('#kill-form').length"); n != 1 {
				t.Error("no kill switch form on a phone")
			}
			m.Screenshot("console-status-390")
		}
	}

	// Kill switch with step-up: a fresh code from the authenticator.
	k := b.Open(t, ts.URL+"/status", browsertest.DefaultWidth)
	k.Fill("#kill-reason", "exchange incident (browser test)")
	k.Fill("#kill-totp", e.code("alice"))
	if code := k.Submit("#kill"); code != http.StatusOK {
		t.Fatalf("kill: status %d", code)
	}
	if got := browsertest.Eval[string](k, "location.pathname + location.search"); got != "/status?done=killed" {
		t.Fatalf("after kill at %s", got)
	}
	if txt := browsertest.Eval[string](k, "document.getElementById('killswitch').innerText"); !strings.Contains(txt, "ON") {
		t.Errorf("status after kill shows %q, want ON", txt)
	}
	k.Screenshot("console-status-killed")
	ks := e.killSwitch()
	if !ks.On || ks.Actor != "console:alice@127.0.0.1" || ks.Reason != "exchange incident (browser test)" {
		t.Fatalf("kill switch in the store: %+v", ks)
	}
}
