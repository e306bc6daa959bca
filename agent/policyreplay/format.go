package policyreplay

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for a person: a summary line, a table of the
// changed decisions, and per change the rules that flipped with their
// messages ("+" newly failing, "-" no longer failing).
func (r Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	name := r.Policy.File
	if name == "" {
		name = r.Policy.Name
	}
	since := "all recorded decisions"
	if !r.Since.IsZero() {
		since = "decisions since " + r.Since.UTC().Format(time.RFC3339)
	}
	ew.printf("policy replay of %s under %s (policy %s, sha256 %s)\n", since, name, r.Policy.Name, short(r.Policy.Hash))
	if len(r.RecordedPolicies) > 0 {
		hs := make([]string, len(r.RecordedPolicies))
		for i, h := range r.RecordedPolicies {
			hs[i] = short(h)
		}
		ew.printf("recorded under policy %s\n", strings.Join(hs, ", "))
	}
	t := r.Totals
	ew.printf("%d decisions: %d unchanged, %d approved→rejected, %d rejected→approved, %d rules changed",
		t.Decisions, t.Unchanged, t.ApprovedToRejected, t.RejectedToApproved, t.RulesChanged)
	if t.DecisionChanged > 0 {
		ew.printf(", %d other decision changes", t.DecisionChanged)
	}
	if t.Skipped > 0 {
		ew.printf(", %d not replayable", t.Skipped)
	}
	ew.printf("\n")
	if len(r.Changes) == 0 {
		ew.printf("no decision would change\n")
	} else {
		ew.printf("\n")
		tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DECISION\tTIME\tSYMBOL\tACTION\tOLD\tNEW")
		for _, c := range r.Changes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.DecisionID, c.At.UTC().Format(time.RFC3339), c.Symbol, c.Action, brief(c.Old), brief(c.New))
		}
		tw.Flush()
		for _, c := range r.Changes {
			switch c.Kind {
			case RulesChanged:
				ew.printf("\n%s %s %s: still %s, failed rules changed\n", c.DecisionID, c.Action, c.Symbol, c.New.Decision)
			default:
				ew.printf("\n%s %s %s: %s → %s\n", c.DecisionID, c.Action, c.Symbol, c.Old.Decision, c.New.Decision)
			}
			for _, f := range c.NewlyFailing {
				ew.printf("  + %s: %s\n", f.key(), oneLine(f.Message))
			}
			for _, f := range c.NoLongerFailing {
				ew.printf("  - %s: %s\n", f.key(), oneLine(f.Message))
			}
		}
	}
	if len(r.Skipped) > 0 {
		ew.printf("\nnot replayable:\n")
		for _, s := range r.Skipped {
			ew.printf("  %s (%s): %s\n", s.DecisionID, s.At.UTC().Format(time.RFC3339), s.Reason)
		}
	}
	return ew.err
}

// brief is "rejected [rule_a, rule_b]" or "approved".
func brief(o Outcome) string {
	if len(o.Failed) == 0 {
		return string(o.Decision)
	}
	return string(o.Decision) + " [" + strings.Join(o.Failed, ", ") + "]"
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return "(none)"
	}
	return h
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}
