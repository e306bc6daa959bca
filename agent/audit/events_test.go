package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-trading/warden/schemas"
)

func TestKillSwitchSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, Options{})
	if on, err := s.KillSwitch(ctx); on || err != nil {
		t.Fatalf("KillSwitch() on a new store = %v, %v; want false, nil", on, err)
	}
	if err := s.SetKillSwitch(ctx, true, "alice", "exchange incident"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openAt(t, path, Options{})
	if on, err := s.KillSwitch(ctx); !on || err != nil {
		t.Fatalf("KillSwitch() after reopen = %v, %v; want true, nil", on, err)
	}
	// Another process (warden resume) turns it off; this store sees it.
	other := openAt(t, path, Options{})
	if err := other.SetKillSwitch(ctx, false, "bob", "incident over"); err != nil {
		t.Fatal(err)
	}
	if on, err := s.KillSwitch(ctx); on || err != nil {
		t.Errorf("KillSwitch() after resume = %v, %v; want false, nil", on, err)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK || rep.Records != 2 {
		t.Errorf("Verify() = %+v, %v; want OK with 2 records", rep, err)
	}
}

func TestSafeMode(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, path := openTest(t, Options{Clock: clk.Now})
	now := clk.Now()
	if on, _, err := s.SafeMode(ctx, now); on || err != nil {
		t.Fatalf("SafeMode() on a new store = %v, %v", on, err)
	}
	if err := s.SetSafeMode(ctx, true, now.Add(time.Hour), "3 failed model calls"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openAt(t, path, Options{Clock: clk.Now})
	tests := []struct {
		at     time.Time
		on     bool
		reason string
	}{
		{now, true, "3 failed model calls"},
		{now.Add(59 * time.Minute), true, "3 failed model calls"},
		{now.Add(time.Hour), false, ""},
	}
	for _, tt := range tests {
		on, reason, err := s.SafeMode(ctx, tt.at)
		if on != tt.on || reason != tt.reason || err != nil {
			t.Errorf("SafeMode(%v) = %v, %q, %v; want %v, %q", tt.at, on, reason, err, tt.on, tt.reason)
		}
	}
	// Until an operator resumes: no cool-down.
	if err := s.SetSafeMode(ctx, true, time.Time{}, "drift"); err != nil {
		t.Fatal(err)
	}
	if on, reason, _ := s.SafeMode(ctx, now.Add(1000*time.Hour)); !on || reason != "drift" {
		t.Errorf("SafeMode(+1000h) = %v, %q; want true, drift", on, reason)
	}
	if err := s.SetSafeMode(ctx, false, time.Time{}, "operator resumed"); err != nil {
		t.Fatal(err)
	}
	if on, _, _ := s.SafeMode(ctx, now); on {
		t.Errorf("SafeMode() after off = true; want false")
	}
}

func TestRecordEventRejectsBadInput(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	for _, e := range []Event{{}, {Kind: "x", Detail: json.RawMessage(`{not json`)}} {
		if err := s.RecordEvent(ctx, e); err == nil {
			t.Errorf("RecordEvent(%+v) = nil; want an error", e)
		}
	}
}

func TestPaperState(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, Options{})
	if _, ok, err := s.LatestPaperState(ctx); ok || err != nil {
		t.Fatalf("LatestPaperState() on a new store = %v, %v", ok, err)
	}
	blobs := [][]byte{[]byte(`{"cash":"100"}`), {0xff, 0x00, 0x01}, []byte(`{"cash":"90","positions":{"BTC/USDT":"0.1"}}`)}
	for _, b := range blobs[:2] {
		if err := s.SavePaperState(ctx, b); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.LatestPaperState(ctx)
		if !ok || err != nil || !bytes.Equal(got, b) {
			t.Errorf("LatestPaperState() = %q, %v, %v; want %q", got, ok, err, b)
		}
	}
	if err := s.SavePaperState(ctx, blobs[2]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	got, ok, err := openAt(t, path, Options{}).LatestPaperState(ctx)
	if !ok || err != nil || !bytes.Equal(got, blobs[2]) {
		t.Errorf("LatestPaperState() after reopen = %q, %v, %v; want %q", got, ok, err, blobs[2])
	}
}

func TestEquity(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, Options{})
	day := time.Date(2024, 1, 10, 0, 0, 0, 0, time.UTC)
	if _, ok, err := s.PeakEquity(ctx); ok || err != nil {
		t.Fatalf("PeakEquity() on a new store = %v, %v", ok, err)
	}
	if _, ok, err := s.EquityAt(ctx, day); ok || err != nil {
		t.Fatalf("EquityAt() on a new store = %v, %v", ok, err)
	}
	for _, p := range []struct {
		h  int
		eq string
	}{{-2, "1000"}, {-1, "1100.5"}, {1, "1050"}, {2, "990"}} {
		if err := s.RecordEquity(ctx, day.Add(time.Duration(p.h)*time.Hour), dec(p.eq)); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok, err := s.PeakEquity(ctx); !ok || err != nil || got.String() != "1100.5" {
		t.Errorf("PeakEquity() = %v, %v, %v; want 1100.5", got, ok, err)
	}
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{day, "1100.5"},
		{day.Add(90 * time.Minute), "1050"},
		{day.Add(-5 * time.Hour), "1000"}, // before any record: the first one after
		{day.Add(48 * time.Hour), "990"},
	} {
		if got, ok, err := s.EquityAt(ctx, tt.at); !ok || err != nil || got.String() != tt.want {
			t.Errorf("EquityAt(%v) = %v, %v, %v; want %s", tt.at, got, ok, err, tt.want)
		}
	}
}

func TestOutbox(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, path := openTest(t, Options{Clock: clk.Now})
	now := clk.Now()
	enqueue := func(ch, key string) int64 {
		t.Helper()
		id, err := s.Enqueue(ctx, schemas.Notification{Channel: ch, Kind: "approved", Title: "t " + key, Text: "x", DedupKey: key})
		if err != nil {
			t.Fatalf("Enqueue(%s, %s) = %v", ch, key, err)
		}
		return id
	}
	a := enqueue("slack", "a")
	b := enqueue("slack", "b")
	if again := enqueue("slack", "a"); again != a {
		t.Errorf("Enqueue(slack, a) again = %d; want the existing id %d", again, a)
	}
	ta := enqueue("telegram", "a")
	if ta == a {
		t.Errorf("Enqueue(telegram, a) = %d; want a new id (another channel)", ta)
	}
	n1 := enqueue("slack", "")
	n2 := enqueue("slack", "")
	if n1 == n2 {
		t.Errorf("two notifications without dedup key got the same id %d", n1)
	}
	c := enqueue("slack", "c")

	pending := func(ch string, at time.Time) []int64 {
		t.Helper()
		ns, err := s.PendingNotifications(ctx, ch, at, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, n := range ns {
			if n.Channel != ch || n.ID == 0 || n.CreatedAt.IsZero() {
				t.Errorf("pending notification %+v: want channel %s, an id and a creation time", n, ch)
			}
			ids = append(ids, n.ID)
		}
		return ids
	}
	eq := func(got, want []int64) bool { return fmt.Sprint(got) == fmt.Sprint(want) }
	if got := pending("slack", now); !eq(got, []int64{a, b, n1, n2, c}) {
		t.Errorf("Pending(slack) = %v; want %v", got, []int64{a, b, n1, n2, c})
	}
	if ns, _ := s.PendingNotifications(ctx, "slack", now, 2); len(ns) != 2 {
		t.Errorf("Pending(slack, limit 2) = %d notifications; want 2", len(ns))
	}

	record := func(a schemas.DeliveryAttempt) {
		t.Helper()
		if err := s.RecordDelivery(ctx, a); err != nil {
			t.Fatalf("RecordDelivery(%+v) = %v", a, err)
		}
	}
	record(schemas.DeliveryAttempt{NotificationID: a, At: now, Delivered: true})
	record(schemas.DeliveryAttempt{NotificationID: b, At: now, Error: "429", NextAttempt: now.Add(30 * time.Second)}) // Retry-After 30s
	record(schemas.DeliveryAttempt{NotificationID: n1, At: now, GaveUp: true, Error: "invalid_auth"})
	record(schemas.DeliveryAttempt{NotificationID: n2, At: now, Error: "timeout"}) // retry at once
	if got := pending("slack", now); !eq(got, []int64{n2, c}) {
		t.Errorf("Pending(slack) after attempts = %v; want %v", got, []int64{n2, c})
	}
	if got := pending("slack", now.Add(30*time.Second)); !eq(got, []int64{b, n2, c}) {
		t.Errorf("Pending(slack, +30s) = %v; want %v", got, []int64{b, n2, c})
	}
	// A later attempt of b pushes its next try out again.
	record(schemas.DeliveryAttempt{NotificationID: b, At: now.Add(30 * time.Second), Error: "429", NextAttempt: now.Add(90 * time.Second)})
	if got := pending("slack", now.Add(60*time.Second)); !eq(got, []int64{n2, c}) {
		t.Errorf("Pending(slack, +60s) = %v; want %v", got, []int64{n2, c})
	}
	if got := pending("telegram", now); !eq(got, []int64{ta}) {
		t.Errorf("Pending(telegram) = %v; want %v", got, []int64{ta})
	}

	if err := s.RecordDelivery(ctx, schemas.DeliveryAttempt{NotificationID: 999}); err == nil {
		t.Errorf("RecordDelivery(unknown id) = nil; want an error")
	}
	if err := s.RecordDelivery(ctx, schemas.DeliveryAttempt{NotificationID: c, Delivered: true, GaveUp: true}); err == nil {
		t.Errorf("RecordDelivery(delivered and gave up) = nil; want an error")
	}
	if _, err := s.Enqueue(ctx, schemas.Notification{Title: "no channel"}); err == nil {
		t.Errorf("Enqueue(no channel) = nil; want an error")
	}

	// The outbox survives a restart.
	s.Close()
	s = openAt(t, path, Options{Clock: clk.Now})
	if got := pending("slack", now.Add(2*time.Minute)); !eq(got, []int64{b, n2, c}) {
		t.Errorf("Pending(slack) after reopen = %v; want %v", got, []int64{b, n2, c})
	}
}

func TestSecretsNeverReachTheFile(t *testing.T) {
	ctx := context.Background()
	const (
		apiSecret = "sk-CANARY-9f8e7d6c5b4a"
		quoted    = `pa"ss<wo>rd&canary`
		custom    = "tg-bot-token-123456:CANARYABC"
	)
	clk := newClock()
	s, path := openTest(t, Options{Clock: clk.Now, Secrets: []string{apiSecret, quoted, ""},
		Redact: func(v string) string { return strings.ReplaceAll(v, custom, "[TOKEN]") }})
	if err := s.BeginRun(ctx, Run{ID: "run-" + apiSecret, Advisor: "openai", Config: json.RawMessage(`{"key":"` + apiSecret + `"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordLLMCall(ctx, LLMCall{RunID: "run-1", Request: `{"auth":"Bearer ` + apiSecret + `","p":` + string(mustJSON(t, quoted)) + `}`,
		Response: "echo " + apiSecret + " " + quoted + " " + custom, Error: "401 for key " + apiSecret}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordEvent(ctx, Event{Kind: EventError, Detail: mustJSON(t, map[string]string{"err": "https://api.example/order?signature=" + apiSecret, "q": quoted, "t": custom})}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, schemas.Notification{Channel: "telegram", Title: custom, Text: "bad key " + apiSecret, DedupKey: apiSecret}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordResponse(ctx, "run-1", []byte("raw "+apiSecret+quoted), nil, []schemas.Violation{{Rule: "schema", Message: apiSecret}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCachedResponse(ctx, "k", "m", []byte("cached "+apiSecret)); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("Verify() = %+v, %v; want OK", rep, err)
	}
	st, err := s.Show(ctx, "run-1")
	if err != nil || len(st.LLMCalls) != 1 || !strings.Contains(st.LLMCalls[0].Response, Redacted) || !strings.Contains(st.LLMCalls[0].Response, "[TOKEN]") {
		t.Errorf("Show(run-1) LLM calls = %+v, %v; want redacted text", st.LLMCalls, err)
	}
	s.Close()

	var files []string
	matches, _ := filepath.Glob(path + "*")
	files = append(files, matches...)
	jsonQuoted := string(mustJSON(t, quoted))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{apiSecret, quoted, jsonQuoted[1 : len(jsonQuoted)-1], `pa\"ss<wo>rd&canary`, "rd&canary", `rd\u0026canary`, custom, "CANARY"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("file %s contains secret %q", filepath.Base(f), secret)
			}
		}
	}
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, Options{})
	if _, ok, err := s.CachedResponse(ctx, "k1"); ok || err != nil {
		t.Fatalf("CachedResponse(k1) on a new store = %v, %v", ok, err)
	}
	for _, body := range []string{`{"a":1}`, `{"a":2}`} {
		if err := s.PutCachedResponse(ctx, "k1", "gpt-4o-mini", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutCachedResponse(ctx, "", "m", nil); err == nil {
		t.Errorf("PutCachedResponse(empty key) = nil; want an error")
	}
	s.Close()
	got, ok, err := openAt(t, path, Options{ReadOnly: true}).CachedResponse(ctx, "k1")
	if !ok || err != nil || string(got) != `{"a":1}` {
		t.Errorf("CachedResponse(k1) = %q, %v, %v; want the first body", got, ok, err)
	}
}

// TestConcurrentWriters writes from many goroutines and two stores (as two
// processes would) on one file; the chain must stay whole.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, Options{})
	other := openAt(t, path, Options{})
	var wg sync.WaitGroup
	const per = 20
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			st := s
			if g%2 == 1 {
				st = other
			}
			for i := 0; i < per; i++ {
				var err error
				switch i % 3 {
				case 0:
					err = st.AppendOrderEvent(ctx, orderEvent(fmt.Sprintf("g%d-%d", g, i), schemas.OrderIntent, time.Time{}))
				case 1:
					err = st.RecordEvent(ctx, Event{Kind: EventError, Detail: json.RawMessage(`{"i":1}`)})
				default:
					_, err = st.Enqueue(ctx, schemas.Notification{Channel: "slack", DedupKey: fmt.Sprintf("g%d-%d", g, i)})
				}
				if err != nil {
					t.Errorf("writer %d #%d: %v", g, i, err)
					return
				}
				if _, err := st.OpenOrderEvents(ctx); err != nil {
					t.Errorf("reader %d #%d: %v", g, i, err)
				}
			}
		}(g)
	}
	wg.Wait()
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK || rep.Records != 4*per {
		t.Errorf("Verify() = %+v, %v; want OK with %d records", rep, err, 4*per)
	}
}
