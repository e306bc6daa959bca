package paper

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/warden-trading/warden/executor"
)

// The persisted paper account holds balances, orders, trades, counters and
// the clock; never market data beyond each market's newest candle (a
// restarted account is given its history again by its feed: see
// HistoryUntil). Markets, fees and the other settings come from Config.
//
// A checkpoint (MarshalState) is the whole account. A delta (MarshalDelta)
// is what changed since the last checkpoint, delta or restore: new or
// changed orders, new trades, the balances when they changed, the clock
// and each market's newest candle. RestoreState of a checkpoint followed by
// ApplyDelta of every later delta, in order, gives the account back exactly.
//
// Version 1 snapshots (every candle kept) still restore.
type stateV2 struct {
	Version  int                 `json:"version"`
	Delta    bool                `json:"delta,omitempty"`
	Now      time.Time           `json:"now"`
	Balances map[string]*balance `json:"balances,omitempty"` // in a delta: all of them, only when one changed
	Orders   []*order            `json:"orders,omitempty"`   // in placement order; in a delta: new or changed ones
	Trades   []executor.Trade    `json:"trades,omitempty"`   // in a delta: the trades after the last save
	Seq      int64               `json:"seq"`
	TradeSeq int64               `json:"trade_seq"`
	Books    map[string]bookMeta `json:"books,omitempty"`
}

// bookMeta is what a market's book keeps across a restart: its newest
// candle (the ticker and the next match read it), the feed's interval and
// the volume already filled during that candle.
type bookMeta struct {
	Last     *executor.Candle `json:"last,omitempty"`
	Interval time.Duration    `json:"interval"`
	UsedVol  float64          `json:"used_vol"`
}

// stateV1 is the first format: the whole account and every candle kept.
type stateV1 struct {
	Version  int                  `json:"version"`
	Now      time.Time            `json:"now"`
	Balances map[string]*balance  `json:"balances"`
	Orders   []*order             `json:"orders"` // in placement order
	Trades   []executor.Trade     `json:"trades"`
	Seq      int64                `json:"seq"`
	TradeSeq int64                `json:"trade_seq"`
	Books    map[string]bookState `json:"books"`
}

type bookState struct {
	Candles  []executor.Candle `json:"candles"`
	Interval time.Duration     `json:"interval"`
	UsedVol  float64           `json:"used_vol"`
}

// saved is what the last save (or restore) held, for MarshalDelta.
type saved struct {
	orders   map[string][]byte // client order id -> the order's JSON
	trades   int
	balances []byte
	books    []byte
	now      time.Time
	seq      int64
	tseq     int64
}

// MarshalState is a checkpoint: the whole account (balances, every order,
// every trade, the counters, the paper clock and each market's newest
// candle) as JSON. Market history is not in it.
func (x *Exchange) MarshalState() ([]byte, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	st, sv, err := x.snapshot()
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	x.saved = sv
	return out, nil
}

// MarshalDelta is what changed since the last MarshalState, MarshalDelta,
// RestoreState or ApplyDelta, as JSON for ApplyDelta; nil when nothing
// did. Without a save before it, it is a checkpoint.
func (x *Exchange) MarshalDelta() ([]byte, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.saved == nil {
		st, sv, err := x.snapshot()
		if err != nil {
			return nil, err
		}
		out, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		x.saved = sv
		return out, nil
	}
	st, sv, err := x.snapshot()
	if err != nil {
		return nil, err
	}
	prev := x.saved
	d := stateV2{Version: 2, Delta: true, Now: st.Now, Seq: st.Seq, TradeSeq: st.TradeSeq}
	changed := !st.Now.Equal(prev.now) || st.Seq != prev.seq || st.TradeSeq != prev.tseq
	if !bytes.Equal(sv.balances, prev.balances) {
		d.Balances, changed = st.Balances, true
	}
	if !bytes.Equal(sv.books, prev.books) {
		d.Books, changed = st.Books, true
	}
	for _, o := range st.Orders {
		if !bytes.Equal(sv.orders[o.Rep.ClientOrderID], prev.orders[o.Rep.ClientOrderID]) {
			d.Orders = append(d.Orders, o)
		}
	}
	if len(st.Trades) < prev.trades {
		return nil, fmt.Errorf("paper: delta: %d trades, fewer than the %d saved", len(st.Trades), prev.trades)
	}
	d.Trades = st.Trades[prev.trades:]
	if len(d.Orders) > 0 || len(d.Trades) > 0 {
		changed = true
	}
	x.saved = sv
	if !changed {
		return nil, nil
	}
	return json.Marshal(d)
}

// snapshot is the account as a checkpoint, and what it saves. x.mu held.
func (x *Exchange) snapshot() (stateV2, *saved, error) {
	st := stateV2{Version: 2, Now: x.now, Balances: x.bal, Trades: x.trades, Seq: x.seq, TradeSeq: x.tseq,
		Books: make(map[string]bookMeta, len(x.books))}
	sv := &saved{orders: make(map[string][]byte, len(x.orders)), trades: len(x.trades), now: x.now, seq: x.seq, tseq: x.tseq}
	for _, o := range x.orders {
		st.Orders = append(st.Orders, o)
		b, err := json.Marshal(o)
		if err != nil {
			return st, nil, err
		}
		sv.orders[o.Rep.ClientOrderID] = b
	}
	sortOrders(st.Orders)
	for sym, b := range x.books {
		m := bookMeta{Interval: b.interval, UsedVol: b.usedVol}
		if c, ok := b.last(); ok {
			m.Last = &c
		}
		st.Books[sym] = m
	}
	var err error
	if sv.balances, err = json.Marshal(st.Balances); err != nil {
		return st, nil, err
	}
	if sv.books, err = json.Marshal(st.Books); err != nil {
		return st, nil, err
	}
	return st, sv, nil
}

func sortOrders(os []*order) {
	// exchange order ids are a sequence: sort numerically
	n := func(o *order) int64 {
		var v int64
		fmt.Sscan(o.Rep.ExchangeOrderID, &v)
		return v
	}
	for i := 1; i < len(os); i++ {
		for j := i; j > 0 && n(os[j]) < n(os[j-1]); j-- {
			os[j], os[j-1] = os[j-1], os[j]
		}
	}
}

// RestoreState replaces the account with a checkpoint from MarshalState
// (or a version 1 snapshot). Every symbol in it must be a configured
// market; on error nothing changes. A restored market holds only its
// newest candle until its feed gives the history again (HistoryUntil).
func (x *Exchange) RestoreState(data []byte) error {
	var head struct {
		Version int  `json:"version"`
		Delta   bool `json:"delta"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("paper: restore: %w", err)
	}
	switch {
	case head.Version == 1:
		return x.restoreV1(data)
	case head.Version != 2:
		return fmt.Errorf("paper: restore: unsupported state version %d", head.Version)
	case head.Delta:
		return fmt.Errorf("paper: restore: a delta is not a checkpoint")
	}
	var st stateV2
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("paper: restore: %w", err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	books := make(map[string]*book, len(x.books))
	for sym, b := range x.books {
		books[sym] = &book{m: b.m}
	}
	if err := restoreBooks(books, st.Books); err != nil {
		return err
	}
	orders, err := restoreOrders(books, nil, st.Orders)
	if err != nil {
		return err
	}
	bal, err := checkBalances(st.Balances)
	if err != nil {
		return err
	}
	if st.Seq < 0 || st.TradeSeq < 0 {
		return fmt.Errorf("paper: restore: negative counter")
	}
	x.now, x.bal, x.orders, x.trades, x.seq, x.tseq, x.books = st.Now, bal, orders, st.Trades, st.Seq, st.TradeSeq, books
	x.saved = nil
	_, x.saved, err = x.snapshot()
	return err
}

// ApplyDelta applies a delta from MarshalDelta to the account it was made
// from (restored from the checkpoint and the deltas before it). On error
// nothing changes.
func (x *Exchange) ApplyDelta(data []byte) error {
	var st stateV2
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("paper: apply delta: %w", err)
	}
	if st.Version != 2 || !st.Delta {
		return fmt.Errorf("paper: apply delta: not a version 2 delta")
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if st.Now.Before(x.now) {
		return fmt.Errorf("paper: apply delta: its clock %s is before the account's %s", st.Now.Format(time.RFC3339), x.now.Format(time.RFC3339))
	}
	if st.TradeSeq < x.tseq || st.Seq < x.seq {
		return fmt.Errorf("paper: apply delta: counters go back")
	}
	books := x.books
	if st.Books != nil {
		books = make(map[string]*book, len(x.books))
		for sym, b := range x.books {
			books[sym] = &book{m: b.m}
		}
		if err := restoreBooks(books, st.Books); err != nil {
			return fmt.Errorf("paper: apply delta: %w", err)
		}
	} else {
		for _, b := range books {
			b.open = nil
		}
	}
	orders, err := restoreOrders(books, x.orders, st.Orders)
	if err != nil {
		if st.Books == nil {
			x.reopen()
		}
		return fmt.Errorf("paper: apply delta: %w", err)
	}
	bal := x.bal
	if st.Balances != nil {
		if bal, err = checkBalances(st.Balances); err != nil {
			if st.Books == nil {
				x.reopen()
			}
			return fmt.Errorf("paper: apply delta: %w", err)
		}
	}
	x.now, x.bal, x.orders, x.seq, x.tseq, x.books = st.Now, bal, orders, st.Seq, st.TradeSeq, books
	x.trades = append(x.trades, st.Trades...)
	_, x.saved, err = x.snapshot()
	return err
}

// reopen rebuilds every book's list of open orders from x.orders.
func (x *Exchange) reopen() {
	for _, b := range x.books {
		b.open = nil
	}
	os := make([]*order, 0, len(x.orders))
	for _, o := range x.orders {
		os = append(os, o)
	}
	sortOrders(os)
	for _, o := range os {
		if b := x.books[o.Rep.Symbol]; b != nil && o.open() {
			b.open = append(b.open, o)
		}
	}
}

// Interval is the spacing of the candles symbol was fed (the smallest seen,
// kept across a restore): its timeframe; zero before its second candle.
func (x *Exchange) Interval(symbol string) time.Duration {
	x.mu.Lock()
	defer x.mu.Unlock()
	if b, ok := x.books[symbol]; ok {
		return b.interval
	}
	return 0
}

// HistoryUntil is, for a market restored without its history, the time of
// the newest candle it had: its feed gives the candles up to then again,
// which OnCandle takes as history (no matching, the fill budget of the
// newest candle kept). Zero when the market needs no history.
func (x *Exchange) HistoryUntil(symbol string) time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	b, ok := x.books[symbol]
	if !ok || !b.restored || b.backfilled {
		return time.Time{}
	}
	return b.histUntil
}

func restoreBooks(books map[string]*book, metas map[string]bookMeta) error {
	for sym, m := range metas {
		b, ok := books[sym]
		if !ok {
			return fmt.Errorf("paper: restore: market %q is not configured", sym)
		}
		if m.Interval < 0 || m.UsedVol < 0 || math.IsNaN(m.UsedVol) {
			return fmt.Errorf("paper: restore: bad book of %s", sym)
		}
		b.interval, b.usedVol = m.Interval, m.UsedVol
		if m.Last != nil {
			c := *m.Last
			if c.Time.IsZero() || !(c.Low <= c.High) || c.Low < 0 || c.Volume < 0 || math.IsNaN(c.Close) {
				return fmt.Errorf("paper: restore: bad candle of %s", sym)
			}
			c.Time = c.Time.UTC()
			b.candles = []executor.Candle{c}
			b.restored, b.histUntil = true, c.Time
			b.resetWindow()
		}
	}
	return nil
}

// restoreOrders returns base (copied) with orders added or replaced, and
// fills each book's open list in placement order.
func restoreOrders(books map[string]*book, base map[string]*order, add []*order) (map[string]*order, error) {
	orders := make(map[string]*order, len(base)+len(add))
	for id, o := range base {
		orders[id] = o
	}
	seen := make(map[string]bool, len(add))
	for _, o := range add {
		if o == nil {
			return nil, fmt.Errorf("paper: restore: null order")
		}
		if _, ok := books[o.Rep.Symbol]; !ok {
			return nil, fmt.Errorf("paper: restore: order %s on unconfigured market %q", o.Rep.ClientOrderID, o.Rep.Symbol)
		}
		if seen[o.Rep.ClientOrderID] {
			return nil, fmt.Errorf("paper: restore: duplicate client order id %s", o.Rep.ClientOrderID)
		}
		seen[o.Rep.ClientOrderID] = true
		o.prepare()
		orders[o.Rep.ClientOrderID] = o
	}
	all := make([]*order, 0, len(orders))
	for _, o := range orders {
		all = append(all, o)
	}
	sortOrders(all)
	for _, b := range books {
		b.open = nil
	}
	for _, o := range all {
		if o.open() {
			books[o.Rep.Symbol].open = append(books[o.Rep.Symbol].open, o)
		}
	}
	return orders, nil
}

func checkBalances(bal map[string]*balance) (map[string]*balance, error) {
	if bal == nil {
		bal = map[string]*balance{}
	}
	for a, v := range bal {
		if v == nil || v.Free.Sign() < 0 || v.Locked.Sign() < 0 {
			return nil, fmt.Errorf("paper: restore: bad balance of %s", a)
		}
	}
	return bal, nil
}

// restoreV1 restores a version 1 snapshot, candles included.
func (x *Exchange) restoreV1(data []byte) error {
	var st stateV1
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("paper: restore: %w", err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	books := make(map[string]*book, len(x.books))
	for sym, b := range x.books {
		books[sym] = &book{m: b.m}
	}
	for sym, bs := range st.Books {
		b, ok := books[sym]
		if !ok {
			return fmt.Errorf("paper: restore: market %q is not configured", sym)
		}
		b.candles = append([]executor.Candle(nil), bs.Candles...)
		b.interval, b.usedVol = bs.Interval, bs.UsedVol
	}
	orders, err := restoreOrders(books, nil, st.Orders)
	if err != nil {
		return err
	}
	bal, err := checkBalances(st.Balances)
	if err != nil {
		return err
	}
	x.now, x.bal, x.orders, x.trades, x.seq, x.tseq, x.books = st.Now, bal, orders, st.Trades, st.Seq, st.TradeSeq, books
	for _, b := range x.books {
		b.resetWindow()
		if c, ok := b.last(); ok {
			x.trim(b, c.Time)
		}
	}
	_, x.saved, err = x.snapshot()
	return err
}

// resetWindow recomputes the 24 h volume window from every kept candle
// (trim then drops the candles outside it).
func (b *book) resetWindow() {
	b.win, b.winQuote = b.start, 0
	for _, c := range b.candles[b.start:] {
		b.winQuote += c.Volume * c.Close
	}
	b.winQuote = math.Max(b.winQuote, 0)
}
