package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/schemas"
)

// killChildEnv runs one `warden run --once` in a child process killed with
// SIGKILL at a crash point: "DIR|STEP|WHAT".
const killChildEnv = "WARDEN_TEST_PAPER_KILL"

// killScript is the model's script for the kill tests: a buy that fills at
// once and gets its stop, a hold, a sell that first cancels the stop, then
// holds.
var killScript = []string{"buyBTC", "hold", "sellBTC", "hold", "hold", "hold", "hold"}

// TestKillNineLeavesJournalAndPaperAgreeing kills a `run --once` process
// with SIGKILL at each point between the paper exchange and the order
// journal (before the paper exchange took the order, after it took and
// saved it, after the journal recorded the answer; the same for the stop
// and the cancellation of the stop before a sell), then runs the rest of
// the script as new processes on the same database. Afterwards the journal
// and the paper account restored from the database agree on every order,
// its state, its fills and the open orders, no reconciliation found a
// mismatch, a foreign order or a balance difference, and no fill is
// counted twice.
func TestKillNineLeavesJournalAndPaperAgreeing(t *testing.T) {
	if spec := os.Getenv(killChildEnv); spec != "" {
		killChild(t, spec)
		return
	}
	cases := []struct {
		name  string
		cycle int // 0-based index into killScript
		step  string
		what  string
		// bought: the buy ends filled (true) or never placed (false).
		bought bool
	}{
		{"before the paper exchange took the buy", 0, "place", "buy limit", false},
		{"after the paper exchange took and saved the buy", 0, "placed", "buy limit", true},
		{"after the journal recorded the buy's fill", 0, "journaled filled", "buy limit", true},
		{"after the paper exchange took and saved the stop", 0, "placed", "sell stop_loss_limit", true},
		{"after the journal recorded the stop", 0, "journaled acknowledged", "sell stop_loss_limit", true},
		{"after the paper exchange cancelled the stop", 2, "cancelled", "sell stop_loss_limit", true},
		{"after the journal recorded the stop's cancellation", 2, "journaled cancelled", "sell stop_loss_limit", true},
		{"after the candle that filled the sell was saved", 3, "fed", "", true},
		{"after the journal recorded the sell's fill", 3, "journaled filled", "sell limit", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			m := newOperatorModel(t, killScript...)
			writeBreakerConfig(t, m.url, quietStart, "{}")
			for i := range killScript {
				if i == tc.cycle {
					runKilled(t, dir, tc.step, tc.what)
					continue
				}
				if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
					t.Fatalf("cycle %d (%s) = exit %d\n%s\n%s", i+1, killScript[i], code, out, errOut)
				}
			}
			checkJournalMatchesPaper(t, tc.bought)
		})
	}
}

// runKilled runs one cycle in a child process that SIGKILLs itself at
// step for an order that is what, and checks that it died there.
func runKilled(t *testing.T, dir, step, what string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillNineLeavesJournalAndPaperAgreeing$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir+"|"+step+"|"+what)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed at %q (%s): %v\n%s", step, what, err, out)
	}
}

// killChild is the child: one `run --once` with crashHook killing the
// process at the step asked for.
func killChild(t *testing.T, spec string) {
	parts := strings.SplitN(spec, "|", 3)
	dir, step, what := parts[0], parts[1], parts[2]
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	crashHook = func(s, _, w string) {
		if s == step && w == what {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never returns
		}
	}
	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	t.Fatalf("run --once returned (exit %d) instead of being killed at %q (%s)\n%s\n%s", code, step, what, out, errOut)
}

// checkJournalMatchesPaper compares the journal of warden.db with the
// paper account restored from it, as `warden status` does.
func checkJournalMatchesPaper(t *testing.T, boughtOnce bool) {
	t.Helper()
	ctx := context.Background()
	st, err := audit.Open(ctx, "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	px, ok, err := restorePaperAccount(ctx, st)
	if err != nil || !ok {
		t.Fatalf("restore the paper account: ok %v, %v", ok, err)
	}
	db, err := sql.Open("sqlite3", "file:warden.db?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// Reconciliations after the kill found nothing but orders being
	// resolved.
	evs, err := st.ListEvents(ctx, audit.EventFilter{Kinds: []string{audit.EventReconcile}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		var d struct {
			Foreign, Mismatches, BalanceDiffs []json.RawMessage
			Error                             string
		}
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Foreign)+len(d.Mismatches)+len(d.BalanceDiffs) > 0 || d.Error != "" {
			t.Errorf("reconcile event %d (%s): %s", ev.Seq, ev.State, ev.Detail)
		}
	}

	rows, err := db.Query(`SELECT DISTINCT ref FROM records WHERE kind = 'order_event' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var cids []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cids = append(cids, c)
	}
	rows.Close()

	buys := 0
	held, bought, sold := decimal.Zero, decimal.Zero, decimal.Zero
	for _, cid := range cids {
		ev, _, err := st.LastOrderEvent(ctx, cid)
		if err != nil {
			t.Fatal(err)
		}
		rep, ferr := px.FetchOrder(ctx, "", cid)
		switch ev.State {
		case schemas.OrderIntent, schemas.OrderSubmitted, schemas.OrderUnknown:
			t.Errorf("%s %s %s: still %s in the journal after the last cycle (%s)", cid, ev.Side, ev.Type, ev.State, ev.Reason)
			continue
		case schemas.OrderRejected:
			if ferr == nil {
				t.Errorf("%s %s %s: rejected in the journal (%s) but the paper exchange has it, %s", cid, ev.Side, ev.Type, ev.Reason, rep.Status)
			}
			continue
		}
		if ferr != nil {
			t.Errorf("%s %s %s: %s in the journal, the paper exchange: %v", cid, ev.Side, ev.Type, ev.State, ferr)
			continue
		}
		if rep.Status != ev.State || !rep.FilledQty.Equal(ev.FilledQty) {
			t.Errorf("%s %s %s: journal %s, filled %s; paper %s, filled %s", cid, ev.Side, ev.Type, ev.State, ev.FilledQty, rep.Status, rep.FilledQty)
		}
		if ev.Side == schemas.SideBuy && ev.State == schemas.OrderFilled {
			buys++
		}
		// Each fill once: the paper trades of the order add up to what
		// the journal says it filled.
		trades, err := px.MyTrades(ctx, ev.Symbol, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		traded := decimal.Zero
		for _, tr := range trades {
			if tr.ClientOrderID == cid {
				traded = traded.Add(tr.Quantity)
			}
		}
		if !traded.Equal(ev.FilledQty) {
			t.Errorf("%s %s %s: journal filled %s; paper trades %s", cid, ev.Side, ev.Type, ev.FilledQty, traded)
		}
		if ev.Symbol == "BTC/USDT" {
			q := ev.FilledQty
			if ev.Side == schemas.SideSell {
				q = q.Neg()
				sold = sold.Add(ev.FilledQty)
			} else {
				bought = bought.Add(ev.FilledQty)
			}
			if ev.FeeCurrency == "BTC" {
				q = q.Sub(ev.Fee)
			}
			held = held.Add(q)
		}
	}
	if want := map[bool]int{true: 1, false: 0}[boughtOnce]; buys != want {
		t.Errorf("%d filled buys in the journal; want %d", buys, want)
	}
	// Nothing on the paper exchange the journal does not know of.
	open, err := px.OpenOrders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range open {
		if !slices.Contains(cids, o.ClientOrderID) {
			t.Errorf("paper order %s (%s %s, %s) is not in the journal", o.ClientOrderID, o.Side, o.Type, o.Status)
		}
	}
	all, err := px.MyTrades(ctx, "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range all {
		if !slices.Contains(cids, tr.ClientOrderID) {
			t.Errorf("paper trade %s of %s is not in the journal", tr.ID, tr.ClientOrderID)
		}
	}
	// The BTC the journal's fills leave is what the paper account holds.
	bals, err := px.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := bals["BTC"].Total(); !got.Equal(held) {
		t.Errorf("paper BTC %s; the journal's fills leave %s", got, held)
	}
	// `warden trades` counts each fill once: what the paper exchange
	// traded.
	code, out, errOut := runMain(t, "trades", "--config", "warden.yaml", "--json")
	if code != 0 {
		t.Fatalf("trades --json = %d\n%s", code, errOut)
	}
	var trips []struct {
		Symbol       string
		Bought, Sold decimal.Decimal
	}
	if err := json.Unmarshal([]byte(out), &trips); err != nil {
		t.Fatal(err)
	}
	tb, ts := decimal.Zero, decimal.Zero
	for _, tr := range trips {
		if tr.Symbol == "BTC/USDT" {
			tb, ts = tb.Add(tr.Bought), ts.Add(tr.Sold)
		}
	}
	pb, ps := decimal.Zero, decimal.Zero
	for _, tr := range all {
		if tr.Symbol != "BTC/USDT" {
			continue
		}
		if tr.Side == schemas.SideBuy {
			pb = pb.Add(tr.Quantity)
		} else {
			ps = ps.Add(tr.Quantity)
		}
	}
	if !tb.Equal(pb) || !ts.Equal(ps) || !bought.Equal(pb) || !sold.Equal(ps) {
		t.Errorf("BTC bought/sold: warden trades %s/%s, journal %s/%s, paper exchange %s/%s", tb, ts, bought, sold, pb, ps)
	}
}

// TestPaperAccountSavesBeforeAnswering: the paper account as the runtime
// uses it is saved before PlaceOrder and CancelOrder answer and before a
// candle's fill can be read, so a process that stops right after any of
// them (nothing else saved, the store not closed) leaves all of it in the
// database for the next one.
func TestPaperAccountSavesBeforeAnswering(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "warden.db")
	open := func() (*audit.Store, *paperAccount) {
		st, err := audit.Open(ctx, db, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		px, err := paper.New(paper.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		acct, err := newPaperAccount(ctx, st, px)
		if err != nil {
			t.Fatal(err)
		}
		return st, acct
	}
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	candle := func(i int, low float64) executor.Candle {
		return executor.Candle{Time: at.Add(time.Duration(i) * time.Hour), Open: 100, High: 101, Low: low, Close: 100, Volume: 1000}
	}

	// Process 1: two candles, a resting buy under the market, another
	// cancelled; it stops without saving anything itself.
	st1, a1 := open()
	for i := 0; i < 2; i++ {
		if err := a1.OnCandle("ETH/USDT", candle(i, 99.5)); err != nil {
			t.Fatal(err)
		}
	}
	d := decimal.RequireFromString
	buy := executor.OrderRequest{Symbol: "ETH/USDT", Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: d("0.5"), Price: d("98"), ClientOrderID: "wdtestrest"}
	if _, err := a1.PlaceOrder(ctx, buy); err != nil {
		t.Fatal(err)
	}
	gone := buy
	gone.ClientOrderID, gone.Price = "wdtestgone", d("97")
	if _, err := a1.PlaceOrder(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := a1.CancelOrder(ctx, "ETH/USDT", "wdtestgone"); err != nil {
		t.Fatal(err)
	}
	st2, a2 := open()
	if rep, err := a2.FetchOrder(ctx, "ETH/USDT", "wdtestrest"); err != nil || rep.Status != schemas.OrderAcknowledged {
		t.Errorf("after PlaceOrder answered, a new process finds %s: %v; want it acknowledged", rep.Status, err)
	}
	if rep, err := a2.FetchOrder(ctx, "ETH/USDT", "wdtestgone"); err != nil || rep.Status != schemas.OrderCancelled {
		t.Errorf("after CancelOrder answered, a new process finds %s: %v; want it cancelled", rep.Status, err)
	}
	st2.Close()

	// A candle reaching the buy fills it; what the executor reads of it
	// is saved first.
	if err := a1.OnCandle("ETH/USDT", candle(2, 97.5)); err != nil {
		t.Fatal(err)
	}
	rep, err := a1.FetchOrder(ctx, "ETH/USDT", "wdtestrest")
	if err != nil || rep.Status != schemas.OrderFilled {
		t.Fatalf("the candle did not fill the buy: %s, %v", rep.Status, err)
	}
	st3, a3 := open()
	defer st3.Close()
	if got, err := a3.FetchOrder(ctx, "ETH/USDT", "wdtestrest"); err != nil || got.Status != schemas.OrderFilled || !got.FilledQty.Equal(rep.FilledQty) {
		t.Errorf("after the fill was read, a new process finds %s filled %s: %v; want filled %s", got.Status, got.FilledQty, err, rep.FilledQty)
	}
	if tr, _ := a3.MyTrades(ctx, "ETH/USDT", time.Time{}); len(tr) != 1 {
		t.Errorf("a new process finds %d trades; want 1", len(tr))
	}
	if now := a3.Now(); !now.Equal(candle(2, 0).Time) {
		t.Errorf("a new process's paper clock is %s; want %s", now, candle(2, 0).Time)
	}
	_ = st1 // process 1 "dies": its store is never closed
}
