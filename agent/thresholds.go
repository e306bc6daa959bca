package agent

import (
	"context"
	"encoding/json"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/alerts"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/notify"
	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// AlertOptions configure the threshold alerts (agent/alerts).
type AlertOptions struct {
	Off             bool // no threshold alerts
	Thresholds      alerts.Config
	TokenBudget     int64     // the advisor's daily token budget; 0: no token alert
	KeyCreated      time.Time // the exchange key's creation date; zero: no key alert
	KeyRotationDays int
}

// AlertStore is what the threshold alerts need of the audit store
// (audit.Store implements it): an event recorded once per key across
// processes, the tokens used, and the recent model calls' outcome.
type AlertStore interface {
	RecordEventOnce(ctx context.Context, e audit.Event, dedupKey string) (bool, error)
	TokensUsedSince(ctx context.Context, t time.Time) (int64, error)
	RecentInvalidOutput(ctx context.Context, n int) (calls, invalid int, err error)
}

// KindAlert is the notification kind of a threshold alert.
const KindAlert = "alert"

// alertEvent is the notification of one alert; its dedup key is the
// alert's, so each channel sends it once per threshold per day.
type alertEvent struct {
	a     alerts.Alert
	runID string
}

func (e alertEvent) Message() (notify.Message, error) {
	return notify.Message{Kind: KindAlert, Title: "Warden warning: " + e.a.Name, Text: e.a.Text,
		DedupKey: e.a.DedupKey(), RunID: e.runID}, nil
}

// alertInputs measures what the alerts compare, in decimal: the day's
// loss and the drawdown in % as the policy computes them, exposure in % of
// equity (positions at their mark) and the policy's limits (the exposure
// cap times the risk scale).
func alertInputs(now time.Time, st schemas.State, p *policy.Policy, o AlertOptions) alerts.Inputs {
	in := alerts.Inputs{Now: now, TokenBudget: o.TokenBudget, KeyCreated: o.KeyCreated, KeyRotationDays: o.KeyRotationDays}
	acc := st.Account
	hundred := decimal.NewFromInt(100)
	if acc.DayStartEquity.IsPositive() && acc.Equity.LessThan(acc.DayStartEquity) {
		in.DayLossPct = acc.DayStartEquity.Sub(acc.Equity).Mul(hundred).Div(acc.DayStartEquity)
	}
	if acc.PeakEquity.IsPositive() && acc.Equity.LessThan(acc.PeakEquity) {
		in.DrawdownPct = acc.PeakEquity.Sub(acc.Equity).Mul(hundred).Div(acc.PeakEquity)
	}
	if acc.Equity.IsPositive() {
		exp := decimal.Zero
		for sym, pos := range acc.Positions {
			mark := pos.AvgPrice
			if m, ok := st.Markets[sym]; ok {
				switch {
				case m.Bid.IsPositive() && m.Ask.IsPositive():
					mark = m.Bid.Add(m.Ask).Div(decimal.NewFromInt(2))
				case m.Last.IsPositive():
					mark = m.Last
				}
			}
			exp = exp.Add(pos.Qty.Mul(mark))
		}
		in.ExposurePct = exp.Mul(hundred).Div(acc.Equity)
	}
	in.MaxDayLossPct, _ = p.NumberParam("max_day_loss_pct")
	in.MaxDrawdownPct, _ = p.NumberParam("max_drawdown_pct")
	if cap, ok := p.NumberParam("max_exposure_pct"); ok {
		in.MaxExposurePct = cap.Mul(st.Risk())
	}
	return in
}

// checkAlerts raises the threshold alerts due at this cycle: each is
// recorded in the audit log once per threshold per day (across processes)
// and, when recorded now, published to the configured channels. Failing
// to read an input skips that alert for the cycle (it is logged); alerts
// never change what the cycle decides.
func (a *Agent) checkAlerts(ctx context.Context, now time.Time, st schemas.State, p *policy.Policy, res *CycleResult) {
	if a.o.Alerts.Off || !a.keepsRecords() {
		return
	}
	s, ok := a.d.Store.(AlertStore)
	if !ok {
		return
	}
	in := alertInputs(now, st, p, a.o.Alerts)
	if in.TokenBudget > 0 {
		// The budget's day is the wall clock's, as the advisor counts it:
		// the decision clock is a replay's or a backtest's own.
		used, err := s.TokensUsedSince(ctx, time.Now().UTC().Truncate(24*time.Hour))
		if err != nil {
			a.d.Logger.Warn("alerts: tokens used today could not be read", "err", err)
			in.TokenBudget = 0
		}
		in.TokensToday = used
	}
	win := a.o.Alerts.Thresholds.WithDefaults().ModelErrorWindow
	if calls, failed, err := s.RecentInvalidOutput(ctx, win); err != nil {
		a.d.Logger.Warn("alerts: recent model calls could not be read", "err", err)
	} else {
		in.ModelCalls, in.ModelFailed = calls, failed
	}
	for _, al := range alerts.Check(a.o.Alerts.Thresholds, in) {
		detail, _ := json.Marshal(al)
		recorded, err := s.RecordEventOnce(ctx, audit.Event{Kind: audit.EventAlert, RunID: res.RunID, At: now, State: al.Name, Detail: detail}, al.DedupKey())
		if err != nil {
			a.d.Logger.Error("audit: record alert", "alert", al.Name, "err", err)
			continue
		}
		if recorded {
			a.d.Logger.Warn("threshold alert", "alert", al.Name, "text", al.Text)
		}
		// Published while due, not only when recorded: the outbox keeps
		// one per channel and key, and a process that recorded the alert
		// but stopped before enqueueing it is made good here.
		if a.d.Publisher != nil {
			if err := a.d.Publisher.Publish(ctx, alertEvent{a: al, runID: res.RunID}); err != nil {
				a.d.Logger.Error("notify: alert", "alert", al.Name, "err", err)
			}
		}
	}
}
