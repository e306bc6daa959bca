package config

import (
	"strings"
	"testing"
	"time"
)

func TestApprovalDefaultsOff(t *testing.T) {
	c := Default()
	if c.ApprovalEnabled("paper") || c.ApprovalEnabled("live") {
		t.Fatal("approval is on by default")
	}
	if c.Approval.Expires != 15*time.Minute || c.Approval.MaxPriceMoveBps.String() != "25" || strings.Join(c.Approval.For, ",") != "buy,sell" {
		t.Fatalf("defaults = %+v", c.Approval)
	}
}

// The README's example, as written, is a valid configuration.
func TestApprovalReadmeExample(t *testing.T) {
	c, err := Parse("x.yaml", []byte(`approval:
  required: true
  for: [buy, sell]
  over_notional: 0
  expires: 15m
  max_price_move_bps: 25
  channels: [cli, console]
  live_warmup: {days: 14, orders: 20}
  telegram: {allowed_user_ids: [123456789]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.ApprovalEnabled("paper") || c.Approval.LiveWarmup.Days != 14 || c.Approval.Telegram.AllowedUserIDs[0] != 123456789 {
		t.Fatalf("parsed %+v", c.Approval)
	}
	w, err := Parse("x.yaml", []byte("mode: live\napproval: {live_warmup: {orders: 5}}\n"))
	if err != nil || !w.ApprovalEnabled("live") || w.ApprovalEnabled("paper") {
		t.Fatalf("live warm-up alone: %v %+v", err, w.Approval)
	}
}

func TestApprovalBadValues(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"approval: {for: [hold]}", `approval.for: "hold" is not buy or sell`},
		{"approval: {for: [buy, buy]}", `"buy" listed twice`},
		{"approval: {over_notional: -1}", "approval.over_notional: must be ≥ 0"},
		{"approval: {expires: 0s}", "approval.expires: 0s is under 1m"},
		{"approval: {expires: 59s}", "approval.expires: 59s is under 1m: a person could not answer"},
		{"approval: {max_price_move_bps: -0.01}", "approval.max_price_move_bps: -0.01 is outside 0..10000"},
		{"approval: {max_price_move_bps: 10000.01}", "is outside 0..10000"},
		{"approval: {channels: [email]}", `approval.channels: "email" is not cli, console or telegram`},
		{"approval: {required: true, channels: []}", "at least one channel is needed"},
		{"approval: {channels: [telegram], telegram: {allowed_user_ids: [1]}}", "telegram needs notify.telegram token_env and chat_id"},
		{"approval: {channels: [cli, telegram]}", "approval.telegram.allowed_user_ids: the telegram channel needs at least one"},
		{"approval: {telegram: {allowed_user_ids: [-100123]}}", "-100123 is not a Telegram user id"},
		{"approval: {live_warmup: {days: -1}}", "approval.live_warmup: days and orders must be ≥ 0"},
		{"approval: {requird: true}", "required"},
	} {
		_, err := Parse("x.yaml", []byte(c.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v; want %q", c.yaml, err, c.want)
		}
	}
	// At the limits: accepted.
	for _, y := range []string{"approval: {max_price_move_bps: 0}", "approval: {max_price_move_bps: 10000}", "approval: {over_notional: 0, expires: 1m}"} {
		if _, err := Parse("x.yaml", []byte(y+"\n")); err != nil {
			t.Errorf("%s: %v", y, err)
		}
	}
}
