package main

import (
	"context"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/executor/ccxtx/fakebinance"
)

// klinesOf summarises the candle requests among reqs: how many, and the
// limit each asked for.
func klinesOf(reqs []fakebinance.Request) (n int, limits []int) {
	for _, r := range reqs {
		if r.Path == "/api/v3/klines" || r.Path == "/api/v3/uiKlines" {
			n++
			l, _ := strconv.Atoi(r.Params.Get("limit"))
			limits = append(limits, l)
		}
	}
	sort.Ints(limits)
	return n, limits
}

func byPath(reqs []fakebinance.Request) string {
	m := map[string]int{}
	for _, r := range reqs {
		m[r.Method+" "+r.Path]++
	}
	var lines []string
	for k, v := range m {
		lines = append(lines, k+" "+strconv.Itoa(v))
	}
	sort.Strings(lines)
	return strings.Join(lines, ", ")
}

func cachedCandles(t *testing.T) int {
	t.Helper()
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.CachedCandleCount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// candleCacheRuns runs `warden run --once` (args) cycles times against
// the fake Binance, a new Main each, and checks the candle cache: the
// first process fetches the whole window, each later one only what closed
// since (nothing within the same hour), the cache stays bounded, and the
// chain still verifies. It logs the requests per cycle (README).
func candleCacheRuns(t *testing.T, cfg string, args ...string) {
	fake, url := startFakeBinance(t, fakebinance.Options{})
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_API_KEY", fakeKey)
	t.Setenv("WARDEN_API_SECRET", fakeSecret)
	os.WriteFile("warden.yaml", []byte(cfg+"exchange: {base_url: "+url+"}\n"), 0o600)
	const cycles = 3
	var sizes []int
	for i := 0; i < cycles; i++ {
		hour := time.Now().UTC().Truncate(time.Hour)
		before := len(fake.Requests())
		code, out, errOut := runMain(t, append([]string{"run", "--once", "--config", "warden.yaml"}, args...)...)
		if code != 0 || !strings.Contains(out, "verdicts:") {
			t.Fatalf("cycle %d = exit %d\n%s\n%s", i, code, out, errOut)
		}
		if strings.Contains(errOut, "candle cache") {
			t.Errorf("cycle %d: %s", i, errOut)
		}
		reqs := fake.Requests()[before:]
		n, limits := klinesOf(reqs)
		t.Logf("process %d: %d exchange requests, %d klines (limits %v): %s", i+1, len(reqs), n, limits, byPath(reqs))
		sameHour := time.Now().UTC().Truncate(time.Hour).Equal(hour)
		switch {
		case i == 0:
			if n != 2 || limits[0] < 300 {
				t.Errorf("first process: klines limits %v; want the whole window for each of 2 symbols", limits)
			}
		case sameHour:
			// Every closed candle is cached: nothing to fetch.
			if n != 0 {
				t.Errorf("process %d, same hour: %d klines requests (limits %v); want none", i+1, n, limits)
			}
		default:
			// The hour turned between processes: one candle closed.
			for _, l := range limits {
				if l > 3 {
					t.Errorf("process %d after the hour: klines limits %v; want only the new candle(s)", i+1, limits)
				}
			}
		}
		sizes = append(sizes, cachedCandles(t))
	}
	// 2 symbols, the window + 24 each at most.
	max := 2 * (warmupCandles(config.Default()) + candleMargin)
	for i, n := range sizes {
		if n == 0 || n > max {
			t.Errorf("after process %d: %d candles cached; want some, at most %d", i+1, n, max)
		}
	}
	if code, out, errOut := runMain(t, "audit", "verify", "--db", "warden.db"); code != 0 {
		t.Fatalf("audit verify with a candle cache = %d\n%s\n%s", code, out, errOut)
	}
}

// TestCandleCacheLiveProcesses: mode live, run --once --live per cycle.
func TestCandleCacheLiveProcesses(t *testing.T) {
	candleCacheRuns(t, "mode: live\n", "--live")
}

// TestCandleCachePaperOnLiveData: paper.data: live, run --once per cycle
// (the paper account restored from the store gets its window back from
// the cache).
func TestCandleCachePaperOnLiveData(t *testing.T) {
	candleCacheRuns(t, "paper: {data: live}\n")
}
