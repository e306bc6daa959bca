package backtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/advisor/baseline"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// Config is one backtest.
type Config struct {
	// From and To bound the bars: those opening in [From, To). Zero From
	// means the start of the data (after the warm-up), zero To its end.
	From, To time.Time
	// Symbols and Timeframe default to Settings'.
	Symbols   []string
	Timeframe string
	// Every is the decision cadence: 0 decides at every candle close,
	// 24h at every UTC midnight (closes on multiples of Every since the
	// Unix epoch).
	Every time.Duration
	// Settings is Warden's configuration: paper fees, slippage, spread,
	// participation and latency; start cash; snapshot lookback; breakers;
	// executor limits; the hard limits. The zero value means
	// config.Default().
	Settings config.Config
	// Advisor is the advisor under test; nil means the baseline with
	// BaselineParams. LLM advisors should come wrapped in advisor.Cached
	// so a rerun costs nothing.
	Advisor advisor.Advisor
	// Model names the advisor's model, for the report and the cache key.
	Model string
	// Cache, when set, answers a model advisor (any but baseline and
	// replay) from cached responses keyed by a hash of model and prompt,
	// and stores new ones (advisor.Cached over the audit store's LLM
	// cache): a rerun of the same backtest makes no model call.
	Cache advisor.Cache
	// TrainingCutoff is the model's training cutoff, for the evidence
	// banner; nil when unknown.
	TrainingCutoff *time.Time
	// Prompt says how the model advisor saw the data ("anonymised: ..."
	// or "as rendered: ..."), for the banner and Summary.Model; empty for
	// the rules baseline ("not read").
	Prompt string
	// BaselineParams configure the baseline (the advisor when Advisor is
	// nil, and the comparison); zero means baseline.DefaultParams().
	BaselineParams baseline.Params
	// CompareBaseline also runs the baseline through the same pipeline
	// when the advisor under test is another one.
	CompareBaseline bool
	// Policy is the CEL policy; nil means the embedded default.
	Policy *policy.Policy
	// Audit, when set, receives every run's audit records (the advisor
	// under test only; comparison and walk-forward runs are never
	// audited). Use a fresh database: the agent reads peak equity, safe
	// mode and the kill switch back from it.
	Audit *audit.Store
	// Candles replace the bundled candles (per symbol, oldest first).
	Candles map[string][]executor.Candle
	// WalkForward, when set, adds a walk-forward calibration of the
	// baseline over [From, To).
	WalkForward *WalkForwardConfig
	// Grid is the walk-forward's parameter grid; nil means DefaultGrid().
	Grid []baseline.Params
	// Progress receives a progress bar (carriage-return updates); nil for
	// none.
	Progress io.Writer
	// Logger receives the pipeline's logs; nil discards.
	Logger *slog.Logger
	// Wall is the wall clock for the progress bar; time.Now when nil.
	Wall func() time.Time
	// OnCycle, when set, is called after every cycle of the advisor under
	// test, in order.
	OnCycle func(agent.CycleResult)
}

// AuditOptions are the options of an audited backtest's store (Config.Audit,
// `warden backtest --audit`): a fresh staged file written in bulk, nothing
// fsynced, records committed 2048 writes at a time in the background.
// Batches of 2048 rather than 256 cut the commits (and the index pages each
// one writes again to the WAL) by eight: 7-10 % off a 45k-decision run
// (interleaved runs of BenchmarkBacktest/every_candle/audit_on -backtest.long,
// 15.7-17.8 cpu-s against 17.3-18.4 on a loaded host); a batch holds about
// 700 decisions, 20 MB of queued records more than 256 did.
func AuditOptions(secrets []string) audit.Options {
	return audit.Options{Secrets: secrets, BatchSize: 2048, Scratch: true, Bulk: true}
}

// Run backtests cfg: it steps a simulated clock through the candles,
// feeding each closed candle to a fresh paper exchange and, at decision
// times, running agent.Cycle — the same cycle as `warden run` — with the
// simulated clock; then it measures the result against buy-and-hold (and
// the baseline) and, when asked, runs the walk-forward.
func Run(ctx context.Context, cfg Config) (Result, error) {
	c, err := cfg.normalise()
	if err == nil {
		err = c.checkWalkForward()
	}
	if err != nil {
		return Result{}, &ConfigError{Err: err}
	}
	adv := c.Advisor
	if adv == nil {
		if adv, err = baseline.New(c.BaselineParams); err != nil {
			return Result{}, &ConfigError{Err: err}
		}
	}
	kind := adv.Name()
	model := c.Model
	if model == "" && kind == "baseline" {
		model = baseline.Model
	}
	if c.Cache != nil && kind != "baseline" && kind != "replay" {
		if model == "" {
			return Result{}, &ConfigError{Err: fmt.Errorf("backtest: the %s advisor needs its model name for the response cache", kind)}
		}
		ca := advisor.Cached(adv, c.Cache, model)
		ca.Logger = c.Logger
		adv = ca
	}
	main, err := runOnce(ctx, c, "backtest", adv, c.From, c.To, c.Audit, newProgressFor(c, "backtest"), c.OnCycle)
	if err != nil {
		return Result{}, err
	}
	res, err := c.result(main, kind, model)
	if err != nil {
		return Result{}, err
	}
	if c.CompareBaseline && kind != "baseline" {
		b, err := baseline.New(c.BaselineParams)
		if err != nil {
			return Result{}, err
		}
		bo, err := runOnce(ctx, c, "baseline", b, c.From, c.To, nil, newProgressFor(c, "baseline"), nil)
		if err != nil {
			return Result{}, interrupted(ctx, "baseline", time.Time{}, fmt.Errorf("backtest: baseline comparison: %w", err))
		}
		bm, err := Analyze(Input{Curve: bo.curve, Fills: bo.fills, PeriodsPerYear: c.ppy, DustNotional: c.dust})
		if err != nil {
			return Result{}, fmt.Errorf("backtest: baseline comparison: %w", err)
		}
		res.Summary.Baseline, res.Baseline = &bm, bo.curve
	}
	if c.WalkForward != nil {
		wf, err := c.walkForward(ctx)
		if err != nil {
			return Result{}, interrupted(ctx, "walk-forward", time.Time{}, err)
		}
		res.Summary.WalkForward = wf
	}
	return res, nil
}

// ConfigError is a backtest that cannot start: bad settings, or no data
// for what was asked. The CLI reports it as unusable input.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// normalised is a Config with every default filled in.
type normalised struct {
	Config
	step    time.Duration
	ppy     float64
	warmup  int
	candles map[string][]executor.Candle
	dust    decimal.Decimal
	policy  *policy.Policy
	markets map[string]executor.Market
	notes   []string
}

func (cfg Config) normalise() (*normalised, error) {
	c := &normalised{Config: cfg}
	if c.Settings.Mode == "" {
		c.Settings = config.Default()
	}
	if len(c.Symbols) == 0 {
		c.Symbols = append([]string(nil), c.Settings.Symbols...)
	}
	if c.Timeframe == "" {
		c.Timeframe = c.Settings.Timeframe
	}
	var err error
	if c.step, err = market.Step(c.Timeframe); err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	c.ppy = market.PeriodsPerYear(c.step)
	if c.Every < 0 || (c.Every > 0 && c.Every%c.step != 0) {
		return nil, fmt.Errorf("backtest: decision cadence %s is not a multiple of the %s candle", c.Every, c.Timeframe)
	}
	if !c.Settings.Paper.StartCash.IsPositive() {
		return nil, errors.New("backtest: start cash must be positive")
	}
	if c.BaselineParams == (baseline.Params{}) {
		c.BaselineParams = baseline.DefaultParams()
	}
	if err := c.BaselineParams.Validate(); err != nil {
		return nil, fmt.Errorf("backtest: baseline parameters: %w", err)
	}
	if c.policy = c.Policy; c.policy == nil {
		if c.policy, err = policy.Default(); err != nil {
			return nil, fmt.Errorf("backtest: default policy: %w", err)
		}
	}
	all := paper.DefaultMarkets()
	c.markets = map[string]executor.Market{}
	seen := map[string]bool{}
	for _, s := range c.Symbols {
		if seen[s] {
			return nil, fmt.Errorf("backtest: symbol %s listed twice", s)
		}
		seen[s] = true
		m, ok := all[s]
		if !ok {
			return nil, fmt.Errorf("backtest: the paper exchange has no market %s (it knows BTC/USDT and ETH/USDT)", s)
		}
		c.markets[s] = m
		if m.MinNotional.GreaterThan(c.dust) {
			c.dust = m.MinNotional
		}
	}
	b := c.Settings.Breakers
	c.warmup = max(c.Settings.Candles, b.Drift.ReferenceBars+b.Drift.RecentBars+1) + 2
	c.candles = c.Candles
	if c.candles == nil {
		c.candles = map[string][]executor.Candle{}
		for _, s := range c.Symbols {
			cs, err := market.Bundled(s, c.Timeframe)
			if err != nil {
				return nil, fmt.Errorf("backtest: %w", err)
			}
			c.candles[s] = cs
		}
	}
	if c.To.IsZero() {
		for _, s := range c.Symbols {
			if cs := c.candles[s]; len(cs) > 0 {
				if end := cs[len(cs)-1].Time.Add(c.step); end.After(c.To) {
					c.To = end
				}
			}
		}
		if !c.From.IsZero() && !c.To.After(c.From) {
			return nil, fmt.Errorf("backtest: from %s is after the candles end (%s)", c.From.UTC().Format(time.RFC3339), c.To.UTC().Format(time.RFC3339))
		}
	}
	if c.Wall == nil {
		c.Wall = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}

func newProgressFor(c *normalised, label string) func(total int) *progress {
	return func(total int) *progress { return newProgress(c.Progress, label, total, c.Wall) }
}

// runOut is what one pass through the candles produced.
type runOut struct {
	curve, bh []Point
	fills     []executor.Trade
	decisions []Decision
	cycles    int
	breakers  BreakerStats
	model     ModelStats
	note      string
	from, to  time.Time
	// closes are each symbol's closes at the marks.
	closes map[string][]float64
	// prepared is how many symbol cycles took market work prepared ahead.
	prepared int
}

// InterruptedError is a backtest stopped by its context (Ctrl-C, a
// signal) before it finished; nothing of it should be reported.
type InterruptedError struct {
	// Stage is what was running: "backtest", "baseline" or
	// "walk-forward".
	Stage string
	// At is the simulated time it stopped at: the close of the candle
	// being stepped through; zero when it had not started.
	At  time.Time
	Err error
}

func (e *InterruptedError) Error() string {
	if e.At.IsZero() {
		return fmt.Sprintf("backtest: interrupted during the %s: %v", e.Stage, e.Err)
	}
	return fmt.Sprintf("backtest: interrupted during the %s at %s: %v", e.Stage, e.At.UTC().Format(time.RFC3339), e.Err)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// interrupted wraps err as an InterruptedError when ctx is done.
func interrupted(ctx context.Context, stage string, at time.Time, err error) error {
	var ie *InterruptedError
	if ctx.Err() == nil || errors.As(err, &ie) {
		return err
	}
	return &InterruptedError{Stage: stage, At: at, Err: ctx.Err()}
}

// runOnce backtests adv over the bars opening in [from, to) with a fresh
// paper account.
func runOnce(ctx context.Context, c *normalised, stage string, adv advisor.Advisor, from, to time.Time, store *audit.Store, mkProgress func(int) *progress, onCycle func(agent.CycleResult)) (_ runOut, err error) {
	out := runOut{breakers: newBreakerStats()}
	// reached is the simulated clock: the close of the candle being
	// stepped through; any error once ctx is done is an interruption at
	// that point.
	var reached time.Time
	defer func() {
		if err != nil {
			err = interrupted(ctx, stage, reached, err)
		}
	}()
	tp, note, err := newTape(c.candles, c.Symbols, c.step, from, to, c.warmup)
	if err != nil {
		return out, &ConfigError{Err: err}
	}
	out.note = note
	quote := c.markets[c.Symbols[0]].Quote
	pc := paper.DefaultConfig()
	pc.Markets = c.markets
	pc.Balances = map[string]decimal.Decimal{quote: c.Settings.Paper.StartCash}
	bps := decimal.NewFromInt(10000)
	p := c.Settings.Paper
	pc.MakerFee, pc.TakerFee = p.MakerFeeBps.Div(bps), p.TakerFeeBps.Div(bps)
	pc.SlippageBps = p.SlippageBps.InexactFloat64()
	pc.SpreadBps = p.SpreadBps.InexactFloat64()
	pc.ParticipationRate = p.Participation.InexactFloat64()
	pc.Latency = p.Latency
	pc.MaxCandles = c.warmup + 64
	pc.Logger = c.Logger
	px, err := paper.New(pc)
	if err != nil {
		return out, fmt.Errorf("backtest: %w", err)
	}
	for si, s := range c.Symbols {
		for _, cd := range tp.warm[si] {
			if err := px.OnCandle(s, cd); err != nil {
				return out, fmt.Errorf("backtest: warm-up: %w", err)
			}
		}
	}

	// The simulated clock: the close of the bar being decided. It is read
	// by the executor's submit goroutine, hence atomic.
	var nowNS atomic.Int64
	nowNS.Store(tp.opens[0].UnixNano())
	clock := func() time.Time { return time.Unix(0, nowNS.Load()).UTC() }

	var st agent.Store
	var journal executor.Journal
	if store != nil {
		// Records the agent does not time itself (a model response, the
		// end of a run, the start of safe mode) carry the simulated time
		// too: an audited backtest's records all lie in the simulated
		// period, so `audit list --since` and `audit archive --before`
		// keep a decision's records together.
		defer store.UseClock(clock)()
		t := newAuditTee(store, clock)
		st, journal = t, t
	} else {
		m := newMemStore()
		st, journal = m, m
	}
	exe, err := executor.New(px, journal, executor.Options{
		Logger: c.Logger, Clock: clock,
		SubmitTimeout:      c.Settings.Executor.SubmitTimeout,
		MaxOrdersPerMinute: c.Settings.Executor.MaxOrdersPerMinute,
	})
	if err != nil {
		return out, fmt.Errorf("backtest: %w", err)
	}
	b := c.Settings.Breakers
	ag, err := agent.New(agent.Deps{
		Market: newMarketView(px, tp, c.Timeframe, clock), Orders: exe, Advisor: adv,
		Validator: policy.NewValidator(c.policy, c.Settings.PolicyLimits(true)),
		Store:     st, Clock: clock, Logger: c.Logger,
	}, agent.Options{
		Mode: "backtest", Symbols: c.Symbols, Timeframe: c.Timeframe, Lookback: c.Settings.Candles,
		Breakers: agent.BreakersFromConfig(b), MaxDataAge: b.MaxDataAge,
		RunIDPrefix: "bt", DeterministicRunIDs: true,
	})
	if err != nil {
		return out, fmt.Errorf("backtest: %w", err)
	}
	if prepareAhead {
		q := startAhead(ctx, ag.NewPreparer(), tp, c.Every)
		defer q.close()
		ag.UsePrepared(q.get)
	}

	n := len(tp.opens)
	out.curve = make([]Point, 0, n)
	bar := mkProgress(n)
	mk := newMarker(px, tp, quote)
	startCash := c.Settings.Paper.StartCash.InexactFloat64()
	var lastReconcile time.Time
	for i := range n {
		if err := ctx.Err(); err != nil {
			return out, &InterruptedError{Stage: stage, At: reached, Err: err}
		}
		for si, s := range c.Symbols {
			if tp.has[i][si] {
				if err := px.OnCandle(s, tp.bars[i][si]); err != nil {
					return out, fmt.Errorf("backtest: %w", err)
				}
			}
		}
		at := tp.closeTime(i)
		nowNS.Store(at.UnixNano())
		reached = at
		if isDecision(at, c.Every) {
			// Fills and protection are brought up to date before every
			// decision (Poll); the full reconciliation (balances, foreign
			// orders) runs at the first decision and then once a simulated
			// day, as the live loop's periodic one would.
			if lastReconcile.IsZero() || at.Sub(lastReconcile) >= 24*time.Hour {
				if _, err := exe.Reconcile(ctx); err != nil {
					c.Logger.Warn("backtest: reconcile", "at", at, "err", err)
				}
				lastReconcile = at
			} else if _, err := exe.Poll(ctx); err != nil {
				c.Logger.Warn("backtest: poll", "at", at, "err", err)
			}
			res, err := ag.Cycle(ctx)
			if err != nil {
				return out, fmt.Errorf("backtest: cycle at %s: %w", at.Format(time.RFC3339), err)
			}
			out.cycles++
			out.breakers.add(res)
			out.model.add(res)
			out.decisions = append(out.decisions, decisionsOf(res)...)
			if onCycle != nil {
				onCycle(res)
			}
		}
		pt, err := mk.mark(ctx, i)
		if err != nil {
			return out, err
		}
		if i == 0 {
			pt.Equity = startCash // before the first decision's costs
		}
		out.curve = append(out.curve, pt)
		bar.update(i+1, out.cycles, at)
	}
	bar.finish()
	if store != nil {
		// Every queued record committed (or its error reported) before
		// the run counts as done.
		if err := store.Flush(ctx); err != nil {
			return out, fmt.Errorf("backtest: audit records: %w", err)
		}
	}
	// Orders still open at the end are left as they are: the curve marks
	// what is held; nothing is forced.
	for _, s := range c.Symbols {
		ts, err := px.MyTrades(ctx, s, time.Time{})
		if err != nil {
			return out, fmt.Errorf("backtest: trades: %w", err)
		}
		out.fills = append(out.fills, ts...)
	}
	sort.SliceStable(out.fills, func(i, j int) bool { return out.fills[i].Time.Before(out.fills[j].Time) })
	marks := make([]time.Time, n)
	for i := range marks {
		marks[i] = tp.closeTime(i)
	}
	pc2 := Costs{FeeBps: p.TakerFeeBps, SlippageBps: p.SlippageBps, SpreadBps: p.SpreadBps}
	if out.bh, err = BuyAndHold(marks, tp.closes, c.Settings.Paper.StartCash, pc2); err != nil {
		return out, err
	}
	out.from, out.to = tp.opens[0], tp.closeTime(n-1)
	out.closes = map[string][]float64{}
	for si, s := range c.Symbols {
		out.closes[s] = tp.closes[si]
	}
	out.prepared = ag.PreparedTaken()
	return out, nil
}

// marker values the account at each bar's close: the quote balance plus
// every base balance at its symbol's last close. Balances are decimal on
// the exchange; their float values are converted only when they change.
type marker struct {
	px     *paper.Exchange
	tp     *tape
	assets []string // quote, then each symbol's base
	last   []executor.Balance
	val    []float64
}

func newMarker(px *paper.Exchange, tp *tape, quote string) *marker {
	m := &marker{px: px, tp: tp, assets: []string{quote}}
	for _, s := range tp.symbols {
		base, _, _ := splitSymbol(s)
		m.assets = append(m.assets, base)
	}
	m.last = make([]executor.Balance, len(m.assets))
	m.val = make([]float64, len(m.assets))
	return m
}

func (m *marker) mark(ctx context.Context, i int) (Point, error) {
	bals, err := m.px.Balances(ctx)
	if err != nil {
		return Point{}, fmt.Errorf("backtest: balances: %w", err)
	}
	for k, a := range m.assets {
		b := bals[a]
		if !b.Free.Equal(m.last[k].Free) || !b.Locked.Equal(m.last[k].Locked) {
			m.last[k], m.val[k] = b, b.Total().InexactFloat64()
		}
	}
	pt := Point{Time: m.tp.closeTime(i)}
	for si := range m.tp.symbols {
		if v := m.val[si+1]; v > 0 {
			pt.Invested += v * m.tp.closes[si][i]
		}
	}
	pt.Equity = m.val[0] + pt.Invested
	return pt, nil
}

// decisionsOf turns a cycle into the decisions the analytics count.
func decisionsOf(res agent.CycleResult) []Decision {
	switch {
	case res.Status == "skipped":
		return []Decision{{Time: res.At, Outcome: OutcomeSkipped, Reason: res.Reason}}
	case len(res.SchemaError) > 0:
		d := Decision{Time: res.At, Outcome: string(schemas.DecisionRejected)}
		for _, v := range res.SchemaError {
			d.Rules = append(d.Rules, v.Rule)
		}
		return []Decision{d}
	case res.Status != "ok":
		return []Decision{{Time: res.At, Outcome: OutcomeError, Reason: res.Reason}}
	}
	ds := DecisionsFromVerdicts(res.At, res.Verdicts)
	failed := map[string]string{}
	for _, e := range res.OrderErrors {
		if id, msg, ok := cutDecisionID(e); ok {
			failed[id] = msg
		}
	}
	for i := range ds {
		if i < len(res.DecisionIDs) {
			if msg, ok := failed[res.DecisionIDs[i]]; ok {
				ds[i].OrderError = msg
			}
		}
	}
	return ds
}

// cutDecisionID splits an agent order error "<decision id>: <message>";
// decision ids hold a colon themselves ("<run id>:<index>").
func cutDecisionID(s string) (id, msg string, ok bool) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == ':' && s[i+1] == ' ' {
			return s[:i], s[i+2:], true
		}
	}
	return "", "", false
}

// result assembles the summary of the advisor's run.
func (c *normalised) result(o runOut, kind, model string) (Result, error) {
	m, err := Analyze(Input{Curve: o.curve, Fills: o.fills, PeriodsPerYear: c.ppy, DustNotional: c.dust})
	if err != nil {
		return Result{}, err
	}
	bh, err := Analyze(Input{Curve: o.bh, PeriodsPerYear: c.ppy})
	if err != nil {
		return Result{}, err
	}
	months, err := MonthlyWindows(o.curve, o.bh, 0)
	if err != nil {
		return Result{}, err
	}
	trips, err := RoundTrips(o.fills, c.dust)
	if err != nil {
		return Result{}, err
	}
	bySymbol, err := BySymbol(c.Symbols, o.fills, trips, o.decisions, o.closes)
	if err != nil {
		return Result{}, err
	}
	every := "candle"
	if c.Every > 0 {
		every = c.Every.String()
		if c.Every == 24*time.Hour {
			every = "day"
		}
	}
	p := c.Settings.Paper
	s := Summary{
		Schema: SummarySchema,
		Run: RunInfo{
			From: o.from, To: o.to, Symbols: c.Symbols, Timeframe: c.Timeframe, Advisor: kind, Model: model,
			Every: every, StartCash: p.StartCash, FeeBps: p.TakerFeeBps, SlippageBps: p.SlippageBps, SpreadBps: p.SpreadBps,
			Candles: len(o.curve), PolicyHash: c.policy.Hash(), Audit: c.Audit != nil,
		},
		Evidence:  CheckEvidence(kind, model, c.TrainingCutoff, o.from, o.to),
		Advisor:   m,
		BuyHold:   bh,
		Decisions: CountDecisions(o.cycles, o.decisions),
		Symbols:   bySymbol,
		Breakers:  o.breakers,
		Regimes:   ByRegime(months, c.ppy),
		Months:    months,
		Warnings:  []string{},
	}
	if o.note != "" {
		s.Warnings = append(s.Warnings, o.note)
	}
	prompt := c.Prompt
	if prompt == "" {
		prompt = "not read (rules advisor)"
		if kind != "baseline" {
			prompt = "as rendered (dates and exchange prices)"
		}
	}
	s.Model = o.model
	s.Model.finish(prompt)
	if n := s.Decisions.ByOutcome[OutcomeSkipped]; n > 0 && n*2 > s.Decisions.Cycles {
		s.Warnings = append(s.Warnings, fmt.Sprintf("%d of %d cycles were skipped (bad snapshots or breakers): the result says little about the advisor", n, s.Decisions.Cycles))
	}
	return Result{Summary: s, Curve: o.curve, BuyHold: o.bh, Fills: o.fills, Trips: trips, Decisions: o.decisions}, nil
}
