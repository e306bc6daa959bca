package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunOnceFlushesChannelsSideBySide: a `run --once` whose Slack hangs
// still delivers to Telegram meanwhile. The fake Slack answers only once
// Telegram has the cycle's message (or after 10 s); flushed one channel
// after the other, Telegram would wait for Slack and Slack would time out
// waiting for Telegram.
func TestRunOnceFlushesChannelsSideBySide(t *testing.T) {
	tgGot := make(chan struct{})
	var tgOnce sync.Once
	var slackWaited, slackSawTelegram atomic.Int64
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if !strings.HasSuffix(r.URL.Path, "/sendMessage") {
			http.NotFound(w, r)
			return
		}
		tgOnce.Do(func() { close(tgGot) })
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true,"result":{"message_id":1,"chat":{"id":42,"type":"private"},"date":1466844672,"text":"x"}}`)
	}))
	t.Cleanup(tg.Close)
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		slackWaited.Add(1)
		select {
		case <-tgGot:
			slackSawTelegram.Add(1)
		case <-time.After(10 * time.Second):
		}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(slack.Close)

	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_TEST_SLACK_HOOK", slack.URL+"/services/T0/B0/flushtest")
	t.Setenv("WARDEN_TEST_TG_TOKEN", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw")
	os.WriteFile("warden.yaml", []byte(fmt.Sprintf(`notify:
  slack: {webhook_url_env: WARDEN_TEST_SLACK_HOOK}
  telegram: {token_env: WARDEN_TEST_TG_TOKEN, chat_id: "42", server_url: %s}
`, tg.URL)), 0o600)

	// The first offline cycle buys: an approved trade is notified.
	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	if code != exitOK {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	select {
	case <-tgGot:
	default:
		t.Fatal("Telegram got no message from the cycle")
	}
	if slackWaited.Load() == 0 {
		t.Fatal("Slack got no message from the cycle")
	}
	if got := slackSawTelegram.Load(); got != slackWaited.Load() {
		t.Errorf("%d of %d Slack posts were answered only after 10 s without Telegram's message arriving meanwhile: the channels were flushed one after the other", slackWaited.Load()-got, slackWaited.Load())
	}
}
