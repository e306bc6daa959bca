package ccxtx

import (
	"context"
	"errors"
	"fmt"
	"time"

	ccxt "github.com/ccxt/ccxt/go/v4"

	"github.com/warden-trading/warden/executor"
)

// ErrWithdrawalsEnabled is CheckKey's refusal of a key that can withdraw.
var ErrWithdrawalsEnabled = errors.New("ccxtx: the API key can withdraw funds; make a trade-only key (or set allow_withdrawal_keys, which is not advised)")

// ErrCannotTrade is CheckKey's refusal of a key without spot trading.
var ErrCannotTrade = errors.New("ccxtx: the API key is not allowed to trade spot")

// KeyReport is what CheckKey found out about the configured API key.
type KeyReport struct {
	// Checked is true when the exchange reported the key's permissions
	// (Binance's GET /sapi/v1/account/apiRestrictions).
	Checked      bool          `json:"checked"`
	CanRead      bool          `json:"can_read"`
	CanTrade     bool          `json:"can_trade"`
	CanWithdraw  bool          `json:"can_withdraw"`
	CanMargin    bool          `json:"can_margin"`
	CanFutures   bool          `json:"can_futures"`
	CanTransfer  bool          `json:"can_transfer"`
	IPRestricted bool          `json:"ip_restricted"`
	Created      time.Time     `json:"created"`
	Age          time.Duration `json:"age"`
	RotationDue  bool          `json:"rotation_due"`
	Warnings     []string      `json:"warnings"`
}

type apiRestrictor interface {
	SapiGetAccountApiRestrictions(args ...any) <-chan any
}

// CheckKey checks the configured key before live trading. Where the
// exchange exposes a key's permissions it reads them and refuses
// (ErrWithdrawalsEnabled) a key that can withdraw unless
// Config.AllowWithdrawalKeys, and refuses (ErrCannotTrade) one that cannot
// trade spot. It warns, through the logger and in the report, when the key
// has no IP allowlist, carries margin or futures rights, or is older than
// the rotation period (Config.KeyCreated, else the exchange's own creation
// time). An exchange that does not expose permissions is not an error: the
// report says Checked false.
func (e *Exchange) CheckKey(ctx context.Context, now time.Time) (KeyReport, error) {
	var rep KeyReport
	if e.cfg.Credentials.IsZero() {
		return rep, errors.New("ccxtx: no API key configured")
	}
	warn := func(msg string, args ...any) {
		rep.Warnings = append(rep.Warnings, msg)
		e.log.Warn(msg, args...)
	}
	rest, ok := e.ex.(apiRestrictor)
	switch {
	case !ok:
		warn("the exchange does not report API key permissions; make sure the key cannot withdraw")
	case e.cfg.Sandbox:
		warn("sandbox mode: key permissions are not checked (the testnet has no API-restrictions endpoint)")
	default:
		raw, err := e.retryRead(ctx, "check api key restrictions", func(c context.Context) (map[string]any, error) {
			return call(c, e, "check api key restrictions", func() (map[string]any, error) {
				res := <-rest.SapiGetAccountApiRestrictions()
				if ccxt.IsError(res) {
					return nil, ccxt.CreateReturnError(res)
				}
				m, ok := res.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("unexpected api restrictions reply of type %T", res)
				}
				return m, nil
			})
		})
		if err != nil {
			return rep, err
		}
		flag := func(k string) bool { b, _ := raw["enable"+k].(bool); return b }
		rep.Checked = true
		rep.CanRead = flag("Reading")
		rep.CanTrade = flag("SpotAndMarginTrading")
		rep.CanWithdraw = flag("Withdrawals")
		rep.CanMargin = flag("Margin")
		rep.CanFutures = flag("Futures") || flag("VanillaOptions") || flag("PortfolioMarginTrading")
		rep.CanTransfer = flag("InternalTransfer")
		rep.IPRestricted, _ = raw["ipRestrict"].(bool)
		if ct, ok := infoDec(raw, "createTime"); ok && ct.IsPositive() {
			rep.Created = time.UnixMilli(ct.IntPart()).UTC()
		}
	}
	if !e.cfg.KeyCreated.IsZero() {
		rep.Created = e.cfg.KeyCreated.UTC()
	} else if !e.cfg.Credentials.Created.IsZero() {
		rep.Created = e.cfg.Credentials.Created.UTC()
	}
	if !rep.Created.IsZero() {
		rep.Age = now.Sub(rep.Created)
		if rep.Age > e.cfg.KeyRotation {
			rep.RotationDue = true
			warn(fmt.Sprintf("the API key is %d days old, past the %d-day rotation period: make a new key", int(rep.Age.Hours()/24), int(e.cfg.KeyRotation.Hours()/24)),
				"created", rep.Created.Format(time.DateOnly))
		}
	} else {
		warn("the API key's creation date is unknown: set it so its age can be checked against the rotation period")
	}
	if !rep.Checked {
		return rep, nil
	}
	if !rep.IPRestricted {
		warn("the API key has no IP allowlist")
	}
	if rep.CanMargin || rep.CanFutures || rep.CanTransfer {
		warn("the API key has rights Warden does not use (margin, futures or transfers): make a spot-trade-only key")
	}
	if rep.CanWithdraw {
		if !e.cfg.AllowWithdrawalKeys {
			e.log.Error("refusing to trade with a key that can withdraw")
			return rep, ErrWithdrawalsEnabled
		}
		warn("the API key can withdraw funds; allowed only by the allow_withdrawal_keys override")
	}
	if !rep.CanTrade {
		return rep, ErrCannotTrade
	}
	return rep, nil
}

// LiveAllowed is the two-switch rule: live trading needs mode "live" in
// the config and the --live flag on the command line. Anything less is
// paper.
func LiveAllowed(configMode string, liveFlag bool) bool {
	return configMode == "live" && liveFlag
}

// retryRead runs one read the way the executor runs its reads: each
// attempt bounded by Config.CheckTimeout, transient faults (network,
// 5xx, unclassified, a short rate limit) tried again up to
// Config.CheckAttempts times with a doubling wait; refusals, auth errors,
// bans and "not found" are answers and not retried.
func (e *Exchange) retryRead(ctx context.Context, what string, f func(ctx context.Context) (map[string]any, error)) (map[string]any, error) {
	wait := e.cfg.CheckBackoff
	for attempt := 1; ; attempt++ {
		c, cancel := context.WithTimeout(ctx, e.cfg.CheckTimeout)
		v, err := f(c)
		cancel()
		if err == nil {
			return v, nil
		}
		k := executor.KindOf(err)
		switch k {
		case executor.KindNotFound, executor.KindRejected, executor.KindAuth, executor.KindBanned:
			return nil, err
		}
		if attempt >= e.cfg.CheckAttempts || ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %d attempts: %w", what, attempt, err)
		}
		var xe *executor.Error
		if k == executor.KindRateLimited && errors.As(err, &xe) && xe.RetryAfter > wait {
			return nil, err
		}
		e.log.Warn("exchange read failed; retrying", "op", what, "attempt", attempt, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait *= 2
	}
}
