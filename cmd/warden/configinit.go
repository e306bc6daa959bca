package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
)

// exampleConfig is what `warden config init` writes: every setting with
// its default and what it does. It runs as it is (paper trading over the
// bundled candles, the baseline advisor, no notifications), and `warden
// config check` accepts it; a test keeps it so.
const exampleConfig = `# Warden configuration (YAML). Every key is optional: a key left out keeps
# the default shown here. Unknown keys are errors. Secrets never go in this
# file, only the NAMES of the environment variables that hold them.
# Relative paths are relative to this file's directory.
# Check it with: warden config check warden.yaml

mode: paper                  # paper, or live (live also needs --live on the command line)
db: ./warden.db              # the SQLite audit log; also the paper account and the breakers' state
schedule: "@hourly"          # cron (robfig/cron): "@hourly", "0 * * * *", "@every 15m"
symbols: [BTC/USDT, ETH/USDT]
timeframe: 1h                # candles the snapshot and the breakers read
candles: 200                 # candles of history per snapshot (50..1000)
policy: ""                   # a policy file; empty: the embedded default (warden policy init writes one)
# policy_tests: ./my-policy_test.yaml   # default: FILE_test.yaml beside the policy, when it exists

limits:
  max_order_notional: 1000   # hard limit in Go, in the quote currency: no order above it, whatever the policy says
  max_price_deviation_pct: 10  # hard limit in Go: no limit buy priced over the mid by more (no sell under it), (0, 50]

advisor:
  kind: baseline             # baseline (offline rules), openai (any OpenAI-compatible server), replay
  # openai:
  #   base_url: https://api.openai.com/v1
  #   model: gpt-4o-2024-08-06
  #   api_key_env: OPENAI_API_KEY        # the variable's name, never the key
  #   temperature: 0
  #   timeout: 60s                       # one HTTP attempt
  #   deadline: 3m                       # the whole advice (attempts, waits, repairs); 0: min(half the schedule, 3m)
  #   max_retries: 2                     # retries after the first attempt (the default)
  #   structured_outputs: true
  #   repair_attempts: 1
  #   daily_token_budget: 2000000
  #   training_cutoff: 2023-10-01        # backtests before it are flagged "not evidence"
  # replay: {db: ./recorded.db}          # or {file: ./responses.jsonl}

paper:
  data: bundled              # bundled (offline replay of the bundled candles) or live (public data, no keys)
  start_cash: 10000
  replay_start: "2022-06-01T00:00:00Z"
  maker_fee_bps: 10
  taker_fee_bps: 10
  slippage_bps: 2
  spread_bps: 2
  participation: 0.1         # share of a candle's volume an order may fill

exchange:                    # live trading (and paper.data: live)
  id: binance
  api_key_env: WARDEN_API_KEY
  api_secret_env: WARDEN_API_SECRET
  # credentials_file: ./binance-key.yaml  # instead of the variables; mode 0600
  # key_created: 2024-05-01               # warns after key_rotation_days
  key_rotation_days: 90

executor:
  submit_timeout: 10s
  max_orders_per_minute: 6
  reconcile_every: 5m

breakers:                    # calibrated defaults; a level holds for its cool-down or until warden resume
  reduce_scale: 0.5          # the policy's size caps × this at the reduce level
  error_spike: {level: safe_mode, max_consecutive: 3, cooldown: 4h}
  data_gap: {level: safe_mode, max_gap_bars: 3, cooldown: 4h}
  volatility_shock: {level: safe_mode, sigma: 4.5, cooldown: 1h}
  drift: {level: reduce, psi: 1.80, cooldown: 4h}
  invalid_output: {level: safe_mode, window: 20, pct: 20, cooldown: 4h}   # model refusals/truncations/off-schema: > pct % of the last window calls

notify:
  # slack: {webhook_url_env: WARDEN_SLACK_WEBHOOK}
  # telegram: {token_env: WARDEN_TELEGRAM_TOKEN, chat_id: "-1001234567890"}
  # digest: "0 8 * * MON"    # the weekly review (warden review) to the channels, Mondays 08:00

approval:                    # human approval (off by default): a person confirms before an order is placed
  # required: true           # matching orders wait for a person (warden approvals, approve, deny)
  # for: [buy, sell]
  # over_notional: 0         # only orders above this notional wait; 0: every order
  # expires: 15m
  # max_price_move_bps: 25   # the price may move at most this much before placing, else void
  # channels: [cli, console] # add telegram (uses notify.telegram's bot and chat)
  # live_warmup: {days: 14, orders: 20}     # mode live: every order waits until both are reached
  # telegram: {allowed_user_ids: [123456789]}

audit:                       # the audit log's retention (README: "Retention")
  # retention: 90d           # whole days, 1d..3650d: the first cycle of each day archives older records
  # archive_dir: ./archive   # default: archive/ beside the database

metrics:
  listen: ""                 # e.g. 127.0.0.1:9464 for Prometheus; off when empty

ui:                          # warden ui, the console (users: warden ui user add)
  listen: 127.0.0.1:8787     # loopback; reach it through an SSH tunnel or a VPN
  # tls_cert: /etc/warden/ui.crt
  # tls_key: /etc/warden/ui.key
  # allow_non_loopback: true # only with tls_cert and tls_key
`

func newConfigInitCmd(a *app) *cobra.Command {
	var (
		out   string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "init [--out FILE] [--force]",
		Short: "Write a commented example config (every setting with its default)",
		Long: `init writes a config file listing every setting with its default value and
what it does. As written it runs offline (paper trading over the bundled candles,
the baseline advisor); warden config check accepts it. An existing file is left
alone unless --force. --out - prints it.`,
		Example: `  warden config init
  warden config init --out /etc/warden/warden.yaml
  warden config init --out - | less`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "-" {
				_, err := fmt.Fprint(a.stdout, exampleConfig)
				return err
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(out, flags, 0o600)
			if errors.Is(err, fs.ErrExist) {
				return usageErr(fmt.Errorf("%s exists; nothing written (--force overwrites it)", out))
			}
			if err != nil {
				return usageErr(err)
			}
			if _, err := f.WriteString(exampleConfig); err != nil {
				f.Close()
				return &exitError{Code: exitFailed, Err: err}
			}
			if err := f.Close(); err != nil {
				return &exitError{Code: exitFailed, Err: err}
			}
			fmt.Fprintf(a.stdout, "wrote %s; check it with: warden config check %s\n", out, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "warden.yaml", "file to write (- for standard output)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}
