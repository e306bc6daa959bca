package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

const defaultAuditDB = "warden.db"

func newAuditCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read the audit log: decisions, runs (failed cycles included), events; export and verify",
		Long: `The audit log is the SQLite database every run writes (./warden.db unless
--db says otherwise): every run and how it ended, every prompt and raw model
response, every verdict with each rule's result, every order event and fill,
every event and notification.

These commands open it read-only and write nothing, not even SQLite's -wal and
-shm files when no process has it open: they work on an archived copy and in
a read-only directory.

With --config, the secrets the config names (its *_env variables) are masked
in everything printed, as for warden run, and its db is the database unless
--db is given.`,
	}
	var cfgPath string
	cmd.PersistentFlags().StringVar(&cfgPath, "config", "", "YAML config file: its secrets are masked in the output, its db read unless --db is given")
	cmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if cfgPath == "" {
			return nil
		}
		cfg, err := loadConfig(cfgPath)
		if err != nil {
			return usageErr(err)
		}
		a.addSecrets(cfg)
		a.auditWallClock = !cfg.ReplaysBundled()
		if f := cmd.Flags().Lookup("db"); f != nil && !f.Changed && cfg.DB != "" {
			if err := f.Value.Set(cfg.DB); err != nil {
				return usageErr(err)
			}
			a.auditArchiveDir = cfg.Audit.ArchiveDirFor(cfg.DB)
			// archive writes where retention writes: the config's
			// audit.archive_dir, for the config's database.
			if d := cmd.Flags().Lookup("dir"); d != nil && !d.Changed {
				if err := d.Value.Set(cfg.Audit.ArchiveDirFor(cfg.DB)); err != nil {
					return usageErr(err)
				}
			}
		}
		return nil
	}
	cmd.AddCommand(newAuditListCmd(a), newAuditShowCmd(a), newAuditRunsCmd(a), newAuditEventsCmd(a), newAuditExportCmd(a), newAuditVerifyCmd(a), newAuditArchiveCmd(a))
	return cmd
}

// auditFilterFlags are the decision filters shared by list and export.
type auditFilterFlags struct {
	since, until, symbol, decision, rule, advisor, model, run string
	limit                                                     int
}

func (f *auditFilterFlags) register(cmd *cobra.Command, limit int) {
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "", "decisions at or after this RFC 3339 time, or this long ago (24h, 7d)")
	fl.StringVar(&f.until, "until", "", "decisions before this RFC 3339 time, or this long ago")
	fl.StringVar(&f.symbol, "symbol", "", "only this symbol (BTC/USDT)")
	fl.StringVar(&f.decision, "decision", "", "only this decision: approved, rejected or no_action")
	fl.StringVar(&f.rule, "rule", "", "only decisions in which this rule failed or warned")
	fl.StringVar(&f.advisor, "advisor", "", "only this advisor (openai, baseline, replay)")
	fl.StringVar(&f.model, "model", "", "only this model")
	fl.StringVar(&f.run, "run", "", "only this run id")
	fl.IntVar(&f.limit, "limit", limit, "at most this many decisions (0: all)")
}

func (f *auditFilterFlags) filter(now time.Time) (audit.Filter, error) {
	from, to, err := auditWindow(f.since, f.until, f.limit, now)
	if err != nil {
		return audit.Filter{}, err
	}
	switch d := schemas.Decision(f.decision); d {
	case "", schemas.DecisionApproved, schemas.DecisionRejected, schemas.DecisionNoAction:
	default:
		return audit.Filter{}, fmt.Errorf("--decision %q: want approved, rejected or no_action", f.decision)
	}
	return audit.Filter{From: from, To: to, RunID: f.run, Symbol: f.symbol, Decision: schemas.Decision(f.decision),
		Rule: f.rule, Advisor: f.advisor, Model: f.model, Limit: f.limit}, nil
}

// auditWindow reads the --since, --until and --limit flags every audit
// listing shares.
func auditWindow(since, until string, limit int, now time.Time) (from, to time.Time, err error) {
	if from, err = parseAuditTime("--since", since, now); err != nil {
		return time.Time{}, time.Time{}, err
	}
	if to, err = parseAuditTime("--until", until, now); err != nil {
		return time.Time{}, time.Time{}, err
	}
	if limit < 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("--limit %d: want 0 or more", limit)
	}
	return from, to, nil
}

// parseAuditTime reads a time flag: "" (no bound), an RFC 3339 time, a
// date (2024-01-10, UTC), or a duration back from now (90m, 24h, 7d).
func parseAuditTime(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	// Records are stamped in Unix nanoseconds: 1678..2262. A time outside
	// what an audit can hold, or a duration reaching past it, would wrap
	// around (150000d ago once meant the year 2200), so it is refused.
	inRange := func(t time.Time) (time.Time, error) {
		if t.Year() < 1700 || t.Year() > 2200 {
			return time.Time{}, fmt.Errorf("%s %q: %s is outside the years 1700..2200 an audit record can carry", flag, s, t.UTC().Format(time.DateOnly))
		}
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return inRange(t)
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return inRange(t)
	}
	bad := fmt.Errorf("%s %q: want an RFC 3339 time, a date (2024-01-10) or a duration like 24h or 7d", flag, s)
	const maxAgo = 100 * 365 * 24 * time.Hour
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return time.Time{}, bad
		}
		if int64(n) > int64(maxAgo/(24*time.Hour)) {
			return time.Time{}, fmt.Errorf("%s %q: at most %dd (a hundred years) ago", flag, s, maxAgo/(24*time.Hour))
		}
		return inRange(now.Add(-time.Duration(n) * 24 * time.Hour))
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, bad
	}
	if d > maxAgo {
		return time.Time{}, fmt.Errorf("%s %q: at most %dd (a hundred years) ago", flag, s, maxAgo/(24*time.Hour))
	}
	return inRange(now.Add(-d))
}

// openAudit opens the audit database read-only; a missing file is an
// unusable input (exit 2), never created.
func openAudit(cmd *cobra.Command, db string) (*audit.Store, error) {
	st, err := audit.Open(cmd.Context(), db, audit.Options{ReadOnly: true})
	if err != nil {
		return nil, usageErr(err)
	}
	return st, nil
}

// unchanged makes a read fail (exit 1, read again) when the database,
// read as immutable because no writer had it open, was changed by a writer
// that started meanwhile.
func unchanged(st *audit.Store, err *error) {
	if uerr := st.Unchanged(); uerr != nil {
		*err = &exitError{Code: exitFailed, Err: uerr}
	}
}

func newAuditListCmd(a *app) *cobra.Command {
	var (
		db, archiveDir string
		asJSON         bool
		ff             auditFilterFlags
	)
	cmd := &cobra.Command{
		Use:   "list [--since T] [--until T] [--symbol S] [--decision D] [--rule R] [--advisor A] [--model M] [--limit N] [--json]",
		Short: "List recorded decisions, newest first",
		Args:  cobra.NoArgs,
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
			st, done, err := withArchive(cmd, st, archiveDir)
			if err != nil {
				return err
			}
			defer done()
			rows, err := st.List(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON {
				if rows == nil {
					rows = []audit.DecisionRow{}
				}
				return writeJSON(a.stdout, rows)
			}
			return writeDecisionTable(a.stdout, rows)
		},
	}
	cmd.Flags().StringVar(&db, "db", defaultAuditDB, "audit database")
	cmd.Flags().StringVar(&archiveDir, "archive", "", "also read the sealed archives in this directory (warden audit archive), as one history with the database")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	ff.register(cmd, 50)
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func writeDecisionTable(w io.Writer, rows []audit.DecisionRow) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no decisions recorded")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tDECISION ID\tSYMBOL\tACTION\tDECISION\tADVISOR\tMODEL\tORDER\tFAILED RULES")
	for _, d := range rows {
		order := "-"
		if o := d.Verdict.Order; o != nil {
			order = fmt.Sprintf("%s %s @ %s", o.Side, o.Quantity, o.Price)
		}
		rules := strings.Join(d.FailedRules(), ", ")
		if rules == "" {
			rules = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.At.UTC().Format(time.RFC3339), d.DecisionID, d.Symbol,
			d.Action, d.Decision, dash(d.Advisor), dash(d.Model), order, rules)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newAuditShowCmd(a *app) *cobra.Command {
	var (
		db, archiveDir string
		asJSON         bool
	)
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show the whole story of a run or a decision (RUN or RUN:INDEX)",
		Long: `show prints everything recorded about one run (give its id) or one decision
(give RUN:INDEX, as 'audit list' prints it): the run's configuration, each
prompt sent and raw response received (every retry), the rationale, each
rule's result, the order with its lifecycle and fills, events, and the
notifications with their delivery attempts.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			st, err := openAudit(cmd, db)
			if err != nil {
				return err
			}
			defer st.Close()
			defer unchanged(st, &err)
			st, done, err := withArchive(cmd, st, archiveDir)
			if err != nil {
				return err
			}
			defer done()
			story, err := st.Show(cmd.Context(), args[0])
			if errors.Is(err, audit.ErrNotFound) {
				return usageErr(archivedHint(cmd.Context(), st, db, archiveDir, a.auditArchiveDir, err))
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, story)
			}
			return writeStory(a.stdout, story)
		},
	}
	cmd.Flags().StringVar(&db, "db", defaultAuditDB, "audit database")
	cmd.Flags().StringVar(&archiveDir, "archive", "", "also read the sealed archives in this directory (warden audit archive), as one history with the database")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// archivedHint adds to a "not found" from the live database alone that
// records were archived, and where the archives likely are: an id from
// before the archive's date is in them.
// configDir is the config's audit.archive_dir, when --config named one.
func archivedHint(ctx context.Context, st *audit.Store, db, archiveDir, configDir string, err error) error {
	if archiveDir != "" {
		return err
	}
	archived, aerr := st.HasArchived(ctx)
	if aerr != nil || !archived {
		return err
	}
	dir := configDir
	if dir == "" {
		dir = defaultArchiveDir(db)
	}
	if _, serr := os.Stat(dir); serr != nil {
		dir = "DIR"
	}
	return fmt.Errorf("%w; older records were archived (warden audit archive): if it is older, read the archives with the database: --archive %s", err, dir)
}

// storyWriter prints a Story for a reader; write errors are kept and
// returned once.
type storyWriter struct {
	w   io.Writer
	err error
}

func (p *storyWriter) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// block prints text indented, so multi-line prompts stay readable.
func (p *storyWriter) block(text string) {
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		p.f("    %s\n", line)
	}
}

func writeStory(w io.Writer, s audit.Story) error {
	p := &storyWriter{w: w}
	p.f("%s %s\n", s.Kind, s.ID)
	if r := s.Run; r != nil {
		p.f("\n== run %s\n", r.ID)
		p.f("started   %s\nmode      %s\nadvisor   %s\nmodel     %s\npolicy    %s\n", r.StartedAt.UTC().Format(time.RFC3339), r.Mode, r.Advisor, dash(r.Model), r.PolicyHash)
		for name, h := range r.PromptHashes {
			p.f("prompt    %s %s\n", name, h)
		}
		if len(r.Config) > 0 {
			p.f("config    %s\n", r.Config)
		}
	}
	if e := s.End; e != nil {
		p.f("ended     %s status %s", e.EndedAt.UTC().Format(time.RFC3339), e.Status)
		if len(e.Summary) > 0 {
			p.f(" %s", e.Summary)
		}
		p.f("\n")
		// Run-level warnings (a universe symbol the response left out).
		var sum struct {
			Warnings []schemas.Violation `json:"warnings"`
		}
		if json.Unmarshal(e.Summary, &sum) == nil {
			for _, v := range sum.Warnings {
				p.f("warning   %s [%s]: %s\n", v.Rule, v.Source, v.Message)
			}
		}
	}
	for _, c := range s.LLMCalls {
		p.f("\n== model call %d: %s %s", c.Attempt, c.Advisor, c.Model)
		if c.BaseURL != "" {
			p.f(" at %s", c.BaseURL)
		}
		p.f(": %s", dash(c.Status))
		if c.HTTPStatus != 0 {
			p.f(", HTTP %d", c.HTTPStatus)
		}
		p.f(", %s, %d tokens", c.Latency.Round(time.Millisecond), c.TotalTokens)
		if c.FinishReason != "" {
			p.f(", finish %s", c.FinishReason)
		}
		if !c.SentAt.IsZero() {
			p.f(", sent %s by the wall clock", c.SentAt.UTC().Format(time.RFC3339))
		}
		p.f("\n")
		if c.Error != "" {
			p.f("error: %s\n", c.Error)
		}
		p.f("-- prompt (hash %s)\n", dash(c.PromptHash))
		writePrompt(p, c.Request)
		p.f("-- raw response\n")
		p.block(c.Response)
	}
	for i, r := range s.Responses {
		p.f("\n== response %d: valid %v\n", i+1, r.Valid)
		for _, v := range r.SchemaErrors {
			p.f("schema error %s at %s: %s\n", v.Rule, dash(v.Pointer), v.Message)
		}
		if r.Parsed != nil {
			p.f("-- rationale\n")
			p.block(r.Parsed.Rationale)
		} else {
			p.f("-- raw\n")
			p.block(r.Raw)
		}
	}
	for _, d := range s.Decisions {
		p.f("\n== decision %s: %s %s -> %s (policy %s)\n", d.DecisionID, d.Action, d.Symbol, strings.ToUpper(string(d.Decision)), d.PolicyHash)
		if len(d.Recommendation) > 0 && string(d.Recommendation) != "null" {
			p.f("recommendation %s\n", d.Recommendation)
		}
		var state schemas.State
		if len(d.State) > 0 && json.Unmarshal(d.State, &state) == nil {
			p.f("state     at %s, %s, equity %s, cash %s, %d position(s), kill switch %v, safe mode %v\n", state.Now.UTC().Format(time.RFC3339), dash(state.Mode),
				state.Account.Equity, state.Account.Cash, len(state.Account.Positions), state.KillSwitch, state.SafeMode)
		}
		if o := d.Verdict.Order; o != nil {
			p.f("order     %s %s %s %s @ %s (notional %s)\n", o.Type, o.Side, o.Quantity, o.Symbol, o.Price, o.Notional)
		}
		for _, v := range d.Verdict.Violations {
			p.f("VIOLATED  %s [%s]: %s\n", v.Rule, v.Source, v.Message)
		}
		for _, v := range d.Verdict.Warnings {
			p.f("warning   %s [%s]: %s\n", v.Rule, v.Source, v.Message)
		}
		for _, r := range d.Verdict.Rules {
			status := "pass"
			switch {
			case r.NotApplicable:
				status = "n/a"
			case !r.Passed:
				status = "FAIL"
			}
			p.f("rule      %-4s %s (%s)", status, r.Name, r.Mode)
			if r.Message != "" {
				p.f(": %s", r.Message)
			}
			if r.Error != "" {
				p.f(" error: %s", r.Error)
			}
			p.f("\n")
		}
		for _, o := range d.Orders {
			p.f("-- order %s\n", o.ClientOrderID)
			for _, ev := range o.Events {
				p.f("   %s %-16s %s %s %s @ %s", ev.At.UTC().Format(time.RFC3339), ev.State, ev.Role, ev.Side, ev.Quantity, orderPrice(ev))
				if ev.FilledQty.IsPositive() {
					// What was filled and at what price: the order's
					// limit is not the price paid.
					p.f(", filled %s at avg %s", ev.FilledQty, ev.AvgPrice)
					if ev.Fee.IsPositive() {
						p.f(", fee %s %s", ev.Fee, ev.FeeCurrency)
					}
				}
				if ev.Reason != "" {
					p.f(" (%s)", ev.Reason)
				}
				p.f("\n")
			}
			for _, f := range o.Fills {
				p.f("   fill %s %s %s @ %s fee %s %s\n", f.Time.UTC().Format(time.RFC3339), f.Side, f.Quantity, f.Price, f.Fee, f.FeeCurrency)
			}
		}
	}
	for _, e := range s.Events {
		p.f("\n== event %s %s at %s", e.Kind, e.State, e.At.UTC().Format(time.RFC3339))
		if len(e.Detail) > 0 {
			p.f(": %s", e.Detail)
		}
		p.f("\n")
	}
	for _, n := range s.Notifications {
		p.f("\n== notification %d to %s (%s): %s\n", n.ID, n.Channel, n.Kind, n.Title)
		for _, at := range n.Attempts {
			outcome := "failed: " + at.Error
			switch {
			case at.Delivered:
				outcome = "delivered"
			case at.GaveUp:
				outcome = "gave up: " + at.Error
			}
			p.f("   %s %s\n", at.At.UTC().Format(time.RFC3339), outcome)
		}
		if len(n.Attempts) == 0 {
			p.f("   pending\n")
		}
	}
	return p.err
}

// writePrompt prints the messages of a chat request ({"messages": [...]}),
// or each text of a {"name": "text", ...} object, or the request as it is.
func writePrompt(p *storyWriter, request string) {
	var chat struct {
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(request), &chat); err == nil && len(chat.Messages) > 0 {
		for _, m := range chat.Messages {
			p.f("  [%s]\n", m.Role)
			p.block(m.Content)
		}
		return
	}
	var texts map[string]string
	if err := json.Unmarshal([]byte(request), &texts); err == nil && len(texts) > 0 {
		names := make([]string, 0, len(texts))
		for name := range texts {
			names = append(names, name)
		}
		// system before user, as they are sent.
		sort.Strings(names)
		for _, name := range names {
			p.f("  [%s]\n", name)
			p.block(texts[name])
		}
		return
	}
	p.block(request)
}

func newAuditExportCmd(a *app) *cobra.Command {
	var (
		db, format, out       string
		archiveDir            string
		records, runs, events bool
		status, mode, state   string
		kinds                 []string
		ff                    auditFilterFlags
	)
	cmd := &cobra.Command{
		Use:   "export --format jsonl|csv [--out FILE] [--runs | --events | --records] [filters]",
		Short: "Export recorded decisions, runs or events as JSON lines or CSV, oldest first",
		Long: `export writes the recorded decisions matching the filters, oldest first: JSON
lines (one decision with its verdict, rule results and recommendation per
line) or CSV (one row per decision, failed rules joined by ";").

--runs writes the runs instead (as warden audit runs lists them: outcome,
status, reason; filters --since --until --status --mode --advisor --model
--run --limit), --events the events (as warden audit events; filters --since
--until --kind --state --symbol --run --limit).

--records writes instead every record of the audit log as JSON lines, with
its hash chain (seq, prev_hash, hash), for archiving or checking elsewhere.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			what, err := exportWhat(cmd, records, runs, events)
			if err != nil {
				return usageErr(err)
			}
			if records && format != audit.FormatJSONL {
				return usageErr(errors.New("--records writes JSON lines only"))
			}
			if format != audit.FormatJSONL && format != audit.FormatCSV {
				return usageErr(fmt.Errorf("--format %q: want jsonl or csv", format))
			}
			now := time.Now()
			var (
				f  audit.Filter
				rf audit.RunFilter
				ef audit.EventFilter
			)
			filters := func(now time.Time) (err error) {
				switch what {
				case "runs":
					rff := runFilterFlags{since: ff.since, until: ff.until, status: status, mode: mode, advisor: ff.advisor, model: ff.model, run: ff.run, limit: ff.limit}
					rf, err = rff.filter(now)
				case "events":
					eff := eventFilterFlags{since: ff.since, until: ff.until, kinds: kinds, state: state, symbol: ff.symbol, run: ff.run, limit: ff.limit}
					ef, err = eff.filter(now)
				default:
					f, err = ff.filter(now)
				}
				return err
			}
			if err := filters(now); err != nil {
				return usageErr(err)
			}
			if out != "" && out != "-" {
				if err := exportTarget(out, db, archiveDir); err != nil {
					return usageErr(err)
				}
			}
			st, err := openAudit(cmd, db)
			if err != nil {
				return err
			}
			defer st.Close()
			defer unchanged(st, &err)
			if now, err = a.auditNow(cmd.Context(), st, ff.since, ff.until); err != nil {
				return err
			}
			if err := filters(now); err != nil {
				return usageErr(err)
			}
			st, done, err := withArchive(cmd, st, archiveDir)
			if err != nil {
				return err
			}
			defer done()
			w := a.stdout
			if out != "" && out != "-" {
				file, err := os.Create(out)
				if err != nil {
					return usageErr(err)
				}
				defer func() {
					if cerr := file.Close(); err == nil {
						err = cerr
					}
				}()
				w = file
			}
			switch what {
			case "records":
				return st.ExportRecords(cmd.Context(), w)
			case "runs":
				return st.ExportRuns(cmd.Context(), w, format, rf)
			case "events":
				return st.ExportEvents(cmd.Context(), w, format, ef)
			}
			return st.Export(cmd.Context(), w, format, f)
		},
	}
	cmd.Flags().StringVar(&db, "db", defaultAuditDB, "audit database")
	cmd.Flags().StringVar(&archiveDir, "archive", "", "also read the sealed archives in this directory (warden audit archive), as one history with the database")
	cmd.Flags().StringVar(&format, "format", audit.FormatJSONL, "jsonl or csv")
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of stdout")
	cmd.Flags().BoolVar(&records, "records", false, "export every raw record with its hash chain (JSON lines) instead of decisions")
	cmd.Flags().BoolVar(&runs, "runs", false, "export runs (outcome, status, reason) instead of decisions")
	cmd.Flags().BoolVar(&events, "events", false, "export events instead of decisions")
	cmd.Flags().StringVar(&status, "status", "", "--runs: only this outcome or recorded status")
	cmd.Flags().StringVar(&mode, "mode", "", "--runs: only this mode")
	cmd.Flags().StringSliceVar(&kinds, "kind", nil, "--events: only these kinds")
	cmd.Flags().StringVar(&state, "state", "", "--events: only this state")
	ff.register(cmd, 0)
	return cmd
}

func newAuditVerifyCmd(a *app) *cobra.Command {
	var (
		db, expectHead, archiveDir string
		asJSON                     bool
	)
	cmd := &cobra.Command{
		Use:   "verify [--json]",
		Short: "Check the hash chain over every record; exit 1 naming the first broken record",
		Long: `verify recomputes the hash chain that links every audit record to the one
before it. An edited record, a deleted record (a gap in the sequence) or a
record moved or rewritten is reported by its sequence number, kind and id,
and the command exits 1. It prints the head (last seq and hash) when the
chain is whole: note it, since removing records from the very end leaves a
shorter chain that is still whole. --expect-head SEQ:HASH (a head noted
earlier, or the one published every day to the notification channels)
finds that: the record SEQ must still be there with that hash.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			opts, err := verifyOptions(expectHead)
			if err != nil {
				return &exitError{Code: exitUsage, Err: err}
			}
			st, err := openAudit(cmd, db)
			if err != nil {
				return err
			}
			defer st.Close()
			defer unchanged(st, &err)
			var (
				rep audit.VerifyReport
				out any
			)
			var ar audit.ArchiveReport
			if archiveDir != "" {
				// A mistyped directory is not missing archives: only a
				// directory that exists and lacks a file the chain names
				// is a finding.
				if err := archiveDirExists(archiveDir); err != nil {
					return err
				}
				ar, err = st.VerifyArchives(cmd.Context(), archiveDir, opts)
				rep, out = ar.VerifyReport, ar
			} else {
				rep, err = st.VerifyWith(cmd.Context(), opts)
				out = rep
			}
			// A bare hash carries no seq to tell whether it was archived:
			// when no record in the database has it and records were
			// archived, it is looked up in the archives where they go
			// (the config's audit.archive_dir, or archive/ beside the
			// database), verified with the database as one chain, and
			// compared there as SEQ:HASH would be.
			lookedUp := ""
			if archiveDir == "" && opts.ExpectSeq == 0 && errors.Is(err, audit.ErrHeadArchived) {
				dir := a.auditArchiveDir
				if dir == "" {
					dir = defaultArchiveDir(db)
				}
				if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
					ar, err = st.VerifyArchives(cmd.Context(), dir, opts)
					rep, out, lookedUp = ar.VerifyReport, ar, dir
				} else {
					err = fmt.Errorf("%w (no archive directory at %s)", err, dir)
				}
			}
			if errors.Is(err, audit.ErrHeadArchived) || errors.Is(err, audit.ErrNoArchiveDir) {
				return &exitError{Code: exitUsage, Err: err}
			}
			if err != nil {
				return err
			}
			if asJSON {
				if err := writeJSON(a.stdout, out); err != nil {
					return err
				}
			} else if rep.OK {
				fmt.Fprintf(a.stdout, "ok: %d records, chain whole; head seq %d hash %s\n", rep.Records, rep.HeadSeq, dash(rep.HeadHash))
				if lookedUp != "" {
					fmt.Fprintf(a.stdout, "expected head found in the archives: %d file(s) in %s verified with the database as one chain\n", len(ar.Files), lookedUp)
				}
				if archiveDir != "" {
					fmt.Fprintf(a.stdout, "archives: %d file(s) in %s verified with the database as one chain\n", len(ar.Files), archiveDir)
					for _, u := range ar.Unlisted {
						fmt.Fprintf(a.stdout, "note: %s is named by no archive record (an archive that did not complete; its records are all the chain's): not part of the chain\n", u)
					}
					for _, p := range ar.Partial {
						fmt.Fprintf(a.stdout, "note: %s is a partial file of an archive that stopped while writing it: never sealed, not part of the chain (the next archive removes it)\n", p)
					}
				}
			}
			if !asJSON {
				for _, w := range rep.Warnings {
					fmt.Fprintf(a.stdout, "warning: %s\n", w)
				}
			}
			if !rep.OK {
				if lookedUp != "" {
					return &exitError{Code: exitRejected, Err: fmt.Errorf("audit chain broken at %s (the expected head was looked up in the archives in %s too)", rep.Broken, lookedUp)}
				}
				return &exitError{Code: exitRejected, Err: fmt.Errorf("audit chain broken at %s", rep.Broken)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", defaultAuditDB, "audit database")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&expectHead, "expect-head", "", "a head noted earlier (SEQ:HASH or HASH): fail if the chain no longer holds it")
	cmd.Flags().StringVar(&archiveDir, "archive", "", "also verify the sealed archives in this directory, with the database, as one chain")
	return cmd
}

// exportTarget refuses an --out that would overwrite the history being
// read: the database or its WAL and shared-memory files, any other SQLite
// database, a file in the --archive directory, or an archive file. Audit
// commands write nothing else, and a typo must not cost the audit log.
func exportTarget(out, db, archiveDir string) error {
	fi, err := os.Stat(out)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--out %s: %w", out, err)
		}
	} else {
		if fi.IsDir() {
			return fmt.Errorf("--out %s is a directory", out)
		}
		for _, f := range []string{db, db + "-wal", db + "-shm", db + ".lock"} {
			if other, err := os.Stat(f); err == nil && os.SameFile(fi, other) {
				return fmt.Errorf("--out %s is the audit database being read (%s): export writes a new file", out, f)
			}
		}
		if sqliteFile(out) {
			return fmt.Errorf("--out %s is a SQLite database: export writes a new file and never overwrites a database", out)
		}
		if strings.HasPrefix(filepath.Base(out), "warden-audit-") && strings.HasSuffix(out, ".jsonl.gz") {
			return fmt.Errorf("--out %s is an audit archive: export never overwrites one", out)
		}
	}
	if archiveDir != "" {
		dir, derr := filepath.Abs(archiveDir)
		abs, oerr := filepath.Abs(out)
		if derr == nil && oerr == nil && filepath.Dir(abs) == dir {
			return fmt.Errorf("--out %s is in the --archive directory %s: write the export elsewhere", out, archiveDir)
		}
	}
	return nil
}

// orderPrice is what an order event's price column shows: a stop
// order's trigger and limit, a limit order's limit, or "market". (An
// entry's event carries the stop it is to get; that is not its price.)
func orderPrice(ev schemas.OrderEvent) string {
	switch {
	case strings.HasPrefix(ev.Type, "stop") && ev.Price.IsPositive():
		return "stop " + ev.StopPrice.String() + " limit " + ev.Price.String()
	case strings.HasPrefix(ev.Type, "stop"):
		return "stop " + ev.StopPrice.String()
	case ev.Type == "market" || !ev.Price.IsPositive():
		return "market"
	}
	return ev.Price.String()
}
