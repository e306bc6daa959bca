package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/notify"
	"github.com/warden-trading/warden/policy"
)

type fakeSwapper struct {
	mu sync.Mutex
	v  *policy.Validator
}

var _ validatorSwapper = (*fakeSwapper)(nil)

func (f *fakeSwapper) Validator() *policy.Validator {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.v
}

func (f *fakeSwapper) SetValidator(v *policy.Validator) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.v = v
}

type fakeRecorder struct {
	mu     sync.Mutex
	events []audit.Event
}

var _ eventRecorder = (*fakeRecorder)(nil)

func (f *fakeRecorder) RecordEvent(_ context.Context, e audit.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
	return nil
}

// ListEvents is the recorded events of f.Kinds, newest first, at most
// f.Limit (the only filters hot reload uses).
func (f *fakeRecorder) ListEvents(_ context.Context, flt audit.EventFilter) ([]audit.EventRow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []audit.EventRow
	for i := len(f.events) - 1; i >= 0; i-- {
		if len(flt.Kinds) > 0 && !slices.Contains(flt.Kinds, f.events[i].Kind) {
			continue
		}
		out = append(out, audit.EventRow{Seq: int64(i + 1), Event: f.events[i]})
		if flt.Limit > 0 && len(out) == flt.Limit {
			break
		}
	}
	return out, nil
}

// list is the policy_reload events recorded (the policy_tests events a
// reload with tests records too are in kind).
func (f *fakeRecorder) list() []audit.Event { return f.kind(audit.EventPolicyReload) }

func (f *fakeRecorder) kind(kind string) []audit.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []audit.Event
	for _, e := range f.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

type fakePublisher struct {
	mu     sync.Mutex
	events []notify.Event
}

var _ agent.Publisher = (*fakePublisher)(nil)

func (f *fakePublisher) Publish(_ context.Context, e notify.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
	return nil
}

func (f *fakePublisher) list() []notify.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]notify.Event(nil), f.events...)
}

// readyHandler is a slog handler that closes ready when policy.Watch logs
// that it is watching.
type readyHandler struct {
	once  *sync.Once
	ready chan struct{}
}

func newReadyLogger() (*slog.Logger, <-chan struct{}) {
	h := readyHandler{once: new(sync.Once), ready: make(chan struct{})}
	return slog.New(h), h.ready
}

func (h readyHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h readyHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h readyHandler) WithGroup(string) slog.Handler            { return h }
func (h readyHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "watching the policy file" {
		h.once.Do(func() { close(h.ready) })
	}
	return nil
}

func waitReady(t *testing.T, ready <-chan struct{}) {
	t.Helper()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("the policy watcher did not start")
	}
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPolicyWatchRecordsAndNotifies(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	src := string(policy.DefaultSource())
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("policy.yaml", src)
	write("policy_test.yaml", string(policy.DefaultTestsSource()))
	p0, err := policy.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sw := &fakeSwapper{v: policy.NewValidator(p0, policy.Limits{})}
	rec, pub := &fakeRecorder{}, &fakePublisher{}
	at := time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC)
	logger, ready := newReadyLogger()
	w := &policyWatch{file: file, limits: policy.Limits{}, agent: sw, store: rec, pub: pub, logger: logger, now: func() time.Time { return at }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitReady(t, ready)

	// A good edit is taken and recorded.
	edited := strings.Replace(src, "name: warden-default", "name: warden-edited", 1)
	write("policy.yaml", edited)
	eventually(t, "the edited policy in force", func() bool { return sw.Validator().Policy().Name() == "warden-edited" })
	p1 := sw.Validator().Policy()
	eventually(t, "an accepted event", func() bool { return len(rec.list()) == 1 })
	e := rec.list()[0]
	var d reloadDetail
	if err := json.Unmarshal(e.Detail, &d); err != nil || e.Kind != audit.EventPolicyReload || e.State != "accepted" || !e.At.Equal(at) ||
		d.File != file || d.OldHash != p0.Hash() || d.NewHash != p1.Hash() || d.Policy != "warden-edited" || d.Reason != "" {
		t.Errorf("accepted event = %+v, detail %+v (%v)", e, d, err)
	}
	if len(pub.list()) != 0 {
		t.Errorf("an accepted reload published %v; want nothing", pub.list())
	}
	// The tests it was taken with are recorded as required of the next
	// process.
	eventually(t, "the tests in force recorded", func() bool { return len(rec.kind(audit.EventPolicyTests)) == 1 })
	var req testsRequirement
	if e := rec.kind(audit.EventPolicyTests)[0]; e.State != "required" || json.Unmarshal(e.Detail, &req) != nil ||
		req.PolicyHash != p1.Hash() || !strings.HasSuffix(req.Tests, "policy_test.yaml") || req.Cases == 0 || req.Source != "reload" {
		t.Errorf("policy_tests event = %+v (%+v); want required with the reload's tests", e, req)
	}
	// The policy in force offered again changes and records nothing.
	w.accepted(ctx, p1)
	if sw.Validator().Policy() != p1 || len(rec.list()) != 1 {
		t.Errorf("re-accepting the policy in force swapped or recorded (%d events)", len(rec.list()))
	}

	// A policy with a non-bool rule is refused: recorded, published, and
	// the edited policy stays.
	bad := strings.Replace(src, "expr: order.type == \"limit\"", "expr: order.quantity * 2.0", 1)
	write("policy.yaml", bad)
	eventually(t, "a rejected event", func() bool { return len(rec.list()) == 2 })
	e = rec.list()[1]
	d = reloadDetail{}
	if err := json.Unmarshal(e.Detail, &d); err != nil || e.State != "rejected" || d.OldHash != p1.Hash() || d.NewHash == "" ||
		!strings.Contains(d.Reason, "rule limit_only") || !strings.Contains(d.Reason, "policy.yaml:") {
		t.Errorf("rejected event = %+v, detail %+v (%v); want the file:line: rule limit_only reason", e, d, err)
	}
	if sw.Validator().Policy() != p1 {
		t.Errorf("a refused reload replaced the policy")
	}
	eventually(t, "a published refusal", func() bool { return len(pub.list()) == 1 })
	n, ok := pub.list()[0].(notify.PolicyReloadFailed)
	if !ok || n.Path != file || n.Revision != d.NewHash || !strings.Contains(n.Err, "rule limit_only") || !n.At.Equal(at) {
		t.Errorf("published %#v; want PolicyReloadFailed for %s revision %s", pub.list()[0], file, d.NewHash)
	}
	if _, err := n.Message(); err != nil {
		t.Errorf("PolicyReloadFailed.Message() = %v", err)
	}
}

// End to end on the runtime `warden run` builds: an edit of the config's
// policy file reaches the agent, and the reload is in the audit chain.
func TestRuntimeWatchPolicy(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	src := string(policy.DefaultSource())
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Policy, cfg.DB = file, filepath.Join(dir, "warden.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger, ready := newReadyLogger()
	rt, err := newRuntime(ctx, cfg, runtimeOptions{output: new(strings.Builder), logger: logger})
	if err != nil {
		t.Fatalf("newRuntime: %v", err)
	}
	defer rt.Close()
	before, err := rt.store.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { rt.watchPolicy(ctx, nil); close(done) }()
	waitReady(t, ready)
	if err := os.WriteFile(file, []byte(strings.Replace(src, "name: warden-default", "name: warden-live-edit", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the agent on the edited policy", func() bool { return rt.agent.Validator().Policy().Name() == "warden-live-edit" })
	eventually(t, "the reload in the audit chain", func() bool {
		after, err := rt.store.Verify(ctx)
		return err == nil && after.OK && after.Records == before.Records+1
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watchPolicy did not return after cancel")
	}

	// The embedded default is not watched: watchPolicy returns at once.
	rt.cfg.Policy = ""
	finished := make(chan struct{})
	go func() { rt.watchPolicy(context.Background(), nil); close(finished) }()
	select {
	case <-finished:
	case <-time.After(time.Second):
		t.Fatal("watchPolicy without a policy file did not return")
	}
}
