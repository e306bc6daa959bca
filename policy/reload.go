package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// Reloader holds the validator in force and replaces it when the policy
// file changes, but only with a policy that loads and passes its tests.
// A refused file leaves the previous policy in force. It is safe for
// concurrent use; callers take Validator() once per cycle.
type Reloader struct {
	path      string // "" means the embedded default policy, never reloaded
	testsPath string // "" means no tests are required
	lim       Limits

	mu  sync.Mutex // serialises Reload
	cur atomic.Pointer[Validator]
	// lastRefused is the hash of the last refused file, so a broken file is
	// reported once, not on every poll.
	lastRefused string
}

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

// NewReloader loads the policy at path ("" for the embedded default) and
// checks it against its tests: testsPath, or when empty the tests file
// beside the policy if there is one. Any failure is an error: Warden does
// not start on a policy that does not load or fails its tests.
func NewReloader(ctx context.Context, path, testsPath string, lim Limits) (*Reloader, error) {
	r := &Reloader{path: path, testsPath: testsPath, lim: lim}
	if path == "" {
		p, err := Default()
		if err != nil {
			return nil, err
		}
		if err := runTestsQuiet(ctx, p, DefaultTestsSource(), DefaultTestsFile); err != nil {
			return nil, err
		}
		r.cur.Store(NewValidator(p, lim))
		return r, nil
	}
	if r.testsPath == "" {
		if _, err := os.Stat(TestsFileFor(path)); err == nil {
			r.testsPath = TestsFileFor(path)
		}
	}
	src, err := readPolicyFile(path)
	if err != nil {
		return nil, err
	}
	v, err := r.candidate(ctx, src)
	if err != nil {
		return nil, err
	}
	r.cur.Store(v)
	return r, nil
}

// Validator is the validator in force.
func (r *Reloader) Validator() *Validator { return r.cur.Load() }

// Reload re-reads the policy file. An unchanged file does nothing. A
// changed file that loads and passes its tests replaces the policy
// (changed is true); one that does not is a *ReloadError, reported once
// per refused revision (later polls of the same bytes return nil, false).
func (r *Reloader) Reload(ctx context.Context) (changed bool, err error) {
	if r.path == "" {
		return false, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	src, err := readPolicyFile(r.path)
	if err != nil {
		return false, &ReloadError{Path: r.path, Err: err}
	}
	sum := sha256.Sum256(src)
	rev := hex.EncodeToString(sum[:])
	if rev == r.cur.Load().Policy().Hash() {
		r.lastRefused = ""
		return false, nil
	}
	if rev == r.lastRefused {
		return false, nil
	}
	v, err := r.candidate(ctx, src)
	if err != nil {
		r.lastRefused = rev
		return false, &ReloadError{Path: r.path, Revision: rev, Err: err}
	}
	r.lastRefused = ""
	r.cur.Store(v)
	return true, nil
}

// candidate loads src and runs the tests against it.
func (r *Reloader) candidate(ctx context.Context, src []byte) (*Validator, error) {
	p, err := Load(r.path, src)
	if err != nil {
		return nil, err
	}
	if r.testsPath != "" {
		tests, err := readPolicyFile(r.testsPath)
		if err != nil {
			return nil, fmt.Errorf("policy tests: %w", err)
		}
		if err := runTestsQuiet(ctx, p, tests, r.testsPath); err != nil {
			return nil, err
		}
	}
	return NewValidator(p, r.lim), nil
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
	f, err := os.Open(path)
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
