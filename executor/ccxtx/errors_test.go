package ccxtx

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	ccxt "github.com/ccxt/ccxt/go/v4"

	"github.com/warden-trading/warden/executor"
)

func TestMapError(t *testing.T) {
	now := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	ex, err := New(Config{Exchange: "binance", Credentials: NewCredentials(canaryKey, canarySecret), Clock: func() time.Time { return now }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	until := now.Add(90 * time.Second).UnixMilli()
	for _, tc := range []struct {
		name       string
		err        error
		kind       executor.Kind
		code       string
		retryAfter time.Duration
	}{
		{"nonce", ccxt.NewError("InvalidNonce", `binance {"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}`), executor.KindTimestamp, "-1021", 0},
		{"-1021 typed as BadRequest (portfolio table)", ccxt.NewError("BadRequest", `binance {"code":-1021,"msg":"x"}`), executor.KindTimestamp, "-1021", 0},
		{"-1007 backend timeout", ccxt.NewError("RequestTimeout", `binance {"code":-1007,"msg":"Timeout waiting for response from backend server."}`), executor.KindUnavailable, "-1007", 0},
		{"-1007 typed BadResponse (portfolio table)", ccxt.NewError("BadResponse", `binance {"code":-1007,"msg":"x"}`), executor.KindUnavailable, "-1007", 0},
		{"client timeout", ccxt.NewError("RequestTimeout", "Connection to binance timed out"), executor.KindNetwork, "", 0},
		{"transport", ccxt.NewError("NetworkError", `Network error: Get "http://h/api/v3/account?timestamp=1&signature=abcdef0123456789": EOF`), executor.KindNetwork, "", 0},
		{"5xx", ccxt.NewError("ExchangeNotAvailable", "binance GET https://api.binance.com/api/v3/order?signature=00ff00ff00ff00ff 502 Bad Gateway"), executor.KindUnavailable, "", 0},
		{"maintenance", ccxt.NewError("OnMaintenance", "binance System is under maintenance."), executor.KindUnavailable, "", 0},
		{"ban", ccxt.NewError("DDoSProtection", fmt.Sprintf(`binance 418 I'm a teapot {"code":-1003,"msg":"Way too much request weight used; IP banned until %d."}`, until)), executor.KindBanned, "-1003", 91 * time.Second},
		{"429", ccxt.NewError("DDoSProtection", `binance 429 Too Many Requests {"code":-1003,"msg":"Too much request weight used"}`), executor.KindRateLimited, "-1003", time.Second},
		{"too many orders", ccxt.NewError("RateLimitExceeded", `binance {"code":-1015,"msg":"Too many new orders"}`), executor.KindRateLimited, "-1015", time.Second},
		{"bad key", ccxt.NewError("AuthenticationError", `binance {"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}`), executor.KindAuth, "-2015", 0},
		{"permission", ccxt.NewError("PermissionDenied", "binance This account may not place or cancel orders."), executor.KindAuth, "", 0},
		{"no such order", ccxt.NewError("OrderNotFound", `binance {"code":-2013,"msg":"Order does not exist."}`), executor.KindNotFound, "-2013", 0},
		{"duplicate", ccxt.NewError("InvalidOrder", `binance {"code":-2010,"msg":"Duplicate order sent."}`), executor.KindRejected, "-2010", 0},
		{"insufficient by message", ccxt.NewError("InsufficientFunds", "binance Account has insufficient balance for requested action."), executor.KindRejected, "-2010", 0},
		{"filter", ccxt.NewError("InvalidOrder", `binance order amount should be evenly divisible by lot size {"code":-1013,"msg":"Filter failure: LOT_SIZE"}`), executor.KindRejected, "-1013", 0},
		{"duplicate id type", ccxt.NewError("DuplicateOrderId", "x"), executor.KindRejected, "", 0},
		{"bad symbol", ccxt.NewError("BadSymbol", "binance does not have market symbol FOO/BAR"), executor.KindRejected, "", 0},
		{"immediately fillable", ccxt.NewError("OrderImmediatelyFillable", "x"), executor.KindRejected, "", 0},
		{"unclassified code", ccxt.NewError("ExchangeError", `binance {"code":-9999,"msg":"?"}`), executor.KindUnknown, "-9999", 0},
		{"bad response", ccxt.NewError("BadResponse", "binance returned garbage"), executor.KindUnknown, "", 0},
		{"plain error", errors.New("something " + canarySecret), executor.KindUnknown, "", 0},
		{"ours passes through", &executor.Error{Kind: executor.KindRejected, Msg: "local"}, executor.KindRejected, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ex.mapError("op", tc.err)
			var xe *executor.Error
			if !errors.As(got, &xe) {
				t.Fatalf("mapError(%v) = %T; want *executor.Error", tc.err, got)
			}
			if xe.Kind != tc.kind || xe.Code != tc.code {
				t.Errorf("mapError(%q) = kind %v code %q; want %v %q", tc.err, xe.Kind, xe.Code, tc.kind, tc.code)
			}
			if tc.retryAfter > 0 && (xe.RetryAfter < tc.retryAfter-time.Second || xe.RetryAfter > tc.retryAfter+time.Second) {
				t.Errorf("mapError(%q).RetryAfter = %v; want about %v", tc.err, xe.RetryAfter, tc.retryAfter)
			}
			assertNoCanary(t, "mapped error", got.Error())
			assertNoSignature(t, "mapped error", got.Error())
			if strings.Contains(tc.err.Error(), "signature=") && !strings.Contains(got.Error(), "signature="+Redacted) {
				t.Errorf("mapError(%q) = %q; want the signature redacted", tc.err, got)
			}
		})
	}
}

func TestCallRecoversPanics(t *testing.T) {
	ex, err := New(Config{Exchange: "binance"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = call(tctx(t), ex, "boom", func() (int, error) { panic("ccxt went " + canarySecret) })
	if executor.KindOf(err) != executor.KindUnknown || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("call(panicking) = %v; want an unknown-kind error saying it panicked", err)
	}
}
