package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/executor/paper"
	"github.com/warden-trading/warden/schemas"
)

// readFlags are the flags of the read-only operator views (status, trades,
// profit, review): the database as for `warden run` (the config's db, or
// --db), and the clock the view is read at.
type readFlags struct {
	cfgPath, db, now string
}

func (f *readFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.cfgPath, "config", "", "YAML config file: its db (and policy, schedule) are read, as for warden run")
	cmd.Flags().StringVar(&f.db, "db", "", "audit database path (overrides the config)")
	cmd.Flags().StringVar(&f.now, "now", "", "read as of this RFC 3339 time (default: now; the offline replay's clock for the offline replay)")
	_ = cmd.Flags().MarkHidden("now")
}

// readView is an opened operator view: the config, the database opened
// read-only (as the audit commands open it) and the clock.
type readView struct {
	cfg   config.Config
	st    *audit.Store
	abs   string
	now   time.Time
	clock string // "wall", "replay" or "given"
}

// open loads the config and opens its database read-only. The clock is
// the wall clock, except for the offline paper replay, whose cycles live
// at their candles' times: there it is the last run's time.
func (f *readFlags) open(cmd *cobra.Command) (*readView, error) {
	cfg, err := loadConfig(f.cfgPath)
	if err != nil {
		return nil, usageErr(err)
	}
	if f.db != "" {
		cfg.DB = f.db
	}
	abs, err := filepath.Abs(cfg.DB)
	if err != nil {
		return nil, usageErr(err)
	}
	st, err := openAudit(cmd, abs)
	if err != nil {
		return nil, err
	}
	v := &readView{cfg: cfg, st: st, abs: abs, now: time.Now().UTC(), clock: "wall"}
	switch {
	case f.now != "":
		t, err := time.Parse(time.RFC3339Nano, f.now)
		if err != nil {
			st.Close()
			return nil, usageErr(fmt.Errorf("--now %q: want an RFC 3339 time", f.now))
		}
		v.now, v.clock = t.UTC(), "given"
	case cfg.Mode == "paper" && cfg.Paper.Data == "bundled":
		last, ok, err := st.LastRun(cmd.Context())
		if err != nil {
			st.Close()
			return nil, err
		}
		if ok {
			v.now, v.clock = last.StartedAt.UTC(), "replay"
		}
	}
	return v, nil
}

func newStatusCmd(a *app) *cobra.Command {
	var (
		rf     readFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status [--config FILE | --db FILE] [--json]",
		Short: "Where things stand: switches, level, positions, stops, limits, last and next run",
		Long: `status shows, from the audit database and without writing to it: the mode, the
kill switch, the breakers' level (active, reduce, safe mode) with since and
until, each breaker's last trip; the positions with average entry, mark and
unrealised PnL; the open orders, protective stops with their trigger and limit;
equity, cash, day PnL, drawdown and exposure, each against its limit in the
policy in force (the config's policy, or the embedded default; caps scaled at
the reduce level); the last run and the next scheduled one.

A position's average entry is its cost per unit held, fees included (a fee
paid in the base asset leaves less held for the same cost).

Marks are the mid prices of the last decision. The paper account is read as
the last cycle saved it; a live account as the last decision saw it.`,
		Example: `  warden status
  warden status --config /etc/warden/warden.yaml
  warden status --db archive/warden.db --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			v, err := rf.open(cmd)
			if err != nil {
				return err
			}
			defer v.st.Close()
			defer unchanged(v.st, &err)
			rep, err := buildStatus(cmd.Context(), v)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, rep)
			}
			return writeStatus(a.stdout, rep)
		},
	}
	rf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// statusReport is what `warden status` shows.
type statusReport struct {
	Database   string              `json:"database"`
	Now        time.Time           `json:"now"`
	Clock      string              `json:"clock"` // wall, replay, given
	Mode       string              `json:"mode"`
	KillSwitch audit.SwitchState   `json:"kill_switch"`
	Level      audit.LevelState    `json:"level"`
	RiskScale  decimal.Decimal     `json:"risk_scale"`
	ErrorCount int                 `json:"error_count"`
	Breakers   []audit.BreakerTrip `json:"breakers"` // the last trip of each breaker that ever tripped
	Account    *statusAccount      `json:"account"`
	Positions  []statusPosition    `json:"positions"`
	OpenOrders []statusOrder       `json:"open_orders"`
	Limits     []statusLimit       `json:"limits"`
	Policy     string              `json:"policy"` // name and hash of the policy in force
	LastRun    *audit.RunRow       `json:"last_run"`
	Schedule   string              `json:"schedule"`
	NextRun    time.Time           `json:"next_run,omitzero"`
}

type statusAccount struct {
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

type statusPosition struct {
	Symbol        string          `json:"symbol"`
	Qty           decimal.Decimal `json:"qty"`
	AvgEntry      decimal.Decimal `json:"avg_entry"`
	Mark          decimal.Decimal `json:"mark"`
	Value         decimal.Decimal `json:"value"`
	Unrealised    decimal.Decimal `json:"unrealised"`
	UnrealisedPct decimal.Decimal `json:"unrealised_pct"`
	PctOfEquity   decimal.Decimal `json:"pct_of_equity"`
	// Protected is the quantity open stop orders cover.
	Protected decimal.Decimal `json:"protected"`
	// Dust is true when the quantity is below the exchange's smallest
	// order: it can be neither sold nor protected.
	Dust bool `json:"dust,omitempty"`
}

type statusOrder struct {
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

// statusLimit is one figure against its policy limit.
type statusLimit struct {
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

func buildStatus(ctx context.Context, v *readView) (statusReport, error) {
	st, cfg := v.st, v.cfg
	rep := statusReport{Database: v.abs, Now: v.now, Clock: v.clock, Mode: cfg.Mode, Schedule: cfg.Schedule,
		Positions: []statusPosition{}, OpenOrders: []statusOrder{}, Limits: []statusLimit{}}
	var err error
	if rep.KillSwitch, err = st.KillSwitchState(ctx); err != nil {
		return rep, err
	}
	if rep.Level, err = st.Level(ctx, v.now); err != nil {
		return rep, err
	}
	rep.RiskScale = decimal.NewFromInt(1)
	if rep.Level.Level != audit.LevelActive {
		rep.RiskScale = cfg.Breakers.ReduceScale
	}
	if rep.ErrorCount, err = st.ConsecutiveErrors(ctx); err != nil {
		return rep, err
	}
	if rep.Breakers, err = st.LastTrips(ctx); err != nil {
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
	if sched, err := cron.ParseStandard(cfg.Schedule); err == nil {
		rep.NextRun = sched.Next(v.now)
	}
	pol, err := loadPolicy(cfg.Policy)
	if err != nil {
		return rep, usageErr(fmt.Errorf("policy: %w", err))
	}
	rep.Policy = pol.Name() + " " + pol.Hash()
	params := policyParams(pol.Source())

	// Open orders, from the journal.
	evs, err := st.OpenOrderEvents(ctx)
	if err != nil {
		return rep, err
	}
	protected := map[string]decimal.Decimal{}
	for _, ev := range evs {
		rep.OpenOrders = append(rep.OpenOrders, statusOrder{ClientOrderID: ev.ClientOrderID, DecisionID: ev.DecisionID, Role: ev.Role,
			Symbol: ev.Symbol, Side: string(ev.Side), Type: ev.Type, State: string(ev.State), Quantity: ev.Quantity,
			Filled: ev.FilledQty, Price: ev.Price, Trigger: ev.StopPrice, At: ev.At})
		if ev.Role == "stop" {
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
	book := audit.BuildBook(fills, audit.MinOrderFromState(state))
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
	for _, sym := range sortedSymbols(held) {
		qty := held[sym]
		p := statusPosition{Symbol: sym, Qty: qty, Mark: marks[sym], Protected: protected[sym]}
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
	if eq, ok, err := st.EquityAt(ctx, v.now.Truncate(24*time.Hour)); err != nil {
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
		rep.Limits = append(rep.Limits, makeLimit(name, param, value, unit, scaled, params, rep.RiskScale))
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

// makeLimit holds value against the policy param (times the risk scale
// for a cap the reduce level shrinks). Every limit is inclusive, as in the
// policy: a value at the limit is within it, one past it is over.
func makeLimit(name, param string, value decimal.Decimal, unit string, scaled bool, params map[string]decimal.Decimal, scale decimal.Decimal) statusLimit {
	l := statusLimit{Name: name, Param: param, Value: value, Unit: unit, Scaled: scaled && !scale.Equal(decimal.NewFromInt(1))}
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
func readAccount(ctx context.Context, st *audit.Store, state schemas.State, haveState bool) (*statusAccount, map[string]decimal.Decimal, error) {
	held := map[string]decimal.Decimal{}
	quote := state.Account.Quote
	if quote == "" {
		quote = "USDT"
	}
	acct := &statusAccount{Quote: quote}
	if haveState {
		acct.MarksAt = state.Now
	}
	px, ok, err := restorePaperAccount(ctx, st)
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

// restorePaperAccount rebuilds the paper account as the last cycle saved
// it, in memory (nothing is written): from the newest checkpoint and the
// deltas after it when the store keeps them (PaperStateChain), else from
// the newest full snapshot.
func restorePaperAccount(ctx context.Context, st *audit.Store) (*paper.Exchange, bool, error) {
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

// policyParams reads the numeric params of a policy file.
func policyParams(src []byte) map[string]decimal.Decimal {
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

func sortedSymbols[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

const tsFormat = "2006-01-02 15:04 UTC"

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(tsFormat)
}

func levelText(lv audit.LevelState, scale decimal.Decimal) string {
	switch lv.Level {
	case audit.LevelActive, "":
		return "active"
	}
	s := lv.Level
	if lv.Level == audit.LevelReduce {
		s += " (caps × " + scale.String() + ")"
	} else {
		s = "safe mode (only sells that reduce a position)"
	}
	s += " since " + ts(lv.Since)
	if lv.Until.IsZero() {
		s += ", until resumed"
	} else {
		s += ", until " + ts(lv.Until)
	}
	if lv.Reason != "" {
		s += ": " + lv.Reason
	}
	return s
}

func writeStatus(w io.Writer, r statusReport) error {
	p := &storyWriter{w: w}
	p.f("database      %s (read-only)\n", r.Database)
	p.f("as of         %s (%s)\n", ts(r.Now), clockName(r.Clock))
	p.f("mode          %s\n", r.Mode)
	ks := "off"
	if r.KillSwitch.On {
		ks = "ON: nothing can be placed (warden resume releases it)"
	}
	if !r.KillSwitch.At.IsZero() {
		ks += fmt.Sprintf(" (since %s, by %s: %s)", ts(r.KillSwitch.At), dash(r.KillSwitch.Actor), dash(r.KillSwitch.Reason))
	}
	p.f("kill switch   %s\n", ks)
	p.f("level         %s\n", levelText(r.Level, r.RiskScale))
	if len(r.Breakers) == 0 {
		p.f("breakers      none ever tripped\n")
	}
	for i, b := range r.Breakers {
		head := "breakers      "
		if i > 0 {
			head = "              "
		}
		p.f("%s%s last tripped %s%s → %s: %s\n", head, b.Breaker, ts(b.At), prefixed(" ", b.Symbol), dash(b.Level), b.Reason)
	}
	if r.ErrorCount > 0 {
		p.f("failed cycles %d in a row (the error-spike breaker counts them)\n", r.ErrorCount)
	}
	p.f("policy        %s\n", r.Policy)

	if a := r.Account; a == nil {
		p.f("\nno decision recorded yet: no account, positions or limits to show\n")
	} else {
		p.f("\naccount (%s; marks: mid at the last decision, %s)\n", a.Source, ts(a.MarksAt))
		p.f("equity        %s %s (peak %s, day start %s)\n", a.Equity.StringFixed(2), a.Quote, a.PeakEquity.StringFixed(2), a.DayStart.StringFixed(2))
		p.f("cash          %s %s (free %s)\n", a.Cash.StringFixed(2), a.Quote, a.Free.StringFixed(2))
		p.f("day PnL       %s %s (%s %%)\n", signed(a.DayPnL, 2), a.Quote, signed(a.DayPnLPct, 2))
		p.f("exposure      %s %s\n", a.Exposure.StringFixed(2), a.Quote)
		p.f("\nlimits (policy in force)\n")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, l := range r.Limits {
			fmt.Fprintf(tw, "  %s\t%s\n", strings.ReplaceAll(l.Name, "_", " "), limitText(l, r.RiskScale))
		}
		if p.err == nil {
			p.err = tw.Flush()
		}
	}

	p.f("\npositions\n")
	if len(r.Positions) == 0 {
		p.f("  none\n")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  SYMBOL\tQTY\tAVG ENTRY\tMARK\tVALUE\tUNREALISED\tPROTECTED BY STOPS")
		for _, ps := range r.Positions {
			prot := ps.Protected.String()
			if ps.Dust {
				prot += " (dust: below the smallest order)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s (%s %%)\t%s\n", ps.Symbol, ps.Qty, priceText(ps.AvgEntry), priceText(ps.Mark), ps.Value.StringFixed(2),
				signed(ps.Unrealised, 2), signed(ps.UnrealisedPct, 2), prot)
		}
		if p.err == nil {
			p.err = tw.Flush()
		}
	}
	p.f("\nopen orders\n")
	if len(r.OpenOrders) == 0 {
		p.f("  none\n")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ROLE\tSYMBOL\tSIDE\tTYPE\tSTATE\tQTY\tFILLED\tTRIGGER\tLIMIT\tDECISION")
		for _, o := range r.OpenOrders {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.Role, o.Symbol, o.Side, o.Type, o.State, o.Quantity, o.Filled,
				priceText(o.Trigger), priceText(o.Price), dash(o.DecisionID))
		}
		if p.err == nil {
			p.err = tw.Flush()
		}
	}
	p.f("\n")
	if r.LastRun == nil {
		p.f("last run      never\n")
	} else {
		lr := r.LastRun
		p.f("last run      %s %s at %s", lr.RunID, lr.Outcome, ts(lr.StartedAt))
		if lr.Status != "" && lr.Status != lr.Outcome {
			p.f(" (status %s)", lr.Status)
		}
		if lr.Reason != "" {
			p.f(": %s", lr.Reason)
		}
		p.f("\n")
	}
	if r.NextRun.IsZero() {
		p.f("next run      schedule %q does not parse\n", r.Schedule)
	} else {
		p.f("next run      %s (schedule %s)\n", ts(r.NextRun), r.Schedule)
	}
	return p.err
}

func clockName(c string) string {
	switch c {
	case "replay":
		return "the offline replay's clock: the last run's candle time"
	case "given":
		return "--now"
	}
	return "now"
}

func limitText(l statusLimit, scale decimal.Decimal) string {
	unit := ""
	if l.Unit == "%" {
		unit = " %"
	}
	v := l.Value.StringFixed(2)
	if l.Unit == "" {
		v = l.Value.String()
	}
	if l.Limit == nil {
		return fmt.Sprintf("%s%s (the policy has no %s)", v, unit, l.Param)
	}
	s := fmt.Sprintf("%s%s of %s%s", v, unit, l.Limit.String(), unit)
	if l.Scaled {
		s += fmt.Sprintf(" (%s × %s at this level)", l.Param, scale)
	}
	if l.Over {
		s += "  OVER: buys are refused"
	}
	return s
}

func priceText(d decimal.Decimal) string {
	if d.IsZero() {
		return "-"
	}
	return d.String()
}

// signed formats d with places decimals and its sign: "+0.25", "-0.00"
// for a small loss (never "+0.00" for one).
func signed(d decimal.Decimal, places int32) string {
	s := d.StringFixed(places)
	switch {
	case strings.HasPrefix(s, "-"):
		return s
	case d.Sign() < 0:
		return "-" + s
	}
	return "+" + s
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}
