package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

// writeDipConfig writes warden.yaml for the level model at url on the
// bundled replay from quietStart, with paper orders eligible to fill three
// hours after placement (a buy placed under the market rests), and the
// given schedule.
func writeDipConfig(t *testing.T, url, schedule string) {
	t.Helper()
	t.Setenv("WARDEN_TEST_BREAKER_KEY", "sk-test-withdraw-0123456789abcdef")
	cfg := fmt.Sprintf(`advisor:
  kind: openai
  openai: {base_url: %s, model: gpt-4o-mini, api_key_env: WARDEN_TEST_BREAKER_KEY, max_retries: -1, timeout: 10s}
paper: {replay_start: "%s", latency: 3h}
schedule: "%s"
`, url, quietStart, schedule)
	if err := os.WriteFile("warden.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// openBuy is the one buy entry open in warden.db, as another process
// reads it.
func openBuy(t *testing.T) schemas.OrderEvent {
	t.Helper()
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	open, err := st.OpenOrderEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var buys []schemas.OrderEvent
	for _, ev := range open {
		if ev.Role == "entry" && ev.Side == schemas.SideBuy {
			buys = append(buys, ev)
		}
	}
	if len(buys) != 1 {
		t.Fatalf("open buy entries = %+v; want one", buys)
	}
	return buys[0]
}

// lastOrderEvent is the newest journal event of cid, as another process
// reads it.
func lastOrderEvent(t *testing.T, cid string) schemas.OrderEvent {
	t.Helper()
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ev, ok, err := st.LastOrderEvent(context.Background(), cid)
	if err != nil || !ok {
		t.Fatalf("last event of %s: %v %v", cid, ok, err)
	}
	return ev
}

// restingDipBuy runs one `run --once` (in the current directory) whose
// model buys under the market, and returns the model and that buy,
// checked resting (acknowledged).
func restingDipBuy(t *testing.T) (*levelModel, schemas.OrderEvent) {
	t.Helper()
	m := newLevelModel(t)
	writeDipConfig(t, m.url, "@every 1h")
	m.mode.Store("dip")
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != exitOK {
		t.Fatalf("run --once (dip buy) = %d\n%s\n%s", code, out, errOut)
	}
	entry := openBuy(t)
	if entry.State != schemas.OrderAcknowledged {
		t.Fatalf("the buy = %+v; want it resting (acknowledged)", entry)
	}
	return m, entry
}

// TestKillWithdrawsARestingBuyAcrossProcesses, as cron runs Warden: one
// `run --once` places a buy under the market, which rests; `warden kill`
// in another process cancels it right away (no warden run holds the
// database), with the reason on the order's journal and a buys_withdrawn
// event, instead of leaving it up until the next cron process; the next
// processes run killed (exit 3), and a day of them later nothing was
// bought.
func TestKillWithdrawsARestingBuyAcrossProcesses(t *testing.T) {
	t.Chdir(t.TempDir())
	m, entry := restingDipBuy(t)
	m.mode.Store("hold")
	code, out, errOut := runMain(t, "kill", "--config", "warden.yaml", "--reason", "news")
	if code != exitOK || !strings.Contains(out, "kill switch ON") || !strings.Contains(out, "resting buys withdrawn: 1") {
		t.Fatalf("kill = %d; want the switch on and the buy withdrawn\n%s\n%s", code, out, errOut)
	}
	if got := lastOrderEvent(t, entry.ClientOrderID); got.State != schemas.OrderCancelled || !strings.Contains(got.Reason, "kill switch") {
		t.Fatalf("the buy right after warden kill = %+v; want cancelled because of the kill switch", got)
	}
	code, js, errOut := runMain(t, "audit", "events", "--kind", "buys_withdrawn", "--json")
	if code != 0 || !strings.Contains(js, entry.ClientOrderID) {
		t.Fatalf("audit events --kind buys_withdrawn = %d %s %s", code, js, errOut)
	}
	for i := 0; i < 6; i++ {
		code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
		if code != exitHalted || strings.Contains(out, "resting buys withdrawn") {
			t.Fatalf("run --once %d under the kill switch = %d (want 3, nothing left to withdraw)\n%s\n%s", i, code, out, errOut)
		}
	}
	if got := lastOrderEvent(t, entry.ClientOrderID); got.State != schemas.OrderCancelled || got.FilledQty.Sign() != 0 {
		t.Fatalf("the buy hours later = %+v; want cancelled with nothing filled", got)
	}
	// A second kill finds nothing resting and says nothing of it.
	if code, out, _ := runMain(t, "kill", "--config", "warden.yaml", "--reason", "again"); code != exitOK || strings.Contains(out, "withdrawn") {
		t.Errorf("second kill = %d\n%s", code, out)
	}
}

// TestKillWithdrawsBetweenCycles: a long-running `warden run` on an hourly
// schedule withdraws a resting buy within seconds of `warden kill` from
// another terminal, not at its next cycle an hour later.
func TestKillWithdrawsBetweenCycles(t *testing.T) {
	t.Chdir(t.TempDir())
	_, entry := restingDipBuy(t)
	svc := startService(t)
	time.Sleep(3 * time.Second) // the service is up, with no cycle due for an hour
	if got := lastOrderEvent(t, entry.ClientOrderID); got.State != schemas.OrderAcknowledged {
		t.Fatalf("the buy before the kill = %+v; want it left resting (nothing halts)", got)
	}
	if code, out, errOut := runMain(t, "kill", "--config", "warden.yaml", "--reason", "news"); code != exitOK || !strings.Contains(out, "the warden run holding the database withdraws them") {
		t.Fatalf("kill beside the running warden = %d; want it to leave the withdrawal to that one\n%s\n%s", code, out, errOut)
	}
	deadline := time.Now().Add(20 * time.Second)
	var got schemas.OrderEvent
	for time.Now().Before(deadline) {
		if got = lastOrderEvent(t, entry.ClientOrderID); got.State == schemas.OrderCancelled {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	svc.stop()
	if code, stderr, ok := svc.wait(30 * time.Second); !ok || code != 0 {
		t.Fatalf("warden run = %d (stopped %v)\n%s", code, ok, stderr)
	}
	if got.State != schemas.OrderCancelled || !strings.Contains(got.Reason, "kill switch") {
		t.Fatalf("the buy 20 s after the kill = %+v; want cancelled because of the kill switch", got)
	}
	// The paper account saved it: the next process finds nothing resting.
	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	if code != exitHalted || strings.Contains(out, "resting buys withdrawn") {
		t.Fatalf("run --once after the service = %d (want 3, nothing left to withdraw)\n%s\n%s", code, out, errOut)
	}
}
