package config

import (
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Approval is human approval (agent/approval): approved orders wait for a
// person. Off by default.
type Approval struct {
	// Required makes matching orders wait for a person.
	Required bool `yaml:"required"`
	// For are the order sides that wait: buy, sell (default both).
	For []string `yaml:"for"`
	// OverNotional: only orders above this notional wait; 0: every order.
	OverNotional decimal.Decimal `yaml:"over_notional"`
	// Expires is how long a proposal may wait (default 15m).
	Expires time.Duration `yaml:"expires"`
	// MaxPriceMoveBps is how far the mid price may move between the
	// proposal and the re-check before placing (default 25, inclusive).
	MaxPriceMoveBps decimal.Decimal `yaml:"max_price_move_bps"`
	// Channels that may approve: cli, console, telegram (default cli,
	// console).
	Channels []string `yaml:"channels"`
	// LiveWarmup: in live mode, every order waits until the first live
	// run is Days old and Orders live orders were placed.
	LiveWarmup LiveWarmup `yaml:"live_warmup"`
	// Telegram is the inbound Telegram channel (the bot and chat of
	// notify.telegram).
	Telegram ApprovalTelegram `yaml:"telegram"`
}

// LiveWarmup is approval for the first days or orders of live trading.
type LiveWarmup struct {
	Days   int `yaml:"days"`
	Orders int `yaml:"orders"`
}

// ApprovalTelegram is who may approve through Telegram.
type ApprovalTelegram struct {
	// AllowedUserIDs are the Telegram user ids whose button presses count.
	AllowedUserIDs []int64 `yaml:"allowed_user_ids"`
}

// DefaultApproval is approval off, with the defaults for when it
// is turned on.
func DefaultApproval() Approval {
	return Approval{
		For:             []string{"buy", "sell"},
		Expires:         15 * time.Minute,
		MaxPriceMoveBps: decimal.NewFromInt(25),
		Channels:        []string{"cli", "console"},
	}
}

// ApprovalEnabled reports whether any order may wait for a person in mode
// (the runtime's: paper or live).
func (c Config) ApprovalEnabled(mode string) bool {
	a := c.Approval
	return a.Required || (mode == "live" && (a.LiveWarmup.Days > 0 || a.LiveWarmup.Orders > 0))
}

func (c Config) validateApproval() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	a := c.Approval
	seen := map[string]bool{}
	for _, s := range a.For {
		if s != "buy" && s != "sell" {
			bad("approval.for: %q is not buy or sell", s)
		}
		if seen[s] {
			bad("approval.for: %q listed twice", s)
		}
		seen[s] = true
	}
	if a.OverNotional.IsNegative() {
		bad("approval.over_notional: must be ≥ 0 (0: every order)")
	}
	if a.Expires < time.Minute {
		bad("approval.expires: %s is under 1m: a person could not answer before the proposal expires", a.Expires)
	}
	if a.MaxPriceMoveBps.IsNegative() || a.MaxPriceMoveBps.GreaterThan(decimal.NewFromInt(10000)) {
		bad("approval.max_price_move_bps: %s is outside 0..10000", a.MaxPriceMoveBps)
	}
	if a.LiveWarmup.Days < 0 || a.LiveWarmup.Orders < 0 {
		bad("approval.live_warmup: days and orders must be ≥ 0")
	}
	seen = map[string]bool{}
	for _, ch := range a.Channels {
		if ch != "cli" && ch != "console" && ch != "telegram" {
			bad("approval.channels: %q is not cli, console or telegram", ch)
		}
		if seen[ch] {
			bad("approval.channels: %q listed twice", ch)
		}
		seen[ch] = true
	}
	if len(a.Channels) == 0 && (a.Required || a.LiveWarmup.Days > 0 || a.LiveWarmup.Orders > 0) {
		bad("approval.channels: at least one channel is needed, or no order could ever be approved")
	}
	if slices.Contains(a.Channels, "telegram") {
		if len(a.Telegram.AllowedUserIDs) == 0 {
			bad("approval.telegram.allowed_user_ids: the telegram channel needs at least one allowed user id")
		}
		if c.Notify.Telegram.TokenEnv == "" || c.Notify.Telegram.ChatID == "" {
			bad("approval.channels: telegram needs notify.telegram token_env and chat_id (the bot and chat proposals are sent to)")
		}
	}
	for _, id := range a.Telegram.AllowedUserIDs {
		if id <= 0 {
			bad("approval.telegram.allowed_user_ids: %d is not a Telegram user id (users have positive ids)", id)
		}
	}
	return errs
}
