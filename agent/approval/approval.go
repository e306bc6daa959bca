// Package approval is human approval: an order the validator approved
// waits for a person before it is placed.
//
// An approved verdict that needs approval becomes a proposal, bound by a
// hash over the decision id, the sized order, the policy hash and the
// state it was judged against. A person approves it by naming the decision
// id and a prefix of that hash (at least 8 hex digits), through a channel
// (the CLI, the console, Telegram). Before anything is placed the proposal
// is checked again: not expired, no kill switch, no safe mode, the price
// moved at most max_price_move_bps, and the same recommendation, judged
// again against the state now under the policy in force now, approves the
// same order (quantity and price within one step). Otherwise it is void,
// with the reason recorded and notified. The order then goes through the
// executor under the decision id, so approving twice places once, and a
// crash between approval and placement resumes without a second order.
//
// Every change is an approval event in the audit chain (agent/audit):
// who, through which channel, when, the hash they saw, and the re-judged
// verdict.
package approval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/notify"
	"github.com/warden-trading/warden/schemas"
)

// Channels a person approves through.
const (
	ChannelCLI      = "cli"
	ChannelConsole  = "console"
	ChannelTelegram = "telegram"
)

// MinHashPrefix is how many hex digits of the hash an approval must name.
const MinHashPrefix = 8

// ShownHashPrefix is how many hex digits notifications and listings show.
const ShownHashPrefix = 12

// Config is when approval is needed and how long it is good for.
type Config struct {
	// Required: every order matching For and OverNotional waits.
	Required bool
	// For are the order sides that wait (buy, sell); empty: both.
	For []schemas.Side
	// OverNotional: only orders whose notional is above it wait; zero: all.
	OverNotional decimal.Decimal
	// Expires is how long a proposal may wait (decision clock).
	Expires time.Duration
	// MaxPriceMoveBps is how far the mid price may move between the
	// judged state and the re-check, in basis points (inclusive).
	MaxPriceMoveBps decimal.Decimal
	// Channels that may approve (cli, console, telegram); empty: all.
	Channels []string
	// Mode is the runtime's mode (paper, live); the warm-up applies to
	// live only.
	Mode string
	// WarmupDays, WarmupOrders: in live mode, every order waits (whatever
	// Required, For and OverNotional say) until both the first live run is
	// WarmupDays old and WarmupOrders live orders were placed. Zero: no
	// warm-up by that measure.
	WarmupDays   int
	WarmupOrders int
}

// Enabled reports whether any order may ever wait.
func (c Config) Enabled() bool {
	return c.Required || (c.Mode == "live" && (c.WarmupDays > 0 || c.WarmupOrders > 0))
}

// Store is the audit store (agent/audit.Store).
type Store interface {
	AddApproval(ctx context.Context, r audit.ApprovalRow, detail any) error
	TransitionApproval(ctx context.Context, id string, from []string, to string, ch audit.ApprovalChange, detail any) (audit.ApprovalRow, error)
	RecordApprovalEvent(ctx context.Context, runID, state string, detail any) error
	Approval(ctx context.Context, id string) (audit.ApprovalRow, error)
	Approvals(ctx context.Context, statuses ...string) ([]audit.ApprovalRow, error)
	KillSwitch(ctx context.Context) (bool, error)
	Level(ctx context.Context, now time.Time) (audit.LevelState, error)
	FirstRunInMode(ctx context.Context, mode string) (time.Time, bool, error)
	OrdersSince(ctx context.Context, t time.Time) (int, error)
	// LastOrderEvent reads the executor's journal (a crash resume).
	LastOrderEvent(ctx context.Context, clientOrderID string) (schemas.OrderEvent, bool, error)
}

// Judge judges a recommendation again against the market and account now,
// under the policy in force now (agent.Agent.Rejudge). It returns the
// verdict, the state it was judged against and the policy's hash.
type Judge interface {
	Rejudge(ctx context.Context, rec schemas.Recommendation) (schemas.Verdict, schemas.State, string, error)
}

// Orders places an order once per decision id (executor.Executor).
type Orders interface {
	Place(ctx context.Context, decisionID string, o schemas.Order) (schemas.OrderEvent, error)
}

// Publisher sends notifications (agent/notify.Notifier).
type Publisher interface {
	Publish(ctx context.Context, e notify.Event) error
}

// Gate holds orders for approval, takes approvals and denials, and
// places approved orders after the re-check.
type Gate struct {
	cfg   Config
	store Store
	pub   Publisher
	// clock is the decision clock (the replay's time in offline paper
	// trading); nil for a process that only records votes and places
	// nothing, which then leaves expiry to the process that places.
	clock func() time.Time
	wall  func() time.Time
	// afterPlace (tests) runs between the executor's answer and recording
	// it; an error stands for a crash there.
	afterPlace func(decisionID string) error
}

// Options are a Gate's collaborators.
type Options struct {
	Publisher Publisher        // nil: no notifications
	Clock     func() time.Time // the decision clock; nil: votes only, expiry not judged
	Wall      func() time.Time // when a person acted; nil: time.Now
	// AfterPlace, when set (tests only), runs after the executor placed an
	// order and before that is recorded; an error stands for a crash
	// there: the proposal stays "placing" and the next pass resumes it.
	AfterPlace func(decisionID string) error
}

// New returns a Gate.
func New(cfg Config, store Store, o Options) (*Gate, error) {
	if store == nil {
		return nil, errors.New("approval: a store is required")
	}
	if cfg.Expires <= 0 {
		return nil, errors.New("approval: expires must be > 0")
	}
	if cfg.MaxPriceMoveBps.IsNegative() {
		return nil, errors.New("approval: max_price_move_bps must be ≥ 0")
	}
	if o.Wall == nil {
		o.Wall = time.Now
	}
	return &Gate{cfg: cfg, store: store, pub: o.Publisher, clock: o.Clock, wall: o.Wall, afterPlace: o.AfterPlace}, nil
}

// Proposal is what a person approves; stored as JSON with the row.
type Proposal struct {
	DecisionID     string                 `json:"decision_id"`
	RunID          string                 `json:"run_id"`
	Order          schemas.Order          `json:"order"`
	Recommendation schemas.Recommendation `json:"recommendation"`
	PolicyHash     string                 `json:"policy_hash"`
	State          schemas.State          `json:"state"`
	RulesPassed    []string               `json:"rules_passed"`
	Rationale      string                 `json:"rationale"` // an excerpt
	CreatedAt      time.Time              `json:"created_at"`
	ExpiresAt      time.Time              `json:"expires_at"`
	Hash           string                 `json:"hash"`
}

// Hash is the proposal's binding: SHA-256 over the decision id, the sized
// order, the policy hash and the judged state, as canonical JSON.
func Hash(decisionID string, o schemas.Order, policyHash string, st schemas.State) (string, error) {
	body, err := json.Marshal(struct {
		DecisionID string        `json:"decision_id"`
		Order      schemas.Order `json:"order"`
		PolicyHash string        `json:"policy_hash"`
		State      schemas.State `json:"state"`
	}{decisionID, o, policyHash, st})
	if err != nil {
		return "", fmt.Errorf("approval: hash: %w", err)
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:]), nil
}

// Needs reports whether the order of verdict v must wait for a person.
func (g *Gate) Needs(ctx context.Context, o schemas.Order, now time.Time) (bool, error) {
	if g.cfg.Mode == "live" && (g.cfg.WarmupDays > 0 || g.cfg.WarmupOrders > 0) {
		first, ok, err := g.store.FirstRunInMode(ctx, "live")
		if err != nil {
			return true, err
		}
		if !ok {
			return true, nil
		}
		if g.cfg.WarmupDays > 0 && now.Before(first.Add(time.Duration(g.cfg.WarmupDays)*24*time.Hour)) {
			return true, nil
		}
		if g.cfg.WarmupOrders > 0 {
			n, err := g.store.OrdersSince(ctx, first)
			if err != nil {
				return true, err
			}
			if n < g.cfg.WarmupOrders {
				return true, nil
			}
		}
	}
	if !g.cfg.Required {
		return false, nil
	}
	if len(g.cfg.For) > 0 && !slices.Contains(g.cfg.For, o.Side) {
		return false, nil
	}
	if g.cfg.OverNotional.IsPositive() && !o.Notional.GreaterThan(g.cfg.OverNotional) {
		return false, nil
	}
	return true, nil
}

// Hold is called for every approved verdict with an order, before it is
// placed (agent.Approvals). held is true when the order must wait: then
// it is recorded as a proposal and announced, and must not be placed now.
// An error means it could not be decided or recorded: nothing may be
// placed.
func (g *Gate) Hold(ctx context.Context, decisionID, runID, rationale string, rec schemas.Recommendation, v schemas.Verdict, policyHash string, st schemas.State) (bool, error) {
	if v.Order == nil {
		return false, nil
	}
	need, err := g.Needs(ctx, *v.Order, st.Now)
	if err != nil {
		return true, fmt.Errorf("approval: %w", err)
	}
	if !need {
		return false, nil
	}
	h, err := Hash(decisionID, *v.Order, policyHash, st)
	if err != nil {
		return true, err
	}
	p := Proposal{
		DecisionID: decisionID, RunID: runID, Order: *v.Order, Recommendation: rec, PolicyHash: policyHash,
		State: st, Rationale: excerpt(rationale, notify.RationaleExcerpt), CreatedAt: st.Now.UTC(),
		ExpiresAt: st.Now.UTC().Add(g.cfg.Expires), Hash: h,
	}
	for _, r := range v.Rules {
		if r.Passed {
			p.RulesPassed = append(p.RulesPassed, r.Name)
		}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return true, fmt.Errorf("approval: %w", err)
	}
	if err := g.store.AddApproval(ctx, audit.ApprovalRow{
		DecisionID: decisionID, RunID: runID, Hash: h, CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt, Proposal: body,
	}, map[string]any{"decision_id": decisionID, "hash": h, "order": p.Order, "expires_at": p.ExpiresAt, "policy_hash": policyHash}); err != nil {
		return true, err
	}
	g.publish(ctx, Request{Proposal: p})
	return true, nil
}

func excerpt(s string, n int) string {
	r := []rune(strings.TrimSpace(s))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n]) + "…"
}

// Vote is one person's approval or denial.
type Vote struct {
	DecisionID string
	HashPrefix string // approve: at least MinHashPrefix hex digits of the hash
	Who        string
	Channel    string
	Reason     string // deny: why (required)
}

// ErrRefused wraps every refused vote (unknown id, wrong hash, not
// pending, expired, kill switch, channel not allowed); the refusal is
// recorded and nothing changed.
var ErrRefused = errors.New("refused")

// Load reads the stored proposal of decision id.
func Load(ctx context.Context, st Store, id string) (audit.ApprovalRow, Proposal, error) {
	row, err := st.Approval(ctx, id)
	if err != nil {
		return row, Proposal{}, err
	}
	var p Proposal
	if err := json.Unmarshal(row.Proposal, &p); err != nil {
		return row, p, fmt.Errorf("approval: stored proposal %s: %w", id, err)
	}
	return row, p, nil
}

func (g *Gate) refuse(ctx context.Context, runID string, v Vote, action, why string) error {
	detail := map[string]any{"action": action, "decision_id": v.DecisionID, "who": v.Who, "channel": v.Channel, "hash_seen": v.HashPrefix, "reason": why, "at": g.wall().UTC()}
	if err := g.store.RecordApprovalEvent(ctx, runID, "refused", detail); err != nil {
		return fmt.Errorf("%w: %s (and recording the refusal failed: %v)", ErrRefused, why, err)
	}
	return fmt.Errorf("%w: %s", ErrRefused, why)
}

// checkVote refuses what no vote may do, in order: a channel not allowed,
// an unknown id, a proposal not open to the vote.
func (g *Gate) checkVote(ctx context.Context, v Vote, action string, open []string) (audit.ApprovalRow, error) {
	if v.Who == "" || v.Channel == "" {
		return audit.ApprovalRow{}, g.refuse(ctx, "", v, action, "a vote must name who and the channel")
	}
	if len(g.cfg.Channels) > 0 && !slices.Contains(g.cfg.Channels, v.Channel) {
		return audit.ApprovalRow{}, g.refuse(ctx, "", v, action, fmt.Sprintf("channel %s is not in approval.channels (%s)", v.Channel, strings.Join(g.cfg.Channels, ", ")))
	}
	row, err := g.store.Approval(ctx, v.DecisionID)
	if errors.Is(err, audit.ErrNotFound) {
		return row, g.refuse(ctx, "", v, action, fmt.Sprintf("no proposal %q (warden approvals lists the pending ones)", v.DecisionID))
	}
	if err != nil {
		return row, err
	}
	if !slices.Contains(open, row.Status) {
		return row, g.refuse(ctx, row.RunID, v, action, fmt.Sprintf("proposal %s is %s, not pending", v.DecisionID, row.Status))
	}
	return row, nil
}

// Approve records an approval of a pending proposal, bound to its hash.
// The order is not placed here: Process re-checks and places it.
func (g *Gate) Approve(ctx context.Context, v Vote) (audit.ApprovalRow, error) {
	row, err := g.checkVote(ctx, v, "approve", []string{audit.ApprovalPending})
	if err != nil {
		return row, err
	}
	prefix := strings.ToLower(strings.TrimSpace(v.HashPrefix))
	if len(prefix) < MinHashPrefix || !isHex(prefix) {
		return row, g.refuse(ctx, row.RunID, v, "approve", fmt.Sprintf("the hash must be at least %d hex digits of the proposal's hash as shown (--hash on the CLI)", MinHashPrefix))
	}
	if !strings.HasPrefix(row.Hash, prefix) {
		return row, g.refuse(ctx, row.RunID, v, "approve", fmt.Sprintf("hash %s does not match proposal %s: the proposal shown is not this one (warden approvals shows its hash)", prefix, v.DecisionID))
	}
	if g.clock != nil && g.clock().After(row.ExpiresAt) {
		return row, g.refuse(ctx, row.RunID, v, "approve", fmt.Sprintf("proposal %s expired at %s", v.DecisionID, row.ExpiresAt.Format(time.RFC3339)))
	}
	if on, err := g.store.KillSwitch(ctx); err != nil {
		return row, fmt.Errorf("approval: read kill switch: %w", err)
	} else if on {
		return row, g.refuse(ctx, row.RunID, v, "approve", "the kill switch is on: nothing can be placed (warden resume releases it)")
	}
	now := g.wall().UTC()
	return g.store.TransitionApproval(ctx, v.DecisionID, []string{audit.ApprovalPending}, audit.ApprovalApproved,
		audit.ApprovalChange{DecidedBy: v.Who, Channel: v.Channel, DecidedAt: now, HashSeen: prefix},
		map[string]any{"decision_id": v.DecisionID, "who": v.Who, "channel": v.Channel, "hash_seen": prefix, "at": now})
}

// Deny records a denial of a pending (or approved, not yet placed)
// proposal; it is never placed.
func (g *Gate) Deny(ctx context.Context, v Vote) (audit.ApprovalRow, error) {
	open := []string{audit.ApprovalPending, audit.ApprovalApproved}
	if strings.TrimSpace(v.Reason) == "" {
		return audit.ApprovalRow{}, g.refuse(ctx, "", v, "deny", "a denial needs a reason")
	}
	row, err := g.checkVote(ctx, v, "deny", open)
	if err != nil {
		return row, err
	}
	now := g.wall().UTC()
	row, err = g.store.TransitionApproval(ctx, v.DecisionID, open, audit.ApprovalDenied,
		audit.ApprovalChange{DecidedBy: v.Who, Channel: v.Channel, DecidedAt: now, HashSeen: strings.ToLower(v.HashPrefix), Reason: v.Reason},
		map[string]any{"decision_id": v.DecisionID, "who": v.Who, "channel": v.Channel, "hash_seen": v.HashPrefix, "reason": v.Reason, "at": now})
	if err == nil {
		g.publish(ctx, Outcome{Row: row, Status: audit.ApprovalDenied, Reason: v.Reason})
	}
	return row, err
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (g *Gate) publish(ctx context.Context, e notify.Event) {
	if g.pub == nil {
		return
	}
	_ = g.pub.Publish(ctx, e) // the outbox logs its own failures; a notice never blocks a decision
}

// Item is a stored proposal with its body decoded: what a listing (the
// CLI's warden approvals, the console) shows.
type Item struct {
	audit.ApprovalRow
	Proposal Proposal
}

// List returns the proposals in any of statuses (all when none), oldest
// first, decoded.
func List(ctx context.Context, st Store, statuses ...string) ([]Item, error) {
	rows, err := st.Approvals(ctx, statuses...)
	if err != nil {
		return nil, err
	}
	out := make([]Item, 0, len(rows))
	for _, r := range rows {
		var p Proposal
		if err := json.Unmarshal(r.Proposal, &p); err != nil {
			return nil, fmt.Errorf("approval: stored proposal %s: %w", r.DecisionID, err)
		}
		out = append(out, Item{ApprovalRow: r, Proposal: p})
	}
	return out, nil
}
