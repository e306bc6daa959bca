// Package status computes where things stand, from the audit database and
// without writing to it or calling an exchange: the kill switch, the
// breakers' level with since and until, each breaker's last trip, the
// account, the positions with average entry, mark, unrealised PnL and the
// quantity stops cover, the open orders (protective stops with their
// trigger and limit), every figure against its limit in the policy in
// force, the last run and the next scheduled one.
//
// `warden status` prints it (cmd/warden) and the console's status page and
// GET /api/status show it (agent/console); the formatting is theirs.
package status

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/schemas"
)

// Input is what Build needs besides the store: the read's identity and
// clock, the config's mode, schedule and reduce scale, the policy in force.
type Input struct {
	Database string
	Now      time.Time
	// Clock names where Now comes from: "wall", "replay" (the offline
	// replay's last run) or "given".
	Clock    string
	Mode     string
	Schedule string
	// ReplayStep is the timeframe's candle on the offline replay's clock
	// (Clock "replay"): each run decides one candle later, whatever the
	// schedule, so the next run decides at Now + ReplayStep.
	ReplayStep time.Duration
	// ReduceScale shrinks the caps below the active level
	// (breakers.reduce_scale).
	ReduceScale decimal.Decimal
	// PolicyName, PolicyHash and PolicySource are the policy in force;
	// its limits are read from the source's params.
	PolicyName   string
	PolicyHash   string
	PolicySource []byte
	// PolicyNote, when set, says why the policy shown may not be the one
	// in force; with no PolicySource no limits are shown.
	PolicyNote string
}

// Report is where things stand.
type Report struct {
	Database   string              `json:"database"`
	Now        time.Time           `json:"now"`
	Clock      string              `json:"clock"` // wall, replay, given
	Mode       string              `json:"mode"`
	KillSwitch audit.SwitchState   `json:"kill_switch"`
	Level      audit.LevelState    `json:"level"`
	RiskScale  decimal.Decimal     `json:"risk_scale"`
	ErrorCount int                 `json:"error_count"`
	Breakers   []audit.BreakerTrip `json:"breakers"` // the last trip of each breaker that ever tripped
	Account    *Account            `json:"account"`
	Positions  []Position          `json:"positions"`
	OpenOrders []Order             `json:"open_orders"`
	Limits     []Limit             `json:"limits"`
	Policy     string              `json:"policy"` // name and hash of the policy in force
	// PolicyNote says when the policy file is not the one in force (it does
	// not load, or the last run used another): see Input.PolicyNote.
	PolicyNote string        `json:"policy_note,omitempty"`
	LastRun    *audit.RunRow `json:"last_run"`
	Schedule   string        `json:"schedule"`
	NextRun    time.Time     `json:"next_run,omitzero"`
	// ExchangePause is the pause the exchange asked for (a 418 ban, a long
	// 429) while it still holds: no process sends a request before its
	// end, so every live cycle fails until then.
	ExchangePause *ExchangePause `json:"exchange_pause,omitempty"`
}

// ExchangePause is an exchange_backoff event still in force (by the wall
// clock: it is the real exchange's).
type ExchangePause struct {
	Until  time.Time `json:"until"`
	Kind   string    `json:"kind"` // banned or rate_limited
	Reason string    `json:"reason"`
}

// Account is the account's figures.
type Account struct {
	// Source says where the balances come from: "paper account" (as the
	// last cycle saved it) or "last decision" (the state it was judged
	// against).
	Source     string          `json:"source"`
	MarksAt    time.Time       `json:"marks_at,omitzero"`
	Quote      string          `json:"quote"`
	Equity     decimal.Decimal `json:"equity"`
	Cash       decimal.Decimal `json:"cash"`
	Free       decimal.Decimal `json:"free"`
	PeakEquity decimal.Decimal `json:"peak_equity"`
	DayStart   decimal.Decimal `json:"day_start_equity"`
	DayPnL     decimal.Decimal `json:"day_pnl"`
	DayPnLPct  decimal.Decimal `json:"day_pnl_pct"`
	Drawdown   decimal.Decimal `json:"drawdown_pct"`
	Exposure   decimal.Decimal `json:"exposure"`
	ExposurePc decimal.Decimal `json:"exposure_pct"`
}

// Position is one held quantity.
type Position struct {
	Symbol        string          `json:"symbol"`
	Qty           decimal.Decimal `json:"qty"`
	AvgEntry      decimal.Decimal `json:"avg_entry"`
	Mark          decimal.Decimal `json:"mark"`
	Value         decimal.Decimal `json:"value"`
	Unrealised    decimal.Decimal `json:"unrealised"`
	UnrealisedPct decimal.Decimal `json:"unrealised_pct"`
	PctOfEquity   decimal.Decimal `json:"pct_of_equity"`
	// Protected is the quantity the stop orders the exchange acknowledged
	// cover (not those still being sent, nor one whose fate is unknown).
	Protected decimal.Decimal `json:"protected"`
	// Dust is true when the quantity is below the exchange's smallest
	// order: it can be neither sold nor protected.
	Dust bool `json:"dust,omitempty"`
}

// Order is one open order from the journal.
type Order struct {
	ClientOrderID string          `json:"client_order_id"`
	DecisionID    string          `json:"decision_id"`
	Role          string          `json:"role"`
	Symbol        string          `json:"symbol"`
	Side          string          `json:"side"`
	Type          string          `json:"type"`
	State         string          `json:"state"`
	Quantity      decimal.Decimal `json:"quantity"`
	Filled        decimal.Decimal `json:"filled"`
	Price         decimal.Decimal `json:"price"`
	Trigger       decimal.Decimal `json:"trigger"`
	At            time.Time       `json:"at"`
}

// Limit is one figure against its policy limit.
type Limit struct {
	Name  string          `json:"name"`  // what is measured: day_loss, drawdown, exposure, position BTC/USDT, open_positions
	Param string          `json:"param"` // the policy param it is held against
	Value decimal.Decimal `json:"value"`
	// Limit is the param's value, scaled by the risk scale for caps the
	// reduce level shrinks; absent when the policy has no such param.
	Limit  *decimal.Decimal `json:"limit"`
	Scaled bool             `json:"scaled,omitempty"`
	Unit   string           `json:"unit"` // "%" or ""
	// Over is true when the value is past the limit (buys are refused).
	Over bool `json:"over"`
}

// ReplayClock is the clock of the offline paper replay, whose cycles live
// at their candles' times: the last run's start; ok false when no run was
// recorded (the caller keeps its own clock).
func ReplayClock(ctx context.Context, st *audit.Store) (time.Time, bool, error) {
	last, ok, err := st.LastRun(ctx)
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	return last.StartedAt.UTC(), true, nil
}

// exchangePause is the newest exchange_backoff event when it holds at now.
func exchangePause(ctx context.Context, st *audit.Store, now time.Time) (*ExchangePause, error) {
	p, ok, err := st.LatestExchangePause(ctx)
	if err != nil || !ok || !p.Until.After(now) {
		return nil, err
	}
	return &ExchangePause{Until: p.Until, Kind: p.Kind, Reason: p.Reason}, nil
}

// Build reads where things stand as of in.Now. It only reads: the store
// may be opened read-only, and no exchange is called.
func Build(ctx context.Context, st *audit.Store, in Input) (Report, error) {
	rep := Report{Database: in.Database, Now: in.Now, Clock: in.Clock, Mode: in.Mode, Schedule: in.Schedule,
		Positions: []Position{}, OpenOrders: []Order{}, Limits: []Limit{}}
	var err error
	if rep.KillSwitch, err = st.KillSwitchState(ctx); err != nil {
		return rep, err
	}
	if rep.Level, err = st.Level(ctx, in.Now); err != nil {
		return rep, err
	}
	rep.RiskScale = decimal.NewFromInt(1)
	if rep.Level.Level != audit.LevelActive {
		rep.RiskScale = in.ReduceScale
	}
	if rep.ErrorCount, err = st.ConsecutiveErrors(ctx); err != nil {
		return rep, err
	}
	if rep.Breakers, err = st.LastTrips(ctx); err != nil {
		return rep, err
	}
	if rep.ExchangePause, err = exchangePause(ctx, st, time.Now()); err != nil {
		return rep, err
	}
	if last, ok, err := st.LastRun(ctx); err != nil {
		return rep, err
	} else if ok {
		last.Summary = nil
		rep.LastRun = &last
		if last.Mode != "" {
			rep.Mode = last.Mode
		}
	}
	if sched, err := cron.ParseStandard(in.Schedule); err == nil {
		rep.NextRun = sched.Next(in.Now)
		if in.Clock == "replay" && in.ReplayStep > 0 {
			rep.NextRun = in.Now.Add(in.ReplayStep)
		}
	}
	rep.Policy = strings.TrimSpace(in.PolicyName + " " + in.PolicyHash)
	rep.PolicyNote = in.PolicyNote
	params := PolicyParams(in.PolicySource)

	// Open orders, from the journal.
	evs, err := st.OpenOrderEvents(ctx)
	if err != nil {
		return rep, err
	}
	protected := map[string]decimal.Decimal{}
	for _, ev := range evs {
		rep.OpenOrders = append(rep.OpenOrders, Order{ClientOrderID: ev.ClientOrderID, DecisionID: ev.DecisionID, Role: ev.Role,
			Symbol: ev.Symbol, Side: string(ev.Side), Type: ev.Type, State: string(ev.State), Quantity: ev.Quantity,
			Filled: ev.FilledQty, Price: ev.Price, Trigger: ev.StopPrice, At: ev.At})
		// Only a stop the exchange acknowledged protects: one journaled
		// but not yet sent (intent, submitted) or lost in a timeout
		// (unknown) may rest nowhere, and after a crash both the old stop
		// (unknown) and its replacement (intent) are open at once.
		if ev.Role == "stop" && (ev.State == schemas.OrderAcknowledged || ev.State == schemas.OrderPartiallyFilled) {
			protected[ev.Symbol] = protected[ev.Symbol].Add(ev.Quantity.Sub(ev.FilledQty))
		}
	}

	// The account.
	state, haveState, err := st.LatestState(ctx)
	if err != nil {
		return rep, err
	}
	fills, err := st.FillRecords(ctx, time.Time{}, time.Time{})
	if err != nil {
		return rep, err
	}
	carried, err := st.Carried(ctx)
	if err != nil {
		return rep, err
	}
	book := audit.BuildBookCarried(fills, audit.MinOrderFromState(state), carried)
	marks := audit.MarksFromState(state)
	acct, held, err := readAccount(ctx, st, state, haveState)
	if err != nil {
		return rep, err
	}
	if acct == nil {
		return rep, nil // nothing decided yet
	}
	hundred := decimal.NewFromInt(100)
	pct := func(a, b decimal.Decimal) decimal.Decimal {
		if !b.IsPositive() {
			return decimal.Zero
		}
		return a.Mul(hundred).DivRound(b, 4)
	}
	for _, sym := range slices.Sorted(maps.Keys(held)) {
		qty := held[sym]
		p := Position{Symbol: sym, Qty: qty, Mark: marks[sym], Protected: protected[sym]}
		if bp, ok := book.Positions[sym]; ok && bp.Qty.IsPositive() {
			p.AvgEntry = bp.AvgEntry
		} else if sp, ok := state.Account.Positions[sym]; ok {
			p.AvgEntry = sp.AvgPrice
		}
		p.Value = qty.Mul(p.Mark)
		p.Dust = haveState && audit.MinOrderFromState(state)(sym, qty, p.Mark)
		if p.AvgEntry.IsPositive() && p.Mark.IsPositive() {
			p.Unrealised = p.Mark.Sub(p.AvgEntry).Mul(qty)
			p.UnrealisedPct = pct(p.Mark.Sub(p.AvgEntry), p.AvgEntry)
		}
		acct.Exposure = acct.Exposure.Add(p.Value)
		rep.Positions = append(rep.Positions, p)
	}
	if acct.Source == "paper account" {
		acct.Equity = acct.Cash.Add(acct.Exposure)
	}
	if peak, ok, err := st.PeakEquity(ctx); err != nil {
		return rep, err
	} else if ok {
		acct.PeakEquity = peak
	}
	if acct.Equity.GreaterThan(acct.PeakEquity) {
		acct.PeakEquity = acct.Equity
	}
	acct.DayStart = acct.Equity
	if eq, ok, err := st.EquityAt(ctx, in.Now.Truncate(24*time.Hour)); err != nil {
		return rep, err
	} else if ok {
		acct.DayStart = eq
	}
	acct.DayPnL = acct.Equity.Sub(acct.DayStart)
	acct.DayPnLPct = pct(acct.DayPnL, acct.DayStart)
	acct.Drawdown = pct(acct.PeakEquity.Sub(acct.Equity), acct.PeakEquity)
	acct.ExposurePc = pct(acct.Exposure, acct.Equity)
	for i := range rep.Positions {
		rep.Positions[i].PctOfEquity = pct(rep.Positions[i].Value, acct.Equity)
	}
	rep.Account = acct

	limit := func(name, param string, value decimal.Decimal, unit string, scaled bool) {
		if len(in.PolicySource) == 0 {
			return // no policy could be read: no limits to hold against
		}
		rep.Limits = append(rep.Limits, MakeLimit(name, param, value, unit, scaled, params, rep.RiskScale))
	}
	dayLoss := decimal.Max(decimal.Zero, acct.DayPnLPct.Neg())
	limit("day_loss", "max_day_loss_pct", dayLoss, "%", false)
	limit("drawdown", "max_drawdown_pct", acct.Drawdown, "%", false)
	limit("exposure", "max_exposure_pct", acct.ExposurePc, "%", true)
	for _, p := range rep.Positions {
		limit("position "+p.Symbol, "max_position_pct", p.PctOfEquity, "%", true)
	}
	limit("open_positions", "max_open_positions", decimal.NewFromInt(int64(len(rep.Positions))), "", false)
	return rep, nil
}

// MakeLimit holds value against the policy param (times the risk scale
// for a cap the reduce level shrinks). Every limit is inclusive, as in the
// policy: a value at the limit is within it, one past it is over.
func MakeLimit(name, param string, value decimal.Decimal, unit string, scaled bool, params map[string]decimal.Decimal, scale decimal.Decimal) Limit {
	l := Limit{Name: name, Param: param, Value: value, Unit: unit, Scaled: scaled && !scale.Equal(decimal.NewFromInt(1))}
	if p, ok := params[param]; ok {
		if scaled {
			p = p.Mul(scale)
		}
		l.Limit = &p
		l.Over = value.GreaterThan(p)
	}
	return l
}

// readAccount returns the account's cash and held quantities: the paper
// account as the last cycle saved it when there is one, else the last
// decision's state. nil when neither exists.
func readAccount(ctx context.Context, st *audit.Store, state schemas.State, haveState bool) (*Account, map[string]decimal.Decimal, error) {
	held := map[string]decimal.Decimal{}
	quote := state.Account.Quote
	if quote == "" {
		quote = "USDT"
	}
	acct := &Account{Quote: quote}
	if haveState {
		acct.MarksAt = state.Now
	}
	px, ok, err := RestorePaperAccount(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		bals, err := px.Balances(ctx)
		if err != nil {
			return nil, nil, err
		}
		acct.Source = "paper account"
		for asset, b := range bals {
			if asset == quote {
				acct.Cash, acct.Free = b.Total(), b.Free
				continue
			}
			if b.Total().IsPositive() {
				held[asset+"/"+quote] = b.Total()
			}
		}
		return acct, held, nil
	}
	if !haveState {
		return nil, held, nil
	}
	acct.Source = "last decision"
	acct.Cash, acct.Free, acct.Equity = state.Account.Cash, state.Account.Cash, state.Account.Equity
	for sym, p := range state.Account.Positions {
		if p.Qty.IsPositive() {
			held[sym] = p.Qty
		}
	}
	return acct, held, nil
}

// RestorePaperAccount rebuilds the paper account as the last cycle saved
// it, in memory (nothing is written): from the newest checkpoint and the
// deltas after it when the store keeps them (PaperStateChain), else from
// the newest full snapshot. It is the in-memory paper exchange, never a
// live one.
func RestorePaperAccount(ctx context.Context, st *audit.Store) (*paper.Exchange, bool, error) {
	px, err := paper.New(paper.DefaultConfig())
	if err != nil {
		return nil, false, err
	}
	type chain interface {
		PaperStateChain(ctx context.Context) (checkpoint []byte, deltas [][]byte, ok bool, err error)
	}
	type deltaApplier interface{ ApplyDelta([]byte) error }
	var (
		blob   []byte
		deltas [][]byte
		ok     bool
	)
	if c, isChain := any(st).(chain); isChain {
		blob, deltas, ok, err = c.PaperStateChain(ctx)
	} else {
		blob, ok, err = st.LatestPaperState(ctx)
	}
	if err != nil || !ok {
		return nil, false, err
	}
	if err := px.RestoreState(blob); err != nil {
		return nil, false, fmt.Errorf("the paper account in the database does not restore: %w", err)
	}
	for i, d := range deltas {
		da, can := any(px).(deltaApplier)
		if !can {
			return nil, false, errors.New("the paper account in the database is saved as deltas this build cannot apply")
		}
		if err := da.ApplyDelta(d); err != nil {
			return nil, false, fmt.Errorf("the paper account in the database does not restore: delta %d of %d: %w", i+1, len(deltas), err)
		}
	}
	return px, true, nil
}

// PolicyParams reads the numeric params of a policy file.
func PolicyParams(src []byte) map[string]decimal.Decimal {
	var doc struct {
		Params map[string]yaml.Node `yaml:"params"`
	}
	out := map[string]decimal.Decimal{}
	if yaml.Unmarshal(src, &doc) != nil {
		return out
	}
	for k, n := range doc.Params {
		if n.Kind != yaml.ScalarNode {
			continue
		}
		if d, err := decimal.NewFromString(n.Value); err == nil {
			out[k] = d
		}
	}
	return out
}

// Signed is d with places decimals and its sign always written: +1.50,
// -0.25, and -0.00 for a loss that rounds to nothing.
func Signed(d decimal.Decimal, places int32) string {
	s := d.StringFixed(places)
	switch {
	case strings.HasPrefix(s, "-"):
		return s
	case d.Sign() < 0:
		return "-" + s
	}
	return "+" + s
}
