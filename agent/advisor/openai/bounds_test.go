package openai

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/schemas"
)

// completion wraps content in a chat completion as the API sends it.
func completion(content string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-x", "object": "chat.completion", "created": 1727346143, "model": "gpt-4o-2024-08-06",
		"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content, "refusal": nil}, "logprobs": nil, "finish_reason": "stop"}},
		"usage":   map[string]any{"prompt_tokens": 79, "completion_tokens": 14, "total_tokens": 93},
	})
	return b
}

// TestOversizeAnswer: an answer over the parse cap is rejected after one
// call, without a repair turn, and what is recorded of it is bounded. One
// byte under the cap is an ordinary schema failure and gets its repair,
// which quotes only an excerpt.
func TestOversizeAnswer(t *testing.T) {
	t.Run("5 MB", func(t *testing.T) {
		body := completion(strings.Repeat("x", 5<<20))
		srv := newServer(t, step{status: 200, body: body})
		a, _ := newAdvisor(t, srv, nil)
		rep, err := a.Advise(context.Background(), request())
		if advisor.KindOf(err) != advisor.KindBadResponse || !strings.Contains(err.Error(), "without a repair turn") {
			t.Fatalf("Advise = %v; want bad_response without a repair turn", err)
		}
		if srv.count() != 1 || len(rep.Calls) != 1 || rep.Repairs != 0 || rep.Raw != nil {
			t.Fatalf("server saw %d requests, %d calls, %d repairs; want 1, 1, 0", srv.count(), len(rep.Calls), rep.Repairs)
		}
		rec := rep.Calls[0].ResponseBody
		if len(rec) > RecordedPrefix+200 {
			t.Errorf("recorded %d bytes of a %d-byte body; want at most %d", len(rec), len(body), RecordedPrefix+200)
		}
		if !bytes.HasPrefix(body, rec[:RecordedPrefix]) || !bytes.Contains(rec, fmt.Appendf(nil, "sha256 %x", sha256.Sum256(body))) || !bytes.Contains(rec, fmt.Appendf(nil, "%d bytes", len(body))) {
			t.Errorf("recorded body does not hold the prefix, length and sha256: %q", rec[RecordedPrefix:])
		}
	})
	for _, n := range []int{schemas.MaxResponseBytes, schemas.MaxResponseBytes + 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			srv := newServer(t, step{status: 200, body: completion(`"` + strings.Repeat("x", n-2) + `"`)}, ok(t, "good.json"))
			a, _ := newAdvisor(t, srv, nil)
			rep, err := a.Advise(context.Background(), request())
			if n > schemas.MaxResponseBytes {
				if advisor.KindOf(err) != advisor.KindBadResponse || srv.count() != 1 {
					t.Fatalf("Advise of %d bytes = %v after %d requests; want bad_response after 1", n, err, srv.count())
				}
				return
			}
			if err != nil || rep.Repairs != 1 || srv.count() != 2 {
				t.Fatalf("Advise of %d bytes = %v, %d repairs, %d requests; want repaired", n, err, rep.Repairs, srv.count())
			}
			if len(rep.Calls[0].ResponseBody) != len(completion(`"`+strings.Repeat("x", n-2)+`"`)) {
				t.Errorf("a body under MaxRecordedBody must be recorded whole")
			}
			msgs := srv.request(t, 1)["messages"].([]any)
			quoted := msgs[2].(map[string]any)["content"].(string)
			if len(quoted) > RepairExcerptBytes+64 || !strings.Contains(quoted, "more bytes not repeated") {
				t.Errorf("repair turn quotes %d bytes of a %d-byte answer; want at most %d and a mark", len(quoted), n, RepairExcerptBytes+64)
			}
			if len(srv.requests[1]) > 64<<10 {
				t.Errorf("repair request is %d bytes; want it bounded", len(srv.requests[1]))
			}
		})
	}
	t.Run("body over the read cap", func(t *testing.T) {
		srv := newServer(t, step{status: 200, body: bytes.Repeat([]byte(" "), maxBody+10)})
		a, _ := newAdvisor(t, srv, nil)
		rep, err := a.Advise(context.Background(), request())
		if advisor.KindOf(err) != advisor.KindBadResponse || srv.count() != 1 {
			t.Fatalf("Advise = %v after %d requests; want bad_response, no retry", err, srv.count())
		}
		if len(rep.Calls[0].ResponseBody) > RecordedPrefix+200 {
			t.Errorf("recorded %d bytes", len(rep.Calls[0].ResponseBody))
		}
	})
}

func TestExcerpt(t *testing.T) {
	s := strings.Repeat("é", 10) // 2 bytes each
	if got := excerpt(s, 20); got != s {
		t.Errorf("excerpt at the limit = %q; want it whole", got)
	}
	got := excerpt(s, 19)
	if !utf8.ValidString(got) || !strings.HasPrefix(got, strings.Repeat("é", 9)+"\n[… 2 more bytes") {
		t.Errorf("excerpt one byte short = %q; want 9 runes and a mark", got)
	}
}

// TestOneDeadline: retries and repairs share the Advise deadline; a slow
// model costs the deadline, not attempts × timeout.
func TestOneDeadline(t *testing.T) {
	t.Run("slow model, retries", func(t *testing.T) {
		srv := newServer(t, step{status: 200, body: fixture(t, "good.json"), delay: 5 * time.Second})
		a, _ := newAdvisor(t, srv, func(c *Config, d *Deps) {
			c.Timeout, c.MaxRetries, c.Deadline, c.BackoffBase = time.Second, 3, 1500*time.Millisecond, 10*time.Millisecond
			d.Sleep = nil // real waits
		})
		start := time.Now()
		rep, err := a.Advise(context.Background(), request())
		el := time.Since(start)
		if advisor.KindOf(err) != advisor.KindTransport || !strings.Contains(err.Error(), "deadline of 1.5s") {
			t.Fatalf("Advise = %v; want transport, the deadline named", err)
		}
		if el < 1400*time.Millisecond || el > 2500*time.Millisecond {
			t.Errorf("Advise took %s; want about the 1.5s deadline (4 attempts × 1s timeout would be 4s)", el)
		}
		if len(rep.Calls) != 2 {
			t.Errorf("%d calls; want 2 (a 1s attempt, then one cut by the deadline)", len(rep.Calls))
		}
	})
	t.Run("repair shares it", func(t *testing.T) {
		srv := newServer(t, step{status: 200, body: fixture(t, "malformed.json"), delay: 700 * time.Millisecond}, step{status: 200, body: fixture(t, "good.json"), delay: 5 * time.Second})
		a, _ := newAdvisor(t, srv, func(c *Config, d *Deps) {
			c.Timeout, c.Deadline = 10*time.Second, time.Second
		})
		start := time.Now()
		rep, err := a.Advise(context.Background(), request())
		if el := time.Since(start); advisor.KindOf(err) != advisor.KindTransport || el > 2*time.Second || len(rep.Calls) != 2 || rep.Calls[1].Purpose != "repair" {
			t.Fatalf("Advise = %v after %s, %d calls; want the deadline to cut the repair at 1s", err, el, len(rep.Calls))
		}
	})
	t.Run("no wait past the deadline", func(t *testing.T) {
		srv := newServer(t, step{status: 429, body: fixture(t, "429_rate_limit_exceeded_tpm.json"), header: map[string]string{"Retry-After": "30"}})
		a, sl := newAdvisor(t, srv, func(c *Config, _ *Deps) { c.Deadline = 10 * time.Second })
		_, err := a.Advise(context.Background(), request())
		if advisor.KindOf(err) != advisor.KindRateLimited || len(sl.delays) != 0 || !strings.Contains(err.Error(), "after the deadline") {
			t.Errorf("Advise = %v after %d waits; want rate_limited at once, no 30s wait beyond a 10s deadline", err, len(sl.delays))
		}
	})
	t.Run("caller cancel is not the deadline", func(t *testing.T) {
		srv := newServer(t, step{status: 200, body: fixture(t, "good.json"), delay: 5 * time.Second})
		a, _ := newAdvisor(t, srv, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := a.Advise(ctx, request()); advisor.KindOf(err) != advisor.KindCanceled {
			t.Errorf("Advise = %v; want canceled", err)
		}
	})
}

// TestMaxTokensFromSchema: with no max_tokens configured, the one sent is
// the schema's largest answer over CharsPerToken, and the largest legitimate
// answer fits in MaxAnswerChars.
func TestMaxTokensFromSchema(t *testing.T) {
	chars, err := MaxAnswerChars()
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := MaxAnswerTokens()
	if tokens != (chars+CharsPerToken-1)/CharsPerToken || tokens <= 2000 {
		t.Fatalf("MaxAnswerTokens = %d for %d chars; want ceil(chars/%d), above the old 2000", tokens, chars, CharsPerToken)
	}
	// The largest answer the schema accepts, pretty-printed.
	type rec struct {
		Symbol     string   `json:"symbol"`
		Action     string   `json:"action"`
		Confidence float64  `json:"confidence"`
		SizePct    float64  `json:"size_pct"`
		OrderType  string   `json:"order_type"`
		LimitPrice *float64 `json:"limit_price"`
		StopLoss   *float64 `json:"stop_loss"`
		TakeProfit *float64 `json:"take_profit"`
		Reason     string   `json:"reason"`
	}
	price := 123456789.12345678
	var recs []rec
	for i := 0; i < 20; i++ {
		recs = append(recs, rec{fmt.Sprintf("%s/%s", strings.Repeat("A", 20), strings.Repeat("B", 20)), "hold", 0.123456789, 99.12345678, "market", &price, &price, &price, strings.Repeat("r", 1000)})
	}
	big, _ := json.MarshalIndent(map[string]any{"rationale": strings.Repeat("w", 8000), "recommendations": recs}, "", "    ")
	if _, err := schemas.ParseResponse(big); err != nil {
		t.Fatalf("the largest answer does not parse: %v", err)
	}
	if n := utf8.RuneCount(big); n > chars {
		t.Errorf("the largest legitimate answer has %d characters; MaxAnswerChars is %d", n, chars)
	}

	for _, tc := range []struct {
		cfg  int
		want any
	}{{0, float64(tokens)}, {3000, float64(3000)}, {-1, nil}} {
		srv := newServer(t, ok(t, "good.json"))
		a, _ := newAdvisor(t, srv, func(c *Config, _ *Deps) { c.MaxTokens = tc.cfg })
		if _, err := a.Advise(context.Background(), request()); err != nil {
			t.Fatal(err)
		}
		if got := srv.request(t, 0)["max_tokens"]; got != tc.want {
			t.Errorf("MaxTokens %d: max_tokens on the wire = %v; want %v", tc.cfg, got, tc.want)
		}
	}
}
