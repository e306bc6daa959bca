package schemas

import (
	"time"

	"github.com/shopspring/decimal"
)

// StopLimitOffset is how far under its trigger a protective
// stop-loss-limit rests, 0.5 %: the executor places it there, and the
// validator judges the stop's exchange minimums at that limit price.
var StopLimitOffset = decimal.RequireFromString("0.005")

// OrderState is a state of the order lifecycle. Transitions are recorded as
// new rows, never as updates.
type OrderState string

const (
	OrderIntent          OrderState = "intent"           // recorded, not yet sent
	OrderSubmitted       OrderState = "submitted"        // being sent now
	OrderAcknowledged    OrderState = "acknowledged"     // the exchange accepted it
	OrderPartiallyFilled OrderState = "partially_filled" // some quantity filled, rest open
	OrderFilled          OrderState = "filled"           // final
	OrderCancelled       OrderState = "cancelled"        // final (may carry a partial fill)
	OrderRejected        OrderState = "rejected"         // final, the exchange refused it
	OrderUnknown         OrderState = "unknown"          // outcome unknown: resolve by client id, never resend
)

// Final reports whether no further transition can follow s.
func (s OrderState) Final() bool {
	return s == OrderFilled || s == OrderCancelled || s == OrderRejected
}

// OrderEvent is one appended row of an order's history.
type OrderEvent struct {
	ClientOrderID   string          `json:"client_order_id"`
	DecisionID      string          `json:"decision_id"`
	Role            string          `json:"role"` // "entry", "stop", "exit"
	State           OrderState      `json:"state"`
	Symbol          string          `json:"symbol"`
	Side            Side            `json:"side"`
	Type            string          `json:"type"` // "limit", "market", "stop_loss_limit", ...
	Quantity        decimal.Decimal `json:"quantity"`
	Price           decimal.Decimal `json:"price"`
	StopPrice       decimal.Decimal `json:"stop_price"`
	ExchangeOrderID string          `json:"exchange_order_id"`
	FilledQty       decimal.Decimal `json:"filled_qty"`
	AvgPrice        decimal.Decimal `json:"avg_price"`
	Fee             decimal.Decimal `json:"fee"`
	FeeCurrency     string          `json:"fee_currency"`
	Reason          string          `json:"reason"`
	At              time.Time       `json:"at"`
}
