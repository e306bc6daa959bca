package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/executor"
)

// scrapeMetrics reads url's Prometheus exposition as series -> value; nil
// when it cannot be read (yet).
func scrapeMetrics(url string) map[string]string {
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			out[line[:i]] = line[i+1:]
		}
	}
	return out
}

// TestServiceMetrics runs `warden run` as a service with metrics on, as
// Prometheus sees it: after the first cycle the account and decisions are
// there, every breaker and order-error kind has a series at 0 (an alert or
// a rate works before the first trip or error), and a kill switch set by
// another process shows at the next cycle.
func TestServiceMetrics(t *testing.T) {
	t.Chdir(t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	os.WriteFile("warden.yaml", []byte(fmt.Sprintf("schedule: \"@every 1s\"\nmetrics: {listen: %q}\n", addr)), 0o600)
	svc := startService(t)
	url := "http://" + addr + "/metrics"
	until := func(what string, ok func(map[string]string) bool) map[string]string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			m := scrapeMetrics(url)
			if m != nil && ok(m) {
				return m
			}
			if time.Now().After(deadline) {
				svc.stop()
				_, stderr, _ := svc.wait(30 * time.Second)
				t.Fatalf("no scrape showed %s within 60 s; last scrape %d series; service stderr:\n%s", what, len(m), stderr)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	m := until("the first cycle's equity", func(m map[string]string) bool {
		return m["warden_equity_quote"] != "" && m["warden_equity_quote"] != "0"
	})
	if eq, err := strconv.ParseFloat(m["warden_equity_quote"], 64); err != nil || eq < 9000 || eq > 11000 {
		t.Errorf("warden_equity_quote = %q; want about the paper account's 10000", m["warden_equity_quote"])
	}
	for _, name := range agent.BreakerNames() {
		if v := m[`warden_breaker_tripped{breaker="`+name+`"}`]; v != "0" {
			t.Errorf("breaker %s: %q; want a series at 0", name, v)
		}
	}
	for _, kind := range executor.KindNames() {
		if v := m[`warden_order_errors_total{kind="`+kind+`"}`]; v != "0" {
			t.Errorf("order errors %s: %q; want a series at 0", kind, v)
		}
	}
	if m["warden_kill_switch"] != "0" || m[`warden_decisions_total{outcome="no_action"}`] == "" {
		t.Errorf("kill switch %q, no_action decisions %q; want 0 and a count", m["warden_kill_switch"], m[`warden_decisions_total{outcome="no_action"}`])
	}

	if code, out, errOut := runMain(t, "kill", "--config", "warden.yaml", "--reason", "metrics test"); code != exitOK {
		t.Fatalf("kill = %d\n%s\n%s", code, out, errOut)
	}
	until("the kill switch set by another process", func(m map[string]string) bool { return m["warden_kill_switch"] == "1" })
	svc.stop()
	if code, stderr, ok := svc.wait(30 * time.Second); !ok || code != 0 {
		t.Fatalf("service = exit %d (stopped %v)\n%s", code, ok, stderr)
	}
}
