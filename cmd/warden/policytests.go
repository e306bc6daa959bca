package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/policy"
)

// Policy tests kept in force across processes.
//
// `warden run` as a service keeps the tests it started with required for
// every reload (policy.Watch). Under cron every cycle is a new process, so
// the requirement lives in the store: when a configured policy is taken
// with tests (at any start, or by a hot reload) a policy_tests event
// (state required) records the tests file, its hash and its number of
// cases. Every later start on the database (run, run --once, approvals
// --process, approve) that finds that requirement and no tests at all for
// its policy (the file beside it deleted, the config's policy_tests key
// removed) refuses to start, exit 2, and records the refusal as a
// policy_reload event (state rejected). Tests that are there are run as
// before and must pass; edited tests that pass are recorded as the new
// requirement. Only an operator's `warden policy drop-tests --reason`
// (state dropped) lets a policy run without tests again.

// testedPolicy is the tests a start or a reload ran its policy against.
type testedPolicy struct {
	File  string // "" when the policy has no tests
	Hash  string // sha256 of the tests file's bytes
	Cases int
}

// checkedPolicy is the configured policy as checkStart loaded and tested
// it.
type checkedPolicy struct {
	policy *policy.Policy
	tests  testedPolicy
}

// policyTestsFile is the tests file of a policy file: tests (the config's
// policy_tests) when set, else the file beside the policy when it exists,
// else "".
func policyTestsFile(policyFile, tests string) string {
	if tests != "" {
		return tests
	}
	beside := policy.TestsFileFor(policyFile)
	if _, err := os.Stat(beside); err == nil {
		return beside
	}
	return ""
}

// runPolicyTests runs the tests in file against p. A test failure is an
// error carrying the output.
func runPolicyTests(ctx context.Context, policyFile string, p *policy.Policy, file string) (testedPolicy, error) {
	src, err := policy.ReadFile(file)
	if err != nil {
		return testedPolicy{}, fmt.Errorf("policy tests: %w", err)
	}
	var out strings.Builder
	sum, err := policy.RunTests(ctx, &out, p, src, file)
	if err != nil {
		return testedPolicy{}, fmt.Errorf("policy tests %s: %w", file, err)
	}
	if sum.Failed > 0 {
		return testedPolicy{}, fmt.Errorf("policy %s fails %d of its tests in %s (%s); refusing to start on it:\n%s", policyFile, sum.Failed, file, strings.Join(sum.Failures, ", "), out.String())
	}
	h := sha256.Sum256(src)
	return testedPolicy{File: file, Hash: hex.EncodeToString(h[:]), Cases: sum.Passed}, nil
}

// testsRequirement is the detail of a policy_tests event.
type testsRequirement struct {
	Policy     string `json:"policy"`                // the policy file
	PolicyHash string `json:"policy_hash,omitempty"` // the policy taken with the tests
	Tests      string `json:"tests"`                 // the tests file
	TestsHash  string `json:"tests_hash,omitempty"`
	Cases      int    `json:"cases,omitempty"`
	// PrevCases are the cases of the tests required before these.
	PrevCases int    `json:"prev_cases,omitempty"`
	Source    string `json:"source"`           // start, reload or operator
	Reason    string `json:"reason,omitempty"` // dropped: why
	By        string `json:"by,omitempty"`     // dropped: who
}

const (
	testsRequired = "required"
	testsDropped  = "dropped"
)

// lastTestsRequirement is the newest policy_tests event: ok false when
// there is none (no policy with tests was ever taken on the database).
func lastTestsRequirement(ctx context.Context, st eventRecorder) (ev audit.EventRow, d testsRequirement, ok bool, err error) {
	evs, err := st.ListEvents(ctx, audit.EventFilter{Kinds: []string{audit.EventPolicyTests}, Limit: 1})
	if err != nil || len(evs) == 0 {
		return audit.EventRow{}, d, false, err
	}
	if err := json.Unmarshal(evs[0].Detail, &d); err != nil {
		return audit.EventRow{}, d, false, fmt.Errorf("policy_tests event %d: %w", evs[0].Seq, err)
	}
	return evs[0], d, true, nil
}

// absPath is path made absolute where it can be, for the records.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// enforcePolicyTests holds a start to the policy tests the database
// requires (see the top of this file): tested is what the start ran. A
// start with no tests where tests are required is refused and the refusal
// recorded; a start with tests records them when they are new.
func (rt *runtime) enforcePolicyTests(ctx context.Context, tested testedPolicy) error {
	if rt.cfg.Policy == "" {
		return nil // the embedded default: its tests run in CI
	}
	last, req, ok, err := lastTestsRequirement(ctx, rt.store)
	if err != nil {
		// Fail closed: the requirement cannot be known.
		return fmt.Errorf("policy tests: read the requirement in %s: %w", rt.cfg.DB, err)
	}
	required := ok && last.State == testsRequired
	policyFile := absPath(rt.cfg.Policy)
	if tested.File == "" {
		if !required {
			return nil
		}
		where := fmt.Sprintf("the config names no policy_tests and %s does not exist", policy.TestsFileFor(rt.cfg.Policy))
		if _, err := os.Stat(req.Tests); err == nil {
			where += fmt.Sprintf(" (%s is there but no longer named by policy_tests)", req.Tests)
		} else {
			where += fmt.Sprintf(" (%s: %v)", req.Tests, errors.Unwrap(err))
		}
		err := fmt.Errorf("policy %s has no policy tests, but tests are required on %s: a policy was taken with the %d cases of %s on %s. "+
			"Now %s. Refusing to start on an untested policy: restore the tests file (or name it with policy_tests); "+
			"to run without tests on purpose, record why first: warden policy drop-tests --config FILE --reason TEXT",
			rt.cfg.Policy, rt.cfg.DB, req.Cases, req.Tests, last.At.UTC().Format(time.RFC3339), where)
		body, merr := json.Marshal(reloadDetail{File: policyFile, OldHash: req.PolicyHash, NewHash: rt.policy.Hash(), Reason: "start refused: " + err.Error()})
		if merr == nil {
			merr = rt.store.RecordEvent(ctx, audit.Event{Kind: audit.EventPolicyReload, At: time.Now().UTC(), State: "rejected", Detail: body})
		}
		if merr != nil {
			rt.logger.Error("audit: record the refused start", "err", merr)
		}
		return err
	}
	testsFile := absPath(tested.File)
	if required && req.Tests == testsFile && req.TestsHash == tested.Hash && req.PolicyHash == rt.policy.Hash() {
		return nil // as recorded
	}
	d := testsRequirement{Policy: policyFile, PolicyHash: rt.policy.Hash(), Tests: testsFile, TestsHash: tested.Hash, Cases: tested.Cases, Source: "start"}
	if required {
		d.takeOver(rt.logger, req)
	}
	if err := recordTestsRequirement(ctx, rt.store, testsRequired, d, time.Now().UTC()); err != nil {
		return fmt.Errorf("policy tests: record the tests in force: %w", err)
	}
	return nil
}

// takeOver makes d the requirement after prev, the tests in force before
// (at a start or a hot reload alike): d keeps prev's number of cases, and
// fewer cases than before are logged as a warning.
func (d *testsRequirement) takeOver(logger *slog.Logger, prev testsRequirement) {
	d.PrevCases = prev.Cases
	if d.Cases < prev.Cases {
		logger.Warn("the policy tests have fewer cases than the ones in force before", "tests", d.Tests, "cases", d.Cases, "before", prev.Cases, "was", prev.Tests, "source", d.Source)
	}
}

func recordTestsRequirement(ctx context.Context, st eventRecorder, state string, d testsRequirement, at time.Time) error {
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return st.RecordEvent(ctx, audit.Event{Kind: audit.EventPolicyTests, At: at, State: state, Detail: body})
}

// requireReloadTests records the tests a hot reload took p with as the
// ones in force, for the next process (a restart, run --once).
func (w *policyWatch) requireReloadTests(ctx context.Context, p *policy.Policy) {
	file := policyTestsFile(w.file, w.tests)
	if file == "" {
		return
	}
	// Run again for their hash and count: cheap, and what is recorded is
	// what this policy passes.
	tested, err := runPolicyTests(ctx, w.file, p, file)
	if err != nil {
		w.logger.Warn("policy reloaded, but its tests changed since; the next start runs them again", "tests", file, "err", err)
		return
	}
	d := testsRequirement{Policy: absPath(w.file), PolicyHash: p.Hash(), Tests: absPath(file), TestsHash: tested.Hash, Cases: tested.Cases, Source: "reload"}
	// The tests in force before the reload are the requirement recorded
	// last, as for a start.
	last, req, ok, err := lastTestsRequirement(ctx, w.store)
	switch {
	case err != nil:
		w.logger.Error("audit: read the policy tests in force before the reload", "err", err)
	case ok && last.State == testsRequired:
		d.takeOver(w.logger, req)
	}
	if err := recordTestsRequirement(ctx, w.store, testsRequired, d, w.now()); err != nil {
		w.logger.Error("audit: record the policy tests in force", "err", err)
	}
}

func newPolicyDropTestsCmd(a *app) *cobra.Command {
	var cfgPath, db, reason, by string
	cmd := &cobra.Command{
		Use:   "drop-tests --reason TEXT [--config FILE | --db FILE] [--by NAME]",
		Short: "Let the next start run a policy without the policy tests once required",
		Long: `Once a policy has been started on (or hot-reloaded) with policy tests, every
later start on the same database (run, run --once, approvals --process,
approve) requires tests for its policy: with the tests file gone (deleted
beside the policy, or the config's policy_tests key removed) it refuses to
start, exit 2. Edited tests that pass are taken as before.

drop-tests records, with the reason and who, that tests are no longer
required; the next start then runs its policy without tests. Tests that come
back are required again from the next start that runs them. A warden run
already running keeps requiring the tests it started with until it restarts.

The database is the one --config names (as for warden run) or --db; one
that does not exist is refused, never created.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(reason) == "" {
				return usageErr(errors.New("--reason is required: say why the policy may run without tests, for the audit log"))
			}
			ctx := cmd.Context()
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return usageErr(err)
			}
			a.addSecrets(cfg)
			if db != "" {
				cfg.DB = db
			}
			abs, err := filepath.Abs(cfg.DB)
			if err != nil {
				return usageErr(err)
			}
			if err := existingAuditDB(ctx, abs, false); err != nil {
				return usageErr(err)
			}
			st, err := audit.Open(ctx, abs, audit.Options{Secrets: secretValues(cfg)})
			if err != nil {
				return usageErr(err)
			}
			defer st.Close()
			last, req, ok, err := lastTestsRequirement(ctx, st)
			if err != nil {
				return &exitError{Code: exitFailed, Err: fmt.Errorf("%s: nothing changed: %w", abs, err)}
			}
			if !ok || last.State != testsRequired {
				fmt.Fprintf(a.stdout, "no policy tests are required in %s: nothing changed\n", abs)
				return nil
			}
			d := testsRequirement{Policy: req.Policy, PolicyHash: req.PolicyHash, Tests: req.Tests, TestsHash: req.TestsHash, Cases: req.Cases, Source: "operator", Reason: reason, By: by}
			if err := recordTestsRequirement(ctx, st, testsDropped, d, time.Now().UTC()); err != nil {
				return &exitError{Code: exitFailed, Err: fmt.Errorf("%s: nothing changed: %w", abs, err)}
			}
			fmt.Fprintf(a.stdout, "policy tests no longer required in %s (were %s, %d cases; by %s: %s)\n", abs, req.Tests, req.Cases, by, reason)
			fmt.Fprintln(a.stdout, "the next start runs its policy without tests; tests that come back are required again")
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config file: its db is the database changed (as for warden run)")
	cmd.Flags().StringVar(&db, "db", "", "audit database path (overrides the config)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded; required)")
	cmd.Flags().StringVar(&by, "by", "operator", "who (recorded)")
	return cmd
}

// configTestsNote is what `config check` says about the tests the
// database requires (nil: nothing to say). It reads the database only when
// it exists, read-only, and changes nothing.
func configTestsNote(ctx context.Context, cfg config.Config, tested testedPolicy) error {
	if cfg.Policy == "" || tested.File != "" {
		return nil
	}
	if _, err := os.Stat(cfg.DB); err != nil {
		return nil
	}
	st, err := audit.Open(ctx, cfg.DB, audit.Options{ReadOnly: true})
	if err != nil {
		return nil // run reports it
	}
	defer st.Close()
	last, req, ok, err := lastTestsRequirement(ctx, st)
	if err != nil {
		return fmt.Errorf("policy tests: read the requirement in %s: %w", cfg.DB, err)
	}
	if ok && last.State == testsRequired {
		return fmt.Errorf("policy %s has no policy tests, but %s requires them (%s, %d cases, since %s): restore the tests file, or record why not with warden policy drop-tests --reason TEXT",
			cfg.Policy, cfg.DB, req.Tests, req.Cases, last.At.UTC().Format(time.RFC3339))
	}
	return nil
}
