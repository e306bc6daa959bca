package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchDebounce is how long Watch waits after the last change to the policy
// (or its tests) file before it reads it: editors and `cp` write a file in
// several steps, and a burst of changes is checked once.
const WatchDebounce = 250 * time.Millisecond

// Watch watches the policy file at path for changes until ctx is done, and
// takes a changed file only if it loads (parse, type check, cost) and every
// case of its policy tests passes: testsPath, or when empty the tests file
// beside it (TestsFileFor) if one exists at the time of the check. A taken
// policy is handed to onReload; a refused one leaves nothing changed and its
// reason — a *ReloadError wrapping the *LoadError (file:line: rule NAME:
// message) or the failed test cases — goes to onReject, once per refused
// content. A deleted or unreadable file is refused too.
//
// Watch watches the file's directory, not the file, so a file replaced by
// rename (as editors save) is seen. The file's content when Watch starts is
// taken to be the policy in force: start Watch right after loading it.
// Editing only the tests file re-checks a policy that was refused, so
// fixing a test can let a waiting edit in; the policy in force is never
// re-judged by new tests. The callbacks run on Watch's goroutine, one at a
// time, never after Watch returns.
//
// The embedded default policy has no file and is never watched: an empty
// path is an error. Watch returns nil when ctx is done, or an error if the
// directory cannot be watched.
func Watch(ctx context.Context, path string, testsPath string, logger *slog.Logger, onReload func(*Policy), onReject func(error)) error {
	return watch(ctx, path, testsPath, logger, WatchDebounce, onReload, onReject)
}

// watcher is the state of one Watch.
type watcher struct {
	path, testsPath string
	// hadTests is the tests file in force when watching began.
	hadTests string
	logger   *slog.Logger
	onReload func(*Policy)
	onReject func(error)
	// accepted is the hash of the policy in force; lastKey identifies the
	// last (policy, tests) contents judged, so a refusal is reported once.
	accepted, lastKey string
	// emptyOnce is set when the last look found the file empty.
	emptyOnce bool
}

func watch(ctx context.Context, path, testsPath string, logger *slog.Logger, debounce time.Duration, onReload func(*Policy), onReject func(error)) error {
	if path == "" {
		return errors.New("policy: no policy file to watch (the embedded default policy is never reloaded)")
	}
	if onReload == nil || onReject == nil {
		return errors.New("policy: Watch needs both onReload and onReject")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &watcher{path: filepath.Clean(path), logger: logger, onReload: onReload, onReject: onReject}
	if testsPath != "" {
		w.testsPath = filepath.Clean(testsPath)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("policy: watch %s: %w", path, err)
	}
	defer fw.Close()
	dirs := []string{filepath.Dir(w.path)}
	if w.testsPath != "" && filepath.Dir(w.testsPath) != dirs[0] {
		dirs = append(dirs, filepath.Dir(w.testsPath))
	}
	for _, d := range dirs {
		if err := fw.Add(d); err != nil {
			return fmt.Errorf("policy: watch directory %s: %w", d, err)
		}
	}
	if src, err := readPolicyFile(w.path); err == nil {
		w.accepted = hashOf(src)
		w.lastKey = w.accepted
	}
	// The tests in force now stay required: deleting them does not let
	// the next edit in untested.
	w.hadTests = w.testsFile()
	logger.Info("watching the policy file", "path", w.path, "tests", w.hadTests)

	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return errors.New("policy: watcher closed")
			}
			if w.relevant(ev.Name) {
				timer.Reset(debounce)
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return errors.New("policy: watcher closed")
			}
			logger.Warn("policy watcher", "err", err)
		case <-timer.C:
			if w.halfWritten(ctx) {
				// An empty file is most often one being rewritten in place
				// (truncated, not yet written): look again once before
				// judging it, so a slow writer does not raise a false alarm.
				timer.Reset(debounce)
				continue
			}
			w.check(ctx)
		}
	}
}

// relevant reports whether an event names the policy file or its tests.
func (w *watcher) relevant(name string) bool {
	name = filepath.Clean(name)
	return name == w.path || name == TestsFileFor(w.path) || (w.testsPath != "" && name == w.testsPath)
}

// testsFile is the tests file in use now: the configured one, else the one
// beside the policy if it exists, else "".
func (w *watcher) testsFile() string {
	if w.testsPath != "" {
		return w.testsPath
	}
	if _, err := os.Stat(TestsFileFor(w.path)); err == nil {
		return TestsFileFor(w.path)
	}
	return ""
}

// halfWritten reports whether the policy file is empty for the first time
// in a row. A second look that still finds it empty judges it (and refuses
// it: an empty file is not a policy).
func (w *watcher) halfWritten(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	src, err := readPolicyFile(w.path)
	empty := err == nil && len(bytes.TrimSpace(src)) == 0
	if empty && !w.emptyOnce {
		w.emptyOnce = true
		return true
	}
	w.emptyOnce = false
	return false
}

// check reads the policy and its tests and takes or refuses the policy.
func (w *watcher) check(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	src, err := readPolicyFile(w.path)
	if err != nil {
		key := "unreadable:" + err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			key = "missing"
		}
		if key != w.lastKey {
			w.lastKey = key
			w.reject(&ReloadError{Path: w.path, Err: err})
		}
		return
	}
	rev := hashOf(src)
	testsFile := w.testsFile()
	if testsFile == "" && w.hadTests != "" {
		testsFile = w.hadTests // gone since the start: read below, refused
	}
	var (
		tests    []byte
		testsErr error
	)
	key := rev
	if testsFile != "" {
		if tests, testsErr = readPolicyFile(testsFile); testsErr != nil {
			key += ":tests-unreadable:" + testsErr.Error()
		} else {
			key += ":" + hashOf(tests)
		}
	}
	if rev == w.accepted {
		// The policy in force: nothing to take, whatever the tests say now.
		w.lastKey = key
		return
	}
	if key == w.lastKey {
		return // already refused as it is
	}
	w.lastKey = key
	p, err := Load(w.path, src)
	if err == nil && testsFile != "" {
		if testsErr != nil {
			err = fmt.Errorf("policy tests: %w", testsErr)
		} else {
			err = runTestsQuiet(ctx, p, tests, testsFile)
		}
	}
	if ctx.Err() != nil {
		return // stopping: a test run cut short says nothing about the file
	}
	if err != nil {
		w.reject(&ReloadError{Path: w.path, Revision: rev, Err: err})
		return
	}
	w.accepted = rev
	w.logger.Info("policy reloaded", "path", w.path, "policy", p.Name(), "sha256", rev, "tests", testsFile)
	w.onReload(p)
}

func (w *watcher) reject(err error) {
	w.logger.Warn("policy change refused; the previous policy stays in force", "path", w.path, "err", err)
	w.onReject(err)
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
