package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/audit"
)

// cronRuns counts the runs recorded in warden.db, as `warden audit runs`
// would list them: a refused start must add none.
func cronRuns(t *testing.T, db string) int {
	t.Helper()
	st, err := audit.Open(context.Background(), db, audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.List(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]bool{}
	for _, r := range rows {
		runs[r.RunID] = true
	}
	return len(runs)
}

// policyEvents lists the events of kinds in db, oldest first.
func policyEvents(t *testing.T, db string, kinds ...string) []audit.EventRow {
	t.Helper()
	evs, err := readEvents(db, kinds...)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// readEvents is policyEvents for a database that may still be being
// created (a service starting).
func readEvents(db string, kinds ...string) ([]audit.EventRow, error) {
	st, err := audit.Open(context.Background(), db, audit.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	evs, err := st.ListEvents(context.Background(), audit.EventFilter{Kinds: kinds})
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs, nil
}

// loosen raises max_position_pct in the policy file from 2 to 50.
func loosen(t *testing.T, file string) {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	loose := strings.Replace(string(src), "max_position_pct: 2 ", "max_position_pct: 50 ", 1)
	if loose == string(src) {
		t.Fatal("could not loosen max_position_pct in the written policy")
	}
	if err := os.WriteFile(file, []byte(loose), 0o644); err != nil {
		t.Fatal(err)
	}
}

func policyInit(t *testing.T, out string) {
	t.Helper()
	if code, _, errOut := runMain(t, "policy", "init", "--out", out); code != 0 {
		t.Fatalf("policy init = %d %s", code, errOut)
	}
}

// TestOnceRunsKeepThePolicyTests: under cron every cycle is a new process.
// Once a policy with tests has been run on, a later run --once whose tests
// are gone (deleted beside the policy, or the config's policy_tests key
// removed) refuses to start, exit 2, saying why, and places nothing —
// whether or not the policy was edited meanwhile. Restoring the tests lets
// the next run go.
func TestOnceRunsKeepThePolicyTests(t *testing.T) {
	t.Chdir(t.TempDir())
	policyInit(t, "p.yaml")
	os.WriteFile("warden.yaml", []byte("policy: p.yaml\n"), 0o600)
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once with policy and tests = %d\n%s\n%s", code, out, errOut)
	}
	runs := cronRuns(t, "warden.db")
	tests, _ := os.ReadFile("p_test.yaml")

	// The tests deleted and the policy loosened: refused.
	os.Remove("p_test.yaml")
	loosen(t, "p.yaml")
	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	if code != exitUsage || !strings.Contains(errOut, "p_test.yaml") || !strings.Contains(errOut, "policy tests") || !strings.Contains(errOut, "warden policy drop-tests") {
		t.Fatalf("run --once with the tests deleted = %d\n%s\n%s\nwant exit 2 naming the missing tests and the way out", code, out, errOut)
	}
	if n := cronRuns(t, "warden.db"); n != runs {
		t.Fatalf("a refused start recorded %d runs; want none", n-runs)
	}
	// config check says so too, changing nothing.
	if code, out, errOut := runMain(t, "config", "check", "warden.yaml"); code != exitRejected || !strings.Contains(errOut+out, "requires them") {
		t.Fatalf("config check with the tests deleted = %d %s %s; want 1 naming the requirement", code, out, errOut)
	}
	evs := policyEvents(t, "warden.db", audit.EventPolicyReload)
	if len(evs) != 1 || evs[0].State != "rejected" || !strings.Contains(string(evs[0].Detail), "p_test.yaml") {
		t.Fatalf("policy_reload events = %+v; want one rejected start naming the tests", evs)
	}
	// Every later process refuses too: approvals --process as well.
	if code, _, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != exitUsage || !strings.Contains(errOut, "p_test.yaml") {
		t.Fatalf("second run --once with the tests deleted = %d %s", code, errOut)
	}
	if code, _, errOut := runMain(t, "approvals", "--process", "--config", "warden.yaml"); code != exitUsage || !strings.Contains(errOut, "p_test.yaml") {
		t.Fatalf("approvals --process with the tests deleted = %d %s", code, errOut)
	}

	// Emptied, or cut down to no case at all: not tests, refused.
	for name, body := range map[string]string{"empty": "", "no cases": "cases: []\n"} {
		os.WriteFile("p_test.yaml", []byte(body), 0o644)
		if code, _, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != exitUsage || !strings.Contains(errOut, "p_test.yaml") {
			t.Fatalf("run --once with the tests file %s = %d %s; want exit 2", name, code, errOut)
		}
	}
	if n := cronRuns(t, "warden.db"); n != runs {
		t.Fatalf("a refused start recorded %d runs; want none", n-runs)
	}
	// Tests back: the loosened policy fails them (exit 2, as before), the
	// original passes and runs.
	os.WriteFile("p_test.yaml", tests, 0o644)
	if code, _, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != exitUsage || !strings.Contains(errOut, "fails") {
		t.Fatalf("loosened policy with its tests back = %d %s; want its test failures", code, errOut)
	}
	src, _ := os.ReadFile("p.yaml")
	os.WriteFile("p.yaml", []byte(strings.Replace(string(src), "max_position_pct: 50 ", "max_position_pct: 2 ", 1)), 0o644)
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once with the tests restored = %d\n%s\n%s", code, out, errOut)
	}
	if n := cronRuns(t, "warden.db"); n != runs+1 {
		t.Fatalf("runs = %d; want %d", n, runs+1)
	}
}

// TestOnceRunsKeepThePolicyTestsWhenTheKeyIsDropped: tests named by
// policy_tests elsewhere than beside the policy; the key removed from the
// config leaves the policy with no tests at all: refused.
func TestOnceRunsKeepThePolicyTestsWhenTheKeyIsDropped(t *testing.T) {
	t.Chdir(t.TempDir())
	policyInit(t, "p.yaml")
	os.Mkdir("tests", 0o755)
	os.Rename("p_test.yaml", filepath.Join("tests", "p_test.yaml"))
	os.WriteFile("warden.yaml", []byte("policy: p.yaml\npolicy_tests: tests/p_test.yaml\n"), 0o600)
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	runs := cronRuns(t, "warden.db")
	os.WriteFile("warden.yaml", []byte("policy: p.yaml\n"), 0o600)
	loosen(t, "p.yaml")
	code, _, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	if code != exitUsage || !strings.Contains(errOut, "p_test.yaml") {
		t.Fatalf("run --once with policy_tests removed from the config = %d %s; want exit 2", code, errOut)
	}
	if n := cronRuns(t, "warden.db"); n != runs {
		t.Fatalf("a refused start recorded %d runs", n-runs)
	}
	// Moving the tests is fine: named again, or beside the policy (where
	// they fail the loosened policy, as they should).
	os.Rename(filepath.Join("tests", "p_test.yaml"), "p_test.yaml")
	if code, _, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != exitUsage || !strings.Contains(errOut, "fails") {
		t.Fatalf("tests moved beside the loosened policy = %d %s; want its failures", code, errOut)
	}
}

// TestOnceRunsTakeEditedTests: the tests file edited (a case changed,
// one added, one removed) and the policy edited so that they pass keeps
// working; the new tests are recorded as the ones in force.
func TestOnceRunsTakeEditedTests(t *testing.T) {
	t.Chdir(t.TempDir())
	policyInit(t, "p.yaml")
	os.WriteFile("warden.yaml", []byte("policy: p.yaml\n"), 0o600)
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	// Renaming the policy edits its content: a new policy hash, with the
	// same tests.
	src, _ := os.ReadFile("p.yaml")
	os.WriteFile("p.yaml", []byte(strings.Replace(string(src), "name: warden-default", "name: warden-mine", 1)), 0o644)
	tests, _ := os.ReadFile("p_test.yaml")
	// Drop the first case: fewer cases, still passing.
	s := string(tests)
	i := strings.Index(s, "\n  - name:")
	j := strings.Index(s[i+1:], "\n  - name:")
	if i < 0 || j < 0 {
		t.Fatal("could not find two cases in the written tests")
	}
	edited := s[:i] + s[i+1+j:]
	os.WriteFile("p_test.yaml", []byte(edited), 0o644)
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once with edited, passing tests = %d\n%s\n%s", code, out, errOut)
	}
	evs := policyEvents(t, "warden.db", audit.EventPolicyTests)
	if len(evs) != 2 || evs[0].State != "required" || evs[1].State != "required" {
		t.Fatalf("policy_tests events = %+v; want two required", evs)
	}
	var first, second testsRequirement
	json.Unmarshal(evs[0].Detail, &first)
	json.Unmarshal(evs[1].Detail, &second)
	if first.TestsHash == second.TestsHash || first.PolicyHash == second.PolicyHash || second.Cases != first.Cases-1 || second.PrevCases != first.Cases {
		t.Fatalf("requirement before %+v, after %+v; want the new hashes and one case fewer", first, second)
	}
	// The same files again: nothing new recorded.
	if code, _, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once = %d %s", code, errOut)
	}
	if evs := policyEvents(t, "warden.db", audit.EventPolicyTests); len(evs) != 2 {
		t.Fatalf("an unchanged start recorded a requirement again: %d events", len(evs))
	}
}

// TestDropPolicyTests: an operator who means to run a policy without tests
// says so, with a reason, recorded; the next start goes, and tests coming
// back are required again from then on.
func TestDropPolicyTests(t *testing.T) {
	t.Chdir(t.TempDir())
	policyInit(t, "p.yaml")
	os.WriteFile("warden.yaml", []byte("policy: p.yaml\n"), 0o600)
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	tests, _ := os.ReadFile("p_test.yaml")
	os.Remove("p_test.yaml")
	if code, _, _ := runMain(t, "run", "--once", "--config", "warden.yaml"); code != exitUsage {
		t.Fatalf("run --once without the tests = %d; want 2", code)
	}
	if code, _, errOut := runMain(t, "policy", "drop-tests", "--config", "warden.yaml"); code != exitUsage || !strings.Contains(errOut, "--reason") {
		t.Fatalf("drop-tests without a reason = %d %s; want exit 2", code, errOut)
	}
	code, out, errOut := runMain(t, "policy", "drop-tests", "--config", "warden.yaml", "--reason", "rewriting the tests", "--by", "alice")
	if code != 0 || !strings.Contains(out, "no longer required") {
		t.Fatalf("drop-tests = %d %s %s", code, out, errOut)
	}
	evs := policyEvents(t, "warden.db", audit.EventPolicyTests)
	last := evs[len(evs)-1]
	var d testsRequirement
	json.Unmarshal(last.Detail, &d)
	if last.State != "dropped" || d.Reason != "rewriting the tests" || d.By != "alice" || !strings.HasSuffix(d.Tests, "p_test.yaml") {
		t.Fatalf("drop event = %+v %+v", last, d)
	}
	if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once after drop-tests = %d\n%s\n%s", code, out, errOut)
	}
	// Dropping again says there is nothing to drop.
	if code, out, _ := runMain(t, "policy", "drop-tests", "--config", "warden.yaml", "--reason", "again"); code != 0 || !strings.Contains(out, "nothing changed") {
		t.Fatalf("drop-tests with none required = %d %s", code, out)
	}
	// Tests back: required again.
	os.WriteFile("p_test.yaml", tests, 0o644)
	if code, _, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
		t.Fatalf("run --once with tests back = %d %s", code, errOut)
	}
	os.Remove("p_test.yaml")
	if code, _, _ := runMain(t, "run", "--once", "--config", "warden.yaml"); code != exitUsage {
		t.Fatalf("run --once with the tests deleted again = %d; want 2", code)
	}
	// A database that does not exist is not created.
	if code, _, _ := runMain(t, "policy", "drop-tests", "--db", "other.db", "--reason", "x"); code != exitUsage {
		t.Fatal("drop-tests on a missing database did not refuse")
	}
	if _, err := os.Stat("other.db"); err == nil {
		t.Fatal("drop-tests created a database")
	}
}

// TestServiceKeepsThePolicyTests: the long-running service is unchanged:
// with its tests deleted, an edit is refused and the policy in force
// stays; a good edit with its tests is taken and recorded as the tests in
// force; and the service's next start with the tests gone refuses, like
// run --once.
func TestServiceKeepsThePolicyTests(t *testing.T) {
	t.Chdir(t.TempDir())
	policyInit(t, "p.yaml")
	os.WriteFile("warden.yaml", []byte("policy: p.yaml\nschedule: \"@hourly\"\n"), 0o600)
	svc := startService(t)
	// Stopped and waited for before the test's directory goes: a service
	// left running would act on the next test's files.
	exited := false
	t.Cleanup(func() {
		if !exited {
			svc.stop()
			svc.wait(30 * time.Second)
		}
	})
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	count := func(kind string) func() bool {
		return func() bool {
			evs, err := readEvents("warden.db", kind)
			return err == nil && len(evs) > 0
		}
	}
	eventually("the tests in force at start", count(audit.EventPolicyTests))
	if evs := policyEvents(t, "warden.db", audit.EventPolicyTests); len(evs) != 1 || evs[0].State != "required" {
		t.Fatalf("policy_tests events at start = %+v; want one required", evs)
	}
	time.Sleep(time.Second) // the watcher is started after the runtime

	// A good edit, tests passing: taken, and the requirement recorded.
	src, _ := os.ReadFile("p.yaml")
	os.WriteFile("p.yaml", []byte(strings.Replace(string(src), "name: warden-default", "name: warden-mine", 1)), 0o644)
	eventually("the accepted reload", func() bool {
		evs := policyEvents(t, "warden.db", audit.EventPolicyReload)
		return len(evs) == 1 && evs[0].State == "accepted"
	})
	eventually("the requirement of the reloaded policy", func() bool {
		return len(policyEvents(t, "warden.db", audit.EventPolicyTests)) == 2
	})

	// Tests deleted, policy loosened: refused, the service runs on.
	os.Remove("p_test.yaml")
	loosen(t, "p.yaml")
	eventually("the refused reload", func() bool {
		evs := policyEvents(t, "warden.db", audit.EventPolicyReload)
		return len(evs) == 2 && evs[1].State == "rejected" && strings.Contains(string(evs[1].Detail), "p_test.yaml")
	})
	if _, _, done := svc.wait(time.Second); done {
		exited = true
		t.Fatal("the service stopped on a refused reload")
	}
	svc.stop()
	code, stderr, ok := svc.wait(30 * time.Second)
	exited = ok
	if !ok || code != 0 {
		t.Fatalf("service stop = %d %v %s", code, ok, stderr)
	}
	// Its restart (systemd) refuses, as run --once does.
	svc2 := startService(t)
	code, stderr, ok = svc2.wait(30 * time.Second)
	if !ok {
		svc2.stop()
		svc2.wait(30 * time.Second)
	}
	if !ok || code != exitUsage || !strings.Contains(stderr, "p_test.yaml") {
		t.Fatalf("service restart without its tests = %d %v %s; want exit 2", code, ok, stderr)
	}
}

// TestServiceReloadKeepsTheCasesBefore: a hot reload of a running service
// that cuts the policy tests down says so as a start does: it logs the
// warning and its policy_tests event keeps the cases in force before.
func TestServiceReloadKeepsTheCasesBefore(t *testing.T) {
	t.Chdir(t.TempDir())
	policyInit(t, "p.yaml")
	os.WriteFile("warden.yaml", []byte("policy: p.yaml\nschedule: \"@hourly\"\n"), 0o600)
	svc := startService(t)
	exited := false
	t.Cleanup(func() {
		if !exited {
			svc.stop()
			svc.wait(30 * time.Second)
		}
	})
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	eventually("the tests in force at start", func() bool {
		evs, err := readEvents("warden.db", audit.EventPolicyTests)
		return err == nil && len(evs) == 1
	})
	time.Sleep(time.Second) // the watcher is started after the runtime

	// The tests cut down to their first case, the policy loosened: the
	// one case passes, so the reload is taken.
	tests, _ := os.ReadFile("p_test.yaml")
	s := string(tests)
	i := strings.Index(s, "\n  - name:")
	j := strings.Index(s[i+1:], "\n  - name:")
	if i < 0 || j < 0 {
		t.Fatal("could not find two cases in the written tests")
	}
	os.WriteFile("p_test.yaml", []byte(s[:i+1+j+1]), 0o644)
	loosen(t, "p.yaml")
	eventually("the requirement of the reloaded policy", func() bool {
		evs, err := readEvents("warden.db", audit.EventPolicyTests)
		return err == nil && len(evs) == 2
	})
	evs := policyEvents(t, "warden.db", audit.EventPolicyTests)
	var start, reload testsRequirement
	json.Unmarshal(evs[0].Detail, &start)
	json.Unmarshal(evs[1].Detail, &reload)
	if start.Cases < 2 || reload.Source != "reload" || reload.Cases != 1 || reload.PrevCases != start.Cases {
		t.Fatalf("requirement at start %+v, after the reload %+v; want 1 case and prev_cases %d", start, reload, start.Cases)
	}

	svc.stop()
	code, stderr, ok := svc.wait(30 * time.Second)
	exited = ok
	if !ok || code != 0 {
		t.Fatalf("service stop = %d %v %s", code, ok, stderr)
	}
	if !strings.Contains(stderr, "fewer cases than the ones in force before") || !strings.Contains(stderr, fmt.Sprintf("before=%d", start.Cases)) {
		t.Errorf("the service's log has no warning of the cut tests:\n%s", stderr)
	}
}
