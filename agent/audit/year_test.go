package audit

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// yearLong runs TestSimulatedYear over 365 days with 90 days' retention:
//
//	go test ./agent/audit -run TestSimulatedYear -year.long -v
var yearLong = flag.Bool("year.long", false, "TestSimulatedYear: a whole year of hourly cycles (8,760) with 90 days' retention")

// yearFixture is one cycle's material: an OpenAI request and response of
// real size (the rendered prompts and a recorded completion), varied at
// every cycle as market data is.
type yearFixture struct {
	system, user, response string
	schema                 map[string]any
}

func loadYearFixture(t *testing.T) yearFixture {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "year", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var schema map[string]any
	if err := json.Unmarshal(schemas.ResponseSchema(), &schema); err != nil {
		t.Fatal(err)
	}
	return yearFixture{system: read("system.golden"), user: read("user.golden"), response: read("good.json"), schema: schema}
}

// request is the body the OpenAI client sends at cycle i.
func (f yearFixture) request(i int, now time.Time) string {
	price := fmt.Sprintf("%d.%02d", 30000+(i*37)%9000, i%100)
	user := strings.ReplaceAll(f.user, "36596.62", price)
	user = strings.ReplaceAll(user, "2021-06-01T12:00:00Z", now.Format(time.RFC3339))
	b, _ := json.Marshal(map[string]any{
		"model":           "gpt-4o-2024-08-06",
		"messages":        []map[string]string{{"role": "system", "content": f.system}, {"role": "user", "content": user}},
		"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "warden_response", "strict": true, "schema": f.schema}},
		"max_tokens":      1200,
		"temperature":     0,
	})
	return string(b)
}

func (f yearFixture) reply(i int) string {
	r := strings.Replace(f.response, "chatcmpl-ABfvbtVnTu5DeC4EFnRYj8mtfOM99", fmt.Sprintf("chatcmpl-year%08d", i), 1)
	return strings.Replace(r, "42010.5", fmt.Sprintf("%d.5", 30000+(i*37)%9000), 1)
}

// yearVerdicts are two verdicts as the default policy gives them: every
// rule's result listed.
func yearVerdicts(i int) []schemas.Verdict {
	rules := make([]schemas.RuleResult, 21)
	for r := range rules {
		rules[r] = schemas.RuleResult{Name: fmt.Sprintf("rule_%02d_%s", r, strings.Repeat("x", 8)), Mode: "enforce", Passed: true}
	}
	vs := testVerdicts()
	vs[0].Rules, vs[1].Rules = rules, append(append([]schemas.RuleResult(nil), rules[:20]...), vs[1].Rules...)
	vs[0].Order.Price = decimal.NewFromInt(int64(30000 + (i*37)%9000))
	return vs
}

type yearFigures struct {
	cycles, liveCycles, archivedCycles int
	liveBytes, archiveBytes            int64
	archives                           int
	listLatency, openListLatency       time.Duration
	verify                             time.Duration
	verifyRecords                      int64
	peakHeap                           uint64
	maxRSSKB                           int64
	elapsed                            time.Duration
}

// TestSimulatedYear drives hourly cycles of an LLM agent through the real
// store (a new store each day, as a restarted process; every cycle's run,
// model call with the full prompt, response, verdicts, equity, paper
// delta, end; an order with its journal once a day; a paper checkpoint
// weekly), archiving at the first cycle of each day the records older
// than the retention, as `warden run` does with audit.retention. It
// reports the live database's size, the archives' size, `audit list
// --since 24h` latency, a full verify (archives and live) and memory.
// By default 30 days with 7 days' retention (bytes per cycle asserted);
// with -year.long 365 days with 90 days' retention (the targets
// asserted: live database < 200 MB, list < 100 ms, verify < 10 s).
func TestSimulatedYear(t *testing.T) {
	days, retention := 30, 7
	if *yearLong {
		days, retention = 365, 90
	} else if testing.Short() {
		t.Skip("short")
	}
	fx := loadYearFixture(t)
	ctx := context.Background()
	dir := t.TempDir()
	path, archDir := filepath.Join(dir, "warden.db"), filepath.Join(dir, "archive")
	clk := &fakeClock{t: time.Date(2025, 1, 1, 0, 30, 0, 0, time.UTC)}
	var fig yearFigures
	var ms runtime.MemStats
	start := time.Now()
	var s *Store
	open := func() {
		var err error
		if s, err = Open(ctx, path, Options{Clock: clk.Now, Secrets: []string{"sk-year-secret-0123456789"}}); err != nil {
			t.Fatal(err)
		}
	}
	paperDelta := []byte(`{"v":2,"delta":true,"clock":"` + strings.Repeat("0", 20) + `","balances":{"USDT":{"free":"9200.5","used":"0"},"BTC":{"free":"0.00476","used":"0"}},"books":{"BTC/USDT":{"newest":1735689600000}}}`)
	checkpoint := []byte(`{"v":2,"checkpoint":true,"orders":[` + strings.Repeat(`{"id":"o","symbol":"BTC/USDT","side":"buy","status":"closed","amount":"0.00476","price":"42000"},`, 30) + `{}]}`)
	for i := 0; i < days*24; i++ {
		now := clk.Now()
		if i%24 == 0 {
			if s != nil {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			open()
			before := now.Add(-time.Duration(retention) * 24 * time.Hour).Truncate(24 * time.Hour)
			if _, err := s.Archive(ctx, ArchiveOptions{Before: before, Dir: archDir}); err != nil {
				t.Fatalf("day %d: archive: %v", i/24, err)
			}
			runtime.ReadMemStats(&ms)
			fig.peakHeap = max(fig.peakHeap, ms.HeapAlloc)
		}
		id := fmt.Sprintf("run-%06d", i)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("cycle %d: %v", i, err)
			}
		}
		must(s.BeginRun(ctx, Run{ID: id, StartedAt: now, Mode: "paper", Advisor: "openai", Model: "gpt-4o-2024-08-06", PolicyHash: "pol-3f2a", PromptHashes: map[string]string{"system": "a1b2c3d4", "user": "e5f6a7b8"}}))
		must(s.RecordLLMCall(ctx, LLMCall{RunID: id, Attempt: 1, At: now, Advisor: "openai", Model: "gpt-4o-2024-08-06", Request: fx.request(i, now), Response: fx.reply(i),
			HTTPStatus: 200, Status: "ok", Latency: 2100 * time.Millisecond, PromptTokens: 1850, CompletionTokens: 210, TotalTokens: 2060, FinishReason: "stop", Purpose: "initial"}))
		raw, _ := json.Marshal(testResponse())
		must(s.RecordResponse(ctx, id, raw, testResponse(), nil))
		st := testState(now)
		st.Markets["BTC/USDT"] = schemas.Market{Bid: decimal.NewFromInt(int64(30000 + (i*37)%9000)), Ask: decimal.NewFromInt(int64(30001 + (i*37)%9000)), Last: decimal.NewFromInt(int64(30000 + (i*37)%9000)), AmountStep: dec("0.00001"), PriceStep: dec("0.01"), MinNotional: dec("5")}
		_, err := s.RecordVerdicts(ctx, id, "pol-3f2a", st, yearVerdicts(i))
		must(err)
		must(s.RecordEquity(ctx, now, decimal.NewFromInt(int64(10000+(i*13)%700))))
		if i%24 == 5 {
			ev := orderEvent(fmt.Sprintf("wd-%06d", i), schemas.OrderIntent, now)
			ev.DecisionID = id + ":0"
			for _, state := range []schemas.OrderState{schemas.OrderIntent, schemas.OrderSubmitted, schemas.OrderFilled} {
				ev.State = state
				must(s.AppendOrderEvent(ctx, ev))
			}
		}
		if i%168 == 0 {
			must(s.SavePaperCheckpoint(ctx, checkpoint))
		} else {
			must(s.SavePaperDelta(ctx, paperDelta))
		}
		must(s.EndRun(ctx, id, "ok", map[string]any{"verdicts": 2, "approved": 1}))
		clk.Advance(time.Hour)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fig.elapsed = time.Since(start)
	fig.cycles = days * 24
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			fig.liveBytes += fi.Size()
		}
	}
	files, _ := filepath.Glob(filepath.Join(archDir, "*"))
	for _, p := range files {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		fig.archiveBytes += fi.Size()
		fig.archives++
	}

	// audit list --since 24h: a read-only open and the list, as the CLI.
	t0 := time.Now()
	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	t1 := time.Now()
	rows, err := ro.List(ctx, Filter{From: clk.Now().Add(-24 * time.Hour)})
	fig.listLatency = time.Since(t1)
	fig.openListLatency = time.Since(t0)
	if err != nil || len(rows) != 48 {
		t.Fatalf("list --since 24h: %d rows, %v; want 48 (24 cycles, 2 verdicts each)", len(rows), err)
	}
	var liveRuns int
	if err := ro.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM records WHERE kind = 'run'`).Scan(&liveRuns); err != nil {
		t.Fatal(err)
	}
	fig.liveCycles, fig.archivedCycles = liveRuns, fig.cycles-liveRuns

	// A full verify: every archive and the live database, one chain.
	t0 = time.Now()
	rep, err := ro.VerifyArchives(ctx, archDir, VerifyOptions{})
	fig.verify = time.Since(t0)
	if err != nil || !rep.OK {
		t.Fatalf("verify --archive: %+v, %v", rep, err)
	}
	fig.verifyRecords = rep.Records

	// audit list --archive DIR --since 180d: the archives and the live
	// database read as one.
	t0 = time.Now()
	merged, err := ro.WithArchives(ctx, archDir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer merged.Close()
	mergeTime := time.Since(t0)
	t1 = time.Now()
	old, err := merged.List(ctx, Filter{From: clk.Now().Add(-180 * 24 * time.Hour), Limit: 100000})
	if err != nil || len(old) != 2*24*min(180, days) {
		t.Fatalf("list --archive --since 180d: %d rows, %v; want %d", len(old), err, 2*24*min(180, days))
	}
	t.Logf("audit list --archive --since 180d: %d decisions in %v (merging the archives and the database: %v)", len(old), (mergeTime + time.Since(t1)).Round(time.Millisecond), mergeTime.Round(time.Millisecond))
	runtime.ReadMemStats(&ms)
	fig.peakHeap = max(fig.peakHeap, ms.HeapAlloc)
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		fig.maxRSSKB = ru.Maxrss
	}

	perLive := fig.liveBytes / int64(max(fig.liveCycles, 1))
	perArch := fig.archiveBytes / int64(max(fig.archivedCycles, 1))
	t.Logf("simulated %d days (%d hourly cycles) with %dd retention in %v", days, fig.cycles, retention, fig.elapsed.Round(time.Millisecond))
	t.Logf("live database %.1f MB (db+WAL) holding %d cycles: %d B/cycle", float64(fig.liveBytes)/1e6, fig.liveCycles, perLive)
	t.Logf("archives %.1f MB in %d files holding %d cycles: %d B/cycle", float64(fig.archiveBytes)/1e6, fig.archives, fig.archivedCycles, perArch)
	t.Logf("audit list --since 24h: %v (open read-only + list: %v)", fig.listLatency.Round(time.Microsecond), fig.openListLatency.Round(time.Microsecond))
	t.Logf("full verify (archives + live, %d records): %v", fig.verifyRecords, fig.verify.Round(time.Millisecond))
	t.Logf("memory: peak heap sampled %.1f MB, max RSS %.1f MB", float64(fig.peakHeap)/(1<<20), float64(fig.maxRSSKB)/1024)

	if fig.archives == 0 || fig.archivedCycles <= 0 {
		t.Fatalf("nothing archived over %d days with %dd retention", days, retention)
	}
	// The live database holds the retention and the current day at most.
	if max := (retention + 2) * 24; fig.liveCycles > max {
		t.Errorf("live database holds %d cycles; want at most %d with %dd retention", fig.liveCycles, max, retention)
	}
	if perLive > yearLiveBytesPerCycle {
		t.Errorf("live database: %d B per cycle; want at most %d", perLive, yearLiveBytesPerCycle)
	}
	if perArch > yearArchiveBytesPerCycle {
		t.Errorf("archives: %d B per archived cycle; want at most %d", perArch, yearArchiveBytesPerCycle)
	}
	if *yearLong {
		if fig.liveBytes > 200e6 {
			t.Errorf("live database %d bytes after a year; want < 200 MB", fig.liveBytes)
		}
		if fig.openListLatency > 100*time.Millisecond {
			t.Errorf("audit list --since 24h took %v; want < 100 ms", fig.openListLatency)
		}
		if fig.verify > 10*time.Second {
			t.Errorf("full verify took %v; want < 10 s", fig.verify)
		}
	}
}

// The simulated year's size budgets per cycle (README "How big the store
// grows"). The live database's counts the pages archiving freed, which
// SQLite reuses rather than returns: measured 20.9 KB (30 days) and
// 23.8 KB (365 days) per live cycle; archives 2.3-2.5 KB per cycle.
const (
	yearLiveBytesPerCycle    = 28 << 10
	yearArchiveBytesPerCycle = 8 << 10
)
