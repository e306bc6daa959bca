package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/policyreplay"
	"github.com/warden-trading/warden/policy"
)

func newPolicyReplayCmd(a *app) *cobra.Command {
	var (
		policyFile, db, cfgPath, since, maxNotional string
		asJSON                                      bool
	)
	cmd := &cobra.Command{
		Use:   "replay --policy NEW.yaml [--db FILE] [--since TIME|DURATION] [--max-notional N] [--json]",
		Short: "Show which recorded decisions a policy change would have changed, and why",
		Long: `replay re-judges every recorded recommendation under the policy in --policy,
each against the state recorded when it was judged (the account, positions,
markets, kill switch and safe mode of that moment), and prints the decisions
that would change: approved→rejected, rejected→approved, or the same decision
for different rules, with the rules that newly fail or no longer fail and
their messages. The recommendations of one model response are re-judged
together and in order, as they were live.

The audit database is opened read-only and never created; nothing is placed
or written. --since takes an RFC 3339 time or a duration back from now
(72h, 30m, 7d), compared with the decisions' recorded times; on the offline
paper replay or a backtest's database (the candle times) a duration counts
back from the last run's decision time, as the audit commands' do. The hard limits apply as in 'warden run': give --max-notional
(or --config) to match the limit the decisions were made under.

Exit 0 when the replay ran, whether or not decisions change; 2 when the
policy, the database or a flag is unusable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if policyFile == "" {
				return usageErr(errors.New("--policy is required: the policy file to replay under"))
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return usageErr(err)
			}
			a.addSecrets(cfg)
			if db != "" {
				cfg.DB = db
			}
			lim := cfg.PolicyLimits(cfg.Mode != "live")
			if maxNotional != "" {
				n, err := decimal.NewFromString(maxNotional)
				if err != nil || !n.IsPositive() {
					return usageErr(fmt.Errorf("--max-notional %q: want a positive number", maxNotional))
				}
				lim.MaxOrderNotional = n
			}
			if _, err := parseSince(since, time.Now()); err != nil {
				return usageErr(err)
			}
			p, err := policy.LoadFile(policyFile)
			if err != nil {
				return usageErr(err)
			}
			if _, err := os.Stat(cfg.DB); errors.Is(err, fs.ErrNotExist) {
				return usageErr(fmt.Errorf("audit database %s does not exist (give --db)", cfg.DB))
			} else if err != nil {
				return usageErr(fmt.Errorf("audit database: %w", err))
			}
			st, err := audit.Open(ctx, cfg.DB, audit.Options{ReadOnly: true, Secrets: secretValues(cfg)})
			if err != nil {
				return usageErr(err)
			}
			defer st.Close()
			// A duration counts back from the history's clock, as the audit
			// commands' do: now for live trading or live data, else (the
			// offline replay, a backtest's database) the last run's
			// decision time.
			a.auditWallClock = !cfg.ReplaysBundled()
			now, err := a.auditNow(ctx, st, since)
			if err != nil {
				return usageErr(err)
			}
			from, err := parseSince(since, now)
			if err != nil {
				return usageErr(err)
			}
			rep, err := policyreplay.Replay(ctx, st, policy.NewValidator(p, lim), from)
			if err != nil {
				return usageErr(err)
			}
			if asJSON {
				return rep.WriteJSON(a.stdout)
			}
			return rep.WriteText(a.stdout)
		},
	}
	cmd.Flags().StringVar(&policyFile, "policy", "", "the new policy file to replay under (required)")
	cmd.Flags().StringVar(&db, "db", "", "audit database (default: the config's db, ./warden.db)")
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config file, for the db path and the max order notional")
	cmd.Flags().StringVar(&since, "since", "", "replay decisions at or after this RFC 3339 time, or this long ago (72h, 7d); default: all")
	cmd.Flags().StringVar(&maxNotional, "max-notional", "", "the hard limit on one order's notional, in quote units (default: the config's, else 1000)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// parseSince reads --since: "" (everything), an RFC 3339 time, or a
// duration back from now ("72h", "90m", or whole days "7d").
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("--since %q: want an RFC 3339 time or a duration like 72h or 7d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d < 0 {
			return time.Time{}, fmt.Errorf("--since %q: want an RFC 3339 time or a duration like 72h or 7d", s)
		}
	}
	return now.Add(-d), nil
}
