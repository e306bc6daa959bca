package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/schemas"
)

func newPaperX(t *testing.T) *paper.Exchange {
	t.Helper()
	cfg := paper.DefaultConfig()
	cfg.Balances = map[string]decimal.Decimal{"USDT": decimal.NewFromInt(10000)}
	px, err := paper.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return px
}

// TestPaperAccountAcrossProcesses drives a paper account over the bundled
// replay for 200 cycles twice: once in one process, once with a new
// exchange and a new store open per cycle (restored from the checkpoint
// and deltas, the history fed again). Both accounts and their market data
// are the same at every cycle; a checkpoint is written every
// PaperCheckpointEvery deltas, and no record holds market history.
func TestPaperAccountAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "w.db")
	start := time.Date(2022, 6, 1, 0, 0, 0, 0, time.UTC)
	symbols := []string{"BTC/USDT", "ETH/USDT"}
	const warmup = 100

	ref := newPaperX(t)
	refReplay, err := agent.NewPaperReplay(ref, symbols, "1h", warmup)
	if err != nil {
		t.Fatal(err)
	}
	order := func(x *paper.Exchange, i int) {
		t.Helper()
		// Every 7th cycle a resting buy below the market; every 11th a cancel.
		if i%7 == 3 {
			tk, err := x.Ticker(ctx, "BTC/USDT")
			if err != nil {
				t.Fatal(err)
			}
			px := tk.Bid.Mul(decimal.RequireFromString("0.995")).Round(2)
			if _, err := x.PlaceOrder(ctx, executor.OrderRequest{ClientOrderID: "o" + string(rune('a'+i%26)) + decimal.NewFromInt(int64(i)).String(),
				Symbol: "BTC/USDT", Side: schemas.SideBuy, Type: executor.TypeLimit, Quantity: decimal.RequireFromString("0.001"), Price: px}); err != nil {
				t.Fatal(err)
			}
		}
		if i%11 == 10 {
			open, _ := x.OpenOrders(ctx, "BTC/USDT")
			if len(open) > 0 {
				if _, err := x.CancelOrder(ctx, "BTC/USDT", open[0].ClientOrderID); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for i := 0; i < 200; i++ {
		if _, err := refReplay.Advance(start); err != nil {
			t.Fatal(err)
		}
		order(ref, i)

		// A new process: a new store, a new exchange restored, a new replay.
		st, err := audit.Open(ctx, db, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		px := newPaperX(t)
		saver, restored, err := agent.RestorePaper(ctx, st, px)
		if err != nil {
			t.Fatalf("cycle %d: RestorePaper: %v", i, err)
		}
		if restored != (i > 0) {
			t.Fatalf("cycle %d: restored = %v", i, restored)
		}
		rp, err := agent.NewPaperReplay(px, symbols, "1h", warmup)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rp.Advance(start); err != nil {
			t.Fatalf("cycle %d: Advance: %v", i, err)
		}
		order(px, i)
		if err := saver.Save(ctx); err != nil {
			t.Fatal(err)
		}
		want, _ := ref.MarshalState()
		got, _ := px.MarshalState()
		if !bytes.Equal(got, want) {
			t.Fatalf("cycle %d: account across processes:\n%s\nwant:\n%s", i, got, want)
		}
		for _, sym := range symbols {
			a, _ := ref.OHLCV(ctx, sym, "", time.Time{}, warmup)
			b, _ := px.OHLCV(ctx, sym, "", time.Time{}, warmup)
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if !bytes.Equal(ja, jb) {
				t.Fatalf("cycle %d: %s candles across processes differ (%d vs %d)", i, sym, len(b), len(a))
			}
			ta, _ := ref.Ticker(ctx, sym)
			tb, _ := px.Ticker(ctx, sym)
			if !ta.QuoteVolume24h.Equal(tb.QuoteVolume24h) || !ta.Time.Equal(tb.Time) {
				t.Fatalf("cycle %d: %s ticker %+v; want %+v", i, sym, tb, ta)
			}
		}
		st.Close()
	}
	st, err := audit.Open(ctx, db, audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cp, deltas, ok, err := st.PaperStateChain(ctx)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	// 1 checkpoint + 168 deltas + 1 checkpoint + 31 deltas.
	if len(deltas) != 200-1-agent.PaperCheckpointEvery-1 {
		t.Errorf("%d deltas after the newest checkpoint; want %d", len(deltas), 200-2-agent.PaperCheckpointEvery)
	}
	for _, b := range append([][]byte{cp}, deltas...) {
		if n := bytes.Count(b, []byte(`"close"`)); n > len(symbols) {
			t.Fatalf("a saved state holds %d candles; want at most one per market", n)
		}
	}
}

type failingPaperStore struct {
	agent.PaperStore
	fail   bool
	states []string
}

func (f *failingPaperStore) SavePaperCheckpoint(ctx context.Context, b []byte) error {
	if f.fail {
		return errors.New("disk full")
	}
	f.states = append(f.states, "checkpoint")
	return nil
}

func (f *failingPaperStore) SavePaperDelta(ctx context.Context, b []byte) error {
	if f.fail {
		return errors.New("disk full")
	}
	f.states = append(f.states, "delta")
	return nil
}

func (f *failingPaperStore) PaperStateChain(context.Context) ([]byte, [][]byte, bool, error) {
	return nil, nil, false, nil
}

// TestPaperSaveFailureCheckpointsNext: a delta that could not be written
// is not lost: the next save is a whole checkpoint; nothing is saved when
// nothing changed.
func TestPaperSaveFailureCheckpointsNext(t *testing.T) {
	ctx := context.Background()
	px := newPaperX(t)
	fs := &failingPaperStore{}
	saver, _, err := agent.RestorePaper(ctx, fs, px)
	if err != nil {
		t.Fatal(err)
	}
	feed := func(h int) {
		c := executor.Candle{Time: time.Date(2024, 1, 1, h, 0, 0, 0, time.UTC), Open: 1, High: 1, Low: 1, Close: 1, Volume: 1}
		if err := px.OnCandle("BTC/USDT", c); err != nil {
			t.Fatal(err)
		}
	}
	feed(0)
	saver.Save(ctx)
	feed(1)
	saver.Save(ctx)
	saver.Save(ctx) // nothing changed
	fs.fail = true
	feed(2)
	if err := saver.Save(ctx); err == nil {
		t.Fatal("Save on a failing store: error = nil")
	}
	fs.fail = false
	saver.Save(ctx) // nothing changed since, but the failed delta must reach the disk
	want := []string{"checkpoint", "delta", "checkpoint"}
	if len(fs.states) != len(want) || fs.states[2] != "checkpoint" {
		t.Errorf("saved %v; want %v", fs.states, want)
	}
}
