package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent/audit"
)

// tradeFlags are the flags trades and profit share.
type tradeFlags struct {
	readFlags
	since, symbol string
	asJSON, asCSV bool
	archive       string
}

func (f *tradeFlags) register(cmd *cobra.Command, sinceHelp string) {
	f.readFlags.register(cmd)
	cmd.Flags().StringVar(&f.since, "since", "", sinceHelp)
	cmd.Flags().StringVar(&f.symbol, "symbol", "", "only this symbol (BTC/USDT)")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&f.asCSV, "csv", false, "print CSV")
	cmd.Flags().StringVar(&f.archive, "archive", "", "also read the sealed archives in this directory (warden audit archive): every fill since the first, with the database")
}

// tradesData is the book read from the database with what values it.
type tradesData struct {
	view  *readView
	book  audit.Book
	marks audit.Marks
	// marksAt is the time of the decision whose mids are the marks.
	marksAt time.Time
	from    time.Time
	// archived is set when older records were moved to archive files
	// not read (no --archive): the trips and costs before them are
	// incomplete here.
	archived bool
	// done closes the view (and the archives' merged copy).
	done func()
}

// close closes what load opened.
func (d *tradesData) close() {
	if d.done != nil {
		d.done()
	}
	d.view.st.Close()
}

// warnArchived says on stderr that the history summed is not whole.
func (d *tradesData) warnArchived(w io.Writer) {
	if d.archived {
		fmt.Fprintln(w, "warning: older records of this database were moved to archive files: closed trips, their fills and costs from before the archive are missing here (open positions keep their orders); add --archive DIR to read them")
	}
}

func (f *tradeFlags) load(cmd *cobra.Command, a *app) (*tradesData, error) {
	if f.asJSON && f.asCSV {
		return nil, usageErr(errors.New("--json and --csv: give one"))
	}
	v, err := f.open(cmd, a)
	if err != nil {
		return nil, err
	}
	ctx := cmd.Context()
	d := &tradesData{view: v}
	fail := func(err error) (*tradesData, error) { d.close(); return nil, err }
	if f.archive != "" {
		// The archives and the live records as one: every fill since the
		// first, so a position bought before the archive keeps its cost.
		live := v.st
		m, done, err := withArchive(cmd, live, f.archive)
		if err != nil {
			return fail(err)
		}
		v.st, d.done = m, func() { done(); live.Close() }
		if v.clock == "wall" && v.cfg.ReplaysBundled() {
			// The offline replay's clock is its last run, which may be
			// archived.
			if last, ok, err := m.LastRun(ctx); err != nil {
				return fail(err)
			} else if ok {
				v.now, v.clock = last.StartedAt.UTC(), "replay"
			}
		}
	}
	from, err := parseAuditTime("--since", f.since, v.now)
	if err != nil {
		d.close()
		return nil, usageErr(err)
	}
	d.from = from
	state, _, err := v.st.LatestState(ctx)
	if err != nil {
		return fail(err)
	}
	d.marks, d.marksAt = audit.MarksFromState(state), state.Now
	// Every fill is read, whatever --since says: the cost basis of a trip
	// depends on all that came before it.
	fills, err := v.st.FillRecords(ctx, time.Time{}, time.Time{})
	if err != nil {
		return fail(err)
	}
	if f.symbol != "" {
		kept := fills[:0:0]
		for _, fl := range fills {
			if fl.Symbol == f.symbol {
				kept = append(kept, fl)
			}
		}
		fills = kept
	}
	carried, err := v.st.Carried(ctx)
	if err != nil {
		return fail(err)
	}
	if c, ok := carried[f.symbol]; f.symbol != "" {
		carried = nil
		if ok {
			carried = map[string]audit.Carry{f.symbol: c}
		}
	}
	d.book = audit.BuildBookCarried(fills, audit.MinOrderFromState(state), carried)
	if d.archived, err = v.st.HasArchived(ctx); err != nil {
		return fail(err)
	}
	d.archived = d.archived && f.archive == ""
	return d, nil
}

// tradeRow is one round trip as `warden trades` shows it.
type tradeRow struct {
	audit.RoundTrip
	// Unrealised is what the trip still holds (an open position, or the
	// dust a closed one keeps) at the mark, less its cost (zero when it
	// holds nothing or has no mark); Mark the price used.
	Unrealised decimal.Decimal `json:"unrealised"`
	Mark       decimal.Decimal `json:"mark"`
}

func (d *tradesData) trips(ctx context.Context) ([]tradeRow, error) {
	var firsts []string
	rows := []tradeRow{}
	for _, t := range d.book.Trips {
		if !d.from.IsZero() && !t.Open && t.ClosedAt.Before(d.from) {
			continue
		}
		row := tradeRow{RoundTrip: t}
		if t.Open && !t.EntryArchived && d.view.now.After(t.OpenedAt) {
			row.Holding = audit.Duration(d.view.now.Sub(t.OpenedAt))
		}
		if m, ok := d.marks[t.Symbol]; ok && (t.Held.IsPositive() || t.Basis.IsPositive()) {
			// An open trip, or the dust a closed one keeps.
			row.Mark = m
			row.Unrealised = t.Held.Mul(m).Sub(t.Basis)
		}
		// A trip whose buys are archived: its first decision here is not
		// the one that opened it.
		if len(t.DecisionIDs) > 0 && !t.EntryArchived {
			firsts = append(firsts, t.DecisionIDs[0])
		}
		rows = append(rows, row)
	}
	open, err := d.view.st.Openings(ctx, firsts)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		if len(rows[i].DecisionIDs) > 0 && !rows[i].EntryArchived {
			rows[i].Opening = open[rows[i].DecisionIDs[0]]
		}
	}
	return rows, nil
}

func newTradesCmd(a *app) *cobra.Command {
	var f tradeFlags
	cmd := &cobra.Command{
		Use:   "trades [--since T] [--symbol S] [--json | --csv]",
		Short: "Fills grouped into round trips: entry, exit, PnL, fees, slippage, holding time, why",
		Long: `trades groups every recorded fill into round trips, as freqtrade's show-trades
does: a trip opens with the buy that opens a position in a symbol and closes
with the sell that leaves less than the exchange's smallest order (dust stays
held, with its cost, and carries into the next trip). For each: entry and exit
(average prices), quantity, realised PnL in the quote currency after every fee
(cost basis by average cost; an open trip shows its unrealised PnL at the last
decision's mid), fees (a base-asset fee valued at its fill's price), slippage
against the price each order intended (a limit price, a stop's trigger),
holding time, the decisions whose orders filled, and the reason and rationale
of the decision that opened it. Money is decimal, never rounded on the way.

Read-only, from the audit database; --since keeps the trips still open or
closed at or after the time (the cost basis always counts every fill).`,
		Example: `  warden trades
  warden trades --since 7d --symbol BTC/USDT
  warden trades --csv > trades.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			d, err := f.load(cmd, a)
			if err != nil {
				return err
			}
			defer d.close()
			defer unchanged(d.view.st, &err)
			d.warnArchived(a.stderr)
			rows, err := d.trips(cmd.Context())
			if err != nil {
				return err
			}
			switch {
			case f.asJSON:
				return writeJSON(a.stdout, rows)
			case f.asCSV:
				return writeTradesCSV(a.stdout, rows)
			}
			return writeTrades(a.stdout, rows, d)
		},
	}
	f.register(cmd, "only trips open or closed at or after this RFC 3339 time, date, or this long ago (24h, 7d)")
	return cmd
}

func holdingText(d audit.Duration) string {
	t := time.Duration(d)
	if t < time.Minute {
		return t.Round(time.Second).String()
	}
	return roundAgo(t)
}

func writeTrades(w io.Writer, rows []tradeRow, d *tradesData) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no trades: no fill recorded")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSYMBOL\tOPENED\tCLOSED\tHOLDING\tQTY\tENTRY\tEXIT\tPNL\tPNL %\tFEES\tSLIPPAGE\tEXIT BY\tDECISIONS")
	archived := false
	for _, r := range rows {
		closed, pnl, pnlPct, exit := ts(r.ClosedAt), signed(r.Realised, 4), signed(r.RealisedPct, 2), priceText(r.ExitPrice)
		if r.Open {
			closed = "open"
			pnl = signed(r.Realised.Add(r.Unrealised), 4) + "*"
			pnlPct = "-"
		}
		opened, holding, qty := ts(r.OpenedAt), holdingText(r.Holding), r.Bought.String()
		if r.EntryArchived {
			// Its buys are in the archives: what they left, at its cost.
			opened, holding, qty = "archived", "-", r.Bought.Add(r.CarriedIn).String()+"†"
			archived = true
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s (%s bps)\t%s\t%s\n", r.ID, r.Symbol, opened, closed, holding,
			qty, priceText(r.EntryPrice), exit, pnl, pnlPct, r.Fees.StringFixed(4), signed(r.Slippage, 4), r.SlippageBps.StringFixed(2),
			dash(strings.Join(r.ExitRoles, ",")), dash(strings.Join(r.DecisionIDs, ",")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	p := &storyWriter{w: w}
	p.f("\nPnL is in the quote currency after every fee; * open: realised so far plus unrealised at the mid of %s.\n", ts(d.marksAt))
	if archived {
		p.f("† its buys are in the archives (before the live database starts): the quantity they left and its average cost; --archive DIR shows when it opened and how long it was held.\n")
	}
	p.f("\nwhy each trip was opened:\n")
	for _, r := range rows {
		why := r.Opening.Reason
		if r.Opening.Rationale != "" {
			why = strings.TrimSpace(why + " | " + r.Opening.Rationale)
		}
		if r.EntryArchived {
			why = "opened before the live database starts: --archive DIR reads why"
		}
		p.f("  %d  %s\n", r.ID, dash(why))
	}
	return p.err
}

var tradesCSVHeader = []string{"id", "symbol", "open", "opened_at", "closed_at", "holding_s", "bought", "sold", "held", "entry_price", "exit_price",
	"cost", "proceeds", "realised", "realised_pct", "unrealised", "mark", "basis", "fees", "slippage", "slippage_bps", "fills", "exit_roles",
	"decision_ids", "reason", "rationale", "carried_in", "entry_archived"}

func writeTradesCSV(w io.Writer, rows []tradeRow) error {
	cw := audit.NewCSVWriter(w)
	if err := cw.Write(tradesCSVHeader); err != nil {
		return err
	}
	for _, r := range rows {
		closed := ""
		if !r.ClosedAt.IsZero() {
			closed = r.ClosedAt.UTC().Format(time.RFC3339)
		}
		opened, holding := r.OpenedAt.UTC().Format(time.RFC3339), strconv.FormatInt(int64(time.Duration(r.Holding)/time.Second), 10)
		if r.EntryArchived {
			opened, holding = "", "" // in the archives: not known here
		}
		carried := ""
		if r.CarriedIn.IsPositive() {
			carried = r.CarriedIn.String()
		}
		if err := cw.Write([]string{strconv.Itoa(r.ID), r.Symbol, strconv.FormatBool(r.Open), opened, closed,
			holding, r.Bought.String(), r.Sold.String(), r.Held.String(),
			r.EntryPrice.String(), r.ExitPrice.String(), r.Cost.String(), r.Proceeds.String(), r.Realised.String(), r.RealisedPct.String(),
			r.Unrealised.String(), r.Mark.String(), r.Basis.String(), r.Fees.String(), r.Slippage.String(), r.SlippageBps.String(),
			strconv.Itoa(r.Fills), strings.Join(r.ExitRoles, ";"), strings.Join(r.DecisionIDs, ";"), r.Opening.Reason, r.Opening.Rationale,
			carried, strconv.FormatBool(r.EntryArchived)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// profitReport is what `warden profit` shows.
type profitReport struct {
	audit.Profit
	Quote   string    `json:"quote"`
	MarksAt time.Time `json:"marks_at,omitzero"`
	// StartEquity is the first equity recorded in the database; Equity the
	// last (at the last decision).
	StartEquity decimal.Decimal `json:"start_equity"`
	Equity      decimal.Decimal `json:"equity"`
	BestTrip    *tripBrief      `json:"best_trip,omitempty"`
	WorstTrip   *tripBrief      `json:"worst_trip,omitempty"`
	AvgHolding  audit.Duration  `json:"avg_holding"`
	// HoldingTrips is how many closed trips AvgHolding averages: those
	// whose buys are not archived.
	HoldingTrips int `json:"holding_trips"`
}

type tripBrief struct {
	ID       int             `json:"id"`
	Symbol   string          `json:"symbol"`
	Realised decimal.Decimal `json:"realised"`
	Pct      decimal.Decimal `json:"pct"`
}

func newProfitCmd(a *app) *cobra.Command {
	var f tradeFlags
	cmd := &cobra.Command{
		Use:   "profit [--since T] [--symbol S] [--json | --csv]",
		Short: "Profit realised and unrealised, by symbol, by day and in total",
		Long: `profit sums the round trips of 'warden trades', as freqtrade's /profit does:
realised PnL (sells, after every fee, by average cost) by symbol and by UTC day
of the sell, unrealised PnL of what is held at the last decision's mid, fees,
fills, closed trips with wins and losses, the best and worst trip and the
average holding time. Money is decimal and exact: realised plus the cost still
held is the cash the fills moved, to the last digit.

--since keeps the days at or after the time in the by-day table; the totals
count everything.`,
		Example: `  warden profit
  warden profit --since 30d --json
  warden profit --csv > profit.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			d, err := f.load(cmd, a)
			if err != nil {
				return err
			}
			defer d.close()
			defer unchanged(d.view.st, &err)
			d.warnArchived(a.stderr)
			rep, err := buildProfit(cmd.Context(), d)
			if err != nil {
				return err
			}
			switch {
			case f.asJSON:
				return writeJSON(a.stdout, rep)
			case f.asCSV:
				return writeProfitCSV(a.stdout, rep)
			}
			return writeProfit(a.stdout, rep)
		},
	}
	f.register(cmd, "by-day rows at or after this RFC 3339 time, date, or this long ago (24h, 7d)")
	return cmd
}

func buildProfit(ctx context.Context, d *tradesData) (profitReport, error) {
	rep := profitReport{Profit: d.book.Profit(d.marks), Quote: "USDT", MarksAt: d.marksAt}
	if !d.from.IsZero() {
		day := d.from.UTC().Format(time.DateOnly)
		kept := rep.ByDay[:0:0]
		for _, l := range rep.ByDay {
			if l.Key >= day {
				kept = append(kept, l)
			}
		}
		rep.ByDay = kept
	}
	if e, ok, err := d.view.st.FirstEquity(ctx); err != nil {
		return rep, err
	} else if ok {
		rep.StartEquity = e.Equity
	}
	if e, ok, err := d.view.st.LatestEquity(ctx); err != nil {
		return rep, err
	} else if ok {
		rep.Equity = e.Equity
	}
	var hold time.Duration
	n := 0
	for _, t := range d.book.Trips {
		if t.Open {
			continue
		}
		if !t.EntryArchived { // opened before the live database: its holding is not known here
			n++
			hold += time.Duration(t.Holding)
		}
		b := &tripBrief{ID: t.ID, Symbol: t.Symbol, Realised: t.Realised, Pct: t.RealisedPct}
		if rep.BestTrip == nil || t.Realised.GreaterThan(rep.BestTrip.Realised) {
			rep.BestTrip = b
		}
		if rep.WorstTrip == nil || t.Realised.LessThan(rep.WorstTrip.Realised) {
			rep.WorstTrip = b
		}
	}
	if n > 0 {
		rep.AvgHolding = audit.Duration(hold / time.Duration(n))
	}
	rep.HoldingTrips = n
	return rep, nil
}

func writeProfit(w io.Writer, r profitReport) error {
	p := &storyWriter{w: w}
	p.f("profit in %s, after every fee (unrealised at the mid of %s)\n\n", r.Quote, ts(r.MarksAt))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SYMBOL\tREALISED\tUNREALISED\tTOTAL\tFEES\tFILLS\tCLOSED\tWINS\tLOSSES")
	for _, l := range append(append([]audit.ProfitLine(nil), r.BySymbol...), r.Total) {
		unreal := signed(l.Unrealised, 4)
		if len(l.UnknownMark) > 0 {
			unreal += " (no mark: " + strings.Join(l.UnknownMark, ", ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", l.Key, signed(l.Realised, 4), unreal, signed(l.Total, 4), l.Fees.StringFixed(4),
			l.Fills, l.Closed, l.Wins, l.Losses)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	p.f("\nby day (UTC; realised on the day of the sell)\n")
	if len(r.ByDay) == 0 {
		p.f("  none\n")
	} else {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  DAY\tREALISED\tFEES\tFILLS\tCLOSED\tWINS\tLOSSES")
		for _, l := range r.ByDay {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%d\t%d\n", l.Key, signed(l.Realised, 4), l.Fees.StringFixed(4), l.Fills, l.Closed, l.Wins, l.Losses)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	p.f("\n")
	if r.StartEquity.IsPositive() {
		p.f("equity        %s %s at the last decision, first recorded %s\n", r.Equity.StringFixed(2), r.Quote, r.StartEquity.StringFixed(2))
	}
	if r.BestTrip != nil {
		p.f("best trip     #%d %s %s (%s %%)\n", r.BestTrip.ID, r.BestTrip.Symbol, signed(r.BestTrip.Realised, 4), signed(r.BestTrip.Pct, 2))
		p.f("worst trip    #%d %s %s (%s %%)\n", r.WorstTrip.ID, r.WorstTrip.Symbol, signed(r.WorstTrip.Realised, 4), signed(r.WorstTrip.Pct, 2))
		if r.HoldingTrips > 0 {
			p.f("avg holding   %s\n", holdingText(r.AvgHolding))
		} else {
			p.f("avg holding   - (every closed trip opened before the live database starts: --archive DIR)\n")
		}
	} else {
		p.f("no closed trip yet\n")
	}
	return p.err
}

func writeProfitCSV(w io.Writer, r profitReport) error {
	cw := audit.NewCSVWriter(w)
	if err := cw.Write([]string{"group", "key", "realised", "unrealised", "total", "fees", "fills", "closed_trips", "wins", "losses"}); err != nil {
		return err
	}
	row := func(group string, l audit.ProfitLine) error {
		return cw.Write([]string{group, l.Key, l.Realised.String(), l.Unrealised.String(), l.Total.String(), l.Fees.String(),
			strconv.Itoa(l.Fills), strconv.Itoa(l.Closed), strconv.Itoa(l.Wins), strconv.Itoa(l.Losses)})
	}
	for _, l := range r.BySymbol {
		if err := row("symbol", l); err != nil {
			return err
		}
	}
	for _, l := range r.ByDay {
		if err := row("day", l); err != nil {
			return err
		}
	}
	if err := row("total", r.Total); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}
