package ccxtx

import (
	"context"
	"strings"
	"time"

	ccxt "github.com/ccxt/ccxt/go/v4"
	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// PlaceOrder sends one order with req.ClientOrderID as the exchange's client
// order id (Binance's newClientOrderId). The quantity and prices must
// already be on the market's steps: ccxt would otherwise round them
// silently (the amount down, the price to the nearest tick), so an off-step
// order is refused here, unsent. A KindNetwork, KindUnavailable or
// KindUnknown error means the order may exist: resolve it with FetchOrder.
func (e *Exchange) PlaceOrder(ctx context.Context, req executor.OrderRequest) (executor.OrderReport, error) {
	op := "place order " + req.ClientOrderID
	if !executor.ValidClientOrderID(req.ClientOrderID) {
		return executor.OrderReport{}, rejected(op, "client order id %q is not 1-36 of [.A-Za-z:/0-9_-]", req.ClientOrderID)
	}
	if req.Side != schemas.SideBuy && req.Side != schemas.SideSell {
		return executor.OrderReport{}, rejected(op, "side %q is not buy or sell", req.Side)
	}
	if !req.Quantity.IsPositive() {
		return executor.OrderReport{}, rejected(op, "quantity %s is not positive", req.Quantity)
	}
	var typ string
	params := map[string]any{"clientOrderId": req.ClientOrderID}
	switch req.Type {
	case executor.TypeLimit:
		typ = "limit"
	case executor.TypeMarket:
		typ = "market"
	case executor.TypeStopLossLimit:
		typ = "limit" // ccxt turns a spot limit with stopLossPrice into STOP_LOSS_LIMIT
		if !req.StopPrice.IsPositive() {
			return executor.OrderReport{}, rejected(op, "stop price %s is not positive", req.StopPrice)
		}
	default:
		return executor.OrderReport{}, rejected(op, "order type %q is not limit, market or stop_loss_limit", req.Type)
	}
	if typ == "limit" && !req.Price.IsPositive() {
		return executor.OrderReport{}, rejected(op, "limit price %s is not positive", req.Price)
	}
	m, err := e.market(ctx, req.Symbol)
	if err != nil {
		if executor.KindOf(err) == executor.KindRejected {
			return executor.OrderReport{}, err
		}
		// nothing was sent: say so, rather than leave an unknown outcome
		return executor.OrderReport{}, rejected(op, "cannot load the markets: %v", err)
	}
	if !executor.IsStepMultiple(req.Quantity, m.AmountStep) {
		return executor.OrderReport{}, rejected(op, "quantity %s is not a multiple of %s's step %s", req.Quantity, req.Symbol, m.AmountStep)
	}
	amount, ok := floatOf(req.Quantity)
	if !ok {
		return executor.OrderReport{}, rejected(op, "quantity %s does not survive ccxt's float64", req.Quantity)
	}
	opts := []ccxt.CreateOrderOptions{}
	if typ == "limit" {
		if !executor.IsStepMultiple(req.Price, m.PriceStep) {
			return executor.OrderReport{}, rejected(op, "price %s is not a multiple of %s's tick %s", req.Price, req.Symbol, m.PriceStep)
		}
		price, ok := floatOf(req.Price)
		if !ok {
			return executor.OrderReport{}, rejected(op, "price %s does not survive ccxt's float64", req.Price)
		}
		opts = append(opts, ccxt.WithCreateOrderPrice(price))
	}
	if req.Type == executor.TypeStopLossLimit {
		if !executor.IsStepMultiple(req.StopPrice, m.PriceStep) {
			return executor.OrderReport{}, rejected(op, "stop price %s is not a multiple of %s's tick %s", req.StopPrice, req.Symbol, m.PriceStep)
		}
		stop, ok := floatOf(req.StopPrice)
		if !ok {
			return executor.OrderReport{}, rejected(op, "stop price %s does not survive ccxt's float64", req.StopPrice)
		}
		params["stopLossPrice"] = stop
	}
	opts = append(opts, ccxt.WithCreateOrderParams(params))
	e.log.Info("placing order", "client_order_id", req.ClientOrderID, "symbol", req.Symbol, "side", req.Side,
		"type", req.Type, "quantity", req.Quantity, "price", req.Price, "stop_price", req.StopPrice)
	if err := ctx.Err(); err != nil {
		return executor.OrderReport{}, rejected(op, "%v", err)
	}
	o, err := call(ctx, e, op, func() (ccxt.Order, error) {
		return e.ex.CreateOrder(req.Symbol, typ, string(req.Side), amount, opts...)
	})
	if err != nil {
		return executor.OrderReport{}, err
	}
	r := e.report(o, req.ClientOrderID)
	// an ACK-style reply may omit what we sent
	if r.Symbol == "" {
		r.Symbol = req.Symbol
	}
	if r.Side == "" {
		r.Side = req.Side
	}
	if r.Type == "" {
		r.Type = req.Type
	}
	if r.Quantity.IsZero() {
		r.Quantity = req.Quantity
	}
	if r.Price.IsZero() {
		r.Price = req.Price
	}
	if r.StopPrice.IsZero() {
		r.StopPrice = req.StopPrice
	}
	return r, nil
}

// CancelOrder cancels an open order by client order id; KindNotFound when
// the exchange has no such open order.
func (e *Exchange) CancelOrder(ctx context.Context, symbol, clientOrderID string) (executor.OrderReport, error) {
	op := "cancel order " + clientOrderID
	if clientOrderID == "" {
		return executor.OrderReport{}, rejected(op, "no client order id")
	}
	o, err := call(ctx, e, op, func() (ccxt.Order, error) {
		return e.ex.CancelOrder("", ccxt.WithCancelOrderSymbol(symbol), ccxt.WithCancelOrderParams(map[string]any{"clientOrderId": clientOrderID}))
	})
	if err != nil {
		return executor.OrderReport{}, err
	}
	r := e.report(o, clientOrderID)
	if r.Symbol == "" {
		r.Symbol = symbol
	}
	if r.Status == schemas.OrderAcknowledged || r.Status == schemas.OrderPartiallyFilled {
		// Binance answers a cancel with the order as cancelled; an exchange
		// that answers with the pre-cancel state still cancelled it.
		r.Status = schemas.OrderCancelled
	}
	return r, nil
}

// FetchOrder finds an order by client order id. When the order has fills
// but the exchange's order record carries no fee (Binance's GET order does
// not), the fee is summed from the order's trades.
func (e *Exchange) FetchOrder(ctx context.Context, symbol, clientOrderID string) (executor.OrderReport, error) {
	op := "fetch order " + clientOrderID
	if clientOrderID == "" {
		return executor.OrderReport{}, rejected(op, "no client order id")
	}
	o, err := call(ctx, e, op, func() (ccxt.Order, error) {
		return e.ex.FetchOrder("", ccxt.WithFetchOrderSymbol(symbol), ccxt.WithFetchOrderParams(map[string]any{"clientOrderId": clientOrderID}))
	})
	if err != nil {
		return executor.OrderReport{}, err
	}
	r := e.report(o, clientOrderID)
	if r.Symbol == "" {
		r.Symbol = symbol
	}
	if r.FilledQty.IsPositive() && o.Fee.Cost == nil && r.ExchangeOrderID != "" {
		fee, cur, err := e.orderFees(ctx, symbol, r.ExchangeOrderID)
		if err != nil {
			return executor.OrderReport{}, err
		}
		r.Fee, r.FeeCurrency = fee, cur
	}
	return r, nil
}

// orderFees sums the fees of one order's trades (in the first fee
// currency seen; Binance charges one currency per order).
func (e *Exchange) orderFees(ctx context.Context, symbol, orderID string) (decimal.Decimal, string, error) {
	trades, err := call(ctx, e, "fetch trades of order "+orderID, func() ([]ccxt.Trade, error) {
		return e.ex.FetchMyTrades(ccxt.WithFetchMyTradesSymbol(symbol), ccxt.WithFetchMyTradesParams(map[string]any{"orderId": orderID}))
	})
	if err != nil {
		return decimal.Zero, "", err
	}
	fee, cur := decimal.Zero, ""
	for _, t := range trades {
		if sdef(t.Order) != orderID || t.Fee.Cost == nil {
			continue
		}
		c := sdef(t.Fee.Currency)
		if cur == "" {
			cur = c
		}
		if c != cur {
			e.log.Warn("order fees in several currencies; reporting the first", "order_id", orderID, "currency", cur, "other", c)
			continue
		}
		fee = fee.Add(exact(t.Info, "commission", t.Fee.Cost))
	}
	return fee, cur, nil
}

// OpenOrders lists open orders, of one symbol or ("" ) of all.
func (e *Exchange) OpenOrders(ctx context.Context, symbol string) ([]executor.OrderReport, error) {
	var opts []ccxt.FetchOpenOrdersOptions
	if symbol != "" {
		opts = append(opts, ccxt.WithFetchOpenOrdersSymbol(symbol))
	}
	os, err := call(ctx, e, "fetch open orders", func() ([]ccxt.Order, error) {
		return e.ex.FetchOpenOrders(opts...)
	})
	if err != nil {
		return nil, err
	}
	out := make([]executor.OrderReport, 0, len(os))
	for _, o := range os {
		out = append(out, e.report(o, ""))
	}
	return out, nil
}

// MyTrades lists the account's trades of a symbol since a time. A trade's
// ClientOrderID is known for orders this adapter placed or fetched (Binance
// does not return it with trades).
func (e *Exchange) MyTrades(ctx context.Context, symbol string, since time.Time) ([]executor.Trade, error) {
	opts := []ccxt.FetchMyTradesOptions{ccxt.WithFetchMyTradesSymbol(symbol)}
	if !since.IsZero() {
		opts = append(opts, ccxt.WithFetchMyTradesSince(since.UnixMilli()))
	}
	ts, err := call(ctx, e, "fetch my trades "+symbol, func() ([]ccxt.Trade, error) {
		return e.ex.FetchMyTrades(opts...)
	})
	if err != nil {
		return nil, err
	}
	out := make([]executor.Trade, 0, len(ts))
	for _, t := range ts {
		oid := sdef(t.Order)
		e.mu.Lock()
		cid := e.clientIDs[oid]
		e.mu.Unlock()
		if s, ok := t.Info["clientOrderId"].(string); ok && s != "" {
			cid = s
		}
		out = append(out, executor.Trade{
			ID: sdef(t.Id), OrderID: oid, ClientOrderID: cid, Symbol: sdef(t.Symbol),
			Side:        schemas.Side(strings.ToLower(sdef(t.Side))),
			Price:       exact(t.Info, "price", t.Price),
			Quantity:    exact(t.Info, "qty", t.Amount),
			Fee:         exact(t.Info, "commission", t.Fee.Cost),
			FeeCurrency: sdef(t.Fee.Currency),
			Time:        msTime(t.Timestamp),
		})
	}
	return out, nil
}

// report converts a ccxt order. clientOrderID, when given, is what we asked
// for: Binance's cancel reply carries the cancel request's own id in
// clientOrderId and ours in origClientOrderId.
func (e *Exchange) report(o ccxt.Order, clientOrderID string) executor.OrderReport {
	info := o.Info
	r := executor.OrderReport{
		ClientOrderID:   clientOrderID,
		ExchangeOrderID: sdef(o.Id),
		Symbol:          sdef(o.Symbol),
		Side:            schemas.Side(strings.ToLower(sdef(o.Side))),
		Type:            strings.ToLower(sdef(o.Type)),
		Quantity:        exact(info, "origQty", o.Amount),
		Price:           exact(info, "price", o.Price),
		FilledQty:       exact(info, "executedQty", o.Filled),
		Fee:             fdec(o.Fee.Cost),
		FeeCurrency:     sdef(o.Fee.Currency),
		Updated:         msTime(o.LastUpdateTimestamp),
	}
	if r.ClientOrderID == "" {
		r.ClientOrderID = sdef(o.ClientOrderId)
	}
	stop := o.TriggerPrice
	if stop == nil {
		stop = o.StopPrice
	}
	r.StopPrice = exact(info, "stopPrice", stop)
	switch t, _ := info["type"].(string); {
	case t == "STOP_LOSS_LIMIT":
		r.Type = executor.TypeStopLossLimit
	case t == "" && r.StopPrice.IsPositive() && r.Type == "limit": // not Binance: a limit with a trigger
		r.Type = executor.TypeStopLossLimit
	}
	if cq, ok := infoDec(info, "cummulativeQuoteQty"); ok && r.FilledQty.IsPositive() && cq.IsPositive() {
		r.AvgPrice = cq.Div(r.FilledQty).Round(12)
	} else {
		r.AvgPrice = fdec(o.Average)
	}
	if r.Updated.IsZero() {
		r.Updated = msTime(o.Timestamp)
	}
	switch strings.ToLower(sdef(o.Status)) {
	case "closed":
		r.Status = schemas.OrderFilled
	case "canceled", "cancelled", "expired":
		r.Status = schemas.OrderCancelled
	case "rejected":
		r.Status = schemas.OrderRejected
	default: // open, canceling, or not said (an ACK): the exchange has it
		r.Status = schemas.OrderAcknowledged
		if r.FilledQty.IsPositive() {
			r.Status = schemas.OrderPartiallyFilled
		}
	}
	if r.ExchangeOrderID != "" && r.ClientOrderID != "" {
		e.mu.Lock()
		e.clientIDs[r.ExchangeOrderID] = r.ClientOrderID
		e.mu.Unlock()
	}
	return r
}
