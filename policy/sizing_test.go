package policy

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

func TestSizeOrder(t *testing.T) {
	mkState := func(equity string, m schemas.Market) schemas.State {
		return schemas.State{Mode: "paper", Account: schemas.Account{Equity: d(equity)}, Markets: map[string]schemas.Market{"BTC/USDT": m}}
	}
	btc := schemas.Market{Bid: d("42000"), Ask: d("42010"), Last: d("42005"), AmountStep: d("0.00001"), PriceStep: d("0.01")}
	tests := []struct {
		name                  string
		equity                string
		market                schemas.Market
		action                schemas.Action
		typ                   schemas.OrderType
		pct, limit            string
		wantQty, wantPrice    string
		wantNotional, wantErr string
	}{
		{"contract buy", "10000", btc, "buy", "limit", "1", "42010.5", "0.00238", "42010.5", "99.98499", ""},
		{"buy price rounds down", "10000", btc, "buy", "limit", "1", "42010.509", "0.00238", "42010.5", "99.98499", ""},
		{"sell price rounds up", "10000", btc, "sell", "limit", "1", "42010.501", "0.00238", "42010.51", "99.9850138", ""},
		{"quantity floors", "10000", schemas.Market{Bid: d("2"), Ask: d("4"), Last: d("3"), AmountStep: d("0.001"), PriceStep: d("0.01")},
			"buy", "limit", "1", "3", "33.333", "3", "99.999", ""},
		{"exact multiple stays", "100", schemas.Market{Bid: d("0.5"), Ask: d("0.5"), Last: d("0.5"), AmountStep: d("1"), PriceStep: d("0.1")},
			"buy", "limit", "100", "0.5", "200", "0.5", "100", ""},
		// 0.01 / 1.0000000000000000001 is just under 0.01: a rounded
		// division would give one full step; the exact floor gives zero.
		{"never rounds up across a step", "1", schemas.Market{Bid: d("1"), Ask: d("1"), Last: d("1"), AmountStep: d("0.01"), PriceStep: d("0.0000000000000000001")},
			"buy", "limit", "1", "1.0000000000000000001", "", "", "", RuleSizingQuantityZero},
		{"market buy uses the ask", "10000", btc, "buy", "market", "1", "", "0.00238", "42010", "99.9838", ""},
		{"market sell uses the bid", "10000", btc, "sell", "market", "1", "", "0.00238", "42000", "99.96", ""},
		{"size over 100", "10000", btc, "buy", "limit", "100.5", "42010", "", "", "", RuleSizingSizePct},
		{"negative size", "10000", btc, "sell", "limit", "-1", "42010", "", "", "", RuleSizingSizePct},
		{"price below one step", "10000", btc, "buy", "limit", "1", "0.001", "", "", "", RuleSizingPriceZero},
		{"no steps", "10000", schemas.Market{Bid: d("1"), Ask: d("1"), Last: d("1")}, "buy", "limit", "1", "1", "", "", "", RuleSizingMarket},
		{"bad order type", "10000", btc, "buy", "stop", "1", "42010", "", "", "", RuleSizingOrderType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := schemas.Recommendation{Symbol: "BTC/USDT", Action: tc.action, OrderType: tc.typ, SizePct: d(tc.pct), StopLoss: dp("1")}
			if tc.limit != "" {
				rec.LimitPrice = dp(tc.limit)
			}
			o, vs := SizeOrder(rec, mkState(tc.equity, tc.market))
			if tc.wantErr != "" {
				if o != nil || len(vs) == 0 || vs[0].Rule != tc.wantErr || vs[0].Source != schemas.SourceSizing {
					t.Fatalf("SizeOrder = %+v, %+v; want no order and %s", o, vs, tc.wantErr)
				}
				return
			}
			if len(vs) > 0 || o == nil {
				t.Fatalf("SizeOrder violations = %+v; want an order", vs)
			}
			if !o.Quantity.Equal(d(tc.wantQty)) || !o.Price.Equal(d(tc.wantPrice)) || !o.Notional.Equal(d(tc.wantNotional)) {
				t.Errorf("SizeOrder = %s @ %s = %s; want %s @ %s = %s", o.Quantity, o.Price, o.Notional, tc.wantQty, tc.wantPrice, tc.wantNotional)
			}
			target := d(tc.equity).Mul(d(tc.pct)).Div(decimal.NewFromInt(100))
			if o.Notional.GreaterThan(target) {
				t.Errorf("notional %s is over the target %s", o.Notional, target)
			}
			if o.StopLoss == rec.StopLoss {
				t.Errorf("order shares the recommendation's stop pointer")
			}
		})
	}
}
