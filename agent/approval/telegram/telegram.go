// Package telegram is human approval's one inbound chat path: a Telegram
// bot that sends each pending proposal with an inline keyboard and reads
// the button presses by long polling (getUpdates; no public endpoint).
//
// It can only approve or deny a pending proposal, and only for users on
// the allowlist, in the configured chat, after a second confirmation: the
// first press (Approve or Deny) asks "Confirm?" with the hash prefix, and
// only the confirmation votes. Text messages are never consent and there
// are no commands. Forged or stale updates (another chat, a user not on
// the allowlist, a callback id seen before, data that names no pending
// proposal or the wrong hash) are ignored and recorded in the audit chain.
//
// The notifiers (agent/notify) stay send-only; this package lives beside
// them and uses the same bot and chat (notify.telegram).
package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warden-trading/warden/agent/approval"
	"github.com/warden-trading/warden/agent/audit"
)

// Store is what the bot keeps in the audit store (agent/audit.Store).
type Store interface {
	approval.Store
	MarkInbound(ctx context.Context, id string) (bool, error)
	InboundSeen(ctx context.Context, id string) (bool, error)
	InboundOffset(ctx context.Context, bot string) (int64, error)
	SetInboundOffset(ctx context.Context, bot string, off int64) error
}

// Config is the bot.
type Config struct {
	Token     string // secret
	ChatID    string // the chat proposals go to and presses are accepted from: numeric, or @channel
	ServerURL string // default https://api.telegram.org
	// AllowedUserIDs are the Telegram user ids whose presses count.
	AllowedUserIDs []int64
	// PollTimeout is getUpdates' long-polling timeout (default 25 s; 0 in
	// PollOnce).
	PollTimeout time.Duration
	HTTPClient  *http.Client
	Logger      *slog.Logger
}

// Bot is the approval bot.
type Bot struct {
	cfg   Config
	gate  *approval.Gate
	store Store
	log   *slog.Logger
	botID string // the token's bot id, the key of the stored offset
}

// New checks c.
func New(c Config, gate *approval.Gate, store Store) (*Bot, error) {
	if strings.TrimSpace(c.Token) == "" {
		return nil, errors.New("approval telegram: no token")
	}
	if strings.TrimSpace(c.ChatID) == "" {
		return nil, errors.New("approval telegram: no chat id")
	}
	if len(c.AllowedUserIDs) == 0 {
		return nil, errors.New("approval telegram: no allowed user ids")
	}
	if gate == nil || store == nil {
		return nil, errors.New("approval telegram: a gate and a store are required")
	}
	if c.ServerURL == "" {
		c.ServerURL = "https://api.telegram.org"
	}
	c.ServerURL = strings.TrimRight(c.ServerURL, "/")
	if c.PollTimeout == 0 {
		c.PollTimeout = 25 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: c.PollTimeout + 15*time.Second}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	id, _, _ := strings.Cut(c.Token, ":")
	return &Bot{cfg: c, gate: gate, store: store, log: c.Logger, botID: "telegram:" + id}, nil
}

// String hides the token.
func (b *Bot) String() string { return fmt.Sprintf("approval telegram bot (chat %q)", b.cfg.ChatID) }

// Wire types: the parts of the Bot API's objects the bot reads.
type (
	user struct {
		ID       int64  `json:"id"`
		IsBot    bool   `json:"is_bot"`
		Username string `json:"username"`
	}
	chat struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	}
	message struct {
		MessageID int64  `json:"message_id"`
		From      *user  `json:"from"`
		Chat      chat   `json:"chat"`
		Text      string `json:"text"`
	}
	callbackQuery struct {
		ID      string   `json:"id"`
		From    user     `json:"from"`
		Message *message `json:"message"`
		Data    string   `json:"data"`
	}
	update struct {
		UpdateID      int64          `json:"update_id"`
		Message       *message       `json:"message"`
		CallbackQuery *callbackQuery `json:"callback_query"`
	}
	button struct {
		Text         string `json:"text"`
		CallbackData string `json:"callback_data"`
	}
)

type apiError struct {
	Status      int
	Code        int
	Description string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("telegram: HTTP %d: %d %s", e.Status, e.Code, e.Description)
}

// call makes one Bot API request and decodes result into out.
func (b *Bot) call(ctx context.Context, method string, params any, out any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.cfg.ServerURL+"/bot"+b.cfg.Token+"/"+method, bytes.NewReader(body))
	if err != nil {
		return errors.New("telegram: bad server url") // the error would carry the token
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.cfg.HTTPClient.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap() // *url.Error names the URL, which holds the token
		}
		return fmt.Errorf("telegram %s: %w", method, err)
	}
	defer resp.Body.Close()
	var env struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		ErrorCode   int             `json:"error_code"`
		Description string          `json:"description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&env); err != nil {
		return fmt.Errorf("telegram %s: HTTP %d: %w", method, resp.StatusCode, err)
	}
	if !env.OK {
		return fmt.Errorf("telegram %s: %w", method, &apiError{Status: resp.StatusCode, Code: env.ErrorCode, Description: env.Description})
	}
	if out != nil {
		return json.Unmarshal(env.Result, out)
	}
	return nil
}

func (b *Bot) chatParam() any {
	if n, err := strconv.ParseInt(b.cfg.ChatID, 10, 64); err == nil {
		return n
	}
	return b.cfg.ChatID
}

// Callback data (at most 64 bytes): action ":" decision id ":" 12 hex
// digits of the hash. ap and dn ask for confirmation; ok and nd vote; cx
// cancels.
const (
	actApprove        = "ap"
	actDeny           = "dn"
	actConfirmApprove = "ok"
	actConfirmDeny    = "nd"
	actCancel         = "cx"
)

func callbackData(act, id, hash string) string {
	return act + ":" + id + ":" + hash[:approval.ShownHashPrefix]
}

// parseData splits callback data; the decision id may itself hold colons.
func parseData(s string) (act, id, hash string, ok bool) {
	act, rest, ok1 := strings.Cut(s, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok1 || i <= 0 {
		return "", "", "", false
	}
	id, hash = rest[:i], rest[i+1:]
	switch act {
	case actApprove, actDeny, actConfirmApprove, actConfirmDeny, actCancel:
	default:
		return "", "", "", false
	}
	if len(hash) != approval.ShownHashPrefix {
		return "", "", "", false
	}
	return act, id, hash, true
}

// SendPending sends every pending proposal not yet sent to the chat, with
// its Approve and Deny buttons. A proposal sent is remembered in the
// store; one whose send failed is tried again at the next call.
func (b *Bot) SendPending(ctx context.Context) error {
	rows, err := b.store.Approvals(ctx, audit.ApprovalPending)
	if err != nil {
		return err
	}
	for _, row := range rows {
		key := b.botID + ":sent:" + row.DecisionID
		_, p, err := approval.Load(ctx, b.store, row.DecisionID)
		if err != nil {
			return err
		}
		msg, err := approval.Request{Proposal: p}.Message()
		if err != nil {
			return err
		}
		seen, err := b.store.InboundSeen(ctx, key)
		if err != nil {
			return err
		}
		if seen {
			continue
		}
		kb := [][]button{{
			{Text: "Approve…", CallbackData: callbackData(actApprove, row.DecisionID, row.Hash)},
			{Text: "Deny…", CallbackData: callbackData(actDeny, row.DecisionID, row.Hash)},
		}}
		if err := b.call(ctx, "sendMessage", map[string]any{
			"chat_id": b.chatParam(), "text": msg.Title + "\n\n" + msg.Text,
			"reply_markup": map[string]any{"inline_keyboard": kb},
		}, nil); err != nil {
			// Retried at the next pass. Should Telegram have posted it after
			// all, a second copy is harmless: the buttons are the same, and
			// only a press on a confirmation message votes.
			return err
		}
		if _, err := b.store.MarkInbound(ctx, key); err != nil {
			return err
		}
	}
	return nil
}

// PollOnce reads the updates waiting (long polling up to timeout) and
// handles each; it returns how many it read.
func (b *Bot) PollOnce(ctx context.Context, timeout time.Duration) (int, error) {
	off, err := b.store.InboundOffset(ctx, b.botID)
	if err != nil {
		return 0, err
	}
	var ups []update
	if err := b.call(ctx, "getUpdates", map[string]any{
		"offset": off, "timeout": int(timeout / time.Second), "allowed_updates": []string{"message", "callback_query"},
	}, &ups); err != nil {
		return 0, err
	}
	for _, u := range ups {
		if u.UpdateID < off {
			continue // already handled
		}
		b.handle(ctx, u)
		if err := b.store.SetInboundOffset(ctx, b.botID, u.UpdateID+1); err != nil {
			return len(ups), err
		}
	}
	return len(ups), nil
}

// Run sends pending proposals and long-polls until ctx ends, backing off
// after errors.
func (b *Bot) Run(ctx context.Context) {
	wait := time.Second
	for ctx.Err() == nil {
		if err := b.SendPending(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("approval telegram: send proposals", "err", err)
		}
		_, err := b.PollOnce(ctx, b.cfg.PollTimeout)
		if err == nil {
			wait = time.Second
			continue
		}
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("approval telegram: getUpdates", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Minute)
	}
}

// ignore records an update that changed nothing.
func (b *Bot) ignore(ctx context.Context, u update, why string) {
	d := map[string]any{"channel": approval.ChannelTelegram, "update_id": u.UpdateID, "reason": why}
	if q := u.CallbackQuery; q != nil {
		d["callback_id"], d["from"], d["data"] = q.ID, q.From.ID, q.Data
		if q.Message != nil {
			d["chat"] = q.Message.Chat.ID
		}
	} else if m := u.Message; m != nil {
		d["chat"] = m.Chat.ID
		if m.From != nil {
			d["from"] = m.From.ID
		}
	}
	if err := b.store.RecordApprovalEvent(ctx, "", "ignored", d); err != nil {
		b.log.Error("approval telegram: record an ignored update", "err", err)
	}
	b.log.Warn("approval telegram: update ignored", "update_id", u.UpdateID, "reason", why)
}

func (b *Bot) ourChat(c chat) bool {
	if n, err := strconv.ParseInt(b.cfg.ChatID, 10, 64); err == nil {
		return c.ID == n
	}
	return c.Username != "" && "@"+c.Username == b.cfg.ChatID
}

func (b *Bot) answer(ctx context.Context, q *callbackQuery, text string) {
	if err := b.call(ctx, "answerCallbackQuery", map[string]any{"callback_query_id": q.ID, "text": text}, nil); err != nil {
		b.log.Warn("approval telegram: answerCallbackQuery", "err", err)
	}
}

func (b *Bot) handle(ctx context.Context, u update) {
	q := u.CallbackQuery
	if q == nil {
		if u.Message != nil {
			b.ignore(ctx, u, "a chat message is not an approval: use the buttons")
		} else {
			b.ignore(ctx, u, "not a button press")
		}
		return
	}
	fresh, err := b.store.MarkInbound(ctx, b.botID+":cb:"+q.ID)
	if err != nil {
		b.log.Error("approval telegram: remember callback", "err", err)
		return
	}
	if !fresh {
		b.ignore(ctx, u, "callback id seen before (replayed)")
		return
	}
	if q.Message == nil || !b.ourChat(q.Message.Chat) {
		b.ignore(ctx, u, "not from the configured chat")
		return
	}
	if q.From.IsBot || !slices.Contains(b.cfg.AllowedUserIDs, q.From.ID) {
		b.ignore(ctx, u, fmt.Sprintf("user %d is not in approval.telegram.allowed_user_ids", q.From.ID))
		b.answer(ctx, q, "You are not allowed to approve.")
		return
	}
	act, id, hash, ok := parseData(q.Data)
	if !ok {
		b.ignore(ctx, u, "callback data is not an approval button")
		b.answer(ctx, q, "Unknown button.")
		return
	}
	who := "telegram:" + strconv.FormatInt(q.From.ID, 10)
	if q.From.Username != "" {
		who += " (@" + q.From.Username + ")"
	}
	switch act {
	case actApprove, actDeny:
		row, err := b.store.Approval(ctx, id)
		if err != nil || row.Status != audit.ApprovalPending || !strings.HasPrefix(row.Hash, hash) {
			b.ignore(ctx, u, "no pending proposal with that id and hash")
			b.answer(ctx, q, "That proposal is no longer pending.")
			return
		}
		word, confirm := "approve", actConfirmApprove
		if act == actDeny {
			word, confirm = "deny", actConfirmDeny
		}
		kb := [][]button{{
			{Text: fmt.Sprintf("Yes, %s %s", word, hash), CallbackData: callbackData(confirm, id, row.Hash)},
			{Text: "Cancel", CallbackData: callbackData(actCancel, id, row.Hash)},
		}}
		var sent message
		if err := b.call(ctx, "sendMessage", map[string]any{
			"chat_id": b.chatParam(), "reply_to_message_id": q.Message.MessageID,
			"text":         fmt.Sprintf("Confirm: %s proposal %s (hash %s)?", word, id, hash),
			"reply_markup": map[string]any{"inline_keyboard": kb},
		}, &sent); err != nil {
			b.log.Warn("approval telegram: ask confirmation", "err", err)
			b.answer(ctx, q, "Could not ask for confirmation; try again.")
			return
		}
		// Only a press on this very confirmation message votes.
		if _, err := b.store.MarkInbound(ctx, b.confirmKey(sent.MessageID, confirm, id, hash)); err != nil {
			b.log.Error("approval telegram: remember the confirmation", "err", err)
			return
		}
		b.answer(ctx, q, "Confirm below.")
	case actCancel:
		b.answer(ctx, q, "Cancelled; nothing changed.")
	case actConfirmApprove, actConfirmDeny:
		asked, err := b.store.InboundSeen(ctx, b.confirmKey(q.Message.MessageID, act, id, hash))
		if err != nil {
			b.log.Error("approval telegram: read the confirmation", "err", err)
			return
		}
		if !asked {
			b.ignore(ctx, u, "a confirmation pressed on a message that did not ask it")
			b.answer(ctx, q, "Press Approve or Deny on the proposal first.")
			return
		}
		b.vote(ctx, q, act, id, hash, who)
	}
}

// confirmKey names the confirmation message msgID asking act for the
// proposal id with hash.
func (b *Bot) confirmKey(msgID int64, act, id, hash string) string {
	return fmt.Sprintf("%s:confirm:%d:%s:%s:%s", b.botID, msgID, act, id, hash)
}

func (b *Bot) vote(ctx context.Context, q *callbackQuery, act, id, hash, who string) {
	switch act {
	case actConfirmApprove:
		_, err := b.gate.Approve(ctx, approval.Vote{DecisionID: id, HashPrefix: hash, Who: who, Channel: approval.ChannelTelegram})
		b.answerVote(ctx, q, "Approved: Warden re-checks the market and places it, or voids it and says why.", err)
	case actConfirmDeny:
		_, err := b.gate.Deny(ctx, approval.Vote{DecisionID: id, HashPrefix: hash, Who: who, Channel: approval.ChannelTelegram, Reason: "denied in Telegram"})
		b.answerVote(ctx, q, "Denied: it will not be placed.", err)
	}
}

func (b *Bot) answerVote(ctx context.Context, q *callbackQuery, ok string, err error) {
	switch {
	case err == nil:
		b.answer(ctx, q, ok)
	case errors.Is(err, approval.ErrRefused):
		b.answer(ctx, q, "Refused: "+strings.TrimPrefix(err.Error(), "refused: "))
	default:
		b.log.Error("approval telegram: vote", "err", err)
		b.answer(ctx, q, "Could not record it; try again.")
	}
}
