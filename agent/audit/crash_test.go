package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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

// TestOpenRefusesANewerSchema: a database a newer Warden migrated (a
// migration this binary does not have) is not written by this one (a
// deploy rolled back): Open for writing refuses it, naming the migration,
// and changes nothing; reading it still works.
func TestOpenRefusesANewerSchema(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, Options{})
	if err := s.BeginRun(ctx, Run{ID: "r1", Mode: "paper", Advisor: "baseline"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES ('migrations/0099_from_a_newer_warden.sql', 1)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Open(ctx, path, Options{})
	if err == nil {
		w.Close()
	}
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "0099_from_a_newer_warden.sql") {
		t.Fatalf("Open of a newer schema = %v; want ErrNewerSchema naming the migration", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the refused Open changed the database file")
	}
	// The kill switch engages all the same.
	k, err := Open(ctx, path, Options{NewerSchemaOK: true})
	if err != nil {
		t.Fatalf("Open(NewerSchemaOK) = %v", err)
	}
	if err := k.SetKillSwitch(ctx, true, "operator", "test"); err != nil {
		t.Fatal(err)
	}
	if on, err := k.KillSwitch(ctx); err != nil || !on {
		t.Errorf("kill switch after setting it = %v, %v", on, err)
	}
	k.Close()
	r, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open of a newer schema = %v", err)
	}
	defer r.Close()
	if rep, err := r.Verify(ctx); err != nil || !rep.OK {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}
