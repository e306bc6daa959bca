package agent

import (
	"fmt"
	"strings"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/schemas"
)

// print writes the human summary of a cycle: the rationale, the verdicts
// with every violated rule, and any order.
func (a *Agent) print(res CycleResult) {
	w := a.o.Output
	if w == nil {
		return
	}
	// The headline is the run's outcome as `warden audit runs` lists it
	// and run --once's exit code says it: a cycle that ran (or ended)
	// under the kill switch or in safe mode is not "ok".
	head := res.Status
	if res.Status == "ok" {
		head = audit.RunOutcome(res.Status, res.KillSwitch, res.SafeMode, len(res.OrderErrors))
		if head == audit.OutcomeFailed {
			head += " (order errors)"
		}
	}
	fmt.Fprintf(w, "run %s at %s — %s", res.RunID, res.At.Format("2006-01-02 15:04 MST"), head)
	if res.Reason != "" {
		fmt.Fprintf(w, ": %s", res.Reason)
	}
	fmt.Fprintln(w)
	eq := "not read"
	if e := res.equity(); e != nil {
		eq = e.StringFixed(2)
	}
	fmt.Fprintf(w, "policy %s, equity %s", short(res.PolicyHash), eq)
	if res.KillSwitch {
		fmt.Fprint(w, ", KILL SWITCH ON")
	}
	switch {
	case res.SafeMode:
		fmt.Fprint(w, ", safe mode on")
	case res.Level == audit.LevelReduce:
		fmt.Fprintf(w, ", level reduce (caps × %s)", res.RiskScale)
	}
	if res.Level != "" && res.Level != audit.LevelActive {
		if res.LevelUntil.IsZero() {
			fmt.Fprint(w, " until resumed")
		} else {
			fmt.Fprintf(w, " until %s", res.LevelUntil.UTC().Format("2006-01-02 15:04 MST"))
		}
	}
	fmt.Fprintln(w)
	for _, t := range res.Trips {
		fmt.Fprintf(w, "breaker %s %s: %s → %s\n", t.Breaker, t.Symbol, t.Reason, t.Level)
	}
	if res.Rationale != "" {
		fmt.Fprintf(w, "\nrationale:\n  %s\n", strings.ReplaceAll(res.Rationale, "\n", "\n  "))
	}
	for _, v := range res.SchemaError {
		fmt.Fprintf(w, "schema error %s: %s\n", v.Pointer, v.Message)
	}
	if len(res.Verdicts) > 0 {
		fmt.Fprintln(w, "\nverdicts:")
	}
	for i, v := range res.Verdicts {
		id := ""
		if i < len(res.DecisionIDs) {
			id = res.DecisionIDs[i]
		}
		fmt.Fprintf(w, "  %-9s %-4s %-10s %s\n", v.Decision, v.Action, v.Symbol, id)
		if v.Order != nil && v.Decision == schemas.DecisionApproved {
			fmt.Fprintf(w, "            %s %s %s @ %s = %s\n", v.Order.Type, v.Order.Side, v.Order.Quantity, v.Order.Price, v.Order.Notional.StringFixed(2))
		}
		for _, vi := range v.Violations {
			fmt.Fprintf(w, "            ✗ %s (%s): %s\n", vi.Rule, vi.Source, vi.Message)
		}
		for _, vi := range v.Warnings {
			fmt.Fprintf(w, "            ! %s (warn): %s\n", vi.Rule, vi.Message)
		}
	}
	if len(res.Orders) > 0 {
		fmt.Fprintln(w, "\norders:")
	}
	for _, o := range res.Orders {
		fmt.Fprintf(w, "  %s %s %s %s @ %s: %s filled %s", o.ClientOrderID, o.Side, o.Symbol, o.Quantity, o.Price, o.State, o.FilledQty)
		if o.Reason != "" {
			fmt.Fprintf(w, " (%s)", o.Reason)
		}
		fmt.Fprintln(w)
	}
	for _, e := range res.OrderErrors {
		fmt.Fprintf(w, "  order error: %s\n", e)
	}
	if len(res.Withdrawn) > 0 {
		fmt.Fprintln(w, "\nresting buys withdrawn:")
	}
	for _, o := range res.Withdrawn {
		fmt.Fprintf(w, "  %s buy %s %s @ %s: cancelled, filled %s (%s)\n", o.ClientOrderID, o.Symbol, o.Quantity, o.Price, o.FilledQty, o.Reason)
	}
	if len(res.Held) > 0 {
		fmt.Fprintln(w, "\nwaiting for a person (human approval; warden approvals shows the hash):")
		for _, id := range res.Held {
			fmt.Fprintf(w, "  %s\n", id)
		}
	}
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
