package telegram

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/approval"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

const (
	token   = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
	chatID  = "-1001234567890"
	alice   = int64(894075106)
	mallory = int64(555000111)
)

// fakeBotAPI is a Telegram Bot API server: getUpdates long-polls the
// queued updates from the offset asked for; sendMessage and
// answerCallbackQuery answer with recorded bodies and are kept.
type fakeBotAPI struct {
	t        *testing.T
	mu       sync.Mutex
	queue    []json.RawMessage // updates, in update_id order
	wake     chan struct{}
	sent     []map[string]any // sendMessage params
	answers  []map[string]any // answerCallbackQuery params
	offsets  []int64          // getUpdates offsets asked for
	timeouts []float64
	url      string
	nextID   int64
	// failSends answers that many sendMessage calls with the recorded 429.
	failSends int
}

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newFake(t *testing.T) *fakeBotAPI {
	f := &fakeBotAPI{t: t, wake: make(chan struct{}, 1), nextID: 919458969}
	sendOK := readFixture(t, filepath.Join("..", "..", "notify", "testdata", "telegram", "sendMessage_ok.json"))
	answerOK := readFixture(t, filepath.Join("testdata", "answerCallbackQuery_ok.json"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, ok := strings.CutPrefix(r.URL.Path, "/bot"+token+"/")
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"ok":false,"error_code":404,"description":"Not Found"}`))
			return
		}
		var params map[string]any
		if err := json.NewDecoder(r.Body).Decode(&params); err != nil {
			t.Errorf("%s: body is not JSON: %v", method, err)
		}
		w.Header().Set("Content-Type", "application/json")
		switch method {
		case "getUpdates":
			off := int64(params["offset"].(float64))
			timeout, _ := params["timeout"].(float64)
			f.mu.Lock()
			f.offsets = append(f.offsets, off)
			f.timeouts = append(f.timeouts, timeout)
			f.mu.Unlock()
			deadline := time.After(time.Duration(timeout * float64(time.Second)))
			for {
				if ups := f.from(off); len(ups) > 0 || timeout == 0 {
					body, _ := json.Marshal(map[string]any{"ok": true, "result": ups})
					w.Write(body)
					return
				}
				select {
				case <-f.wake:
				case <-deadline:
					w.Write(readFixture(t, filepath.Join("testdata", "getUpdates_empty.json")))
					return
				case <-r.Context().Done():
					return
				}
			}
		case "sendMessage":
			f.mu.Lock()
			if f.failSends > 0 {
				f.failSends--
				f.mu.Unlock()
				w.WriteHeader(http.StatusTooManyRequests)
				w.Write(readFixture(t, filepath.Join("..", "..", "notify", "testdata", "telegram", "error_429_retry_after.json")))
				return
			}
			f.sent = append(f.sent, params)
			f.mu.Unlock()
			w.Write(sendOK)
		case "answerCallbackQuery":
			f.mu.Lock()
			f.answers = append(f.answers, params)
			f.mu.Unlock()
			w.Write(answerOK)
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"ok":false,"error_code":404,"description":"Not Found: method not found"}`))
		}
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeBotAPI) from(off int64) []json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []json.RawMessage
	for _, u := range f.queue {
		var h struct {
			UpdateID int64 `json:"update_id"`
		}
		_ = json.Unmarshal(u, &h)
		if h.UpdateID >= off {
			out = append(out, u)
		}
	}
	return out
}

// press queues a callback query update from the recorded sample, with the
// given callback id, user, chat and data.
func (f *fakeBotAPI) press(callbackID string, from int64, chat int64, data string) {
	f.pressOn(631, callbackID, from, chat, data)
}

// pressOn is press on the message msgID (631: the confirmation the fake's
// sendMessage answers with).
func (f *fakeBotAPI) pressOn(msgID int64, callbackID string, from int64, chat int64, data string) {
	var env struct {
		Result []map[string]any `json:"result"`
	}
	if err := json.Unmarshal(readFixture(f.t, filepath.Join("testdata", "getUpdates_callback_query.json")), &env); err != nil {
		f.t.Fatal(err)
	}
	u := env.Result[0]
	f.mu.Lock()
	u["update_id"] = f.nextID
	f.nextID++
	f.mu.Unlock()
	q := u["callback_query"].(map[string]any)
	q["id"], q["data"] = callbackID, data
	q["from"].(map[string]any)["id"] = from
	q["message"].(map[string]any)["chat"].(map[string]any)["id"] = chat
	q["message"].(map[string]any)["message_id"] = msgID
	f.push(u)
}

// text queues the recorded text message update ("ok" typed in the chat).
func (f *fakeBotAPI) text() {
	var env struct {
		Result []map[string]any `json:"result"`
	}
	if err := json.Unmarshal(readFixture(f.t, filepath.Join("testdata", "getUpdates_message.json")), &env); err != nil {
		f.t.Fatal(err)
	}
	u := env.Result[0]
	f.mu.Lock()
	u["update_id"] = f.nextID
	f.nextID++
	f.mu.Unlock()
	f.push(u)
}

func (f *fakeBotAPI) push(u map[string]any) {
	b, _ := json.Marshal(u)
	f.mu.Lock()
	f.queue = append(f.queue, b)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fakeBotAPI) lastSent() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		return nil
	}
	return f.sent[len(f.sent)-1]
}

// buttons returns the callback data of a sent message's inline keyboard.
func buttons(m map[string]any) []string {
	var out []string
	rm, _ := m["reply_markup"].(map[string]any)
	rows, _ := rm["inline_keyboard"].([]any)
	for _, row := range rows {
		for _, b := range row.([]any) {
			out = append(out, b.(map[string]any)["callback_data"].(string))
		}
	}
	return out
}

var t0 = time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// setup: a store with one pending proposal r-1:0, its gate, and a bot on
// the fake server.
func setup(t *testing.T) (*fakeBotAPI, *Bot, *audit.Store, approval.Proposal) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "warden.db")
	st, err := audit.Open(ctx, path, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	gate, err := approval.New(approval.Config{Required: true, Expires: 15 * time.Minute, MaxPriceMoveBps: d("25"), Channels: []string{"cli", "telegram"}},
		st, approval.Options{Clock: func() time.Time { return t0.Add(time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	o := schemas.Order{Symbol: "BTC/USDT", Side: schemas.SideBuy, Type: schemas.OrderLimit, Quantity: d("0.003"), Price: d("50000"), Notional: d("150")}
	stt := schemas.State{Now: t0, Mode: "paper", Markets: map[string]schemas.Market{"BTC/USDT": {Bid: d("49999"), Ask: d("50001")}}}
	if held, err := gate.Hold(ctx, "r-1:0", "r-1", "why", schemas.Recommendation{Symbol: "BTC/USDT", Action: schemas.ActionBuy},
		schemas.Verdict{Decision: schemas.DecisionApproved, Order: &o}, "ph", stt); err != nil || !held {
		t.Fatalf("Hold = %v %v", held, err)
	}
	_, p, err := approval.Load(ctx, st, "r-1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(t)
	bot, err := New(Config{Token: token, ChatID: chatID, ServerURL: f.url, AllowedUserIDs: []int64{alice}, PollTimeout: time.Second}, gate, st)
	if err != nil {
		t.Fatal(err)
	}
	return f, bot, st, p
}

func status(t *testing.T, st *audit.Store) audit.ApprovalRow {
	t.Helper()
	r, err := st.Approval(context.Background(), "r-1:0")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func events(t *testing.T, st *audit.Store, state string) []audit.EventRow {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), audit.EventFilter{Kinds: []string{audit.EventApproval}, State: state})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

const chatNum = int64(-1001234567890)

// TestApproveWithConfirmation: the proposal goes out with Approve and Deny
// buttons; Approve asks for a confirmation and changes nothing; the
// confirmation approves, recorded with the user, the channel and the hash.
func TestApproveWithConfirmation(t *testing.T) {
	ctx := context.Background()
	f, bot, st, p := setup(t)
	if err := bot.SendPending(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bot.SendPending(ctx); err != nil { // once per proposal
		t.Fatal(err)
	}
	if len(f.sent) != 1 {
		t.Fatalf("%d proposal messages sent; want 1", len(f.sent))
	}
	first := f.lastSent()
	if !strings.Contains(first["text"].(string), p.Hash[:12]) || first["chat_id"].(float64) != float64(chatNum) {
		t.Fatalf("proposal message = %v", first)
	}
	bs := buttons(first)
	if len(bs) != 2 || bs[0] != "ap:r-1:0:"+p.Hash[:12] || bs[1] != "dn:r-1:0:"+p.Hash[:12] {
		t.Fatalf("buttons = %v", bs)
	}
	f.press("cb-1", alice, chatNum, bs[0])
	if n, err := bot.PollOnce(ctx, 0); err != nil || n != 1 {
		t.Fatalf("PollOnce = %d, %v", n, err)
	}
	if got := status(t, st).Status; got != audit.ApprovalPending {
		t.Fatalf("after the first press the proposal is %s; want still pending (a confirmation is asked)", got)
	}
	confirm := buttons(f.lastSent())
	if len(confirm) != 2 || confirm[0] != "ok:r-1:0:"+p.Hash[:12] || confirm[1] != "cx:r-1:0:"+p.Hash[:12] {
		t.Fatalf("confirmation buttons = %v", confirm)
	}
	f.press("cb-2", alice, chatNum, confirm[0])
	if _, err := bot.PollOnce(ctx, 0); err != nil {
		t.Fatal(err)
	}
	row := status(t, st)
	if row.Status != audit.ApprovalApproved || row.Channel != "telegram" || row.DecidedBy != "telegram:894075106 (@alice_ops)" || row.HashSeen != p.Hash[:12] {
		t.Fatalf("after the confirmation: %+v", row)
	}
	// The offset moved past what was read: a new bot (a new process)
	// starts after it.
	bot2, _ := New(Config{Token: token, ChatID: chatID, ServerURL: f.url, AllowedUserIDs: []int64{alice}}, bot.gate, st)
	if _, err := bot2.PollOnce(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if last := f.offsets[len(f.offsets)-1]; last != 919458971 {
		t.Fatalf("a new process polled from offset %d; want 919458971", last)
	}
}

// TestForgedUpdatesIgnored: another chat, a user not on the allowlist, a
// replayed callback id, a typed "ok", unknown data and a confirmation
// with a wrong hash change nothing; each is recorded.
func TestForgedUpdatesIgnored(t *testing.T) {
	ctx := context.Background()
	f, bot, st, p := setup(t)
	ok := "ok:r-1:0:" + p.Hash[:12]
	wrong := "ok:r-1:0:" + strings.Repeat("0", 12)
	if strings.HasPrefix(p.Hash, "000000000000") {
		wrong = "ok:r-1:0:" + strings.Repeat("1", 12)
	}
	// A confirmation pressed where none was asked does nothing.
	f.press("cb-early", alice, chatNum, ok)
	if _, err := bot.PollOnce(ctx, 0); err != nil {
		t.Fatal(err)
	}
	// Now a genuine first press asks for confirmation (message 631).
	f.press("cb-first", alice, chatNum, "ap:r-1:0:"+p.Hash[:12])
	f.press("cb-chat", alice, -100999, ok)         // wrong chat
	f.press("cb-user", mallory, chatNum, ok)       // not allowlisted
	f.text()                                       // "ok" typed
	f.press("cb-data", alice, chatNum, "/approve") // free-form
	f.press("cb-hash", alice, chatNum, wrong)      // wrong hash: not what was asked
	f.pressOn(632, "cb-msg", alice, chatNum, ok)   // on another message
	f.press("cb-chat", alice, chatNum, ok)         // replay of a seen callback id, now in the right chat
	if n, err := bot.PollOnce(ctx, 0); err != nil || n != 8 {
		t.Fatalf("PollOnce = %d, %v", n, err)
	}
	if got := status(t, st).Status; got != audit.ApprovalPending {
		t.Fatalf("forged updates changed the proposal to %s", got)
	}
	ignored := events(t, st, "ignored")
	if len(ignored) != 8 {
		t.Fatalf("%d ignored updates recorded; want 8", len(ignored))
	}
	var reasons []string
	for _, e := range ignored {
		var dd map[string]any
		_ = json.Unmarshal(e.Detail, &dd)
		reasons = append(reasons, dd["reason"].(string))
	}
	for _, want := range []string{"not from the configured chat", "not in approval.telegram.allowed_user_ids", "a chat message is not an approval", "not an approval button", "replayed", "did not ask it"} {
		if !strings.Contains(strings.Join(reasons, "|"), want) {
			t.Errorf("no ignored update for %q in %v", want, reasons)
		}
	}
	// The allowlisted user in the right chat with a fresh id still can.
	f.press("cb-good", alice, chatNum, ok)
	if _, err := bot.PollOnce(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := status(t, st).Status; got != audit.ApprovalApproved {
		t.Fatalf("a genuine confirmation left the proposal %s", got)
	}
}

// TestDenyAndLongPolling: Run long-polls (the timeout is sent); a deny
// confirmed while it waits is acted on without a new request cycle.
func TestDenyAndLongPolling(t *testing.T) {
	f, bot, st, p := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { bot.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for len(f.from(0)) == 0 && time.Now().Before(deadline) {
		f.mu.Lock()
		n := len(f.timeouts)
		f.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.press("cb-d0", alice, chatNum, "dn:r-1:0:"+p.Hash[:12])
	f.press("cb-d1", alice, chatNum, "nd:r-1:0:"+p.Hash[:12])
	for status(t, st).Status == audit.ApprovalPending && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	row := status(t, st)
	if row.Status != audit.ApprovalDenied || row.Reason != "denied in Telegram" || row.Channel != "telegram" {
		t.Fatalf("after a confirmed deny: %+v", row)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.timeouts) == 0 || f.timeouts[0] != 1 {
		t.Fatalf("getUpdates timeouts = %v; want long polling with timeout 1", f.timeouts)
	}
}

func TestParseData(t *testing.T) {
	for _, c := range []struct {
		in     string
		ok     bool
		id     string
		action string
	}{
		{"ok:r-20220601T000000Z-5a97cf:0:0123456789ab", true, "r-20220601T000000Z-5a97cf:0", "ok"},
		{"zz:r-1:0:0123456789ab", false, "", ""},
		{"ok:r-1:0:0123", false, "", ""},
		{"ok", false, "", ""},
		{"", false, "", ""},
	} {
		act, id, _, ok := parseData(c.in)
		if ok != c.ok || id != c.id || act != c.action {
			t.Errorf("parseData(%q) = %q %q %v", c.in, act, id, ok)
		}
	}
	if n := len(callbackData(actConfirmApprove, "r-20220601T000000Z-5a97cf:0", strings.Repeat("a", 64))); n > 64 {
		t.Errorf("callback data is %d bytes; Telegram allows 64", n)
	}
}

// TestProposalSendRetried: a proposal Telegram refused (429) is sent at the
// next pass, and then not again.
func TestProposalSendRetried(t *testing.T) {
	ctx := context.Background()
	f, bot, _, _ := setup(t)
	f.failSends = 1
	if err := bot.SendPending(ctx); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("SendPending with a 429 = %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := bot.SendPending(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.sent) != 1 {
		t.Fatalf("%d proposal messages sent; want 1 (retried once, then remembered)", len(f.sent))
	}
}
