package agent_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/notify"
	"github.com/warden-trading/warden/policy"
)

// TestThresholdAlertOncePerDayAcrossProcesses: an exchange key past its
// rotation period raises the key_rotation alert. Hourly cycles by two
// agents on the same database (a scheduler and a cron run, each opening
// the store itself) record it once that day and enqueue it once per
// channel; the next day it is raised again, once.
func TestThresholdAlertOncePerDayAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "warden.db")
	h := newHarness(t, nil, dbPath)
	other, err := audit.Open(ctx, dbPath, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	mk := func(st *audit.Store) *agent.Agent {
		n, err := notify.NewNotifier(notify.NotifierConfig{Outbox: st, Channels: []string{notify.ChannelSlack}, Now: func() time.Time { return h.now }})
		if err != nil {
			t.Fatal(err)
		}
		a, err := agent.New(agent.Deps{Market: h.px, Orders: h.exec, Advisor: &buyer{}, Validator: policy.NewValidator(pol, policy.Limits{}),
			Store: st, Publisher: n, Clock: func() time.Time { return h.now }, Logger: quiet},
			agent.Options{Mode: "paper", Symbols: []string{"BTC/USDT", "ETH/USDT"}, Timeframe: "1h", MaxDataAge: 2 * time.Hour,
				Breakers: agent.DefaultBreakers(),
				Alerts:   agent.AlertOptions{KeyCreated: replayStart.AddDate(0, 0, -100), KeyRotationDays: 90}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	agents := []*agent.Agent{mk(h.store), mk(other)}
	countAlerts := func() (events, notes int) {
		t.Helper()
		rows, err := h.store.ListEvents(ctx, audit.EventFilter{Kinds: []string{audit.EventAlert}})
		if err != nil {
			t.Fatal(err)
		}
		ns, err := h.store.PendingNotifications(ctx, notify.ChannelSlack, h.now.Add(1000*time.Hour), 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if n.Kind == agent.KindAlert {
				notes++
			}
		}
		return len(rows), notes
	}
	for i := 0; i < 6; i++ {
		cycleAt(t, h, agents[i%2])
	}
	if e, n := countAlerts(); e != 1 || n != 1 {
		t.Fatalf("after 6 cycles by two processes on one day: %d alert events, %d alert notifications; want 1 and 1", e, n)
	}
	rows, _ := h.store.ListEvents(ctx, audit.EventFilter{Kinds: []string{audit.EventAlert}})
	if rows[0].State != "key_rotation" {
		t.Errorf("alert event = %+v; want key_rotation", rows[0].Event)
	}
	// The next day: raised once more.
	for i := 0; i < 24; i++ {
		cycleAt(t, h, agents[i%2])
	}
	if e, n := countAlerts(); e != 2 || n != 2 {
		t.Fatalf("after the next day: %d alert events, %d notifications; want 2 and 2", e, n)
	}
}
