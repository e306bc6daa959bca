package paper_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/schemas"
)

// TestCheckpointAndDeltasRestoreExactly saves a checkpoint, then a delta
// after every step of an account's life (orders placed, partly filled,
// filled, cancelled, quiet candles); a fresh account restored from the
// checkpoint and the deltas is the same account, and no state holds more
// than one candle per market.
func TestCheckpointAndDeltasRestoreExactly(t *testing.T) {
	x := newPaper(t, nil)
	cp, err := x.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	var deltas [][]byte
	save := func() {
		t.Helper()
		d, err := x.MarshalDelta()
		if err != nil {
			t.Fatalf("MarshalDelta() error = %v", err)
		}
		if d != nil {
			deltas = append(deltas, d)
		}
	}
	place(t, x, limit("b1", schemas.SideBuy, "0.05", "49000"))
	save()
	feed(t, x, candle(60, 49500, 49500, 48900, 49000, 0.2)) // partial 0.02
	save()
	place(t, x, limit("b2", schemas.SideBuy, "0.01", "40000"))
	save()
	for i := 2; i < 30; i++ {
		feed(t, x, candle(60*i, 49500, 49600, 48900, 49500, 10))
		save()
	}
	if _, err := x.CancelOrder(context.Background(), btc, "b2"); err != nil {
		t.Fatal(err)
	}
	save()
	n := len(deltas)
	save() // nothing changed
	if len(deltas) != n {
		t.Fatalf("MarshalDelta() with nothing changed = %s; want nil", deltas[n])
	}
	for i, d := range append([][]byte{cp}, deltas...) {
		if c := strings.Count(string(d), `"close"`); c > 1 {
			t.Errorf("state %d holds %d candles; want at most one per market:\n%s", i, c, d)
		}
	}

	y := newPaper(t, nil)
	if err := y.RestoreState(cp); err != nil {
		t.Fatal(err)
	}
	for i, d := range deltas {
		if err := y.ApplyDelta(d); err != nil {
			t.Fatalf("ApplyDelta(%d) error = %v\n%s", i, err, d)
		}
	}
	want, _ := x.MarshalState()
	got, _ := y.MarshalState()
	if !bytes.Equal(got, want) {
		t.Fatalf("restored account:\n%s\nwant:\n%s", got, want)
	}
	if r := fetch(t, y, "b1"); r.Status != schemas.OrderFilled {
		t.Errorf("b1 = %s; want filled", r.Status)
	}
	if r := fetch(t, y, "b2"); r.Status != schemas.OrderCancelled {
		t.Errorf("b2 = %s; want canceled", r.Status)
	}
	// The restored account goes on exactly like the original.
	for _, z := range []*paper.Exchange{x, y} {
		place(t, z, limit("b3", schemas.SideBuy, "0.02", "49400"))
		feed(t, z, candle(60*30, 49500, 49500, 49300, 49400, 10))
	}
	want, _ = x.MarshalState()
	got, _ = y.MarshalState()
	if !bytes.Equal(got, want) {
		t.Fatalf("after one more fill, restored account:\n%s\nwant:\n%s", got, want)
	}
}

// TestDeltaRefusedChangesNothing: a delta that does not fit the account
// (clock going back, unknown market, not JSON, a checkpoint) is refused and
// the account stays as it was.
func TestDeltaRefusedChangesNothing(t *testing.T) {
	x := newPaper(t, nil)
	place(t, x, limit("b1", schemas.SideBuy, "0.05", "49000"))
	feed(t, x, candle(60, 49500, 49500, 49400, 49500, 1))
	before, _ := x.MarshalState()
	cp := before
	for _, bad := range []string{
		`not json`,
		string(cp), // a checkpoint is not a delta
		`{"version":2,"delta":true,"now":"2025-01-01T00:00:00Z"}`,
		`{"version":2,"delta":true,"now":"2026-01-01T02:00:00Z","seq":9,"trade_seq":0,"books":{"XRP/USDT":{"interval":3600000000000}}}`,
		`{"version":2,"delta":true,"now":"2026-01-01T02:00:00Z","seq":9,"trade_seq":0,"orders":[null]}`,
		`{"version":2,"delta":true,"now":"2026-01-01T02:00:00Z","seq":9,"trade_seq":0,"balances":{"USDT":{"free":"-1","locked":"0"}}}`,
		`{"version":2,"delta":true,"now":"2026-01-01T02:00:00Z","seq":0,"trade_seq":0}`,
	} {
		if err := x.ApplyDelta([]byte(bad)); err == nil {
			t.Errorf("ApplyDelta(%.80s) error = nil; want refused", bad)
		}
		after, _ := x.MarshalState()
		if !bytes.Equal(after, before) {
			t.Fatalf("ApplyDelta(%.80s) refused but changed the account:\n%s\nwas:\n%s", bad, after, before)
		}
	}
	if err := x.RestoreState([]byte(`{"version":2,"delta":true,"now":"2026-01-01T02:00:00Z"}`)); err == nil {
		t.Errorf("RestoreState(delta) error = nil; want refused")
	}
	// The open order still fills on the next candle.
	feed(t, x, candle(120, 49000, 49000, 48000, 48500, 10))
	if r := fetch(t, x, "b1"); r.Status != schemas.OrderFilled {
		t.Errorf("b1 after refused deltas = %s; want filled", r.Status)
	}
}

// TestRestoredBookTakesItsHistoryAgain: an account restored without its
// candles says up to when its feed must give them again; those candles are
// history (a resting order that they would have filled is not filled twice,
// the fill budget of the newest candle is kept), and afterwards the market
// data and the next fills are those of the account that never stopped.
func TestRestoredBookTakesItsHistoryAgain(t *testing.T) {
	mod := func(c *paper.Config) { c.ParticipationRate = 0.1 }
	x := newPaper(t, mod)
	var cs []executor.Candle
	for i := 1; i <= 40; i++ {
		c := candle(60*i, 50000, 50100, 49900, 50000+float64(i), 5+float64(i%3))
		cs = append(cs, c)
		feed(t, x, c)
	}
	// A buy that fills only part of its size on the last candle (budget 0.1×0.5).
	place(t, x, limit("b1", schemas.SideBuy, "0.1", "49950"))
	feed(t, x, candle(60*41, 50000, 50100, 49900, 50000, 0.5))
	cs = append(cs, candle(60*41, 50000, 50100, 49900, 50000, 0.5))
	if r := fetch(t, x, "b1"); !r.FilledQty.Equal(d("0.05")) {
		t.Fatalf("b1 filled %s; want 0.05", r.FilledQty)
	}
	cp, _ := x.MarshalState()

	y := newPaper(t, mod)
	if err := y.RestoreState(cp); err != nil {
		t.Fatal(err)
	}
	if got := y.HistoryUntil(btc); !got.Equal(cs[len(cs)-1].Time) {
		t.Fatalf("HistoryUntil = %s; want the newest candle %s", got, cs[len(cs)-1].Time)
	}
	// The newest candle alone serves the ticker until the history comes.
	if tk, err := y.Ticker(context.Background(), btc); err != nil || tk.Last.String() != "50000" {
		t.Fatalf("restored ticker = %+v, %v", tk, err)
	}
	for _, c := range cs[len(cs)-30:] {
		feed(t, y, c)
	}
	if got := y.HistoryUntil(btc); !got.IsZero() {
		t.Errorf("HistoryUntil after the backfill = %s; want zero", got)
	}
	if r := fetch(t, y, "b1"); !r.FilledQty.Equal(d("0.05")) {
		t.Fatalf("b1 after the history = %s filled; want 0.05 still (history is not matched)", r.FilledQty)
	}
	// Within the window given again, the market data is the same.
	ax, _ := x.OHLCV(context.Background(), btc, "", time.Time{}, 30)
	ay, _ := y.OHLCV(context.Background(), btc, "", time.Time{}, 30)
	jx, _ := json.Marshal(ax)
	jy, _ := json.Marshal(ay)
	if !bytes.Equal(jx, jy) {
		t.Errorf("restored OHLCV:\n%s\nwant:\n%s", jy, jx)
	}
	tx, _ := x.Ticker(context.Background(), btc)
	ty, _ := y.Ticker(context.Background(), btc)
	if !tx.QuoteVolume24h.Equal(ty.QuoteVolume24h) || !tx.Bid.Equal(ty.Bid) || !tx.Time.Equal(ty.Time) {
		t.Errorf("restored ticker = %+v; want %+v", ty, tx)
	}
	// An older history candle out of order is refused.
	z := newPaper(t, mod)
	if err := z.RestoreState(cp); err != nil {
		t.Fatal(err)
	}
	feed(t, z, cs[10])
	if err := z.OnCandle(btc, cs[5]); err == nil {
		t.Errorf("history candle older than the one before it: error = nil; want refused")
	}
	// The next candle fills the rest on both, identically.
	next := candle(60*42, 50000, 50100, 49900, 50000, 10)
	feed(t, x, next)
	feed(t, y, next)
	want, _ := x.MarshalState()
	got, _ := y.MarshalState()
	if !bytes.Equal(got, want) {
		t.Fatalf("after the next candle, restored account:\n%s\nwant:\n%s", got, want)
	}
	if r := fetch(t, y, "b1"); !r.FilledQty.Equal(d("0.1")) {
		t.Errorf("b1 after the next candle = %s; want 0.1", r.FilledQty)
	}
}

// TestVersion1SnapshotStillRestores: a database written before the compact
// format holds version 1 snapshots with every candle.
func TestVersion1SnapshotStillRestores(t *testing.T) {
	v1 := `{"version":1,"now":"2026-01-01T01:00:00Z","balances":{"USDT":{"free":"10000","locked":"0"}},"orders":null,"trades":null,"seq":0,"trade_seq":0,` +
		`"books":{"BTC/USDT":{"candles":[{"time":"2026-01-01T00:00:00Z","open":1,"high":2,"low":1,"close":2,"volume":3},{"time":"2026-01-01T01:00:00Z","open":2,"high":3,"low":2,"close":3,"volume":4}],"interval":3600000000000,"used_vol":0}}}`
	x := newPaper(t, nil)
	if err := x.RestoreState([]byte(v1)); err != nil {
		t.Fatal(err)
	}
	cs, _ := x.OHLCV(context.Background(), btc, "", time.Time{}, 0)
	if len(cs) != 2 || cs[1].Close != 3 {
		t.Fatalf("OHLCV after a v1 restore = %+v; want both candles", cs)
	}
	if !x.HistoryUntil(btc).IsZero() {
		t.Errorf("a v1 restore needs no history")
	}
}
