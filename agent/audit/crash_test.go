package audit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-trading/warden/schemas"
)

// TestKillNineKeepsOrders runs a child process that journals order events
// and reports each one after AppendOrderEvent returns, and kills it with
// SIGKILL mid-stream. Every reported event must be in the file afterwards,
// and the chain whole.
func TestKillNineKeepsOrders(t *testing.T) {
	if path := os.Getenv("WARDEN_AUDIT_CRASH_CHILD"); path != "" {
		crashChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillNineKeepsOrders$")
	cmd.Env = append(os.Environ(), "WARDEN_AUDIT_CRASH_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked = append(acked, id)
			if len(acked) == 40 {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
	}
	cmd.Wait()
	if len(acked) < 40 {
		t.Fatalf("child acknowledged %d events before dying; want 40", len(acked))
	}

	ctx := context.Background()
	s := openAt(t, path, Options{})
	for _, id := range acked {
		if _, ok, err := s.LastOrderEvent(ctx, id); !ok || err != nil {
			t.Errorf("LastOrderEvent(%s) after kill -9 = %v, %v; want the acknowledged event", id, ok, err)
		}
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK {
		t.Errorf("Verify() after kill -9 = %+v, %v; want a whole chain", rep, err)
	}
	// The store keeps working after the crash.
	if err := s.AppendOrderEvent(ctx, orderEvent("after", schemas.OrderIntent, time.Time{})); err != nil {
		t.Errorf("AppendOrderEvent after kill -9 = %v", err)
	}
}

func crashChild(path string) {
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	for i := 0; ; i++ {
		// Ordinary records in between, as a run writes them.
		if err := s.RecordEvent(ctx, Event{Kind: EventBreaker, State: "tick"}); err != nil {
			fmt.Println("error", err)
			os.Exit(3)
		}
		id := fmt.Sprintf("o-%d", i)
		if err := s.AppendOrderEvent(ctx, orderEvent(id, schemas.OrderIntent, time.Time{})); err != nil {
			fmt.Println("error", err)
			os.Exit(3)
		}
		fmt.Println("acked", id)
	}
}
