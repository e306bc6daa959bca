package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/warden-trading/warden/agent/audit"
)

// uiDB creates a migrated, empty audit database.
func uiDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "warden.db")
	st, err := audit.Open(context.Background(), path, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return path
}

var secretRE = regexp.MustCompile(`secret=([A-Z2-7]{32})`)

func TestUIUserCommands(t *testing.T) {
	db := uiDB(t)
	const pw = "correct horse battery staple\n"
	code, out, errs := run(t, pw, "ui", "user", "add", "alice", "--role", "operator", "--db", db)
	if code != 0 {
		t.Fatalf("user add: exit %d: %s", code, errs)
	}
	m := secretRE.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "otpauth://totp/Warden:alice?") || !strings.Contains(out, "secret: "+m[1]) || !strings.Contains(out, "█") {
		t.Fatalf("user add prints no enrolment (URI, base32 secret, QR):\n%s", out)
	}
	first := m[1]

	for _, c := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"duplicate", pw, []string{"ui", "user", "add", "alice", "--role", "viewer"}, "already exists"},
		{"bad role", pw, []string{"ui", "user", "add", "bob", "--role", "admin"}, `want viewer or operator`},
		{"no role", pw, []string{"ui", "user", "add", "bob"}, `want viewer or operator`},
		{"short password (11)", "elevenchars\n", []string{"ui", "user", "add", "bob", "--role", "viewer"}, "at least 12"},
		{"no password", "", []string{"ui", "user", "add", "bob", "--role", "viewer"}, "no password on stdin"},
		{"bad name", pw, []string{"ui", "user", "add", "../bob", "--role", "viewer"}, "user name"},
		{"remove unknown", "", []string{"ui", "user", "remove", "nobody"}, `no console user "nobody"`},
		{"reset unknown", "", []string{"ui", "user", "reset-totp", "nobody"}, `no console user "nobody"`},
	} {
		code, _, errs := run(t, c.stdin, append(c.args, "--db", db)...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 saying %q", c.name, code, errs, c.want)
		}
	}
	// At the minimum length (12) a password is accepted.
	if code, _, errs := run(t, "twelve chars\n", "ui", "user", "add", "bob", "--role", "viewer", "--db", db); code != 0 {
		t.Fatalf("12-character password: exit %d: %s", code, errs)
	}
	_, out, _ = run(t, "", "ui", "user", "list", "--db", db)
	if !regexp.MustCompile(`(?m)^alice\s+operator\s`).MatchString(out) || !regexp.MustCompile(`(?m)^bob\s+viewer\s`).MatchString(out) || strings.Contains(out, "argon2") {
		t.Fatalf("user list:\n%s", out)
	}
	code, out, errs = run(t, "", "ui", "user", "reset-totp", "alice", "--db", db)
	m = secretRE.FindStringSubmatch(out)
	if code != 0 || m == nil || m[1] == first {
		t.Fatalf("reset-totp: exit %d, new secret %v (old %s): %s", code, m, first, errs)
	}
	if code, _, errs := run(t, "", "ui", "user", "remove", "bob", "--db", db); code != 0 {
		t.Fatalf("remove: exit %d: %s", code, errs)
	}
	_, out, _ = run(t, "", "ui", "user", "list", "--db", db)
	if strings.Contains(out, "bob") {
		t.Fatalf("bob still listed:\n%s", out)
	}
	// Every change is in the chain, without a password or a secret.
	st, err := audit.Open(context.Background(), db, audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.ListEvents(context.Background(), audit.EventFilter{Kinds: []string{audit.EventConsoleUser}})
	if err != nil {
		t.Fatal(err)
	}
	states := []string{}
	for _, e := range evs {
		states = append(states, e.State)
		if d := string(e.Detail); strings.Contains(d, "horse") || strings.Contains(d, first) || strings.Contains(d, m[1]) {
			t.Errorf("user event holds a secret: %s", d)
		}
	}
	if got := strings.Join(states, ","); got != "removed,totp_reset,added,added" {
		t.Errorf("user events (newest first) %s", got)
	}
}

func TestUIRefusesUnsafeSetups(t *testing.T) {
	db := uiDB(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	allowNoTLS := write("a.yaml", "db: "+db+"\nui:\n  listen: 0.0.0.0:8787\n  allow_non_loopback: true\n")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"non-loopback", []string{"ui", "--db", db, "--listen", "0.0.0.0:8787"}, "not a loopback address"},
		{"non-loopback without TLS", []string{"ui", "--config", allowNoTLS}, "no TLS is configured"},
		{"missing database", []string{"ui", "--db", filepath.Join(dir, "none.db")}, "no database at"},
		{"bad address", []string{"ui", "--db", db, "--listen", "nonsense"}, "ui.listen"},
	} {
		code, _, errs := run(t, "", c.args...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 saying %q", c.name, code, errs, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Error("a missing database was created")
	}
	half := write("b.yaml", "db: "+db+"\nui:\n  tls_cert: cert.pem\n")
	if code, _, errs := run(t, "", "ui", "--config", half); code != exitUsage || !strings.Contains(errs, "tls_cert and tls_key") {
		t.Errorf("tls_cert without tls_key: exit %d: %s", code, errs)
	}
}

// syncBuffer is a bytes.Buffer safe to read while Main writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUIServes runs `warden ui` through Main, signs in over HTTP with a
// TOTP code from the enrolment, engages the kill switch through the API,
// and stops on cancel; `warden status` in another call sees the switch.
func TestUIServes(t *testing.T) {
	db := uiDB(t)
	_, out, _ := run(t, "correct horse battery staple\n", "ui", "user", "add", "alice", "--role", "operator", "--db", db)
	secret := secretRE.FindStringSubmatch(out)[1]

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"ui", "--db", db, "--listen", addr}, strings.NewReader(""), &stdout, &stderr)
	}()
	base := "http://" + addr
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(base + "/login")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("console did not come up: %v; stderr %s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(stdout.String(), "console at http://"+addr) {
		t.Errorf("stdout %q does not say where the console is", stdout.String())
	}
	now := time.Now()
	code, _ := totp.GenerateCode(secret, now)
	resp, err := client.PostForm(base+"/login", url.Values{"username": {"alice"}, "password": {"correct horse battery staple"}, "totp": {code}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %v %v", resp, err)
	}
	cookie := resp.Cookies()[0]
	next, _ := totp.GenerateCode(secret, now.Add(30*time.Second))
	req, _ := http.NewRequest("POST", base+"/api/kill", strings.NewReader(fmt.Sprintf(`{"reason":"from the console","totp":%q}`, next)))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(cookie)
	resp, err = client.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("kill: %v %v", resp, err)
	}
	cancel()
	select {
	case c := <-done:
		if c != 0 {
			t.Fatalf("warden ui exit %d: %s", c, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("warden ui did not stop on cancel")
	}
	if c, out, errs := run(t, "", "status", "--db", db); c != 0 || !strings.Contains(out, "console:alice") {
		t.Fatalf("status after the console's kill: exit %d\n%s\n%s", c, out, errs)
	}
}
