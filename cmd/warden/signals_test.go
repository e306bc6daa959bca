package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// signalChildEnv carries, as JSON, the arguments TestSignalChildProcess
// runs the CLI with, as the warden binary does (mainProcess: its signals).
const signalChildEnv = "WARDEN_TEST_SIGNAL_CHILD_ARGS"

// TestSignalChildProcess is the child of the tests below: mainProcess with
// the arguments from the environment; its exit status is the CLI's.
func TestSignalChildProcess(t *testing.T) {
	js := os.Getenv(signalChildEnv)
	if js == "" {
		t.Skip("only run as a child process")
	}
	var args []string
	if err := json.Unmarshal([]byte(js), &args); err != nil {
		t.Fatal(err)
	}
	os.Exit(mainProcess(args))
}

// archiveChild is `warden ARGS` as a child process in the current
// directory, with TMPDIR tmp (where an --archive view is made) and stdout.
func archiveChild(t *testing.T, tmp string, stdout *os.File, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	js, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSignalChildProcess$")
	cmd.Env = append(os.Environ(), signalChildEnv+"="+string(js), "TMPDIR="+tmp)
	cmd.Stdout = stdout
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &errb
}

// archivedHistory makes, in the current directory, a database whose
// records were all archived into archive/.
func archivedHistory(t *testing.T) {
	t.Helper()
	runCycles(t, 12) // an export of more than a pipe holds (64 KiB)
	if code, out, errOut := runMain(t, "audit", "archive", "--before", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); code != 0 {
		t.Fatalf("audit archive = %d\n%s\n%s", code, out, errOut)
	}
}

// views are the archive views a reader left in tmp.
func views(t *testing.T, tmp string) []string {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(tmp, "warden-archive-view-*"))
	return left
}

// TestArchiveViewRemovedWhenStdoutCloses: `warden trades --archive archive
// | head -1` and the same with `audit export --records`: the reader of
// stdout is gone before the command writes. The runtime used to kill the
// process with SIGPIPE at that write, leaving the merged copy of the whole
// audit history in $TMPDIR; now the write fails, the command stops,
// removes it and exits 141 without a word.
func TestArchiveViewRemovedWhenStdoutCloses(t *testing.T) {
	t.Chdir(t.TempDir())
	archivedHistory(t)
	for _, args := range [][]string{
		{"trades", "--archive", "archive"},
		{"audit", "export", "--records", "--format", "jsonl", "--archive", "archive"},
	} {
		tmp := t.TempDir()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		r.Close() // head -1 has read its line and gone
		cmd, errb := archiveChild(t, tmp, w, args...)
		w.Close()
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitBrokenPipe || errb.Len() != 0 {
			t.Errorf("%v with stdout closed: %v, stderr %q; want exit 141 and nothing said", args, err, errb.String())
		}
		if left := views(t, tmp); len(left) > 0 {
			t.Errorf("%v with stdout closed left %v", args, left)
		}
	}
}

// TestArchiveViewRemovedOnHangup: the terminal running `warden audit
// export --archive archive` closes (SIGHUP) while it writes: the command
// stops as on Ctrl-C and removes the merged copy; SIGHUP used to kill it
// where it stood.
func TestArchiveViewRemovedOnHangup(t *testing.T) {
	t.Chdir(t.TempDir())
	archivedHistory(t)
	tmp := t.TempDir()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Nothing reads the pipe yet: the export (more than a pipe holds)
	// blocks writing, with its view made.
	cmd, errb := archiveChild(t, tmp, w, "audit", "export", "--records", "--format", "jsonl", "--archive", "archive")
	w.Close()
	deadline := time.Now().Add(30 * time.Second)
	for len(views(t, tmp)) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no archive view made within 30 s; stderr %q", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // writing, blocked on the full pipe
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, r)
	err = cmd.Wait()
	if n <= 64<<10 && err == nil {
		t.Fatalf("the export (%d bytes) fits in a pipe: it ended before the signal", n)
	}
	var ee *exec.ExitError
	if err != nil && (!errors.As(err, &ee) || ee.ExitCode() < 0) {
		t.Errorf("export after SIGHUP: %v (killed by the signal); stderr %q", err, errb.String())
	}
	if left := views(t, tmp); len(left) > 0 {
		t.Errorf("export after SIGHUP left %v (%d bytes written)", left, n)
	}
}
