package audit

import (
	"context"
	"testing"
	"time"

	"github.com/warden-trading/warden/schemas"
)

// TestOpenOrderEventsFollowsOtherWriters: OpenOrderEvents reads the journal
// incrementally, so it must still see every event another Store (another
// process) appended since its last call, and drop orders that became final.
func TestOpenOrderEventsFollowsOtherWriters(t *testing.T) {
	ctx := context.Background()
	a, path := openTest(t, Options{})
	b := openAt(t, path, Options{})
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(cid string, st schemas.OrderState) schemas.OrderEvent {
		at = at.Add(time.Second)
		return schemas.OrderEvent{ClientOrderID: cid, DecisionID: "d-" + cid, Role: "entry", State: st, Symbol: "BTC/USDT", Side: schemas.SideBuy, Type: "limit", At: at}
	}
	ids := func(evs []schemas.OrderEvent) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.ClientOrderID+"="+string(e.State))
		}
		return out
	}
	check := func(want ...string) {
		t.Helper()
		got, err := a.OpenOrderEvents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if g := ids(got); len(g) != len(want) || (len(g) > 0 && !equal(g, want)) {
			t.Fatalf("OpenOrderEvents = %v; want %v", g, want)
		}
	}
	must := func(s *Store, e schemas.OrderEvent) {
		t.Helper()
		if err := s.AppendOrderEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	must(a, ev("o1", schemas.OrderIntent))
	must(a, ev("o2", schemas.OrderIntent))
	check("o1=intent", "o2=intent")
	must(b, ev("o1", schemas.OrderSubmitted))
	must(b, ev("o2", schemas.OrderRejected))
	must(b, ev("o3", schemas.OrderIntent))
	check("o1=submitted", "o3=intent")
	must(a, ev("o1", schemas.OrderFilled))
	check("o3=intent")
	must(b, ev("o3", schemas.OrderUnknown))
	check("o3=unknown")
	// A fresh store reading the whole journal agrees with the incremental one.
	c := openAt(t, path, Options{ReadOnly: true})
	got, err := c.OpenOrderEvents(ctx)
	if err != nil || !equal(ids(got), []string{"o3=unknown"}) {
		t.Fatalf("fresh OpenOrderEvents = %v, %v; want [o3=unknown]", ids(got), err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestScratchStore: a scratch store (backtests) records and reads like any
// other, and cannot be asked for full sync at the same time.
func TestScratchStore(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, Options{Scratch: true, BatchSize: 16})
	if err := s.SetKillSwitch(ctx, true, "t", "scratch"); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendOrderEvent(ctx, schemas.OrderEvent{ClientOrderID: "o1", State: schemas.OrderIntent, Symbol: "BTC/USDT"}); err != nil {
		t.Fatal(err)
	}
	if on, err := s.KillSwitch(ctx); err != nil || !on {
		t.Fatalf("KillSwitch = %v, %v; want on", on, err)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	if _, err := Open(ctx, path+"2", Options{Scratch: true, FullSync: true}); err == nil {
		t.Fatal("Open(Scratch and FullSync) = nil error")
	}
}
