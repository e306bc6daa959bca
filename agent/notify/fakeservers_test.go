package notify

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// reply is one scripted answer of a fake server.
type reply struct {
	status  int
	file    string // under testdata/
	ctype   string
	headers map[string]string
}

// restartable is an httptest server that can be stopped (connections
// refused) and started again on the same address, like a service in an
// outage.
type restartable struct {
	t    *testing.T
	addr string
	h    http.Handler
	mu   sync.Mutex
	srv  *httptest.Server
}

func newRestartable(t *testing.T, h http.Handler) *restartable {
	t.Helper()
	r := &restartable{t: t, h: h}
	r.srv = httptest.NewServer(h)
	r.addr = r.srv.Listener.Addr().String()
	t.Cleanup(r.Stop)
	return r
}

func (r *restartable) URL() string { return "http://" + r.addr }

// Stop closes the server: requests now fail with connection refused.
func (r *restartable) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.CloseClientConnections()
		r.srv.Close()
		r.srv = nil
	}
}

// Start serves again on the same address.
func (r *restartable) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("restart fake on %s: %v", r.addr, err)
	}
	s := httptest.NewUnstartedServer(r.h)
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	r.srv = s
}

// script is a queue of replies shared by a fake's handlers; empty means ok.
type script struct {
	mu      sync.Mutex
	replies []reply
}

func (s *script) push(rs ...reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = append(s.replies, rs...)
}

func (s *script) pop() (reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.replies) == 0 {
		return reply{}, false
	}
	r := s.replies[0]
	s.replies = s.replies[1:]
	return r, true
}

func writeReply(t *testing.T, w http.ResponseWriter, r reply) {
	for k, v := range r.headers {
		w.Header().Set(k, v)
	}
	ct := r.ctype
	if ct == "" {
		ct = "application/json; charset=utf-8"
		if strings.HasSuffix(r.file, ".txt") {
			ct = "text/html"
		}
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(r.status)
	if r.file != "" {
		w.Write(fixture(t, r.file))
	}
}

// fakeSlack speaks Slack's incoming-webhook and chat.postMessage wire
// formats. It refuses text with raw '<', '>' or a bare '&' as
// invalid_payload: Warden never sends links or mentions, so such text means
// the escaping failed (real Slack would render or ping instead).
type fakeSlack struct {
	t *testing.T
	*restartable
	script
	webhookPath string
	token       string
	channel     string

	mu    sync.Mutex
	texts []string // decoded (unescaped) texts of accepted messages
	raw   []string // texts as received
	calls int
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{
		t:           t,
		webhookPath: "/services/T0001/B0001/sekritHookPart1234",
		token:       "xoxb-1111-2222-sekritSlackToken",
		channel:     "C123ABC456",
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /services/", f.webhook)
	mux.HandleFunc("POST /api/chat.postMessage", f.postMessage)
	f.restartable = newRestartable(t, mux)
	return f
}

func (f *fakeSlack) WebhookURL() string { return f.URL() + f.webhookPath }
func (f *fakeSlack) APIURL() string     { return f.URL() + "/api/" }

func (f *fakeSlack) webhook(w http.ResponseWriter, r *http.Request) {
	f.count()
	if r.URL.Path != f.webhookPath {
		writeReply(f.t, w, reply{status: 404, file: "slack/webhook_404_no_service.txt"})
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		writeReply(f.t, w, reply{status: 400, file: "slack/webhook_400_invalid_payload.txt"})
		return
	}
	var msg struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil || msg.Text == "" {
		writeReply(f.t, w, reply{status: 400, file: "slack/webhook_400_invalid_payload.txt"})
		return
	}
	if rp, ok := f.pop(); ok {
		writeReply(f.t, w, rp)
		return
	}
	plain, ok := slackUnescape(msg.Text)
	if !ok {
		writeReply(f.t, w, reply{status: 400, file: "slack/webhook_400_invalid_payload.txt"})
		return
	}
	f.accept(msg.Text, plain)
	writeReply(f.t, w, reply{status: 200, file: "slack/webhook_ok.txt"})
}

func (f *fakeSlack) postMessage(w http.ResponseWriter, r *http.Request) {
	f.count()
	if err := r.ParseForm(); err != nil {
		writeReply(f.t, w, reply{status: 200, file: "slack/chat.postMessage_error_too_many_attachments.json"})
		return
	}
	tok := r.PostForm.Get("token")
	if h := r.Header.Get("Authorization"); tok == "" && strings.HasPrefix(h, "Bearer ") {
		tok = strings.TrimPrefix(h, "Bearer ")
	}
	if tok != f.token {
		writeReply(f.t, w, reply{status: 200, file: "slack/chat.postMessage_error_invalid_auth.json"})
		return
	}
	if r.PostForm.Get("channel") != f.channel {
		writeReply(f.t, w, reply{status: 200, file: "slack/chat.postMessage_error_channel_not_found.json"})
		return
	}
	if rp, ok := f.pop(); ok {
		writeReply(f.t, w, rp)
		return
	}
	text := r.PostForm.Get("text")
	plain, ok := slackUnescape(text)
	if !ok || text == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprint(w, `{"ok":false,"error":"invalid_payload"}`)
		return
	}
	f.accept(text, plain)
	writeReply(f.t, w, reply{status: 200, file: "slack/chat.postMessage_ok.json"})
}

func (f *fakeSlack) count() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
}

func (f *fakeSlack) accept(raw, plain string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.raw = append(f.raw, raw)
	f.texts = append(f.texts, plain)
}

func (f *fakeSlack) Texts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.texts...)
}

func (f *fakeSlack) Raw() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.raw...)
}

func (f *fakeSlack) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

var slackEntity = regexp.MustCompile(`^&(amp|lt|gt);`)

// slackUnescape reverses Slack's three escapes, failing on raw control
// characters.
func slackUnescape(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch s[i] {
		case '<', '>':
			return "", false
		case '&':
			m := slackEntity.FindString(s[i:])
			if m == "" {
				return "", false
			}
			b.WriteString(map[string]string{"&amp;": "&", "&lt;": "<", "&gt;": ">"}[m])
			i += len(m)
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String(), true
}

// fakeTelegram speaks the Bot API's sendMessage. In parse_mode HTML it
// parses the text as strictly as Telegram does (only its tags, balanced;
// '<', '>' and '&' otherwise escaped) and answers "can't parse entities"
// otherwise.
type fakeTelegram struct {
	t *testing.T
	*restartable
	script
	token string
	chat  string

	mu      sync.Mutex
	texts   []string // plain text of accepted messages (tags stripped, entities decoded)
	modes   []string // parse_mode of accepted messages
	calls   int
	badPath []string
}

func newFakeTelegram(t *testing.T) *fakeTelegram {
	f := &fakeTelegram{t: t, token: "123456789:AAsekritTelegramToken_xyz", chat: "50408323"}
	f.restartable = newRestartable(t, http.HandlerFunc(f.serve))
	return f
}

func (f *fakeTelegram) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/bot"+f.token+"/sendMessage" {
		f.mu.Lock()
		f.badPath = append(f.badPath, r.URL.Path)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		fmt.Fprint(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
		return
	}
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		fmt.Fprint(w, `{"ok":false,"error_code":400,"description":"Bad Request: message text is empty"}`)
		return
	}
	if r.FormValue("chat_id") != f.chat {
		writeReply(f.t, w, reply{status: 400, file: "telegram/error_400_chat_not_found.json"})
		return
	}
	if rp, ok := f.pop(); ok {
		writeReply(f.t, w, rp)
		return
	}
	text, mode := r.FormValue("text"), r.FormValue("parse_mode")
	plain := text
	if mode == "HTML" {
		var ok bool
		if plain, ok = telegramParseHTML(text); !ok {
			writeReply(f.t, w, reply{status: 400, file: "telegram/error_400_cant_parse_entities.json"})
			return
		}
	} else if mode != "" {
		f.t.Errorf("fake telegram: unexpected parse_mode %q", mode)
	}
	f.mu.Lock()
	f.texts = append(f.texts, plain)
	f.modes = append(f.modes, mode)
	f.mu.Unlock()
	writeReply(f.t, w, reply{status: 200, file: "telegram/sendMessage_ok.json"})
}

func (f *fakeTelegram) Texts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.texts...)
}

func (f *fakeTelegram) Modes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.modes...)
}

func (f *fakeTelegram) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

var (
	tgTag    = regexp.MustCompile(`^<(/?)(b|strong|i|em|u|ins|s|strike|del|code|pre|tg-spoiler|blockquote)>`)
	tgEntity = regexp.MustCompile(`^&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);`)
)

// telegramParseHTML is the fake's version of Telegram's HTML parser: the
// plain text, or false where Telegram would answer "can't parse entities".
func telegramParseHTML(s string) (string, bool) {
	var b strings.Builder
	var stack []string
	for i := 0; i < len(s); {
		switch s[i] {
		case '<':
			m := tgTag.FindStringSubmatch(s[i:])
			if m == nil {
				return "", false
			}
			if m[1] == "/" {
				if len(stack) == 0 || stack[len(stack)-1] != m[2] {
					return "", false
				}
				stack = stack[:len(stack)-1]
			} else {
				stack = append(stack, m[2])
			}
			i += len(m[0])
			continue
		case '>':
			return "", false
		case '&':
			m := tgEntity.FindString(s[i:])
			if m == "" {
				return "", false
			}
			switch m {
			case "&lt;":
				b.WriteByte('<')
			case "&gt;":
				b.WriteByte('>')
			case "&amp;":
				b.WriteByte('&')
			case "&quot;":
				b.WriteByte('"')
			default:
				return "", false // numeric entities: not produced by Warden
			}
			i += len(m)
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	if len(stack) != 0 {
		return "", false
	}
	return b.String(), true
}
