package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent/advisor/openai"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/console"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/agent/metrics"
	"github.com/warden-trading/warden/executor/ccxtx"
	"github.com/warden-trading/warden/executor/paper"
)

// checkStart validates everything `warden run` needs before it opens
// anything: the policy and its tests, the metrics address, the variables
// the advisor and the notifiers read, the replay source, and (live) the
// exchange credentials. It creates nothing and changes nothing: `config
// check` is this function, and `run` calls it before it makes a directory,
// takes the lock or opens the database. cfg has already passed
// config.Load's checks (unknown keys, values, pasted secrets). It returns
// every problem at once, and warnings that do not stop a start. The policy
// it loaded and tested is returned (nil when it failed) so that the start
// does not compile it and run its tests a second time.
func checkStart(ctx context.Context, cfg config.Config, live bool) (pol *checkedPolicy, warnings []string, err error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if p, err := loadPolicy(cfg.Policy); err != nil {
		bad("policy: %w", err)
	} else if tested, err := checkPolicyTests(ctx, cfg, p); err != nil {
		errs = append(errs, err)
	} else {
		pol = &checkedPolicy{policy: p, tests: tested}
	}
	if cfg.Metrics.Listen != "" {
		if err := metrics.CheckAddr(cfg.Metrics.Listen, cfg.Metrics.AllowNonLoop); err != nil {
			bad("metrics.listen: %w (set metrics.allow_non_loopback: true to serve it beyond this machine)", err)
		}
	}
	if err := console.CheckListen(cfg.UI.Listen, cfg.UI.TLSCert != "" && cfg.UI.TLSKey != "", cfg.UI.AllowNonLoop); err != nil {
		bad("%w", err)
	}

	if !live {
		// The paper exchange trades only the markets it defines; run
		// would refuse the others at start.
		if err := paperKnows(cfg.Symbols); err != nil {
			bad("symbols: %w", err)
		} else if cfg.Paper.Data != "live" {
			if err := replayStartCovered(cfg); err != nil {
				bad("paper.replay_start: %w", err)
			}
		}
	}

	switch cfg.Advisor.Kind {
	case "openai":
		o := cfg.Advisor.OpenAI
		if _, ok := config.Env(o.APIKeyEnv); !ok {
			bad("advisor.openai.api_key_env names $%s, which is not set: the advisor cannot call the model", o.APIKeyEnv)
		}
		if need, err := openai.MaxAnswerTokens(); err == nil && o.MaxTokens > 0 && o.MaxTokens < need {
			warnings = append(warnings, fmt.Sprintf("advisor.openai.max_tokens %d is below the %d tokens the response schema allows an answer (at %d characters a token): a long legitimate answer will be cut off and rejected; remove the setting to use %d", o.MaxTokens, need, openai.CharsPerToken, need))
		}
	case "consensus":
		for i, m := range cfg.Advisor.Consensus.Members {
			if m.Kind != "openai" && m.Kind != "perturbed" {
				continue
			}
			if o := cfg.Advisor.MemberOpenAI(m); o.APIKeyEnv != "" {
				if _, ok := config.Env(o.APIKeyEnv); !ok {
					bad("advisor.consensus.members[%d].openai.api_key_env names $%s, which is not set: the member cannot call the model", i, o.APIKeyEnv)
				}
			}
		}
	case "replay":
		for _, f := range []struct{ field, path string }{{"advisor.replay.file", cfg.Advisor.Replay.File}, {"advisor.replay.db", cfg.Advisor.Replay.DB}} {
			if f.path == "" {
				continue
			}
			if fi, err := os.Stat(f.path); err != nil {
				bad("%s: %w", f.field, err)
			} else if !fi.Mode().IsRegular() {
				bad("%s: %s is not a file", f.field, f.path)
			}
		}
	}

	s := cfg.Notify.Slack
	if s.WebhookURLEnv != "" || s.TokenEnv != "" {
		_, hook := config.Env(s.WebhookURLEnv)
		_, tok := config.Env(s.TokenEnv)
		if !hook && !tok {
			names := strings.Trim(strings.Join([]string{dollar(s.WebhookURLEnv), dollar(s.TokenEnv)}, " "), " ")
			bad("notify.slack names %s, not set here: Slack messages would never be sent (set the variable, or remove notify.slack)", names)
		}
	}
	if t := cfg.Notify.Telegram; t.TokenEnv != "" {
		if _, ok := config.Env(t.TokenEnv); !ok {
			bad("notify.telegram.token_env names $%s, which is not set: Telegram messages would never be sent (set the variable, or remove notify.telegram)", t.TokenEnv)
		}
	}

	if e := cfg.Notify.Email; e.Host != "" {
		for _, v := range []struct{ field, name string }{{"username_env", e.UsernameEnv}, {"password_env", e.PasswordEnv}} {
			if _, ok := config.Env(v.name); v.name != "" && !ok {
				bad("notify.email.%s names $%s, which is not set: e-mails would never be sent (set the variable, or remove notify.email)", v.field, v.name)
			}
		}
	}

	// What the start does with them: each channel's sender is built (no
	// request is made), as run builds it.
	if _, err := notifySenders(cfg, slog.New(slog.DiscardHandler)); err != nil {
		errs = append(errs, err)
	}

	if live {
		src := ccxtx.CredentialSource{APIKeyEnv: cfg.Exchange.APIKeyEnv, SecretEnv: cfg.Exchange.APISecretEnv}
		if cfg.Exchange.CredentialsFile != "" {
			src = ccxtx.CredentialSource{File: cfg.Exchange.CredentialsFile}
		}
		if _, err := ccxtx.LoadCredentials(src); err != nil {
			bad("exchange credentials: %w", err)
		}
	}

	// The database's directory is made at start when missing; what is in
	// the way of that is found now.
	if dir := existingAncestor(filepath.Dir(cfg.DB)); dir != "" {
		if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
			bad("db: %s is not a directory", dir)
		}
	}
	if fi, err := os.Stat(cfg.DB); err == nil && !fi.Mode().IsRegular() {
		bad("db: %s is not a file", cfg.DB)
	}
	if len(errs) > 0 {
		return nil, warnings, errors.Join(errs...)
	}
	return pol, warnings, nil
}

func dollar(name string) string {
	if name == "" {
		return ""
	}
	return "$" + name
}

// existingAncestor is dir or its nearest ancestor that exists.
func existingAncestor(dir string) string {
	for {
		if _, err := os.Lstat(dir); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func newConfigCmd(a *app) *cobra.Command {
	var live bool
	cmd := &cobra.Command{Use: "config", Short: "Write an example configuration, check one"}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a config file as `warden run` would start on it, without starting",
		Long: `Check a config file the way warden run checks it at start, creating nothing
(no database, no lock): the file loads strictly (unknown keys and an empty file are
errors, secrets pasted where a variable's name belongs are refused), the policy
loads and passes its tests, the metrics address is loopback unless allowed, and
every variable the advisor and the notifiers read is set. With mode: live (or
--live) the exchange credentials are loaded too.

Relative paths in the file are relative to the file's directory. Exit status 0
when run would start, 1 when it would refuse.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(args[0])
			if err != nil {
				return &exitError{Code: exitRejected, Err: err}
			}
			a.addSecrets(cfg)
			pol, warnings, err := checkStart(cmd.Context(), cfg, live || cfg.Mode == "live")
			if err == nil {
				// The tests the database requires: read, never created.
				err = configTestsNote(cmd.Context(), cfg, pol.tests)
			}
			for _, w := range warnings {
				fmt.Fprintf(a.stdout, "warning: %s\n", w)
			}
			if err != nil {
				return &exitError{Code: exitRejected, Err: fmt.Errorf("%s: run would refuse to start:\n%w", args[0], err)}
			}
			fmt.Fprintf(a.stdout, "%s: ok (mode %s, advisor %s, %d symbols, schedule %q, db %s)\n", args[0], cfg.Mode, cfg.Advisor.Kind, len(cfg.Symbols), cfg.Schedule, cfg.DB)
			return nil
		},
	}
	check.Flags().BoolVar(&live, "live", false, "check as for warden run --live (implied by mode: live)")
	cmd.AddCommand(check, newConfigInitCmd(a))
	return cmd
}

// paperKnows refuses a symbol the paper exchange has no market definition
// for (its steps and minimums), naming those it has.
func paperKnows(symbols []string) error {
	known := paper.DefaultConfig().Markets
	for _, s := range symbols {
		if _, ok := known[s]; !ok {
			return fmt.Errorf("the paper exchange has no market definition for %s (it knows %s)", s, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
	}
	return nil
}

// replayStartCovered refuses a replay start the bundled candles do not
// cover: the first cycle needs a candle closed by then, and the next one
// a candle after it (a start past the data was moved to its end, and
// every cycle after the first failed).
func replayStartCovered(cfg config.Config) error {
	start, err := time.Parse(time.RFC3339, cfg.Paper.ReplayStart)
	if err != nil {
		return err
	}
	for _, s := range cfg.Symbols {
		rp, err := market.BundledReplay(s, cfg.Timeframe)
		if err != nil {
			return err
		}
		if rp.Len() == 0 {
			return fmt.Errorf("no bundled %s %s candles", s, cfg.Timeframe)
		}
		first, last := rp.Candle(0).Time, rp.Candle(rp.Len()-1).Time
		if start.Before(first.Add(rp.Step())) || start.After(last) {
			return fmt.Errorf("%s is outside the bundled %s %s candles, which cover %s to %s: the replay needs a candle closed by its start and candles after it",
				start.UTC().Format(time.RFC3339), s, cfg.Timeframe, first.Format(time.RFC3339), last.Add(rp.Step()).Format(time.RFC3339))
		}
	}
	return nil
}
