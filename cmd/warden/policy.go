package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/policy"
)

func newPolicyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Write, check, test and show CEL policy files",
		Long: `A policy file is YAML: params (named numbers and lists) and rules (name,
description, optional when, expr, message, message_fallback, mode). Every
expression is compiled and type-checked when the policy loads; a policy with
any error is refused as a whole. The hard limits in Go (kill switch, safe
mode, maximum order notional, market data) apply whatever the policy says.

To change the policy safely: 'warden policy init' writes the default policy
and its tests, edit the params or rules, then run 'warden policy check' and
'warden policy test' before pointing Warden at the file. Once a policy has run
with tests, every later start on the same database requires tests for its
policy; 'warden policy drop-tests --reason' records that it may run without.`,
	}
	cmd.AddCommand(newPolicyInitCmd(a), newPolicyCheckCmd(a), newPolicyTestCmd(a), newPolicyShowCmd(a))
	cmd.AddCommand(newPolicyReplayCmd(a), newPolicyDropTestsCmd(a))
	return cmd
}

func newPolicyInitCmd(a *app) *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "init [--out FILE] [--force]",
		Short: "Write the default policy and its tests for editing",
		Long: `init writes the embedded default policy to --out (default policy.yaml) and its
tests next to it (policy_test.yaml). It refuses to overwrite either file
unless --force is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if filepath.Ext(out) == "" {
				return usageErr(fmt.Errorf("--out %q: give a file name ending in .yaml", out))
			}
			tests := policy.TestsFileFor(out)
			if !force {
				for _, f := range []string{out, tests} {
					if _, err := os.Stat(f); err == nil {
						return usageErr(fmt.Errorf("%s already exists; use --force to overwrite it", f))
					} else if !errors.Is(err, fs.ErrNotExist) {
						return usageErr(err)
					}
				}
			}
			if err := os.WriteFile(out, policy.DefaultSource(), 0o644); err != nil {
				return usageErr(err)
			}
			if err := os.WriteFile(tests, policy.DefaultTestsSource(), 0o644); err != nil {
				return usageErr(err)
			}
			fmt.Fprintf(a.stdout, "wrote %s and %s\nedit them, then run: warden policy check %s && warden policy test %s --policy %s\n",
				out, tests, out, tests, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "policy.yaml", "policy file to write; the tests go next to it as NAME_test.yaml")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	return cmd
}

func newPolicyCheckCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Load and type-check a policy file",
		Long: `check loads FILE, compiles and type-checks every expression and estimates its
cost. It prints "FILE: ok ..." and exits 0, or prints one line per problem as
FILE:LINE: rule NAME: message and exits 1. An unreadable file exits 2.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := readFileLimited(args[0])
			if err != nil {
				return usageErr(err)
			}
			p, err := policy.Load(args[0], src)
			if err != nil {
				var le *policy.LoadError
				if errors.As(err, &le) {
					for _, pr := range le.Problems {
						fmt.Fprintln(a.stdout, pr.String())
					}
					return &exitError{Code: exitRejected}
				}
				return &exitError{Code: exitRejected, Err: err}
			}
			fmt.Fprintf(a.stdout, "%s: ok: policy %s, %d rules, sha256 %s\n", args[0], p.Name(), len(p.RuleNames()), p.Hash())
			return nil
		},
	}
}

func newPolicyTestCmd(a *app) *cobra.Command {
	var policyFile, runPat string
	var coverage, verbose bool
	var coverageMin float64
	cmd := &cobra.Command{
		Use:   "test [PATH] [--policy FILE] [-v] [--run REGEX] [--coverage] [--coverage-min PCT]",
		Short: "Run policy tests written as YAML",
		Long: `test runs the YAML test cases in PATH (a file, or every *_test.yaml in a
directory) against the policy given by --policy, or else the policy file next
to each tests file (NAME_test.yaml tests NAME.yaml). Without PATH it runs the
embedded tests against the embedded default policy, in the manner of
'opa test'.

It prints each failing case as FAIL: FILE:LINE: case name, with what did not
match, then a summary; -v prints a PASS line for every passing case too.
--run REGEX runs only the cases whose name matches. --coverage lists, per
rule, how many cases trip it and how many it applies to and passes, and the
share of rules covered both ways; --coverage-min PCT fails the run when that
share is below PCT (e.g. 100).

Exit codes: 0 all selected cases pass (and coverage is at least
--coverage-min); 1 a case failed or coverage is too low; 2 a tests or policy
file is unusable (a duplicate YAML key, with its line, among others), or
--run matches no case.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt := policy.TestOptions{Verbose: verbose}
			if runPat != "" {
				re, err := regexp.Compile(runPat)
				if err != nil {
					return usageErr(fmt.Errorf("--run: %v", err))
				}
				opt.Run = re
			}
			if coverageMin < 0 || coverageMin > 100 {
				return usageErr(fmt.Errorf("--coverage-min %v: give a percentage from 0 to 100", coverageMin))
			}
			type suite struct {
				name   string
				src    []byte
				policy *policy.Policy
			}
			var explicit *policy.Policy
			if policyFile != "" {
				p, err := policy.LoadFile(policyFile)
				if err != nil {
					return usageErr(err)
				}
				explicit = p
			}
			var suites []suite
			if len(args) == 0 {
				p := explicit
				if p == nil {
					var err error
					if p, err = policy.Default(); err != nil {
						return usageErr(err)
					}
				}
				suites = append(suites, suite{name: policy.DefaultTestsFile, src: policy.DefaultTestsSource(), policy: p})
			} else {
				files, err := testFiles(args[0])
				if err != nil {
					return usageErr(err)
				}
				for _, f := range files {
					src, err := readFileLimited(f)
					if err != nil {
						return usageErr(err)
					}
					p := explicit
					if p == nil {
						pf := strings.TrimSuffix(f, "_test"+filepath.Ext(f)) + filepath.Ext(f)
						if pf == f {
							return usageErr(fmt.Errorf("%s: give --policy FILE (the file name does not end in _test.yaml)", f))
						}
						if p, err = policy.LoadFile(pf); err != nil {
							return usageErr(fmt.Errorf("policy for %s: %w", f, err))
						}
					}
					suites = append(suites, suite{name: f, src: src, policy: p})
				}
			}
			failed, lowCoverage := 0, 0
			for _, s := range suites {
				sum, err := policy.RunTestsWith(cmd.Context(), a.stdout, s.policy, s.src, s.name, opt)
				if err != nil {
					return usageErr(err)
				}
				failed += sum.Failed
				pct := sum.CoveragePct()
				if cmd.Flags().Changed("coverage-min") && pct < coverageMin {
					lowCoverage++
					fmt.Fprintf(a.stdout, "FAIL: coverage of %s by %s is %.1f%%, below --coverage-min %v%% (not covered both ways: %s)\n",
						s.policy.Name(), s.name, pct, coverageMin, strings.Join(sum.Uncovered(), ", "))
				}
				if coverage {
					names := make([]string, 0, len(sum.Coverage))
					for n := range sum.Coverage {
						names = append(names, n)
					}
					sort.Strings(names)
					fmt.Fprintf(a.stdout, "coverage of %s by %s (cases tripped / passed):\n", s.policy.Name(), s.name)
					for _, n := range names {
						c := sum.Coverage[n]
						mark := ""
						if c.Tripped == 0 || c.Passed == 0 {
							mark = "  <- not covered both ways"
						}
						fmt.Fprintf(a.stdout, "  %-28s %3d / %3d%s\n", n, c.Tripped, c.Passed, mark)
					}
					fmt.Fprintf(a.stdout, "coverage: %.1f%% (%d of %d rules tripped and passed)\n",
						pct, len(sum.Coverage)-len(sum.Uncovered()), len(sum.Coverage))
				}
			}
			if failed > 0 || lowCoverage > 0 {
				return &exitError{Code: exitRejected}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&policyFile, "policy", "", "policy file to test (default: NAME.yaml next to NAME_test.yaml)")
	cmd.Flags().BoolVar(&coverage, "coverage", false, "list, per rule, the cases that trip and pass it, and the share of rules covered")
	cmd.Flags().Float64Var(&coverageMin, "coverage-min", 0, "fail (exit 1) when fewer than this percentage of rules are both tripped and passed by some case")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "print every case, not only the failures")
	cmd.Flags().StringVar(&runPat, "run", "", "run only the cases whose name matches this regular expression")
	return cmd
}

// testFiles is path itself, or the *_test.yaml files in the directory path.
func testFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	var out []string
	for _, pat := range []string{"*_test.yaml", "*_test.yml"} {
		m, err := filepath.Glob(filepath.Join(path, pat))
		if err != nil {
			return nil, err
		}
		out = append(out, m...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no *_test.yaml files", path)
	}
	sort.Strings(out)
	return out, nil
}

func newPolicyShowCmd(a *app) *cobra.Command {
	var tests, describe bool
	var policyFile string
	cmd := &cobra.Command{
		Use:   "show [--tests | --describe [--policy FILE]]",
		Short: "Print the embedded default policy, its tests, or a policy's limits in plain words",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case describe:
				p, err := loadPolicy(policyFile)
				if err != nil {
					return usageErr(err)
				}
				for _, d := range p.Describe() {
					fmt.Fprintf(a.stdout, "- %s\n", d)
				}
			case tests:
				_, err := a.stdout.Write(policy.DefaultTestsSource())
				return err
			default:
				_, err := a.stdout.Write(policy.DefaultSource())
				return err
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&tests, "tests", false, "print the default policy's tests instead")
	cmd.Flags().BoolVar(&describe, "describe", false, "print the policy's rules in plain words, as the model's prompt shows them")
	cmd.Flags().StringVar(&policyFile, "policy", "", "with --describe: the policy file (default: the embedded default)")
	return cmd
}
