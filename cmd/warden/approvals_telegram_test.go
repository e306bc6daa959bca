package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
)

const (
	tgTestToken = "987654:TEST-approval-bot-token-0123456789"
	tgChat      = int64(-1001234567890)
	tgAlice     = int64(894075106)
	tgMallory   = int64(555000111)
)

var tgFixtures, _ = filepath.Abs(filepath.Join("..", "..", "agent", "approval", "telegram", "testdata"))
var tgSendOK, _ = filepath.Abs(filepath.Join("..", "..", "agent", "notify", "testdata", "telegram", "sendMessage_ok.json"))

// tgFake is a Telegram Bot API server for the warden process: getUpdates
// long-polls the queued updates (the recorded sample, rewritten), and
// sendMessage / answerCallbackQuery answer with recorded bodies.
type tgFake struct {
	t      *testing.T
	mu     sync.Mutex
	queue  []json.RawMessage
	nextID int64
	sent   []map[string]any
	wake   chan struct{}
	polls  int
	url    string
}

func newTGFake(t *testing.T) *tgFake {
	f := &tgFake{t: t, nextID: 700, wake: make(chan struct{}, 1)}
	sendOK, err := os.ReadFile(tgSendOK)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, ok := strings.CutPrefix(r.URL.Path, "/bot"+tgTestToken+"/")
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"ok":false,"error_code":404,"description":"Not Found"}`))
			return
		}
		var params map[string]any
		body := new(bytes.Buffer)
		body.ReadFrom(r.Body)
		if err := json.Unmarshal(body.Bytes(), &params); err != nil {
			// the notifier's client may send form data; keep it as text
			params = map[string]any{"raw": body.String()}
		}
		switch method {
		case "getUpdates":
			off, _ := params["offset"].(float64)
			timeout, _ := params["timeout"].(float64)
			f.mu.Lock()
			f.polls++
			f.mu.Unlock()
			deadline := time.After(time.Duration(timeout * float64(time.Second)))
			for {
				if ups := f.from(int64(off)); len(ups) > 0 || timeout == 0 {
					out, _ := json.Marshal(map[string]any{"ok": true, "result": ups})
					w.Write(out)
					return
				}
				select {
				case <-f.wake:
				case <-deadline:
					w.Write([]byte(`{"ok":true,"result":[]}`))
					return
				case <-r.Context().Done():
					return
				}
			}
		case "sendMessage":
			f.mu.Lock()
			f.sent = append(f.sent, params)
			f.mu.Unlock()
			w.Write(sendOK)
		case "answerCallbackQuery":
			w.Write([]byte(`{"ok":true,"result":true}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"ok":false,"error_code":404,"description":"Not Found: method not found"}`))
		}
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *tgFake) from(off int64) []json.RawMessage {
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

// press queues the recorded callback query, pressed by user on the
// message 631 (what the fake's sendMessage answers) in chat.
func (f *tgFake) press(id string, user, chat int64, data string) {
	b, err := os.ReadFile(filepath.Join(tgFixtures, "getUpdates_callback_query.json"))
	if err != nil {
		f.t.Fatal(err)
	}
	var env struct {
		Result []map[string]any `json:"result"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		f.t.Fatal(err)
	}
	u := env.Result[0]
	q := u["callback_query"].(map[string]any)
	q["id"], q["data"] = id, data
	q["from"].(map[string]any)["id"] = user
	q["message"].(map[string]any)["chat"].(map[string]any)["id"] = chat
	f.mu.Lock()
	u["update_id"] = f.nextID
	f.nextID++
	raw, _ := json.Marshal(u)
	f.queue = append(f.queue, raw)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// keyboards returns the callback data of every inline button sent.
func (f *tgFake) keyboards() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.sent {
		rm, _ := m["reply_markup"].(map[string]any)
		rows, _ := rm["inline_keyboard"].([]any)
		for _, row := range rows {
			for _, b := range row.([]any) {
				out = append(out, b.(map[string]any)["callback_data"].(string))
			}
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTelegramApprovalThroughWardenRun: a proposal from `run --once` goes
// to Telegram with its buttons; a scheduled `warden run` long-polls the
// presses. A user not on the allowlist is ignored and recorded; the
// allowlisted user's press asks a confirmation, and the confirmation
// approves; the running process re-checks and places it within seconds,
// once.
func TestTelegramApprovalThroughWardenRun(t *testing.T) {
	t.Chdir(t.TempDir())
	f := newTGFake(t)
	m := newOperatorModel(t, "buyBTC")
	t.Setenv("WARDEN_TEST_TG_APPROVAL", tgTestToken)
	writeApprovalConfig(t, m.url, fmt.Sprintf(", channels: [cli, telegram], telegram: {allowed_user_ids: [%d]}", tgAlice),
		fmt.Sprintf("notify: {telegram: {token_env: WARDEN_TEST_TG_APPROVAL, chat_id: \"%d\", server_url: %s}}\n", tgChat, f.url))
	cfgS, _ := os.ReadFile("warden.yaml")
	if code, out, errOut := runMain(t, "config", "check", "warden.yaml"); code != 0 {
		t.Fatalf("config check = %d\n%s\n%s\n%s", code, out, errOut, cfgS)
	}
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	ps := listProposals(t, false)
	if len(ps) != 1 {
		t.Fatalf("proposals = %+v", ps)
	}
	p := ps[0]
	approveBtn := "ap:" + p.DecisionID + ":" + p.Hash[:12]
	if kb := f.keyboards(); len(kb) != 2 || kb[0] != approveBtn {
		t.Fatalf("buttons sent = %v; want Approve/Deny for %s", kb, p.DecisionID)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var runOut, runErr bytes.Buffer
	go func() {
		done <- Main(ctx, []string{"run", "--config", "warden.yaml"}, strings.NewReader(""), &runOut, &runErr)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	defer stop()
	waitFor(t, "the running warden to poll Telegram", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.polls > 0 })

	confirm := "ok:" + p.DecisionID + ":" + p.Hash[:12]
	f.press("cb-m1", tgMallory, tgChat, approveBtn)
	f.press("cb-m2", tgMallory, tgChat, confirm)
	f.press("cb-a1", tgAlice, tgChat, approveBtn)
	waitFor(t, "the confirmation question", func() bool {
		for _, k := range f.keyboards() {
			if k == confirm {
				return true
			}
		}
		return false
	})
	if got := proposal(t, p.DecisionID); got.Status != audit.ApprovalPending {
		t.Fatalf("before the confirmation the proposal is %s", got.Status)
	}
	f.press("cb-a2", tgAlice, tgChat, confirm)
	waitFor(t, "the proposal to be placed", func() bool { return proposal(t, p.DecisionID).Status == audit.ApprovalPlaced })
	stop()

	got := proposal(t, p.DecisionID)
	if got.Channel != "telegram" || got.DecidedBy != "telegram:894075106 (@alice_ops)" || got.HashSeen != p.Hash[:12] {
		t.Fatalf("proposal = %+v", got)
	}
	if n := entryOrders(t, p.DecisionID); n != 1 {
		t.Fatalf("%d entry orders; want 1", n)
	}
	ignored := approvalEvents(t)["ignored"]
	if len(ignored) != 2 {
		t.Fatalf("ignored updates = %v; want mallory's two presses", ignored)
	}
	for _, e := range ignored {
		if e["from"] != float64(tgMallory) || !strings.Contains(e["reason"].(string), "allowed_user_ids") {
			t.Fatalf("ignored update = %v", e)
		}
	}
}
