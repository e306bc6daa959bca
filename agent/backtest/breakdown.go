package backtest

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// ReasonCount counts the cycles skipped (or failed) for one reason.
type ReasonCount struct {
	// Reason is the cause with times and numbers taken out, so the cycles
	// of one cause count together ("snapshot BTC/USDT rejected: gap").
	Reason string    `json:"reason"`
	Count  int       `json:"count"`
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
	// Example is the full reason of the first such cycle.
	Example string `json:"example"`
}

var (
	snapshotReason = regexp.MustCompile(`market: snapshot (\S+) \S+ rejected: \d+ problem\(s\)`)
	problemKind    = regexp.MustCompile(`^([a-z_]+)(?: at #|: )`)
	timestamps     = regexp.MustCompile(`\d{4}-\d\d-\d\d(?:[T ][0-9:.]+(?:Z|[+-]\d\d:?\d\d)?)?`)
	numbers        = regexp.MustCompile(`[#]?\d+(?:\.\d+)?`)
)

// ReasonKey groups a skipped or failed cycle's reason with others of the
// same cause. A snapshot refused by the market-data checks becomes
// "snapshot SYMBOL rejected: KIND, KIND" (the problem kinds, sorted); any
// other reason keeps its words with dates and numbers replaced by "…".
func ReasonKey(reason string) string {
	if m := snapshotReason.FindStringSubmatchIndex(reason); m != nil {
		sym := reason[m[2]:m[3]]
		kinds := map[string]bool{}
		for _, part := range strings.Split(reason[m[1]:], "; ")[1:] {
			if k := problemKind.FindStringSubmatch(part); k != nil {
				kinds[k[1]] = true
			}
		}
		ks := make([]string, 0, len(kinds))
		for k := range kinds {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		if len(ks) == 0 {
			ks = []string{"bad data"}
		}
		return "snapshot " + sym + " rejected: " + strings.Join(ks, ", ")
	}
	r := timestamps.ReplaceAllString(reason, "…")
	r = numbers.ReplaceAllString(r, "…")
	if rs := []rune(r); len(rs) > 120 {
		r = string(rs[:119]) + "…"
	}
	if r == "" {
		return "no reason given"
	}
	return r
}

// countReasons groups the decisions of one outcome by ReasonKey, the most
// frequent first.
func countReasons(ds []Decision, outcome string) []ReasonCount {
	idx := map[string]int{}
	out := []ReasonCount{}
	for _, d := range ds {
		if d.Outcome != outcome {
			continue
		}
		k := ReasonKey(d.Reason)
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, ReasonCount{Reason: k, First: d.Time, Example: d.Reason})
		}
		out[i].Count++
		out[i].Last = d.Time
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}

// SymbolStats is one symbol's share of a run.
type SymbolStats struct {
	Symbol string `json:"symbol"`
	// Approved and Rejected count the advisor's recommendations for the
	// symbol by verdict.
	Approved   int `json:"approved"`
	Rejected   int `json:"rejected"`
	Fills      int `json:"fills"`
	RoundTrips int `json:"round_trips"`
	Wins       int `json:"wins"`
	// WinRate is Wins over RoundTrips (closed trips only); 0 with none.
	WinRate   float64 `json:"win_rate"`
	OpenTrips int     `json:"open_trips"`
	// RealisedPnL sums what the trips realised (fees included), exact:
	// the closed trips' PnL and what an open trip's sells realised so far,
	// as `warden profit` counts it.
	RealisedPnL    decimal.Decimal `json:"realised_pnl"`
	Fees           decimal.Decimal `json:"fees"`
	TradedNotional decimal.Decimal `json:"traded_notional"`
	// BuyHoldReturn is the symbol's price change from the first close to
	// the last, without costs: what the market did.
	BuyHoldReturn float64 `json:"buy_and_hold_return"`
}

// BySymbol breaks a run down per symbol, in the order of symbols. closes
// are each symbol's closes over the run (first and last are used).
func BySymbol(symbols []string, fills []executor.Trade, trips []RoundTrip, ds []Decision, closes map[string][]float64) ([]SymbolStats, error) {
	out := make([]SymbolStats, len(symbols))
	idx := map[string]int{}
	for i, s := range symbols {
		out[i] = SymbolStats{Symbol: s}
		idx[s] = i
		if cs := closes[s]; len(cs) > 1 && cs[0] > 0 {
			out[i].BuyHoldReturn = cs[len(cs)-1]/cs[0] - 1
		}
	}
	for _, f := range fills {
		i, ok := idx[f.Symbol]
		if !ok {
			return nil, fmt.Errorf("backtest: fill %s of %s, a symbol not in the run", f.ID, f.Symbol)
		}
		fee, err := feeInQuote(f)
		if err != nil {
			return nil, err
		}
		out[i].Fills++
		out[i].Fees = out[i].Fees.Add(fee)
		out[i].TradedNotional = out[i].TradedNotional.Add(f.Quantity.Mul(f.Price))
	}
	for _, t := range trips {
		i, ok := idx[t.Symbol]
		if !ok {
			return nil, fmt.Errorf("backtest: round trip of %s, a symbol not in the run", t.Symbol)
		}
		out[i].RealisedPnL = out[i].RealisedPnL.Add(t.PnL)
		if t.Open {
			out[i].OpenTrips++
			continue
		}
		out[i].RoundTrips++
		if t.PnL.IsPositive() {
			out[i].Wins++
		}
	}
	for _, d := range ds {
		i, ok := idx[d.Symbol]
		if !ok {
			continue
		}
		switch d.Outcome {
		case string(schemas.DecisionApproved):
			out[i].Approved++
		case string(schemas.DecisionRejected):
			out[i].Rejected++
		}
	}
	for i := range out {
		if out[i].RoundTrips > 0 {
			out[i].WinRate = float64(out[i].Wins) / float64(out[i].RoundTrips)
		}
	}
	return out, nil
}

// WriteTradesCSV writes the round trips, one per line: the trade list of
// the report, for a spreadsheet. An open trip has no close, holding time
// or return; its pnl is what its sells realised so far (0 before any), and
// its exit price is empty until it sold something.
func WriteTradesCSV(w io.Writer, trips []RoundTrip) error {
	cw := audit.NewCSVWriter(w)
	_ = cw.Write([]string{"symbol", "opened", "closed", "status", "quantity", "entry_price", "exit_price",
		"cost", "proceeds", "fees", "pnl", "return_pct", "holding_hours", "fills"})
	for _, t := range trips {
		closed, status, hold, ret, exit := "", "open", "", "", ""
		if !t.Open {
			closed, status = t.Closed.UTC().Format(time.RFC3339), "closed"
			hold = strconv.FormatFloat(t.Closed.Sub(t.Opened).Hours(), 'f', 2, 64)
			ret = strconv.FormatFloat(t.Return()*100, 'f', 4, 64)
		}
		if t.ExitPrice.IsPositive() {
			exit = t.ExitPrice.String()
		}
		_ = cw.Write([]string{t.Symbol, t.Opened.UTC().Format(time.RFC3339), closed, status,
			t.Quantity.String(), t.EntryPrice.String(), exit,
			t.Cost.StringFixed(8), t.Proceeds.StringFixed(8), t.Fees.StringFixed(8), t.PnL.StringFixed(8),
			ret, hold, strconv.Itoa(t.Fills)})
	}
	cw.Flush()
	return cw.Error()
}

// WriteEquityCSV writes the equity curves mark by mark: the advisor's
// equity, the part in positions and its drawdown, buy-and-hold's equity
// and drawdown, and the baseline's when there is one. The curves must
// share their marks.
func WriteEquityCSV(w io.Writer, r Result) error {
	n := len(r.Curve)
	if len(r.BuyHold) != n || (r.Baseline != nil && len(r.Baseline) != n) {
		return fmt.Errorf("backtest: equity CSV: curves of %d, %d and %d marks are not aligned", n, len(r.BuyHold), len(r.Baseline))
	}
	head := []string{"time", "advisor_equity", "advisor_invested", "advisor_drawdown", "buy_and_hold_equity", "buy_and_hold_drawdown"}
	if r.Baseline != nil {
		head = append(head, "baseline_equity", "baseline_drawdown")
	}
	cw := audit.NewCSVWriter(w)
	_ = cw.Write(head)
	ad, bd := DrawdownSeries(r.Curve), DrawdownSeries(r.BuyHold)
	var sd []float64
	if r.Baseline != nil {
		sd = DrawdownSeries(r.Baseline)
	}
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	row := make([]string, len(head))
	for i, p := range r.Curve {
		if !r.BuyHold[i].Time.Equal(p.Time) || (r.Baseline != nil && !r.Baseline[i].Time.Equal(p.Time)) {
			return fmt.Errorf("backtest: equity CSV: curves differ at mark %d (%s)", i, p.Time.Format(time.RFC3339))
		}
		row = append(row[:0], p.Time.UTC().Format(time.RFC3339), f(p.Equity, 2), f(p.Invested, 2), f(ad[i], 6),
			f(r.BuyHold[i].Equity, 2), f(bd[i], 6))
		if r.Baseline != nil {
			row = append(row, f(r.Baseline[i].Equity, 2), f(sd[i], 6))
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
