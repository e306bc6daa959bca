package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/notify"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/ccxtx"
	"github.com/warden-trading/warden/schemas"
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
overlapping. SIGINT, SIGTERM or SIGHUP stops scheduling and lets the running cycle finish,
so no order is left untracked.

With --once, run exactly one cycle and exit. With no --config at all, Warden runs
offline: the paper exchange over the bundled Binance candles (each run advances
the replay by one candle), the baseline advisor, the default policy and ./warden.db.

Live trading needs mode: live in the config AND --live here.

Exit codes, for cron and systemd:
  0  --once: the cycle ran (approvals and rejections are normal outcomes);
     scheduled: stopped by SIGINT/SIGTERM after the running cycle finished
  1  --once: the cycle failed (model error, market data refused, exchange or
     store error, an approved order that could not be placed) or the live
     exchange could not be reached at start
  2  Warden did not start: usage, configuration, policy (or its tests),
     credentials, or another warden run holds the database
  3  --once: the cycle ran under the kill switch or in safe mode
Every cycle, failed or not, is recorded: warden audit runs --status failed.`,
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
			// Credentials are checked when it will trade live; --live with a
			// paper config is refused by newRuntime, naming both switches.
			pol, warnings, err := checkStart(ctx, cfg, ccxtx.LiveAllowed(cfg.Mode, live))
			if err != nil {
				return usageErr(err)
			}
			for _, w := range warnings {
				logger.Warn(w)
			}
			kind := ""
			if once {
				kind = "run --once"
			}
			rt, err := newRuntime(ctx, cfg, runtimeOptions{live: live, output: a.stdout, logger: logger, red: a.red, policy: pol, lockKind: kind, lockNote: a.stderr})
			if err != nil {
				return startErr(err)
			}
			defer rt.Close()
			// Every loop beside the cycles uses the store: each is stopped
			// and waited for before rt.Close closes it (deferred after it,
			// so run before it). A loop that outlived the store logged
			// "database is closed" at every shutdown.
			bg := newBackground(ctx)
			defer bg.stop()
			ctx = bg.ctx
			rt.reconcile(ctx, true)
			if rt.metrics != nil {
				ln, err := rt.metrics.Listen(cfg.Metrics.Listen, cfg.Metrics.AllowNonLoop)
				if err != nil {
					return usageErr(err)
				}
				bg.run(func() { _ = rt.metrics.ServeListener(ctx, ln) })
			}
			if once {
				// The cycle is detached from SIGINT: an order being placed is
				// carried to a known state before the process exits.
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
				defer cancel()
				res, err := rt.cycle(cctx)
				rt.sendDigest(cctx)
				rt.flushNotifications(cctx)
				return onceResult(a, cfg.DB, res, err)
			}
			for _, d := range rt.dispatch {
				bg.run(func() { _ = d.Run(ctx) })
			}
			bg.run(func() { rt.watchPolicy(ctx, rt.pub) })
			// Approvals recorded by other processes (warden approve, the
			// console, Telegram) are acted on within seconds, between cycles.
			bg.run(func() { rt.approvalLoop(ctx, approvalPollEvery) })
			rt.startTelegram(ctx, bg.run)
			// A failed cycle does not stop the service: it is recorded (warden
			// audit runs), counted by the error-spike breaker and notified.
			// The exit code is 0 after a stop by signal.
			// A database deleted or replaced under the service stops it
			// (exit 1), for its supervisor to start it on the file
			// operators now use.
			sctx, stop := context.WithCancelCause(ctx)
			defer stop(nil)
			stopIfChanged := func(err error) bool {
				if !errors.Is(err, audit.ErrFileChanged) {
					return false
				}
				logger.Error("stopping: the database changed under warden run", "err", err)
				stop(err)
				return true
			}
			bg.run(func() {
				// Between cycles too: an hourly schedule would otherwise
				// notice only at its next cycle (rt.cycle checks first).
				t := time.NewTicker(5 * time.Second)
				defer t.Stop()
				for {
					select {
					case <-sctx.Done():
						return
					case <-t.C:
					}
					if stopIfChanged(rt.store.CheckFile()) {
						return
					}
				}
			})
			err = agent.Schedule(sctx, cfg.Schedule, 10*time.Minute, logger, func(cctx context.Context) error {
				_, err := rt.cycle(cctx)
				if stopIfChanged(err) {
					return err
				}
				rt.sendDigest(cctx)
				if errors.Is(err, agent.ErrReplayEnd) {
					logger.Error("offline replay finished; nothing more to run", "err", err)
				}
				return err
			})
			if cause := context.Cause(sctx); errors.Is(cause, audit.ErrFileChanged) {
				return &exitError{Code: exitFailed, Err: cause}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config file (default: built-in offline paper defaults)")
	cmd.Flags().StringVar(&db, "db", "", "audit database path (overrides the config)")
	cmd.Flags().BoolVar(&once, "once", false, "run one cycle and exit (exit code 0 ran, 1 failed, 2 not started, 3 kill switch or safe mode)")
	cmd.Flags().BoolVar(&live, "live", false, "trade live (also needs mode: live in the config)")
	cmd.Flags().StringVar(&level, "log-level", "warn", "log level: debug, info, warn, error")
	return cmd
}

// background runs the loops beside a runtime's cycles (notification
// dispatchers, the approval loop, the policy watcher, the metrics server,
// Telegram) under one context, so that a shutdown stops them all and
// waits for them before the store they use is closed.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newBackground(ctx context.Context) *background {
	b := &background{}
	b.ctx, b.cancel = context.WithCancel(ctx)
	return b
}

// run starts f in its own goroutine; f returns once b.ctx is done.
func (b *background) run(f func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f()
	}()
}

// stop ends the loops and waits for them to return.
func (b *background) stop() {
	b.cancel()
	b.wg.Wait()
}

// startErr is the exit of a start that failed: 1 when the runtime said it
// is worth retrying (the exchange could not be reached), 2 otherwise.
func startErr(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	return usageErr(err)
}

// cycleExitCode is what one `run --once` cycle tells its scheduler: the
// outcome `warden audit runs` lists for the same run, as an exit code.
func cycleExitCode(res agent.CycleResult, err error) int {
	if err != nil {
		return exitFailed
	}
	switch audit.RunOutcome(res.Status, res.KillSwitch, res.SafeMode, len(res.OrderErrors)) {
	case audit.OutcomeOK:
		return exitOK
	case audit.OutcomeKilled, audit.OutcomeSafeMode:
		return exitHalted
	}
	return exitFailed
}

// onceResult prints where the run is recorded and turns the cycle's
// outcome into the exit code, with one line on stderr for anything but a
// normal cycle.
func onceResult(a *app, db string, res agent.CycleResult, err error) error {
	if res.RunID != "" {
		fmt.Fprintf(a.stdout, "\naudit: %s (warden audit show %s)\n", db, res.RunID)
	}
	code := cycleExitCode(res, err)
	switch code {
	case exitOK:
		return nil
	case exitHalted:
		what := "safe mode (only sells that reduce a position)"
		if res.KillSwitch {
			what = "the kill switch (nothing can be placed; warden resume releases it)"
		}
		return &exitError{Code: code, Err: fmt.Errorf("cycle %s ran under %s", res.RunID, what)}
	}
	why := res.Status + ": " + res.Reason
	if err != nil {
		why = err.Error()
	} else if res.Status == "ok" && len(res.OrderErrors) > 0 {
		why = "order errors: " + strings.Join(res.OrderErrors, "; ")
	}
	if res.RunID == "" {
		return &exitError{Code: code, Err: fmt.Errorf("cycle failed: %s", why)}
	}
	return &exitError{Code: code, Err: fmt.Errorf("cycle %s failed: %s (warden audit runs --status failed)", res.RunID, why)}
}

func newKillCmd(a *app) *cobra.Command {
	return switchCmd(a, &cobra.Command{
		Use:   "kill [--reason TEXT] [--config FILE | --db FILE]",
		Short: "Engage the kill switch: no order of any kind is placed until `warden resume`",
		Long: `Engage the kill switch. It is stored in the audit database, survives restarts,
and is read at every cycle by every Warden process using that database, including
a warden run holding it right now.

The database is the one --config names (as for warden run) or --db. A database
that does not exist is refused, never created: a kill switch set in the wrong
file would stop nothing (--create makes it anyway). The command prints the
database it changed and when a run last used it, and warns when none ever did
or the last one is long past.`,
	}, "manual", true, func(ctx context.Context, st *audit.Store, actor, reason string) (string, error) {
		if err := st.SetKillSwitch(ctx, true, actor, reason); err != nil {
			return "", err
		}
		return "kill switch ON", nil
	})
}

func newResumeCmd(a *app) *cobra.Command {
	return switchCmd(a, &cobra.Command{
		Use:   "resume --reason TEXT [--config FILE | --db FILE]",
		Short: "Release the kill switch and end the breakers' levels (safe mode, reduce)",
		Long: `Release the kill switch and end the circuit breakers' levels (safe mode and
reduce), in the database --config names (as for warden run) or --db. A database
that does not exist is refused. A breaker that trips again raises its level again.`,
	}, "", false, func(ctx context.Context, st *audit.Store, actor, reason string) (string, error) {
		if err := st.SetKillSwitch(ctx, false, actor, reason); err != nil {
			return "", err
		}
		if err := st.EndLevels(ctx, actor, reason); err != nil {
			return "", err
		}
		return "kill switch OFF and safe mode/reduce ended", nil
	})
}

// switchCmd completes an operator switch command: the flags naming the
// database, the reason (defaultReason when not given; required when that
// is empty) and the actor (both recorded), and apply run on the opened
// store; apply returns what it did, for the confirmation line.
func switchCmd(a *app, cmd *cobra.Command, defaultReason string, on bool, apply func(ctx context.Context, st *audit.Store, actor, reason string) (string, error)) *cobra.Command {
	var (
		cfgPath, db, reason, actor string
		create, live               bool
	)
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if reason == "" {
			if defaultReason == "" {
				return usageErr(errors.New("--reason is required: say why, for the audit log"))
			}
			reason = defaultReason
		}
		ctx := cmd.Context()
		cfg, err := loadConfig(cfgPath)
		if err != nil {
			return usageErr(err)
		}
		a.addSecrets(cfg) // what is printed passes the redaction the store applies
		if db != "" {
			cfg.DB = db
		}
		abs, err := filepath.Abs(cfg.DB)
		if err != nil {
			return usageErr(err)
		}
		if err := existingAuditDB(ctx, abs, create); err != nil {
			return usageErr(err)
		}
		wrote := lastWrite(abs) // before this command opens and writes it
		// The kill switch engages whatever version of Warden wrote the
		// database (an operator's older binary after a partial deploy).
		st, err := audit.Open(ctx, abs, audit.Options{Secrets: secretValues(cfg), NewerSchemaOK: on})
		if err != nil {
			return usageErr(err)
		}
		defer st.Close()
		did, err := apply(ctx, st, actor, reason)
		if err != nil {
			return &exitError{Code: exitFailed, Err: fmt.Errorf("%s: nothing changed: %w", abs, err)}
		}
		fmt.Fprintf(a.stdout, "%s in %s (by %s: %s)\n", did, abs, actor, reason)
		now := time.Now()
		// Notified as the console's switch is: queued in the database's
		// outbox, sent by the warden run that holds it within seconds, or
		// by the next run --once (or approvals --process).
		if pub, err := voteNotifier(a, cfg, st); err != nil {
			fmt.Fprintf(a.stderr, "warning: the switch is set, but no notification could be queued: %v\n", err)
		} else if pub != nil {
			if err := pub.Publish(ctx, notify.KillSwitch{On: on, Reason: reason, By: actor, At: now}); err != nil {
				fmt.Fprintf(a.stderr, "warning: the switch is set, but its notification could not be queued: %v\n", err)
			} else {
				fmt.Fprintln(a.stdout, "notification queued for the configured channels (sent by the running warden, or the next run --once)")
			}
		}
		if on {
			// The switch is set: withdrawing what rests is best effort,
			// never a reason to fail the command.
			a.withdrawNow(ctx, cfg, st, live)
		}
		last, ok, err := st.LastRunAt(ctx)
		switch {
		case err != nil:
			fmt.Fprintf(a.stderr, "warning: could not read when a run last used %s: %v\n", abs, err)
		case !ok:
			fmt.Fprintf(a.stdout, "last run: never\n")
			fmt.Fprintf(a.stderr, "warning: no run has ever used %s: is it the database your warden run uses? (check --config / --db)\n", abs)
		case cfg.ReplaysBundled():
			// The offline replay dates its runs by the replay's clock:
			// how long ago the database was last written says whether a
			// run uses it.
			ago := now.Sub(wrote)
			fmt.Fprintf(a.stdout, "last run: %s on the replay's clock (database last written %s ago)\n", last.UTC().Format(time.RFC3339), roundAgo(ago))
			if limit, sched := staleAfter(cfg.Schedule, now); ago > limit {
				fmt.Fprintf(a.stderr, "warning: %s was last written %s ago, more than %s (%s): is it the database your warden run uses? (check --config / --db)\n",
					abs, roundAgo(ago), roundAgo(limit), sched)
			}
		default:
			ago := now.Sub(last)
			fmt.Fprintf(a.stdout, "last run: %s (%s ago)\n", last.UTC().Format(time.RFC3339), roundAgo(ago))
			if limit, sched := staleAfter(cfg.Schedule, now); ago > limit {
				fmt.Fprintf(a.stderr, "warning: the last run in %s was %s ago, more than %s (%s): is it the database your warden run uses? (check --config / --db)\n",
					abs, roundAgo(ago), roundAgo(limit), sched)
			}
		}
		return nil
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config file: its db is the database changed (as for warden run)")
	cmd.Flags().StringVar(&db, "db", "", "audit database path (overrides the config)")
	help := "why (recorded)"
	if defaultReason != "" {
		help = fmt.Sprintf("why (recorded; default %q)", defaultReason)
	}
	cmd.Flags().StringVar(&reason, "reason", "", help)
	cmd.Flags().StringVar(&actor, "by", "operator", "who (recorded)")
	cmd.Flags().BoolVar(&create, "create", false, "create the database if it does not exist")
	if on {
		cmd.Flags().BoolVar(&live, "live", false, "also withdraw resting buys on the live exchange now (with mode: live; without it a live account's are withdrawn by the running warden or the next run)")
	}
	return cmd
}

// withdrawNow cancels, right after `warden kill`, the buys resting on the
// exchange, so that under cron they do not rest until the next `run
// --once` (up to a schedule interval). Only when the journal has one, and
// when no warden run holds the database (that one withdraws them itself
// within seconds); a live account's only with --live, as for every live
// order. Anything that stops it is said on stderr and left to the next
// run: the switch is already set.
func (a *app) withdrawNow(ctx context.Context, cfg config.Config, st *audit.Store, live bool) {
	open, err := st.OpenOrderEvents(ctx)
	if err != nil {
		fmt.Fprintf(a.stderr, "warning: resting buys not looked up (%v): the next run withdraws them\n", err)
		return
	}
	resting := 0
	for _, ev := range open {
		if ev.Role == executor.RoleEntry && ev.Side == schemas.SideBuy {
			resting++
		}
	}
	if resting == 0 {
		return
	}
	if cfg.Mode == "live" && !live {
		fmt.Fprintf(a.stdout, "%d buy(s) may rest on the live exchange: the running warden withdraws them within seconds, or the next run does (give --live to withdraw them now)\n", resting)
		return
	}
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	rt, err := newRuntime(ctx, cfg, runtimeOptions{live: live, output: a.stderr, logger: logger, red: a.red, lockKind: "kill", noAdvisor: true, lockNote: a.stderr})
	if isLockHeld(err) {
		fmt.Fprintf(a.stdout, "%d buy(s) may rest on the exchange: the warden run holding the database withdraws them within seconds\n", resting)
		return
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "warning: resting buys not withdrawn now (%v): the next run withdraws them\n", err)
		return
	}
	defer rt.Close()
	rt.cycleMu.Lock()
	defer rt.cycleMu.Unlock()
	n, err := rt.withdrawIfHalted(ctx)
	if err != nil {
		fmt.Fprintf(a.stderr, "warning: resting buys not all withdrawn (%v): the next run tries again\n", err)
	}
	fmt.Fprintf(a.stdout, "resting buys withdrawn: %d\n", n)
}

// lastWrite is when the database at abs (or its WAL) was last written.
func lastWrite(abs string) time.Time {
	var t time.Time
	for _, f := range []string{abs, abs + "-wal"} {
		if fi, err := os.Stat(f); err == nil && fi.ModTime().After(t) {
			t = fi.ModTime()
		}
	}
	return t
}

// sqliteFile reports whether the file at path starts with SQLite's header.
func sqliteFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var hdr [16]byte
	_, err = io.ReadFull(f, hdr[:])
	return err == nil && string(hdr[:]) == "SQLite format 3\x00"
}

// existingAuditDB refuses a path that holds no Warden audit database
// (missing, empty, a directory, another kind of file), unless create and
// there is nothing there at all.
func existingAuditDB(ctx context.Context, abs string, create bool) error {
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if create {
			return nil
		}
		return fmt.Errorf("no database at %s: nothing changed. Is it the database your warden run uses? Give the same --config (or --db) as warden run; --create makes a new database", abs)
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("%s is a directory, not a database: nothing changed", abs)
	case fi.Size() == 0:
		return fmt.Errorf("%s is an empty file, not a Warden database (left by a failed start?): nothing changed", abs)
	}
	if !sqliteFile(abs) {
		return fmt.Errorf("%s is not a Warden audit database (not an SQLite file): nothing changed", abs)
	}
	st, err := audit.Open(ctx, abs, audit.Options{ReadOnly: true})
	if errors.Is(err, audit.ErrNotAuditDB) {
		return fmt.Errorf("%s is not a Warden audit database: nothing changed", abs)
	}
	if err == nil {
		st.Close()
	}
	// Any other error (an older database not yet migrated, a WAL in a
	// read-only directory...) is left to the writable open, which migrates
	// or says why it cannot.
	return nil
}

// staleAfter is how long after the last run a switch command warns that
// the database may not be the one in use: twice the schedule's interval,
// or 24 h when the schedule does not parse.
func staleAfter(spec string, now time.Time) (time.Duration, string) {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return 24 * time.Hour, "24 h"
	}
	next := sched.Next(now)
	interval := sched.Next(next).Sub(next)
	if interval <= 0 {
		return 24 * time.Hour, "24 h"
	}
	return 2 * interval, fmt.Sprintf("twice the schedule %q", spec)
}

// roundAgo rounds a duration for people: seconds under a minute, minutes
// under an hour, then hours and minutes, then days and hours.
func roundAgo(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	days := int(d / (24 * time.Hour))
	return fmt.Sprintf("%dd%dh", days, int((d-time.Duration(days)*24*time.Hour)/time.Hour))
}
