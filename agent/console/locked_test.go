package console

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestLockedDatabase: while another process holds SQLite's write lock, a
// login that cannot record itself fails with a clear error after the
// store's busy timeout (10 s), nothing is written and the TOTP code is not
// spent.
func TestLockedDatabase(t *testing.T) {
	e := newEnv(t)
	code := e.code("alice")
	before := e.records()
	// The driver is registered by agent/audit; this is another process's
	// connection holding the write lock.
	db, err := sql.Open("sqlite3", "file:"+e.path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	body, hdr := form(map[string]string{"username": "alice", "password": testPassword, "totp": code})
	r := httptest.NewRequest("POST", "/login", body)
	r.Host = "127.0.0.1:8787"
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	start := time.Now()
	e.srv.ServeHTTP(w, r)
	took := time.Since(start)
	tx.Rollback()
	text := w.Body.String()
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(text, "nothing was changed") {
		t.Fatalf("login on a locked database: %d %s", w.Code, text)
	}
	for _, leak := range []string{"goroutine", ".go:"} {
		if strings.Contains(text, leak) {
			t.Errorf("response shows %q", leak)
		}
	}
	if i := strings.Index(text, `id="error">`); i >= 0 {
		t.Logf("refused after %s: %s", took.Round(time.Millisecond), text[i+11:i+11+strings.Index(text[i+11:], "<")])
	}
	if after := e.records(); after != before {
		t.Errorf("%d record(s) written", after-before)
	}
	if n, _ := e.st.ConsoleSessionCount(context.Background(), ""); n != 0 {
		t.Error("a session was stored")
	}
	// Once the lock is gone, the same code signs in (it was never used).
	if resp := e.postLogin(e.srv, "alice", testPassword, code, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login after the lock: %d", resp.StatusCode)
	}
}
