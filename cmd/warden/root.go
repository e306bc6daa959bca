package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/redact"
)

// Exit codes shared by every command. `warden run --once` gives them the
// meanings a scheduler needs: 0 the cycle ran, 1 it failed, 2 Warden could
// not start (usage, configuration), 3 it ran under the kill switch or in
// safe mode.
const (
	exitOK       = 0
	exitRejected = 1 // something was rejected or a check failed
	exitFailed   = 1 // run: the cycle failed (advisor, market data, exchange, store)
	exitUsage    = 2 // the input itself is unusable
	exitHalted   = 3 // run: the cycle ran under the kill switch or in safe mode
	// exitBrokenPipe: stdout was closed by its reader (`| head`); the
	// command stopped and cleaned up, and says nothing. A shell reports
	// the same status for a process killed by SIGPIPE.
	exitBrokenPipe = 141
)

// errStdoutClosed is the cause of Main's context when a write to stdout
// failed because its reader is gone (EPIPE).
var errStdoutClosed = errors.New("stdout closed by its reader")

// pipeWriter is stdout: a write that fails with EPIPE calls closed once.
type pipeWriter struct {
	w      io.Writer
	closed func()
	once   sync.Once
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if errors.Is(err, syscall.EPIPE) {
		p.once.Do(p.closed)
	}
	return n, err
}

// Unwrap is the writer behind p (whether stdout is a terminal).
func (p *pipeWriter) Unwrap() io.Writer { return p.w }

// exitError carries an exit code out of a command. A nil Err means the
// command already printed what the user needs.
type exitError struct {
	Code int
	Err  error
}

func (e *exitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *exitError) Unwrap() error { return e.Err }

// usageErr wraps err so the command exits 2.
func usageErr(err error) error { return &exitError{Code: exitUsage, Err: err} }

// app holds what every command shares: the standard streams. Commands take
// what they need from it; nothing is global.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// red is the one redactor every way out passes through: stdout and
	// stderr are wrapped in it, logs, the database and notifications use
	// it. Commands add the secrets their configuration names (addSecrets).
	red *redact.Redactor
	// rawStdout is stdout without the redactor, for the one secret shown
	// to its owner on purpose: a console user's TOTP enrolment (ui.go).
	rawStdout io.Writer
	// auditWallClock: the audit commands' --config runs live or on live
	// paper data, so --since/--until durations count back from now; else
	// (the built-in offline replay, a backtest's database) from the last
	// run's decision time (auditNow).
	auditWallClock bool
	// auditArchiveDir: with --config (and its db), the config's
	// audit.archive_dir, where verify looks up a bare --expect-head hash
	// that is not in the database; "" otherwise (archive/ beside the
	// database).
	auditArchiveDir string
}

// auditNow is the time the audit commands' --since/--until durations
// count back from: now when the config trades on live data or the last
// run traded live; otherwise (the offline replay of bundled candles, the
// built-in default, and a backtest's database) the decision time of the
// database's last run, as status, trades and profit read it, so that
// `--since 24h` means the last day of that history rather than of the
// wall clock. When it is not now and a duration was given, a note on
// stderr says so.
func (a *app) auditNow(ctx context.Context, st *audit.Store, durations ...string) (time.Time, error) {
	now := time.Now().UTC()
	if a.auditWallClock {
		return now, nil
	}
	last, ok, err := st.LastRun(ctx)
	if err != nil || !ok || last.Mode == "live" {
		return now, err
	}
	at := last.StartedAt.UTC()
	for _, d := range durations {
		if _, err := time.Parse(time.RFC3339Nano, d); d != "" && err != nil {
			if _, err := time.Parse(time.DateOnly, d); err != nil {
				fmt.Fprintf(a.stderr, "note: %s counts back from the last run's decision time, %s (the %s history's clock; a --config trading on live data counts from now)\n",
					d, at.Format("2006-01-02 15:04 MST"), last.Mode)
				break
			}
		}
	}
	return at, nil
}

// Main runs the CLI with args (without the program name) and returns the
// process exit code. It is what main calls and what end-to-end tests call.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// A reader of stdout that went away (`warden trades | head -1`) stops
	// the command as an interrupt does, so it cleans up, and the exit is
	// quiet.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stdout = &pipeWriter{w: stdout, closed: func() { cancel(errStdoutClosed) }}
	red := redact.New()
	rawStdout := stdout
	outW, errW := red.Writer(stdout), red.Writer(stderr)
	defer func() {
		outW.Flush()
		errW.Flush()
	}()
	stdout, stderr = outW, errW
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, red: red, rawStdout: rawStdout}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if errors.Is(context.Cause(ctx), errStdoutClosed) {
		return exitBrokenPipe
	}
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if ctx.Err() != nil && !(errors.As(err, &ee) && ee.Code == exitInterrupted) {
		// Ctrl-C or SIGTERM stopped the command: whatever failed after
		// that (a read cut short, "statement is closed") is the
		// interruption, not a finding such as a tampered archive.
		fmt.Fprintln(stderr, "warden: interrupted:", err)
		return exitInterrupted
	}
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(stderr, "warden:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, "warden:", err)
	return exitUsage
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "warden",
		Short: "A crypto trading agent in which the model only advises and deterministic code decides",
		Long: `Warden asks a language model (or an offline baseline) for a rationale and a JSON
recommendation, then decides in deterministic code: a strict JSON-schema check,
CEL policy rules, and hard limits in Go. Only an approved order reaches the
exchange (paper by default). Every prompt, response, verdict and order is
stored in SQLite.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, add := range commands {
		root.AddCommand(add(a))
	}
	finishCommands(root)
	return root
}

// commands lists the constructors of the top-level subcommands, one per
// file of this package; adding a command group adds one line here.
var commands = []func(*app) *cobra.Command{
	newValidateCmd,
	newPolicyCmd,
	newRunCmd,
	newKillCmd,
	newResumeCmd,
	newApprovalsCmd,
	newApproveCmd,
	newDenyCmd,
	newConfigCmd,
	newAuditCmd,
	newBacktestCmd,
	newStatusCmd,
	newTradesCmd,
	newProfitCmd,
	newReviewCmd,
	newVersionCmd,
	newUICmd,
}

// addSecrets registers with the process's redactor every secret cfg names
// (the values of its *_env variables).
func (a *app) addSecrets(cfg config.Config) { a.red.Add(secretValues(cfg)...) }
