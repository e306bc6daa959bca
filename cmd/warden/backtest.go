package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor/openai"
	"github.com/warden-trading/warden/agent/advisor/replay"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/backtest"
)

// backtestFlags are the flags of `warden backtest`.
type backtestFlags struct {
	from, to, symbols, timeframe, advisor, policy, config    string
	every, out, auditDB, cacheDB, replayFrom, cutoff, record string
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
turnover, fees and rejections by rule, against buy-and-hold and (for a model)
the baseline advisor, per market regime.

With --walk-forward it also calibrates the baseline's parameters on rolling
train windows and reports the out-of-sample test windows per regime.

A model advisor (openai) answers from the response cache when it has seen the
same prompt before (--cache, the config's database by default), so a rerun
costs nothing. A backtest of a model over data from before its training cutoff
(advisor.openai.training_cutoff or --training-cutoff) is flagged as NOT
EVIDENCE: models memorise historical prices.

With no flags at all it runs offline: the baseline advisor over the whole
bundled BTC/USDT and ETH/USDT 1h history with a decision at every candle.`,
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
	fl.StringVar(&f.advisor, "advisor", "", "baseline, openai or replay (default: the config's advisor.kind)")
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
	fl.BoolVar(&f.quiet, "quiet", false, "no progress bar")
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
	if !f.quiet {
		bc.Progress = a.stderr
	}
	logger, err := newLogger(a, "error")
	if err != nil {
		return err
	}
	bc.Logger = logger

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
		return usageErr(fmt.Errorf("--advisor %q: want baseline, openai or replay", kind))
	}

	if f.audit {
		path := f.auditDB
		if path == "" {
			path = filepath.Join(f.out, "audit.db")
		}
		// The agent reads peak equity, safe mode and the kill switch back
		// from the store: a database with other history would change the
		// verdicts, so only a fresh one is used.
		if _, err := os.Stat(path); err == nil {
			return usageErr(fmt.Errorf("--audit: %s exists; a backtest records into a fresh database (remove it or pass --audit-db)", path))
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return usageErr(err)
		}
		st, err := audit.Open(ctx, path, audit.Options{Secrets: secretValues(cfg), BatchSize: 256, Scratch: true})
		if err != nil {
			return usageErr(err)
		}
		closers = append(closers, st)
		bc.Audit = st
	}

	var recErr error
	if f.record != "" {
		rf, err := os.Create(f.record)
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
	if errors.As(err, &ce) {
		return usageErr(err)
	}
	if err != nil {
		return &exitError{Code: exitRejected, Err: err}
	}
	if recErr != nil {
		return &exitError{Code: exitRejected, Err: fmt.Errorf("--record: %w", recErr)}
	}
	if err := backtest.WriteReport(f.out, res); err != nil {
		return &exitError{Code: exitRejected, Err: err}
	}
	printBacktest(a.stdout, res, f.out, bc.Audit)
	return nil
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
	st, err := audit.Open(ctx, path, audit.Options{ReadOnly: true})
	if err != nil {
		return nil, nil, err
	}
	var v any = st
	src, ok := v.(replay.Source)
	if !ok {
		st.Close()
		return nil, nil, fmt.Errorf("%s: this build's audit store cannot serve recorded responses; export a JSONL recording instead", path)
	}
	return src, st, nil
}

func printBacktest(w io.Writer, r backtest.Result, dir string, st *audit.Store) {
	s := r.Summary
	fmt.Fprintf(w, "backtest %s on %s %s, %s → %s, %d candles, %d decision times (every %s)\n",
		s.Run.Advisor, strings.Join(s.Run.Symbols, ","), s.Run.Timeframe,
		s.Advisor.From.Format("2006-01-02"), s.Advisor.To.Format("2006-01-02"), s.Run.Candles, s.Decisions.Cycles, s.Run.Every)
	if !s.Evidence.Evidence {
		fmt.Fprintf(w, "\n!! %s\n", s.Evidence.Warning)
	}
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "note: %s\n", warn)
	}
	row := func(name string, m backtest.Metrics) {
		fmt.Fprintf(w, "  %-14s return %8.2f%%  CAGR %7.2f%%  Sharpe %5.2f  Sortino %5.2f  max DD %6.2f%%  exposure %5.1f%%  trips %d (win %.0f%%)  fees %s\n",
			name, m.TotalReturn*100, m.CAGR*100, m.Sharpe, m.Sortino, m.MaxDrawdown*100, m.Exposure*100, m.RoundTrips, m.WinRate*100, m.FeesPaid.StringFixed(2))
	}
	fmt.Fprintln(w)
	row(s.Run.Advisor, s.Advisor)
	row("buy and hold", s.BuyHold)
	if s.Baseline != nil {
		row("baseline", *s.Baseline)
	}
	fmt.Fprintf(w, "\ndecisions: %v", s.Decisions.ByOutcome)
	if len(s.Decisions.RejectionsByRule) > 0 {
		fmt.Fprintf(w, "; rejected by rule: %v", s.Decisions.RejectionsByRule)
	}
	fmt.Fprintln(w)
	if wf := s.WalkForward; wf != nil {
		fmt.Fprintf(w, "walk-forward (%d test windows): out of sample %.2f%% (Sharpe %.2f) vs buy and hold %.2f%%\n",
			len(wf.Windows), wf.OutOfSample.TotalReturn*100, wf.OutOfSample.Sharpe, wf.OutOfSampleBuyHold.TotalReturn*100)
	}
	fmt.Fprintf(w, "\nreport: %s\nsummary: %s\n", filepath.Join(dir, "report.html"), filepath.Join(dir, "summary.json"))
	if st != nil {
		fmt.Fprintf(w, "audit: %s\n", st.Path())
	}
}
