// Package agent owns one analysis run end to end — market snapshots,
// prompt, advisor, validation, execution, audit and notifications — and
// the scheduler and circuit breakers around it.
//
// The agent never imports ccxt: it talks to exchanges through the small
// interfaces declared here, which the paper exchange and the ccxt adapter
// satisfy.
package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/maintenance"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/agent/notify"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/prompts"
	"github.com/warden-trading/warden/schemas"
	"github.com/warden-trading/warden/schemas/jsonw"
)

// MarketData is what a cycle reads from the exchange.
type MarketData interface {
	Markets(ctx context.Context) (map[string]executor.Market, error)
	Ticker(ctx context.Context, symbol string) (executor.Ticker, error)
	OHLCV(ctx context.Context, symbol, timeframe string, since time.Time, limit int) ([]executor.Candle, error)
	Balances(ctx context.Context) (map[string]executor.Balance, error)
	OpenOrders(ctx context.Context, symbol string) ([]executor.OrderReport, error)
	MyTrades(ctx context.Context, symbol string, since time.Time) ([]executor.Trade, error)
}

// Orders places approved orders exactly once (executor.Executor).
type Orders interface {
	Place(ctx context.Context, decisionID string, o schemas.Order) (schemas.OrderEvent, error)
}

// Store is the audit store (agent/audit). Nil in a Deps means audit off,
// which only backtests use.
type Store interface {
	BeginRun(ctx context.Context, r audit.Run) error
	EndRun(ctx context.Context, runID, status string, summary any) error
	RecordLLMCall(ctx context.Context, c audit.LLMCall) error
	RecordResponse(ctx context.Context, runID string, raw []byte, parsed *schemas.Response, schemaErrors []schemas.Violation) error
	RecordVerdicts(ctx context.Context, runID, policyHash string, state schemas.State, verdicts []schemas.Verdict) ([]string, error)
	RecordEvent(ctx context.Context, e audit.Event) error
	KillSwitch(ctx context.Context) (bool, error)
	// The breakers' state: every process reads and writes it here, so a
	// breaker holds across `run --once` processes and restarts.
	Level(ctx context.Context, now time.Time) (audit.LevelState, error)
	RaiseLevel(ctx context.Context, t audit.LevelTrip) (audit.LevelState, error)
	CountError(ctx context.Context, at time.Time, runID, component, msg string) (int, error)
	ResetErrors(ctx context.Context, at time.Time, runID string) error
	OrdersSince(ctx context.Context, t time.Time) (int, error)
	PeakEquity(ctx context.Context) (decimal.Decimal, bool, error)
	EquityAt(ctx context.Context, t time.Time) (decimal.Decimal, bool, error)
	RecordEquity(ctx context.Context, at time.Time, equity decimal.Decimal) error
}

// Publisher sends operator notifications (agent/notify.Notifier). It only
// enqueues; it never blocks on the network.
type Publisher interface {
	Publish(ctx context.Context, e notify.Event) error
}

// Observer receives metrics (agent/metrics.Metrics).
type Observer interface {
	ObserveDecision(v schemas.Verdict)
	ObserveLLMCall(latency time.Duration, tokens int, err error)
	SetAccount(equity, dayPnLPct, exposure, drawdownPct decimal.Decimal)
	SetBreakers(killSwitch, safeMode bool)
	OrderError(kind string)
}

// BreakerObserver is an Observer that also shows each circuit breaker's
// state (agent/metrics.Metrics).
type BreakerObserver interface {
	BreakerTripped(name string, until time.Time)
	BreakersAt(now time.Time, active bool)
}

// Deps are the parts a cycle is made of.
type Deps struct {
	Market MarketData
	// Candles, when set, serves the candles instead of Market (a
	// StoredCandles over it: closed candles kept in the store between
	// processes); nil: Market.OHLCV.
	Candles   OHLCVSource
	Orders    Orders // nil: verdicts only, nothing is placed
	Advisor   advisor.Advisor
	Validator *policy.Validator
	Store     Store     // nil: no audit records (backtests only)
	Publisher Publisher // nil: no notifications
	Observer  Observer  // nil: no metrics
	// Approvals holds approved orders for a person (agent/approval.Gate);
	// nil: every approved order is placed at once.
	Approvals Approvals
	Clock     func() time.Time
	Logger    *slog.Logger
}

// Options configure the cycle.
type Options struct {
	Mode      string   // "paper" or "live"
	Symbols   []string // all with the same quote currency
	Timeframe string
	Lookback  int // closed candles per snapshot (default 200)
	// Breakers are the circuit breakers' thresholds and the level each
	// raises (DefaultBreakers when zero).
	Breakers BreakerConfig
	// MaxDataAge is how old the last closed candle may be.
	MaxDataAge time.Duration
	// Maintenance are the configured maintenance windows: while one is
	// open the state's in_maintenance is true (no new orders).
	Maintenance maintenance.Windows
	// Alerts configure the threshold alerts (warnings before a limit).
	Alerts AlertOptions
	// RunIDPrefix prefixes run ids ("r" by default; backtests use "bt").
	RunIDPrefix string
	// DeterministicRunIDs derives run ids from the clock alone (backtests,
	// where the simulated clock never repeats); otherwise a random suffix
	// is added.
	DeterministicRunIDs bool
	// Output, when set, receives a human summary of each cycle: the
	// rationale, the verdicts and any order.
	Output io.Writer
}

// Agent runs analysis cycles. It is not safe for concurrent cycles; the
// scheduler never overlaps them.
type Agent struct {
	d     Deps
	o     Options
	step  time.Duration
	quote string
	// validator is the validator in force; SetValidator swaps it between
	// cycles (policy hot reload). Each cycle uses one validator throughout.
	validator atomic.Pointer[policy.Validator]
	// drift carries each symbol's drift-breaker window between cycles.
	drift map[string]*driftWindow
	// prepared, when set, serves market work done ahead (UsePrepared).
	prepared      func(sym string, now time.Time) *Prepared
	preparedTaken int
	verified      map[string]*verifiedPair // per symbol, see preparedFor
	// entries carries each symbol's recent buys, for positions' average
	// entry price.
	entries map[string]*entryBook
	// candles are the recent candles per symbol, fetched incrementally.
	candles candleCache
	// cfgJSON is the configuration summary recorded with every run.
	cfgJSON json.RawMessage
	// sysJSON is the last system prompt an offline call recorded, and its
	// JSON encoding (offlineRequest).
	sysJSON struct {
		text string
		enc  []byte
	}
}

// SetValidator replaces the validator from the next cycle on. A cycle in
// progress keeps the one it started with.
func (a *Agent) SetValidator(v *policy.Validator) {
	if v != nil {
		a.validator.Store(v)
	}
}

// Validator returns the validator in force.
func (a *Agent) Validator() *policy.Validator { return a.validator.Load() }

// CycleResult is what one cycle did.
type CycleResult struct {
	RunID      string    `json:"run_id"`
	At         time.Time `json:"at"`
	Status     string    `json:"status"` // ok, skipped, advisor_error, failed
	Reason     string    `json:"reason,omitempty"`
	KillSwitch bool      `json:"kill_switch"`
	SafeMode   bool      `json:"safe_mode"`
	// Level is the breakers' level the cycle decided under (active,
	// reduce, safe_mode), LevelUntil when it ends (zero: until resumed),
	// RiskScale the policy's system.risk_scale.
	Level      string          `json:"level"`
	LevelSince time.Time       `json:"level_since,omitzero"`
	LevelUntil time.Time       `json:"level_until,omitzero"`
	RiskScale  decimal.Decimal `json:"risk_scale"`
	Trips      []Trip          `json:"trips,omitempty"`
	Rationale  string          `json:"rationale,omitempty"`
	Raw        []byte          `json:"-"`
	// Response is Raw parsed, when it passed the schema (nil otherwise).
	Response    *schemas.Response    `json:"-"`
	PolicyHash  string               `json:"policy_hash"`
	SchemaError []schemas.Violation  `json:"schema_errors,omitempty"`
	Warnings    []schemas.Violation  `json:"warnings,omitempty"` // run-level, e.g. universe_missing
	Verdicts    []schemas.Verdict    `json:"verdicts,omitempty"`
	DecisionIDs []string             `json:"decision_ids,omitempty"`
	Orders      []schemas.OrderEvent `json:"orders,omitempty"`
	Held        []string             `json:"held,omitempty"` // approved orders waiting for a person (agent/approval), not placed
	// Withdrawn are resting buys this cycle cancelled because the kill
	// switch or safe mode holds.
	Withdrawn   []schemas.OrderEvent `json:"withdrawn,omitempty"`
	OrderErrors []string             `json:"order_errors,omitempty"`
	Equity      decimal.Decimal      `json:"equity"`
	// ExchangeRequests is how many exchange calls the cycle sent (when
	// the market data source counts them: the ccxt adapter).
	ExchangeRequests int64 `json:"exchange_requests,omitempty"`

	// equityRead: Equity is the account's, read by this cycle (a cycle
	// skipped or failed before it knows nothing of the account).
	equityRead bool
}

// equity is the account's equity as the cycle read it; nil when it read
// none (its run_end record says null, never a false 0).
func (r CycleResult) equity() *decimal.Decimal {
	if !r.equityRead {
		return nil
	}
	e := r.Equity
	return &e
}

// New checks the dependencies and options.
func New(d Deps, o Options) (*Agent, error) {
	if d.Market == nil || d.Advisor == nil || d.Validator == nil {
		return nil, errors.New("agent: market data, advisor and validator are required")
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Mode != "paper" && o.Mode != "live" && o.Mode != "backtest" {
		return nil, fmt.Errorf("agent: mode %q is not paper, live or backtest", o.Mode)
	}
	step, err := market.Step(o.Timeframe)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if len(o.Symbols) == 0 {
		return nil, errors.New("agent: no symbols")
	}
	quote := ""
	for _, s := range o.Symbols {
		_, q, ok := strings.Cut(s, "/")
		if !ok {
			return nil, fmt.Errorf("agent: symbol %q is not BASE/QUOTE", s)
		}
		if quote != "" && q != quote {
			return nil, fmt.Errorf("agent: symbols must share one quote currency (%s and %s)", quote, q)
		}
		quote = q
	}
	if o.Lookback <= 0 {
		o.Lookback = market.DefaultLookback
	}
	if o.Breakers.ShockSigma == 0 && o.Breakers.DriftPSI == 0 && o.Breakers.DriftReference == 0 && o.Breakers.MaxConsecutiveErrors == 0 {
		o.Breakers = DefaultBreakers()
	}
	if o.Breakers.MaxConsecutiveErrors <= 0 {
		o.Breakers.MaxConsecutiveErrors = DefaultBreakers().MaxConsecutiveErrors
	}
	if o.Breakers.ReduceScale.IsZero() {
		o.Breakers.ReduceScale = DefaultBreakers().ReduceScale
	}
	if !o.Breakers.ReduceScale.IsPositive() || o.Breakers.ReduceScale.GreaterThan(decimal.NewFromInt(1)) {
		return nil, fmt.Errorf("agent: breakers' reduce scale %s is outside (0, 1]", o.Breakers.ReduceScale)
	}
	for name, r := range o.Breakers.Rules {
		if r.Level != "" && r.Level != audit.LevelReduce && r.Level != audit.LevelSafeMode {
			return nil, fmt.Errorf("agent: breaker %s: level %q is not reduce or safe_mode", name, r.Level)
		}
	}
	if o.RunIDPrefix == "" {
		o.RunIDPrefix = "r"
	}
	a := &Agent{d: d, o: o, step: step, quote: quote, drift: map[string]*driftWindow{}, entries: map[string]*entryBook{}, verified: map[string]*verifiedPair{}}
	a.cfgJSON, _ = json.Marshal(map[string]any{"symbols": o.Symbols, "timeframe": o.Timeframe, "lookback": o.Lookback})
	a.validator.Store(d.Validator)
	return a, nil
}

func (a *Agent) runID(now time.Time) string {
	id := a.o.RunIDPrefix + "-" + now.UTC().Format("20060102T150405Z")
	if a.o.DeterministicRunIDs {
		return id
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return id + "-" + hex.EncodeToString(b[:])
}

// StatusSchemaError is the status of a run whose response reached the
// validator and failed the schema there (an advisor that does not check
// its own answers, a recording made under an older schema): no
// recommendation of it was judged. Like every status but "ok" it is a
// failed run (audit.RunOutcome).
const StatusSchemaError = "schema_error"

// Cycle runs one analysis cycle. It returns an error only when the cycle
// could not be carried out or recorded; a skipped run, an advisor failure
// and rejected recommendations are results, not errors. Whatever happens,
// nothing is placed that the validator did not approve.
func (a *Agent) Cycle(ctx context.Context) (CycleResult, error) {
	now := a.d.Clock().UTC()
	val := a.validator.Load()
	res := CycleResult{RunID: a.runID(now), At: now, PolicyHash: val.Policy().Hash()}
	if err := a.begin(ctx, res.RunID, now, val); err != nil {
		return res, err
	}
	reqs := a.requestsSent()
	err := a.cycle(ctx, &res, val)
	// A breaker the cycle tripped (a failed advisor, a schema error: the
	// error spike) halts buying now, not at the next cycle an hour on.
	a.withdrawBuys(ctx, &res)
	a.countRequests(&res, reqs)
	if err != nil && res.Status == "" {
		res.Status, res.Reason = "failed", err.Error()
	}
	if res.Status == "" {
		res.Status = "ok"
	}
	if a.d.Store != nil {
		var summary any
		if a.keepsRecords() {
			summary = runSummary(res)
		}
		if endErr := a.d.Store.EndRun(ctx, res.RunID, res.Status, summary); endErr != nil && err == nil {
			err = fmt.Errorf("audit: end run: %w", endErr)
		}
	}
	a.print(res)
	return res, err
}

// Failed records a cycle that failed before it could decide anything (the
// market feed could not be advanced, ...): a run with status "failed" and
// the reason, counted towards the error-spike breaker and announced like
// any failed cycle, so that a scheduler's failed cycle is never missing
// from the audit log. The error is cause unless the record itself failed.
func (a *Agent) Failed(ctx context.Context, component string, cause error) (CycleResult, error) {
	now := a.d.Clock().UTC()
	val := a.validator.Load()
	res := CycleResult{RunID: a.runID(now), At: now, PolicyHash: val.Policy().Hash(), Status: "failed", Reason: component + ": " + cause.Error()}
	if err := a.begin(ctx, res.RunID, now, val); err != nil {
		return res, errors.Join(cause, err)
	}
	if a.d.Store != nil {
		// The switches, as every cycle reads them; an error here changes
		// nothing (nothing is placed), the run is failed already.
		res.KillSwitch, _ = a.d.Store.KillSwitch(ctx)
		lv, _ := a.d.Store.Level(ctx, now)
		a.setLevel(&res, lv)
	}
	a.errorSeen(ctx, &res, component, cause)
	a.withdrawBuys(ctx, &res)
	if a.d.Store != nil {
		if err := a.d.Store.EndRun(ctx, res.RunID, res.Status, runSummary(res)); err != nil {
			return res, errors.Join(cause, fmt.Errorf("audit: end run: %w", err))
		}
	}
	a.print(res)
	return res, cause
}

func (a *Agent) begin(ctx context.Context, runID string, now time.Time, val *policy.Validator) error {
	if a.d.Store == nil {
		return nil
	}
	sysHash, userHash, err := prompts.TemplateHashes()
	if err != nil {
		return fmt.Errorf("prompts: %w", err)
	}
	model := ""
	if m, ok := a.d.Advisor.(interface{ Model() string }); ok {
		model = m.Model()
	}
	if err := a.d.Store.BeginRun(ctx, audit.Run{
		ID: runID, StartedAt: now, Mode: a.o.Mode, Advisor: a.d.Advisor.Name(), Model: model,
		PolicyHash:   val.Policy().Hash(),
		PromptHashes: map[string]string{"system": sysHash, "user": userHash},
		Config:       a.cfgJSON,
	}); err != nil {
		return fmt.Errorf("audit: begin run: %w", err)
	}
	return nil
}

func (a *Agent) cycle(ctx context.Context, res *CycleResult, val *policy.Validator) error {
	now := res.At
	// The switches and the breakers' level are read from the store at
	// every cycle, so a kill switch or a resume by another process (warden
	// kill, warden resume) and a level raised by an earlier process are
	// honoured.
	a.setLevel(res, audit.LevelState{Level: audit.LevelActive})
	if err := a.readSwitches(ctx, now, res); err != nil {
		return err
	}
	a.withdrawBuys(ctx, res)

	snaps, candles, err := a.snapshots(ctx, now)
	if err != nil {
		res.Status, res.Reason = "skipped", err.Error()
		a.event(ctx, audit.Event{Kind: "snapshot_rejected", RunID: res.RunID, At: now, State: "skipped", Detail: jsonDetail(map[string]string{"error": err.Error()})})
		a.errorSeen(ctx, res, "market", err)
		return nil
	}
	for _, sym := range a.o.Symbols {
		if p := candles[sym].prepared; p != nil {
			res.Trips = append(res.Trips, p.trips...)
			continue
		}
		res.Trips = append(res.Trips, marketTrips(sym, candles[sym].closed, a.step, a.o.Breakers, driftFor(a.drift, sym))...)
	}
	if len(res.Trips) > 0 {
		a.trip(ctx, res, res.Trips)
		a.withdrawBuys(ctx, res) // a trip may have raised safe mode
	}

	st, err := a.state(ctx, now, snaps, res)
	if err != nil {
		res.Status, res.Reason = "skipped", err.Error()
		a.errorSeen(ctx, res, "exchange", err)
		return nil
	}
	if a.d.Observer != nil {
		a.d.Observer.SetBreakers(st.KillSwitch, st.SafeMode)
		if bo, ok := a.d.Observer.(BreakerObserver); ok {
			bo.BreakersAt(now, audit.HigherLevel(res.Level, audit.LevelActive) == audit.LevelActive)
		}
	}
	a.checkAlerts(ctx, now, st, val.Policy(), res)
	a.trailStops(ctx, snaps, val.Policy())

	// The prompt is rendered whenever it is read: by a model, or by the
	// audit log. Only a rules advisor with no audit record to keep (a
	// backtest with records off) skips it.
	var rendered prompts.Rendered
	if a.keepsRecords() || usesPrompt(a.d.Advisor) {
		rendered, err = prompts.Render(prompts.Data{
			Now: now, Mode: st.Mode, SafeMode: st.SafeMode, RiskScale: res.RiskScale, Account: st.Account,
			Markets: st.Markets, Snapshots: snaps, Policy: val.Policy().Describe(),
			Exchange: st.Exchange(), InMaintenance: st.InMaintenance, Trailing: trailingWords(val.Policy()),
		})
		if err != nil {
			return fmt.Errorf("prompts: %w", err)
		}
	}
	reply, advErr := a.d.Advisor.Advise(ctx, advisor.Request{RunID: res.RunID, Now: now, Prompt: rendered, Snapshots: snaps, State: st})
	if err := a.recordCalls(ctx, res.RunID, rendered, reply, advErr); err != nil {
		return err
	}
	if len(reply.Calls) > 0 {
		// The invalid-output breaker: a trip applies to this decision too.
		a.checkInvalidOutput(ctx, res)
		st.SafeMode, st.RiskScale = res.SafeMode, res.RiskScale
	}
	if advErr != nil {
		res.Status, res.Reason = "advisor_error", advErr.Error()
		if a.d.Store != nil {
			if err := a.d.Store.RecordResponse(ctx, res.RunID, reply.Raw, nil, []schemas.Violation{{Rule: "advisor", Source: "advisor", Message: advErr.Error()}}); err != nil {
				return fmt.Errorf("audit: record response: %w", err)
			}
		}
		if a.d.Observer != nil && len(reply.Calls) == 0 {
			// A failure before any call (budget spent, no recording): the
			// calls that were made are already observed by recordCalls.
			a.d.Observer.ObserveLLMCall(0, 0, advErr)
		}
		a.errorSeen(ctx, res, "advisor", advErr)
		return nil
	}
	res.Raw = reply.Raw

	out := val.ValidateRaw(reply.Raw, st)
	res.SchemaError, res.Verdicts = out.SchemaErrors, out.Verdicts
	if out.Response != nil {
		res.Response = out.Response
		res.Rationale = out.Response.Rationale
		a.observeNoConsensus(*out.Response)
		// The prompt asks for one recommendation per configured symbol: a
		// symbol left out is recorded on the run (see runSummary).
		res.Warnings = policy.UniverseWarnings(*out.Response, a.o.Symbols)
	}
	if a.d.Store != nil {
		if err := a.d.Store.RecordResponse(ctx, res.RunID, reply.Raw, out.Response, out.SchemaErrors); err != nil {
			return fmt.Errorf("audit: record response: %w", err)
		}
		ids, err := a.d.Store.RecordVerdicts(ctx, res.RunID, out.PolicyHash, st, out.Verdicts)
		if err != nil {
			// Without the verdict on record nothing may be placed.
			return fmt.Errorf("audit: record verdicts: %w", err)
		}
		res.DecisionIDs = ids
	} else {
		for _, v := range out.Verdicts {
			res.DecisionIDs = append(res.DecisionIDs, audit.DecisionID(res.RunID, v.Index))
		}
	}
	if len(out.SchemaErrors) > 0 {
		// No recommendation of it is judged (the contract: a response
		// that fails the schema is refused whole): the run says so, and
		// counts as failed, rather than ending ok with no decision.
		res.Status, res.Reason = StatusSchemaError, "the response is not valid against the schema: "+violationsText(out.SchemaErrors)
		a.errorSeen(ctx, res, "schema", errors.New(violationsText(out.SchemaErrors)))
		return nil
	}
	if a.d.Store != nil {
		// A good answer ends a run of failures, for every process.
		if err := a.d.Store.ResetErrors(ctx, now, res.RunID); err != nil {
			return fmt.Errorf("audit: reset error count: %w", err)
		}
	}

	for i, v := range out.Verdicts {
		if a.d.Observer != nil {
			a.d.Observer.ObserveDecision(v)
		}
		a.publish(ctx, notify.Decision{ID: res.DecisionIDs[i], RunID: res.RunID, Verdict: v, Rationale: res.Rationale})
		if v.Decision != schemas.DecisionApproved || v.Order == nil || a.d.Orders == nil {
			continue
		}
		if held, err := a.hold(ctx, res, out.Response, out.PolicyHash, st, v, i); err != nil || held {
			continue
		}
		if a.killedSince(ctx, res, res.DecisionIDs[i], *v.Order) {
			continue
		}
		ev, err := a.d.Orders.Place(ctx, res.DecisionIDs[i], *v.Order)
		if err != nil {
			res.OrderErrors = append(res.OrderErrors, fmt.Sprintf("%s: %v", res.DecisionIDs[i], err))
			if a.d.Observer != nil {
				a.d.Observer.OrderError(executor.KindOf(err).String())
			}
			a.publish(ctx, notify.Error{Component: "executor", Err: err.Error(), Key: res.DecisionIDs[i], RunID: res.RunID, At: now})
		}
		if ev.ClientOrderID != "" {
			res.Orders = append(res.Orders, ev)
			if ev.State == schemas.OrderFilled || ev.State == schemas.OrderPartiallyFilled {
				a.publish(ctx, notify.Fill{RunID: res.RunID, Event: ev})
			}
		}
	}
	return nil
}

// killedSince reports whether the kill switch was set after the cycle
// read it (an operator's `warden kill` while the model was answering, which
// may take minutes): it is read again before every order, and an order
// whose check fails is not placed either (failing closed). A withheld
// order is recorded and the run counts as killed (exit 3).
func (a *Agent) killedSince(ctx context.Context, res *CycleResult, decisionID string, o schemas.Order) bool {
	if a.d.Store == nil {
		return false
	}
	kill, err := a.d.Store.KillSwitch(ctx)
	if err == nil && !kill {
		return false
	}
	why := "the kill switch was set during the cycle, after its verdicts"
	if err != nil {
		why = "the kill switch could not be read: " + err.Error()
		res.OrderErrors = append(res.OrderErrors, fmt.Sprintf("%s: not placed: %s", decisionID, why))
	} else if !res.KillSwitch {
		res.KillSwitch = true
		a.withdrawBuys(ctx, res)
	}
	a.d.Logger.Warn("approved order withheld", "decision", decisionID, "symbol", o.Symbol, "side", o.Side, "reason", why)
	a.event(ctx, audit.Event{Kind: audit.EventOrderWithheld, RunID: res.RunID, At: res.At, Symbol: o.Symbol, State: "withheld",
		Detail: jsonDetail(map[string]any{"decision_id": decisionID, "order": o, "reason": why})})
	return true
}

// BuyWithdrawer cancels the resting buy entries (executor.Executor).
type BuyWithdrawer interface {
	WithdrawBuys(ctx context.Context, reason string) (executor.PollResult, error)
}

// withdrawBuys cancels the buys resting on the exchange while the kill
// switch or safe mode holds: neither lets a buy be placed, and one placed
// before that fills now adds exposure all the same. Protective stops and
// exits stay. What was cancelled is recorded (buys_withdrawn) and on the
// result; a cancellation that failed is an order error, notified, and
// tried again at the next cycle.
func (a *Agent) withdrawBuys(ctx context.Context, res *CycleResult) {
	if err := a.withdraw(ctx, res); err != nil {
		msg := "withdraw resting buys: " + err.Error()
		if slices.Contains(res.OrderErrors, msg) {
			return // the same failure, tried again later in the cycle
		}
		res.OrderErrors = append(res.OrderErrors, msg)
		a.publish(ctx, notify.Error{Component: "executor", Err: "withdraw resting buys: " + err.Error(), Key: res.RunID + ":withdraw", RunID: res.RunID, At: res.At})
	}
}

// WithdrawIfHalted withdraws the resting buys between cycles when the kill
// switch or safe mode holds (set by another process: `warden kill`, the
// console), so that a long-running `warden run` on an hourly schedule
// acts within seconds. It returns how many it cancelled. A failure is
// logged and returned, not notified: the next cycle tries again and
// reports it.
func (a *Agent) WithdrawIfHalted(ctx context.Context) (int, error) {
	if a.d.Store == nil {
		return 0, nil
	}
	now := a.d.Clock().UTC()
	res := CycleResult{At: now}
	if err := a.readSwitches(ctx, now, &res); err != nil {
		return 0, err
	}
	err := a.withdraw(ctx, &res)
	return len(res.Withdrawn), err
}

// readSwitches reads the kill switch and the breakers' level at now from
// the store onto res; an error (failing closed) leaves res as it was.
func (a *Agent) readSwitches(ctx context.Context, now time.Time, res *CycleResult) error {
	if a.d.Store == nil {
		return nil
	}
	kill, err := a.d.Store.KillSwitch(ctx)
	if err != nil {
		return fmt.Errorf("audit: read kill switch (failing closed): %w", err)
	}
	lv, err := a.d.Store.Level(ctx, now)
	if err != nil {
		return fmt.Errorf("audit: read breaker level (failing closed): %w", err)
	}
	res.KillSwitch = kill
	a.setLevel(res, lv)
	return nil
}

func (a *Agent) withdraw(ctx context.Context, res *CycleResult) error {
	w, ok := a.d.Orders.(BuyWithdrawer)
	if !ok || (!res.KillSwitch && !res.SafeMode) {
		return nil
	}
	why := "safe mode: only sells that reduce a position"
	if res.KillSwitch {
		why = "kill switch: nothing may be bought"
	}
	pr, err := w.WithdrawBuys(ctx, why)
	var cancelled []schemas.OrderEvent
	for _, ev := range pr.Events {
		// Ours carry the reason; a buy found cancelled by someone else
		// (an unknown one resolved) is not reported as withdrawn.
		if ev.Role == executor.RoleEntry && ev.State == schemas.OrderCancelled && ev.Reason == why {
			cancelled = append(cancelled, ev)
		}
	}
	res.Withdrawn = append(res.Withdrawn, cancelled...)
	if err != nil {
		a.d.Logger.Error("resting buys not all withdrawn; tried again", "reason", why, "err", err)
	}
	if len(cancelled) == 0 {
		return err
	}
	type withdrawn struct {
		ClientOrderID string          `json:"client_order_id"`
		Symbol        string          `json:"symbol"`
		Quantity      decimal.Decimal `json:"quantity"`
		Filled        decimal.Decimal `json:"filled"` // before the cancellation: kept, under its stop
	}
	list := make([]withdrawn, len(cancelled))
	for i, ev := range cancelled {
		list[i] = withdrawn{ClientOrderID: ev.ClientOrderID, Symbol: ev.Symbol, Quantity: ev.Quantity, Filled: ev.FilledQty}
		a.d.Logger.Warn("resting buy withdrawn", "client_order_id", ev.ClientOrderID, "symbol", ev.Symbol, "filled", ev.FilledQty.String(), "reason", why)
	}
	detail := map[string]any{"reason": why, "cancelled": list}
	if err != nil {
		detail["error"] = err.Error()
	}
	a.event(ctx, audit.Event{Kind: audit.EventBuysWithdrawn, RunID: res.RunID, At: res.At, State: "cancelled", Detail: jsonDetail(detail)})
	return err
}

// maxFetchSkew is how much newer than the decision time a live quote may
// be: the time it takes to fetch it.
const maxFetchSkew = 30 * time.Second

// snapshots builds a validated snapshot per symbol. Any bad snapshot skips
// the whole run: a prompt never sees unchecked data.
//
// It also returns, per symbol, the market breakers' trips when they were
// prepared ahead on the same candles (UsePrepared), else the closed
// candles to measure them on.
func (a *Agent) snapshots(ctx context.Context, now time.Time) (map[string]market.Snapshot, map[string]symbolMarket, error) {
	snaps := make(map[string]market.Snapshot, len(a.o.Symbols))
	closed := make(map[string]symbolMarket, len(a.o.Symbols))
	since, n := fetchWindow(a.o, a.step, now)
	for _, sym := range a.o.Symbols {
		cs, err := a.ohlcv(ctx, sym, since, now, n)
		if err != nil {
			return nil, nil, fmt.Errorf("%s candles: %w", sym, err)
		}
		tk, err := a.d.Market.Ticker(ctx, sym)
		if err != nil {
			return nil, nil, fmt.Errorf("%s ticker: %w", sym, err)
		}
		if d := tk.Time.Sub(now); d > 0 && d <= maxFetchSkew {
			// A live ticker fetched after the cycle began is a moment newer
			// than the decision time: that is fetch latency, not data from
			// the future. Anything later is refused by the snapshot check.
			tk.Time = now
		}
		c := market.Closed(cs, a.step, now)
		sm := symbolMarket{closed: c, prepared: a.preparedFor(sym, c, now)}
		var known *market.Analysis
		if sm.prepared != nil {
			known = &sm.prepared.analysis
		}
		snap, err := market.Build(sym, a.o.Timeframe, c, tk, now, market.BuildOptions{
			Lookback: a.o.Lookback,
			Check:    checkOptions(a.o),
			Frozen:   true, // a window of the candle cache (candlecache.go)
			Known:    known,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("%s snapshot: %w", sym, err)
		}
		if err := a.bookOf(ctx, &snap, now); err != nil {
			return nil, nil, fmt.Errorf("%s snapshot: %w", sym, err)
		}
		snaps[sym], closed[sym] = snap, sm
	}
	return snaps, closed, nil
}

// symbolMarket is what snapshots leaves for the market breakers of one
// symbol: its closed candles, and the work prepared on them if any.
type symbolMarket struct {
	closed   []executor.Candle
	prepared *Prepared
}

// state builds the world the decision is judged against from the
// exchange and the audit store.
func (a *Agent) state(ctx context.Context, now time.Time, snaps map[string]market.Snapshot, res *CycleResult) (schemas.State, error) {
	mkts, err := a.d.Market.Markets(ctx)
	if err != nil {
		return schemas.State{}, fmt.Errorf("markets: %w", err)
	}
	bals, err := a.d.Market.Balances(ctx)
	if err != nil {
		return schemas.State{}, fmt.Errorf("balances: %w", err)
	}
	open, err := a.d.Market.OpenOrders(ctx, "")
	if err != nil {
		return schemas.State{}, fmt.Errorf("open orders: %w", err)
	}
	locked := lockedBySells(open)
	st := schemas.State{
		Now: now, Mode: a.o.Mode, KillSwitch: res.KillSwitch, SafeMode: res.SafeMode,
		RiskScale: res.RiskScale,
		Markets:   make(map[string]schemas.Market, len(a.o.Symbols)),
	}
	if st.Mode == "backtest" {
		st.Mode = "paper"
	}
	st.ExchangeStatus = a.exchangeStatus(ctx)
	if w, ok := a.o.Maintenance.Active(now); ok {
		st.InMaintenance = true
		a.d.Logger.Info("maintenance window open: no new orders", "window", w.String())
	}
	cash := bals[a.quote].Total()
	equity := cash
	positions := map[string]schemas.Position{}
	for _, sym := range a.o.Symbols {
		m, ok := mkts[sym]
		snap := snaps[sym]
		tk := snap.Ticker
		if !ok {
			// No market, no order: the policy and the hard limits reject
			// any recommendation for a symbol missing from Markets.
			continue
		}
		mid := tk.Bid.Add(tk.Ask).Div(decimal.NewFromInt(2))
		age := now.Sub(tk.Time).Seconds()
		if age < 0 {
			age = 0
		}
		st.Markets[sym] = schemas.Market{
			Bid: tk.Bid, Ask: tk.Ask, Last: tk.Last, QuoteVolume24h: tk.QuoteVolume24h,
			DataAgeS:   decimal.NewFromFloat(age).Round(3),
			AmountStep: m.AmountStep, PriceStep: m.PriceStep, MinAmount: m.MinAmount, MinNotional: m.MinNotional,
			Status: m.TradingStatus(),
			Book:   stateBook(snap.Book),
		}
		base, _, _ := strings.Cut(sym, "/")
		qty := bals[base].Total()
		if qty.IsPositive() {
			equity = equity.Add(qty.Mul(mid))
			avg, err := a.avgEntry(ctx, sym, qty, now)
			if err != nil {
				return schemas.State{}, err
			}
			// What open sell orders hold cannot be sold again (the policy's
			// account.sellable_qty); never more than is held.
			positions[sym] = schemas.Position{Qty: qty, AvgPrice: avg, Locked: decimal.Min(locked[sym], qty)}
		}
	}
	st.Account = schemas.Account{
		Quote: a.quote, Equity: equity.Round(8), Cash: bals[a.quote].Free,
		PeakEquity: equity, DayStartEquity: equity,
		OpenOrders: len(open), Positions: positions, PendingBuys: pendingBuys(open),
	}
	res.Equity, res.equityRead = st.Account.Equity, true
	if a.d.Store != nil {
		// Peak and day-start equity are read before this cycle's equity is
		// recorded, and combined with it: the same answer, and the read
		// does not wait on this cycle's queued records.
		if peak, ok, err := a.d.Store.PeakEquity(ctx); err != nil {
			return schemas.State{}, fmt.Errorf("audit: peak equity: %w", err)
		} else if ok && peak.GreaterThan(st.Account.PeakEquity) {
			st.Account.PeakEquity = peak
		}
		dayStart := now.Truncate(24 * time.Hour)
		if eq, ok, err := a.d.Store.EquityAt(ctx, dayStart); err != nil {
			return schemas.State{}, fmt.Errorf("audit: day-start equity: %w", err)
		} else if ok {
			st.Account.DayStartEquity = eq
		}
		if err := a.d.Store.RecordEquity(ctx, now, st.Account.Equity); err != nil {
			return schemas.State{}, fmt.Errorf("audit: record equity: %w", err)
		}
		n, err := a.d.Store.OrdersSince(ctx, now.Add(-time.Minute))
		if err != nil {
			return schemas.State{}, fmt.Errorf("audit: orders in the last minute: %w", err)
		}
		st.Account.OrdersLastMinute = n
	}
	if a.d.Observer != nil {
		hundred := decimal.NewFromInt(100)
		dayPnL, dd := decimal.Zero, decimal.Zero
		if st.Account.DayStartEquity.IsPositive() {
			dayPnL = st.Account.Equity.Sub(st.Account.DayStartEquity).Div(st.Account.DayStartEquity).Mul(hundred)
		}
		if st.Account.PeakEquity.IsPositive() {
			dd = st.Account.PeakEquity.Sub(st.Account.Equity).Div(st.Account.PeakEquity).Mul(hundred)
		}
		a.d.Observer.SetAccount(st.Account.Equity, dayPnL, equity.Sub(cash), dd)
	}
	return st, nil
}

// exchangeStatus is the exchange's system status for the state: normal
// or maintenance as the exchange says, unknown when it could not be read or
// the exchange cannot report it (fail closed: unknown blocks new orders,
// and never touches the protective stops resting on the exchange).
func (a *Agent) exchangeStatus(ctx context.Context) string {
	sr, ok := a.d.Market.(executor.StatusReader)
	if !ok {
		a.d.Logger.Warn("exchange status: the market data source cannot report it; treated as unknown")
		return schemas.ExchangeUnknown
	}
	s, err := sr.SystemStatus(ctx)
	switch {
	case err != nil:
		a.d.Logger.Warn("exchange status could not be read; treated as unknown", "err", err)
		return schemas.ExchangeUnknown
	case s == executor.SystemNormal:
		return schemas.ExchangeNormal
	case s == executor.SystemMaintenance:
		return schemas.ExchangeMaintenance
	}
	a.d.Logger.Warn("exchange status not understood; treated as unknown", "status", s)
	return schemas.ExchangeUnknown
}

// avgEntry is the average price of the buys that built the current
// position: walking our buys backwards until they account for qty. Trades
// are read incrementally (only those since the last one seen) and buys are
// kept for 90 days.
func (a *Agent) avgEntry(ctx context.Context, sym string, qty decimal.Decimal, now time.Time) (decimal.Decimal, error) {
	eb := a.entries[sym]
	if eb == nil {
		eb = &entryBook{seen: now.Add(-entryLookback), keys: map[string]bool{}}
		a.entries[sym] = eb
	}
	trades, err := a.d.Market.MyTrades(ctx, sym, eb.seen)
	if err != nil {
		return decimal.Zero, fmt.Errorf("%s trades: %w", sym, err)
	}
	sort.SliceStable(trades, func(i, j int) bool { return trades[i].Time.Before(trades[j].Time) })
	for _, t := range trades {
		key := t.ID + "/" + t.OrderID + "/" + t.Quantity.String() + "/" + t.Price.String()
		switch {
		case t.Time.Before(eb.seen):
			continue
		case t.Time.After(eb.seen):
			eb.seen = t.Time
			clear(eb.keys)
		case eb.keys[key]:
			continue // already counted: same time as the last read
		}
		eb.keys[key] = true
		if t.Side == schemas.SideBuy {
			eb.buys = append(eb.buys, t)
		}
	}
	cut := 0
	for cut < len(eb.buys) && eb.buys[cut].Time.Before(now.Add(-entryLookback)) {
		cut++
	}
	eb.buys = eb.buys[cut:]
	remaining, cost, got := qty, decimal.Zero, decimal.Zero
	for i := len(eb.buys) - 1; i >= 0 && remaining.IsPositive(); i-- {
		t := eb.buys[i]
		take := decimal.Min(t.Quantity, remaining)
		cost = cost.Add(take.Mul(t.Price))
		got = got.Add(take)
		remaining = remaining.Sub(take)
	}
	if got.IsZero() {
		// Held before Warden traded it: the cost is not known to us.
		return decimal.Zero, nil
	}
	return cost.Div(got).Round(8), nil
}

// entryLookback is how far back avgEntry looks for the buys of a position.
const entryLookback = 90 * 24 * time.Hour

// entryBook is what avgEntry remembers of one symbol's trades.
type entryBook struct {
	seen time.Time       // time of the newest trade read
	keys map[string]bool // trades read at exactly seen
	buys []executor.Trade
}

func (a *Agent) recordCalls(ctx context.Context, runID string, p prompts.Rendered, reply advisor.Reply, advErr error) error {
	for _, c := range reply.Calls {
		var callErr error
		if c.Err != "" {
			callErr = errors.New(c.Err)
		}
		if a.d.Observer != nil && c.Purpose != "member" {
			// A consensus member that made no HTTP call (baseline,
			// replay) is audited below but is no model call to measure.
			a.d.Observer.ObserveLLMCall(c.Latency, c.TotalTokens, callErr)
			a.observeModelCall(reply, p, c)
		}
		if a.d.Store == nil {
			continue
		}
		status := callStatus(c)
		who, model := reply.Advisor, reply.Model
		if c.Advisor != "" {
			// A consensus member's call: recorded under the member.
			who, model = c.Advisor, c.Model
		}
		at, sent := a.callTime(c.Started)
		if err := a.d.Store.RecordLLMCall(ctx, audit.LLMCall{
			RunID: runID, Attempt: c.Attempt, At: at, SentAt: sent, Advisor: who, Model: model,
			PromptHash: callPromptHash(p, c), Request: string(c.RequestJSON), Response: string(c.ResponseBody),
			HTTPStatus: c.HTTPStatus, Status: status, Latency: c.Latency,
			PromptTokens: int64(c.PromptTokens), CompletionTokens: int64(c.CompletionTokens), TotalTokens: int64(c.TotalTokens),
			FinishReason: c.FinishReason, Error: c.Err, Purpose: c.Purpose, Kind: string(c.Kind),
		}); err != nil {
			return fmt.Errorf("audit: record llm call: %w", err)
		}
	}
	if a.keepsRecords() && len(reply.Calls) == 0 {
		// Offline advisors make no HTTP call; the prompt they were given is
		// still recorded so the run can be read and replayed.
		req := a.offlineRequest(p)
		status := "ok"
		errText := ""
		if advErr != nil {
			status, errText = "error", advErr.Error()
		}
		if err := a.d.Store.RecordLLMCall(ctx, audit.LLMCall{
			RunID: runID, Attempt: 1, At: a.d.Clock().UTC(), Advisor: a.d.Advisor.Name(), Model: reply.Model,
			PromptHash: p.SystemHash + ":" + p.UserHash, Request: req, Response: string(reply.Raw),
			Status: status, Error: errText,
		}); err != nil {
			return fmt.Errorf("audit: record advisor call: %w", err)
		}
	}
	return nil
}

// callTime is when a model call is recorded as made: when it was sent,
// or, when the decision clock is not the wall clock (a backtest, the
// offline replay), the decision clock's time, so that a run's records are
// all on one clock (retention cuts and time filters go by it). The
// latency is recorded apart, and so is the wall-clock time of a call
// recorded at the decision clock's (sent, zero otherwise): the daily token
// budget counts the tokens of real days.
func (a *Agent) callTime(started time.Time) (at, sent time.Time) {
	now := a.d.Clock()
	if started.IsZero() {
		return now, time.Time{}
	}
	if now.Sub(started).Abs() > 10*time.Minute {
		return now, started.UTC()
	}
	return started, time.Time{}
}

// offlineRequest is the request an offline advisor's call record holds:
// {"system": ..., "user": ...} as json.Marshal writes that map. The system
// text is the same at every cycle of a run: its encoding is kept.
func (a *Agent) offlineRequest(p prompts.Rendered) string {
	if a.sysJSON.text != p.System || a.sysJSON.enc == nil {
		a.sysJSON.text = p.System
		a.sysJSON.enc = jsonw.StringHTML(nil, p.System)
	}
	sys := a.sysJSON.enc
	b := make([]byte, 0, len(sys)+len(p.User)+len(p.User)/8+32)
	b = append(b, `{"system":`...)
	b = append(b, sys...)
	b = append(b, `,"user":`...)
	b = jsonw.StringHTML(b, p.User)
	b = append(b, '}')
	// As strings.Builder does: b is never written again, so the string
	// may share its bytes (a request is kilobytes, at every decision).
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// PromptUser is implemented by advisors that may not read the prompt at
// all (the baseline rules advisor answers from the snapshots).
type PromptUser interface{ UsesPrompt() bool }

// Ephemeral is implemented by stores that keep no audit record (a
// backtest with per-decision records off): nothing is built for them that
// only the audit log would read.
type Ephemeral interface{ Ephemeral() bool }

func usesPrompt(adv advisor.Advisor) bool {
	p, ok := adv.(PromptUser)
	return !ok || p.UsesPrompt()
}

func (a *Agent) keepsRecords() bool {
	if a.d.Store == nil {
		return false
	}
	e, ok := a.d.Store.(Ephemeral)
	return !ok || !e.Ephemeral()
}

// errorSeen counts a failed cycle towards the error-spike breaker (in the
// store, so the count runs on across processes) and tells the operators.
func (a *Agent) errorSeen(ctx context.Context, res *CycleResult, component string, err error) {
	a.publish(ctx, notify.Error{Component: component, Err: err.Error(), RunID: res.RunID, At: res.At})
	if a.d.Store == nil {
		return
	}
	n, cErr := a.d.Store.CountError(ctx, res.At, res.RunID, component, err.Error())
	if cErr != nil {
		// Not knowing the count, fail closed: treat it as a spike.
		a.d.Logger.Error("audit: count a failed cycle; tripping the error-spike breaker", "err", cErr)
		n = a.o.Breakers.MaxConsecutiveErrors
	}
	if n >= a.o.Breakers.MaxConsecutiveErrors {
		tr := Trip{Breaker: BreakerErrorSpike, Reason: fmt.Sprintf("%d failed cycles in a row (limit %d)", n, a.o.Breakers.MaxConsecutiveErrors),
			Level: a.o.Breakers.Rule(BreakerErrorSpike).Level}
		res.Trips = append(res.Trips, tr)
		a.trip(ctx, res, []Trip{tr})
	}
}

// setLevel records the level a cycle runs under, and what it means for
// the policy: safe mode, and the risk scale of the reduce level (which
// safe mode includes).
func (a *Agent) setLevel(res *CycleResult, lv audit.LevelState) {
	if lv.Level == "" {
		lv.Level = audit.LevelActive
	}
	res.Level, res.LevelSince, res.LevelUntil = lv.Level, lv.Since, lv.Until
	res.SafeMode = lv.Level == audit.LevelSafeMode
	res.RiskScale = decimal.NewFromInt(1)
	if lv.Level != audit.LevelActive {
		res.RiskScale = a.o.Breakers.ReduceScale
	}
}

// trip raises, for each level the trips name, that level for the
// breaker's cool-down (in the store, so every process sees it), and
// records and announces every breaker that fired. The cycle goes on
// under the highest level.
func (a *Agent) trip(ctx context.Context, res *CycleResult, trips []Trip) {
	type raise struct {
		until    time.Time
		reasons  []string
		breakers []string
	}
	raises := map[string]*raise{}
	for _, t := range trips {
		rule := a.o.Breakers.Rule(t.Breaker)
		if t.Level == "" {
			t.Level = rule.Level
		}
		until := res.At.Add(rule.Cooldown)
		r := raises[t.Level]
		if r == nil {
			r = &raise{}
			raises[t.Level] = r
		}
		if until.After(r.until) {
			r.until = until
		}
		r.reasons = append(r.reasons, strings.TrimSpace(t.Breaker+" "+t.Symbol)+": "+t.Reason)
		if !slices.Contains(r.breakers, t.Breaker) {
			r.breakers = append(r.breakers, t.Breaker)
		}
		a.event(ctx, audit.Event{Kind: audit.EventBreaker, RunID: res.RunID, At: res.At, Symbol: t.Symbol, State: "tripped", Detail: jsonDetail(t)})
		if bo, ok := a.d.Observer.(BreakerObserver); ok {
			bo.BreakerTripped(t.Breaker, until)
		}
		a.publish(ctx, notify.Breaker{Name: t.Breaker, Tripped: true, Reason: strings.TrimSpace(t.Symbol + " " + t.Reason + " → " + t.Level), Until: until, At: res.At, RunID: res.RunID})
	}
	for _, level := range []string{audit.LevelReduce, audit.LevelSafeMode} {
		r := raises[level]
		if r == nil {
			continue
		}
		lv := audit.LevelState{Level: level, Since: res.At, Until: r.until, Reason: strings.Join(r.reasons, "; ")}
		if a.d.Store != nil {
			stored, err := a.d.Store.RaiseLevel(ctx, audit.LevelTrip{Level: level, At: res.At, Until: r.until, Reason: lv.Reason, RunID: res.RunID, Breakers: r.breakers})
			if err != nil {
				a.d.Logger.Error("could not persist the breaker level; it holds for this cycle", "level", level, "err", err)
			} else {
				lv = stored
			}
		}
		if audit.HigherLevel(res.Level, level) != res.Level {
			a.setLevel(res, lv)
		}
	}
}

func (a *Agent) event(ctx context.Context, e audit.Event) {
	if a.d.Store == nil {
		return
	}
	if err := a.d.Store.RecordEvent(ctx, e); err != nil {
		a.d.Logger.Error("audit: record event", "kind", e.Kind, "err", err)
	}
}

func (a *Agent) publish(ctx context.Context, e notify.Event) {
	if a.d.Publisher == nil {
		return
	}
	if err := a.d.Publisher.Publish(ctx, e); err != nil {
		a.d.Logger.Error("notify: publish", "err", err)
	}
}

func jsonDetail(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}

func violationsText(vs []schemas.Violation) string {
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		if v.Pointer != "" {
			parts = append(parts, v.Pointer+": "+v.Message)
		} else {
			parts = append(parts, v.Message)
		}
	}
	return strings.Join(parts, "; ")
}

func runSummary(res CycleResult) summaryRecord {
	counts := map[schemas.Decision]int{}
	for _, v := range res.Verdicts {
		counts[v.Decision]++
	}
	return summaryRecord{
		Reason: res.Reason, Equity: res.equity(), Decisions: counts,
		Orders: len(res.Orders), OrderErrors: res.OrderErrors, Trips: res.Trips,
		KillSwitch: res.KillSwitch, SafeMode: res.SafeMode, Level: res.Level, RiskScale: res.RiskScale,
		Warnings: res.Warnings, // shown by warden audit show
	}
}

// summaryRecord is a run's summary as its run_end record holds it. The
// fields are in the order of their keys, as a map of them was encoded
// before (the records read the same).
type summaryRecord struct {
	Decisions   map[schemas.Decision]int `json:"decisions"`
	Equity      *decimal.Decimal         `json:"equity"` // nil (null): the cycle never read the account
	KillSwitch  bool                     `json:"kill_switch"`
	Level       string                   `json:"level"`
	OrderErrors []string                 `json:"order_errors"`
	Orders      int                      `json:"orders"`
	Reason      string                   `json:"reason"`
	RiskScale   decimal.Decimal          `json:"risk_scale"`
	SafeMode    bool                     `json:"safe_mode"`
	Trips       []Trip                   `json:"trips"`
	Warnings    []schemas.Violation      `json:"warnings,omitempty"`
}

// pendingBuys is what the open buy orders still buy, by symbol: the
// unfilled remainder and its value at the order's limit price (nil when
// none rests).
func pendingBuys(open []executor.OrderReport) map[string]schemas.PendingBuy {
	var out map[string]schemas.PendingBuy
	for _, o := range open {
		rest := o.Quantity.Sub(o.FilledQty)
		if o.Side != schemas.SideBuy || !rest.IsPositive() {
			continue
		}
		if out == nil {
			out = map[string]schemas.PendingBuy{}
		}
		p := out[o.Symbol]
		p.Qty = p.Qty.Add(rest)
		p.Notional = p.Notional.Add(rest.Mul(o.Price))
		out[o.Symbol] = p
	}
	return out
}

// lockedBySells is, per symbol, the unfilled quantity of open sell orders
// that a new sell cannot use: plain limit and market sells (an earlier
// sell, an exit). Stop orders are left out: they are the protective stops,
// which the executor releases before a sell decision.
func lockedBySells(open []executor.OrderReport) map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for _, o := range open {
		if o.Side != schemas.SideSell || o.StopPrice.IsPositive() {
			continue
		}
		if rest := o.Quantity.Sub(o.FilledQty); rest.IsPositive() {
			out[o.Symbol] = out[o.Symbol].Add(rest)
		}
	}
	return out
}
