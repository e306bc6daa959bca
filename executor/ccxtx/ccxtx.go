// Package ccxtx is Warden's live exchange: an executor.Exchange over ccxt
// (github.com/ccxt/ccxt/go/v4), for any ccxt exchange id, Binance spot
// first-class. It is the only package of Warden that imports ccxt, so that
// nothing else pays ccxt's build cost.
//
// The adapter keeps ccxt's own rate limiter on, maps ccxt's errors to
// executor.Error kinds (a rejection, a not-found, a rate limit or ban with
// its Retry-After, a clock-skew refusal, an auth failure, or an outcome that
// is unknown), recovers ccxt's panics into errors, honours the caller's
// context even though ccxt's REST client waits a fixed 30 s (the ccxt call
// then finishes in the background and its result is dropped), and redacts
// keys and signatures from every error text built from ccxt's output.
//
// It also owns API-key safety: LoadCredentials reads keys from the
// environment or from an owner-only file, Credentials never print, and
// CheckKey refuses a key that can withdraw and warns when a key is due for
// rotation.
package ccxtx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ccxt "github.com/ccxt/ccxt/go/v4"

	"github.com/warden-trading/warden/executor"
)

// Config configures one exchange connection.
type Config struct {
	// Exchange is the ccxt exchange id, e.g. "binance".
	Exchange string
	// Credentials are the API key and secret, already loaded (see
	// LoadCredentials). Zero credentials allow public market data only.
	Credentials Credentials
	// BaseURL, when set, sends every request to this scheme://host[/prefix]
	// instead of the exchange's own hosts (tests point it at a fake
	// exchange). The path of each of the exchange's API URLs is kept.
	BaseURL string
	// Sandbox switches to the exchange's testnet URLs (ccxt's sandbox mode).
	Sandbox bool
	// Options are extra ccxt options, merged over the adapter's defaults.
	Options map[string]any
	// RateLimit overrides ccxt's minimum spacing between requests; zero
	// keeps the exchange's own. The limiter is always on.
	RateLimit time.Duration
	// AllowWithdrawalKeys lets CheckKey accept a key that can withdraw
	// (it still warns). Leave it false.
	AllowWithdrawalKeys bool
	// KeyCreated is when the API key was made, if known; CheckKey falls
	// back to the creation time the exchange reports.
	KeyCreated time.Time
	// KeyRotation is the key age after which CheckKey warns; default 90
	// days.
	KeyRotation time.Duration
	// Clock is the adapter's time source; default time.Now.
	Clock func() time.Time
	// CheckTimeout bounds each attempt of CheckKey's permission read
	// (default 10 s, like the executor's reads; ccxt itself waits 30 s);
	// CheckAttempts is how often it is tried on a transient fault
	// (default 3), CheckBackoff the first wait between tries, doubled each
	// time (default 500 ms).
	CheckTimeout  time.Duration
	CheckAttempts int
	CheckBackoff  time.Duration
	// Backoff, shared by every adapter on this machine's IP, holds each
	// request back while the exchange has asked for a pause (a 429's
	// Retry-After, a 418 ban) and learns of new pauses from the errors.
	// Nil holds nothing back.
	Backoff *executor.Backoff
}

// DefaultKeyRotation is the key age after which CheckKey warns.
const DefaultKeyRotation = 90 * 24 * time.Hour

// Exchange is an executor.Exchange over one ccxt exchange instance. It is
// safe for concurrent use.
type Exchange struct {
	id      string
	ex      ccxt.IExchange
	cfg     Config
	log     *slog.Logger
	clock   func() time.Time
	secrets []string

	mu      sync.Mutex
	markets map[string]executor.Market
	// marketsFailed: the last load failed, so the next one must force
	// ccxt to reload (ccxt keeps a failed load as "loaded").
	marketsFailed bool
	clientIDs     map[string]string // exchange order id -> our client order id
	// calls counts the ccxt calls sent (Requests).
	calls atomic.Int64
}

// Requests is how many exchange calls this adapter has sent (ccxt method
// calls: one HTTP request each, but the first load of the markets), for
// the requests-per-cycle metric.
func (e *Exchange) Requests() int64 { return e.calls.Load() }

var (
	_ executor.Exchange     = (*Exchange)(nil)
	_ executor.StatusReader = (*Exchange)(nil)
	_ executor.BookReader   = (*Exchange)(nil)
)

// New builds the adapter. It does not contact the exchange.
func New(cfg Config, logger *slog.Logger) (*Exchange, error) {
	id := strings.ToLower(strings.TrimSpace(cfg.Exchange))
	if id == "" {
		return nil, errors.New("ccxtx: no exchange id configured")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.KeyRotation <= 0 {
		cfg.KeyRotation = DefaultKeyRotation
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 10 * time.Second
	}
	if cfg.CheckAttempts <= 0 {
		cfg.CheckAttempts = 3
	}
	if cfg.CheckBackoff <= 0 {
		cfg.CheckBackoff = 500 * time.Millisecond
	}
	if cfg.RateLimit < 0 {
		return nil, fmt.Errorf("ccxtx: negative rate limit %v", cfg.RateLimit)
	}
	var base *url.URL
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("ccxtx: base URL %q: want http(s)://host[:port][/prefix]", cfg.BaseURL)
		}
		base = u
	}

	user := map[string]any{"enableRateLimit": true, "options": defaultOptions(id, cfg.Options)}
	if cfg.RateLimit > 0 {
		user["rateLimit"] = float64(cfg.RateLimit) / float64(time.Millisecond)
	}
	if !cfg.Credentials.IsZero() {
		user["apiKey"] = cfg.Credentials.apiKey
		user["secret"] = cfg.Credentials.secret
	}
	e := &Exchange{
		id:        id,
		cfg:       cfg,
		log:       logger.With("exchange", id),
		clock:     cfg.Clock,
		secrets:   cfg.Credentials.secretValues(),
		clientIDs: map[string]string{},
	}
	err := e.guard("create", func() error {
		e.ex = ccxt.CreateExchange(id, user)
		if e.ex == nil {
			return fmt.Errorf("ccxtx: unknown ccxt exchange id %q", id)
		}
		e.ex.SetEnableRateLimit(true)
		if cfg.Sandbox {
			e.ex.SetSandboxMode(true)
		}
		if base != nil {
			if err := rewriteAPIURLs(e.ex.GetUrls(), base); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// defaultOptions are the ccxt options Warden needs: spot markets only, no
// margin or currency side-fetches in LoadMarkets (they need extra key
// permissions and are not used), and open orders listable without a symbol
// (reconciliation needs it; Binance charges more weight for it).
func defaultOptions(id string, extra map[string]any) map[string]any {
	opts := map[string]any{}
	if id == "binance" {
		opts["defaultType"] = "spot"
		opts["fetchMarkets"] = map[string]any{"types": []any{"spot"}}
		opts["fetchMargins"] = false
		opts["fetchCurrencies"] = false
		opts["warnOnFetchOpenOrdersWithoutSymbol"] = false
	}
	for k, v := range extra {
		opts[k] = v
	}
	return opts
}

// rewriteAPIURLs points every URL string under urls["api"] at base,
// keeping each URL's path.
func rewriteAPIURLs(urls any, base *url.URL) error {
	m, ok := urls.(map[string]any)
	if !ok {
		return errors.New("ccxtx: exchange urls are not a map")
	}
	api, ok := m["api"]
	if !ok {
		return errors.New("ccxtx: exchange has no api urls")
	}
	rewrite := func(s string) (string, error) {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("ccxtx: exchange api url %q: %w", s, err)
		}
		u.Scheme, u.Host = base.Scheme, base.Host
		u.Path = strings.TrimSuffix(base.Path, "/") + u.Path
		return u.String(), nil
	}
	var walk func(v any) (any, error)
	walk = func(v any) (any, error) {
		switch x := v.(type) {
		case string:
			return rewrite(x)
		case map[string]any:
			for k, sub := range x {
				nv, err := walk(sub)
				if err != nil {
					return nil, err
				}
				x[k] = nv
			}
			return x, nil
		}
		return v, nil
	}
	nv, err := walk(api)
	if err != nil {
		return err
	}
	m["api"] = nv
	return nil
}

// Name is the ccxt exchange id.
func (e *Exchange) Name() string { return e.id }

// guard runs f and turns a panic into an error (ccxt panics on some bad
// inputs and in some methods).
func (e *Exchange) guard(op string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e.log.Debug("ccxt panic recovered", "op", op, "stack", e.redact(string(debug.Stack())))
			err = &executor.Error{Kind: executor.KindUnknown, Msg: op + ": ccxt panicked: " + e.redact(fmt.Sprint(r))}
		}
	}()
	return f()
}

// call runs one ccxt call in its own goroutine and waits for it or for ctx,
// whichever ends first. ccxt's REST client cannot be cancelled and waits up
// to 30 s: when ctx ends first the call goes on in the background, its
// result is dropped, and the caller gets a KindNetwork error (for a write,
// an unknown outcome).
func call[T any](ctx context.Context, e *Exchange, op string, f func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, &executor.Error{Kind: executor.KindNetwork, Msg: op + ": not sent: " + err.Error()}
	}
	if err := e.cfg.Backoff.Hold(op); err != nil {
		e.log.Debug("exchange call held back", "op", op, "err", err)
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	e.calls.Add(1)
	go func() {
		var r result
		r.err = e.guard(op, func() error {
			v, err := f()
			r.v = v
			return err
		})
		if r.err != nil {
			// Mapped and observed here, even when the caller has gone
			// (ctx ended first): a 418 that arrives late still starts the
			// pause the next request must respect.
			r.err = e.mapError(op, r.err)
			e.cfg.Backoff.Observe(r.err)
		}
		ch <- r
	}()
	select {
	case <-ctx.Done():
		e.log.Warn("exchange call abandoned", "op", op, "err", ctx.Err())
		return zero, &executor.Error{Kind: executor.KindNetwork, Msg: op + ": no reply before " + ctx.Err().Error() + "; the request may still complete"}
	case r := <-ch:
		if r.err != nil {
			e.log.Debug("exchange call failed", "op", op, "err", r.err)
			return zero, r.err
		}
		return r.v, nil
	}
}

func (e *Exchange) redact(s string) string { return Redact(s, e.secrets...) }
