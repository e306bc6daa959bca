package audit

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

var day0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// history writes days of hourly cycles from `from`: a run, a model call
// (its system text shared), equity, a paper delta; on the first day the
// kill switch goes on, an order is left open and a notification pending.
func history(t *testing.T, s *Store, clk *fakeClock, from, days int) {
	t.Helper()
	ctx := context.Background()
	for h := from * 24; h < (from+days)*24; h++ {
		clk.t = day0.Add(time.Duration(h) * time.Hour)
		id := fmt.Sprintf("r%05d", h)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(s.BeginRun(ctx, Run{ID: id, StartedAt: clk.t, Mode: "paper", Advisor: "openai"}))
		must(s.RecordLLMCall(ctx, LLMCall{RunID: id, Attempt: 1, At: clk.t, Advisor: "openai", Request: openAIRequest(systemText, "market at "+id+strings.Repeat(" 50000.5", 100)), Response: `{"id":"x"}`}))
		must(s.RecordEquity(ctx, clk.t, decimal.NewFromInt(int64(10000+h))))
		if h == 0 {
			must(s.SavePaperCheckpoint(ctx, []byte(`{"version":2}`)))
			must(s.SetKillSwitch(ctx, true, "test", "archived but still on"))
			must(s.AppendOrderEvent(ctx, orderEvent("open-1", schemas.OrderAcknowledged, clk.t)))
			must(s.AppendOrderEvent(ctx, orderEvent("done-1", schemas.OrderAcknowledged, clk.t)))
			must(s.AppendOrderEvent(ctx, orderEvent("done-1", schemas.OrderFilled, clk.t)))
			_, err := s.Enqueue(ctx, schemas.Notification{Channel: "slack", Kind: "error", Title: "pending", DedupKey: "pending-1"})
			must(err)
		} else {
			must(s.SavePaperDelta(ctx, []byte(fmt.Sprintf(`{"version":2,"delta":true,"h":%d}`, h))))
		}
	}
}

func archiveStore(t *testing.T) (*Store, *fakeClock, string, string) {
	t.Helper()
	clk := newClock()
	s, path := openTest(t, Options{Clock: clk.Now})
	history(t, s, clk, 0, 10)
	return s, clk, path, filepath.Join(filepath.Dir(path), "archive")
}

func count(t *testing.T, s *Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestArchiveMovesOldRecordsAndKeepsWhatTheAgentReads: the records before
// the date leave the database for a sealed file, the chain verifies live
// and with the archives, and what the agent reads is unchanged: the kill
// switch, the open order, the pending notification, the paper account.
func TestArchiveMovesOldRecordsAndKeepsWhatTheAgentReads(t *testing.T) {
	ctx := context.Background()
	s, clk, _, dir := archiveStore(t)
	before := count(t, s, `SELECT COUNT(*) FROM records`)
	cp0, deltas0, _, _ := s.PaperStateChain(ctx)
	res, err := s.Archive(ctx, ArchiveOptions{Before: day0.Add(5 * 24 * time.Hour), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.File.Name == "" || res.Removed == 0 || res.File.FirstSeq != 1 {
		t.Fatalf("Archive = %+v", res)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM records WHERE seq > ? AND at < ?`, res.File.LastSeq, day0.Add(5*24*time.Hour).UnixNano()); n != 0 {
		t.Errorf("%d records before the date are still live after the archived range", n)
	}
	after := count(t, s, `SELECT COUNT(*) FROM records`)
	if int64(before-after+1) != res.Removed {
		t.Errorf("records %d -> %d, removed %d (+1 archive record)", before, after, res.Removed)
	}
	if on, err := s.KillSwitch(ctx); err != nil || !on {
		t.Errorf("KillSwitch after archiving = %v, %v; want still on", on, err)
	}
	open, err := s.OpenOrderEvents(ctx)
	if err != nil || len(open) != 1 || open[0].ClientOrderID != "open-1" {
		t.Errorf("OpenOrderEvents after archiving = %+v, %v; want open-1", open, err)
	}
	if p, err := s.PendingNotifications(ctx, "slack", clk.Now(), 0); err != nil || len(p) != 1 {
		t.Errorf("pending notifications after archiving = %d, %v; want 1", len(p), err)
	}
	cp, deltas, ok, err := s.PaperStateChain(ctx)
	if err != nil || !ok || !bytes.Equal(cp, cp0) || len(deltas) != len(deltas0) {
		t.Errorf("paper state after archiving: %d deltas, %v %v; want the same checkpoint and %d deltas", len(deltas), ok, err, len(deltas0))
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("Verify after archiving = %+v %+v, %v", rep, rep.Broken, err)
	}
	arep, err := s.VerifyArchives(ctx, dir, VerifyOptions{})
	if err != nil || !arep.OK || arep.Records != int64(before+1) {
		t.Fatalf("VerifyArchives = %+v %+v, %v; want %d records", arep, arep.Broken, err, before+1)
	}

	// Later: more history, a second archive; both files and the live
	// database are one chain.
	history(t, s, clk, 10, 3)
	res2, err := s.Archive(ctx, ArchiveOptions{Before: day0.Add(9 * 24 * time.Hour), Dir: dir})
	if err != nil || res2.File.FirstSeq != res.File.LastSeq+1 {
		t.Fatalf("second Archive = %+v, %v", res2, err)
	}
	if on, _ := s.KillSwitch(ctx); !on {
		t.Errorf("kill switch lost by the second archive")
	}
	arep, err = s.VerifyArchives(ctx, dir, VerifyOptions{})
	if err != nil || !arep.OK || len(arep.Files) != 2 {
		t.Fatalf("VerifyArchives over two files = %+v %+v, %v", arep, arep.Broken, err)
	}
	// Nothing before the date left: a no-op.
	if r, err := s.Archive(ctx, ArchiveOptions{Before: day0.Add(9 * 24 * time.Hour), Dir: dir}); err != nil || r.File.Name != "" {
		t.Errorf("Archive again = %+v, %v; want nothing to do", r, err)
	}
	// A plain DELETE is still refused.
	if _, err := s.wdb.Exec(`DELETE FROM records WHERE seq = (SELECT MAX(seq) FROM records)`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("DELETE outside archiving: %v; want refused", err)
	}
}

func rewriteArchive(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(edit(plain))
	zw.Close()
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyArchivesNamesTheFileAndRecord: an archive edited, truncated,
// swapped with another or removed fails VerifyArchives naming the file and
// the record.
func TestVerifyArchivesNamesTheFileAndRecord(t *testing.T) {
	for _, tc := range []struct {
		name, problem string
		seq           int64 // 0: any
		tamper        func(t *testing.T, a, b string)
	}{
		{"edited record", "edited", 0, func(t *testing.T, a, b string) {
			rewriteArchive(t, a, func(p []byte) []byte { return bytes.Replace(p, []byte(`10003`), []byte(`99999`), 1) })
		}},
		{"truncated", "truncated", 0, func(t *testing.T, a, b string) {
			rewriteArchive(t, a, func(p []byte) []byte { return p[:len(p)/2] })
		}},
		{"cut gzip", "truncated", 0, func(t *testing.T, a, b string) {
			data, _ := os.ReadFile(a)
			os.WriteFile(a, data[:len(data)-100], 0o600)
		}},
		{"corrupted gzip", "corrupted", 0, func(t *testing.T, a, b string) {
			data, _ := os.ReadFile(a)
			for i := len(data) / 2; i < len(data)/2+8; i++ {
				data[i] ^= 0xff
			}
			os.WriteFile(a, data, 0o600)
		}},
		{"swapped", "swapped", 0, func(t *testing.T, a, b string) {
			da, _ := os.ReadFile(a)
			db, _ := os.ReadFile(b)
			os.WriteFile(a, db, 0o600)
			os.WriteFile(b, da, 0o600)
		}},
		{"removed", "deleted", 1, func(t *testing.T, a, b string) { os.Remove(a) }},
		{"record dropped", "deleted", 0, func(t *testing.T, a, b string) {
			rewriteArchive(t, a, func(p []byte) []byte {
				lines := bytes.SplitAfter(p, []byte("\n"))
				return bytes.Join(append(lines[:5:5], lines[6:]...), nil)
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, clk, _, dir := archiveStore(t)
			r1, err := s.Archive(ctx, ArchiveOptions{Before: day0.Add(4 * 24 * time.Hour), Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			history(t, s, clk, 10, 1)
			r2, err := s.Archive(ctx, ArchiveOptions{Before: day0.Add(8 * 24 * time.Hour), Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, r1.Path, r2.Path)
			rep, err := s.VerifyArchives(ctx, dir, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.Broken == nil || rep.Broken.Table != "archive "+r1.File.Name || rep.Broken.Problem != tc.problem || tc.seq != 0 && rep.Broken.Seq != tc.seq {
				t.Fatalf("VerifyArchives = %+v; want %s in %s", rep.Broken, tc.problem, r1.File.Name)
			}
			t.Logf("%s", rep.Broken)
			// The live chain alone still verifies.
			if live, err := s.Verify(ctx); err != nil || !live.OK {
				t.Errorf("Verify (live) = %+v, %v", live.Broken, err)
			}
		})
	}
}

// TestArchiveCrashLeavesOldOrNewState fails each write of an archive in
// turn: the database is then as before (all records live, verify passes)
// or archived; a later archive completes and the archives verify.
func TestArchiveCrashLeavesOldOrNewState(t *testing.T) {
	for _, step := range []string{"create", "write", "sync", "rename", "begin", "append", "delete", "commit"} {
		t.Run(step, func(t *testing.T) {
			ctx := context.Background()
			s, _, path, dir := archiveStore(t)
			before := count(t, s, `SELECT COUNT(*) FROM records`)
			opts := ArchiveOptions{Before: day0.Add(5 * 24 * time.Hour), Dir: dir}
			opts.fault = func(st string) error {
				if st == step {
					return errors.New("injected failure at " + st)
				}
				return nil
			}
			if _, err := s.Archive(ctx, opts); err == nil || !strings.Contains(err.Error(), step) {
				t.Fatalf("Archive failing at %s = %v", step, err)
			}
			// A new process opens the database: the old state.
			s2 := openAt(t, path, Options{})
			if n := count(t, s2, `SELECT COUNT(*) FROM records`); n != before {
				t.Fatalf("after a failure at %s: %d records; want the %d of before", step, n, before)
			}
			if n := count(t, s2, `SELECT COUNT(*) FROM archive_guard`); n != 0 {
				t.Fatalf("the archive guard row outlived the failed transaction")
			}
			if rep, err := s2.Verify(ctx); err != nil || !rep.OK {
				t.Fatalf("Verify after a failure at %s = %+v, %v", step, rep.Broken, err)
			}
			if tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmp) != 0 {
				t.Errorf("temporary files left: %v", tmp)
			}
			opts.fault = nil
			res, err := s2.Archive(ctx, opts)
			if err != nil || res.Removed == 0 {
				t.Fatalf("Archive after the failure = %+v, %v", res, err)
			}
			if rep, err := s2.VerifyArchives(ctx, dir, VerifyOptions{}); err != nil || !rep.OK {
				t.Fatalf("VerifyArchives = %+v, %v", rep.Broken, err)
			}
		})
	}
}

// TestVerifyArchivesWithoutTheDirectory: a directory that does not exist
// is ErrNoArchiveDir, not a broken chain.
func TestVerifyArchivesWithoutTheDirectory(t *testing.T) {
	ctx := context.Background()
	s, _, _, dir := archiveStore(t)
	if _, err := s.Archive(ctx, ArchiveOptions{Before: day0.Add(4 * 24 * time.Hour), Dir: dir}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.VerifyArchives(ctx, dir+"-typo", VerifyOptions{})
	if !errors.Is(err, ErrNoArchiveDir) || rep.Broken != nil || !strings.Contains(err.Error(), "-typo") {
		t.Errorf("VerifyArchives(no such directory) = %+v, %v; want ErrNoArchiveDir naming it", rep.Broken, err)
	}
}

// TestArchiveKeepsARunWhole: the records of a run are not always in time
// order (an offline replay stamps a run with the replay's clock and its
// end with the wall clock). A cut-off that falls between a run's start
// and its end keeps that run whole in the database: `audit runs` still
// lists it, with its end, and the archive holds only whole runs.
func TestArchiveKeepsARunWhole(t *testing.T) {
	ctx := context.Background()
	wall := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	s, path := openTest(t, Options{Clock: wall.Now})
	replay := time.Date(2022, 6, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"r1", "r2", "r3"} {
		if err := s.BeginRun(ctx, Run{ID: id, StartedAt: replay.Add(time.Duration(i) * time.Hour), Mode: "paper", Advisor: "baseline"}); err != nil {
			t.Fatal(err)
		}
		wall.t = wall.t.Add(time.Minute)
		if err := s.EndRun(ctx, id, "ok", nil); err != nil {
			t.Fatal(err)
		}
	}
	// r1 ends at 10:01, r2 at 10:02: the first record at or after 10:01:30
	// is r2's end, and the records before it include r2's start.
	res, err := s.Archive(ctx, ArchiveOptions{Before: time.Date(2026, 12, 7, 10, 1, 30, 0, time.UTC), Dir: filepath.Join(filepath.Dir(path), "archive")})
	if err != nil {
		t.Fatal(err)
	}
	if res.File.LastSeq != 2 {
		t.Errorf("archived up to seq %d; want 2 (r1's start and end, not r2's start)", res.File.LastSeq)
	}
	runs, err := s.ListRuns(ctx, RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range runs {
		got[r.RunID] = !r.EndedAt.IsZero()
	}
	if len(got) != 2 || !got["r2"] || !got["r3"] {
		t.Errorf("runs left after archiving = %v; want r2 and r3, whole (with their ends)", got)
	}
}

// TestArchiveRetryRemovesTheDeadAttemptsFiles: an archive that died after
// its file was in place but before its transaction committed (the file is
// whole, the chain never recorded it), and one killed while writing (a
// .tmp), leave files the retry, under another cut-off and so another
// name, would not replace: the retry removes them, and verify lists no
// unlisted file.
func TestArchiveRetryRemovesTheDeadAttemptsFiles(t *testing.T) {
	ctx := context.Background()
	s, _, _, dir := archiveStore(t)
	opts := ArchiveOptions{Before: day0.Add(5 * 24 * time.Hour), Dir: dir}
	opts.fault = func(st string) error {
		if st == "begin" {
			return errors.New("died at begin")
		}
		return nil
	}
	if _, err := s.Archive(ctx, opts); err == nil {
		t.Fatal("Archive with a failure at begin = nil")
	}
	if err := os.WriteFile(filepath.Join(dir, "warden-audit-20240105T000000Z-seq1-77.jsonl.gz.tmp"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 2 {
		t.Fatalf("the dead attempts left %v; want its whole file and the .tmp", left)
	}
	res, err := s.Archive(ctx, ArchiveOptions{Before: day0.Add(5*24*time.Hour + time.Second), Dir: dir})
	if err != nil || res.Removed == 0 {
		t.Fatalf("the retry = %+v, %v", res, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 || filepath.Base(files[0]) != res.File.Name {
		t.Errorf("archive directory holds %v; want only %s", files, res.File.Name)
	}
	rep, err := s.VerifyArchives(ctx, dir, VerifyOptions{})
	if err != nil || !rep.OK || len(rep.Unlisted) != 0 {
		t.Fatalf("VerifyArchives = ok %v, unlisted %v, %v", rep.OK, rep.Unlisted, err)
	}
}

// TestArchiveNeverReplacesRecordsTheDatabaseLost: a backup of the database
// is restored after later records were archived. The archive directory
// then holds a file no archive record of the restored chain names, whose
// records the database no longer has: the only copy of them. verify says
// records were lost (it noted the file as an unfinished archive's and
// exited 0), and the next archive, whose range starts at the same seq,
// refuses instead of removing the file and writing its own under its name.
func TestArchiveNeverReplacesRecordsTheDatabaseLost(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, path := openTest(t, Options{Clock: clk.Now})
	dir := filepath.Join(filepath.Dir(path), "archive")
	history(t, s, clk, 0, 4)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	backup := path + ".backup"
	if err := copyFile(path, backup); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path, Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	history(t, s, clk, 4, 8)
	res, err := s.Archive(ctx, ArchiveOptions{Before: day0.Add(6 * 24 * time.Hour), Dir: dir})
	if err != nil || res.File.FirstSeq != 1 {
		t.Fatalf("Archive = %+v, %v", res, err)
	}
	sealed := filepath.Join(dir, res.File.Name)
	want, err := os.ReadFile(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The disk is lost; last night's backup is restored.
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	if err := copyFile(backup, path); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path, Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var head int64
	if err := s.db.QueryRow(qHeadSeq).Scan(&head); err != nil {
		t.Fatal(err)
	}
	if head >= res.File.LastSeq {
		t.Fatalf("the restored database ends at seq %d: the test needs it to lack archived records up to %d", head, res.File.LastSeq)
	}

	rep, err := s.VerifyArchives(ctx, dir, VerifyOptions{})
	if err != nil || rep.OK || rep.Broken == nil || rep.Broken.Problem != "deleted" || rep.Broken.Table != "archive "+res.File.Name || rep.Broken.Seq != head+1 {
		t.Errorf("VerifyArchives after the restore = ok %v, %+v, unlisted %v, %v; want records deleted at seq %d of archive %s", rep.OK, rep.Broken, rep.Unlisted, err, head+1, res.File.Name)
	}

	history(t, s, clk, 8, 10)
	_, err = s.Archive(ctx, ArchiveOptions{Before: day0.Add(6 * 24 * time.Hour), Dir: dir})
	if err == nil || !strings.Contains(err.Error(), res.File.Name) || !strings.Contains(err.Error(), "only copy") {
		t.Errorf("Archive over the lost records' file = %v; want a refusal naming %s as the only copy", err, res.File.Name)
	}
	if got, err := os.ReadFile(sealed); err != nil || !bytes.Equal(got, want) {
		t.Errorf("the file holding the lost records was changed or removed (%v)", err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM records WHERE kind = 'archive'`); n != 0 {
		t.Errorf("%d archive records after the refusal; want none", n)
	}
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}

// TestArchivePastAnEventOnTheWallClock: on the offline replay the runs are
// dated by the replay's clock, years back, and a record outside any run
// (a kill from a terminal, a policy's tests at start) by the wall clock.
// Retention's cut-off (the replay's clock less 2 days) still archives the
// old runs around it: the first record dated after the cut-off no longer
// stops the archive for ever.
func TestArchivePastAnEventOnTheWallClock(t *testing.T) {
	ctx := context.Background()
	replay := &fakeClock{t: time.Date(2020, 10, 1, 0, 0, 0, 0, time.UTC)}
	s, path := openTest(t, Options{Clock: replay.Now})
	dir := filepath.Join(filepath.Dir(path), "archive")
	day := func(n int) {
		for i := 0; i < n; i++ {
			id := "r-" + replay.t.Format("20060102")
			if err := s.BeginRun(ctx, Run{ID: id, Mode: "paper", Advisor: "baseline"}); err != nil {
				t.Fatal(err)
			}
			if err := s.EndRun(ctx, id, "ok", nil); err != nil {
				t.Fatal(err)
			}
			replay.t = replay.t.Add(24 * time.Hour)
		}
	}
	day(2)
	wall := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	if err := s.RecordEvent(ctx, Event{Kind: EventError, At: wall, State: "test", Detail: []byte(`{"from":"another terminal"}`)}); err != nil {
		t.Fatal(err)
	}
	day(6)
	cutoff := replay.t.Add(-2 * 24 * time.Hour).Truncate(24 * time.Hour)
	res, err := s.Archive(ctx, ArchiveOptions{Before: cutoff, Dir: dir})
	if err != nil || res.File.Name == "" {
		t.Fatalf("Archive(before %s) = %+v, %v; want the runs before it archived past the wall clock's event", cutoff.Format(time.DateOnly), res, err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM records WHERE kind = 'run' AND at < ?`, cutoff.UnixNano()); n != 0 {
		t.Errorf("%d runs dated before the cut-off are still live", n)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM records WHERE kind = 'run' AND at >= ?`, cutoff.UnixNano()); n != 2 {
		t.Errorf("%d runs at or after the cut-off live; want 2", n)
	}
	if rep, err := s.VerifyArchives(ctx, dir, VerifyOptions{}); err != nil || !rep.OK {
		t.Errorf("VerifyArchives = %+v, %v", rep.Broken, err)
	}
}
