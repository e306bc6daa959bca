package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/review"
)

func newReviewCmd(a *app) *cobra.Command {
	var (
		rf           readFlags
		since, until string
		asJSON       bool
		htmlOut      string
	)
	cmd := &cobra.Command{
		Use:   "review [--since 7d] [--until T] [--json] [--html FILE]",
		Short: "The weekly review: slippage, errors, failed model calls, rejections, breakers, tokens, chain head",
		Long: `review reads a window of the audit log (the last 7 days by default) and sums
up what an operator reviews each week: slippage of the fills against the price
each order intended (distribution, by order role, cost), failed cycles by
component, model calls by status, rejections by rule, breaker trips and the
time spent at each level (active, reduce, safe mode), orders by role and state
and the fills, token use per model (its cost "unknown": Warden keeps no price
table, and never says 0 for want of one), and the head of the audit hash chain,
verified.

--html FILE writes the same as one self-contained page (no script, no network).
notify.digest in the config ("0 8 * * MON") sends it to the configured channels
on that schedule, from warden run.`,
		Example: `  warden review
  warden review --since 30d --json
  warden review --since 2024-05-01 --until 2024-06-01 --html review.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			v, err := rf.open(cmd, a)
			if err != nil {
				return err
			}
			defer v.st.Close()
			defer unchanged(v.st, &err)
			from, err := parseAuditTime("--since", since, v.now)
			if err != nil {
				return usageErr(err)
			}
			to := v.now
			if until != "" {
				if to, err = parseAuditTime("--until", until, v.now); err != nil {
					return usageErr(err)
				}
			} else if v.clock != "wall" {
				// The replay's clock is the last run's start: take that run in.
				to = to.Add(time.Nanosecond)
			}
			if !from.Before(to) {
				return usageErr(fmt.Errorf("--since %s is not before --until %s", ts(from), ts(to)))
			}
			r, err := v.st.BuildReview(cmd.Context(), from, to)
			if err != nil {
				return err
			}
			// A window reaching before what retention kept: say so, or
			// the counts read as the whole window's.
			if archived, err := v.st.HasArchived(cmd.Context()); err != nil {
				return err
			} else if archived {
				if first, ok, err := v.st.FirstRunAt(cmd.Context()); err != nil {
					return err
				} else if ok && from.Before(first) {
					fmt.Fprintf(a.stderr, "warning: the window starts %s, but the records before the first run kept, %s, were moved to archive files and review reads the database alone: its figures start there\n", ts(from), ts(first))
				}
			}
			// Reliability and cost per model and prompt version, priced
			// by advisor.openai.price (unknown without one).
			if r.Reliability, err = v.st.Reliability(cmd.Context(), from, to, auditPrices(v.cfg)); err != nil {
				return err
			}
			if htmlOut != "" {
				page, err := review.Render(review.Page{Review: r, Database: v.abs, TokenPrices: reviewPrices(v.cfg, r)})
				if err != nil {
					return err
				}
				if err := writeFileAtomic(htmlOut, a.red.Bytes(page)); err != nil {
					return &exitError{Code: exitFailed, Err: err}
				}
				fmt.Fprintf(a.stderr, "review written to %s\n", htmlOut)
			}
			if asJSON {
				return writeJSON(a.stdout, struct {
					Database string `json:"database"`
					audit.Review
				}{v.abs, r})
			}
			if htmlOut != "" {
				return nil
			}
			return writeReview(a.stdout, v.abs, r, reviewPrices(v.cfg, r))
		},
	}
	rf.register(cmd)
	cmd.Flags().StringVar(&since, "since", "7d", "from this RFC 3339 time, date, or this long ago (24h, 7d)")
	cmd.Flags().StringVar(&until, "until", "", "until this RFC 3339 time, date, or this long ago (default: now)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&htmlOut, "html", "", "write the review as an HTML page to this file")
	return cmd
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so a reader never sees half a page.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func writeReview(w io.Writer, db string, r audit.Review, prices map[string]review.TokenPrice) error {
	p := &storyWriter{w: w}
	p.f("review of %s\nfrom %s to %s\n\n", db, ts(r.From), ts(r.To))
	p.f("runs          %s\n", audit.CountsText(countsOf(r.Runs)))
	p.f("decisions     %s\n", audit.CountsText(countsOf(r.Decisions)))
	p.f("rejections    %s (by rule)\n", audit.CountsText(r.Rejections))
	p.f("errors        %s (by component)\n", audit.CountsText(r.Errors))
	p.f("model calls   %s; %d failed\n", audit.CountsText(r.ModelCalls), r.FailedCalls)
	var orders []string
	for _, o := range r.Orders {
		orders = append(orders, fmt.Sprintf("%s %s %d", o.Role, o.State, o.Count))
	}
	p.f("orders        %s\n", dash(strings.Join(orders, ", ")))
	p.f("fills         %d\n", len(r.Fills))

	s := r.Slippage
	p.f("\nslippage (fill vs the order's intended price; + is worse)\n")
	p.f("  %d priced fills, %d market; mean %s bps (by notional), min %s, median %s, p90 %s, max %s bps; cost %s\n",
		s.Fills, s.Unpriced, s.Mean.StringFixed(2), s.Min.StringFixed(2), s.Median.StringFixed(2), s.P90.StringFixed(2), s.Max.StringFixed(2), signed(s.Cost, 4))
	var bk []string
	for _, b := range s.Buckets {
		bk = append(bk, fmt.Sprintf("%s: %d", b.Name, b.Count))
	}
	p.f("  %s\n", strings.Join(bk, " | "))
	for _, rs := range s.ByRole {
		p.f("  %-6s %d fills, mean %s bps, cost %s\n", rs.Role, rs.Fills, rs.Mean.StringFixed(2), signed(rs.Cost, 4))
	}

	p.f("\nbreakers\n")
	p.f("  trips       %s\n", audit.CountsText(r.TripsByBreaker))
	var lv []string
	for _, l := range r.Levels {
		lv = append(lv, fmt.Sprintf("%s %s (%s %%)", l.Level, roundAgo(time.Duration(l.Duration)), l.Share.StringFixed(2)))
	}
	p.f("  time at     %s\n", strings.Join(lv, ", "))
	for _, t := range r.Trips {
		p.f("  %s  %s%s → %s: %s\n", ts(t.At), t.Breaker, prefixed(" ", t.Symbol), dash(t.Level), t.Reason)
	}

	p.f("\ntokens\n")
	if len(r.Tokens) == 0 {
		p.f("  no model calls\n")
	} else if p.err == nil {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  MODEL\tCALLS\tPROMPT\tCOMPLETION\tTOTAL\tCOST")
		for _, t := range r.Tokens {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%s\n", t.Model, t.Calls, t.Prompt, t.Completion, t.Total, review.Cost(t, prices))
		}
		p.err = tw.Flush()
	}
	writeReliability(p, w, r.Reliability)
	chain := "verified"
	if !r.ChainOK {
		chain = "BROKEN: " + r.ChainProblem
	}
	p.f("\naudit chain   head seq %d, hash %s (%s)\n", r.HeadSeq, r.HeadHash, chain)
	return p.err
}

func countsOf(m map[string]int) []audit.Count {
	var out []audit.Count
	for _, k := range sortedSymbols(m) {
		out = append(out, audit.Count{Name: k, Count: m[k]})
	}
	return out
}

// digestDue returns the latest time at or before now on the digest
// schedule, and the one before it (the start of the digest's window); ok
// is false when the schedule has no time in the 35 days before now.
func digestDue(spec string, now time.Time) (at, prev time.Time, ok bool) {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	t := now.Add(-35 * 24 * time.Hour)
	for i := 0; i < 100_000; i++ {
		n := sched.Next(t)
		if n.IsZero() || n.After(now) {
			break
		}
		prev, at, ok = at, n, true
		t = n
	}
	if ok && prev.IsZero() {
		prev = at.Add(-7 * 24 * time.Hour)
	}
	return at, prev, ok
}

// sendDigest enqueues the review digest when notify.digest says one is due
// at the decision clock and none was enqueued for that time yet. The
// outbox holds the memory: a digest is enqueued once per scheduled time,
// whichever process (cron's run --once, a long warden run) gets there
// first; the dispatchers send it like any notification.
func (rt *runtime) sendDigest(ctx context.Context) {
	spec := rt.cfg.Notify.Digest
	if spec == "" || rt.pub == nil {
		return
	}
	now := rt.clock.Now()
	at, prev, ok := digestDue(spec, now)
	if !ok {
		return
	}
	// A period that ends before the first run (or as it starts) has
	// nothing to review: a new database does not start with last week's
	// empty digest.
	if first, ok, err := rt.store.FirstRunAt(ctx); err != nil || !ok || !first.Before(at) {
		return
	}
	d := review.Digest{Scheduled: at}
	m, err := d.Message()
	if err != nil {
		return
	}
	if sent, err := rt.store.Enqueued(ctx, m.DedupKey); err != nil {
		rt.logger.Error("digest: read the outbox", "err", err)
		return
	} else if sent {
		return
	}
	// The scheduled period [prev, at): a digest sent late (a cron run
	// after the scheduled time) reports the same period, and what
	// happened since at is the next digest's, never in both.
	r, err := rt.store.BuildReview(ctx, prev, at)
	if err != nil {
		rt.logger.Error("digest: build the review", "err", err)
		return
	}
	// The digest's model lines: reliability per model and prompt
	// version, priced like warden review's.
	if r.Reliability, err = rt.store.Reliability(ctx, prev, at, auditPrices(rt.cfg)); err != nil {
		rt.logger.Error("digest: model reliability", "err", err)
		return
	}
	d.Review = r
	if err := rt.pub.Publish(ctx, d); err != nil {
		rt.logger.Error("digest: enqueue", "err", err)
	}
}
