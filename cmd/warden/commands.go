package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/warden-trading/warden/agent/config"
)

// examples gives the commands whose constructors set no Example one, by
// command path. finishCommands applies them; a test walks every command
// and fails on one without an example.
var examples = map[string]string{
	"warden": `  warden run --once
  warden status
  warden audit list --since 24h`,
	"warden policy": `  warden policy init --out my-policy.yaml
  warden policy check my-policy.yaml`,
	"warden policy check": `  warden policy check my-policy.yaml`,
	"warden policy init":  `  warden policy init --out my-policy.yaml   # and my-policy_test.yaml`,
	"warden policy test": `  warden policy test my-policy_test.yaml --policy my-policy.yaml
  warden policy test my-policy_test.yaml --policy my-policy.yaml --coverage-min 100`,
	"warden policy replay":     `  warden policy replay --policy my-policy.yaml --since 720h`,
	"warden policy drop-tests": `  warden policy drop-tests --config warden.yaml --reason "rewriting the tests" --by alice`,
	"warden policy show": `  warden policy show
  warden policy show --tests`,
	"warden run": `  warden run --once
  warden run --config /etc/warden/warden.yaml
  warden run --once --config /etc/warden/warden.yaml --live`,
	"warden kill": `  warden kill --reason "news event"
  warden kill --config /etc/warden/warden.yaml`,
	"warden resume":       `  warden resume --reason "checked the positions" --config /etc/warden/warden.yaml`,
	"warden config":       `  warden config init && warden config check warden.yaml`,
	"warden config check": `  warden config check /etc/warden/warden.yaml`,
	"warden audit": `  warden audit list --since 24h --decision rejected
  warden audit verify`,
	"warden audit list": `  warden audit list --since 24h --decision rejected
  warden audit list --symbol BTC/USDT --rule max_position --json`,
	"warden audit show": `  warden audit show r-20220601T000000Z-aadf8f
  warden audit show r-20220601T000000Z-aadf8f:0 --json`,
	"warden audit runs":   `  warden audit runs --status failed --since 7d`,
	"warden audit events": `  warden audit events --kind kill_switch,breaker,safe_mode --since 24h`,
	"warden audit export": `  warden audit export --format jsonl --out audit.jsonl
  warden audit export --runs --format csv --out runs.csv`,
	"warden audit verify": `  warden audit verify --db /var/lib/warden/warden.db`,
	"warden audit archive": `  warden audit archive --before 90d --db /var/lib/warden/warden.db
  warden audit archive --before 2024-01-01 --dir /srv/warden-archive`,
	"warden backtest": `  warden backtest
  warden backtest --symbols BTC/USDT --from 2021-01-01 --to 2022-01-01 --every day --audit`,
}

// finishCommands completes the command tree: an example for every
// command that sets none, the nearest command suggested for an unknown
// subcommand of a command group (cobra only does so at the root), and
// the nearest flag for an unknown one.
func finishCommands(root *cobra.Command) {
	root.SetFlagErrorFunc(flagErrorWithSuggestion)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Example == "" {
			c.Example = examples[c.CommandPath()]
		}
		c.SuggestionsMinimumDistance = 2
		if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
			c.Args = cobra.ArbitraryArgs
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					return cmd.Help()
				}
				return usageErr(unknownCommand(cmd, args[0]))
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += " (did you mean " + strings.Join(s, " or ") + "?)"
	}
	return errors.New(msg + "; see " + cmd.CommandPath() + " --help")
}

var unknownFlagRe = regexp.MustCompile(`unknown (?:shorthand )?flag: '?-{1,2}([^' ]+)'?`)

// flagErrorWithSuggestion names the nearest flag of the command to an
// unknown one: "unknown flag: --sinse (did you mean --since?)". Usage
// errors exit 2.
func flagErrorWithSuggestion(cmd *cobra.Command, err error) error {
	m := unknownFlagRe.FindStringSubmatch(err.Error())
	if m == nil {
		return usageErr(err)
	}
	var names []string
	add := func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	}
	cmd.Flags().VisitAll(add)
	cmd.InheritedFlags().VisitAll(add)
	if s := config.Suggest(m[1], names); s != "" {
		return usageErr(fmt.Errorf("%w (did you mean --%s?)", err, s))
	}
	return usageErr(err)
}
