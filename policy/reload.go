package policy

// Helpers for reloading a policy file safely (see Watch).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ReloadError is a changed policy file that was refused.
type ReloadError struct {
	Path     string
	Revision string // sha256 of the refused file's bytes
	Err      error
}

func (e *ReloadError) Error() string {
	return fmt.Sprintf("policy %s (revision %.12s) refused, previous policy stays in force: %v", e.Path, e.Revision, e.Err)
}

func (e *ReloadError) Unwrap() error { return e.Err }

// TestsFileFor is the tests file that goes with a policy file:
// policy.yaml → policy_test.yaml.
func TestsFileFor(policyFile string) string {
	ext := filepath.Ext(policyFile)
	return strings.TrimSuffix(policyFile, ext) + "_test" + ext
}

// runTestsQuiet runs policy tests and turns failures into an error that
// carries the test output.
func runTestsQuiet(ctx context.Context, p *Policy, tests []byte, name string) error {
	var out bytes.Buffer
	sum, err := RunTests(ctx, &out, p, tests, name)
	if err != nil {
		return fmt.Errorf("policy tests: %w", err)
	}
	if sum.Failed > 0 {
		var fails []string
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(line, "FAIL: ") || strings.HasPrefix(line, "    ") {
				fails = append(fails, strings.TrimSpace(line))
			}
		}
		return fmt.Errorf("policy tests: %d of %d cases failed: %s", sum.Failed, sum.Failed+sum.Passed, strings.Join(fails, "; "))
	}
	return nil
}

func readPolicyFile(path string) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxPolicySize+1))
	if err != nil {
		return nil, err
	}
	if len(src) > MaxPolicySize {
		return nil, errors.New("file is larger than the policy size limit")
	}
	return src, nil
}

// ReadFile reads a policy or policy tests file: a regular file within the
// policy size limit.
func ReadFile(path string) ([]byte, error) { return readPolicyFile(path) }

// openRegular opens path for reading, refusing what is not a regular file:
// a FIFO would block the read for ever (and the process with it), a device
// may never end.
func openRegular(path string) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, fileKind(fi.Mode()))
	}
	return os.Open(path)
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}
