package advisor_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/prompts"
)

type memCache struct {
	m       map[string][]byte
	readErr error
	puts    int
}

var _ advisor.Cache = (*memCache)(nil)

func (c *memCache) CachedResponse(_ context.Context, key string) ([]byte, bool, error) {
	if c.readErr != nil {
		return nil, false, c.readErr
	}
	b, ok := c.m[key]
	return b, ok, nil
}

func (c *memCache) PutCachedResponse(_ context.Context, key, model string, body []byte) error {
	c.puts++
	c.m[key] = append([]byte(nil), body...)
	return nil
}

type countingAdvisor struct {
	calls int
	raw   string
	err   error
}

var _ advisor.Advisor = (*countingAdvisor)(nil)

func (a *countingAdvisor) Name() string { return "fake" }
func (a *countingAdvisor) Advise(context.Context, advisor.Request) (advisor.Reply, error) {
	a.calls++
	if a.err != nil {
		return advisor.Reply{Advisor: "fake"}, a.err
	}
	return advisor.Reply{Raw: []byte(a.raw), Advisor: "fake", Model: "m1", Calls: []advisor.Call{{Attempt: 1, TotalTokens: 10}}}, nil
}

func TestCached(t *testing.T) {
	ctx := context.Background()
	inner := &countingAdvisor{raw: `{"x":1}`}
	cache := &memCache{m: map[string][]byte{}}
	c := advisor.Cached(inner, cache, "m1")
	req := advisor.Request{Prompt: prompts.Rendered{System: "sys", User: "user"}}

	first, err := c.Advise(ctx, req)
	if err != nil || string(first.Raw) != `{"x":1}` || first.Cached || inner.calls != 1 || cache.puts != 1 {
		t.Fatalf("first Advise = %q cached=%v err=%v calls=%d puts=%d", first.Raw, first.Cached, err, inner.calls, cache.puts)
	}
	second, err := c.Advise(ctx, req)
	if err != nil || string(second.Raw) != `{"x":1}` || !second.Cached || inner.calls != 1 || len(second.Calls) != 0 {
		t.Fatalf("second Advise = %q cached=%v err=%v calls=%d; want a cache hit without a call", second.Raw, second.Cached, err, inner.calls)
	}
	// A different prompt or model is a miss.
	req2 := req
	req2.Prompt.User = "user2"
	if _, err := c.Advise(ctx, req2); err != nil || inner.calls != 2 {
		t.Errorf("other prompt: calls=%d err=%v; want a miss", inner.calls, err)
	}
	if _, err := advisor.Cached(inner, cache, "m2").Advise(ctx, req); err != nil || inner.calls != 3 {
		t.Errorf("other model: calls=%d err=%v; want a miss", inner.calls, err)
	}
	// Errors are not cached.
	failing := &countingAdvisor{err: &advisor.Error{Kind: advisor.KindRefusal, Advisor: "fake", Msg: "no"}}
	fc := advisor.Cached(failing, cache, "m3")
	for i := 0; i < 2; i++ {
		if _, err := fc.Advise(ctx, req); advisor.KindOf(err) != advisor.KindRefusal {
			t.Fatalf("failing Advise = %v", err)
		}
	}
	if failing.calls != 2 {
		t.Errorf("failing inner called %d times; want 2 (errors never cached)", failing.calls)
	}
	// A broken cache fails closed: no call.
	broken := &memCache{m: map[string][]byte{}, readErr: errors.New("db locked")}
	inner.calls = 0
	if _, err := advisor.Cached(inner, broken, "m1").Advise(ctx, req); err == nil || inner.calls != 0 {
		t.Errorf("broken cache: err=%v calls=%d; want error and no call", err, inner.calls)
	}
}

func TestCacheKey(t *testing.T) {
	p := prompts.Rendered{System: "ab", User: "c"}
	q := prompts.Rendered{System: "a", User: "bc"}
	if advisor.CacheKey("m", p) == advisor.CacheKey("m", q) {
		t.Errorf("CacheKey collides for shifted boundaries")
	}
	if advisor.CacheKey("m", p) != advisor.CacheKey("m", p) || len(advisor.CacheKey("m", p)) != 64 {
		t.Errorf("CacheKey not a stable sha256 hex")
	}
	if advisor.CacheKey("m", p) == advisor.CacheKey("n", p) {
		t.Errorf("CacheKey ignores the model")
	}
	p2 := p
	p2.SystemHash = "different"
	if advisor.CacheKey("m", p) != advisor.CacheKey("m", p2) {
		t.Errorf("CacheKey depends on more than model and prompt text")
	}
}

func TestKindOf(t *testing.T) {
	err := &advisor.Error{Kind: advisor.KindTruncated, Advisor: "openai", Msg: "cut"}
	wrapped := errors.Join(errors.New("ctx"), err)
	if advisor.KindOf(wrapped) != advisor.KindTruncated || advisor.KindOf(errors.New("x")) != "" {
		t.Errorf("KindOf: %q %q", advisor.KindOf(wrapped), advisor.KindOf(errors.New("x")))
	}
}

func TestCallJSON(t *testing.T) {
	c := advisor.Call{Attempt: 2, Purpose: "retry", RequestJSON: []byte(`{"model":"m"}`), ResponseBody: []byte("<html>"), HTTPStatus: 502}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["request_json"] != `{"model":"m"}` || m["response_body"] != "<html>" || m["attempt"] != float64(2) || m["http_status"] != float64(502) {
		t.Errorf("json.Marshal(Call) = %s", b)
	}
}
