// Package paper is Warden's default exchange: a simulated spot account that
// implements executor.Exchange and is driven by a market feed of candles
// (replayed history in backtests, live public data converted to candles in
// paper trading).
//
// Each OnCandle call advances the paper clock to the candle's time and
// matches the open orders of its symbol against it: limit buys fill when the
// low reaches the price, sells when the high does, at the limit price (maker
// fee); market orders and limits that were marketable when placed fill as a
// taker at the touch plus slippage; stop-loss-limit orders trigger when the
// low reaches the stop. Fills are bounded by a share of each candle's volume
// and an order only becomes eligible after a latency on the paper clock.
// Balances are decimal and honest: quote is locked for buys and base for
// sells, cash never goes negative and nothing is sold that is not held.
// Refusals look like Binance's (codes -1013, -2010, -2011, -2013...).
package paper

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// Config configures a paper exchange. Zero values mean zero (no fees, no
// slippage, no latency, no volume bound); DefaultConfig has sensible values.
type Config struct {
	// Markets are the tradable symbols with their steps and minimums.
	Markets map[string]executor.Market
	// Balances are the initial free balances by asset.
	Balances map[string]decimal.Decimal
	// MakerFee and TakerFee are fractions of the traded amount (0.001 =
	// 0.1%). Like Binance without BNB, a buy pays its fee in the base asset
	// received and a sell in the quote asset received.
	MakerFee, TakerFee decimal.Decimal
	// SlippageBps is the taker slippage in basis points of the touch price.
	SlippageBps float64
	// VolatilitySlippage adds this share of the candle's range
	// ((high-low)/close) to the taker slippage.
	VolatilitySlippage float64
	// ParticipationRate bounds the quantity filled per candle, over all
	// orders of a symbol, to this share of the candle's volume (0.1 = 10%).
	// Zero or negative means no bound.
	ParticipationRate float64
	// Latency is how long after placement, on the paper clock, an order
	// becomes eligible to fill. With zero latency a marketable order fills
	// at once against the last candle.
	Latency time.Duration
	// SpreadBps is the synthetic spread around the last close: bid and ask
	// are close ∓ half of it.
	SpreadBps float64
	// MaxCandles is how many candles per symbol are kept for OHLCV beyond
	// the last 24 h (which are always kept for the ticker's volume).
	MaxCandles int
	// Logger receives fills and refusals at debug level; nil discards.
	Logger *slog.Logger
}

// DefaultConfig is BTC/USDT and ETH/USDT with Binance's filters, 10,000
// USDT, 0.1% fees, 2 bps slippage, 10% participation, 1 bps spread and no
// latency.
func DefaultConfig() Config {
	return Config{
		Markets:           DefaultMarkets(),
		Balances:          map[string]decimal.Decimal{"USDT": decimal.NewFromInt(10000)},
		MakerFee:          decimal.RequireFromString("0.001"),
		TakerFee:          decimal.RequireFromString("0.001"),
		SlippageBps:       2,
		ParticipationRate: 0.1,
		SpreadBps:         1,
		MaxCandles:        5000,
	}
}

// DefaultMarkets returns BTC/USDT and ETH/USDT with Binance spot's filters.
func DefaultMarkets() map[string]executor.Market {
	d := decimal.RequireFromString
	return map[string]executor.Market{
		"BTC/USDT": {Symbol: "BTC/USDT", ID: "BTCUSDT", Base: "BTC", Quote: "USDT", Active: true,
			AmountStep: d("0.00001"), PriceStep: d("0.01"), MinAmount: d("0.00001"), MinNotional: d("5")},
		"ETH/USDT": {Symbol: "ETH/USDT", ID: "ETHUSDT", Base: "ETH", Quote: "USDT", Active: true,
			AmountStep: d("0.0001"), PriceStep: d("0.01"), MinAmount: d("0.0001"), MinNotional: d("5")},
	}
}

// marketBuyBuffer is how far above the ask a market buy's quote is locked;
// its fill price never exceeds the locked price.
var marketBuyBuffer = decimal.RequireFromString("1.02")

// Exchange is a paper exchange. It is safe for concurrent use.
type Exchange struct {
	mu     sync.Mutex
	cfg    Config
	log    *slog.Logger
	now    time.Time
	books  map[string]*book
	bal    map[string]*balance
	orders map[string]*order // by client order id, every order ever placed
	trades []executor.Trade
	seq    int64  // exchange order ids
	tseq   int64  // trade ids
	saved  *saved // what the last save held (MarshalDelta)
	// maintenance puts the exchange into maintenance (SetMaintenance):
	// SystemStatus says so and new orders are refused as Binance does.
	maintenance bool
	// below and above are 1 ∓ half the spread, the touch's factors of
	// the close (cfg.SpreadBps, fixed at New).
	below, above decimal.Decimal
}

var _ executor.Exchange = (*Exchange)(nil)

type balance struct {
	Free   decimal.Decimal `json:"free"`
	Locked decimal.Decimal `json:"locked"`
}

type order struct {
	Rep        executor.OrderReport `json:"report"`
	PlacedAt   time.Time            `json:"placed_at"`
	EligibleAt time.Time            `json:"eligible_at"`
	Marketable bool                 `json:"marketable"`
	Triggered  bool                 `json:"triggered"`
	LockAsset  string               `json:"lock_asset"`
	Locked     decimal.Decimal      `json:"locked"`     // still locked for this order
	LockPrice  decimal.Decimal      `json:"lock_price"` // quote locked per unit (buys)
	Cost       decimal.Decimal      `json:"cost"`       // Σ qty×price filled

	priceF, stopF float64
}

type book struct {
	m        executor.Market
	candles  []executor.Candle // kept candles are candles[start:]
	start    int
	win      int     // index of the oldest candle inside the 24 h window
	winQuote float64 // Σ volume×close over the window
	interval time.Duration
	usedVol  float64 // base volume filled during the last candle
	open     []*order

	// restored is set when the book was restored with only its newest
	// candle (at histUntil): older candles fed then are history, taken
	// without matching; backfilled once one came.
	restored, backfilled bool
	histUntil            time.Time
}

func (b *book) last() (executor.Candle, bool) {
	if len(b.candles) == b.start {
		return executor.Candle{}, false
	}
	return b.candles[len(b.candles)-1], true
}

// New builds a paper exchange from cfg.
func New(cfg Config) (*Exchange, error) {
	if len(cfg.Markets) == 0 {
		return nil, fmt.Errorf("paper: no markets configured")
	}
	if cfg.MakerFee.Sign() < 0 || cfg.TakerFee.Sign() < 0 {
		return nil, fmt.Errorf("paper: negative fee")
	}
	for _, f := range []float64{cfg.SlippageBps, cfg.VolatilitySlippage, cfg.SpreadBps} {
		if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("paper: slippage and spread must be finite and not negative")
		}
	}
	if cfg.Latency < 0 {
		return nil, fmt.Errorf("paper: negative latency")
	}
	if cfg.MaxCandles <= 0 {
		cfg.MaxCandles = 5000
	}
	x := &Exchange{
		cfg:    cfg,
		log:    cfg.Logger,
		books:  make(map[string]*book, len(cfg.Markets)),
		bal:    map[string]*balance{},
		orders: map[string]*order{},
	}
	if x.log == nil {
		x.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	half := decimal.NewFromFloat(cfg.SpreadBps).Div(decimal.NewFromInt(20000))
	// Div writes 16 decimal places whatever the quotient (2 bp is
	// 1000000000000e-16); read back from its shortest text it has only the
	// digits it needs, so the bid and ask computed from it at every candle
	// stay in int64 arithmetic (executor.ToStep).
	half = decimal.RequireFromString(half.String())
	x.below, x.above = decimal.NewFromInt(1).Sub(half), decimal.NewFromInt(1).Add(half)
	x.cfg.Markets = maps.Clone(cfg.Markets)
	for sym, m := range x.cfg.Markets {
		if m.Symbol == "" {
			m.Symbol = sym
			x.cfg.Markets[sym] = m
		}
		if m.Symbol != sym || m.Base == "" || m.Quote == "" {
			return nil, fmt.Errorf("paper: market %q: symbol, base and quote must be set", sym)
		}
		if m.AmountStep.Sign() <= 0 || m.PriceStep.Sign() <= 0 {
			return nil, fmt.Errorf("paper: market %q: amount and price steps must be positive", sym)
		}
		x.books[sym] = &book{m: m}
	}
	for a, v := range cfg.Balances {
		if v.Sign() < 0 {
			return nil, fmt.Errorf("paper: negative initial balance of %s", a)
		}
		x.bal[a] = &balance{Free: v}
	}
	return x, nil
}

// Name is "paper".
func (x *Exchange) Name() string { return "paper" }

// Now is the paper clock: the time of the newest candle fed.
func (x *Exchange) Now() time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.now
}

func rejected(code, msg string) error {
	return &executor.Error{Kind: executor.KindRejected, Code: code, Msg: msg}
}

func notFound(code, msg string) error {
	return &executor.Error{Kind: executor.KindNotFound, Code: code, Msg: msg}
}

// Markets returns the configured markets, each with its status (TRADING
// unless SetMarketStatus said otherwise).
func (x *Exchange) Markets(ctx context.Context) (map[string]executor.Market, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[string]executor.Market, len(x.books))
	for sym, b := range x.books {
		m := b.m
		m.Status = m.TradingStatus()
		out[sym] = m
	}
	return out, nil
}

// OrderBook models the book of symbol from the last candle: depth levels
// a side, about 1 bp apart (at least one price step) from the bid and ask
// of Ticker, holding between them the share of the candle's volume the
// paper exchange lets an order take (ParticipationRate), split evenly.
// So a backtest's depth and slippage guards see the market's liquidity at
// that hour, and an order the book cannot hold is one the paper exchange
// would not fill in one candle either.
func (x *Exchange) OrderBook(ctx context.Context, symbol string, depth int) (executor.OrderBook, error) {
	if err := ctx.Err(); err != nil {
		return executor.OrderBook{}, err
	}
	if depth <= 0 {
		depth = executor.BookDepth
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	b, ok := x.books[symbol]
	if !ok {
		return executor.OrderBook{}, notFound("-1121", "Invalid symbol.")
	}
	c, ok := b.last()
	if !ok {
		return executor.OrderBook{}, &executor.Error{Kind: executor.KindUnavailable, Msg: "paper: no candle yet for " + symbol}
	}
	bid, ask := x.touch(b, c)
	step := b.m.PriceStep
	gap := ceilToStep(bid.Mul(decimal.New(1, -4)), step) // ≈ 1 bp, on the step
	if gap.LessThan(step) {
		gap = step
	}
	per := executor.FloorToStep(decimal.NewFromFloat(math.Max(c.Volume, 0)*x.cfg.ParticipationRate/float64(depth)), b.m.AmountStep)
	at := x.now // as Ticker: the candle's close time
	if b.interval > 0 && c.Time.Add(b.interval).After(at) {
		at = c.Time.Add(b.interval)
	}
	ob := executor.OrderBook{Symbol: symbol, Time: at}
	if !per.IsPositive() {
		return ob, nil
	}
	// Level i is gap×i from the touch: one exact step from the last.
	ob.Bids = make([]executor.Level, 0, depth)
	ob.Asks = make([]executor.Level, 0, depth)
	for i, p := 0, bid; i < depth && p.IsPositive(); i, p = i+1, p.Sub(gap) {
		ob.Bids = append(ob.Bids, executor.Level{Price: p, Qty: per})
	}
	for i, p := 0, ask; i < depth; i, p = i+1, p.Add(gap) {
		ob.Asks = append(ob.Asks, executor.Level{Price: p, Qty: per})
	}
	return ob, nil
}

// SystemStatus is the paper exchange's system status: maintenance after
// SetMaintenance(true), else normal.
func (x *Exchange) SystemStatus(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.maintenance {
		return executor.SystemMaintenance, nil
	}
	return executor.SystemNormal, nil
}

// SetMaintenance puts the exchange into maintenance or takes it out. In
// maintenance every new order is refused the way Binance refuses it (HTTP
// 503, -1016): an executor.KindUnavailable error. Resting orders stay.
func (x *Exchange) SetMaintenance(on bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.maintenance = on
}

// SetMarketStatus sets a market's status (TRADING, BREAK, HALT, ...): any
// status but TRADING closes the market, and new orders in it are refused.
func (x *Exchange) SetMarketStatus(symbol, status string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	b, ok := x.books[symbol]
	if !ok {
		return fmt.Errorf("paper: no market %q", symbol)
	}
	if status == "" {
		return fmt.Errorf("paper: market %q: empty status", symbol)
	}
	b.m.Status, b.m.Active = status, status == executor.MarketTrading
	return nil
}

// ErrMaintenanceMsg is Binance's message for a request refused during
// system maintenance (HTTP 503, code -1016).
const ErrMaintenanceMsg = "This service is no longer available."

// Ticker is synthesised from the last candle: bid and ask are the close ∓
// half the spread, QuoteVolume24h is Σ volume×close over the last 24 h.
func (x *Exchange) Ticker(ctx context.Context, symbol string) (executor.Ticker, error) {
	if err := ctx.Err(); err != nil {
		return executor.Ticker{}, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	b, ok := x.books[symbol]
	if !ok {
		return executor.Ticker{}, rejected("-1121", "Invalid symbol.")
	}
	c, ok := b.last()
	if !ok {
		return executor.Ticker{}, &executor.Error{Kind: executor.KindUnavailable, Msg: "no market data for " + symbol + " yet"}
	}
	bid, ask := x.touch(b, c)
	// The quote is the last candle's close, so it dates from the candle's
	// close time (its open time plus the feed's interval), not its open.
	at := x.now
	if b.interval > 0 && c.Time.Add(b.interval).After(at) {
		at = c.Time.Add(b.interval)
	}
	return executor.Ticker{
		Symbol:         symbol,
		Bid:            bid,
		Ask:            ask,
		Last:           decimal.NewFromFloat(c.Close),
		QuoteVolume24h: decimal.NewFromFloat(math.Max(b.winQuote, 0)).Round(2),
		Time:           at,
	}, nil
}

func (x *Exchange) touch(b *book, c executor.Candle) (bid, ask decimal.Decimal) {
	close := decimal.NewFromFloat(c.Close)
	bid = executor.FloorToStep(close.Mul(x.below), b.m.PriceStep)
	ask = ceilToStep(close.Mul(x.above), b.m.PriceStep)
	return bid, ask
}

func ceilToStep(v, step decimal.Decimal) decimal.Decimal {
	return executor.ToStep(v, step, executor.StepCeil)
}

func roundToStep(v, step decimal.Decimal) decimal.Decimal {
	return executor.ToStep(v, step, executor.StepNearest)
}

// Balances returns every asset the account has held.
func (x *Exchange) Balances(ctx context.Context) (map[string]executor.Balance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[string]executor.Balance, len(x.bal))
	for a, b := range x.bal {
		out[a] = executor.Balance{Asset: a, Free: b.Free, Locked: b.Locked}
	}
	return out, nil
}

func (x *Exchange) balance(asset string) *balance {
	b, ok := x.bal[asset]
	if !ok {
		b = &balance{}
		x.bal[asset] = b
	}
	return b
}

// PlaceOrder validates and accepts one order like Binance spot would.
func (x *Exchange) PlaceOrder(ctx context.Context, req executor.OrderRequest) (executor.OrderReport, error) {
	if err := ctx.Err(); err != nil {
		return executor.OrderReport{}, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	o, err := x.accept(req)
	if err != nil {
		x.log.Debug("paper: order refused", "client_order_id", req.ClientOrderID, "err", err)
		return executor.OrderReport{}, err
	}
	return o.Rep, nil
}

func (x *Exchange) accept(req executor.OrderRequest) (*order, error) {
	if req.ClientOrderID == "" {
		return nil, rejected("-1102", "Mandatory parameter 'newClientOrderId' was not sent, was empty/null, or malformed.")
	}
	if !executor.ValidClientOrderID(req.ClientOrderID) {
		return nil, rejected("-1100", "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
	}
	if x.maintenance {
		return nil, &executor.Error{Kind: executor.KindUnavailable, Code: "-1016", Msg: ErrMaintenanceMsg}
	}
	b, ok := x.books[req.Symbol]
	if !ok {
		return nil, rejected("-1121", "Invalid symbol.")
	}
	m := b.m
	if !m.Active {
		return nil, rejected("-1013", "Market is closed.")
	}
	if req.Side != schemas.SideBuy && req.Side != schemas.SideSell {
		return nil, rejected("-1102", "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
	}
	switch req.Type {
	case executor.TypeLimit, executor.TypeMarket, executor.TypeStopLossLimit:
	default:
		return nil, rejected("-1116", "Invalid orderType.")
	}
	if _, dup := x.orders[req.ClientOrderID]; dup {
		return nil, rejected("-2010", "Duplicate order sent.")
	}
	last, hasLast := b.last()
	q := req.Quantity
	if q.Sign() <= 0 || !executor.IsStepMultiple(q, m.AmountStep) || q.LessThan(m.MinAmount) {
		return nil, rejected("-1013", "Filter failure: LOT_SIZE")
	}
	var bid, ask decimal.Decimal
	if hasLast {
		bid, ask = x.touch(b, last)
	}
	price := req.Price
	if req.Type == executor.TypeMarket {
		if !hasLast {
			return nil, rejected("-1013", "Market order without market data.")
		}
		price = ask
		if req.Side == schemas.SideSell {
			price = bid
		}
	} else if price.Sign() <= 0 || !executor.IsStepMultiple(price, m.PriceStep) {
		return nil, rejected("-1013", "Filter failure: PRICE_FILTER")
	}
	if req.Type == executor.TypeStopLossLimit {
		if req.StopPrice.Sign() <= 0 || !executor.IsStepMultiple(req.StopPrice, m.PriceStep) {
			return nil, rejected("-1013", "Filter failure: PRICE_FILTER")
		}
		if hasLast && ((req.Side == schemas.SideSell && bid.LessThanOrEqual(req.StopPrice)) ||
			(req.Side == schemas.SideBuy && ask.GreaterThanOrEqual(req.StopPrice))) {
			return nil, rejected("-2010", "Stop price would trigger immediately.")
		}
	}
	if q.Mul(price).LessThan(m.MinNotional) {
		return nil, rejected("-1013", "Filter failure: NOTIONAL")
	}

	o := &order{PlacedAt: x.now, EligibleAt: x.now.Add(x.cfg.Latency)}
	if req.Side == schemas.SideBuy {
		o.LockAsset = m.Quote
		o.LockPrice = price
		if req.Type == executor.TypeMarket {
			o.LockPrice = ceilToStep(ask.Mul(marketBuyBuffer), m.PriceStep)
		}
		o.Locked = q.Mul(o.LockPrice)
	} else {
		o.LockAsset = m.Base
		o.Locked = q
	}
	bal := x.balance(o.LockAsset)
	if bal.Free.LessThan(o.Locked) {
		return nil, rejected("-2010", "Account has insufficient balance for requested action.")
	}
	bal.Free = bal.Free.Sub(o.Locked)
	bal.Locked = bal.Locked.Add(o.Locked)

	x.seq++
	o.Rep = executor.OrderReport{
		ClientOrderID:   req.ClientOrderID,
		ExchangeOrderID: strconv.FormatInt(x.seq, 10),
		Symbol:          req.Symbol,
		Side:            req.Side,
		Type:            req.Type,
		Status:          schemas.OrderAcknowledged,
		Quantity:        q,
		Price:           req.Price,
		StopPrice:       req.StopPrice,
		Updated:         x.now,
	}
	if req.Type == executor.TypeMarket {
		o.Rep.Price = decimal.Zero
	}
	o.prepare()
	x.orders[req.ClientOrderID] = o
	switch req.Type {
	case executor.TypeMarket:
		o.Marketable = true
	case executor.TypeLimit:
		o.Marketable = hasLast && ((req.Side == schemas.SideBuy && price.GreaterThanOrEqual(ask)) ||
			(req.Side == schemas.SideSell && price.LessThanOrEqual(bid)))
	}
	if o.Marketable && x.cfg.Latency == 0 && hasLast {
		// Fill now as a taker against the touch, within what is left of
		// the current candle's volume share.
		ref := ask
		if req.Side == schemas.SideSell {
			ref = bid
		}
		f, _ := ref.Float64()
		x.fill(b, o, x.takerPrice(req.Side, f, last), true, last, x.quoteTime(b, last))
	}
	if o.open() {
		b.open = append(b.open, o)
	}
	return o, nil
}

func (o *order) prepare() {
	o.priceF, _ = o.Rep.Price.Float64()
	o.stopF, _ = o.Rep.StopPrice.Float64()
}

func (o *order) open() bool {
	return o.Rep.Status == schemas.OrderAcknowledged || o.Rep.Status == schemas.OrderPartiallyFilled
}

// slip is the taker slippage fraction for candle c.
func (x *Exchange) slip(c executor.Candle) float64 {
	s := x.cfg.SlippageBps / 1e4
	if x.cfg.VolatilitySlippage > 0 && c.Close > 0 {
		s += x.cfg.VolatilitySlippage * (c.High - c.Low) / c.Close
	}
	return s
}

func (x *Exchange) takerPrice(side schemas.Side, ref float64, c executor.Candle) float64 {
	if side == schemas.SideBuy {
		return ref * (1 + x.slip(c))
	}
	return ref * (1 - x.slip(c))
}

// quoteTime is when the quote built on candle c (the newest) holds: its
// close, as Ticker and OrderBook report it, or the paper clock when later.
// An order filled at once against that quote fills then, never before the
// decision that placed it (at the candle's open, an hour early on 1h
// candles).
func (x *Exchange) quoteTime(b *book, c executor.Candle) time.Time {
	at := x.now
	if b.interval > 0 && c.Time.Add(b.interval).After(at) {
		at = c.Time.Add(b.interval)
	}
	return at
}

// fill executes as much of o as the candle's volume share allows at price
// px (clamped to the order's limit), at time at: the candle's time when it
// arrives and matches resting orders, the quote's when o fills on arrival.
func (x *Exchange) fill(b *book, o *order, px float64, taker bool, c executor.Candle, at time.Time) {
	m := b.m
	rem := o.Rep.Quantity.Sub(o.Rep.FilledQty)
	q := rem
	if x.cfg.ParticipationRate > 0 {
		avail := x.cfg.ParticipationRate*c.Volume - b.usedVol
		if avail <= 0 {
			return
		}
		if a := executor.FloorToStep(decimal.NewFromFloat(avail), m.AmountStep); a.LessThan(q) {
			q = a
		}
	}
	if q.Sign() <= 0 {
		return
	}
	p := o.Rep.Price // a maker fills at its limit price
	if taker {
		p = roundToStep(decimal.NewFromFloat(px), m.PriceStep)
	}
	limit := o.Rep.Price
	if o.Rep.Type == executor.TypeMarket {
		limit = decimal.Zero
		if o.Rep.Side == schemas.SideBuy {
			limit = o.LockPrice
		}
	}
	if o.Rep.Side == schemas.SideBuy && limit.Sign() > 0 && p.GreaterThan(limit) {
		p = limit
	}
	if o.Rep.Side == schemas.SideSell && p.LessThan(limit) {
		p = limit
	}
	if p.Sign() <= 0 {
		return
	}
	rate := x.cfg.MakerFee
	if taker {
		rate = x.cfg.TakerFee
	}
	cost := q.Mul(p)
	base, quote := x.balance(m.Base), x.balance(m.Quote)
	var fee decimal.Decimal
	if o.Rep.Side == schemas.SideBuy {
		fee = q.Mul(rate).Round(8)
		release := q.Mul(o.LockPrice)
		quote.Locked = quote.Locked.Sub(release)
		o.Locked = o.Locked.Sub(release)
		quote.Free = quote.Free.Add(release.Sub(cost))
		base.Free = base.Free.Add(q.Sub(fee))
		o.Rep.FeeCurrency = m.Base
	} else {
		fee = cost.Mul(rate).Round(8)
		base.Locked = base.Locked.Sub(q)
		o.Locked = o.Locked.Sub(q)
		quote.Free = quote.Free.Add(cost.Sub(fee))
		o.Rep.FeeCurrency = m.Quote
	}
	o.Rep.FilledQty = o.Rep.FilledQty.Add(q)
	o.Cost = o.Cost.Add(cost)
	o.Rep.AvgPrice = o.Cost.DivRound(o.Rep.FilledQty, 8)
	o.Rep.Fee = o.Rep.Fee.Add(fee)
	o.Rep.Updated = at
	o.Rep.Status = schemas.OrderPartiallyFilled
	if o.Rep.FilledQty.Equal(o.Rep.Quantity) {
		o.Rep.Status = schemas.OrderFilled
		x.release(o)
	}
	qf, _ := q.Float64()
	b.usedVol += qf
	x.tseq++
	x.trades = append(x.trades, executor.Trade{
		ID: strconv.FormatInt(x.tseq, 10), OrderID: o.Rep.ExchangeOrderID, ClientOrderID: o.Rep.ClientOrderID,
		Symbol: o.Rep.Symbol, Side: o.Rep.Side, Price: p, Quantity: q, Fee: fee, FeeCurrency: o.Rep.FeeCurrency,
		Time: at,
	})
	x.log.Debug("paper: fill", "client_order_id", o.Rep.ClientOrderID, "qty", q, "price", p, "taker", taker)
}

// release returns what is still locked for o to the free balance.
func (x *Exchange) release(o *order) {
	if o.Locked.Sign() == 0 {
		return
	}
	bal := x.balance(o.LockAsset)
	bal.Locked = bal.Locked.Sub(o.Locked)
	bal.Free = bal.Free.Add(o.Locked)
	o.Locked = decimal.Zero
}

// CancelOrder cancels an open order; like Binance, an order that is not
// open (unknown, filled, cancelled) answers -2011 Unknown order sent.
func (x *Exchange) CancelOrder(ctx context.Context, symbol, clientOrderID string) (executor.OrderReport, error) {
	if err := ctx.Err(); err != nil {
		return executor.OrderReport{}, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	o, ok := x.orders[clientOrderID]
	if !ok || o.Rep.Symbol != symbol || !o.open() {
		return executor.OrderReport{}, notFound("-2011", "Unknown order sent.")
	}
	x.release(o)
	o.Rep.Status = schemas.OrderCancelled
	o.Rep.Updated = x.now
	b := x.books[symbol]
	for i, p := range b.open {
		if p == o {
			b.open = append(b.open[:i], b.open[i+1:]...)
			break
		}
	}
	return o.Rep, nil
}

// FetchOrder finds an order by client order id.
func (x *Exchange) FetchOrder(ctx context.Context, symbol, clientOrderID string) (executor.OrderReport, error) {
	if err := ctx.Err(); err != nil {
		return executor.OrderReport{}, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	o, ok := x.orders[clientOrderID]
	if !ok || (symbol != "" && o.Rep.Symbol != symbol) {
		return executor.OrderReport{}, notFound("-2013", "Order does not exist.")
	}
	return o.Rep, nil
}

// OpenOrders lists open orders, oldest first; symbol "" means all.
func (x *Exchange) OpenOrders(ctx context.Context, symbol string) ([]executor.OrderReport, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if symbol != "" {
		if _, ok := x.books[symbol]; !ok {
			return nil, rejected("-1121", "Invalid symbol.")
		}
	}
	var out []executor.OrderReport
	for sym, b := range x.books {
		if symbol != "" && sym != symbol {
			continue
		}
		for _, o := range b.open {
			out = append(out, o.Rep)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.ParseInt(out[i].ExchangeOrderID, 10, 64)
		c, _ := strconv.ParseInt(out[j].ExchangeOrderID, 10, 64)
		return a < c
	})
	return out, nil
}

// MyTrades lists the account's fills of symbol at or after since.
func (x *Exchange) MyTrades(ctx context.Context, symbol string, since time.Time) ([]executor.Trade, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	// Trades are appended as the paper clock advances, so they are in time
	// order: skip to since instead of walking the whole history.
	first := sort.Search(len(x.trades), func(i int) bool { return !x.trades[i].Time.Before(since) })
	var out []executor.Trade
	for _, t := range x.trades[first:] {
		if symbol == "" || t.Symbol == symbol {
			out = append(out, t)
		}
	}
	return out, nil
}

// OnCandle feeds one candle of symbol: the paper clock advances to its time
// and the symbol's open orders are matched against it. A candle with the
// same time as the previous one replaces it (a live, still open bar) and
// shares its volume budget; an older one is refused.
func (x *Exchange) OnCandle(symbol string, c executor.Candle) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	b, ok := x.books[symbol]
	if !ok {
		return fmt.Errorf("paper: unknown symbol %q", symbol)
	}
	if c.Time.IsZero() || !(c.Low <= c.High) || c.Low < 0 || c.Volume < 0 || math.IsNaN(c.Close) {
		return fmt.Errorf("paper: bad candle for %s at %s", symbol, c.Time)
	}
	c.Time = c.Time.UTC()
	if b.restored && !c.Time.After(b.histUntil) {
		return x.history(b, symbol, c)
	}
	b.restored = false
	if prev, ok := b.last(); ok {
		switch {
		case c.Time.Before(prev.Time):
			return fmt.Errorf("paper: %s candle at %s is older than the last one at %s", symbol, c.Time, prev.Time)
		case c.Time.Equal(prev.Time):
			b.candles[len(b.candles)-1] = c
			b.winQuote += c.Volume*c.Close - prev.Volume*prev.Close
		default:
			if d := c.Time.Sub(prev.Time); b.interval == 0 || d < b.interval {
				b.interval = d
			}
			b.candles = append(b.candles, c)
			b.winQuote += c.Volume * c.Close
			b.usedVol = 0
		}
	} else {
		b.candles = append(b.candles, c)
		b.winQuote += c.Volume * c.Close
		b.usedVol = 0
	}
	if c.Time.After(x.now) {
		x.now = c.Time
	}
	x.trim(b, c.Time)
	if len(b.open) > 0 {
		x.match(b, c)
	}
	return nil
}

// history takes c, at or before the newest candle a restored book had,
// as market history: placed in time order before that candle, never
// matched, the newest candle's fill budget kept. x.mu held.
func (x *Exchange) history(b *book, symbol string, c executor.Candle) error {
	b.backfilled = true
	n := len(b.candles)
	last := b.candles[n-1] // a restored book holds at least its newest candle
	if c.Time.Equal(last.Time) {
		b.candles[n-1] = c
	} else {
		if n-1 > b.start && !c.Time.After(b.candles[n-2].Time) {
			return fmt.Errorf("paper: %s history candle at %s is not after the one before it at %s", symbol, c.Time, b.candles[n-2].Time)
		}
		b.candles = append(b.candles[:n-1], c, last)
	}
	b.resetWindow()
	x.trim(b, b.candles[len(b.candles)-1].Time)
	return nil
}

// trim drops candles that left the 24 h window from the ticker volume and
// candles beyond MaxCandles (outside the window) from memory.
func (x *Exchange) trim(b *book, now time.Time) {
	cut := now.Add(-24 * time.Hour)
	for b.win < len(b.candles) && !b.candles[b.win].Time.After(cut) {
		old := b.candles[b.win]
		b.winQuote -= old.Volume * old.Close
		b.win++
	}
	if b.win == len(b.candles) {
		b.winQuote = 0
	}
	for len(b.candles)-b.start > x.cfg.MaxCandles && b.start < b.win {
		b.start++
	}
	if b.start > 1024 && b.start > len(b.candles)/2 {
		n := copy(b.candles, b.candles[b.start:])
		clear(b.candles[n:])
		b.candles = b.candles[:n]
		b.win -= b.start
		b.start = 0
	}
}

func (x *Exchange) match(b *book, c executor.Candle) {
	keep := b.open[:0]
	for _, o := range b.open {
		if c.Time.After(o.PlacedAt) && !c.Time.Before(o.EligibleAt) {
			x.matchOne(b, o, c)
		}
		if o.open() {
			keep = append(keep, o)
		}
	}
	clear(b.open[len(keep):])
	b.open = keep
}

func (x *Exchange) matchOne(b *book, o *order, c executor.Candle) {
	buy := o.Rep.Side == schemas.SideBuy
	switch o.Rep.Type {
	case executor.TypeMarket:
		x.fill(b, o, x.takerPrice(o.Rep.Side, c.Open, c), true, c, x.now)
	case executor.TypeLimit:
		x.matchLimit(b, o, c, buy)
	case executor.TypeStopLossLimit:
		if o.Triggered {
			x.matchLimit(b, o, c, buy)
			return
		}
		if buy && c.High >= o.stopF {
			o.Triggered = true
			trig := math.Max(o.stopF, c.Open)
			if trig <= o.priceF {
				x.fill(b, o, x.takerPrice(o.Rep.Side, trig, c), true, c, x.now)
			}
		} else if !buy && c.Low <= o.stopF {
			o.Triggered = true
			trig := math.Min(o.stopF, c.Open)
			if trig >= o.priceF {
				x.fill(b, o, x.takerPrice(o.Rep.Side, trig, c), true, c, x.now)
			}
		}
	}
}

func (x *Exchange) matchLimit(b *book, o *order, c executor.Candle, buy bool) {
	switch {
	case buy && o.Marketable && c.Open <= o.priceF:
		x.fill(b, o, x.takerPrice(o.Rep.Side, c.Open, c), true, c, x.now)
	case !buy && o.Marketable && c.Open >= o.priceF:
		x.fill(b, o, x.takerPrice(o.Rep.Side, c.Open, c), true, c, x.now)
	case buy && c.Low <= o.priceF, !buy && c.High >= o.priceF:
		x.fill(b, o, o.priceF, false, c, x.now)
	}
}
