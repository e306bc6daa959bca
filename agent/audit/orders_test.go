package audit

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

func orderEvent(id string, st schemas.OrderState, at time.Time) schemas.OrderEvent {
	return schemas.OrderEvent{
		ClientOrderID: id,
		DecisionID:    "run-1:0",
		Role:          "entry",
		State:         st,
		Symbol:        "BTC/USDT",
		Side:          schemas.SideBuy,
		Type:          "limit",
		Quantity:      decimal.RequireFromString("0.01000"),
		Price:         decimal.RequireFromString("42000.5"),
		At:            at,
	}
}

func TestJournal(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, path := openTest(t, Options{Clock: clk.Now})
	t0 := clk.Now()

	// a: intent -> submitted -> acknowledged (open)
	// b: intent -> submitted -> filled (final)
	// c: intent -> unknown (open)
	// d: intent -> rejected (final)
	steps := []schemas.OrderEvent{
		orderEvent("a", schemas.OrderIntent, t0),
		orderEvent("b", schemas.OrderIntent, t0.Add(1*time.Second)),
		orderEvent("a", schemas.OrderSubmitted, t0.Add(2*time.Second)),
		orderEvent("c", schemas.OrderIntent, t0.Add(3*time.Second)),
		orderEvent("b", schemas.OrderSubmitted, t0.Add(4*time.Second)),
		orderEvent("d", schemas.OrderIntent, t0.Add(5*time.Second)),
		orderEvent("c", schemas.OrderUnknown, t0.Add(6*time.Second)),
		orderEvent("b", schemas.OrderFilled, t0.Add(7*time.Second)),
		orderEvent("d", schemas.OrderRejected, t0.Add(8*time.Second)),
		orderEvent("a", schemas.OrderAcknowledged, t0.Add(9*time.Second)),
	}
	steps[7].FilledQty = decimal.RequireFromString("0.01")
	steps[7].AvgPrice = decimal.RequireFromString("41999.9")
	for _, ev := range steps {
		if err := s.AppendOrderEvent(ctx, ev); err != nil {
			t.Fatalf("AppendOrderEvent(%s %s) = %v", ev.ClientOrderID, ev.State, err)
		}
	}

	check := func(s *Store) {
		t.Helper()
		open, err := s.OpenOrderEvents(ctx)
		if err != nil {
			t.Fatalf("OpenOrderEvents() = %v", err)
		}
		var got []string
		for _, ev := range open {
			got = append(got, ev.ClientOrderID+"/"+string(ev.State))
		}
		want := []string{"a/acknowledged", "c/unknown"}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("OpenOrderEvents() = %v; want %v", got, want)
		}

		ev, ok, err := s.LastOrderEvent(ctx, "b")
		if err != nil || !ok {
			t.Fatalf("LastOrderEvent(%q) = %v, %v, %v", "b", ev, ok, err)
		}
		if ev.State != schemas.OrderFilled || !ev.FilledQty.Equal(decimal.RequireFromString("0.01")) || !ev.AvgPrice.Equal(decimal.RequireFromString("41999.9")) {
			t.Errorf("LastOrderEvent(%q) = %+v; want filled 0.01 @ 41999.9", "b", ev)
		}
		if !ev.At.Equal(t0.Add(7*time.Second)) || ev.Quantity.String() != "0.01" || ev.DecisionID != "run-1:0" {
			t.Errorf("LastOrderEvent(%q) = %+v; want round trip of the appended event", "b", ev)
		}
		if _, ok, err := s.LastOrderEvent(ctx, "nope"); ok || err != nil {
			t.Errorf("LastOrderEvent(%q) = _, %v, %v; want false, nil", "nope", ok, err)
		}

		hist, err := s.OrderHistory(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		var states []schemas.OrderState
		for _, ev := range hist {
			states = append(states, ev.State)
		}
		if len(states) != 3 || states[0] != schemas.OrderIntent || states[2] != schemas.OrderAcknowledged {
			t.Errorf("OrderHistory(%q) = %v; want intent, submitted, acknowledged", "a", states)
		}
	}
	check(s)

	n, err := s.OrdersSince(ctx, t0.Add(time.Second))
	if err != nil || n != 3 {
		t.Errorf("OrdersSince(t0+1s) = %d, %v; want 3, nil", n, err)
	}

	// The journal survives a reopen.
	s.Close()
	check(openAt(t, path, Options{Clock: clk.Now}))
}

func TestJournalRejectsBadEvents(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	for _, ev := range []schemas.OrderEvent{
		{State: schemas.OrderIntent},
		{ClientOrderID: "x"},
	} {
		if err := s.AppendOrderEvent(ctx, ev); err == nil {
			t.Errorf("AppendOrderEvent(%+v) = nil; want an error", ev)
		}
	}
}

func TestRecordFill(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, Options{})
	if err := s.AppendOrderEvent(ctx, orderEvent("a", schemas.OrderIntent, time.Time{})); err != nil {
		t.Fatal(err)
	}
	tr := executor.Trade{ID: "t1", ClientOrderID: "a", Symbol: "BTC/USDT", Side: schemas.SideBuy,
		Price: decimal.RequireFromString("42000"), Quantity: decimal.RequireFromString("0.004"),
		Fee: decimal.RequireFromString("0.01"), FeeCurrency: "USDT", Time: newClock().Now()}
	for i, want := range []bool{true, false} {
		got, err := s.RecordFill(ctx, tr)
		if err != nil || got != want {
			t.Errorf("RecordFill #%d = %v, %v; want %v, nil", i, got, err, want)
		}
	}
	tr.ID = "t2"
	if _, err := s.RecordFill(ctx, tr); err != nil {
		t.Fatal(err)
	}
	fills, err := s.Fills(ctx, "a")
	if err != nil || len(fills) != 2 || fills[0].ID != "t1" || !fills[1].Quantity.Equal(tr.Quantity) {
		t.Errorf("Fills(a) = %+v, %v; want t1, t2", fills, err)
	}
}
