package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"github.com/warden-trading/warden/schemas"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func decp(s string) *decimal.Decimal { d := dec(s); return &d }

func approvedVerdict() schemas.Verdict {
	return schemas.Verdict{
		Symbol:   "BTC/USDT",
		Action:   schemas.ActionBuy,
		Decision: schemas.DecisionApproved,
		Order: &schemas.Order{
			Symbol: "BTC/USDT", Side: schemas.SideBuy, Type: schemas.OrderLimit,
			Quantity: dec("0.01234"), Price: dec("64000.5"), Notional: dec("789.76617"),
			StopLoss: decp("62000"),
		},
	}
}

func rejectedVerdict() schemas.Verdict {
	return schemas.Verdict{
		Symbol:   "ETH/USDT",
		Action:   schemas.ActionSell,
		Decision: schemas.DecisionRejected,
		Violations: []schemas.Violation{
			{Rule: "max_notional", Message: "order notional 1200 exceeds 1000", Source: schemas.SourceLimit},
			{Rule: "min_confidence", Message: "confidence 0.4 is below 0.6", Source: schemas.SourcePolicy},
			{Rule: "schema", Message: "must be >= 0", Source: schemas.SourceSchema, Pointer: "/recommendations/0/size_pct"},
		},
		Warnings: []schemas.Violation{{Rule: "wide_spread", Message: "spread 40 bps", Source: schemas.SourcePolicy}},
	}
}

func TestDecisionApproved(t *testing.T) {
	long := strings.Repeat("Momentum is strong and funding is flat. ", 20)
	m, err := Decision{ID: "d-42", RunID: "run-7", Verdict: approvedVerdict(), Rationale: long}.Message()
	if err != nil {
		t.Fatalf("Message() error = %v", err)
	}
	if m.Kind != KindApproved || m.DedupKey != "decision:d-42:approved" || m.RunID != "run-7" {
		t.Errorf("Message() = kind %q key %q run %q; want approved, decision:d-42:approved, run-7", m.Kind, m.DedupKey, m.RunID)
	}
	if want := "Approved by policy: BUY 0.01234 BTC/USDT"; m.Title != want {
		t.Errorf("Title = %q; want %q", m.Title, want)
	}
	for _, want := range []string{"Symbol: BTC/USDT", "Side: buy", "Quantity: 0.01234", "Price: 64000.5",
		"Notional: 789.76617", "Stop loss: 62000", "Decision: d-42", "Rationale: Momentum is strong"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("Text lacks %q:\n%s", want, m.Text)
		}
	}
	// The rationale is an excerpt of at most RationaleExcerpt runes.
	var rat string
	for _, line := range strings.Split(m.Text, "\n") {
		if r, ok := strings.CutPrefix(line, "Rationale: "); ok {
			rat = r
		}
	}
	if n := utf8.RuneCountInString(rat); n > RationaleExcerpt || !strings.HasSuffix(rat, "…") {
		t.Errorf("rationale excerpt has %d runes, ends %q; want <= %d and ending in …", n, rat[len(rat)-8:], RationaleExcerpt)
	}
}

func TestDecisionRejectedListsEveryRule(t *testing.T) {
	m, err := Decision{ID: "d-43", Verdict: rejectedVerdict(), Rationale: "sell"}.Message()
	if err != nil {
		t.Fatalf("Message() error = %v", err)
	}
	if m.Kind != KindRejected || m.DedupKey != "decision:d-43:rejected" {
		t.Errorf("kind, key = %q, %q; want rejected, decision:d-43:rejected", m.Kind, m.DedupKey)
	}
	if want := "Rejected: SELL ETH/USDT (3 rules)"; m.Title != want {
		t.Errorf("Title = %q; want %q", m.Title, want)
	}
	for _, v := range rejectedVerdict().Violations {
		if !strings.Contains(m.Text, v.Rule) || !strings.Contains(m.Text, v.Message) {
			t.Errorf("Text lacks rule %q / message %q:\n%s", v.Rule, v.Message, m.Text)
		}
	}
	for _, want := range []string{"[limit]", "at /recommendations/0/size_pct", "Warnings:", "wide_spread"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("Text lacks %q:\n%s", want, m.Text)
		}
	}
}

func TestEventErrors(t *testing.T) {
	noOrder := approvedVerdict()
	noOrder.Order = nil
	noRules := rejectedVerdict()
	noRules.Violations = nil
	odd := approvedVerdict()
	odd.Decision = "maybe"
	open := schemas.OrderEvent{ClientOrderID: "c1", State: schemas.OrderAcknowledged}
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{"approved without order", Decision{ID: "d", Verdict: noOrder}, "has no order"},
		{"rejected without rules", Decision{ID: "d", Verdict: noRules}, "no violated rule"},
		{"unknown outcome", Decision{ID: "d", Verdict: odd}, "unknown outcome"},
		{"no decision id", Decision{Verdict: approvedVerdict()}, "without an id"},
		{"fill not filled", Fill{Event: open}, "not a fill"},
		{"fill without id", Fill{Event: schemas.OrderEvent{State: schemas.OrderFilled}}, "client order id"},
		{"kill switch without time", KillSwitch{On: true}, "without a time"},
		{"breaker without name", Breaker{Tripped: true, At: time.Now()}, "without a name"},
		{"policy without path", PolicyReloadFailed{Err: "x"}, "without a path"},
		{"error without component", Error{Err: "x", RunID: "r"}, "component"},
		{"error without scope", Error{Component: "advisor", Err: "x"}, "key, a run id or a time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.e.Message()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Message() error = %v; want one containing %q", err, tt.want)
			}
		})
	}
}

func TestEventMessages(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	fill := schemas.OrderEvent{
		ClientOrderID: "wdn-d42-entry", DecisionID: "d-42", Role: "entry", State: schemas.OrderPartiallyFilled,
		Symbol: "BTC/USDT", Side: schemas.SideBuy, Quantity: dec("0.02"), FilledQty: dec("0.005"),
		AvgPrice: dec("64010.1"), Fee: dec("0.32"), FeeCurrency: "USDT", ExchangeOrderID: "123",
	}
	tests := []struct {
		name    string
		e       Event
		kind    string
		title   string
		key     string
		textHas []string
	}{
		{"fill", Fill{Event: fill, RunID: "r1"}, KindFill, "Partially filled: BUY 0.005 BTC/USDT @ 64010.1",
			"fill:wdn-d42-entry:partially_filled:0.005", []string{"Filled: 0.005 of 0.02", "Fee: 0.32 USDT", "Decision: d-42", "Exchange order id: 123"}},
		{"kill switch on", KillSwitch{On: true, Reason: "daily loss 5.2%", By: "breaker:daily_loss", At: at}, KindKillSwitch,
			"Kill switch engaged", "kill_switch:on:2026-03-01T12:30:00Z", []string{"by breaker:daily_loss", "Reason: daily loss 5.2%", "No new orders"}},
		{"kill switch off", KillSwitch{On: false, By: "operator", At: at}, KindKillSwitch,
			"Kill switch released", "kill_switch:off:2026-03-01T12:30:00Z", []string{"released at 2026-03-01T12:30:00Z by operator"}},
		{"safe mode", SafeMode{On: true, Reason: "stale data", At: at}, KindSafeMode,
			"Safe mode on", "safe_mode:on:2026-03-01T12:30:00Z", []string{"Reason: stale data"}},
		{"breaker", Breaker{Name: "volatility_shock", Tripped: true, Reason: "ATR x7", Until: at.Add(4 * time.Hour), At: at}, KindBreaker,
			"Breaker volatility_shock tripped", "breaker:volatility_shock:on:2026-03-01T12:30:00Z", []string{"Cooldown until: 2026-03-01T16:30:00Z"}},
		{"policy reload", PolicyReloadFailed{Path: "policy.yaml", Revision: "sha256:ab12", Err: "rule max_notional: undeclared reference to 'ordr'", At: at}, KindPolicy,
			"Policy reload refused", "policy:reload_failed:policy.yaml:sha256:ab12", []string{"undeclared reference", "previous policy stays"}},
		{"error by run", Error{Component: "advisor", Err: "timeout after 60s", RunID: "run-9"}, KindError,
			"Error in advisor", "error:advisor:run-9:" + shortHash("timeout after 60s"), []string{"Error: timeout after 60s"}},
		{"error with key", Error{Component: "executor", Err: "stop not placed", Key: "stop:wdn-1"}, KindError,
			"Error in executor", "error:stop:wdn-1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.e.Message()
			if err != nil {
				t.Fatalf("Message() error = %v", err)
			}
			if m.Kind != tt.kind || m.Title != tt.title || m.DedupKey != tt.key {
				t.Errorf("Message() = (%q, %q, %q); want (%q, %q, %q)", m.Kind, m.Title, m.DedupKey, tt.kind, tt.title, tt.key)
			}
			for _, s := range tt.textHas {
				if !strings.Contains(m.Text, s) {
					t.Errorf("Text lacks %q:\n%s", s, m.Text)
				}
			}
			again, _ := tt.e.Message()
			if again != m {
				t.Errorf("Message() is not deterministic: %+v then %+v", m, again)
			}
		})
	}
}

func TestPublishEnqueuesOncePerChannel(t *testing.T) {
	ob := newMemOutbox()
	clk := newFakeClock()
	woken := 0
	n, err := NewNotifier(NotifierConfig{Outbox: ob, Channels: []string{ChannelSlack, ChannelTelegram}, Now: clk.Now, Wake: func() { woken++ }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ev := Decision{ID: "d-1", RunID: "run-1", Verdict: approvedVerdict(), Rationale: "why"}
	for range 3 { // a re-run publishes the same decision again
		if err := n.Publish(ctx, ev); err != nil {
			t.Fatalf("Publish() = %v", err)
		}
	}
	if err := n.Publish(ctx, Decision{ID: "d-2", Verdict: schemas.Verdict{Decision: schemas.DecisionNoAction}}); err != nil {
		t.Fatalf("Publish(no_action) = %v", err)
	}
	rows := ob.all("")
	if len(rows) != 2 {
		t.Fatalf("outbox has %d rows; want 2 (one per channel): %+v", len(rows), rows)
	}
	for i, ch := range []string{ChannelSlack, ChannelTelegram} {
		r := rows[i]
		if r.Channel != ch || r.Kind != KindApproved || r.DedupKey != "decision:d-1:approved" || r.RunID != "run-1" || !r.CreatedAt.Equal(clk.Now()) {
			t.Errorf("row %d = %+v; want channel %s, approved, decision:d-1:approved, run-1, created now", i, r, ch)
		}
	}
	if woken != 3 {
		t.Errorf("Wake called %d times; want 3", woken)
	}
}

func TestPublishErrors(t *testing.T) {
	ob := newMemOutbox()
	ob.failEnq = errors.New("database is locked")
	n, err := NewNotifier(NotifierConfig{Outbox: ob, Channels: []string{ChannelSlack}})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Publish(context.Background(), SafeMode{On: true, At: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Errorf("Publish() with failing outbox = %v; want the outbox error", err)
	}
	if err := n.Publish(context.Background(), nil); err == nil {
		t.Errorf("Publish(nil) = nil; want an error")
	}
	if err := n.Publish(context.Background(), KillSwitch{On: true}); err == nil {
		t.Errorf("Publish(malformed) = nil; want an error")
	}

	for _, cfg := range []NotifierConfig{
		{Outbox: ob, Channels: []string{"sms"}},
		{Outbox: ob, Channels: []string{"slack", "slack"}},
		{Channels: []string{"slack"}},
	} {
		if _, err := NewNotifier(cfg); err == nil {
			t.Errorf("NewNotifier(%+v) = nil error; want one", cfg.Channels)
		}
	}
	// No channels: notifications are off and Publish does nothing.
	off, err := NewNotifier(NotifierConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := off.Publish(context.Background(), SafeMode{On: true, At: time.Now()}); err != nil {
		t.Errorf("Publish() with no channels = %v; want nil", err)
	}
}

func TestPublishTruncatesLongText(t *testing.T) {
	ob := newMemOutbox()
	n, _ := NewNotifier(NotifierConfig{Outbox: ob, Channels: []string{ChannelTelegram}})
	v := rejectedVerdict()
	for range 100 {
		v.Violations = append(v.Violations, schemas.Violation{Rule: "r", Message: strings.Repeat("é", 300)})
	}
	if err := n.Publish(context.Background(), Decision{ID: "d", Verdict: v}); err != nil {
		t.Fatal(err)
	}
	got := ob.all("")[0].Text
	if c := utf8.RuneCountInString(got); c > maxTextRunes || !utf8.ValidString(got) {
		t.Errorf("stored text has %d runes (valid UTF-8 %v); want <= %d", c, utf8.ValidString(got), maxTextRunes)
	}
}

func TestExcerpt(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"  spaced \n\t out  ", 20, "spaced out"},
		{"alpha beta gamma", 14, "alpha beta…"},
		{"one two three four five", 12, "one two thr…"},
		{"abcdefghijklmnop", 6, "abcde…"},
		{"ééééé", 3, "éé…"},
		{"x", 0, ""},
	}
	for _, tt := range tests {
		if got := Excerpt(tt.in, tt.max); got != tt.want {
			t.Errorf("Excerpt(%q, %d) = %q; want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestEscape(t *testing.T) {
	tests := []struct {
		in, slack, tg string
	}{
		{"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"a & b &amp; c", "a &amp; b &amp;amp; c", "a &amp; b &amp;amp; c"},
		{"<!channel> <@U123> <http://evil|x>", "&lt;!channel&gt; &lt;@U123&gt; &lt;http://evil|x&gt;", "&lt;!channel&gt; &lt;@U123&gt; &lt;http://evil|x&gt;"},
		{"_*[]()~`>#+-=|{}.!", "_*[]()~`&gt;#+-=|{}.!", "_*[]()~`&gt;#+-=|{}.!"},
	}
	for _, tt := range tests {
		if got := EscapeSlack(tt.in); got != tt.slack {
			t.Errorf("EscapeSlack(%q) = %q; want %q", tt.in, got, tt.slack)
		}
		if got := EscapeTelegramHTML(tt.in); got != tt.tg {
			t.Errorf("EscapeTelegramHTML(%q) = %q; want %q", tt.in, got, tt.tg)
		}
	}
}

func ExampleEscapeTelegramHTML() {
	fmt.Println(EscapeTelegramHTML("BTC < 60k & falling <b>fast</b>"))
	// Output: BTC &lt; 60k &amp; falling &lt;b&gt;fast&lt;/b&gt;
}

func TestPublishRedactsSecrets(t *testing.T) {
	ob := newMemOutbox()
	secret := "sk-live-0123456789abcdef"
	n, err := NewNotifier(NotifierConfig{Outbox: ob, Channels: []string{ChannelSlack}, Secrets: []string{secret, ""}})
	if err != nil {
		t.Fatal(err)
	}
	ev := Error{Component: "executor", Err: "binance: signature for key " + secret + " rejected", RunID: "r", Key: "k"}
	if err := n.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	got := ob.all("")[0]
	if strings.Contains(got.Text+got.Title, secret) || !strings.Contains(got.Text, "key [REDACTED] rejected") {
		t.Errorf("stored text %q; want the secret replaced by [REDACTED]", got.Text)
	}
}

// TestPublishRedactsASecretAtTheCut: an error long enough to be cut, with
// a secret where the cut falls, is stored without any piece of the secret
// (redacted before it is cut), for an error and a refused policy reload;
// the policy message still says the previous policy stays in force.
func TestPublishRedactsASecretAtTheCut(t *testing.T) {
	secret := "sk-live-0123456789abcdef"
	for _, at := range []int{1990, 2000, 3400, 3480, 3495} {
		ob := newMemOutbox()
		n, err := NewNotifier(NotifierConfig{Outbox: ob, Channels: []string{ChannelSlack}, Secrets: []string{secret}})
		if err != nil {
			t.Fatal(err)
		}
		long := strings.Repeat("e", at) + secret + strings.Repeat("f", 3000)
		evs := []Event{
			Error{Component: "executor", Err: long, RunID: "r", Key: "k"},
			PolicyReloadFailed{Path: "/etc/warden/policy.yaml", Revision: "abc", Err: long},
		}
		for _, ev := range evs {
			if err := n.Publish(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		for _, got := range ob.all("") {
			if utf8.RuneCountInString(got.Text) > maxTextRunes {
				t.Errorf("%s text is %d runes, over %d", got.Kind, utf8.RuneCountInString(got.Text), maxTextRunes)
			}
			for i := 0; i+6 <= len(secret); i++ {
				if strings.Contains(got.Text, secret[i:i+6]) {
					t.Errorf("secret at %d: %s text holds %q, a piece of the secret", at, got.Kind, secret[i:i+6])
					break
				}
			}
			if got.Kind == KindPolicy && !strings.Contains(got.Text, "The previous policy stays in force.") {
				t.Errorf("policy message lost its first line when cut: %.200q", got.Text)
			}
		}
	}
}
