package ccxtx

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"time"

	ccxt "github.com/ccxt/ccxt/go/v4"
	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
)

// ccxt's precision modes (ccxt/go exchange_number.go).
const (
	decimalPlaces = 2
	tickSize      = 4
)

// precisionMode reads the exchange's PrecisionMode field, which ccxt's
// interfaces do not expose. Nearly every ccxt v4 exchange (Binance among
// them) uses TICK_SIZE: market.precision.amount is then the step itself.
func precisionMode(ex any) int {
	v := reflect.ValueOf(ex)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return tickSize
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return tickSize
	}
	if f := v.FieldByName("PrecisionMode"); f.IsValid() && f.CanInt() {
		return int(f.Int())
	}
	return tickSize
}

func fdec(f *float64) decimal.Decimal {
	if f == nil || math.IsNaN(*f) || math.IsInf(*f, 0) {
		return decimal.Zero
	}
	return decimal.NewFromFloat(*f)
}

// infoDec reads an exact decimal from the exchange's raw response, where
// Binance sends prices and quantities as strings.
func infoDec(info map[string]any, key string) (decimal.Decimal, bool) {
	if info == nil {
		return decimal.Zero, false
	}
	var s string
	switch v := info[key].(type) {
	case string:
		s = v
	case json.Number:
		s = v.String()
	case float64:
		return decimal.NewFromFloat(v), true
	case int64:
		return decimal.NewFromInt(v), true
	case int:
		return decimal.NewFromInt(int64(v)), true
	default:
		return decimal.Zero, false
	}
	d, err := decimal.NewFromString(s)
	return d, err == nil
}

// exact prefers the raw response's decimal string over ccxt's float.
func exact(info map[string]any, key string, f *float64) decimal.Decimal {
	if d, ok := infoDec(info, key); ok {
		return d
	}
	return fdec(f)
}

func sdef(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func msTime(p *int64) time.Time {
	if p == nil || *p <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(*p).UTC()
}

// Markets returns the exchange's spot markets keyed by unified symbol
// ("BTC/USDT") with their steps and minimums. ccxt caches the markets after
// the first load.
func (e *Exchange) Markets(ctx context.Context) (map[string]executor.Market, error) {
	e.mu.Lock()
	reload := e.marketsFailed
	e.mu.Unlock()
	raw, err := call(ctx, e, "load markets", func() (map[string]ccxt.MarketInterface, error) {
		// ccxt marks its markets loaded even when loading failed, and then
		// serves the empty cache: after a failure, force a reload.
		ms, err := e.ex.LoadMarkets(reload)
		if err == nil && len(ms) == 0 {
			err = &executor.Error{Kind: executor.KindUnknown, Msg: "load markets: the exchange returned no markets"}
		}
		return ms, err
	})
	e.mu.Lock()
	e.marketsFailed = err != nil
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	mode := precisionMode(e.ex)
	out := make(map[string]executor.Market, len(raw))
	for sym, m := range raw {
		if m.Spot != nil && !*m.Spot {
			continue
		}
		mk := convertMarket(m, mode)
		if mk.Symbol == "" {
			mk.Symbol = sym
		}
		out[mk.Symbol] = mk
	}
	e.mu.Lock()
	e.markets = out
	e.mu.Unlock()
	return out, nil
}

func convertMarket(m ccxt.MarketInterface, mode int) executor.Market {
	mk := executor.Market{
		Symbol: sdef(m.Symbol), ID: sdef(m.Id), Base: sdef(m.BaseCurrency), Quote: sdef(m.QuoteCurrency),
		Active:      m.Active == nil || *m.Active,
		AmountStep:  stepOf(m.Precision.Amount, mode),
		PriceStep:   stepOf(m.Precision.Price, mode),
		MinAmount:   fdec(m.Limits.Amount.Min),
		MinNotional: fdec(m.Limits.Cost.Min),
	}
	// The exchange's own market entry: ccxt's Info is the unified market,
	// whose "info" holds the raw one.
	raw := m.Info
	if inner, ok := m.Info["info"].(map[string]any); ok {
		raw = inner
	}
	// Binance's exchangeInfo status (TRADING, BREAK, HALT, ...); other
	// exchanges leave it empty and Active decides (TradingStatus).
	if st, ok := raw["status"].(string); ok && st != "" {
		mk.Status = st
	}
	// Binance: the exact filter strings beat ccxt's floats.
	if filters, ok := raw["filters"].([]any); ok {
		for _, fr := range filters {
			f, _ := fr.(map[string]any)
			switch f["filterType"] {
			case "PRICE_FILTER":
				if d, ok := infoDec(f, "tickSize"); ok && d.IsPositive() {
					mk.PriceStep = d
				}
			case "LOT_SIZE":
				if d, ok := infoDec(f, "stepSize"); ok && d.IsPositive() {
					mk.AmountStep = d
				}
				if d, ok := infoDec(f, "minQty"); ok {
					mk.MinAmount = d
				}
			case "NOTIONAL", "MIN_NOTIONAL":
				if d, ok := infoDec(f, "minNotional"); ok {
					mk.MinNotional = d
				}
			}
		}
	}
	return mk
}

// OrderBook reads the top depth levels of symbol's book (ccxt
// fetchOrderBook), each side from the best. The time is the exchange's,
// or the local clock when it sends none (Binance spot does not).
func (e *Exchange) OrderBook(ctx context.Context, symbol string, depth int) (executor.OrderBook, error) {
	if depth <= 0 {
		depth = executor.BookDepth
	}
	ob, err := call(ctx, e, "fetch order book "+symbol, func() (ccxt.OrderBook, error) {
		return e.ex.FetchOrderBook(symbol, ccxt.WithFetchOrderBookLimit(int64(depth)))
	})
	if err != nil {
		return executor.OrderBook{}, err
	}
	out := executor.OrderBook{Symbol: symbol, Time: msTime(ob.Timestamp)}
	if out.Time.IsZero() {
		out.Time = e.clock().UTC()
	}
	levels := func(raw [][]float64) []executor.Level {
		ls := make([]executor.Level, 0, min(len(raw), depth))
		for _, r := range raw {
			if len(ls) == depth {
				break
			}
			if len(r) < 2 {
				continue
			}
			ls = append(ls, executor.Level{Price: fdec(&r[0]), Qty: fdec(&r[1])})
		}
		return ls
	}
	out.Bids, out.Asks = levels(ob.Bids), levels(ob.Asks)
	return out, nil
}

// SystemStatus reads the exchange's system status (ccxt fetchStatus;
// Binance GET /sapi/v1/system/status): executor.SystemNormal for "ok",
// executor.SystemMaintenance for "maintenance". Any other answer is an
// error, and a failed read an error too: the caller treats both as
// unknown, which blocks new orders.
func (e *Exchange) SystemStatus(ctx context.Context) (string, error) {
	st, err := call(ctx, e, "fetch status", func() (ccxt.Status, error) {
		return e.ex.FetchStatus()
	})
	if err != nil {
		return "", err
	}
	switch s := sdef(st.Status); s {
	case "ok":
		return executor.SystemNormal, nil
	case "maintenance":
		return executor.SystemMaintenance, nil
	default:
		return "", &executor.Error{Kind: executor.KindUnknown, Msg: fmt.Sprintf("fetch status: the exchange answered %q, not ok or maintenance", s)}
	}
}

// stepOf turns a ccxt precision into a step: the value itself in TICK_SIZE
// mode, 10^-n in DECIMAL_PLACES mode, and zero (unknown) otherwise.
func stepOf(p *float64, mode int) decimal.Decimal {
	if p == nil {
		return decimal.Zero
	}
	switch mode {
	case tickSize:
		return fdec(p)
	case decimalPlaces:
		return decimal.New(1, -int32(*p))
	}
	return decimal.Zero
}

// market returns one market, loading the markets on first use.
func (e *Exchange) market(ctx context.Context, symbol string) (executor.Market, error) {
	e.mu.Lock()
	m, ok := e.markets[symbol]
	loaded := e.markets != nil
	e.mu.Unlock()
	if ok {
		return m, nil
	}
	if !loaded {
		ms, err := e.Markets(ctx)
		if err != nil {
			return executor.Market{}, err
		}
		if m, ok := ms[symbol]; ok {
			return m, nil
		}
	}
	return executor.Market{}, &executor.Error{Kind: executor.KindRejected, Msg: fmt.Sprintf("%s has no spot market %q", e.id, symbol)}
}

// Ticker returns the top of book and 24 h quote volume.
func (e *Exchange) Ticker(ctx context.Context, symbol string) (executor.Ticker, error) {
	t, err := call(ctx, e, "fetch ticker "+symbol, func() (ccxt.Ticker, error) {
		return e.ex.FetchTicker(symbol)
	})
	if err != nil {
		return executor.Ticker{}, err
	}
	out := executor.Ticker{
		Symbol:         symbol,
		Bid:            exact(t.Info, "bidPrice", t.Bid),
		Ask:            exact(t.Info, "askPrice", t.Ask),
		Last:           exact(t.Info, "lastPrice", t.Last),
		QuoteVolume24h: exact(t.Info, "quoteVolume", t.QuoteVolume),
		Time:           msTime(t.Timestamp),
	}
	if out.Time.IsZero() {
		out.Time = e.clock().UTC()
	}
	return out, nil
}

// OHLCV returns candles from since (zero: the exchange's latest), oldest
// first.
func (e *Exchange) OHLCV(ctx context.Context, symbol, timeframe string, since time.Time, limit int) ([]executor.Candle, error) {
	if timeframe == "" {
		return nil, &executor.Error{Kind: executor.KindRejected, Msg: "fetch ohlcv: no timeframe"}
	}
	opts := []ccxt.FetchOHLCVOptions{ccxt.WithFetchOHLCVTimeframe(timeframe)}
	if !since.IsZero() {
		opts = append(opts, ccxt.WithFetchOHLCVSince(since.UnixMilli()))
	}
	if limit > 0 {
		opts = append(opts, ccxt.WithFetchOHLCVLimit(int64(limit)))
	}
	rows, err := call(ctx, e, "fetch ohlcv "+symbol+" "+timeframe, func() ([]ccxt.OHLCV, error) {
		return e.ex.FetchOHLCV(symbol, opts...)
	})
	if err != nil {
		return nil, err
	}
	out := make([]executor.Candle, 0, len(rows))
	for _, r := range rows {
		out = append(out, executor.Candle{Time: time.UnixMilli(r.Timestamp).UTC(), Open: r.Open, High: r.High, Low: r.Low, Close: r.Close, Volume: r.Volume})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// Balances returns every asset the account holds; Binance's exact strings
// are used when present.
func (e *Exchange) Balances(ctx context.Context) (map[string]executor.Balance, error) {
	b, err := call(ctx, e, "fetch balance", func() (ccxt.Balances, error) {
		return e.ex.FetchBalance()
	})
	if err != nil {
		return nil, err
	}
	out := map[string]executor.Balance{}
	if list, ok := b.Info["balances"].([]any); ok {
		for _, r := range list {
			m, _ := r.(map[string]any)
			asset, _ := m["asset"].(string)
			free, ok1 := infoDec(m, "free")
			locked, ok2 := infoDec(m, "locked")
			if asset == "" || !ok1 || !ok2 {
				continue
			}
			out[asset] = executor.Balance{Asset: asset, Free: free, Locked: locked}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	for asset, free := range b.Free {
		out[asset] = executor.Balance{Asset: asset, Free: fdec(free), Locked: fdec(b.Used[asset])}
	}
	return out, nil
}

// floatOf converts d to the float64 ccxt's API takes, and reports whether
// the float's shortest decimal form is d again (ccxt formats the float back
// into a decimal string when it signs the request).
func floatOf(d decimal.Decimal) (float64, bool) {
	f, _ := d.Float64()
	back, err := decimal.NewFromString(strconv.FormatFloat(f, 'f', -1, 64))
	return f, err == nil && back.Equal(d)
}
