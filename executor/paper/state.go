package paper

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/warden-trading/warden/executor"
)

// stateV1 is the persisted paper account. Markets, fees and the other
// settings come from Config, not from the snapshot.
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

// MarshalState snapshots the whole account (balances, orders, trades, the
// candles kept and the paper clock) as JSON, so a paper account persists
// across runs.
func (x *Exchange) MarshalState() ([]byte, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	st := stateV1{Version: 1, Now: x.now, Balances: x.bal, Trades: x.trades, Seq: x.seq, TradeSeq: x.tseq,
		Books: make(map[string]bookState, len(x.books))}
	for _, o := range x.orders {
		st.Orders = append(st.Orders, o)
	}
	sortOrders(st.Orders)
	for sym, b := range x.books {
		st.Books[sym] = bookState{Candles: b.candles[b.start:], Interval: b.interval, UsedVol: b.usedVol}
	}
	return json.Marshal(st)
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

// RestoreState replaces the account with a snapshot from MarshalState.
// Every symbol in it must be a configured market; on error nothing changes.
func (x *Exchange) RestoreState(data []byte) error {
	var st stateV1
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("paper: restore: %w", err)
	}
	if st.Version != 1 {
		return fmt.Errorf("paper: restore: unsupported state version %d", st.Version)
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
	orders := make(map[string]*order, len(st.Orders))
	for _, o := range st.Orders {
		if o == nil {
			return fmt.Errorf("paper: restore: null order")
		}
		b, ok := books[o.Rep.Symbol]
		if !ok {
			return fmt.Errorf("paper: restore: order %s on unconfigured market %q", o.Rep.ClientOrderID, o.Rep.Symbol)
		}
		if _, dup := orders[o.Rep.ClientOrderID]; dup {
			return fmt.Errorf("paper: restore: duplicate client order id %s", o.Rep.ClientOrderID)
		}
		o.prepare()
		orders[o.Rep.ClientOrderID] = o
		if o.open() {
			b.open = append(b.open, o)
		}
	}
	bal := st.Balances
	if bal == nil {
		bal = map[string]*balance{}
	}
	for a, v := range bal {
		if v == nil || v.Free.Sign() < 0 || v.Locked.Sign() < 0 {
			return fmt.Errorf("paper: restore: bad balance of %s", a)
		}
	}
	x.now, x.bal, x.orders, x.trades, x.seq, x.tseq, x.books = st.Now, bal, orders, st.Trades, st.Seq, st.TradeSeq, books
	for _, b := range x.books {
		b.winQuote, b.win = 0, 0
		for _, c := range b.candles {
			b.winQuote += c.Volume * c.Close
		}
		if c, ok := b.last(); ok {
			x.trim(b, c.Time)
		}
		b.winQuote = math.Max(b.winQuote, 0)
	}
	return nil
}
