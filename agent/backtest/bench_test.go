package backtest

import (
	"context"
	"flag"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/audit"
)

// benchLong runs every sub-benchmark over the full history; without it
// every_candle/audit_on covers only its first three and a half months
// (the 44k audited decisions take 7-8 s on a shared 2-core machine,
// against 2.3-2.6 s unaudited: JSON encoding and the prompt on the agent's
// goroutine, SQLite inserts on the committing one; see README.md).
var benchLong = flag.Bool("backtest.long", false, "run every_candle/audit_on over the full history")

// BenchmarkBacktest runs the full bundled BTC/USDT 1h history (2017-08 to
// 2022-10, about 45k candles) through the whole pipeline: a decision at
// every candle or once a day, with per-decision audit records off or on
// (a fresh SQLite file per run).
//
//	go test ./agent/backtest/ -run '^$' -bench Backtest -benchtime 1x
func BenchmarkBacktest(b *testing.B) {
	for _, bc := range []struct {
		name  string
		every time.Duration
		audit bool
	}{
		{"every_candle/audit_off", 0, false},
		{"every_candle/audit_on", 0, true},
		{"daily/audit_off", 24 * time.Hour, false},
		{"daily/audit_on", 24 * time.Hour, true},
		// The driver alone: candles fed, equity marked, no decision (a
		// cadence no close in the data falls on).
		{"no_decisions", 3650 * 24 * time.Hour, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var candles, decisions int
			var peak uint64
			var ms runtime.MemStats
			cpu0 := cpuTime()
			sample := func() {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
			for i := 0; i < b.N; i++ {
				cfg := Config{Symbols: []string{"BTC/USDT"}, Timeframe: "1h", Every: bc.every}
				if bc.audit && bc.every == 0 && !*benchLong {
					cfg.To = time.Date(2017, 12, 15, 0, 0, 0, 0, time.UTC)
				}
				if bc.audit {
					b.StopTimer()
					st, err := audit.Open(context.Background(), filepath.Join(b.TempDir(), "bt.db"), AuditOptions(nil)) // as warden backtest --audit
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { st.Close() })
					cfg.Audit = st
					b.StartTimer()
				}
				n := 0
				cfg.OnCycle = func(agent.CycleResult) {
					if n++; n%2000 == 0 {
						sample()
					}
				}
				res, err := Run(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				if cfg.Audit != nil {
					// Closing is part of the cost: what is still queued
					// commits, and a scratch store builds its indexes.
					if err := cfg.Audit.Close(); err != nil {
						b.Fatal(err)
					}
				}
				sample()
				candles += res.Summary.Run.Candles
				decisions += res.Summary.Decisions.Cycles
			}
			sec := b.Elapsed().Seconds()
			// CPU seconds (user and system, every thread): steadier than
			// the wall clock on a shared machine, and what both cores
			// spend (the audited run commits on a second goroutine).
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(candles)/sec, "candles/s")
			b.ReportMetric(float64(decisions)/sec, "decisions/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(candles)/float64(b.N), "candles/op")
		})
	}
}

// cpuTime is the CPU time this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
