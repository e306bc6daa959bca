package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent/audit"
)

// runFilterFlags are the filters of `audit runs` and `audit export --runs`.
type runFilterFlags struct {
	since, until, status, mode, advisor, model, run string
	limit                                           int
}

func (f *runFilterFlags) register(cmd *cobra.Command, limit int) {
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "", "runs started at or after this RFC 3339 time, date, or this long ago (24h, 7d)")
	fl.StringVar(&f.until, "until", "", "runs started before this RFC 3339 time, date, or this long ago")
	fl.StringVar(&f.status, "status", "", "only runs with this outcome (ok, failed, killed, safe_mode, unfinished) or recorded status (advisor_error, skipped...)")
	fl.StringVar(&f.mode, "mode", "", "only this mode (paper, live, backtest)")
	fl.StringVar(&f.advisor, "advisor", "", "only this advisor (openai, baseline, replay)")
	fl.StringVar(&f.model, "model", "", "only this model")
	fl.StringVar(&f.run, "run", "", "only this run id")
	fl.IntVar(&f.limit, "limit", limit, "at most this many runs (0: all)")
}

func (f *runFilterFlags) filter(now time.Time) (audit.RunFilter, error) {
	from, to, err := auditWindow(f.since, f.until, f.limit, now)
	if err != nil {
		return audit.RunFilter{}, err
	}
	if strings.ContainsAny(f.status, " ,") {
		return audit.RunFilter{}, fmt.Errorf("--status %q: give one outcome or status", f.status)
	}
	return audit.RunFilter{From: from, To: to, RunID: f.run, Status: f.status, Mode: f.mode, Advisor: f.advisor, Model: f.model, Limit: f.limit}, nil
}

// eventFilterFlags are the filters of `audit events` and `audit export
// --events`.
type eventFilterFlags struct {
	since, until, state, symbol, run string
	kinds                            []string
	limit                            int
}

func (f *eventFilterFlags) register(cmd *cobra.Command, limit int) {
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "", "events at or after this RFC 3339 time, date, or this long ago (24h, 7d)")
	fl.StringVar(&f.until, "until", "", "events before this RFC 3339 time, date, or this long ago")
	fl.StringSliceVar(&f.kinds, "kind", nil, "only these kinds, repeated or comma-separated (kill_switch, safe_mode, breaker, policy_reload, reconcile, snapshot_rejected, error...; --kinds lists those recorded)")
	fl.StringVar(&f.state, "state", "", "only this state (on, off, tripped, refused, findings, failed...)")
	fl.StringVar(&f.symbol, "symbol", "", "only this symbol")
	fl.StringVar(&f.run, "run", "", "only events of this run")
	fl.IntVar(&f.limit, "limit", limit, "at most this many events (0: all)")
}

func (f *eventFilterFlags) filter(now time.Time) (audit.EventFilter, error) {
	from, to, err := auditWindow(f.since, f.until, f.limit, now)
	if err != nil {
		return audit.EventFilter{}, err
	}
	var kinds []string
	for _, k := range f.kinds {
		if k = strings.TrimSpace(k); k != "" {
			kinds = append(kinds, k)
		}
	}
	return audit.EventFilter{From: from, To: to, Kinds: kinds, State: f.state, Symbol: f.symbol, RunID: f.run, Limit: f.limit}, nil
}

func newAuditRunsCmd(a *app) *cobra.Command {
	var (
		db     string
		asJSON bool
		ff     runFilterFlags
	)
	cmd := &cobra.Command{
		Use:   "runs [--since T] [--until T] [--status S] [--mode M] [--advisor A] [--model M] [--run ID] [--limit N] [--json]",
		Short: "List runs, newest first, with what each came to and why: failed cycles included",
		Long: `runs lists every recorded run (one cycle of warden run, or of run --once),
newest first, with its outcome and the reason:

  ok          the cycle ran; approvals and rejections are normal outcomes
  failed      the model failed (HTTP error, refusal, timeout, malformed answer),
              market data was refused, the exchange or the store failed, or an
              approved order could not be placed
  killed      it ran under the kill switch: nothing could be placed
  safe_mode   it ran in safe mode: only sells that reduce a position
  unfinished  it started and never ended: the process died (or is still running)

These are the outcomes warden run --once turns into its exit code (0, 1, 3).
--status takes an outcome or a recorded status (advisor_error, skipped...).
warden audit show RUN_ID tells a run's whole story.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			f, err := ff.filter(time.Now())
			if err != nil {
				return usageErr(err)
			}
			st, err := openAudit(cmd, db)
			if err != nil {
				return err
			}
			defer st.Close()
			defer unchanged(st, &err)
			now, err := a.auditNow(cmd.Context(), st, ff.since, ff.until)
			if err != nil {
				return err
			}
			if f, err = ff.filter(now); err != nil {
				return usageErr(err)
			}
			rows, err := st.ListRuns(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, rows)
			}
			return writeRunTable(a.stdout, rows)
		},
	}
	cmd.Flags().StringVar(&db, "db", defaultAuditDB, "audit database")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	ff.register(cmd, 50)
	return cmd
}

func writeRunTable(w io.Writer, rows []audit.RunRow) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no runs recorded")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STARTED\tRUN ID\tOUTCOME\tSTATUS\tADVISOR\tDECISIONS\tORDERS\tREASON")
	for _, r := range rows {
		reason := r.Reason
		if reason == "" && len(r.OrderErrors) > 0 {
			reason = strings.Join(r.OrderErrors, "; ")
		}
		outcome := r.Outcome
		if r.Level != "" && r.Level != "active" && r.Level != r.Outcome {
			outcome += "/" + r.Level // e.g. ok/reduce, failed/safe_mode
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.StartedAt.UTC().Format(time.RFC3339), r.RunID, outcome, dash(r.Status),
			dash(r.Advisor), dash(audit.DecisionCounts(r.Decisions)), r.Orders, dash(oneLine(reason, 160)))
	}
	return tw.Flush()
}

// oneLine keeps a text on one table line: newlines and tabs become spaces,
// and it is cut at max runes with "…".
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

func newAuditEventsCmd(a *app) *cobra.Command {
	var (
		db            string
		asJSON, kinds bool
		ff            eventFilterFlags
	)
	cmd := &cobra.Command{
		Use:   "events [--since T] [--until T] [--kind K,...] [--state S] [--symbol S] [--run ID] [--limit N] [--json] [--kinds]",
		Short: "List events, newest first: kill switch, safe mode, breakers, policy reloads, reconciliation, errors",
		Long: `events lists what happened beside the decisions, newest first: the kill switch
and safe mode turned on and off (and by whom, why), breaker trips and level
changes, policy reloads taken or refused, reconciliation findings (foreign
orders, contradictions, balance differences, unresolved orders), snapshots
refused, protective stops that could not be placed, tampering found. Every
kind recorded is listed, including kinds this version does not name;
--kinds lists the kinds recorded with their counts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			f, err := ff.filter(time.Now())
			if err != nil {
				return usageErr(err)
			}
			st, err := openAudit(cmd, db)
			if err != nil {
				return err
			}
			defer st.Close()
			defer unchanged(st, &err)
			now, err := a.auditNow(cmd.Context(), st, ff.since, ff.until)
			if err != nil {
				return err
			}
			if f, err = ff.filter(now); err != nil {
				return usageErr(err)
			}
			if kinds {
				counts, err := st.EventKinds(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, counts)
				}
				return writeKinds(a.stdout, counts)
			}
			rows, err := st.ListEvents(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, rows)
			}
			return writeEventTable(a.stdout, rows)
		},
	}
	cmd.Flags().StringVar(&db, "db", defaultAuditDB, "audit database")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	cmd.Flags().BoolVar(&kinds, "kinds", false, "list the event kinds recorded, with their counts")
	ff.register(cmd, 50)
	return cmd
}

func writeKinds(w io.Writer, counts map[string]int) error {
	if len(counts) == 0 {
		_, err := fmt.Fprintln(w, "no events recorded")
		return err
	}
	names := make([]string, 0, len(counts))
	for k := range counts {
		names = append(names, k)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tEVENTS")
	for _, k := range names {
		fmt.Fprintf(tw, "%s\t%d\n", k, counts[k])
	}
	return tw.Flush()
}

func writeEventTable(w io.Writer, rows []audit.EventRow) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no events recorded")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tSTATE\tSYMBOL\tRUN ID\tDETAIL")
	for _, e := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), e.Kind, dash(e.State), dash(e.Symbol), dash(e.RunID), dash(oneLine(string(e.Detail), 200)))
	}
	return tw.Flush()
}

// exportWhat checks the export flags that choose what is exported and
// that the filters given apply to it.
func exportWhat(cmd *cobra.Command, records, runs, events bool) (string, error) {
	what := "decisions"
	n := 0
	for _, c := range []struct {
		on   bool
		name string
	}{{records, "records"}, {runs, "runs"}, {events, "events"}} {
		if c.on {
			what = c.name
			n++
		}
	}
	if n > 1 {
		return "", errors.New("--records, --runs and --events: choose one")
	}
	allowed := map[string][]string{
		"decisions": {"since", "until", "symbol", "decision", "rule", "advisor", "model", "run", "limit"},
		"runs":      {"since", "until", "status", "mode", "advisor", "model", "run", "limit"},
		"events":    {"since", "until", "kind", "state", "symbol", "run", "limit"},
		"records":   {},
	}[what]
	var bad []string
	for _, name := range []string{"since", "until", "symbol", "decision", "rule", "advisor", "model", "run", "limit", "status", "mode", "kind", "state"} {
		if cmd.Flags().Changed(name) && !contains(allowed, name) {
			bad = append(bad, "--"+name)
		}
	}
	if len(bad) > 0 {
		return "", fmt.Errorf("%s does not filter %s", strings.Join(bad, ", "), what)
	}
	return what, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
