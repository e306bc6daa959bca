package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/warden-trading/warden/agent/approval"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

// Human approval's console channel: the Approvals page lists pending
// proposals; an operator approves (naming the hash prefix shown) or denies
// (with a reason), each time with a fresh TOTP code. The console only
// records the vote through agent/approval, which records who, the channel,
// the hash seen and, later, the re-judged verdict. It places nothing: the
// running `warden run` re-checks and places an approved proposal within
// seconds, or, in cron setups, the next `warden run --once` or
// `warden approvals --process` does.

// recentApprovals is how many decided proposals the page shows.
const recentApprovals = 20

// PlacementNote tells a person what happens after an approval.
const PlacementNote = "The console only records an approval. The running warden run re-checks it (expiry, kill switch, safe mode, price move, the same recommendation judged again under the policy in force) and places it within seconds; without a running warden run, the next warden run --once or warden approvals --process does."

// errApprovalOff answers an approval action when approval is not configured.
var errApprovalOff = &httpError{http.StatusConflict, "approval is off: the config has no approval.required (or live warm-up), or approval.channels does not include console; there is nothing to approve or deny here"}

// ApprovalItem is one proposal as the page and the API show it.
type ApprovalItem struct {
	DecisionID  string        `json:"decision_id"`
	RunID       string        `json:"run_id"`
	Status      string        `json:"status"`
	Order       schemas.Order `json:"order"`
	Rationale   string        `json:"rationale"`
	RulesPassed []string      `json:"rules_passed"`
	CreatedAt   time.Time     `json:"created_at"`
	ExpiresAt   time.Time     `json:"expires_at"`
	HashPrefix  string        `json:"hash_prefix"`
	DecidedBy   string        `json:"decided_by,omitempty"`
	Channel     string        `json:"channel,omitempty"`
	DecidedAt   time.Time     `json:"decided_at,omitzero"`
	HashSeen    string        `json:"hash_seen,omitempty"`
	Reason      string        `json:"reason,omitempty"`
}

func approvalItem(it approval.Item) ApprovalItem {
	a := ApprovalItem{
		DecisionID: it.DecisionID, RunID: it.RunID, Status: it.Status, Order: it.Proposal.Order,
		Rationale: it.Proposal.Rationale, RulesPassed: it.Proposal.RulesPassed, CreatedAt: it.CreatedAt.UTC(),
		ExpiresAt: it.ExpiresAt.UTC(), HashPrefix: it.Hash, DecidedBy: it.DecidedBy, Channel: it.Channel,
		HashSeen: it.HashSeen, Reason: it.Reason,
	}
	if len(a.HashPrefix) > approval.ShownHashPrefix {
		a.HashPrefix = a.HashPrefix[:approval.ShownHashPrefix]
	}
	if !it.DecidedAt.IsZero() {
		a.DecidedAt = it.DecidedAt.UTC()
	}
	return a
}

// Approvals is the Approvals page's data (and GET /api/approvals).
type Approvals struct {
	Enabled bool           `json:"enabled"`
	Pending []ApprovalItem `json:"pending"`
	Recent  []ApprovalItem `json:"recent"`
	Note    string         `json:"note"`
	Done    string         `json:"-"`
	DoneID  string         `json:"-"`
}

func (s *Server) approvals(r *http.Request) (Approvals, error) {
	out := Approvals{Enabled: s.opt.Approvals != nil, Pending: []ApprovalItem{}, Recent: []ApprovalItem{}, Note: PlacementNote}
	// Proposals are listed even when approval is off now: ones made while
	// it was on still expire, and the page shows how they ended.
	items, err := approval.List(r.Context(), s.st)
	if err != nil {
		return out, err
	}
	for _, it := range items {
		if it.Status == audit.ApprovalPending {
			out.Pending = append(out.Pending, approvalItem(it))
		}
	}
	for i := len(items) - 1; i >= 0 && len(out.Recent) < recentApprovals; i-- {
		if items[i].Status != audit.ApprovalPending {
			out.Recent = append(out.Recent, approvalItem(items[i]))
		}
	}
	return out, nil
}

func (s *Server) approvalsPage(w http.ResponseWriter, r *http.Request, u *user) error {
	if err := onlyParams(r, "done", "id"); err != nil {
		return err
	}
	a, err := s.approvals(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	switch d := q.Get("done"); d {
	case "", "approved", "denied":
		a.Done = d
	default:
		return badRequest("done: want approved or denied")
	}
	if a.Done != "" {
		if err := checkDecisionID(q.Get("id")); err != nil {
			return err
		}
		a.DoneID = q.Get("id")
	}
	s.render(w, http.StatusOK, "approvals", u, a)
	return nil
}

func (s *Server) apiApprovals(w http.ResponseWriter, r *http.Request, _ *user) error {
	if err := onlyParams(r); err != nil {
		return err
	}
	a, err := s.approvals(r)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, a)
	return nil
}

// checkDecisionID refuses what cannot be a decision id before anything is
// looked up or recorded.
func checkDecisionID(id string) error {
	if id == "" {
		return badRequest("decision id is required")
	}
	if len(id) > 200 {
		return badRequest("decision id: at most 200 characters")
	}
	for _, c := range id {
		if !unicode.IsPrint(c) || unicode.IsSpace(c) {
			return badRequest("decision id: spaces and control characters are not allowed")
		}
	}
	return nil
}

// voteRequest is the body of POST /api/approvals/{id}/approve and /deny,
// and the fields of the forms: approve names the hash prefix the person
// saw, deny a reason; both a fresh TOTP code.
type voteRequest struct {
	Hash   string `json:"hash,omitempty"`
	Reason string `json:"reason,omitempty"`
	TOTP   string `json:"totp"`
}

// vote checks the request and the step-up, then records the approval or
// denial through the approval package as console:NAME.
func (s *Server) vote(r *http.Request, u *user, approve bool, req voteRequest) (audit.ApprovalRow, error) {
	ctx := r.Context()
	if s.opt.Approvals == nil {
		return audit.ApprovalRow{}, errApprovalOff
	}
	id := r.PathValue("id")
	if err := checkDecisionID(id); err != nil {
		return audit.ApprovalRow{}, err
	}
	req.Hash, req.Reason = strings.TrimSpace(req.Hash), strings.TrimSpace(req.Reason)
	if approve {
		if req.Reason != "" {
			return audit.ApprovalRow{}, badRequest("approve takes the hash and a TOTP code, no reason")
		}
		if req.Hash == "" {
			return audit.ApprovalRow{}, badRequest("hash is required: the hash prefix shown with the proposal (at least %d hex digits)", approval.MinHashPrefix)
		}
		if len(req.Hash) > 64 {
			return audit.ApprovalRow{}, badRequest("hash: at most 64 hex digits")
		}
	} else {
		if req.Hash != "" {
			return audit.ApprovalRow{}, badRequest("deny takes a reason and a TOTP code, no hash")
		}
		if req.Reason == "" {
			return audit.ApprovalRow{}, badRequest("reason is required: say why, for the audit log")
		}
		if len(req.Reason) > 500 {
			return audit.ApprovalRow{}, badRequest("reason: at most 500 characters")
		}
		for _, c := range req.Reason {
			if !unicode.IsPrint(c) {
				return audit.ApprovalRow{}, badRequest("reason: control characters are not allowed")
			}
		}
	}
	if req.TOTP == "" {
		return audit.ApprovalRow{}, badRequest("totp is required: actions need a fresh code from your authenticator")
	}
	if !s.allowAction(u.Name) {
		if err := s.st.RecordConsoleEvent(ctx, audit.EventConsoleLogin, "rate_limited", audit.ConsoleEvent{User: u.Name, Remote: remote(r), Reason: "too many actions"}); err != nil {
			return audit.ApprovalRow{}, err
		}
		return audit.ApprovalRow{}, &httpError{http.StatusTooManyRequests, "too many actions; wait a little"}
	}
	if err := s.stepUp(ctx, u, req.TOTP, remote(r)); err != nil {
		return audit.ApprovalRow{}, err
	}
	v := approval.Vote{DecisionID: id, HashPrefix: req.Hash, Who: actor(u, r), Channel: approval.ChannelConsole, Reason: req.Reason}
	var (
		row audit.ApprovalRow
		err error
	)
	if approve {
		row, err = s.opt.Approvals.Approve(ctx, v)
	} else {
		row, err = s.opt.Approvals.Deny(ctx, v)
	}
	switch {
	case errors.Is(err, approval.ErrRefused):
		// Already recorded as a refusal by the approval package.
		return row, &httpError{http.StatusConflict, strings.TrimPrefix(err.Error(), "refused: ") + " (refused and recorded; nothing changed)"}
	case errors.Is(err, audit.ErrApprovalState):
		return row, &httpError{http.StatusConflict, err.Error() + " (nothing changed)"}
	}
	return row, err
}

func (s *Server) voteForm(w http.ResponseWriter, r *http.Request, u *user, approve bool) error {
	if err := parseForm(r, "hash", "reason", "totp"); err != nil {
		return err
	}
	req := voteRequest{Hash: r.PostForm.Get("hash"), Reason: r.PostForm.Get("reason"), TOTP: r.PostForm.Get("totp")}
	row, err := s.vote(r, u, approve, req)
	if err != nil {
		return err
	}
	done := "denied"
	if approve {
		done = "approved"
	}
	http.Redirect(w, r, "/approvals?"+url.Values{"done": {done}, "id": {row.DecisionID}}.Encode(), http.StatusSeeOther)
	return nil
}

func (s *Server) approveForm(w http.ResponseWriter, r *http.Request, u *user) error {
	return s.voteForm(w, r, u, true)
}

func (s *Server) denyForm(w http.ResponseWriter, r *http.Request, u *user) error {
	return s.voteForm(w, r, u, false)
}

func (s *Server) apiVote(w http.ResponseWriter, r *http.Request, u *user, approve bool) error {
	var req voteRequest
	want := `{"hash": "<prefix shown>", "totp": "123456"}`
	if !approve {
		want = `{"reason": "...", "totp": "123456"}`
	}
	if err := decodeJSONBody(r, &req, want); err != nil {
		return err
	}
	row, err := s.vote(r, u, approve, req)
	if err != nil {
		return err
	}
	_, p, err := approval.Load(r.Context(), s.st, row.DecisionID)
	if err != nil {
		return err
	}
	out := map[string]any{"approval": approvalItem(approval.Item{ApprovalRow: row, Proposal: p})}
	if approve {
		out["note"] = PlacementNote
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) apiApprove(w http.ResponseWriter, r *http.Request, u *user) error {
	return s.apiVote(w, r, u, true)
}

func (s *Server) apiDeny(w http.ResponseWriter, r *http.Request, u *user) error {
	return s.apiVote(w, r, u, false)
}

// orderText is how a page names an order.
func orderText(o schemas.Order) string {
	t := fmt.Sprintf("%s %s %s %s", o.Side, o.Quantity, o.Symbol, o.Type)
	if o.Price.IsPositive() {
		t += " @ " + o.Price.String()
	}
	return t
}

// decisionApproval adds the decision's proposal and its approval records
// to dv, when its order waited for a person.
func (s *Server) decisionApproval(ctx context.Context, dv *DecisionView) error {
	row, p, err := approval.Load(ctx, s.st, dv.DecisionID)
	if errors.Is(err, audit.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	it := approvalItem(approval.Item{ApprovalRow: row, Proposal: p})
	dv.Approval = &it
	evs, err := s.st.ListEvents(ctx, audit.EventFilter{Kinds: []string{audit.EventApproval}, RunID: row.RunID, Limit: 1000})
	if err != nil {
		return err
	}
	for i := len(evs) - 1; i >= 0; i-- { // oldest first: the story in order
		var d struct {
			DecisionID string `json:"decision_id"`
		}
		if json.Unmarshal(evs[i].Detail, &d) == nil && d.DecisionID == dv.DecisionID {
			dv.ApprovalEvents = append(dv.ApprovalEvents, evs[i])
		}
	}
	return nil
}
