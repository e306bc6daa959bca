package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/agent/advisor/transform"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/backtest"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/review"
)

// auditPrices is the configured price table (advisor.openai.price and the
// consensus members' prices) for the audit's reliability figures.
func auditPrices(cfg config.Config) map[string]audit.Price {
	out := map[string]audit.Price{}
	for m, p := range cfg.Advisor.Prices() {
		out[m] = audit.Price{InputPerMTok: p.InputPerMTok, OutputPerMTok: p.OutputPerMTok}
	}
	return out
}

// reviewPrices is the same table for the review's token costs, under the
// names the servers gave the models ("gpt-4o-2024-08-06" for "gpt-4o").
func reviewPrices(cfg config.Config, r audit.Review) map[string]review.TokenPrice {
	ap := auditPrices(cfg)
	out := map[string]review.TokenPrice{}
	for _, t := range r.Tokens {
		if p, ok := audit.PriceFor(ap, t.Model); ok {
			out[t.Model] = review.TokenPrice{Prompt: p.InputPerMTok, Completion: p.OutputPerMTok}
		}
	}
	return out
}

// writeReliability prints the reliability and cost per model and prompt
// version.
func writeReliability(p *storyWriter, w io.Writer, rs []audit.Reliability) {
	p.f("\nmodel reliability (per model and prompt version; invalid = refusal, truncated, schema failure, bad response)\n")
	if len(rs) == 0 {
		p.f("  no model calls\n")
		return
	}
	if p.err != nil {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  MODEL\tPROMPT\tCALLS\tREFUSED\tTRUNC\tSCHEMA\tREPAIRS\tERRORS\tINVALID\tNO CONSENSUS\tTOKENS IN/OUT\tCOST")
	for _, r := range rs {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s %%\t%d/%d runs\t%d/%d\t%s\n",
			r.Model, r.Prompt, r.Calls, r.Refusals, r.Truncations, r.SchemaFailures, r.Repairs, r.Errors,
			r.InvalidRate().StringFixed(1), r.NoConsensus, r.Runs,
			r.PromptTokens, r.CompletionTokens, r.CostText())
	}
	p.err = tw.Flush()
	for _, r := range rs {
		p.f("  %s %s: latency p50 %s, p90 %s, p99 %s; advisors %s\n", r.Model, r.Prompt,
			latencyText(r.LatencyP50), latencyText(r.LatencyP90), latencyText(r.LatencyP99), strings.Join(r.Advisors, ", "))
	}
}

func latencyText(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

// backtestAnonymise wraps a model advisor for a backtest: anonymised
// prompts unless advisor.anonymise is false. It returns the advisor and
// the prompt note for the banner.
func backtestAnonymise(cfg config.Config, adv advisor.Advisor) (advisor.Advisor, string, error) {
	if cfg.Advisor.Anonymise != nil && !*cfg.Advisor.Anonymise {
		return adv, "as rendered (dates and exchange prices; advisor.anonymise is false)", nil
	}
	w, err := transform.Wrap(adv, transform.Config{Mode: transform.Anonymise})
	if err != nil {
		return nil, "", err
	}
	return w, transform.AnonymisedNote, nil
}

// printModelStats is the backtest summary's prompt and model-risk line.
func printModelStats(w io.Writer, m backtest.ModelStats) {
	fmt.Fprintf(w, "prompt: %s\n", m.Prompt)
	if m.Asked == 0 {
		return
	}
	line := fmt.Sprintf("model: asked %d times; no consensus %d (%s %%, %d symbols held)", m.Asked, m.NoConsensusCycles, m.NoConsensusRate.StringFixed(2), m.NoConsensusHolds)
	if m.AdvisorErrors > 0 {
		line += fmt.Sprintf("; %d without a usable answer (%s)", m.AdvisorErrors, joinCounts(m.ErrorsByKind, nil))
	}
	fmt.Fprintln(w, line)
}
