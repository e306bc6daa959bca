package schemas

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
	"github.com/warden-trading/warden/schemas/jsonw"
)

// Action is what the model recommends for one symbol.
type Action string

const (
	ActionBuy  Action = "buy"
	ActionSell Action = "sell"
	ActionHold Action = "hold"
)

// OrderType is the kind of order the model asks for.
type OrderType string

const (
	OrderLimit  OrderType = "limit"
	OrderMarket OrderType = "market"
)

// Response is one parsed and schema-checked model response.
type Response struct {
	Rationale       string           `json:"rationale"`
	Recommendations []Recommendation `json:"recommendations"`
}

// Recommendation is one entry of Response.Recommendations. Optional prices
// are nil when the model sent null.
type Recommendation struct {
	Symbol     string           `json:"symbol"`
	Action     Action           `json:"action"`
	Confidence decimal.Decimal  `json:"confidence"`
	SizePct    decimal.Decimal  `json:"size_pct"`
	OrderType  OrderType        `json:"order_type"`
	LimitPrice *decimal.Decimal `json:"limit_price"`
	StopLoss   *decimal.Decimal `json:"stop_loss"`
	TakeProfit *decimal.Decimal `json:"take_profit"`
	Reason     string           `json:"reason"`
}

// State is the world a decision is judged against; its JSON shape is
// shared/contracts/state.example.json.
type State struct {
	Now        time.Time `json:"now"`
	Mode       string    `json:"mode"`
	KillSwitch bool      `json:"kill_switch"`
	SafeMode   bool      `json:"safe_mode"`
	// RiskScale multiplies the policy's size caps (system.risk_scale in
	// CEL): 0.5 halves the position and exposure caps, for a breaker's
	// reduce mode. A valid scale is above 0 and at most 1; the zero value
	// means not set, which is 1 (see Risk). The validator rejects every
	// order, by the hard limit limit_risk_scale, for a negative scale or
	// one above 1; ParseState refuses such a state, and an explicit 0.
	RiskScale decimal.Decimal `json:"risk_scale,omitzero"`
	// ExchangeStatus is the exchange's system status: ExchangeNormal,
	// ExchangeMaintenance or ExchangeUnknown (a status Warden could not
	// read). Optional in a state file: empty means normal, so older state
	// files keep their verdicts (see Exchange). At run time it is always
	// filled.
	ExchangeStatus string `json:"exchange_status,omitempty"`
	// InMaintenance is true when now falls in a configured maintenance
	// window. Optional in a state file (absent: false).
	InMaintenance bool              `json:"in_maintenance,omitempty"`
	Account       Account           `json:"account"`
	Markets       map[string]Market `json:"markets"`
}

// Exchange statuses of State.ExchangeStatus.
const (
	ExchangeNormal      = "normal"
	ExchangeMaintenance = "maintenance"
	ExchangeUnknown     = "unknown"
)

// MarketTrading is the market status of an open market (Binance's word,
// also used for a market ccxt reports active).
const MarketTrading = "TRADING"

// Exchange is the exchange status in effect: ExchangeStatus, or
// ExchangeNormal when it is not set.
func (s *State) Exchange() string {
	if s.ExchangeStatus == "" {
		return ExchangeNormal
	}
	return s.ExchangeStatus
}

var one = decimal.NewFromInt(1)

// Risk is the risk scale in effect: RiskScale, or 1 when it is zero (not
// set). It does not check the range; RiskValid does.
func (s *State) Risk() decimal.Decimal {
	if s.RiskScale.IsZero() {
		return one
	}
	return s.RiskScale
}

// RiskValid reports whether the risk scale is not set or in (0, 1].
func (s *State) RiskValid() bool {
	return s.RiskScale.IsZero() || (s.RiskScale.IsPositive() && !s.RiskScale.GreaterThan(one))
}

// Account is the trading account at decision time, in the quote currency.
type Account struct {
	Quote            string              `json:"quote"`
	Equity           decimal.Decimal     `json:"equity"`
	Cash             decimal.Decimal     `json:"cash"`
	PeakEquity       decimal.Decimal     `json:"peak_equity"`
	DayStartEquity   decimal.Decimal     `json:"day_start_equity"`
	OrdersLastMinute int                 `json:"orders_last_minute"`
	OpenOrders       int                 `json:"open_orders"`
	Positions        map[string]Position `json:"positions"`
	// PendingBuys are the buy orders resting on the exchange from earlier
	// cycles, by symbol: what of them has not filled yet, and its value at
	// their limit prices (optional in a state file). The caps count them
	// as if they fill, as they do this response's approved buys: a buy
	// placed every hour while the last ones rest would otherwise pass the
	// position cap each time and exceed it once they all fill.
	PendingBuys map[string]PendingBuy `json:"pending_buys,omitempty"`
}

// PendingBuy is what resting buy orders of one symbol still buy.
type PendingBuy struct {
	Qty      decimal.Decimal `json:"qty"`
	Notional decimal.Decimal `json:"notional"`
}

// Position is a held spot quantity.
type Position struct {
	Qty      decimal.Decimal `json:"qty"`
	AvgPrice decimal.Decimal `json:"avg_price"`
	// Locked is the part of Qty that open sell orders hold and a new sell
	// cannot use (optional in a state file; zero when absent). Protective
	// stops, which the executor releases before a sell, are not counted.
	Locked decimal.Decimal `json:"locked,omitzero"`
}

// Market is the top of book, recent volume, data age and the exchange's
// precision and minimums for one symbol.
type Market struct {
	Bid            decimal.Decimal `json:"bid"`
	Ask            decimal.Decimal `json:"ask"`
	Last           decimal.Decimal `json:"last"`
	QuoteVolume24h decimal.Decimal `json:"quote_volume_24h"`
	DataAgeS       decimal.Decimal `json:"data_age_s"`
	AmountStep     decimal.Decimal `json:"amount_step"`
	PriceStep      decimal.Decimal `json:"price_step"`
	MinAmount      decimal.Decimal `json:"min_amount"`
	MinNotional    decimal.Decimal `json:"min_notional"`
	// Status is the exchange's own word for the market (TRADING, BREAK,
	// HALT, ...). Optional in a state file: empty means MarketTrading (see
	// TradingStatus). At run time it is always filled.
	Status string `json:"status,omitempty"`
	// Book is the top of the order book (optional in a state file; at run
	// time Warden fills it). Sizing walks it for the expected slippage of
	// an order and the quote depth near mid (CEL order.expected_slippage_bps,
	// market.depth_quote_within_bps).
	Book *Book `json:"book,omitempty"`
}

// Book is an order book: bids best (highest) first, asks best (lowest)
// first. In JSON each level is [price, qty].
type Book struct {
	Bids []BookLevel `json:"bids"`
	Asks []BookLevel `json:"asks"`
}

// BookLevel is one price level: the price and the base quantity there.
type BookLevel struct {
	Price decimal.Decimal
	Qty   decimal.Decimal
}

// MarshalJSON writes the book as encoding/json would from its fields, in
// one piece: a state's book is encoded at every audited cycle, and one
// call per level made most of that cost.
func (b Book) MarshalJSON() ([]byte, error) {
	return b.appendJSON(make([]byte, 0, 24+32*(len(b.Bids)+len(b.Asks)))), nil
}

func (b Book) appendJSON(out []byte) []byte {
	side := func(key string, ls []BookLevel) {
		out = append(out, key...)
		if ls == nil {
			out = append(out, "null"...)
			return
		}
		out = append(out, '[')
		for i, l := range ls {
			if i > 0 {
				out = append(out, ',')
			}
			out = l.appendJSON(out)
		}
		out = append(out, ']')
	}
	side(`{"bids":`, b.Bids)
	side(`,"asks":`, b.Asks)
	return append(out, '}')
}

func (l BookLevel) appendJSON(b []byte) []byte {
	b = append(b, '[')
	b = jsonw.Decimal(b, l.Price)
	b = append(b, ',')
	b = jsonw.Decimal(b, l.Qty)
	return append(b, ']')
}

// MarshalJSON writes [price, qty] as numbers.
func (l BookLevel) MarshalJSON() ([]byte, error) {
	return l.appendJSON(make([]byte, 0, 32)), nil
}

// UnmarshalJSON reads [price, qty] (numbers or decimal strings).
func (l *BookLevel) UnmarshalJSON(b []byte) error {
	var v []decimal.Decimal
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if len(v) != 2 {
		return fmt.Errorf("book level %s: want [price, qty]", b)
	}
	l.Price, l.Qty = v[0], v[1]
	return nil
}

// TradingStatus is the market status in effect: Status, or MarketTrading
// when it is not set.
func (m Market) TradingStatus() string {
	if m.Status == "" {
		return MarketTrading
	}
	return m.Status
}

// Side is the direction of an order.
type Side string

const (
	SideBuy  Side = "buy"
	SideSell Side = "sell"
)

// Order is a recommendation after sizing: rounded quantity and price, the
// values every check runs on and the executor places.
type Order struct {
	Symbol     string           `json:"symbol"`
	Side       Side             `json:"side"`
	Type       OrderType        `json:"type"`
	Quantity   decimal.Decimal  `json:"quantity"`
	Price      decimal.Decimal  `json:"price"`
	Notional   decimal.Decimal  `json:"notional"`
	StopLoss   *decimal.Decimal `json:"stop_loss"`
	TakeProfit *decimal.Decimal `json:"take_profit"`
}

// Decision is the outcome for one recommendation.
type Decision string

const (
	DecisionApproved Decision = "approved"
	DecisionRejected Decision = "rejected"
	DecisionNoAction Decision = "no_action"
)

// Violation sources.
const (
	SourceSchema = "schema" // the response failed strict parsing or the JSON schema
	SourceSizing = "sizing" // the recommendation could not be sized
	SourcePolicy = "policy" // a CEL rule failed or errored
	SourceLimit  = "limit"  // a hard limit in Go
	// SourceResponse: a check of the response as a whole (one
	// recommendation per symbol, the universe covered), in Go.
	SourceResponse = "response"
)

// Violation is one failed check, named so an operator can find the rule.
type Violation struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
	Source  string `json:"source"`
	// Pointer is a JSON pointer into the response, for schema errors.
	Pointer string `json:"pointer,omitempty"`
}

// Verdict is the validator's decision for one recommendation.
type Verdict struct {
	Index      int         `json:"index"`
	Symbol     string      `json:"symbol"`
	Action     Action      `json:"action"`
	Decision   Decision    `json:"decision"`
	Order      *Order      `json:"order"`
	Violations []Violation `json:"violations"`
	// Warnings are rules in warn mode that failed; they never reject.
	Warnings []Violation `json:"warnings"`
	// Rules is every policy rule's result for this recommendation, for the
	// audit log. Empty when the recommendation never reached the policy.
	Rules []RuleResult `json:"rules,omitempty"`
}

// RuleResult is one policy rule evaluated against one recommendation.
type RuleResult struct {
	Name    string `json:"name"`
	Mode    string `json:"mode"` // "enforce" or "warn"
	Passed  bool   `json:"passed"`
	Message string `json:"message,omitempty"` // set when the rule failed or was not applicable
	Error   string `json:"error,omitempty"`   // evaluation error: the rule counts as failed
	// NotApplicable: the rule needs the sized order and sizing failed (the
	// sizing violation rejects the recommendation; Message says why). Such
	// a rule has Passed false but is no violation.
	NotApplicable bool `json:"not_applicable,omitempty"`
}
