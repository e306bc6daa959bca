package audit

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recordRuns writes one run of each outcome, a run that never ended, and
// events of several kinds, one of them a kind this version does not name.
func recordRuns(t *testing.T, s *Store, clk *fakeClock) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	runs := []struct {
		id, status string
		summary    map[string]any
	}{
		{"r-ok", "ok", map[string]any{"decisions": map[string]int{"approved": 1, "rejected": 1}, "orders": 1}},
		{"r-advisor", "advisor_error", map[string]any{"reason": "openai: HTTP 500: The server had an error"}},
		{"r-snapshot", "skipped", map[string]any{"reason": "BTC/USDT snapshot: stale data"}},
		{"r-killed", "ok", map[string]any{"kill_switch": true, "decisions": map[string]int{"rejected": 2}}},
		{"r-safe", "ok", map[string]any{"safe_mode": true, "level": "safe_mode"}},
		{"r-reduce", "ok", map[string]any{"level": "reduce"}},
		{"r-ordererr", "ok", map[string]any{"orders": 0, "order_errors": []string{"r-ordererr:0: exchange: insufficient balance"}}},
		{"r-open", "", nil},
	}
	for _, r := range runs {
		must(s.BeginRun(ctx, Run{ID: r.id, StartedAt: clk.Now(), Mode: "paper", Advisor: "openai", Model: "gpt-4o-mini", PolicyHash: "pol-1"}))
		if r.status != "" {
			must(s.EndRun(ctx, r.id, r.status, r.summary))
		}
		clk.Advance(time.Hour)
	}
	must(s.SetKillSwitch(ctx, true, "ops", "drill"))
	must(s.RecordEvent(ctx, Event{Kind: EventBreaker, RunID: "r-safe", Symbol: "BTC/USDT", State: "tripped", Detail: json.RawMessage(`{"breaker":"volatility_shock"}`)}))
	must(s.RecordEvent(ctx, Event{Kind: EventPolicyReload, State: "refused", Detail: json.RawMessage(`{"error":"rule x: no such field"}`)}))
	must(s.RecordEvent(ctx, Event{Kind: "breaker_level", State: "reduce", Detail: json.RawMessage(`{"scale":"0.5"}`)}))
}

func TestListRunsOutcomesAndFilters(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, Options{Clock: clk.Now})
	start := clk.Now()
	recordRuns(t, s, clk)

	all, err := s.ListRuns(ctx, RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]RunRow{}
	var order []string
	for _, r := range all {
		got[r.RunID] = r
		order = append(order, r.RunID)
	}
	if len(all) != 8 || order[0] != "r-open" || order[7] != "r-ok" {
		t.Fatalf("ListRuns = %v; want all 8 runs, newest first", order)
	}
	want := map[string]string{"r-ok": OutcomeOK, "r-advisor": OutcomeFailed, "r-snapshot": OutcomeFailed, "r-killed": OutcomeKilled,
		"r-safe": OutcomeSafeMode, "r-reduce": OutcomeOK, "r-ordererr": OutcomeFailed, "r-open": OutcomeUnfinished}
	for id, w := range want {
		if got[id].Outcome != w {
			t.Errorf("run %s: outcome %q (status %q); want %q", id, got[id].Outcome, got[id].Status, w)
		}
	}
	if r := got["r-advisor"]; r.Status != "advisor_error" || !strings.Contains(r.Reason, "HTTP 500") || r.EndedAt.IsZero() {
		t.Errorf("failed run listed as %+v; want its status, reason and end", r)
	}
	if r := got["r-ok"]; r.Decisions["approved"] != 1 || r.Orders != 1 {
		t.Errorf("ok run listed as %+v; want its decision and order counts", r)
	}

	cases := []struct {
		name string
		f    RunFilter
		want []string
	}{
		{"outcome failed", RunFilter{Status: OutcomeFailed}, []string{"r-ordererr", "r-snapshot", "r-advisor"}},
		{"recorded status", RunFilter{Status: "advisor_error"}, []string{"r-advisor"}},
		{"killed", RunFilter{Status: OutcomeKilled}, []string{"r-killed"}},
		{"unfinished", RunFilter{Status: OutcomeUnfinished}, []string{"r-open"}},
		{"limit after the status filter", RunFilter{Status: OutcomeFailed, Limit: 2}, []string{"r-ordererr", "r-snapshot"}},
		{"since", RunFilter{From: start.Add(6 * time.Hour)}, []string{"r-open", "r-ordererr"}},
		{"until", RunFilter{To: start.Add(time.Hour)}, []string{"r-ok"}},
		{"one run", RunFilter{RunID: "r-safe"}, []string{"r-safe"}},
		{"other advisor", RunFilter{Advisor: "baseline"}, nil},
		{"model", RunFilter{Model: "gpt-4o-mini", Limit: 1}, []string{"r-open"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := s.ListRuns(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range rows {
				ids = append(ids, r.RunID)
			}
			if strings.Join(ids, ",") != strings.Join(tc.want, ",") {
				t.Errorf("ListRuns(%+v) = %v; want %v", tc.f, ids, tc.want)
			}
		})
	}

	at, ok, err := s.LastRunAt(ctx)
	if err != nil || !ok || !at.Equal(start.Add(7*time.Hour)) {
		t.Errorf("LastRunAt = %v, %v, %v; want %v", at, ok, err, start.Add(7*time.Hour))
	}
}

func TestLastRunAtNeverRun(t *testing.T) {
	s, _ := openTest(t, Options{})
	if at, ok, err := s.LastRunAt(context.Background()); ok || err != nil {
		t.Errorf("LastRunAt on a new database = %v, %v, %v; want not ok", at, ok, err)
	}
}

func TestListEventsEveryKind(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, Options{Clock: clk.Now})
	recordRuns(t, s, clk)
	all, err := s.ListEvents(ctx, EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range all {
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, ",") != "breaker_level,policy_reload,breaker,kill_switch" {
		t.Fatalf("ListEvents kinds = %v; want every kind, the unnamed one included, newest first", kinds)
	}
	if all[3].State != "on" || !strings.Contains(string(all[3].Detail), "drill") || all[3].Seq == 0 {
		t.Errorf("kill switch event = %+v", all[3])
	}
	for _, tc := range []struct {
		name string
		f    EventFilter
		want int
	}{
		{"two kinds", EventFilter{Kinds: []string{EventBreaker, EventKillSwitch}}, 2},
		{"state", EventFilter{State: "refused"}, 1},
		{"symbol", EventFilter{Symbol: "BTC/USDT"}, 1},
		{"run", EventFilter{RunID: "r-safe"}, 1},
		{"limit", EventFilter{Limit: 3}, 3},
		{"since later", EventFilter{From: clk.Now().Add(time.Hour)}, 0},
	} {
		rows, err := s.ListEvents(ctx, tc.f)
		if err != nil || len(rows) != tc.want {
			t.Errorf("%s: ListEvents(%+v) = %d rows, %v; want %d", tc.name, tc.f, len(rows), err, tc.want)
		}
	}
	counts, err := s.EventKinds(ctx)
	if err != nil || counts["breaker_level"] != 1 || counts[EventKillSwitch] != 1 || len(counts) != 4 {
		t.Errorf("EventKinds = %v, %v", counts, err)
	}
}

func TestExportRunsAndEvents(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, Options{Clock: clk.Now})
	recordRuns(t, s, clk)

	var jl bytes.Buffer
	if err := s.ExportRuns(ctx, &jl, FormatJSONL, RunFilter{Status: OutcomeFailed}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(jl.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("jsonl export of failed runs has %d lines:\n%s", len(lines), jl.String())
	}
	var first RunRow
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.RunID != "r-advisor" || first.Outcome != OutcomeFailed {
		t.Errorf("first exported run = %+v, %v; want r-advisor (oldest first), failed", first, err)
	}
	var cb bytes.Buffer
	if err := s.ExportRuns(ctx, &cb, FormatCSV, RunFilter{}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&cb).ReadAll()
	if err != nil || len(recs) != 9 || recs[0][9] != "outcome" || recs[1][1] != "r-ok" || recs[1][13] != "approved=1 rejected=1" || recs[6][1] != "r-reduce" || recs[6][16] != "reduce" {
		t.Errorf("csv export of runs = %v, %v", recs, err)
	}
	var eb bytes.Buffer
	if err := s.ExportEvents(ctx, &eb, FormatCSV, EventFilter{Kinds: []string{EventPolicyReload}}); err != nil {
		t.Fatal(err)
	}
	recs, err = csv.NewReader(&eb).ReadAll()
	if err != nil || len(recs) != 2 || recs[1][2] != EventPolicyReload || !strings.Contains(recs[1][6], "no such field") {
		t.Errorf("csv export of events = %v, %v", recs, err)
	}
	if err := s.ExportEvents(ctx, io.Discard, "xml", EventFilter{}); err == nil {
		t.Error("ExportEvents(xml) = nil; want an error")
	}
}

// snapshotDir returns every file name in dir with its bytes.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := e.Info()
		out[e.Name()] = string(b) + "|" + info.ModTime().String()
	}
	return out
}

// TestReadOnlyCopyInReadOnlyDirectory: an archived copy of a closed
// database, in a directory nobody may write to, is read and verified in
// place, and nothing is written: no -wal, no -shm, the file's bytes and
// time unchanged. Under root, whom chmod does not stop, the comparison of
// the directory before and after is the proof.
func TestReadOnlyCopyInReadOnlyDirectory(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	src, srcPath := openTest(t, Options{Clock: clk.Now})
	recordRun(t, src, clk, "run-1")
	recordRuns(t, src, clk)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(srcPath + "-wal"); err == nil {
		t.Fatal("a closed store left its -wal behind; the copy would not be of a closed database")
	}
	dir := filepath.Join(t.TempDir(), "archive")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(srcPath)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "warden-2024.db")
	if err := os.WriteFile(path, b, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	before := snapshotDir(t, dir)

	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open of a copy in a read-only directory = %v", err)
	}
	if !ro.ReadsImmutable() {
		t.Error("a closed copy is not read as immutable")
	}
	rep, err := ro.Verify(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("Verify = %+v, %v; want a whole chain", rep, err)
	}
	runs, err := ro.ListRuns(ctx, RunFilter{})
	if err != nil || len(runs) != 9 {
		t.Errorf("ListRuns on the copy = %d runs, %v; want 9", len(runs), err)
	}
	if _, err := ro.ListEvents(ctx, EventFilter{}); err != nil {
		t.Error(err)
	}
	if _, err := ro.Show(ctx, "run-1"); err != nil {
		t.Error(err)
	}
	if err := ro.Unchanged(); err != nil {
		t.Errorf("Unchanged = %v", err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	after := snapshotDir(t, dir)
	if len(after) != len(before) {
		t.Errorf("reading created files: before %d %v, after %d", len(before), keys(before), len(after))
	}
	for name, v := range before {
		if after[name] != v {
			t.Errorf("reading changed %s", name)
		}
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(path + suffix); err == nil {
			t.Errorf("reading created %s", filepath.Base(path+suffix))
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestReadOnlyFollowsALiveWriter: while a writer has the database open, a
// reader goes through the WAL and sees what the writer commits after it
// opened.
func TestReadOnlyFollowsALiveWriter(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	w, path := openTest(t, Options{Clock: clk.Now})
	if err := w.SetKillSwitch(ctx, false, "ops", "start"); err != nil {
		t.Fatal(err)
	}
	ro := openAt(t, path, Options{ReadOnly: true})
	if ro.ReadsImmutable() {
		t.Fatal("a database a writer holds open is read as immutable")
	}
	if err := w.SetKillSwitch(ctx, true, "ops", "drill"); err != nil {
		t.Fatal(err)
	}
	rows, err := ro.ListEvents(ctx, EventFilter{Kinds: []string{EventKillSwitch}})
	if err != nil || len(rows) != 2 || rows[0].State != "on" {
		t.Fatalf("reader sees %+v, %v; want the writer's newest kill switch event", rows, err)
	}
}

// TestUnchangedNoticesAWriter: a database read as immutable that a writer
// then changes is reported, so the reader reads again instead of trusting
// pages that moved under it.
func TestUnchangedNoticesAWriter(t *testing.T) {
	ctx := context.Background()
	w, path := openTest(t, Options{})
	if err := w.SetKillSwitch(ctx, false, "ops", "start"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ro := openAt(t, path, Options{ReadOnly: true})
	if !ro.ReadsImmutable() {
		t.Fatal("closed database not read as immutable")
	}
	w2 := openAt(t, path, Options{})
	if err := w2.SetKillSwitch(ctx, true, "ops", "drill"); err != nil {
		t.Fatal(err)
	}
	w2.Close() // checkpoints the log into the file
	if err := ro.Unchanged(); err == nil || !strings.Contains(err.Error(), "read it again") {
		t.Errorf("Unchanged after a writer changed the file = %v; want an error", err)
	}
}

// TestReadOnlyWALInReadOnlyDirectory: a copy that took a non-empty -wal
// along into a read-only directory cannot be read without an index SQLite
// would have to create; the error says what to do. (Root can create it, so
// there the read simply works.)
func TestReadOnlyWALInReadOnlyDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes in read-only directories: the case cannot arise")
	}
	ctx := context.Background()
	w, path := openTest(t, Options{})
	if err := w.SetKillSwitch(ctx, true, "ops", "drill"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "archive")
	os.Mkdir(dir, 0o755)
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 && suffix == "-wal" {
			t.Skip("the writer's log is empty; nothing to test")
		}
		os.WriteFile(filepath.Join(dir, "w.db"+suffix), b, 0o400)
	}
	os.Chmod(dir, 0o555)
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	s, err := Open(ctx, filepath.Join(dir, "w.db"), Options{ReadOnly: true})
	if err == nil {
		s.Close()
		t.Fatal("read-only Open of a copy with its -wal in a read-only directory = nil error")
	}
	if !strings.Contains(err.Error(), "writable directory") {
		t.Errorf("error = %v; want it to say to copy to a writable directory", err)
	}
}
