package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/internal/browsertest"
)

// TestApprovalsInBrowser: in headless Chromium an operator reads the
// Approvals page (two pending proposals, each with its order, hash prefix,
// expiry and forms), approves one with a fresh TOTP code through the form
// (the hash prefix shown is sent back), and sees it recorded; the page fits
// a phone. Screenshots under $WARDEN_SCREENSHOTS.
func TestApprovalsInBrowser(t *testing.T) {
	e := newEnv(t)
	g := withApprovals(e)
	first := propose(e, g, 0, e.clock.Now())
	second := propose(e, g, 2, e.clock.Now().Add(time.Minute))
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	b := browsertest.New(t)

	p := b.Open(t, ts.URL+"/login", browsertest.DefaultWidth)
	p.Fill("#username", "alice")
	p.Fill("#password", testPassword)
	p.Fill("#totp", e.code("alice"))
	if code := p.Submit("#signin"); code != http.StatusOK {
		t.Fatalf("sign in: status %d", code)
	}
	a := b.Open(t, ts.URL+"/approvals", browsertest.DefaultWidth)
	if n := browsertest.Eval[int](a, "document.querySelectorAll('#pending .proposal').length"); n != 2 {
		t.Fatalf("%d proposals shown, want 2", n)
	}
	text := browsertest.Eval[string](a, "document.getElementById('pending').innerText")
	for _, want := range []string{first.DecisionID, second.DecisionID, first.Hash[:12], second.Hash[:12], "buy 0.01 BTC/USDT limit @ 42000",
		"2024-01-10 12:15:00Z", "max_position_pct, min_confidence", rationale, "Approve hash " + first.Hash[:12]} {
		if !strings.Contains(text, want) {
			t.Errorf("the pending list lacks %q:\n%s", want, text)
		}
	}
	if n := browsertest.Eval[int](a, "document.querySelectorAll('script:not([src])').length"); n != 0 {
		t.Errorf("the approvals page has %d inline script(s)", n)
	}
	a.RequireNoHorizontalOverflow()
	a.Screenshot("console-approvals")

	m := b.Open(t, ts.URL+"/approvals", 390)
	if o := m.Overflow(); o.ScrollWidth > o.ClientWidth {
		t.Errorf("/approvals at 390 px scrolls sideways (%s)", o)
	}
	m.Screenshot("console-approvals-390")

	form := `form[action="/approvals/` + first.DecisionID + `/approve"]`
	a.Fill(form+` input[name="totp"]`, e.code("alice"))
	if code := a.Submit(form + " button"); code != http.StatusOK {
		t.Fatalf("approve: status %d", code)
	}
	if got := browsertest.Eval[string](a, "location.pathname + location.search"); !strings.HasPrefix(got, "/approvals?done=approved&id=") {
		t.Fatalf("after approve at %s", got)
	}
	if txt := browsertest.Eval[string](a, "document.getElementById('done').innerText"); !strings.Contains(txt, first.DecisionID+" approved") || !strings.Contains(txt, "within seconds") {
		t.Errorf("notice after approve: %q", txt)
	}
	if txt := browsertest.Eval[string](a, "document.getElementById('recent').innerText"); !strings.Contains(txt, "console:alice") || !strings.Contains(txt, first.Hash[:12]) {
		t.Errorf("recently decided after approve: %q", txt)
	}
	if n := browsertest.Eval[int](a, "document.querySelectorAll('#pending .proposal').length"); n != 1 {
		t.Errorf("%d proposals pending after approving one, want 1", n)
	}
	a.Screenshot("console-approvals-approved")
	got := e.approval(first.DecisionID)
	if got.Status != audit.ApprovalApproved || got.DecidedBy != "console:alice@127.0.0.1" || got.Channel != "console" || got.HashSeen != first.Hash[:12] {
		t.Fatalf("in the store after the browser's approval: %+v", got)
	}
	if e.approval(second.DecisionID).Status != audit.ApprovalPending {
		t.Fatal("the other proposal changed")
	}
}
