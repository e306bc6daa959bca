package console

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/approval"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

// withApprovals gives env's console a gate on its store, judging expiry
// on the env's clock, and lifts the action rate limit (tested apart).
func withApprovals(e *env) *approval.Gate {
	e.t.Helper()
	g, err := approval.New(approval.Config{Required: true, Expires: 15 * time.Minute, MaxPriceMoveBps: decimal.NewFromInt(25), Channels: []string{"cli", "console"}},
		e.st, approval.Options{Clock: e.clock.Now, Wall: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = e.server(e.st, func(o *Options) { o.Approvals = g; o.ActionBurst = 1000 })
	return g
}

// propose holds a BTC/USDT buy as the agent would: a pending proposal of
// decision index idx, judged at judgedAt.
func propose(e *env, g *approval.Gate, idx int, judgedAt time.Time) audit.ApprovalRow {
	e.t.Helper()
	d := decimal.RequireFromString
	order := &schemas.Order{Symbol: "BTC/USDT", Side: "buy", Type: "limit", Quantity: d("0.01"), Price: d("42000"), Notional: d("420")}
	v := schemas.Verdict{Index: idx, Symbol: "BTC/USDT", Action: "buy", Decision: "approved", Order: order, Rules: []schemas.RuleResult{
		{Name: "max_position_pct", Mode: "enforce", Passed: true},
		{Name: "min_confidence", Mode: "enforce", Passed: true},
		{Name: "shadow_rule", Mode: "shadow", Passed: false},
	}}
	rec := schemas.Recommendation{Symbol: "BTC/USDT", Action: "buy", Confidence: d("0.7"), SizePct: d("5"), OrderType: "limit", Reason: "breakout"}
	st := schemas.State{Now: judgedAt, Mode: "paper", Markets: map[string]schemas.Market{"BTC/USDT": {Last: d("42000")}}}
	id := audit.DecisionID(runID, idx)
	held, err := g.Hold(context.Background(), id, runID, rationale, rec, v, "abc123", st)
	if err != nil || !held {
		e.t.Fatalf("hold %s: held=%v err=%v", id, held, err)
	}
	row, err := e.st.Approval(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return row
}

// codeAt is user's TOTP code of step (a code already handed out: a replay).
func (e *env) codeAt(user string, step int64) string {
	e.t.Helper()
	c, err := totp.GenerateCode(e.totp[user], time.Unix(step*totpPeriod, 0))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) approval(id string) audit.ApprovalRow {
	e.t.Helper()
	row, err := e.st.Approval(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return row
}

// approvalStates counts the approval event records by state.
func (e *env) approvalStates() map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for _, ev := range e.events(audit.EventApproval) {
		out[ev.State]++
	}
	return out
}

// TestApprovalsPage: the page shows each pending proposal with its
// decision id, the sized order, the rationale excerpt, the rules passed,
// the expiry and the 12-digit hash prefix; operators get approve and deny
// forms, viewers none; the API lists the same.
func TestApprovalsPage(t *testing.T) {
	e := newEnv(t)
	g := withApprovals(e)
	row := propose(e, g, 0, e.clock.Now())
	operator, viewer := e.login("alice"), e.login("victor")

	resp := do(e.srv, "GET", "/approvals", nil, nil, operator)
	page := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("approvals page: %d %s", resp.StatusCode, page)
	}
	for _, want := range []string{row.DecisionID, "buy 0.01 BTC/USDT limit @ 42000", "420", rationale, "max_position_pct, min_confidence",
		"2024-01-10 12:15:00Z", row.Hash[:12], `name="hash" value="` + row.Hash[:12] + `"`, `action="/approvals/` + row.DecisionID + `/approve"`,
		`action="/approvals/` + row.DecisionID + `/deny"`, "The console only records an approval", "warden approvals --process"} {
		if !strings.Contains(page, want) {
			t.Errorf("approvals page lacks %q", want)
		}
	}
	if strings.Contains(page, "shadow_rule") {
		t.Error("a rule that did not pass is listed among the rules passed")
	}
	if strings.Contains(page, row.Hash[:13]) {
		t.Error("the page shows more of the hash than the 12-digit prefix")
	}
	resp = do(e.srv, "GET", "/approvals", nil, nil, viewer)
	page = readAll(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, row.Hash[:12]) || strings.Contains(page, "approve-form") || strings.Contains(page, "deny-form") {
		t.Fatalf("viewer's approvals page: %d; want the proposal without forms:\n%s", resp.StatusCode, page)
	}
	if !strings.Contains(page, "need the operator role") {
		t.Error("the viewer's page does not say why there are no buttons")
	}

	resp = do(e.srv, "GET", "/api/approvals", nil, nil, viewer)
	var a Approvals
	if err := json.Unmarshal([]byte(readAll(t, resp)), &a); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("api approvals: %d %v", resp.StatusCode, err)
	}
	if !a.Enabled || len(a.Pending) != 1 || len(a.Recent) != 0 {
		t.Fatalf("api approvals = %+v; want enabled, one pending", a)
	}
	p := a.Pending[0]
	if p.DecisionID != row.DecisionID || p.HashPrefix != row.Hash[:12] || !p.ExpiresAt.Equal(row.ExpiresAt) || p.Order.Symbol != "BTC/USDT" ||
		strings.Join(p.RulesPassed, ",") != "max_position_pct,min_confidence" || p.Rationale != rationale || p.Status != audit.ApprovalPending {
		t.Fatalf("api pending item = %+v", p)
	}
	if resp := do(e.srv, "GET", "/api/approvals?x=1", nil, nil, viewer); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown parameter: %d, want 400", resp.StatusCode)
	}
}

// TestApproveRefusedFromConsole: every way an approval can be wrong is
// refused and leaves the proposal pending; then the right one records it
// as console:alice with the hash seen, and a second approval is refused.
func TestApproveRefusedFromConsole(t *testing.T) {
	e := newEnv(t)
	g := withApprovals(e)
	row := propose(e, g, 0, e.clock.Now())
	operator, viewer := e.login("alice"), e.login("victor")
	api := func(cookie, path, body string) (int, string) {
		resp := do(e.srv, "POST", path, strings.NewReader(body), map[string]string{"Content-Type": "application/json"}, cookie)
		return resp.StatusCode, readAll(t, resp)
	}
	approvePath := "/api/approvals/" + row.DecisionID + "/approve"
	pending := func(what string) {
		t.Helper()
		if got := e.approval(row.DecisionID); got.Status != audit.ApprovalPending || got.DecidedBy != "" {
			t.Fatalf("after %s the proposal is %s by %q; want pending, undecided", what, got.Status, got.DecidedBy)
		}
		if n := e.approvalStates()[audit.ApprovalApproved]; n != 0 {
			t.Fatalf("after %s, %d approved record(s)", what, n)
		}
	}

	// Refused before the gate: nothing about the proposal is recorded.
	before := e.records()
	for _, c := range []struct {
		name, cookie, body string
		want               int
		says               string
	}{
		{"viewer", viewer, `{"hash":"` + row.Hash[:12] + `","totp":"123456"}`, http.StatusForbidden, "operator role"},
		{"no session", "", `{"hash":"` + row.Hash[:12] + `","totp":"123456"}`, http.StatusUnauthorized, "sign in"},
		{"no step-up code", operator, `{"hash":"` + row.Hash[:12] + `"}`, http.StatusBadRequest, "totp is required"},
		{"no hash", operator, `{"totp":"123456"}`, http.StatusBadRequest, "hash is required"},
		{"reason on approve", operator, `{"hash":"` + row.Hash[:12] + `","reason":"x","totp":"123456"}`, http.StatusBadRequest, "no reason"},
		{"unknown field", operator, `{"hash":"` + row.Hash[:12] + `","totp":"123456","by":"bob"}`, http.StatusBadRequest, "unknown field"},
		{"malformed", operator, `{"hash":`, http.StatusBadRequest, "malformed"},
	} {
		if code, text := api(c.cookie, approvePath, c.body); code != c.want || !strings.Contains(text, c.says) {
			t.Errorf("%s: %d %s; want %d saying %q", c.name, code, text, c.want, c.says)
		}
	}
	if got := e.records() - before; got != 0 {
		t.Fatalf("requests refused before the step-up wrote %d records", got)
	}
	pending("the malformed requests")

	// A wrong code and the code used to sign in (replayed) fail the
	// step-up; only the wrong code is a recorded failure (the right code
	// used before counts towards no lockout).
	before = e.records()
	if code, text := api(operator, approvePath, `{"hash":"`+row.Hash[:12]+`","totp":"000000"}`); code != http.StatusForbidden || !strings.Contains(text, "fresh TOTP code") {
		t.Fatalf("wrong code: %d %s", code, text)
	}
	if code, text := api(operator, approvePath, `{"hash":"`+row.Hash[:12]+`","totp":"`+e.codeAt("alice", e.lastTS["alice"])+`"}`); code != http.StatusForbidden || !strings.Contains(text, "already used") {
		t.Fatalf("replayed login code: %d %s", code, text)
	}
	if got := e.records() - before; got != 1 {
		t.Fatalf("failed step-ups wrote %d records, want 1 (the wrong code)", got)
	}
	pending("failed step-ups")

	// Past the step-up, the gate refuses and records the refusal.
	for _, c := range []struct {
		name, path, hash, says string
	}{
		{"wrong hash", approvePath, "deadbeef", "does not match"},
		{"7 digits", approvePath, row.Hash[:7], "at least 8 hex digits"},
		{"not hex", approvePath, "zzzzzzzz", "at least 8 hex digits"},
		{"unknown id", "/api/approvals/" + audit.DecisionID(runID, 9) + "/approve", row.Hash[:12], "no proposal"},
	} {
		before := e.approvalStates()["refused"]
		code, text := api(operator, c.path, `{"hash":"`+c.hash+`","totp":"`+e.code("alice")+`"}`)
		if code != http.StatusConflict || !strings.Contains(text, c.says) || !strings.Contains(text, "refused and recorded") {
			t.Errorf("%s: %d %s; want 409 saying %q", c.name, code, text, c.says)
		}
		if e.approvalStates()["refused"] != before+1 {
			t.Errorf("%s: the refusal was not recorded", c.name)
		}
		pending(c.name)
	}
	// A replayed step-up code (used by the refused attempt just before).
	if code, text := api(operator, approvePath, `{"hash":"`+row.Hash[:12]+`","totp":"`+e.codeAt("alice", e.lastTS["alice"])+`"}`); code != http.StatusForbidden || !strings.Contains(text, "already used") {
		t.Fatalf("replayed step-up code: %d %s", code, text)
	}
	pending("a replayed step-up code")

	// The right approval, through the form, with exactly 8 digits typed
	// in upper case as a person may.
	body, hdr := form(map[string]string{"hash": strings.ToUpper(row.Hash[:8]), "totp": e.code("alice")})
	resp := do(e.srv, "POST", "/approvals/"+row.DecisionID+"/approve", body, hdr, operator)
	if text := readAll(t, resp); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/approvals?done=approved&id="+strings.ReplaceAll(row.DecisionID, ":", "%3A") {
		t.Fatalf("approve form: %d location %q %s", resp.StatusCode, resp.Header.Get("Location"), text)
	}
	got := e.approval(row.DecisionID)
	if got.Status != audit.ApprovalApproved || got.DecidedBy != "console:alice@192.0.2.1" || got.Channel != approval.ChannelConsole || got.HashSeen != row.Hash[:8] {
		t.Fatalf("after approve: %+v; want approved by console:alice (console) having seen %s", got, row.Hash[:8])
	}
	var ev map[string]any
	evs := e.events(audit.EventApproval)
	for _, x := range evs {
		if x.State == audit.ApprovalApproved {
			json.Unmarshal(x.Detail, &ev)
		}
	}
	if ev["who"] != "console:alice@192.0.2.1" || ev["channel"] != "console" || ev["hash_seen"] != row.Hash[:8] {
		t.Fatalf("approved record = %v", ev)
	}
	resp = do(e.srv, "GET", "/approvals?done=approved&id="+row.DecisionID, nil, nil, operator)
	page := readAll(t, resp)
	for _, want := range []string{"Done: " + row.DecisionID + " approved", "within seconds", "console:alice", "no-pending"} {
		if !strings.Contains(page, want) {
			t.Errorf("page after approve lacks %q", want)
		}
	}
	// Approving again is refused: it is no longer pending.
	if code, text := api(operator, approvePath, `{"hash":"`+row.Hash[:12]+`","totp":"`+e.code("alice")+`"}`); code != http.StatusConflict || !strings.Contains(text, "is approved, not pending") {
		t.Fatalf("second approve: %d %s", code, text)
	}
	if n := e.approvalStates()[audit.ApprovalApproved]; n != 1 {
		t.Fatalf("%d approved records, want 1", n)
	}
	if _, err := e.st.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The decision page tells the story: proposed, the refusals, approved by whom.
	resp = do(e.srv, "GET", "/decisions/"+row.DecisionID, nil, nil, viewer)
	page = readAll(t, resp)
	for _, want := range []string{"Human approval", "Proposal <b>approved</b>", "decided by console:alice@192.0.2.1 (console)", "hash seen <span class=\"id\">" + row.Hash[:8],
		"<td>proposed</td>", "<td>refused</td>", "<td>approved</td>", "does not match"} {
		if !strings.Contains(page, want) {
			t.Errorf("decision page lacks %q", want)
		}
	}
	resp = do(e.srv, "GET", "/api/decisions/"+row.DecisionID, nil, nil, viewer)
	var dv DecisionView
	if err := json.Unmarshal([]byte(readAll(t, resp)), &dv); err != nil || dv.Approval == nil || dv.Approval.Status != "approved" || len(dv.ApprovalEvents) < 3 {
		t.Fatalf("api decision approval: %v %+v", err, dv.Approval)
	}
	if dv.ApprovalEvents[0].State != "proposed" || dv.ApprovalEvents[len(dv.ApprovalEvents)-1].State != "refused" {
		t.Errorf("approval events not in order: first %s, last %s", dv.ApprovalEvents[0].State, dv.ApprovalEvents[len(dv.ApprovalEvents)-1].State)
	}
	// A decision that never waited shows no approval section.
	resp = do(e.srv, "GET", "/decisions/"+audit.DecisionID(runID, 1), nil, nil, viewer)
	if page := readAll(t, resp); strings.Contains(page, "Human approval") {
		t.Error("a decision without a proposal shows an approval section")
	}
}

// TestApproveExpiry: an approval at the expiry instant is recorded; one
// nanosecond past it is refused and the proposal stays pending (the
// scheduler expires it).
func TestApproveExpiry(t *testing.T) {
	e := newEnv(t)
	g := withApprovals(e)
	t0 := e.clock.Now()
	operator := e.login("alice") // uses the code of t0's step
	atLimit := propose(e, g, 0, t0)
	// Expires 1 ns before the step after t0+15m, when the next code is used.
	beyond := propose(e, g, 2, t0.Add(totpPeriod*time.Second-time.Nanosecond))
	e.clock.Advance(15 * time.Minute)
	api := func(row audit.ApprovalRow) (int, string) {
		resp := do(e.srv, "POST", "/api/approvals/"+row.DecisionID+"/approve", strings.NewReader(`{"hash":"`+row.Hash[:12]+`","totp":"`+e.code("alice")+`"}`),
			map[string]string{"Content-Type": "application/json"}, operator)
		return resp.StatusCode, readAll(t, resp)
	}
	code, text := api(atLimit)
	if !e.clock.Now().Equal(atLimit.ExpiresAt) {
		t.Fatalf("clock %s, want the expiry %s", e.clock.Now(), atLimit.ExpiresAt)
	}
	if code != http.StatusOK || !strings.Contains(text, `"status": "approved"`) || !strings.Contains(text, "within seconds") {
		t.Fatalf("approve at the expiry instant: %d %s", code, text)
	}
	code, text = api(beyond)
	if d := e.clock.Now().Sub(beyond.ExpiresAt); d != time.Nanosecond {
		t.Fatalf("clock is %s past the expiry, want 1ns", d)
	}
	if code != http.StatusConflict || !strings.Contains(text, "expired") {
		t.Fatalf("approve 1 ns after expiry: %d %s", code, text)
	}
	if got := e.approval(beyond.DecisionID); got.Status != audit.ApprovalPending || got.DecidedBy != "" {
		t.Fatalf("expired proposal after a refused approval: %+v", got)
	}
	// A proposal the scheduler expired is refused too.
	if _, err := e.st.TransitionApproval(context.Background(), beyond.DecisionID, []string{audit.ApprovalPending}, audit.ApprovalExpired, audit.ApprovalChange{}, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if code, text := api(beyond); code != http.StatusConflict || !strings.Contains(text, "is expired, not pending") {
		t.Fatalf("approve an expired proposal: %d %s", code, text)
	}
	if n := e.approvalStates()[audit.ApprovalApproved]; n != 1 {
		t.Fatalf("%d approved records, want 1 (at the limit only)", n)
	}
}

// TestDenyFromConsole: a denial needs a reason and a fresh code; it is
// recorded with the reason, and the proposal can no longer be approved.
func TestDenyFromConsole(t *testing.T) {
	e := newEnv(t)
	g := withApprovals(e)
	row := propose(e, g, 0, e.clock.Now())
	operator := e.login("alice")
	denyPath := "/approvals/" + row.DecisionID + "/deny"
	before := e.records()
	for _, c := range []struct {
		vals map[string]string
		says string
	}{
		{map[string]string{"totp": "123456"}, "reason is required"},
		{map[string]string{"reason": "   ", "totp": "123456"}, "reason is required"},
		{map[string]string{"reason": "no"}, "totp is required"},
		{map[string]string{"reason": "no", "totp": "123456", "hash": row.Hash[:12]}, "no hash"},
		{map[string]string{"reason": "no", "totp": "123456", "who": "bob"}, "unknown field"},
		{map[string]string{"reason": "bad\x07bell", "totp": "123456"}, "control characters"},
	} {
		body, hdr := form(c.vals)
		resp := do(e.srv, "POST", denyPath, body, hdr, operator)
		if text := readAll(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, c.says) {
			t.Errorf("deny %v: %d, want 400 saying %q", c.vals, resp.StatusCode, c.says)
		}
	}
	if got := e.records() - before; got != 0 {
		t.Fatalf("refused denials wrote %d records", got)
	}
	body, hdr := form(map[string]string{"reason": "news pending, not now", "totp": e.code("alice")})
	resp := do(e.srv, "POST", denyPath, body, hdr, operator)
	if text := readAll(t, resp); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/approvals?done=denied") {
		t.Fatalf("deny: %d %s", resp.StatusCode, text)
	}
	got := e.approval(row.DecisionID)
	if got.Status != audit.ApprovalDenied || got.DecidedBy != "console:alice@192.0.2.1" || got.Channel != "console" || got.Reason != "news pending, not now" {
		t.Fatalf("after deny: %+v", got)
	}
	resp = do(e.srv, "POST", "/api/approvals/"+row.DecisionID+"/approve", strings.NewReader(`{"hash":"`+row.Hash[:12]+`","totp":"`+e.code("alice")+`"}`),
		map[string]string{"Content-Type": "application/json"}, operator)
	if text := readAll(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(text, "is denied, not pending") {
		t.Fatalf("approve after deny: %d %s", resp.StatusCode, text)
	}
	resp = do(e.srv, "GET", "/api/approvals", nil, nil, operator)
	var a Approvals
	json.Unmarshal([]byte(readAll(t, resp)), &a)
	if len(a.Pending) != 0 || len(a.Recent) != 1 || a.Recent[0].Status != "denied" || a.Recent[0].Reason != "news pending, not now" || a.Recent[0].DecidedAt.IsZero() {
		t.Fatalf("api approvals after deny = %+v", a)
	}
}

// TestApprovalsOff: without approval configured the page says so and
// every approve or deny is refused with 409, writing nothing.
func TestApprovalsOff(t *testing.T) {
	e := newEnv(t)
	operator := e.login("alice")
	resp := do(e.srv, "GET", "/approvals", nil, nil, operator)
	if page := readAll(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Human approval is off") || strings.Contains(page, "approve-form") {
		t.Fatalf("approvals page with approval off: %d\n%s", resp.StatusCode, page)
	}
	resp = do(e.srv, "GET", "/api/approvals", nil, nil, operator)
	if text := readAll(t, resp); !strings.Contains(text, `"enabled": false`) {
		t.Fatalf("api approvals with approval off: %s", text)
	}
	before := e.records()
	id := audit.DecisionID(runID, 0)
	for _, path := range []string{"/api/approvals/" + id + "/approve", "/api/approvals/" + id + "/deny"} {
		resp := do(e.srv, "POST", path, strings.NewReader(`{"totp":"`+e.code("alice")+`"}`), map[string]string{"Content-Type": "application/json"}, operator)
		if text := readAll(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(text, "approval is off") {
			t.Errorf("%s with approval off: %d %s", path, resp.StatusCode, text)
		}
	}
	body, hdr := form(map[string]string{"hash": "deadbeef", "totp": "123456"})
	resp = do(e.srv, "POST", "/approvals/"+id+"/approve", body, hdr, operator)
	if text := readAll(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(text, "approval is off") {
		t.Errorf("form approve with approval off: %d %s", resp.StatusCode, text)
	}
	if got := e.records() - before; got != 0 {
		t.Fatalf("approval off: the refused requests wrote %d records", got)
	}
}

// TestApproveUnderKillSwitchAndRateLimit: with the kill switch on the gate
// refuses (recorded, still pending); approvals share the per-user action
// limit with kill and resume (burst 3, then 429 before any code is spent).
func TestApproveUnderKillSwitchAndRateLimit(t *testing.T) {
	e := newEnv(t)
	g := withApprovals(e)
	e.srv = e.server(e.st, func(o *Options) { o.Approvals = g }) // default action limit: burst 3
	row := propose(e, g, 0, e.clock.Now())
	operator := e.login("alice")
	if err := e.st.SetKillSwitch(context.Background(), true, "test", "incident"); err != nil {
		t.Fatal(err)
	}
	api := func(body string) (int, string) {
		resp := do(e.srv, "POST", "/api/approvals/"+row.DecisionID+"/approve", strings.NewReader(body), map[string]string{"Content-Type": "application/json"}, operator)
		return resp.StatusCode, readAll(t, resp)
	}
	for i := 0; i < 3; i++ {
		code, text := api(`{"hash":"` + row.Hash[:12] + `","totp":"` + e.code("alice") + `"}`)
		if code != http.StatusConflict || !strings.Contains(text, "kill switch is on") {
			t.Fatalf("approve %d under the kill switch: %d %s", i, code, text)
		}
	}
	if got := e.approval(row.DecisionID); got.Status != audit.ApprovalPending {
		t.Fatalf("under the kill switch the proposal became %s", got.Status)
	}
	if n := e.approvalStates()["refused"]; n != 3 {
		t.Fatalf("%d refusals recorded, want 3", n)
	}
	// Within one TOTP step (the clock stands still): 3 attempts pass the
	// limiter (and fail the step-up), the 4th is refused by it.
	e.clock.Advance(30 * time.Second) // the bucket refills
	for i := 0; i < 3; i++ {
		if code, text := api(`{"hash":"` + row.Hash[:12] + `","totp":"000000"}`); code != http.StatusForbidden {
			t.Fatalf("attempt %d in the burst: %d %s; want 403 (wrong code)", i, code, text)
		}
	}
	code, text := api(`{"hash":"` + row.Hash[:12] + `","totp":"000000"}`)
	if code != http.StatusTooManyRequests || !strings.Contains(text, "too many actions") {
		t.Fatalf("4th action in a burst of 3: %d %s; want 429", code, text)
	}
	if n := e.approvalStates()["refused"]; n != 3 {
		t.Fatalf("a rate-limited request reached the gate (%d refusals)", n)
	}
}
