// Package notify tells operators what Warden did: approved and rejected
// trades, fills, breaker, kill switch and safe mode events, policy reload
// failures and errors, on Slack and Telegram.
//
// Notifications only go out. Nothing in this package reads chat messages,
// runs commands or can place, change or cancel an order.
//
// The flow is two-step so trading never waits on the network: a Notifier
// formats an event and enqueues one schemas.Notification per channel into
// the durable Outbox (SQLite, implemented by agent/audit); a Dispatcher per
// channel pulls pending notifications, sends them through a Sender (Slack
// or Telegram), and records every attempt, retrying with backoff and
// honouring the servers' rate limits.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/warden-trading/warden/agent/redact"
	"github.com/warden-trading/warden/schemas"
)

// Channel names, as stored in schemas.Notification.Channel.
const (
	ChannelSlack    = "slack"
	ChannelTelegram = "telegram"
)

// Notification kinds, as stored in schemas.Notification.Kind.
const (
	KindApproved   = "approved"
	KindRejected   = "rejected"
	KindFill       = "fill"
	KindBreaker    = "breaker"
	KindKillSwitch = "kill_switch"
	KindSafeMode   = "safe_mode"
	KindError      = "error"
	KindPolicy     = "policy"
)

// Outbox is the durable store of notifications. agent/audit implements it
// over SQLite.
//
// Enqueue stores n unless a notification with the same Channel and DedupKey
// exists, and returns the id of the stored one either way.
// PendingNotifications returns up to limit notifications of channel that are
// neither delivered nor given up and whose latest attempt's NextAttempt is
// not after now, oldest first. RecordDelivery appends one attempt.
type Outbox interface {
	Enqueue(ctx context.Context, n schemas.Notification) (int64, error)
	PendingNotifications(ctx context.Context, channel string, now time.Time, limit int) ([]schemas.Notification, error)
	RecordDelivery(ctx context.Context, a schemas.DeliveryAttempt) error
}

// Message is the channel-neutral content of one notification. Title and
// Text are plain text; each Sender escapes them for its markup.
type Message struct {
	Kind     string
	Title    string
	Text     string
	DedupKey string // deterministic: the same event gives the same key
	RunID    string
}

// Event is anything the Notifier can publish. Message returns an empty
// Message (Kind "") when the event needs no notification, and an error when
// the event is malformed.
type Event interface {
	Message() (Message, error)
}

// Limits on what one notification carries. Telegram allows 4096 characters
// per message; Slack truncates long texts.
const (
	maxTitleRunes     = 200
	maxTextRunes      = 3500
	RationaleExcerpt  = 300 // runes of the model's rationale in a trade notification
	maxViolationRunes = 400
)

// NotifierConfig configures a Notifier.
type NotifierConfig struct {
	Outbox Outbox
	// Channels lists the channels every event goes to ("slack",
	// "telegram"). With none, Publish does nothing.
	Channels []string
	Now      func() time.Time // clock for CreatedAt; nil means time.Now
	Logger   *slog.Logger     // nil means discard
	// Wake, if set, is called after a notification is enqueued, for example
	// to wake the dispatchers (Dispatcher.Wake). It must not block.
	Wake func()
	// Secrets (API keys, tokens, webhook URLs) are replaced by [REDACTED]
	// wherever they appear in a notification's title or text, for example
	// inside an error message, in every form package redact knows. Values
	// shorter than redact.MinSecretLen are ignored.
	Secrets []string
	// Redactor, when set, is the process's one redactor (package redact):
	// notifications pass through it, and Secrets are added to it.
	Redactor *redact.Redactor
}

// Notifier formats events and enqueues them in the outbox, one notification
// per configured channel. It never touches the network.
type Notifier struct {
	outbox   Outbox
	channels []string
	now      func() time.Time
	log      *slog.Logger
	wake     func()
	redact   *redact.Redactor
}

// NewNotifier checks cfg and returns a Notifier.
func NewNotifier(cfg NotifierConfig) (*Notifier, error) {
	if cfg.Outbox == nil && len(cfg.Channels) > 0 {
		return nil, errors.New("notify: NotifierConfig.Outbox is nil")
	}
	seen := map[string]bool{}
	for _, c := range cfg.Channels {
		if c != ChannelSlack && c != ChannelTelegram && c != ChannelEmail {
			return nil, fmt.Errorf("notify: unknown channel %q (want %q, %q or %q)", c, ChannelSlack, ChannelTelegram, ChannelEmail)
		}
		if seen[c] {
			return nil, fmt.Errorf("notify: channel %q listed twice", c)
		}
		seen[c] = true
	}
	n := &Notifier{
		outbox:   cfg.Outbox,
		channels: append([]string(nil), cfg.Channels...),
		now:      cfg.Now,
		log:      cfg.Logger,
		wake:     cfg.Wake,
		redact:   cfg.Redactor,
	}
	if n.redact == nil {
		n.redact = redact.New()
	}
	n.redact.Add(cfg.Secrets...)
	if n.now == nil {
		n.now = time.Now
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	return n, nil
}

// Publish formats e and enqueues it for every channel. It only writes to
// the local outbox; sending happens in the Dispatchers. Enqueueing an event
// twice (same dedup key) stores it once.
func (n *Notifier) Publish(ctx context.Context, e Event) error {
	if e == nil {
		return errors.New("notify: nil event")
	}
	m, err := e.Message()
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if m.Kind == "" || len(n.channels) == 0 {
		return nil
	}
	if m.DedupKey == "" {
		return fmt.Errorf("notify: %s event without a dedup key", m.Kind)
	}
	now := n.now().UTC()
	var errs []error
	for _, ch := range n.channels {
		id, err := n.outbox.Enqueue(ctx, schemas.Notification{
			Channel:   ch,
			Kind:      m.Kind,
			Title:     truncateRunes(n.redact.String(m.Title), maxTitleRunes),
			Text:      truncateRunes(n.redact.String(m.Text), maxTextRunes),
			DedupKey:  m.DedupKey,
			RunID:     m.RunID,
			CreatedAt: now,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("notify: enqueue %s %s: %w", ch, m.Kind, err))
			continue
		}
		n.log.Debug("notification enqueued", "channel", ch, "kind", m.Kind, "id", id, "dedup_key", m.DedupKey)
	}
	if n.wake != nil {
		n.wake()
	}
	return errors.Join(errs...)
}

// Decision is the validator's verdict on one recommendation: approved
// verdicts become "approved" notifications with the order and an excerpt of
// the rationale, rejected ones list every violated rule. no_action verdicts
// send nothing.
type Decision struct {
	ID        string // decision id; with the outcome it is the dedup key
	RunID     string
	Verdict   schemas.Verdict
	Rationale string // the model's rationale; an excerpt is sent
}

// Message implements Event.
func (d Decision) Message() (Message, error) {
	if strings.TrimSpace(d.ID) == "" {
		return Message{}, errors.New("decision without an id")
	}
	v := d.Verdict
	var b strings.Builder
	switch v.Decision {
	case schemas.DecisionApproved:
		o := v.Order
		if o == nil {
			return Message{}, fmt.Errorf("approved decision %s has no order", d.ID)
		}
		fmt.Fprintf(&b, "Symbol: %s\nSide: %s\nType: %s\nQuantity: %s\nPrice: %s\nNotional: %s\n",
			o.Symbol, o.Side, o.Type, o.Quantity.String(), o.Price.String(), o.Notional.String())
		if o.StopLoss != nil {
			fmt.Fprintf(&b, "Stop loss: %s\n", o.StopLoss.String())
		}
		if o.TakeProfit != nil {
			fmt.Fprintf(&b, "Take profit: %s\n", o.TakeProfit.String())
		}
		writeViolations(&b, "Warnings", v.Warnings)
		writeRationale(&b, d.Rationale)
		fmt.Fprintf(&b, "Decision: %s", d.ID)
		return Message{
			Kind:     KindApproved,
			Title:    fmt.Sprintf("Approved by policy: %s %s %s", strings.ToUpper(string(o.Side)), o.Quantity.String(), o.Symbol),
			Text:     b.String(),
			DedupKey: "decision:" + d.ID + ":" + KindApproved,
			RunID:    d.RunID,
		}, nil
	case schemas.DecisionRejected:
		if len(v.Violations) == 0 {
			return Message{}, fmt.Errorf("rejected decision %s lists no violated rule", d.ID)
		}
		what := strings.TrimSpace(strings.ToUpper(string(v.Action)) + " " + v.Symbol)
		if what == "" {
			what = "model response"
		}
		writeViolations(&b, "Violated rules", v.Violations)
		writeViolations(&b, "Warnings", v.Warnings)
		writeRationale(&b, d.Rationale)
		fmt.Fprintf(&b, "Decision: %s", d.ID)
		return Message{
			Kind:     KindRejected,
			Title:    fmt.Sprintf("Rejected: %s (%d rule%s)", what, len(v.Violations), plural(len(v.Violations))),
			Text:     b.String(),
			DedupKey: "decision:" + d.ID + ":" + KindRejected,
			RunID:    d.RunID,
		}, nil
	case schemas.DecisionNoAction:
		return Message{}, nil
	default:
		return Message{}, fmt.Errorf("decision %s: unknown outcome %q", d.ID, v.Decision)
	}
}

func writeViolations(b *strings.Builder, heading string, vs []schemas.Violation) {
	if len(vs) == 0 {
		return
	}
	fmt.Fprintf(b, "%s:\n", heading)
	for _, v := range vs {
		src := ""
		if v.Source != "" {
			src = " [" + v.Source + "]"
		}
		ptr := ""
		if v.Pointer != "" {
			ptr = " at " + v.Pointer
		}
		fmt.Fprintf(b, "- %s%s%s: %s\n", v.Rule, src, ptr, truncateRunes(oneLine(v.Message), maxViolationRunes))
	}
}

func writeRationale(b *strings.Builder, r string) {
	if ex := Excerpt(r, RationaleExcerpt); ex != "" {
		fmt.Fprintf(b, "Rationale: %s\n", ex)
	}
}

// Fill is an order event that filled quantity: an order reaching
// partially_filled or filled.
type Fill struct {
	RunID string
	Event schemas.OrderEvent
}

// Message implements Event.
func (f Fill) Message() (Message, error) {
	e := f.Event
	if e.ClientOrderID == "" {
		return Message{}, errors.New("fill without a client order id")
	}
	var state string
	switch e.State {
	case schemas.OrderFilled:
		state = "Filled"
	case schemas.OrderPartiallyFilled:
		state = "Partially filled"
	default:
		return Message{}, fmt.Errorf("order %s: state %q is not a fill", e.ClientOrderID, e.State)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Symbol: %s\nSide: %s\nRole: %s\nFilled: %s of %s\nAverage price: %s\n",
		e.Symbol, e.Side, e.Role, e.FilledQty.String(), e.Quantity.String(), e.AvgPrice.String())
	if e.FeeCurrency != "" || !e.Fee.IsZero() {
		fmt.Fprintf(&b, "Fee: %s %s\n", e.Fee.String(), e.FeeCurrency)
	}
	fmt.Fprintf(&b, "Client order id: %s", e.ClientOrderID)
	if e.ExchangeOrderID != "" {
		fmt.Fprintf(&b, "\nExchange order id: %s", e.ExchangeOrderID)
	}
	if e.DecisionID != "" {
		fmt.Fprintf(&b, "\nDecision: %s", e.DecisionID)
	}
	return Message{
		Kind:     KindFill,
		Title:    fmt.Sprintf("%s: %s %s %s @ %s", state, strings.ToUpper(string(e.Side)), e.FilledQty.String(), e.Symbol, e.AvgPrice.String()),
		Text:     b.String(),
		DedupKey: "fill:" + e.ClientOrderID + ":" + string(e.State) + ":" + e.FilledQty.String(),
		RunID:    f.RunID,
	}, nil
}

// KillSwitch is the kill switch being engaged (On) or released.
type KillSwitch struct {
	On     bool
	Reason string
	By     string    // who or what flipped it: "operator", "breaker:drawdown", ...
	At     time.Time // when it flipped; part of the dedup key
	RunID  string
}

// Message implements Event.
func (k KillSwitch) Message() (Message, error) {
	return toggle(KindKillSwitch, "Kill switch", k.On, "engaged", "released", k.Reason, k.By, k.At, k.RunID)
}

// SafeMode is safe mode being entered (On) or left.
type SafeMode struct {
	On     bool
	Reason string
	By     string
	At     time.Time
	RunID  string
}

// Message implements Event.
func (s SafeMode) Message() (Message, error) {
	return toggle(KindSafeMode, "Safe mode", s.On, "on", "off", s.Reason, s.By, s.At, s.RunID)
}

// Breaker is a circuit breaker tripping or resetting.
type Breaker struct {
	Name    string // "data_gap", "volatility_shock", "drift", "consecutive_errors", ...
	Tripped bool
	Reason  string
	Until   time.Time // end of the cooldown, if any
	At      time.Time
	RunID   string
}

// Message implements Event.
func (br Breaker) Message() (Message, error) {
	if strings.TrimSpace(br.Name) == "" {
		return Message{}, errors.New("breaker event without a name")
	}
	m, err := toggle(KindBreaker, "Breaker "+br.Name, br.Tripped, "tripped", "reset", br.Reason, "", br.At, br.RunID)
	if err != nil {
		return Message{}, err
	}
	if br.Tripped && !br.Until.IsZero() {
		m.Text += "\nCooldown until: " + br.Until.UTC().Format(time.RFC3339)
	}
	m.DedupKey = KindBreaker + ":" + br.Name + ":" + onOff(br.Tripped) + ":" + br.At.UTC().Format(time.RFC3339Nano)
	return m, nil
}

func toggle(kind, what string, on bool, onWord, offWord, reason, by string, at time.Time, runID string) (Message, error) {
	if at.IsZero() {
		return Message{}, fmt.Errorf("%s event without a time", kind)
	}
	word := offWord
	if on {
		word = onWord
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s at %s", what, word, at.UTC().Format(time.RFC3339))
	if by != "" {
		fmt.Fprintf(&b, " by %s", by)
	}
	if reason != "" {
		fmt.Fprintf(&b, "\nReason: %s", truncateRunes(reason, maxViolationRunes))
	}
	if on {
		b.WriteString("\nNo new orders will be placed.")
	}
	return Message{
		Kind:     kind,
		Title:    what + " " + word,
		Text:     b.String(),
		DedupKey: kind + ":" + onOff(on) + ":" + at.UTC().Format(time.RFC3339Nano),
		RunID:    runID,
	}, nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// PolicyReloadFailed is a changed policy file that was not taken, because it
// did not load or its policy tests failed. The old policy stays in force.
type PolicyReloadFailed struct {
	Path     string
	Revision string // content hash of the rejected file; with Path the dedup key
	Err      string // why it was refused
	At       time.Time
	RunID    string
}

// Message implements Event.
func (p PolicyReloadFailed) Message() (Message, error) {
	if p.Path == "" {
		return Message{}, errors.New("policy reload event without a path")
	}
	rev := p.Revision
	if rev == "" {
		if p.At.IsZero() {
			return Message{}, errors.New("policy reload event needs a revision or a time")
		}
		rev = p.At.UTC().Format(time.RFC3339Nano)
	}
	// The error comes last and whole: Publish cuts the text to its
	// limit after redacting it (a secret cut first would not be
	// recognised).
	text := fmt.Sprintf("The previous policy stays in force.\nFile: %s\nRevision: %s\nError: %s", p.Path, rev, p.Err)
	return Message{
		Kind:     KindPolicy,
		Title:    "Policy reload refused",
		Text:     text,
		DedupKey: KindPolicy + ":reload_failed:" + p.Path + ":" + rev,
		RunID:    p.RunID,
	}, nil
}

// Error is an error an operator should see (an LLM outage, an order error,
// a stop that could not be placed, ...).
type Error struct {
	Component string // "advisor", "executor", "market", ...
	Err       string
	// Key identifies the occurrence for de-duplication. Empty means one
	// notification per component, run and distinct error text (or time,
	// when RunID is empty too).
	Key   string
	At    time.Time
	RunID string
}

// Message implements Event.
func (e Error) Message() (Message, error) {
	if e.Component == "" || e.Err == "" {
		return Message{}, errors.New("error event needs a component and an error")
	}
	key := e.Key
	if key == "" {
		scope := e.RunID
		if scope == "" {
			if e.At.IsZero() {
				return Message{}, errors.New("error event needs a key, a run id or a time")
			}
			scope = e.At.UTC().Format(time.RFC3339Nano)
		}
		key = e.Component + ":" + scope + ":" + shortHash(e.Err)
	}
	// The error comes last and whole, as for a policy reload.
	text := "Component: " + e.Component
	if !e.At.IsZero() {
		text += "\nAt: " + e.At.UTC().Format(time.RFC3339)
	}
	text += "\nError: " + e.Err
	return Message{
		Kind:     KindError,
		Title:    "Error in " + e.Component,
		Text:     text,
		DedupKey: KindError + ":" + key,
		RunID:    e.RunID,
	}, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
