package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/notify"
	"github.com/warden-trading/warden/agent/status"
	"github.com/warden-trading/warden/schemas"
)

const listLimit = 200

// Templates.

var pageNames = []string{"login", "error", "status", "decisions", "decision", "runs", "events", "policy", "audit", "approvals"}

func (s *Server) parseTemplates() error {
	funcs := template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "–"
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		},
		"pretty": func(raw json.RawMessage) string {
			var buf bytes.Buffer
			if len(raw) == 0 || json.Indent(&buf, raw, "", "  ") != nil {
				return string(raw)
			}
			return buf.String()
		},
		"order":  orderText,
		"fixed":  func(d decimal.Decimal, places int) string { return d.StringFixed(int32(places)) },
		"signed": signed,
		// price is a price or "–" when there is none (0).
		"price": func(d decimal.Decimal) string {
			if d.IsZero() {
				return "–"
			}
			return d.String()
		},
		"limitname":  func(n string) string { return strings.ReplaceAll(n, "_", " ") },
		"limitvalue": limitValue,
		"limitcap":   limitCap,
		"short": func(h string) string {
			if len(h) > 16 {
				return h[:16] + "…"
			}
			return h
		},
	}
	s.pages = map[string]*template.Template{}
	for _, p := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return fmt.Errorf("console: template %s: %w", p, err)
		}
		s.pages[p] = t
	}
	return nil
}

// signed formats d with places decimals and its sign, as warden status
// does: "+0.25", "-0.00" for a small loss.
// signed is status.Signed for templates, which pass an int.
func signed(d decimal.Decimal, places int) string { return status.Signed(d, int32(places)) }

// limitValue and limitCap are a limit's value and cap as warden status
// shows them: the value of a percentage with 2 decimals, the cap as the
// policy (times the risk scale) gives it; a count as is.
func limitValue(l status.Limit) string {
	if l.Unit != "%" {
		return l.Value.String()
	}
	return l.Value.StringFixed(2) + " %"
}

func limitCap(l status.Limit) string {
	switch {
	case l.Limit == nil:
		return "–"
	case l.Unit == "%":
		return l.Limit.String() + " %"
	}
	return l.Limit.String()
}

// render executes a page into a buffer (so a failure never leaves half a
// page) and writes it through the redactor.
func (s *Server) render(w http.ResponseWriter, code int, page string, u *user, data any) {
	var buf bytes.Buffer
	err := s.pages[page].Execute(&buf, map[string]any{"Page": page, "User": u, "Data": data})
	if err != nil {
		s.log.Error("console: render", "page", page, "err", s.red.String(err.Error()))
		code = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString("<!doctype html><title>Warden</title><p>internal error</p>")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	io.WriteString(w, s.red.String(buf.String()))
}

// Status.

// Status is what the status page and GET /api/status show: what `warden
// status` shows (computed by agent/status), read as of At, and the latest
// recorded equity point.
type Status struct {
	At         time.Time           `json:"at"`
	Clock      string              `json:"clock"` // wall, or replay: the offline replay's last run
	Mode       string              `json:"mode"`
	KillSwitch audit.SwitchState   `json:"kill_switch"`
	Level      audit.LevelState    `json:"level"`
	RiskScale  decimal.Decimal     `json:"risk_scale"`
	ErrorCount int                 `json:"error_count"`
	Breakers   []audit.BreakerTrip `json:"breakers"`
	LastRun    *audit.RunRow       `json:"last_run"`
	Equity     *audit.EquityPoint  `json:"equity"`
	// Account, Positions and Limits are nil/empty when no decision was
	// recorded.
	Account    *status.Account   `json:"account"`
	Positions  []status.Position `json:"positions"`
	OpenOrders []status.Order    `json:"open_orders"`
	Limits     []status.Limit    `json:"limits"`
	Policy     string            `json:"policy"`
	Schedule   string            `json:"schedule"`
	NextRun    time.Time         `json:"next_run,omitzero"`
}

func (s *Server) status(ctx context.Context) (Status, error) {
	now, clock := s.now().UTC(), "wall"
	cfg := s.opt.Status
	if cfg.ReplayClock {
		if t, ok, err := status.ReplayClock(ctx, s.st); err != nil {
			return Status{}, err
		} else if ok {
			now, clock = t, "replay"
		}
	}
	scale := cfg.ReduceScale
	if scale.IsZero() {
		scale = decimal.NewFromInt(1)
	}
	rep, err := status.Build(ctx, s.st, status.Input{Now: now, Clock: clock, Mode: cfg.Mode, Schedule: cfg.Schedule, ReduceScale: scale, ReplayStep: cfg.ReplayStep,
		PolicyName: s.opt.Policy.Name, PolicyHash: s.opt.Policy.Hash, PolicySource: []byte(s.opt.Policy.Source)})
	if err != nil {
		return Status{}, err
	}
	st := Status{At: rep.Now, Clock: rep.Clock, Mode: rep.Mode, KillSwitch: rep.KillSwitch, Level: rep.Level, RiskScale: rep.RiskScale,
		ErrorCount: rep.ErrorCount, Breakers: rep.Breakers, LastRun: rep.LastRun, Account: rep.Account, Positions: rep.Positions,
		OpenOrders: rep.OpenOrders, Limits: rep.Limits, Policy: rep.Policy, Schedule: rep.Schedule, NextRun: rep.NextRun}
	if st.Breakers == nil {
		st.Breakers = []audit.BreakerTrip{}
	}
	if eq, ok, err := s.st.LatestEquity(ctx); err != nil {
		return st, err
	} else if ok {
		st.Equity = &eq
	}
	return st, nil
}

func (s *Server) statusPage(w http.ResponseWriter, r *http.Request, u *user) error {
	st, err := s.status(r.Context())
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "status", u, map[string]any{"Status": st, "Done": r.URL.Query().Get("done")})
	return nil
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request, _ *user) error {
	st, err := s.status(r.Context())
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, st)
	return nil
}

// Decisions.

var (
	symbolRE = regexp.MustCompile(`^[A-Za-z0-9]{1,20}(/[A-Za-z0-9]{1,20})?(:[A-Za-z0-9]{1,20})?$`)
	idRE     = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
)

// safeText checks a free-text parameter: at most max bytes, printable,
// no path separators or dot-dot.
func safeText(field, v string, max int) error {
	if len(v) > max {
		return badRequest("%s: at most %d characters", field, max)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return badRequest("%s: control characters are not allowed", field)
		}
	}
	if strings.Contains(v, "..") || strings.ContainsAny(v, `/\`) {
		return badRequest("%s: %q is not a valid value", field, v)
	}
	return nil
}

// decisionFilter reads the filter parameters: symbol, decision, rule,
// model; anything else is refused.
func decisionFilter(r *http.Request) (audit.Filter, error) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "symbol", "decision", "rule", "model", "day":
		default:
			return audit.Filter{}, badRequest("unknown parameter %q (filters: day, symbol, decision, rule, model)", k)
		}
	}
	f := audit.Filter{Limit: listLimit, Symbol: q.Get("symbol"), Rule: q.Get("rule"), Model: q.Get("model")}
	if f.Symbol != "" && !symbolRE.MatchString(f.Symbol) {
		return f, badRequest("symbol %q: want a market like BTC/USDT", f.Symbol)
	}
	switch d := schemas.Decision(q.Get("decision")); d {
	case "", schemas.Decision("approved"), schemas.Decision("rejected"), schemas.Decision("no_action"):
		f.Decision = d
	default:
		return f, badRequest("decision %q: want approved, rejected or no_action", d)
	}
	if d := q.Get("day"); d != "" {
		day, err := time.Parse(time.DateOnly, d)
		if err != nil {
			return f, badRequest("day %q: want a date like 2024-01-10 (UTC)", d)
		}
		f.From, f.To = day, day.AddDate(0, 0, 1)
	}
	if err := safeText("rule", f.Rule, 100); err != nil {
		return f, err
	}
	if err := safeText("model", f.Model, 100); err != nil {
		return f, err
	}
	return f, nil
}

func (s *Server) decisionsPage(w http.ResponseWriter, r *http.Request, u *user) error {
	f, err := decisionFilter(r)
	if err != nil {
		return err
	}
	rows, err := s.st.List(r.Context(), f)
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "decisions", u, map[string]any{"Filter": f, "Day": r.URL.Query().Get("day"), "Rows": rows, "Limit": listLimit})
	return nil
}

func (s *Server) apiDecisions(w http.ResponseWriter, r *http.Request, _ *user) error {
	f, err := decisionFilter(r)
	if err != nil {
		return err
	}
	rows, err := s.st.List(r.Context(), f)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"decisions": rows})
	return nil
}

// DecisionView is one decision as the console shows it.
type DecisionView struct {
	audit.DecisionStory
	Rationale     string                     `json:"rationale"`
	Notifications []audit.NotificationRecord `json:"notifications"`
	// Approval is the decision's proposal when its order waited for a
	// person, and ApprovalEvents every approval record about it (proposed,
	// approved or denied by whom, refused attempts, placing with the
	// re-judged verdict, placed, void, expired).
	Approval       *ApprovalItem    `json:"approval,omitempty"`
	ApprovalEvents []audit.EventRow `json:"approval_events,omitempty"`
}

func (s *Server) decision(ctx context.Context, id string) (DecisionView, error) {
	if !idRE.MatchString(id) || strings.Contains(id, "..") {
		return DecisionView{}, badRequest("decision id %q: not a decision id (run:index)", id)
	}
	st, err := s.st.Show(ctx, id)
	if err != nil {
		return DecisionView{}, err
	}
	if st.Kind != "decision" {
		return DecisionView{}, fmt.Errorf("%w: no decision %q", audit.ErrNotFound, id)
	}
	var dv DecisionView
	for _, d := range st.Decisions {
		if d.DecisionID == id {
			dv.DecisionStory = d
		}
	}
	if dv.DecisionID == "" {
		return DecisionView{}, fmt.Errorf("%w: no decision %q", audit.ErrNotFound, id)
	}
	for _, resp := range st.Responses {
		if resp.Parsed != nil {
			dv.Rationale = resp.Parsed.Rationale
		}
	}
	dv.Notifications = []audit.NotificationRecord{}
	for _, n := range st.Notifications {
		if strings.Contains(n.DedupKey, id) || strings.Contains(n.Text, id) {
			dv.Notifications = append(dv.Notifications, n)
		}
	}
	if err := s.decisionApproval(ctx, &dv); err != nil {
		return DecisionView{}, err
	}
	return dv, nil
}

func (s *Server) decisionPage(w http.ResponseWriter, r *http.Request, u *user) error {
	dv, err := s.decision(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "decision", u, dv)
	return nil
}

func (s *Server) apiDecision(w http.ResponseWriter, r *http.Request, _ *user) error {
	dv, err := s.decision(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, dv)
	return nil
}

// Runs and events.

func onlyParams(r *http.Request, allowed ...string) error {
	for k := range r.URL.Query() {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return badRequest("unknown parameter %q", k)
		}
	}
	return nil
}

func (s *Server) runs(r *http.Request) ([]audit.RunRow, error) {
	if err := onlyParams(r, "status"); err != nil {
		return nil, err
	}
	f := audit.RunFilter{Limit: listLimit, Status: r.URL.Query().Get("status")}
	if err := safeText("status", f.Status, 40); err != nil {
		return nil, err
	}
	return s.st.ListRuns(r.Context(), f)
}

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request, u *user) error {
	runs, err := s.runs(r)
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "runs", u, map[string]any{"Runs": runs, "Status": r.URL.Query().Get("status")})
	return nil
}

func (s *Server) apiRuns(w http.ResponseWriter, r *http.Request, _ *user) error {
	runs, err := s.runs(r)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
	return nil
}

func (s *Server) events(r *http.Request) ([]audit.EventRow, error) {
	if err := onlyParams(r, "kind"); err != nil {
		return nil, err
	}
	f := audit.EventFilter{Limit: listLimit}
	if k := r.URL.Query().Get("kind"); k != "" {
		if !idRE.MatchString(k) || strings.Contains(k, "..") {
			return nil, badRequest("kind %q: not an event kind", k)
		}
		f.Kinds = []string{k}
	}
	return s.st.ListEvents(r.Context(), f)
}

func (s *Server) eventsPage(w http.ResponseWriter, r *http.Request, u *user) error {
	evs, err := s.events(r)
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "events", u, map[string]any{"Events": evs, "Kind": r.URL.Query().Get("kind")})
	return nil
}

func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request, _ *user) error {
	evs, err := s.events(r)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"events": evs})
	return nil
}

// Policy and audit.

func (s *Server) policyPage(w http.ResponseWriter, r *http.Request, u *user) error {
	reloads, err := s.st.ListEvents(r.Context(), audit.EventFilter{Kinds: []string{audit.EventPolicyReload}, Limit: listLimit})
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "policy", u, map[string]any{"Policy": s.opt.Policy, "Reloads": reloads})
	return nil
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, u *user) error {
	rep, at, err := s.verify(r.Context())
	if err != nil {
		return err
	}
	logins, err := s.st.ListEvents(r.Context(), audit.EventFilter{Kinds: []string{audit.EventConsoleLogin, audit.EventConsoleLogout, audit.EventConsoleUser}, Limit: 50})
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "audit", u, map[string]any{"Report": rep, "VerifiedAt": at, "Logins": logins})
	return nil
}

// verifyEvery is how long a chain verification is shown before the next
// request verifies again: verifying rehashes every record, so the page
// cannot be used to keep the database busy.
const verifyEvery = time.Minute

func (s *Server) verify(ctx context.Context) (audit.VerifyReport, time.Time, error) {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	now := s.now()
	if !s.verifiedAt.IsZero() && now.Sub(s.verifiedAt) < verifyEvery {
		return s.verified, s.verifiedAt, nil
	}
	rep, err := s.st.Verify(ctx)
	if err != nil {
		return rep, time.Time{}, err
	}
	s.verified, s.verifiedAt = rep, now
	return rep, now, nil
}

// Actions.

// actionRequest is the body of POST /api/kill and /api/resume, and the
// fields of the forms.
type actionRequest struct {
	Reason string `json:"reason"`
	TOTP   string `json:"totp"`
}

func (a actionRequest) check() error {
	a.Reason = strings.TrimSpace(a.Reason)
	if a.Reason == "" {
		return badRequest("reason is required: say why, for the audit log")
	}
	if len(a.Reason) > 500 {
		return badRequest("reason: at most 500 characters")
	}
	for _, r := range a.Reason {
		if !unicode.IsPrint(r) {
			return badRequest("reason: control characters are not allowed")
		}
	}
	if a.TOTP == "" {
		return badRequest("totp is required: actions need a fresh code from your authenticator")
	}
	return nil
}

// act runs kill (on) or resume (off) for u after the step-up check, and
// announces it on the configured channels.
func (s *Server) act(r *http.Request, u *user, on bool, req actionRequest) error {
	ctx := r.Context()
	if err := req.check(); err != nil {
		return err
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if !s.allowAction(u.Name) {
		if err := s.st.RecordConsoleEvent(ctx, audit.EventConsoleLogin, "rate_limited", audit.ConsoleEvent{User: u.Name, Remote: remote(r), Reason: "too many actions"}); err != nil {
			return err
		}
		return &httpError{http.StatusTooManyRequests, "too many actions; wait a little"}
	}
	if err := s.stepUp(ctx, u, req.TOTP, remote(r)); err != nil {
		return err
	}
	by := actor(u, r)
	if err := s.st.SetKillSwitch(ctx, on, by, req.Reason); err != nil {
		return err
	}
	if !on {
		if err := s.st.EndLevels(ctx, by, req.Reason); err != nil {
			return err
		}
	}
	if len(s.opt.Channels) > 0 {
		n, err := notify.NewNotifier(notify.NotifierConfig{Outbox: s.st, Channels: s.opt.Channels, Now: s.now, Redactor: s.red})
		if err != nil {
			return err
		}
		if err := n.Publish(ctx, notify.KillSwitch{On: on, Reason: req.Reason, By: by, At: s.now()}); err != nil {
			// The switch is set and recorded; the notice is what failed.
			s.log.Error("console: notify", "err", s.red.String(err.Error()))
		}
	}
	return nil
}

func (s *Server) formAction(w http.ResponseWriter, r *http.Request, u *user, on bool) error {
	if err := parseForm(r, "reason", "totp"); err != nil {
		return err
	}
	req := actionRequest{Reason: r.PostForm.Get("reason"), TOTP: r.PostForm.Get("totp")}
	if err := s.act(r, u, on, req); err != nil {
		return err
	}
	done := "resumed"
	if on {
		done = "killed"
	}
	http.Redirect(w, r, "/status?done="+done, http.StatusSeeOther)
	return nil
}

func (s *Server) killForm(w http.ResponseWriter, r *http.Request, u *user) error {
	return s.formAction(w, r, u, true)
}

func (s *Server) resumeForm(w http.ResponseWriter, r *http.Request, u *user) error {
	return s.formAction(w, r, u, false)
}

func (s *Server) apiAction(w http.ResponseWriter, r *http.Request, u *user, on bool) error {
	var req actionRequest
	if err := decodeJSONBody(r, &req, `{"reason": "...", "totp": "123456"}`); err != nil {
		return err
	}
	if err := s.act(r, u, on, req); err != nil {
		return err
	}
	st, err := s.st.KillSwitchState(r.Context())
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"kill_switch": st})
	return nil
}

func (s *Server) apiKill(w http.ResponseWriter, r *http.Request, u *user) error {
	return s.apiAction(w, r, u, true)
}

func (s *Server) apiResume(w http.ResponseWriter, r *http.Request, u *user) error {
	return s.apiAction(w, r, u, false)
}
