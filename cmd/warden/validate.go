package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// maxInputBytes bounds what validate reads from a response file or stdin.
// The strict parser has its own, smaller cap and reports an oversize
// response as a schema error; this only keeps memory bounded.
const maxInputBytes = 8 << 20

func newValidateCmd(a *app) *cobra.Command {
	var (
		policyFile  string
		stateFile   string
		maxNotional string
		universe    []string
	)
	cmd := &cobra.Command{
		Use:   "validate --state FILE [--policy FILE] [--max-notional N] [--universe SYMBOLS] FILE|-",
		Short: "Judge a model response against a state: strict schema, sizing, CEL policy, hard limits",
		Long: `validate reads a model response (FILE, or - for stdin) and a state shaped like
the state contract (--state FILE, or --state - for stdin), and prints a JSON verdict per recommendation:
approved, rejected or no_action (hold), the sized order, every violated rule
with its message, and schema errors with JSON pointers.

--state is required: a verdict is only meaningful against the state it was
judged with, so no default state is invented. Without --policy the embedded
default policy is used (see 'warden policy show'). --max-notional sets the
hard per-order cap in quote units (default 1000; it cannot be switched off).

The prompt asks for exactly one recommendation per symbol of the universe.
A second recommendation for a symbol is rejected (rule one_per_symbol); a
symbol of the universe that the response leaves out is reported under
"warnings" (rule universe_missing), which never changes the exit status.
The universe is --universe (comma-separated symbols; --universe= turns the
check off), or else the policy's allowed_symbols param when it has one.

Exit status: 0 when every buy and sell was approved (holds are neither);
1 when anything was rejected, schema failures included; 2 when the inputs
are unusable (missing or unreadable files, an invalid state, a policy that
does not load, bad flags).`,
		Example: `  warden validate --state state.json response.json
  llm-call | warden validate --state state.json --policy my-policy.yaml -
  make-state | warden validate --state - response.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if stateFile == "" {
				return usageErr(errors.New("validate: --state FILE is required (a verdict needs the state it is judged against)"))
			}
			lim, err := parseLimits(maxNotional)
			if err != nil {
				return usageErr(err)
			}
			p, err := loadPolicy(policyFile)
			if err != nil {
				return usageErr(err)
			}
			if stateFile == "-" && args[0] == "-" {
				return usageErr(errors.New("validate: --state - and a response from - would both read stdin; give one of them as a file"))
			}
			st, err := readState(a, stateFile)
			if err != nil {
				return usageErr(err)
			}
			u, ok := p.StringListParam("allowed_symbols")
			if cmd.Flags().Changed("universe") {
				u, ok = universe, true
				for _, s := range u {
					if !schemas.ValidSymbol(s) {
						return usageErr(fmt.Errorf("--universe: %q is not a symbol such as BTC/USDT", s))
					}
				}
			}
			raw, err := readInput(a, args[0])
			if err != nil {
				return usageErr(err)
			}
			res := policy.NewValidator(p, lim).ValidateRaw(raw, st)
			if res.Response != nil && ok {
				res.Warnings = policy.UniverseWarnings(*res.Response, u)
			}
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(res); err != nil {
				return err
			}
			if !res.AllApproved() {
				return &exitError{Code: exitRejected}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&policyFile, "policy", "", "policy file (default: the embedded default policy)")
	cmd.Flags().StringVar(&stateFile, "state", "", "state file, shaped like the state contract (required)")
	cmd.Flags().StringVar(&maxNotional, "max-notional", "", "hard maximum order notional in quote units (default 1000)")
	cmd.Flags().StringSliceVar(&universe, "universe", nil, "the symbols the response must cover, one recommendation each (default: the policy's allowed_symbols)")
	return cmd
}

// parseLimits reads the --max-notional flag.
func parseLimits(maxNotional string) (policy.Limits, error) {
	var lim policy.Limits
	if maxNotional == "" {
		return lim, nil
	}
	d, err := decimal.NewFromString(maxNotional)
	if err != nil || !d.IsPositive() {
		return lim, fmt.Errorf("--max-notional %q: want a number above 0", maxNotional)
	}
	lim.MaxOrderNotional = d
	return lim, nil
}

// loadPolicy loads the policy file, or the embedded default when file is "".
func loadPolicy(file string) (*policy.Policy, error) {
	if file == "" {
		return policy.Default()
	}
	return policy.LoadFile(file)
}

// readState reads and strictly parses a state file ("-": stdin).
func readState(a *app, file string) (schemas.State, error) {
	raw, err := readInput(a, file)
	if err != nil {
		return schemas.State{}, fmt.Errorf("state: %w", err)
	}
	st, err := schemas.ParseState(raw)
	if err != nil {
		return schemas.State{}, fmt.Errorf("state %s is not valid: %w", file, err)
	}
	return st, nil
}

// readInput reads a file, or stdin for "-".
func readInput(a *app, name string) ([]byte, error) {
	if name == "-" {
		if a.stdin == nil {
			return nil, errors.New("no stdin")
		}
		return io.ReadAll(io.LimitReader(a.stdin, maxInputBytes))
	}
	return readFileLimited(name)
}

func readFileLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxInputBytes))
}
