package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor/openai"
	"github.com/warden-trading/warden/agent/advisor/replay"
	"github.com/warden-trading/warden/agent/advisor/transform"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/backtest"
)

// backtestFlags are the flags of `warden backtest`.
type backtestFlags struct {
	from, to, symbols, timeframe, advisor, policy, config    string
	every, out, auditDB, cacheDB, replayFrom, cutoff, record string
	progress                                                 string
	audit, walkForward, quiet, compare                       bool
	trainMonths, testMonths, minTrades                       int
}

func newBacktestCmd(a *app) *cobra.Command {
	var f backtestFlags
	cmd := &cobra.Command{
		Use:   "backtest",
		Short: "Backtest an advisor through the full pipeline over historical candles",
		Long: `Backtest steps a simulated clock through historical candles (the bundled real
Binance data by default) and, at every decision time, runs the same cycle as
'warden run': snapshot of the candles closed so far → advisor → strict schema
check → CEL policy → hard limits → paper exchange (fees, slippage, spread,
partial fills and latency from the config). It writes DIR/summary.json and
DIR/report.html: return, CAGR, Sharpe, Sortino, drawdown, win rate, exposure,
turnover, fees, rejections by rule, skipped cycles by reason and breaker trips,
against buy-and-hold and (for a model) the baseline advisor, per symbol and per
market regime; DIR/equity.csv (the curves mark by mark) and DIR/trades.csv (the
round trips).

The files are written when the backtest has finished: Ctrl-C stops it with
exit code 130 and leaves DIR as it was (no partial report, no partial audit
database), so the same command can simply be run again.

With --walk-forward it also calibrates the baseline's parameters on rolling
train windows and reports the out-of-sample test windows per regime.

A model advisor (openai) answers from the response cache when it has seen the
same prompt before (--cache, the config's database by default), so a rerun
costs nothing. A backtest of a model over data from before its training cutoff
(advisor.openai.training_cutoff or --training-cutoff) is flagged as NOT
EVIDENCE: models memorise historical prices.

With no flags at all it runs offline: the baseline advisor over the whole
bundled BTC/USDT and ETH/USDT 1h history with a decision at every candle.`,
		Example: `  warden backtest
  warden backtest --symbols BTC/USDT --from 2021-01-01 --to 2022-01-01 --every day --audit
  warden backtest --every day --walk-forward --out wf-report`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBacktest(cmd.Context(), a, cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.from, "from", "", "first bar (YYYY-MM-DD or RFC 3339; default: the start of the data after warm-up)")
	fl.StringVar(&f.to, "to", "", "end, exclusive (YYYY-MM-DD or RFC 3339; default: the end of the data)")
	fl.StringVar(&f.symbols, "symbols", "", "comma-separated symbols (default: the config's)")
	fl.StringVar(&f.timeframe, "timeframe", "", "candle timeframe: 1h, 4h or 1d (default: the config's)")
	fl.StringVar(&f.advisor, "advisor", "", "baseline, openai, consensus or replay (default: the config's advisor.kind)")
	fl.StringVar(&f.policy, "policy", "", "CEL policy file (default: the config's, else the embedded default)")
	fl.StringVar(&f.config, "config", "", "YAML config file (default: built-in offline defaults)")
	fl.StringVar(&f.every, "every", "candle", "decision cadence: candle (every close) or day (UTC midnight)")
	fl.StringVar(&f.out, "out", "backtest-report", "directory for report.html and summary.json")
	fl.BoolVar(&f.audit, "audit", false, "record every decision in a fresh audit database (--audit-db)")
	fl.StringVar(&f.auditDB, "audit-db", "", "audit database for --audit; must not exist (default: DIR/audit.db)")
	fl.StringVar(&f.cacheDB, "cache", "", "response cache database for model advisors (default: the config's db)")
	fl.StringVar(&f.replayFrom, "replay-from", "", "replay: a JSONL recording, or the audit database of an earlier backtest (default: advisor.replay.file)")
	fl.StringVar(&f.record, "record", "", "write every raw advisor response to this JSONL file (replay it with --advisor replay --replay-from FILE)")
	fl.StringVar(&f.cutoff, "training-cutoff", "", "the model's training cutoff, YYYY-MM-DD (overrides advisor.openai.training_cutoff)")
	fl.BoolVar(&f.compare, "compare-baseline", true, "also run the baseline advisor when backtesting another one")
	fl.BoolVar(&f.walkForward, "walk-forward", false, "also calibrate the baseline on rolling windows and report out-of-sample results")
	fl.IntVar(&f.trainMonths, "train-months", 6, "walk-forward train window, months")
	fl.IntVar(&f.testMonths, "test-months", 3, "walk-forward test window (and step), months")
	fl.IntVar(&f.minTrades, "min-trades", 3, "walk-forward: least round trips a train run needs for its Sharpe to count")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress bar (same as --progress never)")
	fl.StringVar(&f.progress, "progress", "auto", "progress bar on stderr: auto (only when stderr is a terminal), always or never")
	return cmd
}

// parseWhen reads YYYY-MM-DD or RFC 3339 as UTC.
func parseWhen(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q: want YYYY-MM-DD or RFC 3339", flag, s)
	}
	return t.UTC(), nil
}

func runBacktest(ctx context.Context, a *app, cmd *cobra.Command, f backtestFlags) (err error) {
	cfg, err := loadConfig(f.config)
	if err != nil {
		return usageErr(err)
	}
	a.addSecrets(cfg)
	bc := backtest.Config{Settings: cfg, Timeframe: f.timeframe, CompareBaseline: f.compare}
	if bc.From, err = parseWhen("from", f.from); err != nil {
		return usageErr(err)
	}
	if bc.To, err = parseWhen("to", f.to); err != nil {
		return usageErr(err)
	}
	if f.symbols != "" {
		for _, s := range strings.Split(f.symbols, ",") {
			if s = strings.ToUpper(strings.TrimSpace(s)); s != "" {
				bc.Symbols = append(bc.Symbols, s)
			}
		}
	}
	switch f.every {
	case "candle":
	case "day":
		bc.Every = 24 * time.Hour
	default:
		return usageErr(fmt.Errorf("--every %q: want candle or day", f.every))
	}
	policyPath := cfg.Policy
	if f.policy != "" {
		policyPath = f.policy
	}
	if bc.Policy, err = loadPolicy(policyPath); err != nil {
		return usageErr(err)
	}
	if f.walkForward {
		if f.trainMonths < 1 || f.testMonths < 1 || f.minTrades < 0 {
			return usageErr(errors.New("--train-months and --test-months must be ≥ 1, --min-trades ≥ 0"))
		}
		bc.WalkForward = &backtest.WalkForwardConfig{TrainMonths: f.trainMonths, TestMonths: f.testMonths, MinTrades: max(f.minTrades, 1)}
	}
	switch f.progress {
	case "auto":
		if !f.quiet && isTerminal(a.stderr) {
			bc.Progress = a.stderr
		}
	case "always":
		if !f.quiet {
			bc.Progress = a.stderr
		}
	case "never":
	default:
		return usageErr(fmt.Errorf("--progress %q: want auto, always or never", f.progress))
	}
	// Where the results go is checked before anything runs: a path that
	// cannot take them would otherwise fail only after the whole backtest
	// (and, with a model, after its calls were paid for).
	if err := checkOutputs(f); err != nil {
		return usageErr(err)
	}
	logger, err := newLogger(a, "error")
	if err != nil {
		return err
	}
	bc.Logger = logger

	// stg is discarded after the closers have run (defers run in reverse).
	var stg staging
	defer stg.discard()
	var closers []io.Closer
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			if cerr := closers[i].Close(); cerr != nil && err == nil {
				err = cerr
			}
		}
	}()
	kind := cfg.Advisor.Kind
	if f.advisor != "" {
		kind = f.advisor
	}
	// A flag that would change nothing in this run is refused, not
	// ignored: it says the user expects something that will not happen.
	for _, c := range []struct {
		flag, needs string
		used        bool
	}{
		{"--audit-db", "--audit", f.auditDB != "" && !f.audit},
		{"--replay-from", "--advisor replay", f.replayFrom != "" && kind != "replay"},
		{"--train-months", "--walk-forward", cmd.Flags().Changed("train-months") && !f.walkForward},
		{"--test-months", "--walk-forward", cmd.Flags().Changed("test-months") && !f.walkForward},
		{"--min-trades", "--walk-forward", cmd.Flags().Changed("min-trades") && !f.walkForward},
	} {
		if c.used {
			return usageErr(fmt.Errorf("%s has no effect without %s", c.flag, c.needs))
		}
	}
	cutoff := cfg.Advisor.OpenAI.TrainingCutoff
	if f.cutoff != "" {
		cutoff = f.cutoff
	}
	if cutoff != "" {
		t, err := time.Parse("2006-01-02", cutoff)
		if err != nil {
			return usageErr(fmt.Errorf("training cutoff %q: want YYYY-MM-DD", cutoff))
		}
		bc.TrainingCutoff = &t
	}
	switch kind {
	case "baseline":
	case "openai":
		o := cfg.Advisor.OpenAI
		if o.Model == "" {
			return usageErr(errors.New("the openai advisor needs advisor.openai.model in the config"))
		}
		cachePath := cfg.DB
		if f.cacheDB != "" {
			cachePath = f.cacheDB
		}
		cache, err := audit.Open(ctx, cachePath, audit.Options{Secrets: secretValues(cfg)})
		if err != nil {
			return usageErr(fmt.Errorf("response cache: %w", err))
		}
		closers = append(closers, cache)
		adv, err := openai.New(openai.Config{
			BaseURL: o.BaseURL, Model: o.Model, APIKeyEnv: o.APIKeyEnv, Temperature: o.Temperature,
			MaxTokens: o.MaxTokens, Timeout: o.Timeout, Deadline: cfg.AdviceDeadline(), MaxRetries: o.MaxRetries,
			StructuredOutputs: o.StructuredOutputs, RepairAttempts: o.RepairAttempts, DailyTokenBudget: o.DailyTokenBudget,
		}, openai.Deps{Logger: logger, Budget: cache})
		if err != nil {
			return usageErr(err)
		}
		bc.Advisor, bc.Model, bc.Cache = adv, o.Model, cache
		if bc.Advisor, bc.Prompt, err = backtestAnonymise(cfg, adv); err != nil {
			return usageErr(err)
		}
	case "consensus":
		// Members are built as for warden run; prompts are anonymised
		// unless advisor.anonymise is false.
		cachePath := cfg.DB
		if f.cacheDB != "" {
			cachePath = f.cacheDB
		}
		cache, err := audit.Open(ctx, cachePath, audit.Options{Secrets: secretValues(cfg)})
		if err != nil {
			return usageErr(fmt.Errorf("response cache: %w", err))
		}
		closers = append(closers, cache)
		bcfg := cfg
		on := cfg.Advisor.Anonymise == nil || *cfg.Advisor.Anonymise
		bcfg.Advisor.Anonymise = &on
		adv, err := newAdvisor(ctx, bcfg, cache, logger)
		if err != nil {
			return usageErr(err)
		}
		bc.Advisor, bc.Cache = adv, cache
		if m, ok := adv.(interface{ Model() string }); ok {
			bc.Model = m.Model()
		}
		bc.Prompt = "as rendered (dates and exchange prices) for the members that read it"
		if on {
			bc.Prompt = transform.AnonymisedNote + " for the model members"
		}
	case "replay":
		src, closer, err := replaySource(ctx, f.replayFrom, cfg.Advisor.Replay.File)
		if err != nil {
			return usageErr(err)
		}
		if closer != nil {
			closers = append(closers, closer)
		}
		bc.Advisor, bc.Model = replay.New(src, ""), "replay"
	default:
		return usageErr(fmt.Errorf("--advisor %q: want baseline, openai, consensus or replay", kind))
	}

	// Everything is written into staging files first and moved into place
	// only when the backtest has finished: an interrupted or failed run
	// leaves no partial report, audit database or recording, and changes
	// nothing of an earlier report in the same directory.
	reportStage, err := stg.dir(f.out)
	if err != nil {
		return usageErr(fmt.Errorf("--out: %w", err))
	}
	var st *audit.Store
	var auditPath string
	if f.audit {
		auditPath = f.auditDB
		if auditPath == "" {
			auditPath = filepath.Join(f.out, "audit.db")
		}
		// The agent reads peak equity, safe mode and the kill switch back
		// from the store: a database with other history would change the
		// verdicts, so only a fresh one is used.
		if _, err := os.Stat(auditPath); err == nil {
			return usageErr(fmt.Errorf("--audit: %s exists; a backtest records into a fresh database (remove it or pass --audit-db)", auditPath))
		}
		staged, err := stg.file(auditPath)
		if err != nil {
			return usageErr(fmt.Errorf("--audit: %w", err))
		}
		st, err = audit.Open(ctx, staged, backtest.AuditOptions(secretValues(cfg)))
		if err != nil {
			return usageErr(err)
		}
		closers = append(closers, st)
		bc.Audit = st
	}

	var recErr error
	if f.record != "" {
		staged, err := stg.file(f.record)
		if err != nil {
			return usageErr(fmt.Errorf("--record: %w", err))
		}
		rf, err := os.Create(staged)
		if err != nil {
			return usageErr(fmt.Errorf("--record: %w", err))
		}
		closers = append(closers, rf)
		bc.OnCycle = func(r agent.CycleResult) {
			if len(r.Raw) > 0 && recErr == nil {
				recErr = replay.WriteJSONL(rf, r.RunID, a.red.Bytes(r.Raw))
			}
		}
	}

	res, err := backtest.Run(ctx, bc)
	var ce *backtest.ConfigError
	var ie *backtest.InterruptedError
	switch {
	case errors.As(err, &ie):
		return interruptedErr(ie)
	case ctx.Err() != nil:
		return interruptedErr(&backtest.InterruptedError{Err: ctx.Err()})
	case errors.As(err, &ce):
		return usageErr(err)
	case err != nil:
		return &exitError{Code: exitRejected, Err: err}
	case recErr != nil:
		return &exitError{Code: exitRejected, Err: fmt.Errorf("--record: %w", recErr)}
	case res.Summary.Decisions.Cycles == 0:
		// A report of nothing would read as "the advisor did nothing".
		return usageErr(fmt.Errorf("no decision time between %s and %s at --every %s: widen --from/--to or decide more often; nothing was written",
			res.Summary.Advisor.From.UTC().Format(time.RFC3339), res.Summary.Advisor.To.UTC().Format(time.RFC3339), res.Summary.Run.Every))
	}
	if err := backtest.WriteReport(reportStage, res); err != nil {
		return &exitError{Code: exitRejected, Err: err}
	}
	// Close what was recorded before moving it: SQLite's last commit and
	// the recording's last line.
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i].Close(); err != nil {
			closers = nil
			return &exitError{Code: exitRejected, Err: err}
		}
	}
	closers = nil
	if ctx.Err() != nil {
		return interruptedErr(&backtest.InterruptedError{Stage: "report", Err: ctx.Err()})
	}
	if err := stg.commit(); err != nil {
		return &exitError{Code: exitRejected, Err: fmt.Errorf("backtest: moving the report into place: %w", err)}
	}
	printBacktest(a.stdout, res, f.out, auditPath)
	return nil
}

// exitInterrupted is the exit code of a command stopped by Ctrl-C
// (128 + SIGINT), as a shell reports it.
const exitInterrupted = 130

func interruptedErr(ie *backtest.InterruptedError) error {
	var msg string
	switch {
	case !ie.At.IsZero():
		msg = "interrupted at " + ie.At.UTC().Format("2006-01-02 15:04 MST")
		if ie.Stage != "backtest" {
			msg += " (" + ie.Stage + ")"
		}
	case ie.Stage == "":
		msg = "interrupted"
	case ie.Stage == "backtest":
		msg = "interrupted before the first candle"
	default:
		msg = "interrupted during the " + ie.Stage
	}
	return &exitError{Code: exitInterrupted, Err: errors.New(msg + ", no report written")}
}

// isTerminal reports whether w (or the writer a redacting writer wraps)
// is a terminal.
func isTerminal(w io.Writer) bool {
	for {
		u, ok := w.(interface{ Unwrap() io.Writer })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// staging holds a command's output files until it has finished: each
// final path gets a staging path beside it (in the same directory, so the
// final move is a rename), moved into place by commit and removed by
// discard otherwise.
type staging struct {
	tmpDirs []string
	moves   [][2]string // staged, final
}

// dir stages the files of directory final: the returned directory's
// files replace final's files of the same name on commit (others in final
// are left alone).
func (s *staging) dir(final string) (string, error) {
	abs, err := filepath.Abs(final)
	if err != nil {
		return "", err
	}
	// An existing directory stages inside itself: its parent may not be
	// writable (--out . in a home under a root-owned /home, --out /tmp).
	parent := ""
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		parent = abs
	}
	tmp, err := s.tempDirIn(parent, abs)
	if err != nil {
		return "", err
	}
	for _, name := range backtest.ReportFiles {
		s.moves = append(s.moves, [2]string{filepath.Join(tmp, name), filepath.Join(abs, name)})
	}
	return tmp, nil
}

// file stages one file.
func (s *staging) file(final string) (string, error) {
	abs, err := filepath.Abs(final)
	if err != nil {
		return "", err
	}
	tmp, err := s.tempDir(abs)
	if err != nil {
		return "", err
	}
	staged := filepath.Join(tmp, filepath.Base(abs))
	s.moves = append(s.moves, [2]string{staged, abs})
	return staged, nil
}

// stagePrefix names the staging directories of final path abs; the
// process id follows it, so that a later run can tell the leftovers of a
// process that was killed (kill -9 runs no cleanup) from those of one
// still running.
func stagePrefix(abs string) string { return "." + filepath.Base(abs) + ".partial-" }

// tempDir makes a staging directory for final path abs in the nearest
// directory that already exists above it (nothing is created where the
// results go until commit), after removing the staging directories that
// killed processes left there for the same path.
func (s *staging) tempDir(abs string) (string, error) { return s.tempDirIn("", abs) }

// tempDirIn is tempDir in directory parent ("": the nearest existing
// directory above abs).
func (s *staging) tempDirIn(parent, abs string) (string, error) {
	above, fi := nearestExisting(filepath.Dir(abs))
	for fi != nil && !fi.IsDir() {
		above, fi = nearestExisting(filepath.Dir(above))
	}
	prefix := stagePrefix(abs)
	// A killed process may have staged in either place.
	removeDeadStages(above, prefix)
	if parent == "" {
		parent = above
	} else {
		removeDeadStages(parent, prefix)
	}
	tmp, err := os.MkdirTemp(parent, prefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", err
	}
	s.tmpDirs = append(s.tmpDirs, tmp)
	return tmp, nil
}

// nearestExisting is p, or the nearest path above it that exists, with
// its file info (nil when nothing up to the root exists).
func nearestExisting(p string) (string, os.FileInfo) {
	for {
		if fi, err := os.Stat(p); err == nil {
			return p, fi
		}
		up := filepath.Dir(p)
		if up == p {
			return p, nil
		}
		p = up
	}
}

// removeDeadStages removes the staging directories named prefix+PID-… in
// dir whose process no longer exists.
func removeDeadStages(dir, prefix string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// checkOutputs refuses, before a backtest runs, output paths its results
// could not be moved to: --out naming something that is not a directory,
// --record naming a directory, or a parent of either that is a file.
func checkOutputs(f backtestFlags) error {
	notDir := func(p string) error {
		if d, fi := nearestExisting(p); fi != nil && !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", d)
		}
		return nil
	}
	if err := notDir(f.out); err != nil {
		return fmt.Errorf("--out %s: %w", f.out, err)
	}
	if f.record != "" {
		if fi, err := os.Stat(f.record); err == nil && fi.IsDir() {
			return fmt.Errorf("--record %s is a directory; name the JSONL file to write", f.record)
		}
		if err := notDir(filepath.Dir(f.record)); err != nil {
			return fmt.Errorf("--record %s: %w", f.record, err)
		}
	}
	return nil
}

// commit moves every staged file that exists into place, then removes
// the staging directories.
func (s *staging) commit() error {
	for _, m := range s.moves {
		if _, err := os.Stat(m[0]); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(m[1]), 0o755); err != nil {
			return err
		}
		if err := os.Rename(m[0], m[1]); err != nil {
			return err
		}
	}
	s.moves = nil
	s.discard()
	return nil
}

// discard removes the staging directories and whatever is still in them.
func (s *staging) discard() {
	for _, d := range s.tmpDirs {
		os.RemoveAll(d)
	}
	s.tmpDirs = nil
}

// replaySource opens the recording a replay backtest answers from: a JSONL
// file, or the audit database of an earlier run.
func replaySource(ctx context.Context, flag, cfgFile string) (replay.Source, io.Closer, error) {
	path := flag
	if path == "" {
		path = cfgFile
	}
	if path == "" {
		return nil, nil, errors.New("the replay advisor needs --replay-from (a JSONL recording or an audit database) or advisor.replay.file")
	}
	if strings.HasSuffix(path, ".jsonl") || strings.HasSuffix(path, ".json") {
		fs, err := replay.LoadFile(path)
		if err != nil {
			return nil, nil, err
		}
		return fs, nil, nil
	}
	// An audit database (an earlier backtest's --audit, or a recorded
	// warden.db): each run answers with the response recorded by the run
	// that decided at the same time, read once into memory.
	st, err := audit.Open(ctx, path, audit.Options{ReadOnly: true})
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	src, err := agent.LoadRecordings(ctx, st, time.Time{})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if src.Len() == 0 {
		return nil, nil, fmt.Errorf("%s: no recorded model responses to replay (record them with warden backtest --audit, or warden run)", path)
	}
	return src, nil, nil
}

func printBacktest(w io.Writer, r backtest.Result, dir, auditPath string) {
	s := r.Summary
	fmt.Fprintf(w, "backtest %s on %s %s, %s → %s, %d candles, %d decision times (every %s)\n",
		s.Run.Advisor, strings.Join(s.Run.Symbols, ","), s.Run.Timeframe,
		s.Advisor.From.Format("2006-01-02"), s.Advisor.To.Format("2006-01-02"), s.Run.Candles, s.Decisions.Cycles, s.Run.Every)
	if !s.Evidence.Evidence {
		fmt.Fprintf(w, "\n!! %s\n", s.Evidence.Warning)
	}
	printModelStats(w, s.Model)
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "note: %s\n", warn)
	}
	fmt.Fprintln(w)
	cols, rows := backtest.ComparisonRows(s)
	table := [][]string{append([]string{""}, cols...)}
	for _, r := range rows {
		if !r.Wide {
			table = append(table, append([]string{r.Name}, r.Cells...))
		}
	}
	printTable(w, table)

	fmt.Fprintf(w, "\ndecisions: %d at %d decision times: %s\n", s.Decisions.Total, s.Decisions.Cycles, joinCounts(s.Decisions.ByOutcome, nil))
	if len(s.Decisions.RejectionsByRule) > 0 {
		fmt.Fprintf(w, "rejected by rule: %s\n", joinCounts(s.Decisions.RejectionsByRule, nil))
	}
	for _, g := range []struct {
		name string
		rs   []backtest.ReasonCount
	}{{"skipped", s.Decisions.SkippedByReason}, {"failed", s.Decisions.ErrorsByReason}} {
		if len(g.rs) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s cycles by reason:\n", g.name)
		for i, rc := range g.rs {
			if i == 8 {
				fmt.Fprintf(w, "  … %d more reasons in summary.json\n", len(g.rs)-i)
				break
			}
			fmt.Fprintf(w, "  %6d  %s (%s … %s)\n", rc.Count, rc.Reason, rc.First.Format("2006-01-02"), rc.Last.Format("2006-01-02"))
		}
	}
	b := s.Breakers
	trips := "none"
	if len(b.Trips) > 0 {
		trips = joinCounts(b.Trips, func(k string, n int) string {
			return fmt.Sprintf("%s %d (in %d cycles)", k, n, b.TripCycles[k])
		})
	}
	fmt.Fprintf(w, "breaker trips: %s\n", trips)
	fmt.Fprintf(w, "cycles by level: active %d (%.2f%%), reduce %d (%.2f%%), safe mode %d (%.2f%%)\n",
		b.Levels["active"], b.LevelShare["active"]*100, b.Levels["reduce"], b.LevelShare["reduce"]*100,
		b.Levels["safe_mode"], b.LevelShare["safe_mode"]*100)
	if len(s.Symbols) > 0 {
		fmt.Fprintln(w)
		sym := [][]string{{"symbol", "approved", "rejected", "fills", "round trips", "won", "open", "realised PnL", "fees", "price change"}}
		for _, x := range s.Symbols {
			sym = append(sym, []string{x.Symbol, fmt.Sprint(x.Approved), fmt.Sprint(x.Rejected), fmt.Sprint(x.Fills),
				fmt.Sprint(x.RoundTrips), fmt.Sprint(x.Wins), fmt.Sprint(x.OpenTrips), x.RealisedPnL.StringFixed(2),
				x.Fees.StringFixed(2), fmt.Sprintf("%.2f%%", x.BuyHoldReturn*100)})
		}
		printTable(w, sym)
	}
	if wf := s.WalkForward; wf != nil {
		fmt.Fprintf(w, "\nwalk-forward (%d test windows): out of sample %.2f%% (Sharpe %.2f) vs buy and hold %.2f%%\n",
			len(wf.Windows), wf.OutOfSample.TotalReturn*100, wf.OutOfSample.Sharpe, wf.OutOfSampleBuyHold.TotalReturn*100)
	}
	fmt.Fprintf(w, "\nreport: %s\nsummary: %s\nequity: %s\ntrades: %s (%d round trips)\n",
		filepath.Join(dir, "report.html"), filepath.Join(dir, "summary.json"), filepath.Join(dir, "equity.csv"),
		filepath.Join(dir, "trades.csv"), len(r.Trips))
	if auditPath != "" {
		fmt.Fprintf(w, "audit: %s\n", auditPath)
	}
}

// joinCounts lists counts as "key n, key n", the largest first (ties by
// key), each item formatted by item when given.
func joinCounts(m map[string]int, item func(string, int) string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		if item != nil {
			parts[i] = item(k, m[k])
		} else {
			parts[i] = fmt.Sprintf("%s %d", k, m[k])
		}
	}
	return strings.Join(parts, ", ")
}

// printTable prints rows as columns: the first column left-aligned, the
// others right-aligned, two spaces apart.
func printTable(w io.Writer, rows [][]string) {
	var width []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i == 0 {
				b.WriteString("  " + c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}
