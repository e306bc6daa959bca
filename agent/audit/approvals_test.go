package audit

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestApprovalTablesMadeOnFirstUse: a database that never used approval
// has no approval tables and reads find nothing; the first write makes
// them, another process (a new Store) reads them, and a transition is a
// compare-and-set recorded in the chain.
func TestApprovalTablesMadeOnFirstUse(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "warden.db")
	st, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var n int
	if err := st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'approval%'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a fresh database has %d approval tables (%v); want none", n, err)
	}
	if rows, err := st.Approvals(ctx); err != nil || len(rows) != 0 {
		t.Fatalf("Approvals without tables = %v, %v", rows, err)
	}
	if _, err := st.Approval(ctx, "r-1:0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Approval without tables = %v; want ErrNotFound", err)
	}
	if seen, err := st.InboundSeen(ctx, "x"); err != nil || seen {
		t.Fatalf("InboundSeen without tables = %v, %v", seen, err)
	}
	if off, err := st.InboundOffset(ctx, "bot"); err != nil || off != 0 {
		t.Fatalf("InboundOffset without tables = %v, %v", off, err)
	}
	if _, err := st.TransitionApproval(ctx, "r-1:0", []string{ApprovalPending}, ApprovalApproved, ApprovalChange{}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("TransitionApproval of nothing = %v; want ErrNotFound", err)
	}
	now := time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)
	if err := st.AddApproval(ctx, ApprovalRow{DecisionID: "r-1:0", RunID: "r-1", Hash: "abcd", CreatedAt: now, ExpiresAt: now.Add(time.Minute), Proposal: []byte(`{"x":1}`)}, map[string]any{"decision_id": "r-1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddApproval(ctx, ApprovalRow{DecisionID: "r-1:0", RunID: "r-1", Hash: "abcd", CreatedAt: now, ExpiresAt: now, Proposal: []byte(`{}`)}, nil); err == nil {
		t.Fatal("a decision was proposed twice")
	}
	other, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	row, err := other.TransitionApproval(ctx, "r-1:0", []string{ApprovalPending}, ApprovalApproved, ApprovalChange{DecidedBy: "alice", Channel: "cli", HashSeen: "abcd"}, map[string]any{"who": "alice"})
	if err != nil || row.Status != ApprovalApproved || row.DecidedBy != "alice" {
		t.Fatalf("transition by another process = %+v, %v", row, err)
	}
	if _, err := st.TransitionApproval(ctx, "r-1:0", []string{ApprovalPending}, ApprovalApproved, ApprovalChange{}, nil); !errors.Is(err, ErrApprovalState) {
		t.Fatalf("a second approval = %v; want ErrApprovalState", err)
	}
	evs, err := st.ListEvents(ctx, EventFilter{Kinds: []string{EventApproval}})
	if err != nil || len(evs) != 2 || evs[0].RunID != "r-1" {
		t.Fatalf("approval events = %+v, %v; want proposed and approved on run r-1", evs, err)
	}
	if rep, err := st.Verify(ctx); err != nil || !rep.OK {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
}
