package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
)

func newLogger(a *app, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErr(fmt.Errorf("--log-level: %w", err))
	}
	return slog.New(a.red.Handler(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: l}))), nil
}

func newRunCmd(a *app) *cobra.Command {
	var (
		cfgPath, db, level string
		once, live         bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run analysis cycles: snapshot, advisor, validator, executor, audit",
		Long: `Run analysis cycles on the schedule in the config (robfig/cron syntax), never
overlapping. SIGINT or SIGTERM stops scheduling and lets the running cycle finish,
so no order is left untracked.

With --once, run exactly one cycle and exit. With no --config at all, Warden runs
offline: the paper exchange over the bundled Binance candles (each run advances
the replay by one candle), the baseline advisor, the default policy and ./warden.db.

Live trading needs mode: live in the config AND --live here.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(a, level)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return usageErr(err)
			}
			if db != "" {
				cfg.DB = db
			}
			ctx := cmd.Context()
			a.addSecrets(cfg)
			// Everything a start needs is checked before anything is made:
			// a refused start leaves no database, directory or lock behind.
			warnings, err := checkStart(ctx, cfg, live)
			if err != nil {
				return usageErr(err)
			}
			for _, w := range warnings {
				logger.Warn(w)
			}
			rt, err := newRuntime(ctx, cfg, runtimeOptions{live: live, output: a.stdout, logger: logger, red: a.red})
			if err != nil {
				return usageErr(err)
			}
			defer rt.Close()
			rt.reconcile(ctx, true)
			if rt.metrics != nil {
				ln, err := rt.metrics.Listen(cfg.Metrics.Listen, cfg.Metrics.AllowNonLoop)
				if err != nil {
					return usageErr(err)
				}
				go func() { _ = rt.metrics.ServeListener(ctx, ln) }()
			}
			if once {
				// The cycle is detached from SIGINT: an order being placed is
				// carried to a known state before the process exits.
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
				defer cancel()
				res, err := rt.cycle(cctx)
				rt.flushNotifications(cctx)
				if err != nil {
					return &exitError{Code: exitRejected, Err: err}
				}
				fmt.Fprintf(a.stdout, "\naudit: %s (warden audit show %s)\n", cfg.DB, res.RunID)
				return nil
			}
			for _, d := range rt.dispatch {
				go func() { _ = d.Run(ctx) }()
			}
			go rt.watchPolicy(ctx, rt.pub)
			return agent.Schedule(ctx, cfg.Schedule, 10*time.Minute, logger, func(cctx context.Context) error {
				_, err := rt.cycle(cctx)
				if errors.Is(err, agent.ErrReplayEnd) {
					logger.Error("offline replay finished; nothing more to run", "err", err)
				}
				return err
			})
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config file (default: built-in offline paper defaults)")
	cmd.Flags().StringVar(&db, "db", "", "audit database path (overrides the config)")
	cmd.Flags().BoolVar(&once, "once", false, "run one cycle and exit")
	cmd.Flags().BoolVar(&live, "live", false, "trade live (also needs mode: live in the config)")
	cmd.Flags().StringVar(&level, "log-level", "warn", "log level: debug, info, warn, error")
	return cmd
}

// openStore opens the audit store named by --db / --config for the
// operator commands.
func openStore(ctx context.Context, cfgPath, db string) (*audit.Store, config.Config, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, cfg, usageErr(err)
	}
	if db != "" {
		cfg.DB = db
	}
	st, err := audit.Open(ctx, cfg.DB, audit.Options{Secrets: secretValues(cfg)})
	if err != nil {
		return nil, cfg, usageErr(err)
	}
	return st, cfg, nil
}

func newKillCmd(a *app) *cobra.Command {
	return switchCmd(a, &cobra.Command{
		Use:   "kill",
		Short: "Engage the kill switch: no order of any kind is placed until `warden resume`",
		Long: `Engage the kill switch. It is stored in the audit database, survives restarts,
and is read at every cycle by every Warden process using that database.`,
	}, func(ctx context.Context, st *audit.Store, db, actor, reason string) error {
		if err := st.SetKillSwitch(ctx, true, actor, reason); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "kill switch ON in %s: %s\n", db, reason)
		return nil
	})
}

func newResumeCmd(a *app) *cobra.Command {
	return switchCmd(a, &cobra.Command{
		Use:   "resume",
		Short: "Release the kill switch and end safe mode",
	}, func(ctx context.Context, st *audit.Store, db, actor, reason string) error {
		if err := st.SetKillSwitch(ctx, false, actor, reason); err != nil {
			return err
		}
		if err := st.SetSafeMode(ctx, false, time.Time{}, actor+": "+reason); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "kill switch OFF and safe mode ended in %s: %s\n", db, reason)
		return nil
	})
}

// switchCmd completes an operator switch command: the flags naming the
// database, the reason and the actor (both recorded), and apply run on the
// opened store.
func switchCmd(a *app, cmd *cobra.Command, apply func(ctx context.Context, st *audit.Store, db, actor, reason string) error) *cobra.Command {
	var cfgPath, db, reason, actor string
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if reason == "" {
			return usageErr(errors.New("--reason is required: say why, for the audit log"))
		}
		st, cfg, err := openStore(cmd.Context(), cfgPath, db)
		if err != nil {
			return err
		}
		defer st.Close()
		return apply(cmd.Context(), st, cfg.DB, actor, reason)
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config file")
	cmd.Flags().StringVar(&db, "db", "", "audit database path")
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded)")
	cmd.Flags().StringVar(&actor, "by", "operator", "who (recorded)")
	return cmd
}
