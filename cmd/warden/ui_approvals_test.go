package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/warden-trading/warden/agent/audit"
)

// startUI runs `warden ui` through Main on a free loopback port with
// args, and returns its base URL; it stops when the test ends.
func startUI(t *testing.T, args ...string) string {
	t.Helper()
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
		done <- Main(ctx, append([]string{"ui", "--listen", addr}, args...), strings.NewReader(""), &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case c := <-done:
			if c != 0 {
				t.Errorf("warden ui exit %d: %s", c, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("warden ui did not stop on cancel")
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/login")
		if err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("console did not come up: %v; stderr %s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUIApproveThenRunOnce: a pending proposal is approved in the console
// (`warden ui` through Main, HTTP, TOTP step-up, the hash prefix shown);
// the console records it only. A CLI approval of the same proposal is
// then refused, `run --once` re-checks and places it, and nothing more is
// placed afterwards: one order.
func TestUIApproveThenRunOnce(t *testing.T) {
	p := proposeBTC(t, ", expires: 3h, max_price_move_bps: 1000") // the replay moves an hour (and 43 bps) before run --once acts
	_, out, _ := run(t, "correct horse battery staple\n", "ui", "user", "add", "alice", "--role", "operator", "--config", "warden.yaml")
	secret := secretRE.FindStringSubmatch(out)[1]
	_, out, _ = run(t, "correct horse battery staple\n", "ui", "user", "add", "victor", "--role", "viewer", "--config", "warden.yaml")
	vsecret := secretRE.FindStringSubmatch(out)[1]
	base := startUI(t, "--config", "warden.yaml")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	now := time.Now()
	login := func(user, secret string) *http.Cookie {
		code, _ := totp.GenerateCode(secret, now)
		resp, err := client.PostForm(base+"/login", url.Values{"username": {user}, "password": {"correct horse battery staple"}, "totp": {code}})
		if err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login %s: %v %v", user, resp, err)
		}
		return resp.Cookies()[0]
	}
	post := func(c *http.Cookie, path, body string) (int, string) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(c)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	alice, victor := login("alice", secret), login("victor", vsecret)

	// The page shows the proposal and its hash prefix.
	req, _ := http.NewRequest("GET", base+"/approvals", nil)
	req.AddCookie(alice)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), p.DecisionID) || !strings.Contains(string(page), p.Hash[:12]) {
		t.Fatalf("approvals page: %d\n%s", resp.StatusCode, page)
	}

	path := "/api/approvals/" + p.DecisionID + "/approve"
	vcode, _ := totp.GenerateCode(vsecret, now.Add(30*time.Second))
	if code, text := post(victor, path, fmt.Sprintf(`{"hash":%q,"totp":%q}`, p.Hash[:12], vcode)); code != http.StatusForbidden {
		t.Fatalf("viewer approve: %d %s", code, text)
	}
	next, _ := totp.GenerateCode(secret, now.Add(30*time.Second))
	if code, text := post(alice, path, fmt.Sprintf(`{"hash":%q,"totp":%q}`, p.Hash[:12], next)); code != http.StatusOK || !strings.Contains(text, `"status": "approved"`) {
		t.Fatalf("console approve: %d %s", code, text)
	}
	if n := entryOrders(t, p.DecisionID); n != 0 {
		t.Fatalf("the console placed %d order(s); it only records", n)
	}
	got := proposal(t, p.DecisionID)
	if got.Status != audit.ApprovalApproved || got.DecidedBy != "console:alice@127.0.0.1" || got.Channel != "console" || got.HashSeen != p.Hash[:12] {
		t.Fatalf("after the console's approval: %+v", got)
	}
	// The same proposal approved again through the CLI: that vote is
	// refused (recorded), and the CLI, holding the database, places the
	// console's approval now.
	code, out, errOut := runMain(t, "approve", p.DecisionID, "--hash", p.Hash[:8], "--config", "warden.yaml")
	if code != 0 || !strings.Contains(out, "was already approved by console:alice@127.0.0.1") || !strings.Contains(out, "placed") {
		t.Fatalf("CLI approve after the console's = %d\n%s\n%s; want the console's approval placed", code, out, errOut)
	}
	if got := proposal(t, p.DecisionID); got.Status != audit.ApprovalPlaced || got.DecidedBy != "console:alice@127.0.0.1" {
		t.Fatalf("after the CLI approve: %+v; want placed, approved by console:alice", got)
	}
	code, out, errOut = runMain(t, "run", "--once", "--config", "warden.yaml")
	if code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	if n := entryOrders(t, p.DecisionID); n != 1 {
		t.Fatalf("%d entry orders after run --once; want 1", n)
	}
	if code, out, _ := runMain(t, "approvals", "--process", "--config", "warden.yaml"); code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("approvals --process after placement = %d\n%s", code, out)
	}
	if code, _, _ := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatal("second run --once failed")
	}
	if n := entryOrders(t, p.DecisionID); n != 1 {
		t.Fatalf("%d entry orders after a second run; want 1", n)
	}
	evs := approvalEvents(t)
	if len(evs["approved"]) != 1 || evs["approved"][0]["who"] != "console:alice@127.0.0.1" || evs["approved"][0]["channel"] != "console" || len(evs["placed"]) != 1 {
		t.Fatalf("approval events = %v", evs)
	}
	if code, out, errOut := runMain(t, "audit", "verify", "--db", "warden.db"); code != 0 {
		t.Fatalf("audit verify = %d\n%s\n%s", code, out, errOut)
	}
}

// TestUIApprovalOff: with approval off the console's approve answers 409
// and says so.
func TestUIApprovalOff(t *testing.T) {
	db := uiDB(t)
	_, out, _ := run(t, "correct horse battery staple\n", "ui", "user", "add", "alice", "--role", "operator", "--db", db)
	secret := secretRE.FindStringSubmatch(out)[1]
	base := startUI(t, "--db", db)
	now := time.Now()
	code, _ := totp.GenerateCode(secret, now)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	resp, err := client.PostForm(base+"/login", url.Values{"username": {"alice"}, "password": {"correct horse battery staple"}, "totp": {code}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %v %v", resp, err)
	}
	next, _ := totp.GenerateCode(secret, now.Add(30*time.Second))
	req, _ := http.NewRequest("POST", base+"/api/approvals/r-1:0/approve", strings.NewReader(`{"hash":"deadbeef","totp":"`+next+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(resp.Cookies()[0])
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(b), "approval is off") {
		t.Fatalf("approve with approval off: %d %s", resp.StatusCode, b)
	}
}
