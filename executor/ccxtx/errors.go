package ccxtx

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	ccxt "github.com/ccxt/ccxt/go/v4"

	"github.com/warden-trading/warden/executor"
)

// kindByType classifies ccxt's error types (its exception hierarchy, by
// name). Anything not listed is KindUnknown: for a write, an unknown
// outcome to resolve by client order id.
var kindByType = map[string]executor.Kind{
	// refusals: nothing was placed
	"InsufficientFunds":        executor.KindRejected,
	"InvalidOrder":             executor.KindRejected,
	"BadSymbol":                executor.KindRejected,
	"OrderImmediatelyFillable": executor.KindRejected,
	"OrderNotFillable":         executor.KindRejected,
	"DuplicateOrderId":         executor.KindRejected,
	"BadRequest":               executor.KindRejected,
	"ArgumentsRequired":        executor.KindRejected,
	"MarketClosed":             executor.KindRejected,
	"OperationRejected":        executor.KindRejected,
	"NotSupported":             executor.KindRejected,
	"ContractUnavailable":      executor.KindRejected,
	"NoChange":                 executor.KindRejected,
	// lookups
	"OrderNotFound":  executor.KindNotFound,
	"OrderNotCached": executor.KindNotFound,
	// throttling
	"RateLimitExceeded": executor.KindRateLimited,
	"DDoSProtection":    executor.KindRateLimited, // 418 is told apart below
	// keys
	"AuthenticationError": executor.KindAuth,
	"PermissionDenied":    executor.KindAuth,
	"AccountSuspended":    executor.KindAuth,
	"AccountNotEnabled":   executor.KindAuth,
	"RestrictedLocation":  executor.KindAuth,
	// clock
	"InvalidNonce": executor.KindTimestamp,
	// transport: outcome unknown
	"NetworkError":         executor.KindNetwork,
	"RequestTimeout":       executor.KindNetwork,
	"ExchangeNotAvailable": executor.KindUnavailable,
	"OnMaintenance":        executor.KindUnavailable,
}

// kindByBinanceCode classifies Binance's own error codes, which decide over
// ccxt's type: ccxt picks its spot exception table by the request URL's
// host, so the same code can come out as different types.
var kindByBinanceCode = map[string]executor.Kind{
	"-1000": executor.KindUnavailable, // UNKNOWN error while processing
	"-1001": executor.KindUnavailable, // internal error, disconnected
	"-1003": executor.KindRateLimited, // too much request weight (418: banned, see below)
	"-1007": executor.KindUnavailable, // timeout waiting for backend: execution status unknown
	"-1008": executor.KindUnavailable, // server busy
	"-1013": executor.KindRejected,    // filter failure
	"-1016": executor.KindUnavailable, // service no longer available (system maintenance)
	"-1015": executor.KindRateLimited, // too many new orders
	"-1021": executor.KindTimestamp,   // timestamp outside recvWindow / ahead
	"-1022": executor.KindAuth,        // bad signature
	"-1100": executor.KindRejected,
	"-1101": executor.KindRejected,
	"-1102": executor.KindRejected,
	"-1111": executor.KindRejected, // precision over the maximum
	"-1116": executor.KindRejected,
	"-1121": executor.KindRejected, // invalid symbol
	"-2010": executor.KindRejected, // new order rejected (balance, duplicate id, would take...)
	"-2011": executor.KindNotFound, // cancel: unknown order
	"-2013": executor.KindNotFound, // no such order
	"-2014": executor.KindAuth,
	"-2015": executor.KindAuth,
}

// binanceCodeByMessage recovers the code of the Binance messages ccxt
// matches by text, where its error keeps the message but not the body.
var binanceCodeByMessage = map[string]string{
	"Account has insufficient balance for requested action.": "-2010",
	"Order would immediately match and take.":                "-2010",
	"Order would trigger immediately.":                       "-2010",
}

var (
	binanceCodeRe = regexp.MustCompile(`"code"\s*:\s*(-?\d+)`)
	bannedUntilRe = regexp.MustCompile(`banned until (\d{13})`)
	httpStatusRe  = regexp.MustCompile(`^\S+ (418|429) `)
)

// mapError turns an error from a ccxt call into an *executor.Error whose
// message is redacted.
func (e *Exchange) mapError(op string, err error) error {
	var xe *executor.Error
	if errors.As(err, &xe) { // ours (a recovered panic, a local check): already redacted
		return xe
	}
	typ, msg := "", err.Error()
	var ce *ccxt.Error
	if errors.As(err, &ce) {
		typ, msg = string(ce.Type), ce.Message
	}
	msg = e.redact(msg)
	out := &executor.Error{Kind: executor.KindUnknown, Msg: op + ": " + msg}
	if typ != "" {
		out.Msg = op + ": " + typ + ": " + msg
	}
	if k, ok := kindByType[typ]; ok {
		out.Kind = k
	}
	if m := binanceCodeRe.FindStringSubmatch(msg); m != nil {
		out.Code = m[1]
		if k, ok := kindByBinanceCode[m[1]]; ok {
			out.Kind = k
		}
	}
	if out.Code == "" {
		// ccxt matched Binance's message before its code and dropped the body
		for text, code := range binanceCodeByMessage {
			if strings.Contains(msg, text) {
				out.Code = code
			}
		}
	}
	status := ""
	if m := httpStatusRe.FindStringSubmatch(msg); m != nil {
		status = m[1]
	}
	if status == "418" || bannedUntilRe.MatchString(msg) {
		out.Kind = executor.KindBanned
	} else if status == "429" {
		out.Kind = executor.KindRateLimited
	}
	if out.Kind == executor.KindRateLimited || out.Kind == executor.KindBanned {
		out.RetryAfter = e.retryAfter(msg, out.Kind)
	}
	return out
}

// retryAfter says how long to back off: the ban's end when Binance names
// it, else the Retry-After header of the last response (ccxt keeps only the
// last response's headers, so under concurrent calls this is a best
// effort), else a default of 1 s for a rate limit and 1 min for a ban.
func (e *Exchange) retryAfter(msg string, kind executor.Kind) time.Duration {
	if m := bannedUntilRe.FindStringSubmatch(msg); m != nil {
		if until, err := strconv.ParseInt(m[1], 10, 64); err == nil {
			if d := time.UnixMilli(until).Sub(e.clock()); d > 0 {
				return d.Round(time.Second) + time.Second
			}
		}
	}
	if d, ok := e.lastRetryAfter(); ok {
		return d
	}
	if kind == executor.KindBanned {
		return time.Minute
	}
	return time.Second
}

func (e *Exchange) lastRetryAfter() (d time.Duration, ok bool) {
	defer func() {
		if recover() != nil { // ccxt asserts the header map's type; nil before any response
			d, ok = 0, false
		}
	}()
	h := e.ex.GetLastResponseHeaders()
	for k, v := range h {
		if !strings.EqualFold(k, "Retry-After") {
			continue
		}
		s, _ := v.(string)
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n >= 0 {
			return time.Duration(n) * time.Second, true
		}
	}
	return 0, false
}

// rejected builds a local refusal: the order was not sent.
func rejected(op, format string, args ...any) error {
	return &executor.Error{Kind: executor.KindRejected, Msg: op + ": not sent: " + fmt.Sprintf(format, args...)}
}
