package agent

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/alerts"
	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// TestAlertInputs: the day's loss, the drawdown and exposure measured in
// decimal from the state, the limits from the default policy (exposure
// cap × risk scale); at 70 % of the 3 % day-loss limit exactly the alert
// is raised.
func TestAlertInputs(t *testing.T) {
	d := decimal.RequireFromString
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	st := schemas.State{
		RiskScale: d("0.5"),
		Account: schemas.Account{Equity: d("9790"), DayStartEquity: d("10000"), PeakEquity: d("10000"),
			Positions: map[string]schemas.Position{"BTC/USDT": {Qty: d("0.03"), AvgPrice: d("39000")}, "ETH/USDT": {Qty: d("1"), AvgPrice: d("2000")}}},
		Markets: map[string]schemas.Market{"BTC/USDT": {Bid: d("39999"), Ask: d("40001"), Last: d("40000")}},
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	in := alertInputs(now, st, p, AlertOptions{})
	// loss 210 of 10000 = 2.1 %; exposure 0.03 × 40000 + 1 × 2000 (no market: average price) = 3200 of 9790.
	if in.DayLossPct.String() != "2.1" || in.DrawdownPct.String() != "2.1" || !in.MaxDayLossPct.Equal(d("3")) || !in.MaxDrawdownPct.Equal(d("10")) {
		t.Errorf("day loss %s / %s, drawdown %s / %s", in.DayLossPct, in.MaxDayLossPct, in.DrawdownPct, in.MaxDrawdownPct)
	}
	if want := d("3200").Mul(d("100")).Div(d("9790")); !in.ExposurePct.Equal(want) || !in.MaxExposurePct.Equal(d("15")) {
		t.Errorf("exposure %s of cap %s; want %s of 15 (30 × 0.5)", in.ExposurePct, in.MaxExposurePct, want)
	}
	got := alerts.Check(alerts.Config{}, in)
	if len(got) != 2 || got[0].Name != alerts.DayLoss || got[1].Name != alerts.Exposure {
		t.Fatalf("alerts = %+v; want day_loss (2.1 = 70 %% of 3) and exposure (21.8 %% over 90 %% of 15)", got)
	}
	st.Account.Equity = d("9790.01")
	if got := alerts.Check(alerts.Config{ExposurePct: d("-1")}, alertInputs(now, st, p, AlertOptions{})); len(got) != 0 {
		t.Errorf("a cent less loss: alerts %+v; want none", got)
	}
}
