package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/notify"
	"github.com/warden-trading/warden/executor"
)

type capturePub struct{ events []notify.Event }

func (c *capturePub) Publish(_ context.Context, e notify.Event) error {
	c.events = append(c.events, e)
	return nil
}

// TestProtectionOutcomesAreAuditedOnce: a filled entry left unprotected
// (dust below the minimum order, an exit that failed, a stop replaced by a
// closing exit) is a protection event in the audit log and a
// notification, as the README promises; it was only a log line. Each
// outcome is recorded once per entry and quantity across processes (a new
// runtime on the same file, as cron starts one each hour, meets the same
// dust again), and a stop placed is not an event (the journal has it).
func TestProtectionOutcomesAreAuditedOnce(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "warden.db")
	dust := executor.ProtectionEvent{Kind: executor.ProtDust, DecisionID: "r-1:0", Symbol: "BTC/USDT", EntryClientOrderID: "wd-entry",
		Quantity: decimal.RequireFromString("0.00004"), Reason: "0.00004 BTC below the minimum order can be neither protected nor sold", At: time.Now().UTC()}
	process := func(events ...executor.ProtectionEvent) *capturePub {
		t.Helper()
		st, err := audit.Open(ctx, db, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		pub := &capturePub{}
		rt := &runtime{store: st, pub: pub, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		for _, p := range events {
			rt.recordProtection(ctx, p)
		}
		return pub
	}
	placed := dust
	placed.Kind = executor.ProtStopPlaced
	if pub := process(dust, placed); len(pub.events) != 1 {
		t.Fatalf("notified %d; want the dust once", len(pub.events))
	}
	if pub := process(dust); len(pub.events) != 0 {
		t.Errorf("the next process notified the same dust again (%d)", len(pub.events))
	}
	more := dust
	more.Quantity = decimal.RequireFromString("0.00005")
	process(more)
	st, err := audit.Open(ctx, db, audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.ListEvents(ctx, audit.EventFilter{Kinds: []string{audit.EventProtection}})
	if err != nil || len(evs) != 2 {
		t.Fatalf("protection events = %+v, %v; want two (0.00004, then 0.00005)", evs, err)
	}
	for _, ev := range evs {
		if ev.State != executor.ProtDust || ev.Symbol != "BTC/USDT" || !strings.Contains(string(ev.Detail), "wd-entry") {
			t.Errorf("event %+v; want unprotected_dust for BTC/USDT naming the entry", ev)
		}
	}
}
