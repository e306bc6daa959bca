package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
)

// TestVerifyExpectHead: the head printed by verify (or published every
// day) finds records later deleted from the end of the chain, which verify
// alone cannot.
func TestVerifyExpectHead(t *testing.T) {
	t.Chdir(t.TempDir())
	runCycles(t, 3)
	code, out, errOut := runMain(t, "audit", "verify", "--json")
	if code != 0 {
		t.Fatalf("verify = %d %s %s", code, out, errOut)
	}
	var rep audit.VerifyReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("%d:%s", rep.HeadSeq, rep.HeadHash)
	if code, out, errOut := runMain(t, "audit", "verify", "--expect-head", head); code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("verify --expect-head on the whole chain = %d %s %s", code, out, errOut)
	}
	for _, bad := range []string{"12", "x:" + rep.HeadHash, "0:" + rep.HeadHash} {
		if code, _, errOut := runMain(t, "audit", "verify", "--expect-head", bad); code != exitUsage || !strings.Contains(errOut, "--expect-head") {
			t.Errorf("verify --expect-head %q = %d %q; want 2 naming the flag", bad, code, errOut)
		}
	}
	// Delete the last two records behind Warden's back.
	db, err := sql.Open("sqlite3", "file:warden.db")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER records_no_delete`, fmt.Sprintf(`DELETE FROM records WHERE seq > %d`, rep.HeadSeq-2)} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if code, out, _ := runMain(t, "audit", "verify"); code != 0 {
		t.Fatalf("verify alone after a tail deletion = %d %s; want 0 (a shorter chain is whole)", code, out)
	}
	code, _, errOut = runMain(t, "audit", "verify", "--expect-head", head)
	if code != exitRejected || !strings.Contains(errOut, "deleted") || !strings.Contains(errOut, fmt.Sprintf("records %d..%d were deleted", rep.HeadSeq-1, rep.HeadSeq)) {
		t.Errorf("verify --expect-head after a tail deletion = %d %q; want 1 naming the deleted records", code, errOut)
	}
}

// TestVerifyExpectHeadArchived: a head noted before its records were
// archived passes with --archive (as SEQ:HASH and as HASH); without it,
// verify says to pass the archives (exit 2), never that the chain was
// tampered with.
func TestVerifyExpectHeadArchived(t *testing.T) {
	t.Chdir(t.TempDir())
	runCycles(t, 3)
	_, out, _ := runMain(t, "audit", "verify", "--json")
	var rep audit.VerifyReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("%d:%s", rep.HeadSeq, rep.HeadHash)
	_, recs, _ := runMain(t, "audit", "export", "--records", "--format", "jsonl")
	var call, kept string
	for _, line := range strings.Split(recs, "\n") {
		var r struct {
			Seq  int64  `json:"seq"`
			Kind string `json:"kind"`
			Hash string `json:"hash"`
		}
		if json.Unmarshal([]byte(line), &r) != nil {
			continue
		}
		switch r.Kind {
		case "llm_call":
			call = fmt.Sprintf("%d:%s", r.Seq, r.Hash)
		case "paper_state":
			kept = fmt.Sprintf("%d:%s", r.Seq, r.Hash)
		}
	}
	if call == "" || kept == "" {
		t.Fatalf("no model call or paper state exported (%q, %q)", call, kept)
	}
	runCycles(t, 2) // the newest run stays live: the noted head is archived inside the range
	if code, out, errOut := runMain(t, "audit", "archive", "--before", "0d"); code != 0 || !strings.Contains(out, "archived seqs 1..") {
		t.Fatalf("archive = %d %s %s", code, out, errOut)
	}
	for _, h := range []string{head, rep.HeadHash} {
		if code, out, errOut := runMain(t, "audit", "verify", "--archive", "archive", "--expect-head", h); code != 0 || !strings.HasPrefix(out, "ok:") {
			t.Errorf("verify --archive --expect-head %s (archived) = %d %s %s; want ok", h, code, out, errOut)
		}
	}
	// A paper account delta since the last checkpoint is kept in the
	// database (checked against the archive record): it answers alone.
	if code, out, errOut := runMain(t, "audit", "verify", "--expect-head", kept); code != 0 {
		t.Errorf("verify --expect-head %s (a kept copy) without --archive = %d %s %s; want ok", kept, code, out, errOut)
	}
	// A record that left the database (a model call) needs the archives.
	code, _, errOut := runMain(t, "audit", "verify", "--expect-head", call)
	if code != exitUsage || !strings.Contains(errOut, "--archive") || strings.Contains(errOut, "deleted") || strings.Contains(errOut, "rewritten") {
		t.Errorf("verify --expect-head (archived) without --archive = %d %q; want 2 asking for --archive", code, errOut)
	}
	if code, out, errOut := runMain(t, "audit", "verify", "--archive", "archive", "--expect-head", call); code != 0 {
		t.Errorf("verify --archive --expect-head %s = %d %s %s; want ok", call, code, out, errOut)
	}
	other := fmt.Sprintf("%d:%s", rep.HeadSeq, strings.Repeat("0", 64))
	if code, _, errOut := runMain(t, "audit", "verify", "--archive", "archive", "--expect-head", other); code != exitRejected || !strings.Contains(errOut, "rewritten") {
		t.Errorf("verify --archive --expect-head with another hash = %d %q; want 1, rewritten", code, errOut)
	}
}

// TestHeadPublishedOncePerDay: with a notification channel configured,
// every cycle offers the chain's head to the outbox and one notification a
// day (of the run's clock) is enqueued per channel, naming the head.
func TestHeadPublishedOncePerDay(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_TEST_HEAD_SLACK", "xoxb-test-head-0123456789")
	cfg := "notify: {slack: {token_env: WARDEN_TEST_HEAD_SLACK, channel: '#ops', api_url: 'http://127.0.0.1:1/'}}\n"
	if err := os.WriteFile("warden.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The replay starts at 00:00: 26 hourly cycles cross into a second day.
	runCycles(t, 26, "--config", "warden.yaml")
	db, err := sql.Open("sqlite3", "file:warden.db?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT dedup, json_extract(body, '$.text') FROM records WHERE kind = 'notification' AND state = 'audit_head' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var key, text string
		rows.Scan(&key, &text)
		keys = append(keys, key)
		if !strings.Contains(text, "warden audit verify --expect-head ") {
			t.Errorf("head notification text = %q", text)
		}
	}
	if len(keys) != 2 || keys[0] != "audit_head:2022-06-01" || keys[1] != "audit_head:2022-06-02" {
		t.Errorf("head notifications %v; want one for each of the two days", keys)
	}
}

// TestAuditArchiveCommand: warden audit archive moves a day of cycles out
// of the database; runs go on from the state kept; verify --archive walks
// the file and the database as one chain and names a damaged file; the
// command refuses while a run holds the lock.
func TestAuditArchiveCommand(t *testing.T) {
	t.Chdir(t.TempDir())
	runCycles(t, 30)
	if code, _, errOut := runMain(t, "audit", "archive"); code != exitUsage || !strings.Contains(errOut, "--before") {
		t.Errorf("archive without --before = %d %q", code, errOut)
	}
	lock, err := lockDB("warden.db")
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runMain(t, "audit", "archive", "--before", "2022-06-02"); code != exitUsage || !strings.Contains(errOut, "another warden run") {
		t.Errorf("archive while a run holds the lock = %d %q; want refused", code, errOut)
	}
	lock.Close()
	code, out, errOut := runMain(t, "audit", "archive", "--before", "2022-06-02")
	if code != 0 || !strings.Contains(out, "archived seqs 1..") {
		t.Fatalf("audit archive = %d %s %s", code, out, errOut)
	}
	files, _ := filepath.Glob("archive/*.jsonl.gz")
	if len(files) != 1 {
		t.Fatalf("archive files %v; want one", files)
	}
	// The next cycle continues the paper account and the chain.
	if code, out, errOut := runMain(t, "run", "--once"); code != 0 {
		t.Fatalf("run --once after archiving = %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runMain(t, "audit", "verify"); code != 0 {
		t.Fatalf("verify after archiving = %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runMain(t, "audit", "verify", "--archive", "archive"); code != 0 || !strings.Contains(out, "1 file(s)") {
		t.Fatalf("verify --archive = %d %s %s", code, out, errOut)
	}
	data, _ := os.ReadFile(files[0])
	os.WriteFile(files[0], data[:len(data)/2], 0o600)
	code, _, errOut = runMain(t, "audit", "verify", "--archive", "archive")
	if code != exitRejected || !strings.Contains(errOut, filepath.Base(files[0])) || !strings.Contains(errOut, "seq ") {
		t.Errorf("verify --archive of a truncated file = %d %q; want 1 naming the file and record", code, errOut)
	}
}

// TestParseAuditTimeLimits: times and durations an audit record cannot
// carry are refused at the limit's next step, never wrapped around
// (150000d ago once meant the year 2200 and archived everything).
func TestParseAuditTimeLimits(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"36500d", true}, {"36501d", false}, {"150000d", false}, {"200000d", false}, {"99999999999d", false},
		{"876000h", true}, {"876001h", false}, {"0d", true},
		{"2200-12-31", true}, {"2201-01-01", false}, {"9999-12-31", false},
		{"1700-01-01", true}, {"1699-12-31", false}, {"0001-01-01", false},
		{"2199-12-31T23:59:59Z", true}, {"2262-05-01T00:00:00Z", false},
	} {
		got, err := parseAuditTime("--before", tc.in, now)
		switch {
		case tc.ok && err != nil:
			t.Errorf("parseAuditTime(%q) = %v; want accepted", tc.in, err)
		case !tc.ok && err == nil:
			t.Errorf("parseAuditTime(%q) = %s; want refused", tc.in, got)
		case !tc.ok && !strings.Contains(err.Error(), "--before"):
			t.Errorf("parseAuditTime(%q) = %v; want the flag named", tc.in, err)
		}
	}
}

// TestAuditArchiveUsesTheConfigsDir: with --config, archive writes where
// retention writes (audit.archive_dir), so one directory holds every
// archive and verify --archive walks them all.
func TestAuditArchiveUsesTheConfigsDir(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, d := range []string{"etc", "var", "elsewhere"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := "db: ../var/warden.db\naudit:\n  retention: 1d\n  archive_dir: ../arch\n"
	if err := os.WriteFile("etc/w.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir("elsewhere")
	runCycles(t, 3, "--config", "../etc/w.yaml")
	code, js, errOut := runMain(t, "audit", "runs", "--json", "--limit", "0", "--config", "../etc/w.yaml")
	var rows []audit.RunRow
	if err := json.Unmarshal([]byte(js), &rows); err != nil || len(rows) < 2 {
		t.Fatalf("runs = %d: %v %s %s", code, err, js, errOut)
	}
	oldest := rows[len(rows)-1].RunID
	code, out, errOut := runMain(t, "audit", "archive", "--config", "../etc/w.yaml", "--before", "0d")
	if code != 0 || !strings.Contains(out, filepath.Join("arch", "warden-audit-")) {
		t.Fatalf("archive --config = %d %s %s; want a file in the config's archive_dir", code, out, errOut)
	}
	if _, err := os.Stat("../var/archive"); err == nil {
		t.Errorf("archive --config wrote beside the database, not into audit.archive_dir")
	}
	if code, out, errOut := runMain(t, "audit", "verify", "--config", "../etc/w.yaml", "--archive", "../arch"); code != 0 {
		t.Errorf("verify --archive ../arch = %d %s %s", code, out, errOut)
	}
	// An archived run's id: the hint names the config's archive_dir.
	code, _, errOut = runMain(t, "audit", "show", oldest, "--config", "../etc/w.yaml")
	if code != exitUsage || !strings.Contains(errOut, "older records were archived") || !strings.HasSuffix(strings.TrimSpace(errOut), "arch") {
		t.Errorf("show of an archived run with --config = %d %q; want the hint to name the config's archive_dir", code, errOut)
	}
	if strings.Contains(errOut, filepath.Join("var", "archive")) {
		t.Errorf("the hint names the directory beside the database, not the config's: %q", errOut)
	}
}

// TestAuditArchiveRefusesWhatIsNotAWardenDatabase: an empty file, a text
// file or a directory is refused (exit 2) and left exactly as it was: no
// schema written into it, no lock file beside it.
func TestAuditArchiveRefusesWhatIsNotAWardenDatabase(t *testing.T) {
	t.Chdir(t.TempDir())
	os.WriteFile("empty.db", nil, 0o600)
	os.WriteFile("junk.db", []byte("hi\n"), 0o600)
	os.Mkdir("dir.db", 0o755)
	for _, db := range []string{"empty.db", "junk.db", "dir.db"} {
		before, _ := os.ReadFile(db)
		code, _, errOut := runMain(t, "audit", "archive", "--before", "0d", "--db", db)
		if code != exitUsage || !strings.Contains(errOut, "nothing changed") {
			t.Errorf("archive --db %s = %d %q; want 2, nothing changed", db, code, errOut)
		}
		if after, _ := os.ReadFile(db); string(after) != string(before) {
			t.Errorf("archive changed %s: %d bytes, was %d", db, len(after), len(before))
		}
		if _, err := os.Stat(db + ".lock"); err == nil {
			t.Errorf("archive left %s.lock", db)
		}
	}
}

// TestArchiveKeepsTheNewestRun: archiving up to now (--before 0d) or a
// date ahead keeps the newest run whole: status shows the same account
// and marks as before (it showed a position worth 0 and a false loss),
// the same day start (the equity the daily loss limit counts from), and
// kill still knows when a run last used the database.
func TestArchiveKeepsTheNewestRun(t *testing.T) {
	t.Chdir(t.TempDir())
	runCycles(t, 4)
	status := func() string {
		_, out, _ := runMain(t, "status")
		var keep []string
		for _, l := range strings.Split(out, "\n") {
			for _, p := range []string{"equity ", "day PnL", "exposure ", "last run"} {
				if strings.HasPrefix(l, p) {
					keep = append(keep, l)
				}
			}
		}
		return strings.Join(keep, "\n")
	}
	before := status()
	if code, out, errOut := runMain(t, "audit", "archive", "--before", time.Now().AddDate(0, 0, 1).Format(time.DateOnly)); code != 0 || !strings.Contains(out, "archived seqs 1..") {
		t.Fatalf("archive = %d %s %s", code, out, errOut)
	}
	if after := status(); after != before || before == "" {
		t.Errorf("status after archiving up to tomorrow:\n%s\nbefore:\n%s", after, before)
	}
	if after := status(); !strings.Contains(after, "equity        9") || strings.Contains(after, "equity        0") {
		t.Errorf("status after archiving shows no account:\n%s", after)
	}
	code, out, errOut := runMain(t, "kill", "--reason", "test")
	if code != 0 || strings.Contains(out, "last run: never") || strings.Contains(errOut, "no run has ever used") {
		t.Errorf("kill after archiving = %d %q %q; want the last run known", code, out, errOut)
	}
}

// runCycles runs n `run --once` cycles (with args), as cron would, and
// fails the test on any that does not exit 0.
func runCycles(t *testing.T, n int, args ...string) {
	t.Helper()
	for i := 0; i < n; i++ {
		if code, out, errOut := runMain(t, append([]string{"run", "--once"}, args...)...); code != 0 {
			t.Fatalf("cycle %d: run --once = %d\n%s\n%s", i+1, code, out, errOut)
		}
	}
}

// TestShowArchivedRunPointsToTheArchive: after archiving, `audit show` of a
// run that left the database says the records were archived and how to
// read them (--archive and the directory), and with it shows the run.
func TestShowArchivedRunPointsToTheArchive(t *testing.T) {
	t.Chdir(t.TempDir())
	runCycles(t, 2)
	_, js, _ := runMain(t, "audit", "runs", "--json", "--limit", "0")
	var rows []audit.RunRow
	if err := json.Unmarshal([]byte(js), &rows); err != nil || len(rows) == 0 {
		t.Fatalf("runs: %v %s", err, js)
	}
	first := rows[0].RunID
	for _, r := range rows {
		if r.StartedAt.Before(rows[0].StartedAt) {
			first = r.RunID
		}
	}
	code, _, errOut := runMain(t, "audit", "show", first)
	if code != 0 || strings.Contains(errOut, "archived") {
		t.Fatalf("show before archiving = %d %s", code, errOut)
	}
	runCycles(t, 2)
	if code, out, errOut := runMain(t, "audit", "archive", "--before", "0d"); code != 0 {
		t.Fatalf("archive = %d %s %s", code, out, errOut)
	}
	code, _, errOut = runMain(t, "audit", "show", first)
	if code != exitUsage || !strings.Contains(errOut, "not found") || !strings.Contains(errOut, "older records were archived") || !strings.Contains(errOut, "--archive archive") {
		t.Fatalf("show of an archived run = %d %q; want 2 pointing to --archive archive", code, errOut)
	}
	if code, out, errOut := runMain(t, "audit", "show", first, "--archive", "archive"); code != 0 || !strings.Contains(out, "run "+first) {
		t.Fatalf("show --archive archive = %d %s %s", code, out, errOut)
	}
	// A mistyped id in a database that never archived gets no hint.
	t.Chdir(t.TempDir())
	runCycles(t, 1)
	if code, _, errOut := runMain(t, "audit", "show", "r-nope"); code != exitUsage || strings.Contains(errOut, "archived") {
		t.Errorf("show of an unknown run, nothing archived = %d %q; want 2 without the hint", code, errOut)
	}
}

// TestAuditArchiveDurationCountsOnTheReplaysClock: on the offline
// replay's database, `audit archive --before 12h` counts back from the
// last run's decision time, as `audit list --since` does (it counted from
// the wall clock, years later, and archived every run but the newest);
// and verify names a partial file an archive left while writing.
func TestAuditArchiveDurationCountsOnTheReplaysClock(t *testing.T) {
	t.Chdir(t.TempDir())
	runCycles(t, 30)
	code, out, errOut := runMain(t, "audit", "archive", "--before", "12h")
	if code != 0 || !strings.Contains(errOut, "counts back from the last run's decision time") {
		t.Fatalf("audit archive --before 12h = %d\n%s\n%s", code, out, errOut)
	}
	_, runs, _ := runMain(t, "audit", "runs", "--limit", "0")
	if n := strings.Count(runs, "\n") - 1; n < 10 || n > 14 {
		t.Errorf("%d runs left live after archiving those 12 h before the last of 30 hourly runs; want about 12\n%s", n, runs)
	}
	partial := filepath.Join("archive", "warden-audit-20220601T000000Z-seq999-1000.jsonl.gz.tmp")
	if err := os.WriteFile(partial, []byte("cut short"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runMain(t, "audit", "verify", "--archive", "archive")
	if code != 0 || !strings.Contains(out, "note: "+filepath.Base(partial)+" is a partial file") {
		t.Errorf("verify --archive with a partial file = %d; want 0 and a note naming it\n%s\n%s", code, out, errOut)
	}
}

// TestReviewSaysItsWindowReachesIntoArchives: with 3 days' retention on a
// daily replay, a 7-day review reads only the days kept; it says so on
// stderr (it summed 4 runs of the 7 days as the whole week's, silently).
func TestReviewSaysItsWindowReachesIntoArchives(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("w.yaml", []byte("db: ./warden.db\ntimeframe: 1d\naudit: {retention: 3d}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if code, out, errOut := runMain(t, "run", "--once", "--config", "w.yaml"); code != exitOK {
			t.Fatalf("cycle %d = %d\n%s\n%s", i, code, out, errOut)
		}
	}
	code, out, errOut := runMain(t, "review", "--config", "w.yaml")
	if code != exitOK || !strings.Contains(errOut, "were moved to archive files and review reads the database alone") {
		t.Errorf("review over archived days = %d; want a warning on stderr\n%s\n%s", code, out, errOut)
	}
	// A window within what is kept: no warning.
	if _, _, errOut := runMain(t, "review", "--config", "w.yaml", "--since", "1d"); strings.Contains(errOut, "archive files") {
		t.Errorf("review --since 1d warns of archives:\n%s", errOut)
	}
}
