package review

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// sampleReview is a week with something in every section, including a
// breaker reason that tries to inject markup and a long decision id.
func sampleReview() audit.Review {
	d := decimal.RequireFromString
	from := time.Date(2024, 5, 6, 8, 0, 0, 0, time.UTC)
	to := from.Add(7 * 24 * time.Hour)
	fills := []audit.FillRecord{
		{Trade: executor.Trade{ID: "1", Symbol: "BTC/USDT", Side: schemas.SideBuy, Price: d("42010.5"), Quantity: d("0.00238"), Fee: d("0.00000238"), FeeCurrency: "BTC", Time: from.Add(time.Hour)},
			DecisionID: "r-20240506T090000Z-aadf8f:0", Role: "entry", Intended: d("42010.5")},
		{Trade: executor.Trade{ID: "2", Symbol: "BTC/USDT", Side: schemas.SideSell, Price: d("41190.1"), Quantity: d("0.00237"), Fee: d("0.0976"), FeeCurrency: "USDT", Time: from.Add(30 * time.Hour)},
			DecisionID: "r-20240506T090000Z-aadf8f:0", Role: "stop", Intended: d("41200")},
	}
	return audit.Review{
		From: from, To: to,
		Runs:       map[string]int{"ok": 160, "failed": 6, "safe_mode": 2},
		Decisions:  map[string]int{"approved": 12, "rejected": 30, "no_action": 290},
		Rejections: []audit.Count{{Name: "max_position", Count: 20}, {Name: "min_confidence_buy", Count: 10}},
		Errors:     []audit.Count{{Name: "advisor", Count: 5}, {Name: "market", Count: 1}},
		ModelCalls: []audit.Count{{Name: "ok", Count: 162}, {Name: "http_error", Count: 4}, {Name: "timeout", Count: 2}}, FailedCalls: 6,
		Tokens: []audit.TokenUse{{Model: "gpt-4o-2024-08-06", Calls: 168, Prompt: 1_512_000, Completion: 40_320, Total: 1_552_320}},
		Trips: []audit.BreakerTrip{{At: from.Add(50 * time.Hour), Breaker: "error_spike", Level: "safe_mode",
			Reason: `3 failed cycles in a row (limit 3) <script>alert("x")</script>`}},
		TripsByBreaker: []audit.Count{{Name: "error_spike", Count: 1}},
		Levels: []audit.LevelTime{{Level: "active", Duration: audit.Duration(164 * time.Hour), Share: d("97.62")},
			{Level: "reduce", Duration: 0, Share: d("0")}, {Level: "safe_mode", Duration: audit.Duration(4 * time.Hour), Share: d("2.38")}},
		Orders:   []audit.OrderCount{{Role: "entry", State: "filled", Count: 1}, {Role: "stop", State: "filled", Count: 1}},
		Fills:    fills,
		Slippage: audit.SlippageOf(fills),
		HeadSeq:  48213, HeadHash: strings.Repeat("ab12", 16), ChainOK: true,
		Reliability: []audit.Reliability{
			{Model: "gpt-4o-2024-08-06", Prompt: "79ae5295:a36680dd", Advisors: []string{"consensus/fast", "consensus/probe"}, Calls: 168, OK: 150,
				Refusals: 2, Truncations: 1, SchemaFailures: 12, BadResponses: 3, Errors: 6, Repairs: 12, Runs: 160, NoConsensus: 9,
				LatencyP50: 812 * time.Millisecond, LatencyP90: 1430 * time.Millisecond, LatencyP99: 2900 * time.Millisecond,
				PromptTokens: 1_512_000, CompletionTokens: 40_320, Cost: ptr(d("4.1832"))},
			{Model: "<b>mini</b>", Prompt: "79ae5295:0f0f0f0f", Advisors: []string{"openai"}, Calls: 0},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func TestHTMLStructure(t *testing.T) {
	page, err := Render(Page{Review: sampleReview(), Database: "/var/lib/warden/warden.db"})
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, bad := range []string{"<script", "http://", "https://", "<link", "@import", "<iframe", "javascript:"} {
		if strings.Contains(strings.ToLower(html), bad) {
			t.Errorf("the page contains %q: it must be self-contained, without script", bad)
		}
	}
	if !strings.Contains(html, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Errorf("the breaker reason was not escaped")
	}
	for _, want := range []string{
		"<title>Warden review 2024-05-06 08:00 UTC to 2024-05-13 08:00 UTC</title>",
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		"max-width: 1280px", // readable at 1400 px: the content column fits with margins
		"Slippage (intended vs filled)", "Errors by component", "Model calls by status", "Rejections by rule",
		"Time at each level", "Trips by breaker", "Model tokens", "Audit chain", "head seq 48213",
		"<code>max_position</code> 20", "advisor 5", "http_error 4", "safe_mode</td><td class=\"num\">4h0m0s</td><td class=\"num\">2.38 %",
		"gpt-4o-2024-08-06</td><td class=\"num\">168</td>", "<td class=\"num\">unknown</td>", // no price table: unknown, never 0
		"<span class=\"ok\">verified</span>",
		`<td class="wrap"><code>r-20240506T090000Z-aadf8f:0</code></td>`, // long ids may break, never widen the page
		// The reliability table, as in warden review: a priced model, and
		// one without calls (no latency: "-") whose name is escaped.
		"Model reliability", `<td class="wrap">gpt-4o-2024-08-06</td><td class="wrap"><code>79ae5295:a36680dd</code></td><td class="num">168</td><td class="num">2</td><td class="num">1</td><td class="num">12</td><td class="num">12</td><td class="num">6</td><td class="num">10.7 %</td><td class="num">9/160 runs</td><td class="num">4.1832</td>`,
		"latency p50 812ms, p90 1.43s, p99 2.9s · tokens 1512000 in, 40320 out · advisors consensus/fast, consensus/probe",
		`<td class="wrap">&lt;b&gt;mini&lt;/b&gt;</td>`, "latency p50 -, p90 -, p99 - · tokens 0 in, 0 out · advisors openai", `<td class="num">0/0 runs</td><td class="num">unknown</td>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Every table sits in the content column: no fixed width wider than
	// the column anywhere in the stylesheet.
	for _, m := range regexp.MustCompile(`width:\s*(\d+)px`).FindAllStringSubmatch(html, -1) {
		if m[1] != "1280" {
			t.Errorf("a fixed width %spx in the page", m[1])
		}
	}
	if strings.Contains(html, "white-space: nowrap; }") && !strings.Contains(html, "td.num") {
		t.Errorf("nowrap outside numeric cells")
	}
}

func TestCostUnknownWithoutPrices(t *testing.T) {
	u := audit.TokenUse{Model: "gpt-4o-mini", Prompt: 1_000_000, Completion: 500_000}
	if got := Cost(u, nil); got != "unknown" {
		t.Errorf("Cost without a price table = %q; want unknown", got)
	}
	p := map[string]TokenPrice{"gpt-4o-mini": {Prompt: decimal.RequireFromString("0.15"), Completion: decimal.RequireFromString("0.6")}}
	if got := Cost(u, p); got != "0.4500 USD" {
		t.Errorf("Cost = %q; want 0.4500 USD (1M × 0.15 + 0.5M × 0.6 per million)", got)
	}
	if got := Cost(audit.TokenUse{Model: "other"}, p); got != "unknown" {
		t.Errorf("Cost of a model without a price = %q; want unknown", got)
	}
}

func TestDigestMessage(t *testing.T) {
	at := time.Date(2024, 5, 13, 8, 0, 0, 0, time.UTC)
	m, err := Digest{Review: sampleReview(), Scheduled: at}.Message()
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != "digest" || m.DedupKey != "digest:2024-05-13T08:00:00Z" || m.Title != "Warden review 2024-05-06 to 2024-05-13" {
		t.Errorf("digest = %+v", m)
	}
	for _, want := range []string{"rejections by rule: max_position 20, min_confidence_buy 10", "errors by component: advisor 5, market 1",
		"model calls: ok 162, http_error 4, timeout 2 (6 failed)", "breaker trips: error_spike 1", "safe_mode 2.4 %",
		"fills: 2", "tokens: 1552320", "audit chain head 48213 ab12ab12ab12ab12 (verified)",
		"model gpt-4o-2024-08-06 79ae5295:a36680dd: 168 calls, invalid 10.7 %, no consensus 9/160 runs, p90 1.43s, cost 4.1832\n",
		"model <b>mini</b> 79ae5295:0f0f0f0f: 0 calls, invalid 0.0 %, no consensus 0/0 runs, p90 -, cost unknown\n"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("digest text lacks %q:\n%s", want, m.Text)
		}
	}
	if n := len([]rune(m.Text)); n > 3500 {
		t.Errorf("digest is %d runes; a notification carries at most 3500", n)
	}
}

// TestDigestModelLines: eight models and prompt versions get a line each;
// a ninth is counted, so the digest stays within a notification.
func TestDigestModelLines(t *testing.T) {
	at := time.Date(2024, 5, 13, 8, 0, 0, 0, time.UTC)
	for _, n := range []int{8, 9, 40} {
		r := sampleReview()
		r.Reliability = nil
		for i := range n {
			r.Reliability = append(r.Reliability, audit.Reliability{Model: fmt.Sprintf("%s-%02d", strings.Repeat("m", 40), i), Prompt: "79ae5295:a36680dd", Calls: 10})
		}
		m, err := Digest{Review: r, Scheduled: at}.Message()
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(m.Text, "\nmodel "+strings.Repeat("m", 40))
		more := fmt.Sprintf("(%d more model and prompt versions in warden review)", n-8)
		if lines != 8 || (n > 8) != strings.Contains(m.Text, more) {
			t.Errorf("%d models: %d model lines, %q shown %v; want 8 lines and the rest counted\n%s", n, lines, more, strings.Contains(m.Text, more), m.Text)
		}
		if len([]rune(m.Text)) > 3500 {
			t.Errorf("%d models: digest is %d runes; at most 3500", n, len([]rune(m.Text)))
		}
	}
}
