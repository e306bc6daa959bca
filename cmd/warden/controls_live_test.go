package main

import (
	"context"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor/ccxtx/fakebinance"
	"github.com/warden-trading/warden/schemas"
)

func latestState(t *testing.T) schemas.State {
	t.Helper()
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, ok, err := st.LatestState(context.Background())
	if err != nil || !ok {
		t.Fatalf("LatestState = %v, %v", ok, err)
	}
	return s
}

// TestLiveRunSeesMaintenance: run --once --live against the fake Binance,
// each a new process: the state carries what the exchange says — normal
// and TRADING with the book, then maintenance and a symbol on a break —
// and nothing is placed while the exchange is in maintenance. It also
// counts the exchange requests of one cycle (README, "requests per
// cycle").
func TestLiveRunSeesMaintenance(t *testing.T) {
	fake, url := startFakeBinance(t, fakebinance.Options{})
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_API_KEY", fakeKey)
	t.Setenv("WARDEN_API_SECRET", fakeSecret)
	os.WriteFile("warden.yaml", []byte("mode: live\nexchange: {base_url: "+url+"}\n"), 0o600)

	run := func() {
		t.Helper()
		code, out, errOut := runMain(t, "run", "--once", "--live", "--config", "warden.yaml")
		if code != 0 {
			t.Fatalf("live run = exit %d\n%s\n%s", code, out, errOut)
		}
	}
	before := len(fake.Requests())
	run()
	reqs := fake.Requests()[before:]
	byPath := map[string]int{}
	for _, r := range reqs {
		byPath[r.Method+" "+r.Path]++
	}
	var lines []string
	for k, v := range byPath {
		lines = append(lines, k+" "+strconv.Itoa(v))
	}
	sort.Strings(lines)
	t.Logf("one run --once --live cycle, 2 symbols: %d exchange requests:\n%s", len(reqs), strings.Join(lines, "\n"))
	if byPath["GET /sapi/v1/system/status"] != 1 || byPath["GET /api/v3/depth"] != 2 {
		t.Errorf("requests %v; want one system status and one book per symbol", byPath)
	}
	st := latestState(t)
	if st.ExchangeStatus != schemas.ExchangeNormal || st.InMaintenance || st.Markets["BTC/USDT"].Status != schemas.MarketTrading || st.Markets["BTC/USDT"].Book == nil {
		t.Fatalf("state = exchange %q, window %v, BTC %q book %v; want normal, false, TRADING with a book", st.ExchangeStatus, st.InMaintenance, st.Markets["BTC/USDT"].Status, st.Markets["BTC/USDT"].Book != nil)
	}

	fake.SetMaintenance(true)
	fake.SetSymbolStatus("ETHUSDT", "BREAK")
	posts := countPosts(fake)
	run()
	st = latestState(t)
	if st.ExchangeStatus != schemas.ExchangeMaintenance || st.Markets["ETH/USDT"].Status != "BREAK" || st.Markets["BTC/USDT"].Status != schemas.MarketTrading {
		t.Fatalf("state in maintenance = exchange %q, ETH %q, BTC %q", st.ExchangeStatus, st.Markets["ETH/USDT"].Status, st.Markets["BTC/USDT"].Status)
	}
	if n := countPosts(fake); n != posts {
		t.Errorf("%d orders sent while the exchange was in maintenance", n-posts)
	}
}

func countPosts(f *fakebinance.Server) int {
	n := 0
	for _, r := range f.Requests() {
		if r.Method == "POST" && r.Path == "/api/v3/order" {
			n++
		}
	}
	return n
}

// TestBanHoldsAcrossOnceRuns: Binance answers one request of a `run
// --once --live` with 418 (IP banned for two minutes). That process stops
// sending, records the ban (exchange_backoff), and the next process, as
// cron starts it a moment later, sends nothing at all: not even the key
// check. A request sent during a ban makes Binance lengthen it.
func TestBanHoldsAcrossOnceRuns(t *testing.T) {
	fake, url := startFakeBinance(t, fakebinance.Options{})
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_API_KEY", fakeKey)
	t.Setenv("WARDEN_API_SECRET", fakeSecret)
	os.WriteFile("warden.yaml", []byte("mode: live\nexchange: {base_url: "+url+"}\n"), 0o600)
	if err := fake.Inject(fakebinance.Fault{Method: "GET", Path: "/api/v3/depth", Kind: fakebinance.FaultBan, RetryAfter: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runMain(t, "run", "--once", "--live", "--config", "warden.yaml")
	if code == exitOK {
		t.Fatalf("a cycle banned half way = exit 0\n%s\n%s", out, errOut)
	}
	banAt := len(fake.Requests())
	if fake.FaultsServed()[fakebinance.FaultBan] != 1 {
		t.Fatalf("the ban was served %d times; want once", fake.FaultsServed()[fakebinance.FaultBan])
	}
	code, js, _ := runMain(t, "audit", "events", "--kind", "exchange_backoff", "--json")
	if code != 0 || !strings.Contains(js, `"banned"`) {
		t.Fatalf("audit events --kind exchange_backoff = %d %s; want the ban recorded", code, js)
	}
	code, out, errOut = runMain(t, "run", "--once", "--live", "--config", "warden.yaml")
	if code != exitFailed || !strings.Contains(errOut, "pause until") {
		t.Fatalf("run --once during the ban = %d; want 1 naming the pause\n%s\n%s", code, out, errOut)
	}
	if n := len(fake.Requests()) - banAt; n != 0 {
		t.Errorf("the process started during the ban sent %d requests; want none", n)
	}
	// warden status says why every cycle fails until then.
	code, out, errOut = runMain(t, "status", "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "exchange      banned until") {
		t.Errorf("status during the ban = %d; want the ban shown\n%s\n%s", code, out, errOut)
	}
	code, js, _ = runMain(t, "status", "--config", "warden.yaml", "--json")
	if code != 0 || !strings.Contains(js, `"exchange_pause"`) {
		t.Errorf("status --json during the ban = %d, no exchange_pause:\n%s", code, js)
	}
}

// TestKillLiveWithdrawsABuyRestingOnTheExchange is `warden kill` from a
// second terminal on a live account, as cron runs Warden: one `run --once
// --live` (a new process) places a buy under the market on the fake
// Binance through the real ccxt client, where it rests. `warden kill`
// without --live sets the switch but touches no live order (it says how
// the buy will go); `warden kill --live` cancels it on the exchange now,
// with the kill switch as the journal's reason. Nothing else is placed,
// and the next cron process runs killed.
func TestKillLiveWithdrawsABuyRestingOnTheExchange(t *testing.T) {
	fake, url := startFakeBinance(t, fakebinance.Options{Balances: map[string]string{"USDT": "50000"}})
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_API_KEY", fakeKey)
	t.Setenv("WARDEN_API_SECRET", fakeSecret)
	t.Setenv("WARDEN_TEST_BREAKER_KEY", "sk-test-kill-live-0123456789abcdef")
	m := newLevelModel(t)
	m.mode.Store("dip")
	cfg := "mode: live\nexchange: {base_url: " + url + "}\nadvisor:\n  kind: openai\n" +
		"  openai: {base_url: " + m.url + ", model: gpt-4o-mini, api_key_env: WARDEN_TEST_BREAKER_KEY, max_retries: -1, timeout: 10s}\n"
	if err := os.WriteFile("warden.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runMain(t, "run", "--once", "--live", "--config", "warden.yaml"); code != exitOK {
		t.Fatalf("live run --once (dip buy) = %d\n%s\n%s", code, out, errOut)
	}
	entry := openBuy(t)
	resting := func() []fakebinance.Order {
		var out []fakebinance.Order
		for _, o := range fake.Orders() {
			if o.Side == "BUY" && o.Open() {
				out = append(out, o)
			}
		}
		return out
	}
	if r := resting(); len(r) != 1 || r[0].ClientOrderID != entry.ClientOrderID {
		t.Fatalf("buys resting on the exchange = %+v; want the one entry %s", r, entry.ClientOrderID)
	}
	m.mode.Store("hold")

	// Without --live: the switch is set, the live order is left to the
	// running warden or the next run, and the operator is told so.
	code, out, errOut := runMain(t, "kill", "--config", "warden.yaml", "--reason", "news")
	if code != exitOK || !strings.Contains(out, "kill switch ON") || !strings.Contains(out, "give --live") {
		t.Fatalf("kill (no --live) = %d; want the switch on and the --live hint\n%s\n%s", code, out, errOut)
	}
	if len(resting()) != 1 {
		t.Fatal("kill without --live touched the live order")
	}

	// With --live: withdrawn on the exchange now.
	placed := len(fake.Orders())
	code, out, errOut = runMain(t, "kill", "--live", "--config", "warden.yaml", "--reason", "news")
	if code != exitOK || !strings.Contains(out, "resting buys withdrawn: 1") {
		t.Fatalf("kill --live = %d; want the buy withdrawn\n%s\n%s", code, out, errOut)
	}
	if r := resting(); len(r) != 0 {
		t.Fatalf("buys still resting on the exchange after kill --live: %+v", r)
	}
	if got := lastOrderEvent(t, entry.ClientOrderID); got.State != schemas.OrderCancelled || !strings.Contains(got.Reason, "kill switch") {
		t.Fatalf("the buy's journal after kill --live = %+v; want cancelled because of the kill switch", got)
	}
	if n := len(fake.Orders()); n != placed {
		t.Errorf("kill --live placed %d orders; want none", n-placed)
	}
	for cid, n := range fake.Duplicates() {
		t.Errorf("client order id %s placed %d times", cid, n)
	}
	if strings.Contains(out+errOut, fakeSecret) {
		t.Error("the secret is in kill's output")
	}
	if code, out, errOut := runMain(t, "run", "--once", "--live", "--config", "warden.yaml"); code != exitHalted {
		t.Fatalf("live run --once under the kill switch = %d; want %d\n%s\n%s", code, exitHalted, out, errOut)
	}
	if n := len(fake.Orders()); n != placed {
		t.Errorf("a run under the kill switch placed %d orders", n-placed)
	}
}
