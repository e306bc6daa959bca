package notify

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/schemas"
)

// operatorEvents is a day's worth of events, in order.
func operatorEvents(at time.Time) []Event {
	fill := schemas.OrderEvent{ClientOrderID: "wdn-d1-entry", DecisionID: "d-1", Role: "entry", State: schemas.OrderFilled,
		Symbol: "BTC/USDT", Side: schemas.SideBuy, Quantity: dec("0.01234"), FilledQty: dec("0.01234"), AvgPrice: dec("64000.5")}
	return []Event{
		Decision{ID: "d-1", RunID: "run-1", Verdict: approvedVerdict(), Rationale: "Trend <up> & volume rising"},
		Fill{RunID: "run-1", Event: fill},
		Decision{ID: "d-2", RunID: "run-1", Verdict: rejectedVerdict(), Rationale: "<script>sell</script>"},
		Breaker{Name: "volatility_shock", Tripped: true, Reason: "ATR x7", At: at},
		SafeMode{On: true, Reason: "breaker", At: at},
		KillSwitch{On: true, By: "operator", At: at.Add(time.Minute)},
		PolicyReloadFailed{Path: "policy.yaml", Revision: "abc", Err: "rule x: must evaluate to bool but got int", At: at},
		Error{Component: "advisor", Err: "HTTP 503 from model", RunID: "run-2"},
	}
}

// deliverAll runs both dispatchers' Flush, advancing the fake clock to
// each pause's end, until nothing is pending or passes run out.
func deliverAll(t *testing.T, ob Outbox, clk *fakeClock, ds ...*Dispatcher) {
	t.Helper()
	ctx := context.Background()
	for pass := 0; pass < 50; pass++ {
		left := 0
		for _, d := range ds {
			if err := d.Flush(ctx); err != nil {
				t.Fatalf("Flush(%s) = %v", d.Channel(), err)
			}
			p, err := ob.PendingNotifications(ctx, d.Channel(), clk.Now().Add(24*time.Hour), 100)
			if err != nil {
				t.Fatal(err)
			}
			left += len(p)
		}
		if left == 0 {
			return
		}
		clk.Advance(10 * time.Second)
	}
	t.Fatalf("notifications still pending after 50 passes")
}

// wantTexts is what each fake must have shown, in order: the events'
// titles and texts, unescaped.
func wantTexts(t *testing.T, events []Event, slack bool) []string {
	t.Helper()
	var out []string
	for _, e := range events {
		m, err := e.Message()
		if err != nil {
			t.Fatal(err)
		}
		if slack {
			out = append(out, "*"+strings.ReplaceAll(m.Title, "*", "∗")+"*\n"+m.Text)
		} else {
			out = append(out, m.Title+"\n"+m.Text)
		}
	}
	return out
}

func TestOutboxDeliversEverythingAfterOutage(t *testing.T) {
	runOutageScenario(t, func(t *testing.T) (Outbox, func() Outbox) {
		ob := newMemOutbox()
		return ob, func() Outbox { return ob } // in memory: a "restart" keeps the same store
	})
}

// runOutageScenario publishes operatorEvents while Slack is down (connection
// refused) and Telegram answers 429 then 500, restarts the process (new
// Notifier and Dispatchers over reopen()'s outbox), brings Slack back and
// checks that each fake shows every notification exactly once, in order.
func runOutageScenario(t *testing.T, open func(t *testing.T) (Outbox, func() Outbox)) {
	clk := newFakeClock()
	fs, ft := newFakeSlack(t), newFakeTelegram(t)
	slackCfg := SlackConfig{WebhookURL: fs.WebhookURL()}
	tgCfg := TelegramConfig{Token: ft.token, ChatID: ft.chat, ServerURL: ft.URL()}
	newDispatchers := func(ob Outbox) []*Dispatcher {
		senders, err := NewSenders(slackCfg, tgCfg)
		if err != nil {
			t.Fatal(err)
		}
		var ds []*Dispatcher
		for _, s := range senders {
			log, _ := testLogger()
			d, err := NewDispatcher(DispatcherConfig{Outbox: ob, Sender: s, Now: clk.Now, Sleep: clk.Sleep, Logger: log,
				MinInterval: time.Second, BaseBackoff: time.Second, MaxBackoff: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, d)
		}
		return ds
	}

	ob, reopen := open(t)
	senders, _ := NewSenders(slackCfg, tgCfg)
	n, err := NewNotifier(NotifierConfig{Outbox: ob, Channels: Channels(senders), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	events := operatorEvents(clk.Now())

	fs.Stop()
	ft.push(reply{status: 429, file: "telegram/error_429_retry_after.json"},
		reply{status: 500, ctype: "application/json"})
	for _, e := range events[:5] {
		if err := n.Publish(ctx, e); err != nil {
			t.Fatalf("Publish(%T) = %v", e, err)
		}
	}
	ds := newDispatchers(ob)
	for range 3 {
		for _, d := range ds {
			if err := d.Flush(ctx); err != nil {
				t.Fatalf("Flush(%s) = %v", d.Channel(), err)
			}
		}
		clk.Advance(2 * time.Second)
	}
	if got := fs.Texts(); len(got) != 0 {
		t.Fatalf("slack got %d messages while down", len(got))
	}
	// One more Slack failure just before the restart: the restarted
	// dispatcher finds the oldest Slack notification not yet due while newer
	// ones are, and must still keep the order.
	for _, d := range ds {
		if d.Channel() == ChannelSlack {
			d.Flush(ctx)
		}
	}
	if p, _ := ob.PendingNotifications(ctx, ChannelSlack, clk.Now(), 100); len(p) != 4 {
		t.Fatalf("%d Slack notifications due at restart; want 4 (the oldest waiting)", len(p))
	}

	// Restart: the old dispatchers are dropped, new ones read the outbox.
	ob = reopen()
	n, err = NewNotifier(NotifierConfig{Outbox: ob, Channels: Channels(senders), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events { // the re-run publishes everything again
		if err := n.Publish(ctx, e); err != nil {
			t.Fatalf("Publish(%T) after restart = %v", e, err)
		}
	}
	fs.Start()
	deliverAll(t, ob, clk, newDispatchers(ob)...)

	if got, want := fs.Texts(), wantTexts(t, events, true); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("slack showed %d messages:\n%q\nwant %d:\n%q", len(got), got, len(want), want)
	}
	if got, want := ft.Texts(), wantTexts(t, events, false); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("telegram showed %d messages:\n%q\nwant %d:\n%q", len(got), got, len(want), want)
	}
	for _, m := range ft.Modes() {
		if m != "HTML" {
			t.Errorf("telegram parse modes %q; want all HTML", ft.Modes())
			break
		}
	}
}
