package backtest

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Costs are the trading costs a benchmark pays, in basis points of
// notional, taken from the paper exchange's configuration.
type Costs struct {
	FeeBps      decimal.Decimal // taker fee
	SlippageBps decimal.Decimal // price moves against the order
	SpreadBps   decimal.Decimal // full spread; a market buy pays half
}

// BuyAndHold is the equal-weight buy-and-hold benchmark over the same marks
// as the strategy: at marks[0] cash is split equally across the symbols and
// each share buys at that mark's close plus half the spread and the
// slippage, paying the fee; nothing trades after. closes[s][i] is symbol s's
// close at marks[i]. Mark 0 is the cash before the purchase, like the
// strategy's first mark before its first order.
func BuyAndHold(marks []time.Time, closes [][]float64, cash decimal.Decimal, c Costs) ([]Point, error) {
	if len(marks) == 0 || len(closes) == 0 {
		return nil, fmt.Errorf("backtest: buy-and-hold needs marks and at least one symbol")
	}
	if !cash.IsPositive() {
		return nil, fmt.Errorf("backtest: buy-and-hold start cash %s must be positive", cash)
	}
	bps := decimal.NewFromInt(10000)
	up := decimal.NewFromInt(1).Add(c.SlippageBps.Add(c.SpreadBps.Div(decimal.NewFromInt(2))).Div(bps))
	fee := c.FeeBps.Div(bps)
	share := cash.Div(decimal.NewFromInt(int64(len(closes))))
	qty := make([]float64, len(closes))
	for s, cl := range closes {
		if len(cl) != len(marks) {
			return nil, fmt.Errorf("backtest: symbol %d has %d closes for %d marks", s, len(cl), len(marks))
		}
		if !(cl[0] > 0) {
			return nil, fmt.Errorf("backtest: symbol %d has close %v at %s", s, cl[0], marks[0].Format(time.RFC3339))
		}
		price := decimal.NewFromFloat(cl[0]).Mul(up)
		q := share.Sub(share.Mul(fee)).Div(price)
		qty[s] = q.InexactFloat64()
	}
	out := make([]Point, len(marks))
	out[0] = Point{Time: marks[0], Equity: cash.InexactFloat64()}
	for i := 1; i < len(marks); i++ {
		var v float64
		for s := range closes {
			v += qty[s] * closes[s][i]
		}
		out[i] = Point{Time: marks[i], Equity: v, Invested: v}
	}
	// The benchmark is invested from mark 0 on.
	out[0].Invested = out[0].Equity
	return out, nil
}
