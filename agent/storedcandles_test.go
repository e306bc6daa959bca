package agent_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
)

// liveSource serves bundled candles as a live exchange would at *now:
// those opened by then, the newest still forming. It records each
// request's since and limit.
type liveSource struct {
	cs    map[string][]executor.Candle
	now   *time.Time
	calls []call
}

type call struct {
	sym   string
	since time.Time
	limit int
	got   int
}

func (s *liveSource) OHLCV(_ context.Context, symbol, _ string, since time.Time, limit int) ([]executor.Candle, error) {
	var out []executor.Candle
	for _, c := range s.cs[symbol] {
		if !c.Time.Before(since) && !c.Time.After(*s.now) && len(out) < limit {
			out = append(out, c)
		}
	}
	s.calls = append(s.calls, call{symbol, since, limit, len(out)})
	return out, nil
}

func bundled(t *testing.T, syms ...string) map[string][]executor.Candle {
	t.Helper()
	m := map[string][]executor.Candle{}
	for _, s := range syms {
		cs, err := market.Bundled(s, "1h")
		if err != nil {
			t.Fatal(err)
		}
		m[s] = cs
	}
	return m
}

// cacheProcess is one process: a new store open on the same file and a
// new StoredCandles over src.
func cacheProcess(t *testing.T, db string, src *liveSource, exchange string) (*agent.StoredCandles, *audit.Store) {
	t.Helper()
	st, err := audit.Open(context.Background(), db, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &agent.StoredCandles{Src: src, Store: st, Exchange: exchange, Keep: 320, Now: func() time.Time { return *src.now },
		OnError: func(err error) { t.Errorf("candle cache: %v", err) }}, st
}

// window is the request a cycle makes at now: the warm-up window of 300
// hourly candles and the forming one.
func window(now time.Time) (time.Time, int) {
	return now.Truncate(time.Hour).Add(-300 * time.Hour), 302
}

// TestStoredCandlesAcrossProcesses: the first process fetches the whole
// window; a new process an hour later reads it from the store and fetches
// only what is newer than the last cached closed candle, and gets exactly
// what a full fetch gives.
func TestStoredCandlesAcrossProcesses(t *testing.T) {
	db := filepath.Join(t.TempDir(), "w.db")
	now := time.Date(2021, 9, 1, 12, 30, 0, 0, time.UTC)
	src := &liveSource{cs: bundled(t, "BTC/USDT"), now: &now}
	ctx := context.Background()
	for cycle := 0; cycle < 3; cycle++ {
		sc, st := cacheProcess(t, db, src, "binance")
		since, limit := window(now)
		src.calls = nil
		got, err := sc.OHLCV(ctx, "BTC/USDT", "1h", since, limit)
		if err != nil {
			t.Fatal(err)
		}
		calls := src.calls
		want, _ := src.OHLCV(ctx, "BTC/USDT", "1h", since, limit)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("cycle %d: %d candles differ from a full fetch's %d", cycle, len(got), len(want))
		}
		if len(calls) != 1 {
			t.Fatalf("cycle %d: %d requests; want 1", cycle, len(calls))
		}
		if cycle == 0 {
			if calls[0].limit != limit || calls[0].got != 301 {
				t.Errorf("first process asked %+v; want the whole window", calls[0])
			}
		} else {
			// The 11:00 (then 12:00 …) candle was open last cycle and not
			// cached: the request starts there, and brings it and the one
			// forming now.
			wantSince := now.Truncate(time.Hour).Add(-time.Hour)
			if !calls[0].since.Equal(wantSince) || calls[0].got != 2 {
				t.Errorf("cycle %d asked %+v; want from %s, 2 candles", cycle, calls[0], wantSince)
			}
		}
		// The forming candle is never in the store.
		cached, err := st.CachedCandles(ctx, audit.CandleKey{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: "1h"}, time.Hour, since, 0)
		if err != nil {
			t.Fatal(err)
		}
		if last := cached[len(cached)-1].Time; !last.Equal(now.Truncate(time.Hour).Add(-time.Hour)) {
			t.Errorf("cycle %d: newest cached candle opened %s; want the last closed one", cycle, last)
		}
		st.Close()
		now = now.Add(time.Hour)
	}
}

// TestStoredCandlesGapMeansFullFetch: a cache with a hole (or starting
// after the window's first candle) is not used.
func TestStoredCandlesGapMeansFullFetch(t *testing.T) {
	db := filepath.Join(t.TempDir(), "w.db")
	now := time.Date(2021, 9, 1, 12, 30, 0, 0, time.UTC)
	src := &liveSource{cs: bundled(t, "BTC/USDT"), now: &now}
	ctx := context.Background()
	sc, st := cacheProcess(t, db, src, "binance")
	since, limit := window(now)
	k := audit.CandleKey{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: "1h"}
	all, _ := src.OHLCV(ctx, "BTC/USDT", "1h", since, 300) // closed only
	gappy := append(append([]executor.Candle(nil), all[:100]...), all[101:]...)
	if err := st.PutCandles(ctx, k, time.Hour, gappy, now, since); err != nil {
		t.Fatal(err)
	}
	src.calls = nil
	got, err := sc.OHLCV(ctx, "BTC/USDT", "1h", since, limit)
	if err != nil {
		t.Fatal(err)
	}
	if len(src.calls) != 1 || !src.calls[0].since.Equal(since) || src.calls[0].limit != limit {
		t.Fatalf("with a gap in the cache: requests %+v; want one full fetch", src.calls)
	}
	want, _ := src.OHLCV(ctx, "BTC/USDT", "1h", since, limit)
	if !reflect.DeepEqual(got, want) {
		t.Fatal("candles differ from a full fetch's")
	}
	// The full fetch filled the hole: the next process is served from the
	// cache again.
	sc2, _ := cacheProcess(t, db, src, "binance")
	src.calls = nil
	if _, err := sc2.OHLCV(ctx, "BTC/USDT", "1h", since, limit); err != nil {
		t.Fatal(err)
	}
	if len(src.calls) != 1 || src.calls[0].limit != 2 {
		t.Fatalf("after the refill: requests %+v; want only the forming candle", src.calls)
	}

	// A cache that starts after the window's first candle (the window
	// moved back, or old rows were pruned) is not used either.
	db2 := filepath.Join(t.TempDir(), "w2.db")
	sc3, st3 := cacheProcess(t, db2, src, "binance")
	if err := st3.PutCandles(ctx, k, time.Hour, all[1:], now, since); err != nil {
		t.Fatal(err)
	}
	src.calls = nil
	if _, err := sc3.OHLCV(ctx, "BTC/USDT", "1h", since, limit); err != nil {
		t.Fatal(err)
	}
	if len(src.calls) != 1 || src.calls[0].limit != limit {
		t.Fatalf("cache not covering the window's start: requests %+v; want one full fetch", src.calls)
	}
}

// TestStoredCandlesKeyed: candles cached for one symbol, timeframe or
// exchange are never served for another.
func TestStoredCandlesKeyed(t *testing.T) {
	db := filepath.Join(t.TempDir(), "w.db")
	now := time.Date(2021, 9, 1, 12, 30, 0, 0, time.UTC)
	src := &liveSource{cs: bundled(t, "BTC/USDT", "ETH/USDT"), now: &now}
	ctx := context.Background()
	sc, _ := cacheProcess(t, db, src, "binance")
	since, limit := window(now)
	if _, err := sc.OHLCV(ctx, "BTC/USDT", "1h", since, limit); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ex, sym, tf string }{
		{"binance", "ETH/USDT", "1h"},
		{"binance", "BTC/USDT", "4h"},
		{"binance-sandbox", "BTC/USDT", "1h"},
	} {
		sc, _ := cacheProcess(t, db, src, c.ex)
		src.calls = nil
		got, err := sc.OHLCV(ctx, c.sym, c.tf, since, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(src.calls) != 1 || src.calls[0].limit != limit || src.calls[0].sym != c.sym {
			t.Errorf("%v: requests %+v; want one full fetch of %s", c, src.calls, c.sym)
		}
		if c.sym == "ETH/USDT" && (len(got) == 0 || got[0].Close != src.cs["ETH/USDT"][indexAt(src.cs["ETH/USDT"], since)].Close) {
			t.Errorf("ETH served something other than ETH's candles")
		}
	}
}

func indexAt(cs []executor.Candle, t time.Time) int {
	for i, c := range cs {
		if !c.Time.Before(t) {
			return i
		}
	}
	return len(cs) - 1
}

// TestStoredCandlesNeverCacheOpen: the store refuses a candle that had not
// closed when it is stored (at its close it is accepted), so the forming
// candle can never come back as closed.
func TestStoredCandlesNeverCacheOpen(t *testing.T) {
	st, err := audit.Open(context.Background(), filepath.Join(t.TempDir(), "w.db"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	k := audit.CandleKey{Exchange: "binance", Symbol: "BTC/USDT", Timeframe: "1h"}
	open := time.Date(2021, 9, 1, 12, 0, 0, 0, time.UTC)
	c := executor.Candle{Time: open, Open: 1, High: 2, Low: 1, Close: 2, Volume: 3}
	if err := st.PutCandles(ctx, k, time.Hour, []executor.Candle{c}, open.Add(time.Hour-time.Millisecond), open); err == nil {
		t.Fatal("a candle stored a millisecond before its close was accepted")
	}
	if n, _ := st.CachedCandleCount(ctx); n != 0 {
		t.Fatalf("%d candles cached after a refused put", n)
	}
	if err := st.PutCandles(ctx, k, time.Hour, []executor.Candle{c}, open.Add(time.Hour), open); err != nil {
		t.Fatalf("a candle stored at its close was refused: %v", err)
	}
	got, err := st.CachedCandles(ctx, k, time.Hour, open, 0)
	if err != nil || len(got) != 1 || got[0] != c {
		t.Fatalf("cached = %v, %v; want the candle back", got, err)
	}
	// Read with a longer step (a timeframe whose candle would still have
	// been open when stored), the row is not served.
	if got, _ := st.CachedCandles(ctx, k, 2*time.Hour, open, 0); len(got) != 0 {
		t.Fatalf("a row still open by its own step was served: %v", got)
	}
}

// TestStoredCandlesBounded: cycle after cycle (a new process each), the
// cache holds at most Keep candles per series.
func TestStoredCandlesBounded(t *testing.T) {
	db := filepath.Join(t.TempDir(), "w.db")
	now := time.Date(2021, 9, 1, 12, 30, 0, 0, time.UTC)
	src := &liveSource{cs: bundled(t, "BTC/USDT"), now: &now}
	ctx := context.Background()
	var sizes []int
	for cycle := 0; cycle < 60; cycle++ {
		sc, st := cacheProcess(t, db, src, "binance")
		since, limit := window(now)
		if _, err := sc.OHLCV(ctx, "BTC/USDT", "1h", since, limit); err != nil {
			t.Fatal(err)
		}
		n, err := st.CachedCandleCount(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, n)
		st.Close()
		now = now.Add(time.Hour)
	}
	for i, n := range sizes {
		if n > 320 {
			t.Fatalf("cycle %d: %d candles cached; want at most Keep=320 (sizes %v)", i, n, sizes)
		}
	}
	// Keep=320 over a window of 301 closed candles: the cache fills to
	// its bound and stays there.
	if sizes[len(sizes)-1] != 320 || sizes[len(sizes)-2] != 320 {
		t.Errorf("sizes %v; want the cache at its bound of 320", sizes[len(sizes)-5:])
	}
}

// TestLiveFeedRestoredFromStore: paper over live data, a new process per
// cycle (the paper account restored from the store, without its
// candles): the feed gives the restored account its warm-up window back
// from the candle cache, and asks the exchange only for the new candles.
func TestLiveFeedRestoredFromStore(t *testing.T) {
	db := filepath.Join(t.TempDir(), "w.db")
	now := time.Date(2021, 9, 1, 12, 30, 0, 0, time.UTC)
	src := &liveSource{cs: bundled(t, "BTC/USDT"), now: &now}
	ctx := context.Background()
	for cycle := 0; cycle < 3; cycle++ {
		sc, st := cacheProcess(t, db, src, "binance")
		px, err := paper.New(paper.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		saver, restored, err := agent.RestorePaper(ctx, st, px)
		if err != nil || restored != (cycle > 0) {
			t.Fatalf("cycle %d: restore = %v, %v", cycle, restored, err)
		}
		f, err := agent.NewLiveFeed(sc, px, []string{"BTC/USDT"}, "1h", 300)
		if err != nil {
			t.Fatal(err)
		}
		src.calls = nil
		if err := f.Advance(ctx, now); err != nil {
			t.Fatal(err)
		}
		fetched := 0
		for _, c := range src.calls {
			fetched += c.got
		}
		got, _ := px.OHLCV(ctx, "BTC/USDT", "1h", now.Add(-400*time.Hour), 1000)
		if len(got) < 300 || !got[len(got)-1].Time.Equal(now.Truncate(time.Hour).Add(-time.Hour)) {
			t.Fatalf("cycle %d: the paper account holds %d candles ending %s; want the warm-up window to the last closed", cycle, len(got), got[len(got)-1].Time)
		}
		if cycle > 0 && (len(src.calls) != 1 || fetched != 2) {
			t.Errorf("cycle %d: requests %+v; want one, for the 2 candles since the last cycle", cycle, src.calls)
		}
		if err := saver.Save(ctx); err != nil {
			t.Fatal(err)
		}
		st.Close()
		now = now.Add(time.Hour)
	}
}

// TestStoredCandlesClosedOnly: for a caller that uses closed candles only,
// a second process within the same candle asks the exchange nothing; once
// the next candle has closed (at its close, not a millisecond before), it
// asks for it.
func TestStoredCandlesClosedOnly(t *testing.T) {
	db := filepath.Join(t.TempDir(), "w.db")
	now := time.Date(2021, 9, 1, 12, 0, 0, 0, time.UTC)
	src := &liveSource{cs: bundled(t, "BTC/USDT"), now: &now}
	ctx := context.Background()
	run := func() []executor.Candle {
		sc, st := cacheProcess(t, db, src, "binance")
		defer st.Close()
		sc.ClosedOnly = true
		src.calls = nil
		since, limit := window(now)
		got, err := sc.OHLCV(ctx, "BTC/USDT", "1h", since, limit)
		if err != nil {
			t.Fatal(err)
		}
		return market.Closed(got, time.Hour, now)
	}
	first := run()
	now = now.Add(59*time.Minute + 59*time.Second + 999*time.Millisecond)
	again := run()
	if len(src.calls) != 0 {
		t.Fatalf("within the same candle: requests %+v; want none", src.calls)
	}
	if !reflect.DeepEqual(first, again) {
		t.Fatal("the cached closed candles differ from the first fetch's")
	}
	// Asked only for candles still forming: nothing to fetch.
	sc, st := cacheProcess(t, db, src, "binance")
	sc.ClosedOnly = true
	src.calls = nil
	if got, err := sc.OHLCV(ctx, "BTC/USDT", "1h", time.Date(2021, 9, 1, 12, 0, 0, 0, time.UTC), 3); err != nil || len(got) != 0 || len(src.calls) != 0 {
		t.Fatalf("asked for the forming candle only: %v, %v, requests %+v; want nothing, no request", got, err, src.calls)
	}
	st.Close()
	now = time.Date(2021, 9, 1, 13, 0, 0, 0, time.UTC)
	next := run()
	if len(src.calls) != 1 || src.calls[0].got != 2 {
		t.Fatalf("at the next close: requests %+v; want one bringing the new candle (and the forming one)", src.calls)
	}
	if last := next[len(next)-1].Time; !last.Equal(time.Date(2021, 9, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("newest closed candle %s; want 12:00", last)
	}
}
