package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/warden-trading/warden/agent/console"
)

// TestUIStatusShowsWhatStatusShows: on a database produced by real cycles
// (the operator history: a dust BTC position, ETH open behind its stop,
// safe mode after an error spike, so caps are scaled and one position is
// over its cap), `warden ui` in its own Main shows on GET /api/status and
// the status page the same figures as `warden status --json` in another:
// level with since/until, each breaker's last trip, positions with entry,
// mark, unrealised PnL and stop cover, open orders with trigger and limit,
// every limit used, the last and next run.
func TestUIStatusShowsWhatStatusShows(t *testing.T) {
	t.Chdir(t.TempDir())
	recordOperatorHistory(t)
	code, out, errOut := runMain(t, "status", "--config", "warden.yaml", "--json")
	if code != 0 {
		t.Fatalf("status --json = exit %d\n%s", code, errOut)
	}
	var want statusReport
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Limits) != 6 || len(want.Positions) != 2 || len(want.OpenOrders) != 1 || want.Level.Level != "safe_mode" || len(want.Breakers) != 1 {
		t.Fatalf("the operator history is not what this test expects: %s", out)
	}

	_, out, _ = run(t, "correct horse battery staple\n", "ui", "user", "add", "vera", "--role", "viewer", "--config", "warden.yaml")
	m := secretRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("user add printed no secret: %s", out)
	}
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
		done <- Main(ctx, []string{"ui", "--config", "warden.yaml", "--listen", addr}, strings.NewReader(""), &stdout, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("warden ui did not stop on cancel")
		}
	}()
	base := "http://" + addr
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := client.Get(base + "/login")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("console did not come up: %v; stderr %s", err, stderr.String())
		}
	}
	totpCode, _ := totp.GenerateCode(m[1], time.Now())
	resp, err := client.PostForm(base+"/login", url.Values{"username": {"vera"}, "password": {"correct horse battery staple"}, "totp": {totpCode}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %v %v", resp, err)
	}
	cookie := resp.Cookies()[0]
	get := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.AddCookie(cookie)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %v", path, resp, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	var got console.Status
	if err := json.Unmarshal([]byte(get("/api/status")), &got); err != nil {
		t.Fatal(err)
	}
	same := func(what string, g, w any) {
		t.Helper()
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		if string(gj) != string(wj) {
			t.Errorf("/api/status %s differs from warden status:\n got  %s\n want %s", what, gj, wj)
		}
	}
	same("as of", got.At, want.Now)
	same("level", got.Level, want.Level)
	same("risk scale", got.RiskScale, want.RiskScale)
	same("breakers", got.Breakers, want.Breakers)
	same("account", got.Account, want.Account)
	same("positions", got.Positions, want.Positions)
	same("open orders", got.OpenOrders, want.OpenOrders)
	same("limits", got.Limits, want.Limits)
	same("policy", got.Policy, want.Policy)
	same("next run", got.NextRun, want.NextRun)
	same("kill switch", got.KillSwitch, want.KillSwitch)
	if got.LastRun == nil || want.LastRun == nil || got.LastRun.RunID != want.LastRun.RunID || got.LastRun.Outcome != "safe_mode" {
		t.Errorf("last run: got %+v, want %+v", got.LastRun, want.LastRun)
	}
	if got.Clock != "replay" || got.Mode != "paper" || got.ErrorCount != want.ErrorCount {
		t.Errorf("clock %q, mode %q, error count %d; want replay, paper, %d", got.Clock, got.Mode, got.ErrorCount, want.ErrorCount)
	}

	// The page shows the same figures: every limit with its value, cap and
	// state (ETH over its scaled cap), the dust, the stop's trigger and
	// limit, the level's window and the next run.
	page := get("/status")
	for _, l := range want.Limits {
		state := "within"
		if l.Over {
			state = "OVER: buys are refused"
		}
		unit, v := "", l.Value.String()
		if l.Unit == "%" {
			unit, v = " %", l.Value.StringFixed(2)
		}
		scaled := ""
		if l.Scaled {
			scaled = " × " + want.RiskScale.String()
		}
		row := fmt.Sprintf(`<td>%s</td><td class="num">%s%s</td><td class="num">%s%s</td><td>%s%s</td><td>%s</td>`,
			strings.ReplaceAll(l.Name, "_", " "), v, unit, l.Limit, unit, l.Param, scaled, state)
		if !strings.Contains(page, row) {
			t.Errorf("status page lacks the limit row %s", row)
		}
	}
	for _, w := range []string{
		`<tr class="over"><td>position ETH/USDT</td><td class="num">1.49 %</td><td class="num">1 %</td>`,
		`<td>ETH/USDT</td><td class="num">0.0771228</td><td class="num">1942.6026026</td><td class="num">1933.82</td><td class="num">149.14</td><td class="num">-0.68 (-0.45 %)</td><td class="num">0.0771</td>`,
		`(dust: below the smallest order)`,
		`<td>stop</td><td>ETH/USDT</td><td>sell</td><td>stop_loss_limit</td><td>acknowledged</td><td class="num">0.0771</td><td class="num">0</td><td class="num">1882.4</td><td class="num">1872.98</td>`,
		`safe mode`, `since 2022-06-01 05:00:00Z, until 2022-06-01 09:00:00Z: error_spike: 2 failed cycles in a row (limit 2)`,
		`Next run: 2022-06-01 07:00:00Z (schedule @hourly)`,
		`<td class="num">-0.42 (-0.00 %)</td><td class="num">0.01 %</td><td class="num">149.31 (1.49 %)</td>`,
	} {
		if !strings.Contains(page, w) {
			t.Errorf("status page lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", page)
	}
}
