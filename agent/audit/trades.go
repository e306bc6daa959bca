package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// FillRecord is one recorded fill with what the order it belongs to
// meant: its role (entry, stop, exit), its type, and the intended price.
type FillRecord struct {
	Seq int64 `json:"seq"`
	executor.Trade
	DecisionID string `json:"decision_id,omitempty"`
	RunID      string `json:"run_id,omitempty"`
	// Role is the order's role in the journal (entry, stop, exit); empty
	// for a fill of an order the journal never placed.
	Role      string `json:"role,omitempty"`
	OrderType string `json:"order_type,omitempty"`
	// Intended is the price the order meant to trade at: a limit order's
	// limit price, a stop's trigger price. Zero when the order named none
	// (a market order) or the journal does not know the order.
	Intended decimal.Decimal `json:"intended"`
}

// SlippageBps is how much worse than intended the fill traded, in basis
// points of the intended price (negative: better); ok is false when no
// intended price is known.
func (f FillRecord) SlippageBps() (decimal.Decimal, bool) {
	if !f.Intended.IsPositive() {
		return decimal.Zero, false
	}
	d := f.Price.Sub(f.Intended)
	if f.Side == schemas.SideSell {
		d = d.Neg()
	}
	return d.Mul(decimal.NewFromInt(10000)).DivRound(f.Intended, 4), true
}

// SlippageCost is the slippage in the quote currency: quantity times how
// much worse than intended the price was (negative: better).
func (f FillRecord) SlippageCost() decimal.Decimal {
	if !f.Intended.IsPositive() {
		return decimal.Zero
	}
	d := f.Price.Sub(f.Intended)
	if f.Side == schemas.SideSell {
		d = d.Neg()
	}
	return d.Mul(f.Quantity)
}

// FillRecords returns the fills at or after from and before to (zero
// bounds do not filter), oldest first, each with its order's role, type
// and intended price. An order's fills are its recorded fill records when
// it has any (exact trades, with the exchange's trade ids); otherwise they
// are read from its journal: each event whose cumulative filled quantity
// grew is one fill of the growth, at the price that moves the order's
// average price (avg × filled) as the event says, with the fee it added.
func (s *Store) FillRecords(ctx context.Context, from, to time.Time) ([]FillRecord, error) {
	rows, err := s.query(ctx, `SELECT f.seq, f.decision_id, f.run_id, f.body,
		(SELECT o.body FROM records o WHERE o.kind = 'order_event' AND o.ref = f.ref AND f.ref <> '' ORDER BY o.seq LIMIT 1)
		FROM records f WHERE f.kind = 'fill' ORDER BY f.seq`)
	if err != nil {
		return nil, fmt.Errorf("audit: fills: %w", err)
	}
	defer rows.Close()
	out := []FillRecord{}
	recorded := map[string]bool{}
	for rows.Next() {
		var (
			f          FillRecord
			body, oev  []byte
			dec, runID sql.NullString
		)
		if err := rows.Scan(&f.Seq, &dec, &runID, &body, &oev); err != nil {
			return nil, fmt.Errorf("audit: read fill: %w", err)
		}
		if err := json.Unmarshal(body, &f.Trade); err != nil {
			return nil, fmt.Errorf("audit: decode fill at seq %d: %w", f.Seq, err)
		}
		f.DecisionID, f.RunID = dec.String, runID.String
		if oev != nil {
			var ev schemas.OrderEvent
			if err := json.Unmarshal(oev, &ev); err != nil {
				return nil, fmt.Errorf("audit: decode the order of fill %d: %w", f.Seq, err)
			}
			f.setOrder(ev)
		}
		recorded[f.ClientOrderID] = true
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: fills: %w", err)
	}
	rows.Close()
	derived, err := s.journalFills(ctx, recorded)
	if err != nil {
		return nil, err
	}
	out = append(out, derived...)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].Seq < out[j].Seq
	})
	kept := out[:0]
	for _, f := range out {
		if (!from.IsZero() && f.Time.Before(from)) || (!to.IsZero() && !f.Time.Before(to)) {
			continue
		}
		kept = append(kept, f)
	}
	return kept, nil
}

// setOrder takes the role, type, intended price and decision of the order
// a fill belongs to from one of its journal events.
func (f *FillRecord) setOrder(ev schemas.OrderEvent) {
	f.Role, f.OrderType = ev.Role, ev.Type
	switch {
	case ev.Role == "stop" && ev.StopPrice.IsPositive():
		f.Intended = ev.StopPrice
	case ev.Price.IsPositive():
		f.Intended = ev.Price
	}
	if f.DecisionID == "" {
		f.DecisionID = ev.DecisionID
	}
}

// journalFills reads the fills of the orders not in skip from the order
// journal (see FillRecords).
func (s *Store) journalFills(ctx context.Context, skip map[string]bool) ([]FillRecord, error) {
	rows, err := s.queryDurable(ctx, `SELECT seq, run_id, body FROM records WHERE kind = 'order_event' AND state NOT IN ('intent', 'submitted') ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("audit: order journal: %w", err)
	}
	defer rows.Close()
	type cum struct {
		filled, cost, fee decimal.Decimal
		n                 int
	}
	seen := map[string]*cum{}
	var out []FillRecord
	for rows.Next() {
		var (
			seq   int64
			runID string
			body  []byte
		)
		if err := rows.Scan(&seq, &runID, &body); err != nil {
			return nil, fmt.Errorf("audit: order journal: %w", err)
		}
		var ev schemas.OrderEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			return nil, fmt.Errorf("audit: decode order event at seq %d: %w", seq, err)
		}
		if skip[ev.ClientOrderID] || !ev.FilledQty.IsPositive() {
			continue
		}
		c := seen[ev.ClientOrderID]
		if c == nil {
			c = &cum{}
			seen[ev.ClientOrderID] = c
		}
		if !ev.FilledQty.GreaterThan(c.filled) {
			continue
		}
		q := ev.FilledQty.Sub(c.filled)
		cost := ev.AvgPrice.Mul(ev.FilledQty)
		price := ev.AvgPrice
		if c.filled.IsPositive() {
			price = cost.Sub(c.cost).DivRound(q, 8)
		}
		c.n++
		f := FillRecord{Seq: seq, RunID: runID, Trade: executor.Trade{
			ID: fmt.Sprintf("%s#%d", ev.ClientOrderID, c.n), OrderID: ev.ExchangeOrderID, ClientOrderID: ev.ClientOrderID,
			Symbol: ev.Symbol, Side: ev.Side, Price: price, Quantity: q, Fee: ev.Fee.Sub(c.fee), FeeCurrency: ev.FeeCurrency, Time: ev.At,
		}}
		f.setOrder(ev)
		c.filled, c.cost, c.fee = ev.FilledQty, cost, ev.Fee
		out = append(out, f)
	}
	return out, rows.Err()
}

// LatestState returns the newest state a decision was judged against
// (account and markets as the policy saw them); ok is false when no
// decision was ever recorded.
func (s *Store) LatestState(ctx context.Context) (st schemas.State, ok bool, err error) {
	var body []byte
	err = s.queryRow(ctx, `SELECT body FROM records WHERE kind = 'state' ORDER BY seq DESC LIMIT 1`).Scan(&body)
	if isNoRows(err) {
		return schemas.State{}, false, nil
	}
	if err != nil {
		return schemas.State{}, false, fmt.Errorf("audit: latest state: %w", err)
	}
	if body, err = s.stateJSON(ctx, body); err != nil {
		return schemas.State{}, false, fmt.Errorf("audit: latest state: %w", err)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return schemas.State{}, false, fmt.Errorf("audit: decode latest state: %w", err)
	}
	return st, true, nil
}

// OpeningContext is what opened a trade: the recommendation's reason and
// an excerpt of the run's rationale.
type OpeningContext struct {
	Reason    string `json:"reason,omitempty"`
	Rationale string `json:"rationale,omitempty"`
}

// RationaleExcerptRunes is how much of a run's rationale a trade carries.
const RationaleExcerptRunes = 160

// Openings returns, for each decision id, the reason the recommendation
// gave and an excerpt of its run's rationale. Unknown ids are left out.
func (s *Store) Openings(ctx context.Context, decisionIDs []string) (map[string]OpeningContext, error) {
	out := map[string]OpeningContext{}
	for _, id := range decisionIDs {
		if _, done := out[id]; done || id == "" {
			continue
		}
		var rec, rationale sql.NullString
		err := s.queryRow(ctx, `SELECT json_extract(v.body, '$.recommendation.reason'),
			(SELECT json_extract(r.body, '$.parsed.rationale') FROM records r WHERE r.run_id = v.run_id AND r.run_id <> '' AND r.kind = 'response' AND r.state = 'valid' ORDER BY r.seq DESC LIMIT 1)
			FROM records v WHERE v.decision_id = CAST(? AS TEXT) AND v.kind = 'verdict'`, id).Scan(&rec, &rationale)
		if isNoRows(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("audit: opening of %s: %w", id, err)
		}
		out[id] = OpeningContext{Reason: rec.String, Rationale: Excerpt(rationale.String, RationaleExcerptRunes)}
	}
	return out, nil
}

// Excerpt is s on one line, cut to at most n runes with "…" when longer.
func Excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// RoundTrip is one trade in freqtrade's sense: from the fill that opened a
// position in a symbol to the sell that brought it back below the
// smallest order the exchange takes (or to now, while open). Such a
// remainder (dust) stays with the trip that left it, with its cost, until
// the next trip of the symbol takes it over. Money is in
// the quote currency and exact: the realised PnL of every trip plus the
// cost basis still held equals, to the last digit, the cash the fills
// moved.
type RoundTrip struct {
	ID       int       `json:"id"`
	Symbol   string    `json:"symbol"`
	Open     bool      `json:"open"`
	OpenedAt time.Time `json:"opened_at"`
	ClosedAt time.Time `json:"closed_at,omitzero"`
	Holding  Duration  `json:"holding"`
	// Bought and Sold are the base quantities traded (before fees); Held
	// is what the trip still holds (after base-asset fees), dust included.
	Bought decimal.Decimal `json:"bought"`
	Sold   decimal.Decimal `json:"sold"`
	Held   decimal.Decimal `json:"held"`
	// EntryPrice and ExitPrice are the average fill prices of the buys and
	// the sells (zero without any).
	EntryPrice decimal.Decimal `json:"entry_price"`
	ExitPrice  decimal.Decimal `json:"exit_price"`
	// Cost is the quote spent on the buys (fees in quote included);
	// Proceeds the quote received for the sells, after their fees.
	Cost     decimal.Decimal `json:"cost"`
	Proceeds decimal.Decimal `json:"proceeds"`
	// Realised is the profit of what was sold: proceeds less the cost
	// basis of the quantity sold. Basis is the cost of what is still held.
	Realised decimal.Decimal `json:"realised"`
	Basis    decimal.Decimal `json:"basis"`
	// RealisedPct is Realised over the cost basis of what was sold, in %.
	RealisedPct decimal.Decimal `json:"realised_pct"`
	// Fees is every fee in quote (base-asset fees valued at their fill's
	// price); FeesOther lists fees in other assets, unvalued.
	Fees      decimal.Decimal            `json:"fees"`
	FeesOther map[string]decimal.Decimal `json:"fees_other,omitempty"`
	// Slippage is what the fills cost against their orders' intended
	// prices, in quote (negative: they did better); SlippageBps its
	// average in basis points of the intended notional.
	Slippage    decimal.Decimal `json:"slippage"`
	SlippageBps decimal.Decimal `json:"slippage_bps"`
	Fills       int             `json:"fills"`
	// DecisionIDs are the decisions whose orders filled in this trip, the
	// opening one first; Opening is what that one said.
	DecisionIDs []string       `json:"decision_ids"`
	Opening     OpeningContext `json:"opening"`
	// CarriedIn is dust an earlier trip of the symbol left, which this one
	// took over (with its cost); CarriedTo, on that earlier trip, names
	// this one.
	CarriedIn decimal.Decimal `json:"carried_in,omitzero"`
	CarriedTo int             `json:"carried_to,omitempty"`
	// EntryArchived: the trip's buys are in the archives, before the live
	// database starts (what they left held is CarriedIn, at its carried
	// cost): EntryPrice is that cost's average, and when it opened and
	// how long it was held are not known here (Holding is 0); read it
	// with the archives for those.
	EntryArchived bool `json:"entry_archived,omitempty"`
	// ExitRoles lists what sold, once each: "sell" (a sell decision's
	// order), "stop" (a protective stop), "exit" (the executor closing a
	// position it could not protect).
	ExitRoles []string `json:"exit_roles,omitempty"`

	intendedNotional, entryNotional, exitNotional, soldCost decimal.Decimal
	carriedBasis                                            decimal.Decimal
	last                                                    time.Time
}

// carriesAt is, per symbol, the ledger just before the first fill for
// which remains holds (Before: that fill's client order id; "" when no
// fill of the symbol remains), when it holds something: what an archive
// that removes the other fills must carry. carried seeds it as in
// BuildBookCarried.
func carriesAt(fills []FillRecord, carried map[string]Carry, remains func(FillRecord) bool) map[string]Carry {
	led := map[string]*Ledger{}
	done := map[string]bool{}
	var order []string
	out := map[string]Carry{}
	for _, f := range fills {
		l := led[f.Symbol]
		if l == nil {
			l = &Ledger{}
			if c, ok := carried[f.Symbol]; ok && c.seedsAt(f) {
				l.Qty, l.Basis = c.Qty, c.Basis
			}
			led[f.Symbol] = l
			order = append(order, f.Symbol)
		}
		if !done[f.Symbol] && remains(f) {
			done[f.Symbol] = true
			if l.Qty.IsPositive() {
				out[f.Symbol] = Carry{Qty: l.Qty, Basis: l.Basis, Before: f.ClientOrderID}
			}
		}
		l.Apply(f)
	}
	for _, sym := range order {
		if l := led[sym]; !done[sym] && l.Qty.IsPositive() {
			out[sym] = Carry{Qty: l.Qty, Basis: l.Basis}
		}
	}
	for sym, c := range carried {
		if led[sym] == nil && c.Qty.IsPositive() {
			out[sym] = Carry{Qty: c.Qty, Basis: c.Basis} // held, and still no fill since
		}
	}
	return out
}

// Duration is a time.Duration that encodes as text ("5h0m0s") and
// nanoseconds alike readable in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "5h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Position is what the fills leave held in one symbol.
type Position struct {
	Symbol string          `json:"symbol"`
	Qty    decimal.Decimal `json:"qty"`
	// Basis is the cost of what is held; AvgEntry Basis per unit.
	Basis    decimal.Decimal `json:"basis"`
	AvgEntry decimal.Decimal `json:"avg_entry"`
}

// Book is every fill grouped into round trips, with the positions they
// leave.
type Book struct {
	Trips     []RoundTrip         `json:"trips"`
	Positions map[string]Position `json:"positions"`
	// Realised is the realised PnL of every trip (closed or not) by symbol.
	Realised map[string]decimal.Decimal `json:"realised"`
	// Fills is every fill read, oldest first.
	Fills []FillRecord `json:"-"`
	// realisedByFill is what each fill realised (sells), by index in Fills.
	realisedByFill []decimal.Decimal
}

// MinOrder says whether a quantity of a symbol, at a price, is below the
// smallest order the exchange takes: such a remainder ("dust") closes a
// round trip. nil treats only zero as closed.
type MinOrder func(symbol string, qty, price decimal.Decimal) bool

// MinOrderFromState is the exchange's minimums (amount step, minimum
// amount, minimum notional) as the last recorded state gives them.
func MinOrderFromState(st schemas.State) MinOrder {
	return func(sym string, qty, price decimal.Decimal) bool {
		if !qty.IsPositive() {
			return true
		}
		m, ok := st.Markets[sym]
		if !ok {
			return false
		}
		return qty.LessThan(m.AmountStep) || qty.LessThan(m.MinAmount) || qty.Mul(price).LessThan(m.MinNotional)
	}
}

// Ledger is the average-cost account of one symbol: the quantity held and
// what it cost. `warden trades` and `profit` book fills through it, and so
// does a backtest's report, so both come to the same realised PnL.
type Ledger struct{ Qty, Basis decimal.Decimal }

// feeInQuote is a fill's fee in the quote currency: a base-asset fee
// valued at the fill's price; ok is false for a fee in another asset.
func feeInQuote(f FillRecord) (fee decimal.Decimal, ok bool) {
	base, quote, _ := strings.Cut(f.Symbol, "/")
	switch f.FeeCurrency {
	case quote:
		return f.Fee, true
	case base:
		return f.Fee.Mul(f.Price), true
	}
	return decimal.Zero, f.Fee.IsZero()
}

// Apply books one fill and returns what a sell realised (zero for a buy)
// and the cost basis it took. A buy adds its quantity less a base-asset
// fee and its notional plus a quote fee; a sell takes its quantity plus a
// base-asset fee, at its share of the basis, for its notional less a quote
// fee.
func (a *Ledger) Apply(f FillRecord) (realised, share decimal.Decimal) {
	base, quote, _ := strings.Cut(f.Symbol, "/")
	notional := f.Quantity.Mul(f.Price)
	if f.Side == schemas.SideBuy {
		got, cost := f.Quantity, notional
		switch f.FeeCurrency {
		case base:
			got = got.Sub(f.Fee)
		case quote:
			cost = cost.Add(f.Fee)
		}
		a.Qty, a.Basis = a.Qty.Add(got), a.Basis.Add(cost)
		return decimal.Zero, decimal.Zero
	}
	gone, proceeds := f.Quantity, notional
	switch f.FeeCurrency {
	case base:
		gone = gone.Add(f.Fee)
	case quote:
		proceeds = proceeds.Sub(f.Fee)
	}
	switch {
	case !a.Qty.IsPositive():
		share = decimal.Zero // sold what the fills never bought (held before)
	case gone.GreaterThanOrEqual(a.Qty):
		share = a.Basis
	default:
		share = a.Basis.Mul(gone).DivRound(a.Qty, basisDigits)
	}
	a.Qty, a.Basis = a.Qty.Sub(gone), a.Basis.Sub(share)
	return proceeds.Sub(share), share
}

// basisDigits is the precision of a cost basis split between what a sell
// takes and what stays; the sum of the two is always the exact whole.
const basisDigits = 12

// BuildBook groups fills (oldest first) into round trips per symbol, by
// average cost: a buy adds its quantity (less a base-asset fee) and its
// cost (plus a quote fee); a sell takes its share of the cost basis, and
// its proceeds less that share is realised. A trip closes when what is
// left is below the minimum order (dust), which stays held with its cost
// and opens the next trip's account. Fees in the base asset are valued at
// the fill's price; fees in other assets are listed, unvalued.
func BuildBook(fills []FillRecord, minOrder MinOrder) Book {
	return BuildBookCarried(fills, minOrder, nil)
}

// Carry is what a symbol held when its first fill still in the database
// came (the dust a closed round trip left, or a position an archived buy
// opened): the quantity and its cost basis, and that fill's client order
// id (Before; empty when no fill of the symbol is left). The archive
// record keeps it (Store.Carried), since the fills that made it left the
// database.
type Carry struct {
	Qty    decimal.Decimal `json:"qty"`
	Basis  decimal.Decimal `json:"basis"`
	Before string          `json:"before"`
	// After is the last seq the archive took: with no Before (no fill of
	// the symbol was left), the carry is the holding at the first fill
	// after it.
	After int64 `json:"after,omitempty"`
}

// seedsAt reports whether f, a symbol's first fill in a list, is the
// one the carry was held at: Before's, or with no Before the first fill
// recorded after the archive. A list that reaches back into the archive
// (the archives merged in) starts at an archived fill and takes no carry.
func (c Carry) seedsAt(f FillRecord) bool {
	if !c.Qty.IsPositive() {
		return false
	}
	if c.Before != "" {
		return f.ClientOrderID == c.Before
	}
	return c.After > 0 && f.Seq > c.After
}

// BuildBookCarried is BuildBook for fills that start after an archive:
// a symbol of carried whose first fill here is the carry's Before starts
// with the carried dust held at its cost, as BuildBook over every fill
// would have it. A symbol whose fills reach back before that fill (an
// archive merged in) takes no carry: the dust's own fills are there.
func BuildBookCarried(fills []FillRecord, minOrder MinOrder, carried map[string]Carry) Book {
	b := Book{Trips: []RoundTrip{}, Positions: map[string]Position{}, Realised: map[string]decimal.Decimal{},
		Fills: fills, realisedByFill: make([]decimal.Decimal, len(fills))}
	type acct struct {
		Ledger
		trip int // index in b.Trips of the open trip, -1 none
		last int // index of the symbol's last closed trip, -1 none
	}
	accts := map[string]*acct{}
	var order []string
	for i, f := range fills {
		a := accts[f.Symbol]
		seed := decimal.Decimal{}
		if a == nil {
			a = &acct{trip: -1, last: -1}
			accts[f.Symbol] = a
			order = append(order, f.Symbol)
			if c, ok := carried[f.Symbol]; ok && c.seedsAt(f) {
				a.Qty, a.Basis = c.Qty, c.Basis
				seed = c.Qty
			}
		}
		if a.trip < 0 {
			b.Trips = append(b.Trips, RoundTrip{ID: len(b.Trips) + 1, Symbol: f.Symbol, Open: true, OpenedAt: f.Time,
				Bought: decimal.Zero, Sold: decimal.Zero, DecisionIDs: []string{}})
			a.trip = len(b.Trips) - 1
			t := &b.Trips[a.trip]
			if a.last >= 0 && !b.Trips[a.last].Held.IsZero() {
				// The dust the previous trip left moves into this one.
				prev := &b.Trips[a.last]
				t.CarriedIn = prev.Held
				prev.CarriedTo, prev.Held, prev.Basis = t.ID, decimal.Zero, decimal.Zero
			} else if seed.IsPositive() {
				t.CarriedIn = seed // held before the archive's boundary
				t.EntryArchived, t.carriedBasis = true, a.Basis
			}
		}
		t := &b.Trips[a.trip]
		t.Fills++
		t.last = f.Time
		if f.DecisionID != "" && !slices.Contains(t.DecisionIDs, f.DecisionID) {
			t.DecisionIDs = append(t.DecisionIDs, f.DecisionID)
		}
		fee, ok := feeInQuote(f)
		if !ok {
			cur := f.FeeCurrency
			if cur == "" {
				cur = "?"
			}
			if t.FeesOther == nil {
				t.FeesOther = map[string]decimal.Decimal{}
			}
			t.FeesOther[cur] = t.FeesOther[cur].Add(f.Fee)
		}
		t.Fees = t.Fees.Add(fee)
		t.Slippage = t.Slippage.Add(f.SlippageCost())
		if f.Intended.IsPositive() {
			t.intendedNotional = t.intendedNotional.Add(f.Intended.Mul(f.Quantity))
		}
		basis := a.Basis
		realised, share := a.Apply(f)
		notional := f.Quantity.Mul(f.Price)
		if f.Side == schemas.SideBuy {
			t.Bought = t.Bought.Add(f.Quantity)
			t.entryNotional = t.entryNotional.Add(notional)
			t.Cost = t.Cost.Add(a.Basis.Sub(basis))
			continue
		}
		b.realisedByFill[i] = realised
		t.Sold = t.Sold.Add(f.Quantity)
		t.exitNotional = t.exitNotional.Add(notional)
		t.Proceeds = t.Proceeds.Add(realised.Add(share))
		t.Realised = t.Realised.Add(realised)
		t.soldCost = t.soldCost.Add(share)
		role := f.Role
		if role == "entry" {
			role = "sell" // a sell decision's own order
		}
		if role != "" && !slices.Contains(t.ExitRoles, role) {
			t.ExitRoles = append(t.ExitRoles, role)
		}
		b.Realised[f.Symbol] = b.Realised[f.Symbol].Add(realised)
		closed := !a.Qty.IsPositive()
		if !closed && minOrder != nil {
			closed = minOrder(f.Symbol, a.Qty, f.Price)
		}
		if closed {
			t.Open, t.ClosedAt = false, f.Time
			t.Held, t.Basis = a.Qty, a.Basis
			finish(t)
			a.trip, a.last = -1, a.trip
		}
	}
	for _, sym := range slices.Sorted(maps.Keys(carried)) {
		// Dust an archive carried with no fill of its symbol since: held
		// all the same.
		if c := carried[sym]; accts[sym] == nil && c.Before == "" && c.Qty.IsPositive() {
			accts[sym] = &acct{Ledger: Ledger{Qty: c.Qty, Basis: c.Basis}, trip: -1, last: -1}
			order = append(order, sym)
		}
	}
	for _, sym := range order {
		a := accts[sym]
		if a.trip >= 0 {
			t := &b.Trips[a.trip]
			t.Held, t.Basis = a.Qty, a.Basis
			finish(t)
		}
		if !a.Qty.IsZero() || !a.Basis.IsZero() {
			p := Position{Symbol: sym, Qty: a.Qty, Basis: a.Basis}
			if a.Qty.IsPositive() {
				p.AvgEntry = a.Basis.DivRound(a.Qty, 8)
			}
			b.Positions[sym] = p
		}
	}
	return b
}

// finish turns a trip's running sums into averages and its holding time.
func finish(t *RoundTrip) {
	switch {
	case t.Bought.IsPositive():
		t.EntryPrice = t.entryNotional.DivRound(t.Bought, 8)
	case t.EntryArchived && t.CarriedIn.IsPositive():
		t.EntryPrice = t.carriedBasis.DivRound(t.CarriedIn, 8)
	}
	if t.Sold.IsPositive() {
		t.ExitPrice = t.exitNotional.DivRound(t.Sold, 8)
	}
	if t.soldCost.IsPositive() {
		t.RealisedPct = t.Realised.Mul(decimal.NewFromInt(100)).DivRound(t.soldCost, 4)
	}
	if t.intendedNotional.IsPositive() {
		t.SlippageBps = t.Slippage.Mul(decimal.NewFromInt(10000)).DivRound(t.intendedNotional, 4)
	}
	if t.EntryArchived {
		t.Holding = 0 // it opened before the live database starts
		return
	}
	end := t.ClosedAt
	if end.IsZero() {
		end = t.last
	}
	t.Holding = Duration(end.Sub(t.OpenedAt))
}

// Marks are the prices open positions are valued at, by symbol.
type Marks map[string]decimal.Decimal

// MarksFromState values each market of a state at its mid, as the policy
// values held positions.
func MarksFromState(st schemas.State) Marks {
	m := Marks{}
	for sym, mk := range st.Markets {
		m[sym] = mk.Bid.Add(mk.Ask).Div(decimal.NewFromInt(2))
	}
	return m
}

// ProfitLine is realised and unrealised profit of one symbol, one day or
// the total.
type ProfitLine struct {
	Key        string          `json:"key"` // symbol, day (2006-01-02) or "total"
	Realised   decimal.Decimal `json:"realised"`
	Unrealised decimal.Decimal `json:"unrealised"`
	Total      decimal.Decimal `json:"total"`
	Fees       decimal.Decimal `json:"fees"`
	Fills      int             `json:"fills"`
	Closed     int             `json:"closed_trips"`
	Wins       int             `json:"wins"`
	Losses     int             `json:"losses"`
	// UnknownMark lists open symbols without a mark: their unrealised PnL
	// is not counted and says so.
	UnknownMark []string `json:"unknown_mark,omitempty"`
}

// Profit is profit by symbol, by day (UTC, of the sell that realised it)
// and in total.
type Profit struct {
	BySymbol []ProfitLine `json:"by_symbol"`
	ByDay    []ProfitLine `json:"by_day"`
	Total    ProfitLine   `json:"total"`
}

// Profit sums the book: realised per symbol and per day of the realising
// fill, unrealised from the open positions at marks.
func (b Book) Profit(marks Marks) Profit {
	bySym := map[string]*ProfitLine{}
	byDay := map[string]*ProfitLine{}
	line := func(m map[string]*ProfitLine, k string) *ProfitLine {
		if l := m[k]; l != nil {
			return l
		}
		l := &ProfitLine{Key: k}
		m[k] = l
		return l
	}
	for i, f := range b.Fills {
		ls, ld := line(bySym, f.Symbol), line(byDay, f.Time.UTC().Format(time.DateOnly))
		fee, _ := feeInQuote(f)
		for _, l := range []*ProfitLine{ls, ld} {
			l.Fills++
			l.Fees = l.Fees.Add(fee)
			if i < len(b.realisedByFill) {
				l.Realised = l.Realised.Add(b.realisedByFill[i])
			}
		}
	}
	for _, t := range b.Trips {
		if t.Open {
			continue
		}
		ls, ld := line(bySym, t.Symbol), line(byDay, t.ClosedAt.UTC().Format(time.DateOnly))
		for _, l := range []*ProfitLine{ls, ld} {
			l.Closed++
			switch t.Realised.Sign() {
			case 1:
				l.Wins++
			case -1:
				l.Losses++
			}
		}
	}
	for sym, p := range b.Positions {
		l := line(bySym, sym)
		mark, ok := marks[sym]
		if !ok || !mark.IsPositive() {
			if p.Qty.IsPositive() {
				l.UnknownMark = append(l.UnknownMark, sym)
			}
			continue
		}
		l.Unrealised = l.Unrealised.Add(p.Qty.Mul(mark).Sub(p.Basis))
	}
	var out Profit
	out.Total.Key = "total"
	for _, k := range slices.Sorted(maps.Keys(bySym)) {
		l := bySym[k]
		l.Total = l.Realised.Add(l.Unrealised)
		out.BySymbol = append(out.BySymbol, *l)
		t := &out.Total
		t.Realised, t.Unrealised, t.Fees = t.Realised.Add(l.Realised), t.Unrealised.Add(l.Unrealised), t.Fees.Add(l.Fees)
		t.Fills, t.Closed, t.Wins, t.Losses = t.Fills+l.Fills, t.Closed+l.Closed, t.Wins+l.Wins, t.Losses+l.Losses
		t.UnknownMark = append(t.UnknownMark, l.UnknownMark...)
	}
	out.Total.Total = out.Total.Realised.Add(out.Total.Unrealised)
	for _, k := range slices.Sorted(maps.Keys(byDay)) {
		l := byDay[k]
		l.Total = l.Realised
		out.ByDay = append(out.ByDay, *l)
	}
	if out.BySymbol == nil {
		out.BySymbol = []ProfitLine{}
	}
	if out.ByDay == nil {
		out.ByDay = []ProfitLine{}
	}
	return out
}

// HasArchived reports whether records were moved out of this database
// into archive files (kind "archive"): fills and order events of finished
// orders before the archive's cut are then no longer here, and views that
// sum the whole history (trades, profit) must say so.
func (s *Store) HasArchived(ctx context.Context) (bool, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM records WHERE kind = 'archive' LIMIT 1)`).Scan(&n); err != nil {
		return false, fmt.Errorf("audit: archives: %w", err)
	}
	return n > 0, nil
}
