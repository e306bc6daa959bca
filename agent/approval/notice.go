package approval

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/notify"
)

// Notification kinds.
const (
	KindRequest = "approval_request"
	KindOutcome = "approval_outcome"
)

// Request announces a proposal waiting for a person: the order, the
// rationale excerpt, the rules passed, the expiry, the hash prefix and
// how to approve it.
type Request struct{ Proposal Proposal }

// Message implements notify.Event.
func (r Request) Message() (notify.Message, error) {
	p := r.Proposal
	if p.DecisionID == "" || len(p.Hash) < ShownHashPrefix {
		return notify.Message{}, errors.New("approval request without decision id or hash")
	}
	o := p.Order
	var b strings.Builder
	fmt.Fprintf(&b, "Symbol: %s\nSide: %s\nType: %s\nQuantity: %s\nPrice: %s\nNotional: %s\n", o.Symbol, o.Side, o.Type, o.Quantity, o.Price, o.Notional)
	if o.StopLoss != nil {
		fmt.Fprintf(&b, "Stop loss: %s\n", o.StopLoss)
	}
	if o.TakeProfit != nil {
		fmt.Fprintf(&b, "Take profit: %s\n", o.TakeProfit)
	}
	if len(p.RulesPassed) > 0 {
		fmt.Fprintf(&b, "Rules passed: %s\n", strings.Join(p.RulesPassed, ", "))
	}
	if p.Rationale != "" {
		fmt.Fprintf(&b, "Rationale: %s\n", p.Rationale)
	}
	fmt.Fprintf(&b, "Expires: %s\nHash: %s\nApprove: warden approve %s --hash %s\nDeny: warden deny %s --reason TEXT",
		p.ExpiresAt.UTC().Format(time.RFC3339), p.Hash[:ShownHashPrefix], p.DecisionID, p.Hash[:ShownHashPrefix], p.DecisionID)
	return notify.Message{
		Kind:     KindRequest,
		Title:    fmt.Sprintf("Approval needed: %s %s %s", strings.ToUpper(string(o.Side)), o.Quantity, o.Symbol),
		Text:     b.String(),
		DedupKey: "approval:" + p.DecisionID + ":request",
		RunID:    p.RunID,
	}, nil
}

// Outcome announces how a proposal ended: placed, denied, void or
// expired, with the reason.
type Outcome struct {
	Row    audit.ApprovalRow
	Status string
	Reason string
}

// Message implements notify.Event.
func (o Outcome) Message() (notify.Message, error) {
	if o.Row.DecisionID == "" || o.Status == "" {
		return notify.Message{}, errors.New("approval outcome without decision id or status")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Decision: %s\nStatus: %s\n", o.Row.DecisionID, o.Status)
	if o.Reason != "" {
		fmt.Fprintf(&b, "Reason: %s\n", o.Reason)
	}
	if o.Row.DecidedBy != "" {
		fmt.Fprintf(&b, "By: %s (%s)\n", o.Row.DecidedBy, o.Row.Channel)
	}
	if len(o.Row.Hash) >= ShownHashPrefix {
		fmt.Fprintf(&b, "Hash: %s", o.Row.Hash[:ShownHashPrefix])
	}
	return notify.Message{
		Kind:     KindOutcome,
		Title:    fmt.Sprintf("Proposal %s: %s", o.Row.DecisionID, o.Status),
		Text:     strings.TrimSpace(b.String()),
		DedupKey: "approval:" + o.Row.DecisionID + ":" + o.Status,
		RunID:    o.Row.RunID,
	}, nil
}
