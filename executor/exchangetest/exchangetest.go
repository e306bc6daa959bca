// Package exchangetest is the contract every executor.Exchange must keep,
// as one test suite run against each implementation (the paper exchange,
// the ccxt adapter pointed at a fake Binance). Implementations differ in
// how the market moves, so a test gives the suite a Harness.
package exchangetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// Harness is one freshly built exchange ready for the suite.
type Harness struct {
	// Exchange is the implementation under test. Its account must hold
	// enough quote currency of Symbol for a few orders of a little above
	// the market's minimum notional, and none of the base currency is
	// needed.
	Exchange executor.Exchange
	// Symbol is the market to trade, e.g. "BTC/USDT".
	Symbol string
	// RestingBuyPrice is a price, on the market's price step, at which a
	// limit buy rests on the book without filling (well below the market).
	RestingBuyPrice decimal.Decimal
	// Fill makes the market trade through the open order with this client
	// order id so that it fills completely (paper: feed a candle through
	// its price; a fake exchange: mark it filled). After Fill returns,
	// FetchOrder must report the order filled.
	Fill func(t *testing.T, clientOrderID string)
}

// Run runs the contract suite; newEx is called once per subtest.
func Run(t *testing.T, newEx func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"MarketsHaveSteps", testMarkets},
		{"PlaceThenFetchByClientID", testPlaceFetch},
		{"DuplicateClientIDRefused", testDuplicate},
		{"Cancel", testCancel},
		{"OpenOrders", testOpenOrders},
		{"FillChangesBalances", testFill},
		{"FetchUnknownIsNotFound", testFetchUnknown},
		{"InsufficientBalanceRejected", testInsufficient},
		{"FilterFailureRejected", testFilters},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newEx(t)
			if h.Exchange == nil || h.Symbol == "" || h.RestingBuyPrice.Sign() <= 0 || h.Fill == nil {
				t.Fatalf("exchangetest: incomplete Harness %+v", h)
			}
			tc.fn(t, h)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func market(t *testing.T, h Harness) executor.Market {
	t.Helper()
	ms, err := h.Exchange.Markets(ctx(t))
	if err != nil {
		t.Fatalf("Markets() error = %v", err)
	}
	m, ok := ms[h.Symbol]
	if !ok {
		t.Fatalf("Markets() has no %q", h.Symbol)
	}
	return m
}

// smallQty is the smallest step multiple worth at least 1.5× the minimum
// notional at RestingBuyPrice (and at least MinAmount).
func smallQty(m executor.Market, price decimal.Decimal) decimal.Decimal {
	target := m.MinNotional.Mul(decimal.RequireFromString("1.5"))
	if target.Sign() == 0 {
		target = decimal.NewFromInt(10)
	}
	q := target.Div(price).Div(m.AmountStep).Ceil().Mul(m.AmountStep)
	if q.LessThan(m.MinAmount) {
		q = m.MinAmount
	}
	return q
}

func cid(t *testing.T, n int) string {
	return executor.ClientOrderID(t.Name(), fmt.Sprint(n))
}

func buy(h Harness, m executor.Market, id string) executor.OrderRequest {
	return executor.OrderRequest{ClientOrderID: id, Symbol: h.Symbol, Side: schemas.SideBuy, Type: executor.TypeLimit,
		Quantity: smallQty(m, h.RestingBuyPrice), Price: h.RestingBuyPrice}
}

func place(t *testing.T, h Harness, req executor.OrderRequest) executor.OrderReport {
	t.Helper()
	r, err := h.Exchange.PlaceOrder(ctx(t), req)
	if err != nil {
		t.Fatalf("PlaceOrder(%s %s %s@%s) error = %v", req.ClientOrderID, req.Side, req.Quantity, req.Price, err)
	}
	return r
}

func wantKind(t *testing.T, what string, err error, want executor.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s error = nil; want %v", what, want)
	}
	if k := executor.KindOf(err); k != want {
		t.Fatalf("%s error = %v (kind %v); want kind %v", what, err, k, want)
	}
}

func testMarkets(t *testing.T, h Harness) {
	m := market(t, h)
	if m.Symbol != h.Symbol || m.Base == "" || m.Quote == "" {
		t.Errorf("market %q = %+v; want symbol, base and quote", h.Symbol, m)
	}
	if m.AmountStep.Sign() <= 0 || m.PriceStep.Sign() <= 0 {
		t.Errorf("market %q steps = amount %s price %s; want both > 0", h.Symbol, m.AmountStep, m.PriceStep)
	}
	if m.MinNotional.Sign() < 0 || m.MinAmount.Sign() < 0 {
		t.Errorf("market %q minimums = %s/%s; want >= 0", h.Symbol, m.MinAmount, m.MinNotional)
	}
	if !executor.IsStepMultiple(h.RestingBuyPrice, m.PriceStep) {
		t.Errorf("harness RestingBuyPrice %s is not on price step %s", h.RestingBuyPrice, m.PriceStep)
	}
}

func testPlaceFetch(t *testing.T, h Harness) {
	m := market(t, h)
	req := buy(h, m, cid(t, 1))
	r := place(t, h, req)
	if r.ClientOrderID != req.ClientOrderID || r.Status != schemas.OrderAcknowledged {
		t.Errorf("PlaceOrder() = id %q status %q; want %q acknowledged", r.ClientOrderID, r.Status, req.ClientOrderID)
	}
	got, err := h.Exchange.FetchOrder(ctx(t), h.Symbol, req.ClientOrderID)
	if err != nil {
		t.Fatalf("FetchOrder(%q) error = %v", req.ClientOrderID, err)
	}
	if got.ClientOrderID != req.ClientOrderID || got.Status != schemas.OrderAcknowledged ||
		!got.Quantity.Equal(req.Quantity) || !got.Price.Equal(req.Price) || got.Side != schemas.SideBuy ||
		got.Symbol != h.Symbol || !got.FilledQty.IsZero() {
		t.Errorf("FetchOrder(%q) = %+v; want the acknowledged %s %s@%s", req.ClientOrderID, got, req.Side, req.Quantity, req.Price)
	}
}

func testDuplicate(t *testing.T, h Harness) {
	m := market(t, h)
	req := buy(h, m, cid(t, 1))
	place(t, h, req)
	_, err := h.Exchange.PlaceOrder(ctx(t), req)
	wantKind(t, "second PlaceOrder with the same client id", err, executor.KindRejected)
	open, err := h.Exchange.OpenOrders(ctx(t), h.Symbol)
	if err != nil {
		t.Fatalf("OpenOrders() error = %v", err)
	}
	n := 0
	for _, o := range open {
		if o.ClientOrderID == req.ClientOrderID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("open orders with client id %q = %d; want 1", req.ClientOrderID, n)
	}
}

func testCancel(t *testing.T, h Harness) {
	m := market(t, h)
	req := buy(h, m, cid(t, 1))
	place(t, h, req)
	r, err := h.Exchange.CancelOrder(ctx(t), h.Symbol, req.ClientOrderID)
	if err != nil {
		t.Fatalf("CancelOrder(%q) error = %v", req.ClientOrderID, err)
	}
	if r.Status != schemas.OrderCancelled {
		t.Errorf("CancelOrder(%q) status = %q; want cancelled", req.ClientOrderID, r.Status)
	}
	got, err := h.Exchange.FetchOrder(ctx(t), h.Symbol, req.ClientOrderID)
	if err != nil || got.Status != schemas.OrderCancelled {
		t.Errorf("FetchOrder(%q) after cancel = %q, %v; want cancelled", req.ClientOrderID, got.Status, err)
	}
	open, err := h.Exchange.OpenOrders(ctx(t), h.Symbol)
	if err != nil {
		t.Fatalf("OpenOrders() error = %v", err)
	}
	for _, o := range open {
		if o.ClientOrderID == req.ClientOrderID {
			t.Errorf("OpenOrders() still lists cancelled %q", req.ClientOrderID)
		}
	}
}

func testOpenOrders(t *testing.T, h Harness) {
	m := market(t, h)
	a, b := buy(h, m, cid(t, 1)), buy(h, m, cid(t, 2))
	place(t, h, a)
	place(t, h, b)
	for _, sym := range []string{h.Symbol, ""} {
		open, err := h.Exchange.OpenOrders(ctx(t), sym)
		if err != nil {
			t.Fatalf("OpenOrders(%q) error = %v", sym, err)
		}
		seen := map[string]bool{}
		for _, o := range open {
			seen[o.ClientOrderID] = true
		}
		if !seen[a.ClientOrderID] || !seen[b.ClientOrderID] {
			t.Errorf("OpenOrders(%q) = %d orders without both %q and %q", sym, len(open), a.ClientOrderID, b.ClientOrderID)
		}
	}
}

func testFill(t *testing.T, h Harness) {
	m := market(t, h)
	before, err := h.Exchange.Balances(ctx(t))
	if err != nil {
		t.Fatalf("Balances() error = %v", err)
	}
	req := buy(h, m, cid(t, 1))
	place(t, h, req)
	h.Fill(t, req.ClientOrderID)
	got, err := h.Exchange.FetchOrder(ctx(t), h.Symbol, req.ClientOrderID)
	if err != nil {
		t.Fatalf("FetchOrder(%q) error = %v", req.ClientOrderID, err)
	}
	if got.Status != schemas.OrderFilled || !got.FilledQty.Equal(req.Quantity) || got.AvgPrice.Sign() <= 0 {
		t.Fatalf("FetchOrder(%q) after Fill = status %q filled %s avg %s; want filled %s", req.ClientOrderID, got.Status, got.FilledQty, got.AvgPrice, req.Quantity)
	}
	after, err := h.Exchange.Balances(ctx(t))
	if err != nil {
		t.Fatalf("Balances() error = %v", err)
	}
	baseGain := after[m.Base].Total().Sub(before[m.Base].Total())
	minGain := req.Quantity
	if got.FeeCurrency == m.Base {
		minGain = minGain.Sub(got.Fee)
	}
	if baseGain.LessThan(minGain) || baseGain.GreaterThan(req.Quantity) {
		t.Errorf("%s balance change = %s; want between %s and %s", m.Base, baseGain, minGain, req.Quantity)
	}
	quoteSpent := before[m.Quote].Total().Sub(after[m.Quote].Total())
	if cost := got.FilledQty.Mul(got.AvgPrice); quoteSpent.LessThan(cost) {
		t.Errorf("%s spent = %s; want at least the cost %s", m.Quote, quoteSpent, cost)
	}
	if after[m.Quote].Free.Sign() < 0 || after[m.Quote].Locked.Sign() < 0 {
		t.Errorf("%s balance after fill = %+v; want no negative part", m.Quote, after[m.Quote])
	}
}

func testFetchUnknown(t *testing.T, h Harness) {
	_, err := h.Exchange.FetchOrder(ctx(t), h.Symbol, cid(t, 404))
	wantKind(t, "FetchOrder(never placed)", err, executor.KindNotFound)
}

func testInsufficient(t *testing.T, h Harness) {
	m := market(t, h)
	bals, err := h.Exchange.Balances(ctx(t))
	if err != nil {
		t.Fatalf("Balances() error = %v", err)
	}
	free := bals[m.Quote].Free
	q := free.Div(h.RestingBuyPrice).Mul(decimal.NewFromInt(2)).Div(m.AmountStep).Ceil().Mul(m.AmountStep)
	req := buy(h, m, cid(t, 1))
	req.Quantity = q
	_, err = h.Exchange.PlaceOrder(ctx(t), req)
	wantKind(t, fmt.Sprintf("PlaceOrder(buy %s@%s with %s %s free)", q, req.Price, free, m.Quote), err, executor.KindRejected)
	if _, err := h.Exchange.FetchOrder(ctx(t), h.Symbol, req.ClientOrderID); executor.KindOf(err) != executor.KindNotFound {
		t.Errorf("FetchOrder(refused order) error = %v; want not found", err)
	}

	sell := executor.OrderRequest{ClientOrderID: cid(t, 2), Symbol: h.Symbol, Side: schemas.SideSell, Type: executor.TypeLimit,
		Quantity: bals[m.Base].Free.Add(smallQty(m, h.RestingBuyPrice)).Div(m.AmountStep).Ceil().Mul(m.AmountStep),
		Price:    h.RestingBuyPrice.Mul(decimal.NewFromInt(3))}
	_, err = h.Exchange.PlaceOrder(ctx(t), sell)
	wantKind(t, "PlaceOrder(sell more than held)", err, executor.KindRejected)
}

func testFilters(t *testing.T, h Harness) {
	m := market(t, h)
	offStep := buy(h, m, cid(t, 1))
	offStep.Quantity = offStep.Quantity.Add(m.AmountStep.Div(decimal.NewFromInt(2)))
	_, err := h.Exchange.PlaceOrder(ctx(t), offStep)
	wantKind(t, fmt.Sprintf("PlaceOrder(quantity %s off step %s)", offStep.Quantity, m.AmountStep), err, executor.KindRejected)

	if m.MinNotional.Sign() > 0 {
		tiny := buy(h, m, cid(t, 2))
		tiny.Quantity = m.MinNotional.Div(tiny.Price).Div(m.AmountStep).Floor().Mul(m.AmountStep).Sub(m.AmountStep)
		if tiny.Quantity.LessThan(m.AmountStep) {
			tiny.Quantity = m.AmountStep
		}
		if tiny.Quantity.Mul(tiny.Price).GreaterThanOrEqual(m.MinNotional) {
			t.Fatalf("cannot build an order below min notional %s at %s", m.MinNotional, tiny.Price)
		}
		_, err = h.Exchange.PlaceOrder(ctx(t), tiny)
		wantKind(t, fmt.Sprintf("PlaceOrder(%s@%s below min notional %s)", tiny.Quantity, tiny.Price, m.MinNotional), err, executor.KindRejected)
	}

	offPrice := buy(h, m, cid(t, 3))
	offPrice.Price = offPrice.Price.Add(m.PriceStep.Div(decimal.NewFromInt(2)))
	_, err = h.Exchange.PlaceOrder(ctx(t), offPrice)
	wantKind(t, fmt.Sprintf("PlaceOrder(price %s off step %s)", offPrice.Price, m.PriceStep), err, executor.KindRejected)
}
