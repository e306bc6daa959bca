package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// openAIRequest is a request body as the OpenAI client sends it: the
// system message and the response format repeat at every call, the user
// message changes.
func openAIRequest(system, user string) string {
	schema := map[string]any{"type": "object", "properties": map[string]any{"analysis": map[string]string{"type": "string", "description": strings.Repeat("the analysis ", 60)}}}
	b, _ := json.Marshal(map[string]any{
		"model":           "gpt-4o-mini",
		"messages":        []map[string]string{{"role": "system", "content": system}, {"role": "user", "content": user}},
		"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "warden", "strict": true, "schema": schema}},
		"max_tokens":      900,
	})
	return string(b)
}

var systemText = "You are the market analyst of Warden <rules> & \"quotes\"\n" + strings.Repeat("- Policy: a buy's stop_loss is at most 10% below its limit price.\n", 60)

// TestPromptStoredOnce: two calls sharing their system message and response
// format store each once; each call reads back byte for byte; the
// record holds the user message and the blob hashes, not the static text.
func TestPromptStoredOnce(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, Options{})
	reqs := []string{
		openAIRequest(systemText, "market data at 10:00 BTC/USDT 50000"),
		openAIRequest(systemText, "market data at 11:00 BTC/USDT 50100 and a \u2028 line separator"),
		openAIRequest(systemText+"changed", "market data at 12:00"),
	}
	for i, r := range reqs {
		if err := s.RecordLLMCall(ctx, LLMCall{RunID: "r" + string(rune('1'+i)), Attempt: 1, Advisor: "openai", Model: "gpt-4o-mini", Request: r, Response: `{"choices":[]}`, Status: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range reqs {
		st, err := s.Show(ctx, "r"+string(rune('1'+i)))
		if err != nil {
			t.Fatal(err)
		}
		if len(st.LLMCalls) != 1 || st.LLMCalls[0].Request != r {
			t.Fatalf("call %d read back:\n%.300s\nwant:\n%.300s", i, st.LLMCalls[0].Request, r)
		}
		if st.LLMCalls[0].RequestParts != nil {
			t.Errorf("call %d read back with its parts; want them joined", i)
		}
	}
	db := rawDB(t, path)
	var blobs int
	if err := db.QueryRow(`SELECT COUNT(*) FROM blobs`).Scan(&blobs); err != nil {
		t.Fatal(err)
	}
	if blobs != 3 { // system, response format, changed system
		t.Errorf("%d blobs; want 3 (two system texts, one response format)", blobs)
	}
	rows, err := db.Query(`SELECT body FROM records WHERE kind = 'llm_call' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var body []byte
		rows.Scan(&body)
		if bytes.Contains(body, []byte("Policy: a buy")) || bytes.Contains(body, []byte("the analysis the analysis")) {
			t.Errorf("a call record still holds the static text (%d bytes)", len(body))
		}
		if len(body) > 1500 {
			t.Errorf("call record of %d bytes; want the user part and references only", len(body))
		}
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
}

// TestVerifyCoversBlobs: a blob edited or deleted behind Warden's back
// breaks the chain at the first call that refers to it.
func TestVerifyCoversBlobs(t *testing.T) {
	for _, tc := range []struct {
		name, problem string
		sql           []string
	}{
		{"edited", "edited", []string{`DROP TRIGGER blobs_no_update`, `UPDATE blobs SET codec = '', body = CAST('"You are free to trade anything"' AS BLOB)`}},
		{"corrupted", "edited", []string{`DROP TRIGGER blobs_no_update`, `UPDATE blobs SET codec = 'deflate', body = x'ffff00'`}},
		{"deleted", "deleted", []string{`DROP TRIGGER blobs_no_delete`, `DELETE FROM blobs`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, path := openTest(t, Options{})
			s.SetKillSwitch(ctx, false, "test", "start")
			for _, run := range []string{"r1", "r2"} {
				if err := s.RecordLLMCall(ctx, LLMCall{RunID: run, Attempt: 1, Request: openAIRequest(systemText, "user "+run)}); err != nil {
					t.Fatal(err)
				}
			}
			db := rawDB(t, path)
			for _, q := range tc.sql {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			rep, err := s.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.Broken == nil || rep.Broken.Table != "blobs" || rep.Broken.Problem != tc.problem || rep.Broken.Seq != 2 || rep.Broken.Ref != "r1" {
				t.Fatalf("Verify = %+v %+v; want blobs %s at seq 2 (r1)", rep, rep.Broken, tc.problem)
			}
			if _, err := s.Show(ctx, "r1"); err == nil {
				t.Errorf("Show(r1) with a bad blob: error = nil")
			}
		})
	}
}

// TestBlobRedacted: a secret inside the static text is redacted in the
// blob, and the request still reads back whole (redacted).
func TestBlobRedacted(t *testing.T) {
	ctx := context.Background()
	const secret = "sk-CANARY-0123456789abcdef"
	s, path := openTest(t, Options{Secrets: []string{secret}})
	req := openAIRequest(systemText+" key "+secret, "user")
	if err := s.RecordLLMCall(ctx, LLMCall{RunID: "r1", Attempt: 1, Request: req}); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM blobs WHERE CAST(body AS TEXT) LIKE '%' || ? || '%'`, secret).Scan(&n)
	if n != 0 {
		t.Fatalf("the secret is in a blob")
	}
	st, err := s.Show(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(req, secret, Redacted); st.LLMCalls[0].Request != want {
		t.Errorf("request read back:\n%.200s\nwant the redacted request", st.LLMCalls[0].Request)
	}
}

// TestCachedResponsesStoredOnce: keys with the same long body share one
// blob; short bodies stay inline; both read back as put.
func TestCachedResponsesStoredOnce(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, Options{})
	long := `{"choices":[{"message":{"content":"` + strings.Repeat("hold ", 200) + `"}}]}`
	for _, k := range []string{"k1", "k2", "k3"} {
		if err := s.PutCachedResponse(ctx, k, "m", []byte(long)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutCachedResponse(ctx, "short", "m", []byte("tiny")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k1", "k2", "k3"} {
		if b, ok, err := s.CachedResponse(ctx, k); err != nil || !ok || string(b) != long {
			t.Fatalf("CachedResponse(%s) = %.40q, %v, %v", k, b, ok, err)
		}
	}
	if b, ok, err := s.CachedResponse(ctx, "short"); err != nil || !ok || string(b) != "tiny" {
		t.Fatalf("CachedResponse(short) = %q, %v, %v", b, ok, err)
	}
	db := rawDB(t, path)
	var blobs, inline int
	db.QueryRow(`SELECT COUNT(*) FROM blobs`).Scan(&blobs)
	db.QueryRow(`SELECT SUM(LENGTH(body)) FROM llm_cache`).Scan(&inline)
	if blobs != 1 || inline != 4 {
		t.Errorf("%d blobs and %d inline bytes; want 1 blob and the 4 bytes of the short body", blobs, inline)
	}
	// A second store (another process) shares the blob too.
	s2 := openAt(t, path, Options{})
	if err := s2.PutCachedResponse(ctx, "k4", "m", []byte(long)); err != nil {
		t.Fatal(err)
	}
	db.QueryRow(`SELECT COUNT(*) FROM blobs`).Scan(&blobs)
	if blobs != 1 {
		t.Errorf("%d blobs after another process put the same body; want 1", blobs)
	}
}
