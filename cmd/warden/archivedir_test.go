package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-trading/warden/agent/audit"
)

// TestVerifyArchiveDirThatDoesNotExist: verify --archive with a mistyped
// directory is a usage error (exit 2) naming the directory, not tampering;
// an existing directory without the files the chain names is a finding
// (exit 1); a file given as the directory is a usage error too.
func TestVerifyArchiveDirThatDoesNotExist(t *testing.T) {
	t.Chdir(t.TempDir())
	runCycles(t, 4)
	if code, out, errOut := runMain(t, "audit", "archive", "--before", "0d"); code != 0 || !strings.Contains(out, "archived seqs 1..") {
		t.Fatalf("archive = %d %s %s", code, out, errOut)
	}
	code, out, errOut := runMain(t, "audit", "verify", "--archive", "archvie")
	if code != exitUsage || !strings.Contains(errOut, "archvie") || !strings.Contains(errOut, "does not exist") || strings.Contains(errOut, "missing") || strings.Contains(errOut, "broken") {
		t.Errorf("verify --archive with a directory that does not exist = %d %q %q; want 2, the directory does not exist", code, out, errOut)
	}
	if code, _, errOut := runMain(t, "audit", "list", "--archive", "archvie"); code != exitUsage || !strings.Contains(errOut, "does not exist") {
		t.Errorf("list --archive with a directory that does not exist = %d %q; want 2", code, errOut)
	}
	os.WriteFile("afile", []byte("x"), 0o600)
	if code, _, errOut := runMain(t, "audit", "verify", "--archive", "afile"); code != exitUsage || !strings.Contains(errOut, "not a directory") {
		t.Errorf("verify --archive with a file = %d %q; want 2, not a directory", code, errOut)
	}
	os.Mkdir("empty", 0o755)
	if code, _, errOut := runMain(t, "audit", "verify", "--archive", "empty"); code != exitRejected || !strings.Contains(errOut, "missing") {
		t.Errorf("verify --archive with an empty directory = %d %q; want 1, the archive file missing", code, errOut)
	}
	if code, out, errOut := runMain(t, "audit", "verify", "--archive", "archive"); code != 0 {
		t.Errorf("verify --archive archive = %d %s %s", code, out, errOut)
	}
}

// TestVerifyExpectBareHeadArchived: a bare head hash noted before its
// record was archived is looked up, without --archive, in the archives
// where they go (archive/ beside the database): found there exit 0; a hash
// no record has, in the archives or the database, exit 1 (never 2); with
// no archive directory to look in, exit 2 asking for --archive.
func TestVerifyExpectBareHeadArchived(t *testing.T) {
	t.Chdir(t.TempDir())
	runCycles(t, 3)
	// A head noted on a model call (a record nothing keeps in the
	// database once archived).
	_, out, _ := runMain(t, "audit", "export", "--records", "--format", "jsonl")
	var rep struct {
		Kind     string `json:"kind"`
		HeadHash string `json:"hash"`
	}
	for _, line := range strings.Split(out, "\n") {
		if err := json.Unmarshal([]byte(line), &rep); err == nil && rep.Kind == "llm_call" {
			break
		}
	}
	if rep.Kind != "llm_call" || rep.HeadHash == "" {
		t.Fatalf("no model call exported:\n%.500s", out)
	}
	runCycles(t, 2)
	if code, out, errOut := runMain(t, "audit", "archive", "--before", "0d"); code != 0 {
		t.Fatalf("archive = %d %s %s", code, out, errOut)
	}
	code, out, errOut := runMain(t, "audit", "verify", "--expect-head", rep.HeadHash)
	if code != 0 || !strings.HasPrefix(out, "ok:") || !strings.Contains(out, "found in the archives") {
		t.Errorf("verify --expect-head BAREHASH (archived) = %d %q %q; want 0, found in the archives", code, out, errOut)
	}
	code, _, errOut = runMain(t, "audit", "verify", "--expect-head", strings.Repeat("0", 64))
	if code != exitRejected || !strings.Contains(errOut, "no record has the expected head hash") {
		t.Errorf("verify --expect-head with a hash no record has = %d %q; want 1", code, errOut)
	}
	if err := os.Rename("archive", "moved"); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runMain(t, "audit", "verify", "--expect-head", rep.HeadHash)
	if code != exitUsage || !strings.Contains(errOut, "--archive") {
		t.Errorf("verify --expect-head BAREHASH without an archive directory = %d %q; want 2 asking for --archive", code, errOut)
	}
	if code, out, errOut := runMain(t, "audit", "verify", "--archive", "moved", "--expect-head", rep.HeadHash); code != 0 {
		t.Errorf("verify --archive moved --expect-head = %d %s %s", code, out, errOut)
	}
}

// TestVerifyCorruptedArchive: an archive file with bytes flipped in the
// middle is reported corrupted (exit 1) with its name and the last good
// record, not truncated; a file cut short still says truncated.
func TestVerifyCorruptedArchive(t *testing.T) {
	t.Chdir(t.TempDir())
	runCycles(t, 6)
	if code, out, errOut := runMain(t, "audit", "archive", "--before", "0d"); code != 0 {
		t.Fatalf("archive = %d %s %s", code, out, errOut)
	}
	files, _ := filepath.Glob("archive/*.jsonl.gz")
	if len(files) != 1 {
		t.Fatalf("archive files %v", files)
	}
	good, _ := os.ReadFile(files[0])
	bad := bytes.Clone(good)
	for i := len(bad) / 2; i < len(bad)/2+8; i++ {
		bad[i] ^= 0xff
	}
	os.WriteFile(files[0], bad, 0o600)
	code, _, errOut := runMain(t, "audit", "verify", "--archive", "archive")
	if code != exitRejected || !strings.Contains(errOut, "corrupted") || !strings.Contains(errOut, filepath.Base(files[0])) ||
		!strings.Contains(errOut, "last good record") || strings.Contains(errOut, "truncated") {
		t.Errorf("verify --archive of a corrupted file = %d %q; want 1, corrupted, naming the file and the last good record", code, errOut)
	}
	os.WriteFile(files[0], good[:len(good)-200], 0o600)
	code, _, errOut = runMain(t, "audit", "verify", "--archive", "archive")
	if code != exitRejected || !strings.Contains(errOut, "truncated") || !strings.Contains(errOut, filepath.Base(files[0])) {
		t.Errorf("verify --archive of a truncated file = %d %q; want 1, truncated", code, errOut)
	}
}

// TestVerifyTailDeletedWithTheArchiveRecord: deleting the tail of the live
// database from the archive record on leaves the archived range's kept
// copies with gaps; verify --expect-head names the first seq really
// missing (the one after the surviving head) and the range deleted, not
// seq 1.
func TestVerifyTailDeletedWithTheArchiveRecord(t *testing.T) {
	t.Chdir(t.TempDir())
	runCycles(t, 4)
	if code, out, errOut := runMain(t, "audit", "archive", "--before", "0d"); code != 0 {
		t.Fatalf("archive = %d %s %s", code, out, errOut)
	}
	runCycles(t, 2)
	_, out, _ := runMain(t, "audit", "verify", "--json")
	var rep audit.VerifyReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:warden.db")
	if err != nil {
		t.Fatal(err)
	}
	var archSeq int64
	if err := db.QueryRow(`SELECT seq FROM records WHERE kind = 'archive'`).Scan(&archSeq); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER records_no_delete`, fmt.Sprintf(`DELETE FROM records WHERE seq >= %d`, archSeq)} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	head := fmt.Sprintf("%d:%s", rep.HeadSeq, rep.HeadHash)
	want := fmt.Sprintf("records seq %d: deleted", archSeq)
	wantRange := fmt.Sprintf("records %d..%d were deleted from the end", archSeq, rep.HeadSeq)
	for _, args := range [][]string{{"--expect-head", head}, {"--archive", "archive", "--expect-head", head}} {
		code, _, errOut := runMain(t, append([]string{"audit", "verify"}, args...)...)
		if code != exitRejected || !strings.Contains(errOut, want) || !strings.Contains(errOut, wantRange) {
			t.Errorf("verify %v after the tail from the archive record (seq %d) was deleted = %d %q; want 1 naming %q and %q", args, archSeq, code, errOut, want, wantRange)
		}
	}
	code, _, errOut := runMain(t, "audit", "verify")
	if code != exitRejected || !strings.Contains(errOut, "archive record naming them is gone") || !strings.Contains(errOut, fmt.Sprintf("after seq %d", archSeq-1)) {
		t.Errorf("verify after the tail was deleted = %d %q; want 1 saying the archive record may be gone after seq %d", code, errOut, archSeq-1)
	}
}
