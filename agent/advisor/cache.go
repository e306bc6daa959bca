package advisor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"

	"github.com/warden-trading/warden/prompts"
)

// Cache stores model responses by a hash of model and prompt (the audit
// store implements it), so a backtest rerun costs nothing.
type Cache interface {
	CachedResponse(ctx context.Context, key string) ([]byte, bool, error)
	PutCachedResponse(ctx context.Context, key, model string, body []byte) error
}

// CacheKey is the hex SHA-256 of model, system prompt and user prompt,
// each length-prefixed so no two different triples share a key.
func CacheKey(model string, p prompts.Rendered) string {
	h := sha256.New()
	for _, s := range [...]string{model, p.System, p.User} {
		var n [8]byte
		l := uint64(len(s))
		for i := range n {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CachedAdvisor answers from the cache when it can and otherwise asks the
// inner advisor and stores its successful reply. Errors are never cached.
type CachedAdvisor struct {
	inner Advisor
	cache Cache
	model string
	// Logger receives cache write failures (which do not fail the
	// reply); nil discards them.
	Logger *slog.Logger
}

var _ Advisor = (*CachedAdvisor)(nil)

// Cached wraps inner with cache, keyed by CacheKey(model, prompt).
func Cached(inner Advisor, cache Cache, model string) *CachedAdvisor {
	return &CachedAdvisor{inner: inner, cache: cache, model: model}
}

func (c *CachedAdvisor) Name() string { return c.inner.Name() }

// Advise returns the cached body for the request's prompt, or the inner
// advisor's reply. A cache read error fails closed (no call, no
// recommendation) so that a broken cache never silently spends tokens.
func (c *CachedAdvisor) Advise(ctx context.Context, req Request) (Reply, error) {
	key := CacheKey(c.model, req.Prompt)
	body, ok, err := c.cache.CachedResponse(ctx, key)
	if err != nil {
		return Reply{Advisor: c.inner.Name(), Model: c.model}, &Error{Kind: KindTransport, Advisor: c.inner.Name(), Msg: "response cache read failed", Err: err}
	}
	if ok {
		return Reply{Raw: body, Advisor: c.inner.Name(), Model: c.model, Cached: true}, nil
	}
	rep, err := c.inner.Advise(ctx, req)
	if err != nil {
		return rep, err
	}
	if perr := c.cache.PutCachedResponse(ctx, key, c.model, rep.Raw); perr != nil && c.Logger != nil {
		c.Logger.WarnContext(ctx, "advisor: response cache write failed", "key", key, "err", perr)
	}
	return rep, nil
}
