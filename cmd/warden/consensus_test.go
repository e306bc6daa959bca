package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

// holdingModel is an OpenAI-compatible server answering every chat
// completion with the recorded good.json whose content holds both
// symbols.
func holdingModel(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(openaiFixtures, "good.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	hold := func(sym string) string {
		return `{"symbol":"` + sym + `","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"No edge."}`
	}
	doc["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"] = `{"rationale":"Nothing to do.","recommendations":[` + hold("BTC/USDT") + `,` + hold("ETH/USDT") + `]}`
	body, _ := json.Marshal(doc)
	calls := new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1", calls
}

// TestConsensusRunAndReview: warden run --once with a consensus of the
// baseline and a model (a fake OpenAI server) on the offline replay —
// where prompts are anonymised by default — then warden audit show and
// warden review read what it did: each member's call under its name, the
// model's prompt without dates, and the reliability figures priced.
func TestConsensusRunAndReview(t *testing.T) {
	t.Chdir(t.TempDir())
	url, calls := holdingModel(t)
	t.Setenv("WARDEN_TEST_OPENAI_KEY", "sk-test-consensus-0123456789abcdef")
	cfg := `advisor:
  kind: consensus
  openai:
    base_url: ` + url + `
    model: gpt-4o
    api_key_env: WARDEN_TEST_OPENAI_KEY
    max_retries: -1
    timeout: 10s
    price: {input_per_mtok: 2.5, output_per_mtok: 10}
  consensus:
    require: all
    members:
      - {kind: baseline}
      - {kind: openai, name: model}
`
	if err := os.WriteFile("warden.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"advisor: {kind: consensus, consensus: {members: [{kind: consensus}]}}\n",
		"advisor: {kind: consensus, consensus: {members: []}}\n",
		"advisor: {kind: consensus, consensus: {samples: 0, members: [{kind: baseline}]}}\n",
	} {
		os.WriteFile("bad.yaml", []byte(bad), 0o600)
		if code, _, errOut := runMain(t, "run", "--once", "--config", "bad.yaml"); code != exitUsage || !strings.Contains(errOut, "advisor.consensus") {
			t.Fatalf("%s: run --once = %d %q; want 2 naming advisor.consensus", bad, code, errOut)
		}
	}
	if _, err := os.Stat("warden.db"); err == nil {
		t.Fatal("a bad consensus config created the database")
	}
	if code, out, errOut := runMain(t, "config", "check", "warden.yaml"); code != 0 {
		t.Fatalf("config check = %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
	if code != exitOK {
		t.Fatalf("run --once = %d\n%s\n%s", code, out, errOut)
	}
	if calls.Load() != 1 {
		t.Fatalf("model calls = %d; want 1", calls.Load())
	}
	m := runIDRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no run id in:\n%s", out)
	}
	code, out, errOut = runMain(t, "audit", "show", m[1], "--json", "--db", "warden.db")
	if code != 0 {
		t.Fatalf("audit show = %d %s", code, errOut)
	}
	var story struct {
		LLMCalls []struct {
			Advisor, Model, Request, Status string
		} `json:"llm_calls"`
		Responses []struct {
			Raw string `json:"raw"`
		} `json:"responses"`
	}
	if err := json.Unmarshal([]byte(out), &story); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	by := map[string]string{}
	for _, c := range story.LLMCalls {
		by[c.Advisor] = c.Request
	}
	if _, ok := by["consensus/baseline"]; !ok || by["consensus/model"] == "" {
		t.Fatalf("members' calls = %v; want consensus/baseline and consensus/model", by)
	}
	if req := by["consensus/model"]; !strings.Contains(req, `t-1 |`) || regexp.MustCompile(`20\d\d-\d\d-\d\d`).MatchString(req) {
		t.Fatalf("the model's prompt on the offline replay is not anonymised: %.800s", req)
	}
	if len(story.Responses) == 0 || !strings.Contains(story.Responses[0].Raw, "Consensus of 2 answers") {
		t.Fatalf("the combined response is not on record: %+v", story.Responses)
	}
	// The baseline buys BTC at the replay's start; the model holds: no
	// consensus, and nothing bought.
	if !strings.Contains(story.Responses[0].Raw, "no consensus: baseline buy 1.5%, model hold") {
		t.Fatalf("want a no-consensus hold naming both answers: %s", story.Responses[0].Raw)
	}

	code, out, errOut = runMain(t, "review", "--config", "warden.yaml")
	if code != 0 {
		t.Fatalf("review = %d %s", code, errOut)
	}
	// 79 prompt and 14 completion tokens at 2.5 and 10 per million.
	if !strings.Contains(out, "gpt-4o-2024-08-06") || !strings.Contains(out, "0.0003") || !strings.Contains(out, "1/1 runs") {
		t.Fatalf("review lacks the priced reliability row with the no-consensus run:\n%s", out)
	}
	// The HTML page shows the same row.
	if code, _, errOut := runMain(t, "review", "--config", "warden.yaml", "--html", "review.html"); code != 0 {
		t.Fatalf("review --html = %d %s", code, errOut)
	}
	page, err := os.ReadFile("review.html")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`<td class="wrap">gpt-4o-2024-08-06</td>.*<td class="num">1/1 runs</td><td class="num">0\.0003</td>`).Match(page) ||
		!strings.Contains(string(page), "advisors consensus/model") {
		t.Fatalf("review --html lacks the priced reliability row:\n%s", page)
	}
}

// TestDigestShowsModelReliability: the digest a run sends carries a line
// per model and prompt version, priced like warden review, for the calls
// of its period (the 07:00 run's; the 08:00 run that sends it is the next
// period's).
func TestDigestShowsModelReliability(t *testing.T) {
	t.Chdir(t.TempDir())
	url, calls := holdingModel(t)
	sink := newNotifySink(t)
	t.Setenv("WARDEN_TEST_SLACK_HOOK", sink.URL+"/services/T0/B0/digesttest")
	t.Setenv("WARDEN_TEST_OPENAI_KEY", "sk-test-digest-0123456789abcdef")
	cfg := `paper: {replay_start: "2022-06-06T07:00:00Z"}
advisor:
  kind: openai
  openai:
    base_url: ` + url + `
    model: gpt-4o
    api_key_env: WARDEN_TEST_OPENAI_KEY
    max_retries: -1
    timeout: 10s
    price: {input_per_mtok: 2.5, output_per_mtok: 10}
notify:
  slack: {webhook_url_env: WARDEN_TEST_SLACK_HOOK}
  digest: "0 8 * * MON"
`
	if err := os.WriteFile("warden.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 2; i++ {
		if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != exitOK || calls.Load() != i {
			t.Fatalf("run --once %d = %d, %d model calls\n%s\n%s", i, code, calls.Load(), out, errOut)
		}
	}
	var digest string
	for _, b := range sink.all() {
		if s := string(b); strings.Contains(s, "Warden review") {
			digest = s
		}
	}
	if !regexp.MustCompile(`model gpt-4o-2024-08-06 [0-9a-f]{8}:[0-9a-f]{8}: 1 calls, invalid 0.0 %, no consensus 0/1 runs, p90 [^,]+, cost 0.0003`).MatchString(digest) {
		t.Fatalf("the digest lacks the model line:\n%s", digest)
	}
}
