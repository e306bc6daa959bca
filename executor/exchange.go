// Package executor owns how an approved order reaches an exchange: the
// exchange interface the rest of Warden consumes, the order lifecycle
// persisted before anything is sent, reconciliation by client order id, and
// the order-rate limit. It never decides whether to trade.
//
// The paper exchange lives in executor/paper; the ccxt adapter in
// executor/ccxtx is the only package of Warden that imports ccxt.
package executor

import (
	"context"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// Market is one tradable symbol with the exchange's precision and limits.
type Market struct {
	Symbol string `json:"symbol"` // unified, "BTC/USDT"
	ID     string `json:"id"`     // the exchange's own id, "BTCUSDT"
	Base   string `json:"base"`
	Quote  string `json:"quote"`
	Active bool   `json:"active"`
	// Status is the exchange's own word for the market (Binance's
	// exchangeInfo status: TRADING, BREAK, HALT, ...); empty when the
	// exchange does not say, and then Active decides (see TradingStatus).
	Status      string          `json:"status,omitempty"`
	AmountStep  decimal.Decimal `json:"amount_step"`
	PriceStep   decimal.Decimal `json:"price_step"`
	MinAmount   decimal.Decimal `json:"min_amount"`
	MinNotional decimal.Decimal `json:"min_notional"`
}

// MarketTrading is the status of an open market.
const MarketTrading = "TRADING"

// TradingStatus is the market's status: Status when the exchange gave
// one, else TRADING for an active market and INACTIVE for one that is not.
func (m Market) TradingStatus() string {
	switch {
	case m.Status != "":
		return m.Status
	case m.Active:
		return MarketTrading
	}
	return "INACTIVE"
}

// System statuses SystemStatus reports (the state contract's
// exchange_status; a status that could not be read is "unknown").
const (
	SystemNormal      = "normal"
	SystemMaintenance = "maintenance"
	SystemUnknown     = "unknown"
)

// StatusReader is an exchange that reports its system status (ccxt
// fetchStatus; Binance /sapi/v1/system/status): SystemNormal or
// SystemMaintenance. An error means the status is unknown, which blocks
// new orders (fail closed). The paper exchange and the ccxt adapter
// implement it.
type StatusReader interface {
	SystemStatus(ctx context.Context) (string, error)
}

// Level is one price level of an order book.
type Level struct {
	Price decimal.Decimal `json:"price"`
	Qty   decimal.Decimal `json:"qty"` // base asset
}

// OrderBook is the top levels of one symbol's book: bids best (highest)
// first, asks best (lowest) first.
type OrderBook struct {
	Symbol string    `json:"symbol"`
	Bids   []Level   `json:"bids"`
	Asks   []Level   `json:"asks"`
	Time   time.Time `json:"time"`
}

// BookDepth is how many levels a cycle reads per side.
const BookDepth = 20

// BookReader is an exchange that serves order books (ccxt fetchOrderBook;
// the paper exchange models one from the candle's volume). The paper
// exchange and the ccxt adapter implement it.
type BookReader interface {
	OrderBook(ctx context.Context, symbol string, depth int) (OrderBook, error)
}

// Ticker is the top of book and 24 h volume of one symbol.
type Ticker struct {
	Symbol         string          `json:"symbol"`
	Bid            decimal.Decimal `json:"bid"`
	Ask            decimal.Decimal `json:"ask"`
	Last           decimal.Decimal `json:"last"`
	QuoteVolume24h decimal.Decimal `json:"quote_volume_24h"`
	Time           time.Time       `json:"time"`
}

// Candle is one OHLCV bar; Time is the bar's open time in UTC. Market data
// are float64: they feed indicators, never balances.
type Candle struct {
	Time   time.Time `json:"time"`
	Open   float64   `json:"open"`
	High   float64   `json:"high"`
	Low    float64   `json:"low"`
	Close  float64   `json:"close"`
	Volume float64   `json:"volume"` // base asset
}

// Balance is one asset of the account.
type Balance struct {
	Asset  string          `json:"asset"`
	Free   decimal.Decimal `json:"free"`
	Locked decimal.Decimal `json:"locked"`
}

// Total is Free + Locked.
func (b Balance) Total() decimal.Decimal { return b.Free.Add(b.Locked) }

// Order types the executor places.
const (
	TypeLimit         = "limit"
	TypeMarket        = "market"
	TypeStopLossLimit = "stop_loss_limit" // protective stop: triggers at StopPrice, rests at Price
)

// OrderRequest is one order to place. ClientOrderID is always set by the
// executor and is what makes a resend recognisable.
type OrderRequest struct {
	ClientOrderID string          `json:"client_order_id"`
	Symbol        string          `json:"symbol"`
	Side          schemas.Side    `json:"side"`
	Type          string          `json:"type"`
	Quantity      decimal.Decimal `json:"quantity"`
	Price         decimal.Decimal `json:"price"`
	StopPrice     decimal.Decimal `json:"stop_price"`
}

// OrderReport is what an exchange says about one order. Status is one of
// acknowledged, partially_filled, filled, cancelled or rejected.
type OrderReport struct {
	ClientOrderID   string             `json:"client_order_id"`
	ExchangeOrderID string             `json:"exchange_order_id"`
	Symbol          string             `json:"symbol"`
	Side            schemas.Side       `json:"side"`
	Type            string             `json:"type"`
	Status          schemas.OrderState `json:"status"`
	Quantity        decimal.Decimal    `json:"quantity"`
	Price           decimal.Decimal    `json:"price"`
	StopPrice       decimal.Decimal    `json:"stop_price"`
	FilledQty       decimal.Decimal    `json:"filled_qty"`
	AvgPrice        decimal.Decimal    `json:"avg_price"`
	Fee             decimal.Decimal    `json:"fee"`
	FeeCurrency     string             `json:"fee_currency"`
	Updated         time.Time          `json:"updated"`
}

// Trade is one fill of one of our orders.
type Trade struct {
	ID            string          `json:"id"`
	OrderID       string          `json:"order_id"`
	ClientOrderID string          `json:"client_order_id"`
	Symbol        string          `json:"symbol"`
	Side          schemas.Side    `json:"side"`
	Price         decimal.Decimal `json:"price"`
	Quantity      decimal.Decimal `json:"quantity"`
	Fee           decimal.Decimal `json:"fee"`
	FeeCurrency   string          `json:"fee_currency"`
	Time          time.Time       `json:"time"`
}

// Exchange is what Warden needs of an exchange, live or paper. Every method
// that can block takes a context first. Errors are *Error values (see
// KindOf) so callers can tell a refusal from an unknown outcome.
type Exchange interface {
	// Name is the exchange id ("binance", "paper").
	Name() string
	Markets(ctx context.Context) (map[string]Market, error)
	Ticker(ctx context.Context, symbol string) (Ticker, error)
	// OHLCV returns candles closed or open at or after since, oldest first.
	OHLCV(ctx context.Context, symbol, timeframe string, since time.Time, limit int) ([]Candle, error)
	Balances(ctx context.Context) (map[string]Balance, error)
	// PlaceOrder sends one order. A KindNetwork or KindUnknown error means
	// the order may or may not exist: only FetchOrder by client id tells.
	PlaceOrder(ctx context.Context, req OrderRequest) (OrderReport, error)
	CancelOrder(ctx context.Context, symbol, clientOrderID string) (OrderReport, error)
	// FetchOrder finds an order by our client order id; KindNotFound when
	// the exchange has no such order.
	FetchOrder(ctx context.Context, symbol, clientOrderID string) (OrderReport, error)
	// OpenOrders lists open orders; symbol "" means every symbol.
	OpenOrders(ctx context.Context, symbol string) ([]OrderReport, error)
	MyTrades(ctx context.Context, symbol string, since time.Time) ([]Trade, error)
}
