package main

import (
	"os"
	"strings"
	"testing"
)

// TestReplayRefusesAnotherTimeframeOnTheSameAccount: the offline replay's
// paper account was fed daily candles; the config's timeframe then says
// 1h. The next cycle is refused, saying why (it decided at a time 22 hours
// before the last decision and mixed the two timeframes' candles), and no
// run is dated before the last one.
func TestReplayRefusesAnotherTimeframeOnTheSameAccount(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("d.yaml", []byte("db: ./warden.db\ntimeframe: 1d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("h.yaml", []byte("db: ./warden.db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if code, out, errOut := runMain(t, "run", "--once", "--config", "d.yaml"); code != exitOK {
			t.Fatalf("daily cycle %d = %d\n%s\n%s", i, code, out, errOut)
		}
	}
	_, before, _ := runMain(t, "audit", "runs", "--config", "d.yaml", "--limit", "0")
	code, out, errOut := runMain(t, "run", "--once", "--config", "h.yaml")
	if code == exitOK || !strings.Contains(out+errOut, "fed 24h0m0s candles") || !strings.Contains(out+errOut, "the timeframe is now 1h0m0s") {
		t.Fatalf("hourly cycle on the daily account = %d; want refused naming both timeframes\n%s\n%s", code, out, errOut)
	}
	// The daily account goes on as before.
	if code, out, errOut := runMain(t, "run", "--once", "--config", "d.yaml"); code != exitOK {
		t.Fatalf("daily cycle after the refusal = %d\n%s\n%s", code, out, errOut)
	}
	// The refused cycle is recorded as failed at the last decision time
	// (on the replay's clock, not the wall clock's: a run dated years
	// later would hold up retention's cut-off), and the next daily one
	// follows it.
	_, after, _ := runMain(t, "audit", "runs", "--config", "d.yaml", "--limit", "0", "--status", "failed")
	lines := strings.Split(strings.TrimSpace(after), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "2022-06-03T00:00:00Z") {
		t.Errorf("failed runs after the refusal:\n%s\nwant one, at 2022-06-03T00:00:00Z (the last decision time); runs before it:\n%s", after, before)
	}
	_, all, _ := runMain(t, "audit", "runs", "--config", "d.yaml", "--limit", "1")
	if !strings.Contains(all, "2022-06-04T00:00:00Z") {
		t.Errorf("the daily cycle after the refusal is not the next day's:\n%s", all)
	}
}

// TestStatusNextRunOnTheReplaysTimeframe: on a daily replay, status says
// the next run decides a day after the last (it said an hour later, by
// the hourly schedule, while the next run decided a day later).
func TestStatusNextRunOnTheReplaysTimeframe(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("d.yaml", []byte("db: ./warden.db\ntimeframe: 1d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if code, out, errOut := runMain(t, "run", "--once", "--config", "d.yaml"); code != exitOK {
			t.Fatalf("cycle %d = %d\n%s\n%s", i, code, out, errOut)
		}
	}
	_, out, errOut := runMain(t, "status", "--config", "d.yaml")
	if !strings.Contains(out, "next run      decides at 2022-06-03 00:00 UTC, the replay's next candle") {
		t.Errorf("status after daily runs at 06-01 and 06-02:\n%s\n%s", out, errOut)
	}
	if code, out, errOut := runMain(t, "run", "--once", "--config", "d.yaml"); code != exitOK || !strings.Contains(out, "at 2022-06-03 00:00 UTC") {
		t.Errorf("the next run = %d; want it at 2022-06-03 00:00 UTC, as status said\n%s\n%s", code, out, errOut)
	}
}
