package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/advisor/baseline"
	"github.com/warden-trading/warden/agent/advisor/consensus"
	"github.com/warden-trading/warden/agent/advisor/openai"
	"github.com/warden-trading/warden/agent/advisor/replay"
	"github.com/warden-trading/warden/agent/advisor/transform"
	"github.com/warden-trading/warden/agent/alerts"
	"github.com/warden-trading/warden/agent/approval"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/metrics"
	"github.com/warden-trading/warden/agent/notify"
	"github.com/warden-trading/warden/agent/redact"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/ccxtx"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// loadConfig reads the config file, or returns the built-in defaults when
// path is empty: a fresh clone runs offline with no file at all.
func loadConfig(path string) (config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

// secretValues returns the values of every secret the configuration names,
// so the audit store and the logs can redact them wherever they appear.
func secretValues(cfg config.Config) []string {
	var out []string
	names := []string{
		cfg.Advisor.OpenAI.APIKeyEnv, cfg.Exchange.APIKeyEnv, cfg.Exchange.APISecretEnv,
		cfg.Notify.Slack.WebhookURLEnv, cfg.Notify.Slack.TokenEnv, cfg.Notify.Telegram.TokenEnv,
		cfg.Notify.Email.PasswordEnv,
	}
	for _, m := range cfg.Advisor.Consensus.Members {
		names = append(names, m.OpenAI.APIKeyEnv) // consensus members' own keys
	}
	for _, name := range names {
		if v, ok := config.Env(name); ok {
			out = append(out, v)
		}
	}
	// A webhook URL travels in pieces too: its path (the secret part) in
	// request lines and errors.
	if v, ok := config.Env(cfg.Notify.Slack.WebhookURLEnv); ok {
		if u, err := url.Parse(v); err == nil {
			out = append(out, u.Path, u.EscapedPath(), u.RawQuery)
		}
	}
	return out
}

// checkPolicyTests runs the tests of a configured policy file before
// Warden starts on it: the same bar a hot reload must clear. The tests file
// is policy_tests from the config, or FILE_test.yaml beside the policy when
// it exists. The embedded default policy's tests run in CI. It returns the
// tests run (none: File ""); whether tests are required when there are
// none is for the start to decide with the database (enforcePolicyTests).
func checkPolicyTests(ctx context.Context, cfg config.Config, p *policy.Policy) (testedPolicy, error) {
	if cfg.Policy == "" {
		return testedPolicy{}, nil
	}
	tests := policyTestsFile(cfg.Policy, cfg.PolicyTests)
	if tests == "" {
		return testedPolicy{}, nil
	}
	return runPolicyTests(ctx, cfg.Policy, p, tests)
}

// runtime is everything a running Warden holds; Close releases it.
type runtime struct {
	cfg      config.Config
	logger   *slog.Logger
	store    *audit.Store
	policy   *policy.Policy
	exchange executor.Exchange
	// paper is the paper exchange, saved at every change of its state
	// (paperAccount); nil in live mode.
	paper *paperAccount
	// withdrawAfter: a between-cycles withdrawal of resting buys failed;
	// none is tried again before this time (withdrawIfHalted).
	withdrawAfter time.Time
	replay        *agent.PaperReplay   // nil unless paper over bundled candles
	liveFeed      *agent.LiveFeed      // nil unless paper over live public data
	candles       *agent.StoredCandles // live data: closed candles kept in the store; nil offline
	exec          *executor.Executor
	agent         *agent.Agent
	clock         *simClock
	metrics       *metrics.Metrics
	dispatch      []*notify.Dispatcher
	pub           agent.Publisher   // nil when no channel is configured
	creds         ccxtx.Credentials // live keys; zero in paper mode
	red           *redact.Redactor  // the one redactor: store, notifications, logs
	lock          *os.File          // held for the runtime's life: one trading process per database
	live          bool
	// approvals is human approval's gate (cmd/warden/approvals.go).
	approvals *approval.Gate
	// tg is the Telegram approval bot; nil unless approval.channels has
	// telegram (cmd/warden/approvals.go).
	tg *approvalTelegram
	// cycleMu keeps a cycle and an approval step from overlapping.
	cycleMu sync.Mutex
	// lastReconcile is when the last full reconciliation succeeded.
	lastReconcile time.Time
	// archivedBefore is the retention cut-off archived last (archive.go).
	archivedBefore time.Time
	// output is where a cycle's printout goes (nil: nowhere).
	output io.Writer
}

// simClock is the decision clock: wall time live, the replay's time when
// paper trading over bundled candles.
type simClock struct{ t time.Time }

func (c *simClock) Now() time.Time {
	if c.t.IsZero() {
		return time.Now().UTC()
	}
	return c.t
}

type runtimeOptions struct {
	live   bool // --live was given
	output io.Writer
	logger *slog.Logger
	// red is the process's one redactor (app.red); the runtime adds the
	// configured secrets and the exchange credentials to it. nil: a new one.
	red *redact.Redactor
	// policy is the configured policy as checkStart loaded it and ran its
	// tests; nil: newRuntime loads and tests it itself.
	policy *checkedPolicy
	// lockKind names a brief holder of the database (run --once,
	// approvals --process, approve): it waits for another brief holder,
	// and one that finds it holding waits for it (lockDBAs). "": `warden
	// run`, which keeps the database and waits for no one.
	lockKind string
	// lockNote is where a brief holder that waits for the lock says so
	// (stderr); nil: silently.
	lockNote io.Writer
	// noAdvisor is for a process that never asks the advisor (approve,
	// approvals --process, kill's withdrawal): it builds none, so it needs
	// no model key (an operator's shell rarely has it).
	noAdvisor bool
}

func newRuntime(ctx context.Context, cfg config.Config, o runtimeOptions) (_ *runtime, err error) {
	rt := &runtime{cfg: cfg, logger: o.logger, clock: &simClock{}, red: o.red, output: o.output}
	if rt.red == nil {
		rt.red = redact.New()
	}
	rt.red.Add(secretValues(cfg)...)
	defer func() {
		if err != nil {
			rt.Close()
		}
	}()
	rt.live = ccxtx.LiveAllowed(cfg.Mode, o.live)
	if o.live && !rt.live {
		return nil, errors.New("--live given but the config says mode: " + cfg.Mode + "; live trading needs both mode: live and --live")
	}
	if cfg.Mode == "live" && !o.live {
		rt.logger.Warn("config says mode: live but --live was not given: paper trading")
	}

	// Live keys are loaded before anything is written, so that the audit
	// store redacts them wherever they come from (environment or key file).
	if rt.live {
		src := ccxtx.CredentialSource{APIKeyEnv: cfg.Exchange.APIKeyEnv, SecretEnv: cfg.Exchange.APISecretEnv}
		if cfg.Exchange.CredentialsFile != "" {
			// A key file, when configured, is the one source.
			src = ccxtx.CredentialSource{File: cfg.Exchange.CredentialsFile}
		}
		if rt.creds, err = ccxtx.LoadCredentials(src); err != nil {
			return nil, err
		}
		rt.creds.AddTo(rt.red) // a key file's secrets, unknown until now
	}
	// The policy and its tests are checked before anything is created: a
	// refused start leaves no database and no lock file behind.
	var tested testedPolicy
	if o.policy != nil {
		rt.policy, tested = o.policy.policy, o.policy.tests
	} else {
		if rt.policy, err = loadPolicy(cfg.Policy); err != nil {
			return nil, err
		}
		if tested, err = checkPolicyTests(ctx, cfg, rt.policy); err != nil {
			return nil, err
		}
	}
	// Whatever this start creates (database, its -wal and -shm, the lock
	// file) is removed again if the start fails after all; only by the
	// process that held the lock, never by one that lost the race to it.
	var created createdFiles
	defer func() {
		if err != nil && rt.lock != nil {
			// The store first (SQLite removes its -wal and -shm), then the
			// files, the lock file while the lock is still held.
			if rt.store != nil {
				_ = rt.store.Close()
				rt.store = nil
			}
			created.remove()
			rt.Close()
		}
	}()
	if dir := filepath.Dir(cfg.DB); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("db directory: %w", err)
		}
	}
	created = newFiles(cfg.DB, cfg.DB+"-wal", cfg.DB+"-shm", cfg.DB+".lock")
	if real, rerr := resolveDBPath(cfg.DB); rerr == nil {
		created = append(created, newFiles(real+".lock")...) // where lockDB puts it
	}
	// One trading process per database: the executor's journal and the
	// paper account assume a single writer of orders.
	if rt.lock, err = lockDBAs(ctx, cfg.DB, o.lockKind, o.lockNote); err != nil {
		return nil, err
	}
	// Records whose time the caller does not give (a model response, a
	// run's end, the paper account's saves) carry the decision clock, as
	// every other record of a run does: wall time, or the replay's time
	// when paper trading over bundled candles (a run stamped with two
	// clocks was split by retention's cut, or not archived at all).
	rt.store, err = audit.Open(ctx, cfg.DB, audit.Options{Logger: rt.logger, Redact: rt.red.String, Clock: rt.clock.Now})
	if err != nil {
		return nil, err
	}
	// Policy tests once in force stay required, whichever process starts
	// (run --once from cron is a new process every cycle): before the
	// exchange is reached or anything is decided.
	if err := rt.enforcePolicyTests(ctx, tested); err != nil {
		return nil, err
	}
	validator := policy.NewValidator(rt.policy, cfg.PolicyLimits(!rt.live)) // mode: live without --live trades paper

	if err := rt.openExchange(ctx, o); err != nil {
		return nil, err
	}
	if rt.replay != nil {
		// The offline replay's clock from the start: what this process
		// records before its first cycle (the start's reconciliation, an
		// approval between cycles) is stamped on the replay's time, as
		// the cycles' records are, not on the wall clock.
		if now, err := rt.replay.Current(); err == nil || !now.IsZero() {
			rt.clock.t = now // the cycle's Advance says what is wrong
		}
	}
	var journal executor.Journal = rt.store
	if crashHook != nil {
		journal = crashJournal{rt.store} // tests only
	}
	rt.exec, err = executor.New(rt.exchange, journal, executor.Options{
		Logger: rt.logger, Clock: rt.clock.Now,
		SubmitTimeout: cfg.Executor.SubmitTimeout, MaxOrdersPerMinute: cfg.Executor.MaxOrdersPerMinute,
		OnProtection: func(p executor.ProtectionEvent) { rt.recordProtection(context.WithoutCancel(ctx), p) },
	})
	if err != nil {
		return nil, err
	}
	var adv advisor.Advisor = noAdvisor{}
	if !o.noAdvisor {
		if adv, err = newAdvisor(ctx, cfg, rt.store, rt.logger); err != nil {
			return nil, err
		}
	}
	pub, err := rt.openNotify()
	if err != nil {
		return nil, err
	}
	rt.pub = pub
	if err := rt.openApprovals(); err != nil {
		return nil, err
	}
	var obs agent.Observer
	if cfg.Metrics.Listen != "" {
		rt.metrics = metrics.New()
		rt.metrics.KnownBreakers(agent.BreakerNames()...)
		rt.metrics.KnownOrderErrors(executor.KindNames()...)
		for model, p := range cfg.Advisor.Prices() {
			rt.metrics.SetModelPrice(model, p.InputPerMTok, p.OutputPerMTok)
		}
		obs = rt.metrics
	}
	mode := "paper"
	if rt.live {
		mode = "live"
	}
	rt.agent, err = agent.New(agent.Deps{
		Market: rt.exchange, Candles: rt.candleSource(), Orders: rt.exec, Advisor: adv, Validator: validator,
		Store: rt.store, Publisher: pub, Observer: obs, Clock: rt.clock.Now, Logger: rt.logger,
		Approvals: rt.approvalsHook(),
	}, agent.Options{
		Mode: mode, Symbols: cfg.Symbols, Timeframe: cfg.Timeframe, Lookback: cfg.Candles,
		Breakers:   agent.BreakersFromConfig(cfg.Breakers),
		MaxDataAge: cfg.Breakers.MaxDataAge, Output: o.output,
		Maintenance: cfg.Maintenance,
		Alerts:      alertOptions(cfg, rt.live),
	})
	if err != nil {
		return nil, err
	}
	return rt, nil
}

// alertOptions are the threshold alerts of cfg: the token alert when the
// model has a daily budget, the key alert for a live exchange key with a
// creation date.
func alertOptions(cfg config.Config, live bool) agent.AlertOptions {
	a := cfg.Alerts
	o := agent.AlertOptions{Off: a.Off, Thresholds: alerts.Config{
		DayLossPct: a.DayLossPct, DrawdownPct: a.DrawdownPct, ExposurePct: a.ExposurePct,
		TokenBudgetPct: a.TokenBudgetPct, ModelErrorPct: a.ModelErrorPct, ModelErrorWindow: a.ModelErrorWindow,
	}}
	if cfg.Advisor.Kind == "openai" {
		o.TokenBudget = cfg.Advisor.OpenAI.DailyTokenBudget
	}
	if live && cfg.Exchange.KeyCreated != "" {
		o.KeyCreated, _ = time.Parse("2006-01-02", cfg.Exchange.KeyCreated)
		o.KeyRotationDays = cfg.Exchange.KeyRotationDays
	}
	return o
}

// exchangeBackoff is the pause the exchange asked for, shared by this
// process's adapters and kept in the store (an exchange_backoff event) so
// that the next process, a `run --once` from cron, keeps it too: it sends
// nothing until the pause is over.
func (rt *runtime) exchangeBackoff(ctx context.Context) (*executor.Backoff, error) {
	scope := rt.cfg.Exchange.ID
	if rt.cfg.Exchange.Sandbox {
		scope += " (sandbox)"
	}
	b := executor.NewBackoff(time.Now, func(s executor.BackoffState) {
		s.Exchange = scope
		detail, err := json.Marshal(s)
		if err != nil {
			return
		}
		rt.logger.Warn("the exchange asked for a pause; nothing is sent until it ends", "until", s.Until.UTC().Format(time.RFC3339), "kind", s.Kind, "reason", s.Reason)
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := rt.store.RecordEvent(c, audit.Event{Kind: audit.EventExchangeBackoff, At: time.Now().UTC(), State: s.Kind, Detail: detail}); err != nil {
			rt.logger.Error("audit: record the exchange's pause", "err", err)
		}
	})
	p, ok, err := rt.store.LatestExchangePause(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the exchange's last pause: %w", err)
	}
	if ok {
		if p.Exchange != "" && p.Exchange != scope {
			return b, nil // another exchange's (a testnet's) pause
		}
		s := executor.BackoffState{Until: p.Until, Kind: p.Kind, Reason: p.Reason, Exchange: p.Exchange}
		b.Restore(s)
		if left := time.Until(s.Until); left > 0 {
			rt.logger.Warn("the exchange's pause recorded by an earlier process still holds; nothing is sent until it ends", "until", s.Until.UTC().Format(time.RFC3339), "left", left.Round(time.Second).String(), "kind", s.Kind)
		}
	}
	return b, nil
}

func (rt *runtime) openExchange(ctx context.Context, o runtimeOptions) error {
	cfg := rt.cfg
	backoff, err := rt.exchangeBackoff(ctx)
	if err != nil {
		return err
	}
	if rt.live {
		creds := rt.creds
		var created time.Time
		if cfg.Exchange.KeyCreated != "" {
			created, _ = time.Parse("2006-01-02", cfg.Exchange.KeyCreated)
		}
		ex, err := ccxtx.New(ccxtx.Config{
			Exchange: cfg.Exchange.ID, Credentials: creds, Sandbox: cfg.Exchange.Sandbox, BaseURL: cfg.Exchange.BaseURL,
			AllowWithdrawalKeys: cfg.Exchange.AllowWithdrawalKeys, KeyCreated: created,
			KeyRotation: time.Duration(cfg.Exchange.KeyRotationDays) * 24 * time.Hour,
			Backoff:     backoff,
		}, rt.logger)
		if err != nil {
			return err
		}
		rep, err := ex.CheckKey(ctx, time.Now())
		if err != nil {
			err = fmt.Errorf("refusing to trade live: %w", err)
			if errors.Is(err, ccxtx.ErrWithdrawalsEnabled) || errors.Is(err, ccxtx.ErrCannotTrade) {
				return err // the key itself: exit 2
			}
			// The exchange could not answer: exit 1, the next run may.
			return &exitError{Code: exitFailed, Err: err}
		}
		for _, w := range rep.Warnings {
			rt.logger.Warn("api key", "warning", w)
		}
		rt.exchange = ex
		rt.candles = rt.storedCandles(ex)
		return nil
	}
	pc := paper.DefaultConfig()
	pc.Balances = map[string]decimal.Decimal{"USDT": cfg.Paper.StartCash}
	bps := decimal.NewFromInt(10000)
	pc.MakerFee = cfg.Paper.MakerFeeBps.Div(bps)
	pc.TakerFee = cfg.Paper.TakerFeeBps.Div(bps)
	pc.SlippageBps, _ = cfg.Paper.SlippageBps.Float64()
	pc.SpreadBps, _ = cfg.Paper.SpreadBps.Float64()
	pc.ParticipationRate, _ = cfg.Paper.Participation.Float64()
	pc.Latency = cfg.Paper.Latency
	pc.Logger = rt.logger
	if err := paperKnows(cfg.Symbols); err != nil {
		return fmt.Errorf("paper exchange: %w", err)
	}
	px, err := paper.New(pc)
	if err != nil {
		return err
	}
	acct, err := newPaperAccount(ctx, rt.store, px)
	if err != nil {
		return fmt.Errorf("paper state in %s does not restore (move the file aside to start a fresh paper account): %w", cfg.DB, err)
	}
	rt.paper, rt.exchange = acct, acct
	warmup := warmupCandles(cfg)
	if cfg.Paper.Data == "live" {
		// Public market data from the configured exchange, no keys: the
		// paper account trades on today's market.
		pub, err := ccxtx.New(ccxtx.Config{Exchange: cfg.Exchange.ID, Sandbox: cfg.Exchange.Sandbox, BaseURL: cfg.Exchange.BaseURL, Backoff: backoff}, rt.logger)
		if err != nil {
			return err
		}
		rt.liveFeed, err = agent.NewLiveFeed(rt.storedCandles(pub), acct, cfg.Symbols, cfg.Timeframe, warmup)
		return err
	}
	rt.replay, err = agent.NewPaperReplay(acct, cfg.Symbols, cfg.Timeframe, warmup)
	return err
}

// candleMargin is how many candles beyond the warm-up window the candle
// cache keeps per symbol.
const candleMargin = 24

// warmupCandles is the warm-up window: the candles a cycle reads.
func warmupCandles(cfg config.Config) int {
	return cfg.Candles + cfg.Breakers.Drift.ReferenceBars + cfg.Breakers.Drift.RecentBars + 2
}

// storedCandles keeps src's closed candles in the store between processes
// (agent.StoredCandles), keyed by the configured exchange.
func (rt *runtime) storedCandles(src agent.OHLCVSource) *agent.StoredCandles {
	id := rt.cfg.Exchange.ID
	if id == "" {
		id = "binance"
	}
	if rt.cfg.Exchange.Sandbox {
		id += "-sandbox"
	}
	rt.candles = &agent.StoredCandles{
		Src: src, Store: rt.store, Exchange: id, Keep: warmupCandles(rt.cfg) + candleMargin, Now: rt.clock.Now,
		// Both readers (the agent's snapshots, the paper feed) use closed
		// candles only.
		ClosedOnly: true,
		OnError:    func(err error) { rt.logger.Warn("candle cache", "error", err) },
	}
	return rt.candles
}

// candleSource is the agent's candle source: the stored candles in live
// mode; nil (the market itself) on paper, whose exchange holds the candles
// the feed gave it.
func (rt *runtime) candleSource() agent.OHLCVSource {
	if rt.live && rt.candles != nil {
		return rt.candles
	}
	return nil
}

func newAdvisor(ctx context.Context, cfg config.Config, store *audit.Store, logger *slog.Logger) (advisor.Advisor, error) {
	if cfg.Advisor.Kind == consensus.Name {
		cs := cfg.Advisor.Consensus
		cc := consensus.Config{Samples: cs.Samples, Require: cs.Require, Size: cs.Size}
		for i, m := range cs.Members {
			if m.Kind == consensus.Name {
				return nil, fmt.Errorf("advisor.consensus.members[%d]: a consensus cannot name itself", i)
			}
			mc := cfg
			mc.Advisor = config.Advisor{Kind: m.Kind, OpenAI: cfg.Advisor.MemberOpenAI(m), Replay: m.Replay, Anonymise: cfg.Advisor.Anonymise}
			if m.Kind == "perturbed" {
				// The stability probe: the same model, asked without dates
				// and with prices rescaled by a random factor.
				mc.Advisor.Kind = "openai"
				f := false
				mc.Advisor.Anonymise = &f
			}
			adv, err := newAdvisor(ctx, mc, store, logger)
			if err == nil && m.Kind == "perturbed" {
				adv, err = transform.Wrap(adv, transform.Config{Mode: transform.Perturb})
			}
			if err != nil {
				return nil, fmt.Errorf("advisor.consensus.members[%d] (%s): %w", i, m.MemberName(), err)
			}
			model := ""
			if m.Kind == "openai" || m.Kind == "perturbed" {
				model = mc.Advisor.OpenAI.Model
			}
			cc.Members = append(cc.Members, consensus.Member{Name: m.MemberName(), Advisor: adv, Model: model})
		}
		return consensus.New(cc)
	}
	switch cfg.Advisor.Kind {
	case "baseline":
		return baseline.New(baseline.DefaultParams())
	case "openai":
		o := cfg.Advisor.OpenAI
		adv, err := openai.New(openai.Config{
			BaseURL: o.BaseURL, Model: o.Model, APIKeyEnv: o.APIKeyEnv, Temperature: o.Temperature,
			MaxTokens: o.MaxTokens, Timeout: o.Timeout, Deadline: cfg.AdviceDeadline(), MaxRetries: o.MaxRetries,
			StructuredOutputs: o.StructuredOutputs, RepairAttempts: o.RepairAttempts, DailyTokenBudget: o.DailyTokenBudget,
		}, openai.Deps{Logger: logger, Budget: store})
		if err != nil || !cfg.AnonymiseOn() {
			return adv, err
		}
		// advisor.anonymise (on by default for the offline replay of
		// bundled history): no dates, prices rebased to 100.
		return transform.Wrap(adv, transform.Config{Mode: transform.Anonymise})
	case "replay":
		if f := cfg.Advisor.Replay.File; f != "" {
			src, err := replay.LoadFile(f)
			if err != nil {
				return nil, err
			}
			return replay.New(src, "replay"), nil
		}
		if f := cfg.Advisor.Replay.DB; f != "" {
			rec, err := audit.Open(ctx, f, audit.Options{ReadOnly: true})
			if err != nil {
				return nil, fmt.Errorf("advisor.replay.db: %w", err)
			}
			defer rec.Close()
			src, err := agent.LoadRecordings(ctx, rec, time.Time{})
			if err != nil {
				return nil, err
			}
			return replay.New(src, "replay"), nil
		}
		return nil, errors.New("advisor.replay: set file (JSONL recordings) or db (a recorded warden.db)")
	}
	return nil, fmt.Errorf("advisor %q is not baseline, openai or replay", cfg.Advisor.Kind)
}

// notifySenders builds a sender for each notification channel the config
// and the environment set up. It makes no request: `config check` calls it
// to refuse what a start would refuse (a chat id that is not one, a
// webhook variable that holds no https URL, a sender address that is not
// one), and every problem is returned at once, under its config section.
func notifySenders(cfg config.Config, logger *slog.Logger) ([]notify.Sender, error) {
	var senders []notify.Sender
	var errs []error
	add := func(section string, snd notify.Sender, err error) {
		if err != nil {
			// "notify: telegram: chat id ..." under "notify.telegram: ".
			msg, _ := strings.CutPrefix(err.Error(), "notify: ")
			if _, rest, ok := strings.Cut(msg, ": "); ok {
				msg = rest
			}
			errs = append(errs, fmt.Errorf("%s: %s", section, msg))
			return
		}
		senders = append(senders, snd)
	}
	s := cfg.Notify.Slack
	if hook, ok := config.Env(s.WebhookURLEnv); ok {
		snd, err := notify.NewSlackSender(notify.SlackConfig{WebhookURL: hook, APIURL: s.APIURL})
		add(fmt.Sprintf("notify.slack ($%s)", s.WebhookURLEnv), snd, err)
	} else if tok, ok := config.Env(s.TokenEnv); ok {
		snd, err := notify.NewSlackSender(notify.SlackConfig{Token: tok, Channel: s.Channel, APIURL: s.APIURL})
		add("notify.slack", snd, err)
	}
	t := cfg.Notify.Telegram
	if tok, ok := config.Env(t.TokenEnv); ok {
		snd, err := notify.NewTelegramSender(notify.TelegramConfig{Token: tok, ChatID: t.ChatID, ServerURL: t.ServerURL, Logger: logger})
		add("notify.telegram", snd, err)
	}
	if e := cfg.Notify.Email; e.Host != "" {
		user, _ := config.Env(e.UsernameEnv)
		pass, _ := config.Env(e.PasswordEnv)
		snd, err := notify.NewEmailSender(notify.EmailConfig{Host: e.Host, Port: e.Port, Security: e.Security,
			Username: user, Password: pass, From: e.From, To: e.To})
		add("notify.email", snd, err)
	}
	return senders, errors.Join(errs...)
}

func (rt *runtime) openNotify() (agent.Publisher, error) {
	senders, err := notifySenders(rt.cfg, rt.logger)
	if err != nil {
		return nil, err
	}
	if len(senders) == 0 {
		return nil, nil
	}
	for _, snd := range senders {
		d, err := notify.NewDispatcher(notify.DispatcherConfig{Outbox: rt.store, Sender: snd, Logger: rt.logger})
		if err != nil {
			return nil, err
		}
		rt.dispatch = append(rt.dispatch, d)
	}
	n, err := notify.NewNotifier(notify.NotifierConfig{Outbox: rt.store, Channels: notify.Channels(senders), Logger: rt.logger, Redactor: rt.red, Wake: func() {
		for _, d := range rt.dispatch {
			d.Wake()
		}
	}})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// cycle runs one cycle: it advances the offline replay when there is one,
// resolves orders left open, decides, and saves the paper account.
func (rt *runtime) cycle(ctx context.Context) (agent.CycleResult, error) {
	rt.cycleMu.Lock()
	defer rt.cycleMu.Unlock()
	// A database deleted or replaced under a long-running process: its
	// kill switch is no longer the one operators set. Nothing is done.
	if err := rt.store.CheckFile(); err != nil {
		return agent.CycleResult{}, err
	}
	if rt.replay != nil {
		start, _ := time.Parse(time.RFC3339, rt.cfg.Paper.ReplayStart)
		now, err := rt.replay.Advance(start)
		if err != nil {
			// Recorded as a failed run: a scheduler's failed cycle is
			// never missing from `warden audit runs`.
			return rt.agent.Failed(ctx, "market", err)
		}
		rt.clock.t = now
	}
	// On the cycle's clock (the replay's, once advanced).
	rt.archiveDue(ctx)
	if rt.liveFeed != nil {
		if err := rt.liveFeed.Advance(ctx, rt.clock.Now()); err != nil {
			return rt.agent.Failed(ctx, "market", err)
		}
	}
	rt.reconcile(ctx, false)
	// Pending approvals first: expired proposals end, approved ones are
	// re-checked against this cycle's market and placed or voided; the
	// cycle's printout (the cron log) says which, and an approval that
	// failed fails the cycle's exit status.
	ares := rt.processApprovals(ctx)
	rt.printApprovals(ares)
	res, err := rt.agent.Cycle(ctx)
	rt.printWithheld(ctx, res)
	if len(ares.Errors) > 0 && err == nil {
		err = fmt.Errorf("approvals: %w", errors.Join(ares.Errors...))
	}
	rt.sendProposals(ctx)
	if merr := rt.savePaper(ctx); merr != nil && err == nil {
		err = merr
	}
	rt.publishHead(ctx)
	return res, err
}

// printWithheld ends the cycle's printout (the cron log, the service's
// output) with the approved orders the cycle did not place because the
// kill switch was set while it ran (its order_withheld events), and why:
// the verdicts above still read "approved".
func (rt *runtime) printWithheld(ctx context.Context, res agent.CycleResult) {
	if rt.output == nil || res.RunID == "" || !res.KillSwitch {
		return
	}
	evs, err := rt.store.ListEvents(ctx, audit.EventFilter{Kinds: []string{audit.EventOrderWithheld}, RunID: res.RunID})
	if err != nil {
		fmt.Fprintf(rt.output, "\nwithheld orders not read (%v): warden audit events --kind %s\n", err, audit.EventOrderWithheld)
		return
	}
	if len(evs) == 0 {
		return
	}
	fmt.Fprintln(rt.output, "\nwithheld (approved, not placed):")
	for _, ev := range slices.Backward(evs) { // oldest first, as the verdicts
		var d struct {
			DecisionID string        `json:"decision_id"`
			Order      schemas.Order `json:"order"`
			Reason     string        `json:"reason"`
		}
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			fmt.Fprintf(rt.output, "  %s (event %d): %s\n", ev.Symbol, ev.Seq, ev.Detail)
			continue
		}
		o := d.Order
		fmt.Fprintf(rt.output, "  %s %s %s %s %s @ %s: withheld, %s\n", d.DecisionID, o.Type, o.Side, o.Symbol, o.Quantity, o.Price, d.Reason)
	}
}

// savePaper saves what the paper account holds unsaved (the candles fed
// since its last save; orders are saved as they change): nil without a
// paper account.
func (rt *runtime) savePaper(ctx context.Context) error {
	if rt.paper == nil {
		return nil
	}
	if err := rt.paper.Save(ctx); err != nil {
		return fmt.Errorf("save paper state: %w", err)
	}
	return nil
}

// savePaperOrLog is savePaper where nobody waits on the outcome (between
// cycles, after an approval): a failure is logged, and the next save
// writes the same changes.
func (rt *runtime) savePaperOrLog(ctx context.Context) {
	if err := rt.savePaper(ctx); err != nil {
		rt.logger.Error("save paper state", "err", err)
	}
}

// reconcile compares the exchange with the journal: at start (force) and
// then at most every executor.reconcile_every of wall time; in between a
// cycle only polls its open orders (fills and protection).
func (rt *runtime) reconcile(ctx context.Context, force bool) {
	if force || rt.lastReconcile.IsZero() || time.Since(rt.lastReconcile) >= rt.cfg.Executor.ReconcileEvery {
		rep, err := rt.exec.Reconcile(ctx)
		rt.recordReconcile(ctx, rep, err)
		if err != nil {
			rt.logger.Error("reconcile", "err", err)
			return
		}
		rt.lastReconcile = time.Now()
		rt.logger.Info("reconcile", "report", rep)
		rt.notifyFills(ctx, rep.Events)
		return
	}
	res, err := rt.exec.Poll(ctx)
	if err != nil {
		rt.logger.Error("poll open orders", "err", err)
	}
	rt.notifyFills(ctx, res.Events)
}

// notifyFills notifies the fills a poll or reconciliation found: resting
// orders that filled since, protective stops that triggered. (Only an
// order filled at placement was notified; a stop-loss hitting was not.)
// The outbox's dedup key (order, state, filled quantity) sends each once.
func (rt *runtime) notifyFills(ctx context.Context, evs []schemas.OrderEvent) {
	if rt.pub == nil {
		return
	}
	for _, ev := range evs {
		if ev.State != schemas.OrderFilled && ev.State != schemas.OrderPartiallyFilled {
			continue
		}
		if err := rt.pub.Publish(ctx, notify.Fill{Event: ev}); err != nil {
			rt.logger.Error("notify fill", "client_order_id", ev.ClientOrderID, "err", err)
		}
	}
}

// protectionNeedsOperator are the protection outcomes that leave a
// position unprotected or closed by the executor: recorded as protection
// events and notified. The others (a stop placed, resized, raised,
// released for a sell) are in the order journal.
var protectionNeedsOperator = map[string]bool{executor.ProtClosed: true, executor.ProtExitFailed: true, executor.ProtDust: true}

// recordProtection records a protection outcome that needs an operator (a
// protection event in `warden audit events`) and notifies it, once per
// entry, outcome and quantity across processes: a `run --once` each hour
// meets the same unprotected dust again and must not record it again.
func (rt *runtime) recordProtection(ctx context.Context, p executor.ProtectionEvent) {
	if !protectionNeedsOperator[p.Kind] || rt.store == nil {
		return
	}
	// It runs under the executor's lock: bounded, a busy database must
	// not stall order placement for long.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	key := p.Kind + " " + p.EntryClientOrderID + " " + p.Quantity.String()
	evs, err := rt.store.ListEvents(ctx, audit.EventFilter{Kinds: []string{audit.EventProtection}, Symbol: p.Symbol, Limit: 50})
	if err != nil {
		rt.logger.Error("audit: read protection events", "err", err)
		return
	}
	for _, ev := range evs {
		var seen executor.ProtectionEvent
		if json.Unmarshal(ev.Detail, &seen) == nil && seen.Kind+" "+seen.EntryClientOrderID+" "+seen.Quantity.String() == key {
			return
		}
	}
	detail, err := json.Marshal(p)
	if err != nil {
		return
	}
	if err := rt.store.RecordEvent(ctx, audit.Event{Kind: audit.EventProtection, At: p.At, Symbol: p.Symbol, State: p.Kind, Detail: detail}); err != nil {
		rt.logger.Error("audit: record a protection event", "kind", p.Kind, "err", err)
	}
	if rt.pub != nil {
		text := fmt.Sprintf("%s %s: %s %s (decision %s, entry %s)", p.Kind, p.Symbol, p.Quantity, p.Reason, p.DecisionID, p.EntryClientOrderID)
		if err := rt.pub.Publish(ctx, notify.Error{Component: "protection", Err: text, Key: "protection:" + key, At: p.At}); err != nil {
			rt.logger.Error("notify a protection event", "err", err)
		}
	}
}

// recordReconcile records a reconciliation that found something (foreign
// orders, contradictions, balance differences, orders still unknown) or
// failed, as a reconcile event for `warden audit events`. A clean one is
// only logged: it happens every few minutes.
func (rt *runtime) recordReconcile(ctx context.Context, rep executor.Report, err error) {
	state := "findings"
	if err != nil {
		state = "failed"
	} else if len(rep.Foreign) == 0 && len(rep.Mismatches) == 0 && len(rep.BalanceDiffs) == 0 && len(rep.Unknown) == 0 {
		return
	}
	detail := map[string]any{"foreign": rep.Foreign, "mismatches": rep.Mismatches, "balance_diffs": rep.BalanceDiffs, "unknown": rep.Unknown}
	if err != nil {
		detail["error"] = err.Error()
	}
	body, merr := json.Marshal(detail)
	if merr != nil {
		body = []byte(`{}`)
	}
	if rerr := rt.store.RecordEvent(ctx, audit.Event{Kind: audit.EventReconcile, State: state, Detail: body}); rerr != nil {
		rt.logger.Error("audit: record reconciliation", "err", rerr)
	}
}

// flushNotifications makes one delivery pass on every channel, bounded,
// so a single `run --once` delivers what it produced when it can. The
// channels are flushed side by side, as the service's dispatchers run: a
// channel that hangs (up to its 20 s) delays none of the others.
func (rt *runtime) flushNotifications(ctx context.Context) {
	var wg sync.WaitGroup
	for _, d := range rt.dispatch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := d.Flush(fctx); err != nil {
				rt.logger.Warn("notifications left in the outbox for a later run", "channel", d.Channel(), "err", err)
			}
		}()
	}
	wg.Wait()
}

func (rt *runtime) Close() {
	if rt.exec != nil {
		// An order sent without a reply in time may still be answered:
		// its reply is journaled before the store closes, or the next
		// process (cron's next --once) would know only that it is unknown.
		ctx, cancel := context.WithTimeout(context.Background(), rt.exec.LateReplyWait())
		if err := rt.exec.Wait(ctx); err != nil {
			rt.logger.Warn("closing with an order still waiting for the exchange's reply; the next run resolves it", "err", err)
		}
		cancel()
	}
	if rt.store != nil {
		_ = rt.store.Close()
	}
	if rt.lock != nil {
		_ = rt.lock.Close() // releases the flock
	}
}

// newFiles remembers which of paths do not exist yet, so that a failed
// start can remove exactly what it created and nothing that was there.
func newFiles(paths ...string) createdFiles {
	var c createdFiles
	for _, p := range paths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			c = append(c, p)
		}
	}
	return c
}

type createdFiles []string

// remove deletes the files that did not exist when newFiles looked.
func (c createdFiles) remove() {
	for _, p := range c {
		_ = os.Remove(p)
	}
}

// lockDB takes an exclusive, non-blocking lock on DB.lock, so that a second
// `warden run` on the same database refuses to start instead of placing
// orders beside the first. The lock goes with the process, even on kill -9.
// It is keyed on the database file, not on how its path is spelt: the lock
// file sits next to the path with every symlink resolved, so a symlinked
// path or directory reaches the same lock.
// lockOpened, when set (tests only), runs between opening the lock file
// and locking it: the window in which a failed start may unlink it.
var lockOpened func(path string)

// lockWait is how long a process waits for a database held by a brief
// holder (run --once, approvals --process, approve, audit archive) before
// giving up: cron starts the hourly run --once and the minute's approvals
// --process together, and either holds the lock for seconds (a slow
// notification server, tens of them). A `warden run` that keeps the
// database is never waited for.
const lockWait = 2 * time.Minute

// lockDBAs is lockDB for a holder of kind ("" for `warden run`, which
// keeps the lock and waits for no one; else a brief one, named in the
// lock file, which waits up to lockWait while another brief holder has
// the database).
// A process that waits says so in one line on note (its stderr: cron's
// mail, the journal), naming the holder, so that a late cycle is
// explained; nil: silently.
func lockDBAs(ctx context.Context, db, kind string, note io.Writer) (*os.File, error) {
	wait := time.Duration(0)
	if kind != "" {
		wait = lockWait
	}
	deadline := time.Now().Add(wait)
	said := false
	for {
		f, err := lockDBKind(db, kind)
		if err == nil {
			return f, nil
		}
		if !isLockHeld(err) || !heldBriefly(db) {
			return nil, err
		}
		if time.Now().After(deadline) {
			if said {
				return nil, fmt.Errorf("%w (waited %s for %s)", err, wait, lockHolder(db))
			}
			return nil, err
		}
		if !said && note != nil {
			fmt.Fprintf(note, "warden: waiting up to %s for %s, which holds %s, to finish\n", wait, lockHolder(db), db)
			said = true
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// lockHolder names the holder of db's lock from its lock file: "pid N
// (run --once)".
func lockHolder(db string) string {
	real, err := resolveDBPath(db)
	if err != nil {
		return "another process"
	}
	b, err := os.ReadFile(real + ".lock")
	pid, kind, ok := strings.Cut(strings.TrimSpace(string(b)), " brief: ")
	if err != nil || !ok || !strings.HasPrefix(pid, "pid ") {
		return "another process (just starting)"
	}
	return fmt.Sprintf("%s (%s)", pid, kind)
}

// heldBriefly reports whether the lock file says its holder is a brief
// one (see lockDBAs).
func heldBriefly(db string) bool {
	real, err := resolveDBPath(db)
	if err != nil {
		return false
	}
	b, err := os.ReadFile(real + ".lock")
	// A holder that has just taken the lock may not have written its line
	// yet: waiting a moment for it is safe.
	return err == nil && (strings.Contains(string(b), " brief: ") || len(bytes.TrimSpace(b)) == 0)
}

func lockDB(db string) (*os.File, error) { return lockDBKind(db, "") }

// lockDBKind is lockDB for a holder of kind (see lockDBAs), which it
// writes into the lock file once it holds it, for a process that finds
// the database held.
func lockDBKind(db, kind string) (*os.File, error) {
	real, err := resolveDBPath(db)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", db, err)
	}
	// A failed start removes the lock file it created while still holding
	// it, so a process that opened the old file just before may lock a
	// file no longer at the path: after locking, the path must still name
	// the very file locked, else open the new one and try again.
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(real+".lock", os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", db, err)
		}
		if lockOpened != nil {
			lockOpened(real + ".lock")
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("another warden run is using %s (lock %s.lock held); stop it first", db, real)
			}
			return nil, fmt.Errorf("lock %s: %w", db, err)
		}
		held, herr := f.Stat()
		onPath, perr := os.Stat(real + ".lock")
		if herr == nil && perr == nil && os.SameFile(held, onPath) {
			holder := "warden run"
			if kind != "" {
				holder = "brief: " + kind
			}
			// Written over the previous holder's line, then cut to
			// length: never empty for a process reading it meanwhile.
			line := []byte(fmt.Sprintf("pid %d %s\n", os.Getpid(), holder))
			if _, err := f.WriteAt(line, 0); err == nil {
				f.Truncate(int64(len(line)))
			}
			return f, nil
		}
		f.Close()
		if attempt >= 10 {
			return nil, fmt.Errorf("lock %s: the lock file %s.lock keeps being replaced; is another warden starting?", db, real)
		}
	}
}

// resolveDBPath is the database's path with symlinks resolved: the file's
// own when it exists, else its directory's (the file is created there).
func resolveDBPath(db string) (string, error) {
	abs, err := filepath.Abs(db)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err == nil {
		return real, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if _, lerr := os.Lstat(abs); lerr == nil {
		// a dangling symlink: SQLite would create its target
		return "", fmt.Errorf("%s is a symlink to a file that does not exist", db)
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}

// noAdvisor is the advisor of a runtime that decides nothing (approve,
// approvals --process, kill): asked, it refuses.
type noAdvisor struct{}

func (noAdvisor) Name() string { return "none" }

func (noAdvisor) Advise(context.Context, advisor.Request) (advisor.Reply, error) {
	return advisor.Reply{}, errors.New("this process asks no advisor")
}
