package agent

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

func TestScheduleNeverOverlapsAndFinishesOnShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var active, maxActive, runs, finished atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- Schedule(ctx, "@every 1s", time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)), func(cctx context.Context) error {
			n := active.Add(1)
			if n > maxActive.Load() {
				maxActive.Store(n)
			}
			runs.Add(1)
			// Longer than the period: the next tick must be skipped, and
			// the shutdown below lands while this cycle runs.
			select {
			case <-time.After(1500 * time.Millisecond):
			case <-cctx.Done():
				t.Error("cycle context cancelled by shutdown; it must be detached")
			}
			active.Add(-1)
			finished.Add(1)
			return nil
		})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if runs.Load() == 0 {
		t.Fatal("no cycle ran within 5s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Schedule = %v", err)
	}
	if maxActive.Load() != 1 {
		t.Errorf("max concurrent cycles = %d; want 1", maxActive.Load())
	}
	if finished.Load() != runs.Load() {
		t.Errorf("finished %d of %d started cycles before Schedule returned", finished.Load(), runs.Load())
	}
}

func TestScheduleRejectsBadSpec(t *testing.T) {
	err := Schedule(context.Background(), "every tuesday", time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)), func(context.Context) error { return nil })
	if err == nil {
		t.Fatal("Schedule(bad spec) = nil; want an error")
	}
}
