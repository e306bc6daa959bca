package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuditReadsArchives: after every record was archived, `audit list`,
// `audit show`, `audit export --records` and `warden trades|profit` read
// the archives and the database as one with --archive DIR and print what
// they printed before archiving; without it the archived history is gone
// from list and show, and trades warns. An edited archive is refused,
// named, for every reader.
func TestAuditReadsArchives(t *testing.T) {
	t.Chdir(t.TempDir())
	runCycles(t, 12)
	read := func(args ...string) string {
		t.Helper()
		code, out, errOut := runMain(t, args...)
		if code != 0 {
			t.Fatalf("%v = %d\n%s\n%s", args, code, out, errOut)
		}
		return out
	}
	list := read("audit", "list", "--json", "--limit", "1000")
	if !strings.Contains(list, `"decision_id"`) {
		t.Fatalf("no decisions listed:\n%.400s", list)
	}
	runs := read("audit", "runs", "--json")
	// The oldest run (runs lists newest first; the newest stays live).
	firstRun := runs[strings.LastIndex(runs, `"run_id": "`)+len(`"run_id": "`):]
	firstRun = firstRun[:strings.Index(firstRun, `"`)]
	show := read("audit", "show", firstRun, "--json")
	records := read("audit", "export", "--records", "--format", "jsonl")
	trades := read("trades", "--json")
	profit := read("profit", "--json")

	if code, out, errOut := runMain(t, "audit", "archive", "--before", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); code != 0 {
		t.Fatalf("audit archive = %d\n%s\n%s", code, out, errOut)
	}
	if code, _, _ := runMain(t, "audit", "show", firstRun); code == 0 {
		t.Fatalf("an archived run is still shown from the database alone")
	}
	if got := read("audit", "list", "--json", "--limit", "1000"); got == list {
		t.Fatalf("the database alone lists the archived decisions")
	}
	if got := read("audit", "list", "--json", "--limit", "1000", "--archive", "archive"); got != list {
		t.Errorf("list --archive differs from the list before archiving:\n%.600s\nwant\n%.600s", got, list)
	}
	if got := read("audit", "show", firstRun, "--json", "--archive", "archive"); got != show {
		t.Errorf("show --archive differs from show before archiving")
	}
	got := read("audit", "export", "--records", "--format", "jsonl", "--archive", "archive")
	if !strings.HasPrefix(got, records) || strings.Count(got[len(records):], "\n") != 1 || !strings.Contains(got[len(records):], `"kind":"archive"`) {
		t.Errorf("export --records --archive is not the export before archiving and the archive record")
	}
	code, out, errOut := runMain(t, "trades", "--json")
	if code != 0 || !strings.Contains(errOut, "archive") {
		t.Errorf("trades without --archive = %d; want a warning about the archive on stderr, got %q", code, errOut)
	}
	_ = out
	code, out, errOut = runMain(t, "trades", "--json", "--archive", "archive")
	if code != 0 || out != trades || strings.Contains(errOut, "warning") {
		t.Errorf("trades --archive = %d, stderr %q; output equal to before: %v", code, errOut, out == trades)
	}
	if got := read("profit", "--json", "--archive", "archive"); got != profit {
		t.Errorf("profit --archive differs from profit before archiving:\n%s\nwant\n%s", got, profit)
	}

	// An edited archive file: every reader refuses it, naming it.
	files, _ := filepath.Glob(filepath.Join("archive", "*.jsonl.gz"))
	if len(files) != 1 {
		t.Fatalf("archive files: %v", files)
	}
	data, _ := os.ReadFile(files[0])
	data[len(data)/2] ^= 0x20
	if err := os.WriteFile(files[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"audit", "list", "--archive", "archive"},
		{"audit", "show", firstRun, "--archive", "archive"},
		{"audit", "export", "--records", "--format", "jsonl", "--archive", "archive"},
		{"trades", "--archive", "archive"},
		{"profit", "--archive", "archive"},
	} {
		code, out, errOut := runMain(t, args...)
		if code != exitRejected || !strings.Contains(errOut, filepath.Base(files[0])) {
			t.Errorf("%v with an edited archive = %d, stderr %q; want 1 (a failed check, as verify), naming the file", args, code, errOut)
		}
		if strings.Contains(out, firstRun) {
			t.Errorf("%v printed records from an edited archive", args)
		}
	}
	if code, _, errOut := runMain(t, "audit", "list", "--archive", "nosuchdir"); code != 2 || !strings.Contains(errOut, "nosuchdir") {
		t.Errorf("list --archive nosuchdir = %d, %q; want 2 naming it", code, errOut)
	}
}
