package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/agent/status"
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
// at their candles' times: there it is the last run's time. The config's
// secrets are registered with a's redactor first, so whatever the view
// prints from the database passes the same redaction as warden run.
func (f *readFlags) open(cmd *cobra.Command, a *app) (*readView, error) {
	cfg, err := loadConfig(f.cfgPath)
	if err != nil {
		return nil, usageErr(err)
	}
	a.addSecrets(cfg)
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
	case cfg.ReplaysBundled():
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
			v, err := rf.open(cmd, a)
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

// The status computation lives in agent/status (the console shows the
// same); this file prints it.
type (
	statusReport = status.Report
	statusLimit  = status.Limit
)

func buildStatus(ctx context.Context, v *readView) (statusReport, error) {
	in := status.Input{Database: v.abs, Now: v.now, Clock: v.clock, Mode: v.cfg.Mode, Schedule: v.cfg.Schedule,
		ReduceScale: v.cfg.Breakers.ReduceScale}
	in.ReplayStep = replayStep(v.cfg.Timeframe)
	// The policy in force is the one the last run decided under; the file
	// on disk may be an edit the service refused (or has not reloaded).
	last, ran, err := v.st.LastRun(ctx)
	if err != nil {
		return statusReport{}, err
	}
	inForce := ""
	if ran {
		inForce = last.PolicyHash
	}
	pol, perr := loadPolicy(v.cfg.Policy)
	switch {
	case perr != nil:
		// Shown all the same: status is needed most halfway through fixing
		// a policy.
		in.PolicyName, in.PolicyHash = "(the policy file does not load)", inForce
		in.PolicyNote = strings.Join(strings.Fields(perr.Error()), " ") + "; a running service keeps the policy it accepted last"
		if inForce != "" {
			in.PolicyNote += " (" + shortHash(inForce) + ", the last run's)"
		}
		in.PolicyNote += "; no limits shown"
	default:
		in.PolicyName, in.PolicyHash, in.PolicySource = pol.Name(), pol.Hash(), pol.Source()
		if inForce != "" && inForce != pol.Hash() {
			in.PolicyNote = fmt.Sprintf("the policy file on disk (%s) is not the one the last run decided under (%s): the service refused it or has not reloaded it yet (warden audit events --kind policy_reload); the limits below are the file's",
				shortHash(pol.Hash()), shortHash(inForce))
		}
	}
	return status.Build(ctx, v.st, in)
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// makeLimit, policyParams and restorePaperAccount are agent/status's.
var (
	makeLimit           = status.MakeLimit
	policyParams        = status.PolicyParams
	restorePaperAccount = status.RestorePaperAccount
)

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
	if x := r.ExchangePause; x != nil {
		p.f("exchange      %s until %s: nothing is sent to it before then (%s)\n", strings.ReplaceAll(x.Kind, "_", " "), ts(x.Until), x.Reason)
	}
	p.f("policy        %s\n", r.Policy)
	if r.PolicyNote != "" {
		p.f("              NOTE: %s\n", r.PolicyNote)
	}

	if a := r.Account; a == nil {
		p.f("\nno decision recorded yet: no account, positions or limits to show\n")
	} else {
		p.f("\naccount (%s; marks: mid at the last decision, %s)\n", a.Source, ts(a.MarksAt))
		p.f("equity        %s %s (peak %s, day start %s)\n", a.Equity.StringFixed(2), a.Quote, a.PeakEquity.StringFixed(2), a.DayStart.StringFixed(2))
		p.f("cash          %s %s (free %s)\n", a.Cash.StringFixed(2), a.Quote, a.Free.StringFixed(2))
		p.f("day PnL       %s %s (%s %%)\n", signed(a.DayPnL, 2), a.Quote, signed(a.DayPnLPct, 2))
		p.f("exposure      %s %s\n", a.Exposure.StringFixed(2), a.Quote)
		switch {
		case len(r.Limits) == 0:
		case r.PolicyNote != "":
			p.f("\nlimits (the policy file on disk, NOT the one in force: see the note)\n")
		default:
			p.f("\nlimits (policy in force)\n")
		}
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
	} else if r.Clock == "replay" {
		p.f("next run      decides at %s, the replay's next candle (the schedule %s says when it runs)\n", ts(r.NextRun), r.Schedule)
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
// signed writes a figure with its sign (status.Signed).
var signed = status.Signed

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// replayStep is the candle of timeframe tf (0 when it is not one): on the
// offline replay's clock, what one run advances.
func replayStep(tf string) time.Duration {
	step, _ := market.Step(tf)
	return step
}
