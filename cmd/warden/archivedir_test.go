package main

import (
	"os"
	"strings"
	"testing"
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
