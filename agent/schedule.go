package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule runs cycle on the cron spec until ctx is done. Cycles never
// overlap: a tick that comes while a cycle still runs is skipped and
// logged. When ctx is cancelled (SIGINT, SIGTERM) no new cycle starts and
// Schedule waits for the running one to finish: the cycle's own context is
// detached from ctx so an order being placed is carried to a known state,
// bounded by grace.
func Schedule(ctx context.Context, spec string, grace time.Duration, logger *slog.Logger, cycle func(context.Context) error) error {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return fmt.Errorf("schedule %q: %w", spec, err)
	}
	var (
		mu      sync.Mutex
		running bool
		wg      sync.WaitGroup
	)
	detached := context.WithoutCancel(ctx)
	c := cron.New(cron.WithLocation(time.UTC))
	c.Schedule(sched, cron.FuncJob(func() {
		mu.Lock()
		if running || ctx.Err() != nil {
			mu.Unlock()
			logger.Warn("cycle skipped: the previous cycle is still running or shutdown began")
			return
		}
		running = true
		wg.Add(1)
		mu.Unlock()
		defer func() {
			mu.Lock()
			running = false
			mu.Unlock()
			wg.Done()
		}()
		cctx, cancel := context.WithTimeout(detached, grace)
		defer cancel()
		if err := cycle(cctx); err != nil {
			logger.Error("cycle failed", "err", err)
		}
	}))
	logger.Info("scheduler started", "schedule", spec, "next", sched.Next(time.Now().UTC()))
	c.Start()
	<-ctx.Done()
	logger.Info("shutdown: waiting for the running cycle to finish")
	stopped := c.Stop()
	<-stopped.Done()
	wg.Wait()
	logger.Info("shutdown complete")
	return nil
}
