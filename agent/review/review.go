// Package review renders the periodic review of the audit log
// (agent/audit.Review) as a self-contained HTML page (html/template,
// embedded stylesheet, no script, no network) and as the digest sent to
// the notification channels.
package review

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/notify"
)

//go:embed review.html.tmpl
var pageSrc string

var page = template.Must(template.New("review").Funcs(template.FuncMap{
	"ts":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"dur":      func(d audit.Duration) string { return time.Duration(d).Round(time.Minute).String() },
	"fixed":    func(d decimal.Decimal, n int32) string { return d.StringFixed(n) },
	"counts":   audit.CountsText,
	"cost":     Cost,
	"barwidth": barWidth,
	"latency":  Latency,
	"join":     strings.Join,
}).Parse(pageSrc))

// Latency is a call latency rounded to the millisecond, "-" when none was
// measured.
func Latency(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

// Page is what the HTML page shows: the review and the database it was
// read from.
type Page struct {
	audit.Review
	Database string
	// TokenPrices, when set, prices the tokens (see Cost).
	TokenPrices map[string]TokenPrice
}

// TokenPrice is what a model's tokens cost, per million, in USD.
type TokenPrice struct {
	Prompt, Completion decimal.Decimal
}

// Cost is the cost of one model's tokens at prices, or "unknown" when no
// price is known for it: never 0 for want of a price.
func Cost(u audit.TokenUse, prices map[string]TokenPrice) string {
	p, ok := prices[u.Model]
	if !ok {
		return "unknown"
	}
	m := decimal.NewFromInt(1_000_000)
	c := p.Prompt.Mul(decimal.NewFromInt(u.Prompt)).Add(p.Completion.Mul(decimal.NewFromInt(u.Completion))).Div(m)
	return c.StringFixed(4) + " USD"
}

// barWidth is the width in % of a histogram bar for n of max.
func barWidth(n int, buckets []audit.Count) int {
	top := 0
	for _, b := range buckets {
		top = max(top, b.Count)
	}
	if top == 0 {
		return 0
	}
	return n * 100 / top
}

// WriteHTML writes the review as one HTML page.
func WriteHTML(w io.Writer, p Page) error {
	return page.Execute(w, p)
}

// Digest is the review as a notification: the figures an operator reads
// first, sent to every configured channel once per scheduled time (the
// dedup key holds the time, so two processes enqueue it once).
type Digest struct {
	Review    audit.Review
	Scheduled time.Time // the digest schedule's time this digest is for
}

// Message implements notify.Event.
func (d Digest) Message() (notify.Message, error) {
	r := d.Review
	var b strings.Builder
	fmt.Fprintf(&b, "%s to %s\n", r.From.UTC().Format("2006-01-02 15:04"), r.To.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "runs: %s\n", audit.CountsText(mapCounts(r.Runs)))
	fmt.Fprintf(&b, "decisions: %s\n", audit.CountsText(mapCounts(r.Decisions)))
	fmt.Fprintf(&b, "rejections by rule: %s\n", audit.CountsText(r.Rejections))
	fmt.Fprintf(&b, "errors by component: %s\n", audit.CountsText(r.Errors))
	fmt.Fprintf(&b, "model calls: %s (%d failed)\n", audit.CountsText(r.ModelCalls), r.FailedCalls)
	fmt.Fprintf(&b, "breaker trips: %s\n", audit.CountsText(r.TripsByBreaker))
	var lv []string
	for _, l := range r.Levels {
		lv = append(lv, fmt.Sprintf("%s %s %%", l.Level, l.Share.StringFixed(1)))
	}
	fmt.Fprintf(&b, "time at level: %s\n", strings.Join(lv, ", "))
	fmt.Fprintf(&b, "fills: %d, slippage mean %s bps, max %s bps, cost %s\n", len(r.Fills), r.Slippage.Mean.StringFixed(2), r.Slippage.Max.StringFixed(2), r.Slippage.Cost.StringFixed(4))
	var tok int64
	for _, t := range r.Tokens {
		tok += t.Total
	}
	fmt.Fprintf(&b, "tokens: %d\n", tok)
	// One short line per model and prompt version (see warden review).
	const maxModels = 8 // a notification carries at most 3500 runes
	for i, m := range r.Reliability {
		if i == maxModels {
			fmt.Fprintf(&b, "(%d more model and prompt versions in warden review)\n", len(r.Reliability)-maxModels)
			break
		}
		fmt.Fprintf(&b, "model %s %s: %d calls, invalid %s %%, no consensus %d/%d runs, p90 %s, cost %s\n",
			m.Model, m.Prompt, m.Calls, m.InvalidRate().StringFixed(1), m.NoConsensus, m.Runs, Latency(m.LatencyP90), m.CostText())
	}
	chain := "verified"
	if !r.ChainOK {
		chain = "BROKEN: " + r.ChainProblem
	}
	fmt.Fprintf(&b, "audit chain head %d %s (%s)", r.HeadSeq, short(r.HeadHash), chain)
	return notify.Message{
		Kind:     "digest",
		Title:    "Warden review " + r.From.UTC().Format("2006-01-02") + " to " + r.To.UTC().Format("2006-01-02"),
		Text:     b.String(),
		DedupKey: "digest:" + d.Scheduled.UTC().Format(time.RFC3339),
	}, nil
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

func mapCounts(m map[string]int) []audit.Count {
	var out []audit.Count
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, audit.Count{Name: k, Count: m[k]})
	}
	return out
}

// Render is WriteHTML into a byte slice.
func Render(p Page) ([]byte, error) {
	var buf bytes.Buffer
	err := WriteHTML(&buf, p)
	return buf.Bytes(), err
}
