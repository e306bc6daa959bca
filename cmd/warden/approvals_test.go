package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// proposalItem is one line of `warden approvals --json`.
type proposalItem struct {
	DecisionID string        `json:"decision_id"`
	Status     string        `json:"status"`
	Hash       string        `json:"hash"`
	Order      schemas.Order `json:"order"`
	DecidedBy  string        `json:"decided_by"`
	Channel    string        `json:"channel"`
	HashSeen   string        `json:"hash_seen"`
	Reason     string        `json:"reason"`
}

// writeApprovalConfig writes warden.yaml: the scripted model at url, the
// bundled replay, approval with the given extra settings, and extra YAML.
func writeApprovalConfig(t *testing.T, url, approval, extra string) {
	t.Helper()
	t.Setenv("WARDEN_TEST_APPROVAL_KEY", "sk-test-approval-0123456789abcdef")
	cfg := fmt.Sprintf(`advisor:
  kind: openai
  openai: {base_url: %s, model: gpt-4o-mini, api_key_env: WARDEN_TEST_APPROVAL_KEY, max_retries: -1, timeout: 10s}
paper: {replay_start: "%s"}
approval: {required: true%s}
%s`, url, quietStart, approval, extra)
	if err := os.WriteFile("warden.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// proposeBTC runs one cycle whose model buys BTC/USDT; with approval on,
// the approved order becomes the one pending proposal, returned.
func proposeBTC(t *testing.T, approval string) proposalItem {
	t.Helper()
	t.Chdir(t.TempDir())
	m := newOperatorModel(t, "buyBTC")
	writeApprovalConfig(t, m.url, approval, "")
	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	if code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	ps := listProposals(t, false)
	if len(ps) != 1 || ps[0].Status != audit.ApprovalPending || ps[0].Order.Symbol != "BTC/USDT" || ps[0].Order.Side != schemas.SideBuy {
		t.Fatalf("after the cycle, proposals = %+v; want one pending BTC/USDT buy", ps)
	}
	if !strings.Contains(out, "waiting for a person") || !strings.Contains(out, ps[0].DecisionID) {
		t.Fatalf("the cycle's summary does not say the order waits:\n%s", out)
	}
	if n := entryOrders(t, ps[0].DecisionID); n != 0 {
		t.Fatalf("the held order was placed by the cycle (%d order intents)", n)
	}
	code, out, _ = runMain(t, "approvals", "--config", "warden.yaml")
	for _, want := range []string{"DECISION", ps[0].DecisionID, "pending", "buy " + ps[0].Order.Quantity.String() + " BTC/USDT limit", ps[0].Hash[:12], "2022-06-01T"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("approvals = %d, lacks %q:\n%s", code, want, out)
		}
	}
	return ps[0]
}

func listProposals(t *testing.T, all bool) []proposalItem {
	t.Helper()
	args := []string{"approvals", "--json", "--config", "warden.yaml"}
	if all {
		args = append(args, "--all")
	}
	code, out, errOut := runMain(t, args...)
	if code != 0 {
		t.Fatalf("approvals = %d\n%s", code, errOut)
	}
	var ps []proposalItem
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		t.Fatalf("approvals --json: %v\n%s", err, out)
	}
	return ps
}

func proposal(t *testing.T, id string) proposalItem {
	t.Helper()
	for _, p := range listProposals(t, true) {
		if p.DecisionID == id {
			return p
		}
	}
	t.Fatalf("no proposal %s", id)
	return proposalItem{}
}

// entryOrders counts the entry orders the executor's journal holds for
// the decision: the intents sent (at most one per decision id).
func entryOrders(t *testing.T, decisionID string) int {
	t.Helper()
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.OrderHistory(context.Background(), executor.ClientOrderID(decisionID, executor.RoleEntry))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.State == schemas.OrderIntent {
			n++
		}
	}
	return n
}

// approvalEvents lists the approval event records in the chain, by state.
func approvalEvents(t *testing.T) map[string][]map[string]any {
	t.Helper()
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.ListEvents(context.Background(), audit.EventFilter{Kinds: []string{audit.EventApproval}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]any{}
	for _, e := range evs {
		var d map[string]any
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatal(err)
		}
		out[e.State] = append(out[e.State], d)
	}
	return out
}

// holdLock stands for a `warden run` holding the database: the lock a
// second process finds taken.
func holdLock(t *testing.T) (release func()) {
	t.Helper()
	f, err := lockDB("warden.db")
	if err != nil {
		t.Fatal(err)
	}
	return func() { f.Close() }
}

// TestApproveTwicePlacesOnce: a standalone `warden approve` (no run holds
// the lock) re-checks and places the order; approving again is refused
// and places nothing more. Who, channel, hash seen and the re-judged
// verdict are in the chain, which verifies.
func TestApproveTwicePlacesOnce(t *testing.T) {
	p := proposeBTC(t, "")
	code, out, errOut := runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:8], "--by", "alice", "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "placed") {
		t.Fatalf("approve = %d\n%s\n%s", code, out, errOut)
	}
	t.Log(out)
	if n := entryOrders(t, p.DecisionID); n != 1 {
		t.Fatalf("after approve, %d entry orders; want 1", n)
	}
	code, _, errOut = runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:8], "--config", "warden.yaml")
	if code != exitRejected || !strings.Contains(errOut, "is placed, not pending") {
		t.Fatalf("second approve = %d (%s); want 1, refused as placed", code, errOut)
	}
	if n := entryOrders(t, p.DecisionID); n != 1 {
		t.Fatalf("after a second approve, %d entry orders; want 1", n)
	}
	got := proposal(t, p.DecisionID)
	if got.Status != audit.ApprovalPlaced || got.DecidedBy != "alice" || got.Channel != "cli" || got.HashSeen != p.Hash[:8] {
		t.Fatalf("proposal = %+v; want placed by alice (cli) having seen %s", got, p.Hash[:8])
	}
	evs := approvalEvents(t)
	if len(evs["proposed"]) != 1 || len(evs["approved"]) != 1 || len(evs["placing"]) != 1 || len(evs["placed"]) != 1 || len(evs["refused"]) != 1 {
		t.Fatalf("approval events = %v", evs)
	}
	rej, _ := evs["placing"][0]["rejudged"].(map[string]any)
	if rej["decision"] != "approved" || rej["policy_hash"] == "" {
		t.Fatalf("the re-judged verdict is not recorded: %v", evs["placing"][0])
	}
	if code, out, errOut := runMain(t, "audit", "verify", "--db", "warden.db"); code != 0 {
		t.Fatalf("audit verify = %d\n%s\n%s", code, out, errOut)
	}
	// The whole story is on the run: audit show lists each step.
	runID := p.DecisionID[:strings.LastIndexByte(p.DecisionID, ':')]
	code, out, errOut = runMain(t, "audit", "show", runID, "--db", "warden.db")
	if code != 0 {
		t.Fatalf("audit show = %d\n%s", code, errOut)
	}
	for _, want := range []string{"== event approval proposed", "== event approval approved", `"who":"alice"`, `"channel":"cli"`, "== event approval placing", `"rejudged"`, "== event approval placed", "== event approval refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit show %s lacks %q", runID, want)
		}
	}
}

// TestApproveRefusals: an unknown id, a wrong hash, a hash prefix one
// digit short of the minimum and the kill switch are refused (exit 1),
// recorded, and change nothing; the minimum prefix itself is accepted.
func TestApproveRefusals(t *testing.T) {
	p := proposeBTC(t, "")
	wrong := "00000000"
	if strings.HasPrefix(p.Hash, wrong) {
		wrong = "11111111"
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown id", []string{"approve", "r-nope:0", "--hash", p.Hash[:8]}, "no proposal"},
		{"wrong hash", []string{"approve", p.DecisionID, "--hash", wrong}, "does not match"},
		{"7 digits", []string{"approve", p.DecisionID, "--hash", p.Hash[:7]}, "at least 8 hex digits"},
		{"not hex", []string{"approve", p.DecisionID, "--hash", "zzzzzzzz"}, "at least 8 hex digits"},
	}
	for _, c := range cases {
		code, _, errOut := runMain(t, append(c.args, "--config", "warden.yaml")...)
		if code != exitRejected || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: approve = %d (%s); want 1, %q", c.name, code, errOut, c.want)
		}
		// A refusal never tells the hash it wanted: the hash binds the
		// approval to the proposal the person saw, not to a guess.
		if strings.Contains(errOut, p.Hash[:8]) && c.name != "7 digits" {
			t.Errorf("%s: the refusal quotes the proposal's hash: %s", c.name, errOut)
		}
	}
	if code, _, errOut := runMain(t, "approve", p.DecisionID, "--config", "warden.yaml"); code != exitUsage {
		t.Errorf("approve without --hash = %d (%s); want 2", code, errOut)
	}
	if code, _, _ := runMain(t, "kill", "--reason", "test", "--config", "warden.yaml"); code != 0 {
		t.Fatal("kill failed")
	}
	if code, _, errOut := runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:8], "--config", "warden.yaml"); code != exitRejected || !strings.Contains(errOut, "kill switch") {
		t.Errorf("approve under the kill switch = %d (%s); want 1", code, errOut)
	}
	if got := proposal(t, p.DecisionID); got.Status != audit.ApprovalPending {
		t.Fatalf("after refusals the proposal is %s; want pending", got.Status)
	}
	if n := entryOrders(t, p.DecisionID); n != 0 {
		t.Fatalf("refusals placed %d orders", n)
	}
	if n := len(approvalEvents(t)["refused"]); n != 5 {
		t.Fatalf("%d refusals recorded; want 5", n)
	}
	if code, _, _ := runMain(t, "resume", "--reason", "test", "--config", "warden.yaml"); code != 0 {
		t.Fatal("resume failed")
	}
	// Exactly the minimum prefix is enough.
	if code, out, errOut := runMain(t, "approve", p.DecisionID, "--hash", strings.ToUpper(p.Hash[:8]), "--config", "warden.yaml"); code != 0 {
		t.Fatalf("approve with 8 hex digits = %d\n%s\n%s", code, out, errOut)
	}
	if n := entryOrders(t, p.DecisionID); n != 1 {
		t.Fatalf("%d entry orders; want 1", n)
	}
}

// TestApprovedThenKillSwitch: an approval recorded while a run holds the
// database, then the kill switch: the run's approval step voids it.
func TestApprovedThenKillSwitch(t *testing.T) {
	p := proposeBTC(t, ", expires: 3h")
	release := holdLock(t)
	code, out, errOut := runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:12], "--config", "warden.yaml")
	release()
	if code != 0 || !strings.Contains(out, "recorded for the running warden") {
		t.Fatalf("approve while a run holds the lock = %d\n%s\n%s", code, out, errOut)
	}
	if got := proposal(t, p.DecisionID); got.Status != audit.ApprovalApproved {
		t.Fatalf("proposal is %s; want approved (not yet placed)", got.Status)
	}
	if code, _, _ := runMain(t, "kill", "--reason", "test", "--config", "warden.yaml"); code != 0 {
		t.Fatal("kill failed")
	}
	if code, _, _ := runMain(t, "run", "--once", "--config", "warden.yaml"); code != exitHalted {
		t.Fatalf("run --once under the kill switch = %d; want 3", code)
	}
	got := proposal(t, p.DecisionID)
	if got.Status != audit.ApprovalVoid || !strings.Contains(got.Reason, "kill switch") {
		t.Fatalf("proposal = %+v; want void for the kill switch", got)
	}
	if n := entryOrders(t, p.DecisionID); n != 0 {
		t.Fatalf("%d orders placed under the kill switch", n)
	}
}

// TestApproveAfterPriceMove: approved while a run holds the database; the
// run's next cycle sees the next candle, whose price moved more than
// max_price_move_bps (0 here): void, nothing placed, the reason recorded.
func TestApproveAfterPriceMove(t *testing.T) {
	p := proposeBTC(t, ", expires: 3h, max_price_move_bps: 0")
	release := holdLock(t)
	if code, out, errOut := runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:8], "--config", "warden.yaml"); code != 0 {
		t.Fatalf("approve = %d\n%s\n%s", code, out, errOut)
	}
	release()
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	got := proposal(t, p.DecisionID)
	t.Logf("void: %s", got.Reason)
	if got.Status != audit.ApprovalVoid || !strings.Contains(got.Reason, "the price moved") {
		t.Fatalf("proposal = %+v; want void, the price moved", got)
	}
	if n := entryOrders(t, p.DecisionID); n != 0 {
		t.Fatalf("%d orders placed after the price moved", n)
	}
	void := approvalEvents(t)["void"]
	if len(void) != 1 || void[0]["rejudged"] == nil {
		t.Fatalf("void events = %v; want one with the re-judged verdict", void)
	}
}

// TestApproveAfterExpiry: an approval recorded in time but acted on after
// expiry is void; a proposal the scheduler expired cannot be approved.
func TestApproveAfterExpiry(t *testing.T) {
	p := proposeBTC(t, "") // expires: 15m of decision time; the next cycle is an hour on
	release := holdLock(t)
	if code, out, errOut := runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:8], "--config", "warden.yaml"); code != 0 {
		t.Fatalf("approve = %d\n%s\n%s", code, out, errOut)
	}
	release()
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	got := proposal(t, p.DecisionID)
	if got.Status != audit.ApprovalVoid || !strings.Contains(got.Reason, "expired") {
		t.Fatalf("proposal = %+v; want void, expired", got)
	}
	if n := entryOrders(t, p.DecisionID); n != 0 {
		t.Fatalf("%d orders placed after expiry", n)
	}
}

func TestApprovePendingExpiredByTheScheduler(t *testing.T) {
	p := proposeBTC(t, "")
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	if got := proposal(t, p.DecisionID); got.Status != audit.ApprovalExpired {
		t.Fatalf("proposal is %s; want expired by the next cycle", got.Status)
	}
	code, _, errOut := runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:8], "--config", "warden.yaml")
	if code != exitRejected || !strings.Contains(errOut, "is expired, not pending") {
		t.Fatalf("approve of an expired proposal = %d (%s); want 1", code, errOut)
	}
	if n := entryOrders(t, p.DecisionID); n != 0 {
		t.Fatalf("%d orders placed", n)
	}
}

// TestApproveCrashBetweenApprovalAndPlacement: the executor placed the
// order, then the process died before recording it. The next process
// (run --once) resumes from the journal: one order, the proposal placed.
func TestApproveCrashBetweenApprovalAndPlacement(t *testing.T) {
	p := proposeBTC(t, "")
	approvalPlaceHook = func(string) error { return errors.New("simulated crash after the executor's answer") }
	code, out, errOut := runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:8], "--config", "warden.yaml")
	approvalPlaceHook = nil
	if code == 0 {
		t.Fatalf("approve with a crash = 0\n%s", out)
	}
	if got := proposal(t, p.DecisionID); got.Status != audit.ApprovalPlacing {
		t.Fatalf("after the crash the proposal is %s; want placing\n%s", got.Status, errOut)
	}
	if n := entryOrders(t, p.DecisionID); n != 1 {
		t.Fatalf("after the crash, %d entry orders; want 1", n)
	}
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	if got := proposal(t, p.DecisionID); got.Status != audit.ApprovalPlaced {
		t.Fatalf("after the resume the proposal is %s; want placed", got.Status)
	}
	if n := entryOrders(t, p.DecisionID); n != 1 {
		t.Fatalf("after the resume, %d entry orders; want 1", n)
	}
}

// TestDeny: a denial needs a reason; a denied proposal is never placed and
// cannot be approved afterwards.
func TestDeny(t *testing.T) {
	p := proposeBTC(t, "")
	if code, _, errOut := runMain(t, "deny", p.DecisionID, "--config", "warden.yaml"); code != exitUsage {
		t.Fatalf("deny without --reason = %d (%s); want 2", code, errOut)
	}
	if code, _, errOut := runMain(t, "deny", "r-nope:1", "--reason", "x", "--config", "warden.yaml"); code != exitRejected || !strings.Contains(errOut, "no proposal") {
		t.Fatalf("deny of an unknown id = %d (%s); want 1", code, errOut)
	}
	// A reason that quotes a secret the config names: masked on stdout as
	// in the database (it was printed as given).
	code, out, errOut := runMain(t, "deny", p.DecisionID, "--reason", "not before the FOMC; key sk-test-approval-0123456789abcdef", "--by", "bob", "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "denied") {
		t.Fatalf("deny = %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "0123456789abcdef") || !strings.Contains(out, "[REDACTED]") {
		t.Errorf("deny printed the secret in its reason: %q", out)
	}
	if code, _, _ := runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:8], "--config", "warden.yaml"); code != exitRejected {
		t.Fatalf("approve after deny = %d; want 1", code)
	}
	got := proposal(t, p.DecisionID)
	if got.Status != audit.ApprovalDenied || got.DecidedBy != "bob" || got.Reason != "not before the FOMC; key [REDACTED]" {
		t.Fatalf("proposal = %+v", got)
	}
	if n := entryOrders(t, p.DecisionID); n != 0 {
		t.Fatalf("%d orders placed for a denied proposal", n)
	}
	if ps := listProposals(t, false); len(ps) != 0 {
		t.Fatalf("approvals lists %+v; want nothing waiting", ps)
	}
}

// TestDenyIsNotified: a denial from the CLI goes into the outbox for the
// configured channels.
func TestDenyIsNotified(t *testing.T) {
	p := proposeBTC(t, "")
	f := newTGFake(t)
	t.Setenv("WARDEN_TEST_TG_APPROVAL", tgTestToken)
	cfg, _ := os.ReadFile("warden.yaml")
	cfg = append(cfg, []byte(fmt.Sprintf("notify: {telegram: {token_env: WARDEN_TEST_TG_APPROVAL, chat_id: \"%d\", server_url: %s}}\n", tgChat, f.url))...)
	if err := os.WriteFile("warden.yaml", cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runMain(t, "deny", p.DecisionID, "--reason", "too late in the day", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("deny = %d: %s", code, errOut)
	}
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ns, err := st.PendingNotifications(context.Background(), "telegram", time.Now().Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range ns {
		if n.Kind == "approval_outcome" && strings.Contains(n.Title, p.DecisionID+": denied") && strings.Contains(n.Text, "too late in the day") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no denial notification in the outbox: %+v", ns)
	}
}

// TestApprovalsProcess: an approval recorded while a run held the
// database is placed by `warden approvals --process` once the database is
// free (for cron setups); while a run holds it, --process leaves it alone.
func TestApprovalsProcess(t *testing.T) {
	p := proposeBTC(t, "")
	release := holdLock(t)
	if code, out, errOut := runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:8], "--config", "warden.yaml"); code != 0 {
		t.Fatalf("approve = %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := runMain(t, "approvals", "--process", "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "a warden run holds") {
		t.Fatalf("approvals --process with the lock held = %d\n%s\n%s", code, out, errOut)
	}
	if got := proposal(t, p.DecisionID); got.Status != audit.ApprovalApproved {
		t.Fatalf("proposal is %s; want approved, untouched", got.Status)
	}
	release()
	code, out, errOut = runMain(t, "approvals", "--process", "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "placed "+p.DecisionID) {
		t.Fatalf("approvals --process = %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runMain(t, "approvals", "--process", "--config", "warden.yaml"); code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("second --process = %d\n%s", code, out)
	}
	if n := entryOrders(t, p.DecisionID); n != 1 {
		t.Fatalf("%d entry orders; want 1", n)
	}
}

// TestApproveRaceStillPlaces: two people approve the same proposal at once
// (two `warden approve` processes): one places it, the other is refused;
// it is never left approved with nobody to place it, nor placed twice.
func TestApproveRaceStillPlaces(t *testing.T) {
	p := proposeBTC(t, "")
	var wg sync.WaitGroup
	codes := make([]int, 2)
	outs := make([]string, 2)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out, errOut bytes.Buffer
			codes[i] = Main(context.Background(), []string{"approve", p.DecisionID, "--hash", p.Hash[:8], "--by", fmt.Sprintf("person%d", i), "--config", "warden.yaml"}, strings.NewReader(""), &out, &errOut)
			outs[i] = out.String() + errOut.String()
		}()
	}
	wg.Wait()
	if min(codes[0], codes[1]) != 0 || max(codes[0], codes[1]) != exitRejected {
		t.Fatalf("two approves = %v\n%s\n%s; want one 0 and one 1", codes, outs[0], outs[1])
	}
	if got := proposal(t, p.DecisionID); got.Status != audit.ApprovalPlaced {
		t.Errorf("proposal %s after the race; want placed (%s | %s)", got.Status, outs[0], outs[1])
	}
	if n := entryOrders(t, p.DecisionID); n != 1 {
		t.Errorf("%d entry orders; want 1", n)
	}
}

// TestRunOnceWaitsForABriefHolder: cron starts `run --once` while the
// minute's `approvals --process` (or an approve, or an archive) holds the
// database for a few seconds: the run waits for it and runs, instead of
// losing the hour's cycle; a `warden run` holding it is not waited for.
func TestRunOnceWaitsForABriefHolder(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, out, errOut := runMain(t, "run", "--once"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	brief, err := lockDBKind("warden.db", "approvals --process")
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(1500 * time.Millisecond); brief.Close() }()
	start := time.Now()
	if code, out, errOut := runMain(t, "run", "--once"); code != 0 || time.Since(start) < time.Second {
		t.Fatalf("run --once beside a brief holder = %d after %s\n%s\n%s; want it to wait, then run", code, time.Since(start), out, errOut)
	}
	daemon, err := lockDB("warden.db")
	if err != nil {
		t.Fatal(err)
	}
	defer daemon.Close()
	start = time.Now()
	code, _, errOut := runMain(t, "run", "--once")
	if code != exitUsage || !strings.Contains(errOut, "another warden run") || time.Since(start) > 10*time.Second {
		t.Errorf("run --once beside warden run = %d after %s %q; want refused at once", code, time.Since(start), errOut)
	}
}

// TestApprovedFillIsNotified: an order placed through approval that fills
// at once is notified as a cycle's own fill is ("Filled: BUY …"); it sent
// only "Proposal …: placed" with the client order id.
func TestApprovedFillIsNotified(t *testing.T) {
	t.Chdir(t.TempDir())
	m := newOperatorModel(t, "buyBTC")
	t.Setenv("WARDEN_TEST_APPROVAL_SLACK", "xoxb-test-approval-0123456789")
	writeApprovalConfig(t, m.url, "", "notify: {slack: {token_env: WARDEN_TEST_APPROVAL_SLACK, channel: '#ops', api_url: 'http://127.0.0.1:1/'}}\n")
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	ps := listProposals(t, false)
	if len(ps) != 1 {
		t.Fatalf("proposals %+v; want one", ps)
	}
	code, out, errOut := runMain(t, "approve", ps[0].DecisionID, "--hash", ps[0].Hash[:8], "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "placed") {
		t.Fatalf("approve = %d\n%s\n%s", code, out, errOut)
	}
	filled := strings.Contains(out, " filled ")
	db, err := sql.Open("sqlite3", "file:warden.db?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM records WHERE kind = 'notification' AND body LIKE '%"kind":"fill"%' AND body LIKE ?`, "%"+ps[0].DecisionID+"%").Scan(&n); err != nil {
		t.Fatal(err)
	}
	// The scripted buy is marketable: it fills at placement.
	if !filled || n != 1 {
		t.Errorf("approve: %s; %d fill notifications queued, want a fill and 1", strings.TrimSpace(out), n)
	}
}

// TestApprovalsListsAReadOnlyCopy: `warden approvals` reads a copy of the
// database in a read-only directory (dir 0555, file 0444) as the audit
// commands do: the same listing, and nothing written there (no -wal, no
// -shm, the file unchanged).
func TestApprovalsListsAReadOnlyCopy(t *testing.T) {
	p := proposeBTC(t, "")
	_, want, _ := runMain(t, "approvals", "--json", "--all", "--config", "warden.yaml")
	ro := filepath.Join(t.TempDir(), "copy")
	os.Mkdir(ro, 0o755)
	raw, err := os.ReadFile("warden.db")
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(ro, "warden.db")
	os.WriteFile(db, raw, 0o444)
	os.Chmod(ro, 0o555)
	t.Cleanup(func() { os.Chmod(ro, 0o755) })
	// Root may write in a 0555 directory all the same: that nothing was
	// created there, even for a while (a -wal, a -shm), shows in the
	// directory's and the file's times.
	dirBefore, _ := os.Stat(ro)
	fileBefore, _ := os.Stat(db)
	code, out, errOut := runMain(t, "approvals", "--json", "--all", "--config", "warden.yaml", "--db", db)
	if code != 0 || out != want || !strings.Contains(out, p.DecisionID) {
		t.Errorf("approvals on a read-only copy = %d, same listing %v\n%s", code, out == want, errOut)
	}
	if code, out, errOut := runMain(t, "approvals", "--db", db, "--config", "warden.yaml"); code != 0 || !strings.Contains(out, p.DecisionID) {
		t.Errorf("approvals (table) on a read-only copy = %d\n%s\n%s", code, out, errOut)
	}
	if entries, _ := os.ReadDir(ro); len(entries) != 1 {
		t.Errorf("the read-only directory holds %d files after listing; want only warden.db", len(entries))
	}
	if after, _ := os.ReadFile(db); string(after) != string(raw) {
		t.Errorf("the copy changed")
	}
	dirAfter, _ := os.Stat(ro)
	fileAfter, _ := os.Stat(db)
	if !dirAfter.ModTime().Equal(dirBefore.ModTime()) || !fileAfter.ModTime().Equal(fileBefore.ModTime()) {
		t.Errorf("approvals wrote in the read-only directory (files created and removed there, or the database touched)")
	}
}

// TestApproveAnApprovedProposalPlacesIt: a proposal approved where nothing
// could place it (the console, or a terminal while a run held the
// database) and a later `warden approve` that holds the database: the
// second vote is refused (recorded), but the command places the approved
// order instead of leaving it to expire. One order, placed once.
func TestApproveAnApprovedProposalPlacesIt(t *testing.T) {
	p := proposeBTC(t, "")
	release := holdLock(t)
	code, out, errOut := runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:8], "--by", "alice", "--config", "warden.yaml")
	release()
	if code != 0 || got(t, p.DecisionID) != audit.ApprovalApproved {
		t.Fatalf("approve while a run holds the database = %d, %s\n%s\n%s; want the vote recorded, approved", code, got(t, p.DecisionID), out, errOut)
	}
	code, out, errOut = runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:8], "--by", "bob", "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "was already approved by alice") || !strings.Contains(out, "placed") {
		t.Fatalf("approve of an approved proposal = %d\n%s\n%s; want it placed now", code, out, errOut)
	}
	if got(t, p.DecisionID) != audit.ApprovalPlaced || entryOrders(t, p.DecisionID) != 1 {
		t.Fatalf("proposal %s, %d entry orders; want placed, one", got(t, p.DecisionID), entryOrders(t, p.DecisionID))
	}
	if evs := approvalEvents(t); len(evs["refused"]) != 1 || len(evs["placed"]) != 1 {
		t.Fatalf("approval events = %v; want bob's vote refused and one placement", evs)
	}
}

func got(t *testing.T, id string) string {
	t.Helper()
	return proposal(t, id).Status
}

// TestRunOncePrintsTheApprovalsItPlaces: the next `run --once` places a
// proposal approved from elsewhere and says so in its printout (the cron
// log), as it says what its own decisions did.
func TestRunOncePrintsTheApprovalsItPlaces(t *testing.T) {
	p := proposeBTC(t, ", expires: 2h, max_price_move_bps: 500")
	release := holdLock(t)
	code, out, errOut := runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:8], "--by", "alice", "--config", "warden.yaml")
	release()
	if code != 0 {
		t.Fatalf("approve while a run holds the database = %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "run", "--once", "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "approved proposal placed "+p.DecisionID+": buy ") {
		t.Fatalf("run --once after an approval = %d; want it to say it placed %s\n%s\n%s", code, p.DecisionID, out, errOut)
	}
	if got(t, p.DecisionID) != audit.ApprovalPlaced {
		t.Fatalf("proposal %s; want placed", got(t, p.DecisionID))
	}
}

// TestApproveWithoutTheModelKey: `warden approve` and `approvals
// --process` re-judge a recorded recommendation and never ask the model,
// so an operator's shell without the model's key (it lives in the
// service's environment file) approves: a wrong hash is refused (exit 1),
// the right one placed.
func TestApproveWithoutTheModelKey(t *testing.T) {
	p := proposeBTC(t, "")
	t.Setenv("WARDEN_TEST_APPROVAL_KEY", "") // the operator's shell
	code, out, errOut := runMain(t, "approve", p.DecisionID, "--hash", "deadbeef", "--config", "warden.yaml")
	if code != exitRejected {
		t.Fatalf("approve with a wrong hash, no model key = %d; want 1 (refused)\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runMain(t, "approvals", "--process", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("approvals --process without the model key = %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:8], "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "placed") || entryOrders(t, p.DecisionID) != 1 {
		t.Fatalf("approve without the model key = %d\n%s\n%s; want placed", code, out, errOut)
	}
}
