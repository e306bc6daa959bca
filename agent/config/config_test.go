package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v; want nil", err)
	}
}

func TestParseOverridesDefaults(t *testing.T) {
	c, err := Parse("t.yaml", []byte(`
mode: live
symbols: [BTC/USDT]
limits: {max_order_notional: 250.5}
paper: {start_cash: 5000, participation: 0.25}
advisor:
  kind: openai
  openai: {model: gpt-4o-mini, temperature: 0, timeout: 30s}
`))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if c.Mode != "live" || len(c.Symbols) != 1 || c.Limits.MaxOrderNotional.String() != "250.5" {
		t.Errorf("Parse = mode %q symbols %v max %s", c.Mode, c.Symbols, c.Limits.MaxOrderNotional)
	}
	if c.Paper.StartCash.String() != "5000" || c.Paper.Participation.String() != "0.25" {
		t.Errorf("paper = %s %s", c.Paper.StartCash, c.Paper.Participation)
	}
	if c.Advisor.OpenAI.Temperature == nil || *c.Advisor.OpenAI.Temperature != 0 {
		t.Errorf("temperature = %v; want explicit 0", c.Advisor.OpenAI.Temperature)
	}
	if c.Advisor.OpenAI.Timeout != 30*time.Second || c.Advisor.OpenAI.RepairAttempts != 1 {
		t.Errorf("openai = %+v", c.Advisor.OpenAI)
	}
	if c.DB != "./warden.db" {
		t.Errorf("db = %q; want the default kept", c.DB)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "mode: paper\nmood: happy\n", "field mood not found"},
		{"nested unknown key", "advisor: {kind: baseline, temprature: 0}\n", "field temprature not found"},
		{"bad mode", "mode: yolo\n", `mode: "yolo"`},
		{"lowercase symbol", "symbols: [btc/usdt]\n", `"btc/usdt" is not BASE/QUOTE`},
		{"duplicate symbol", "symbols: [BTC/USDT, BTC/USDT]\n", "listed twice"},
		{"bad schedule", "schedule: every hour\n", "schedule:"},
		{"zero max notional", "limits: {max_order_notional: 0}\n", "max_order_notional"},
		{"negative fee", "paper: {maker_fee_bps: -1}\n", "paper.maker_fee_bps"},
		{"openai without model", "advisor: {kind: openai}\n", "advisor.openai.model"},
		{"secret in env name", "advisor: {openai: {api_key_env: sk-live-abc123}}\n", "advisor.openai.api_key_env holds an API key"},
		{"not yaml", "mode: [\n", "config t.yaml"},
		{"two documents", "mode: paper\n---\nmode: live\n", "more than one YAML document"},
		{"bad timeframe", "timeframe: 7h\n", "timeframe"},
		{"negative reconcile period", "executor: {reconcile_every: -1m}\n", "executor.reconcile_every"},
		{"bad money", "limits: {max_order_notional: lots}\n", "config t.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse(%q) error = %v; want containing %q", tt.yaml, err, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("Load(missing) = %v; want a not-exist error", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// TestPastedSecrets: a secret written where a variable's name belongs is
// refused, naming the field and the shape, never quoting the value.
func TestPastedSecrets(t *testing.T) {
	const hook = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"
	const tg = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
	tests := []struct{ yaml, field, shape string }{
		{"notify: {slack: {webhook_url_env: '" + hook + "'}}", "notify.slack.webhook_url_env", "a Slack webhook URL"},
		{"notify: {slack: {token_env: xoxb-1234-5678-abcdefgh, channel: '#x'}}", "notify.slack.token_env", "a Slack token"},
		{"notify: {telegram: {token_env: '" + tg + "', chat_id: '1'}}", "notify.telegram.token_env", "a Telegram bot token"},
		{"advisor: {openai: {api_key_env: sk-proj-abcdefghijkl}}", "advisor.openai.api_key_env", "an API key"},
		{"exchange: {api_secret_env: 'https://example.com/x'}", "exchange.api_secret_env", "a URL"},
		{"exchange: {api_key_env: vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A}", "exchange.api_key_env", "not the name of an environment variable"},
		{"notify: {slack: {api_url: '" + hook + "'}}", "notify.slack.api_url", "a Slack webhook URL"},
		{"notify: {telegram: {server_url: 'https://api.telegram.org/bot" + tg + "', token_env: TG, chat_id: '1'}}", "notify.telegram.server_url", "a Telegram bot token"},
		{"advisor: {openai: {base_url: 'https://user:hunter2hunter2@llm.example/v1'}}", "advisor.openai.base_url", "a password in the URL"},
		// A key in the query string would be sent, and printed with every
		// error naming the URL.
		{"advisor: {openai: {base_url: 'http://127.0.0.1:9/v1?key=sk-live-OTHERSECRET'}}", "advisor.openai.base_url", "carries a query or fragment"},
		{"advisor: {kind: consensus, consensus: {members: [{kind: openai, openai: {model: m, api_key_env: K, base_url: 'https://llm.example/v1?api-version=1&code=OTHERSECRET'}}, {kind: baseline}]}}", "advisor.consensus.members[0].openai.base_url", "carries a query or fragment"},
		{"exchange: {base_url: 'https://testnet.example/#OTHERSECRET'}", "exchange.base_url", "carries a query or fragment"},
		{"notify: {telegram: {server_url: 'https://tg.example/?token=OTHERSECRET', token_env: TG, chat_id: '1'}}", "notify.telegram.server_url", "carries a query or fragment"},
		// The e-mail account and the consensus members' keys too.
		{"notify: {email: {host: smtp.example.com, from: a@b.c, to: [a@b.c], username_env: U, password_env: 'Tr0ub4dor&3-horse-battery'}}", "notify.email.password_env", "not the name of an environment variable"},
		{"notify: {email: {host: smtp.example.com, from: a@b.c, to: [a@b.c], username_env: 'ops@example.com', password_env: P}}", "notify.email.username_env", "not the name of an environment variable"},
		{"advisor: {kind: consensus, consensus: {members: [{kind: baseline}, {kind: openai, openai: {model: m, api_key_env: sk-proj-abcdefghijkl}}]}}", "advisor.consensus.members[1].openai.api_key_env", "an API key"},
	}
	for _, tt := range tests {
		_, err := Parse("t.yaml", []byte(tt.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), tt.field) || !strings.Contains(err.Error(), tt.shape) {
			t.Errorf("Parse(%q) = %v; want an error naming %s and %q", tt.yaml, err, tt.field, tt.shape)
			continue
		}
		for _, secret := range []string{hook, tg, "OTHERSECRET", "sk-proj-abcdefghijkl", "xoxb-1234-5678-abcdefgh", "hunter2hunter2", "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A", "Tr0ub4dor&3-horse-battery", "ops@example.com"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Parse(%q) error quotes the secret: %v", tt.yaml, err)
			}
		}
	}
	// Names are fine, including ones with digits.
	if _, err := Parse("t.yaml", []byte("notify: {slack: {webhook_url_env: SLACK_WEBHOOK_2}, telegram: {token_env: TG_TOKEN, chat_id: '-1001234567890'}}\n")); err != nil {
		t.Errorf("Parse with variable names = %v; want ok", err)
	}
}

// TestBaseURLs: a service's base URL is an absolute http(s) URL with a
// host; anything else is refused at check time, not at the first request.
func TestBaseURLs(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"ftp://llm.example/v1", "is not an http:// or https:// URL"},
		{"not a url", "is not an http:// or https:// URL"},
		{"llm.example/v1", "is not an http:// or https:// URL"},
		{"https:///v1", "names no host"},
		{"https://llm.example/v1?", "carries a query or fragment"},
		{"https://llm.example/v1", ""},
		{"http://127.0.0.1:8080/v1", ""},
		// Plain http carries the key in clear: only to this machine.
		{"http://localhost:8080/v1", ""},
		{"http://[::1]:8080/v1", ""},
		{"http://127.255.255.254/v1", ""},
		{"http://llm.example/v1", "plain http:// to a host other than this machine"},
		{"http://10.0.0.5:8080/v1", "plain http:// to a host other than this machine"},
		{"http://128.0.0.1/v1", "plain http:// to a host other than this machine"},
		{"http://localhost.example/v1", "plain http:// to a host other than this machine"},
	} {
		_, err := Parse("t.yaml", []byte("advisor: {openai: {base_url: '"+tc.url+"'}}\n"))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("base_url %q: %v; want accepted", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), "advisor.openai.base_url") || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("base_url %q: %v; want refused: %s", tc.url, err, tc.want)
		}
	}
}

func TestEmptyFileRefused(t *testing.T) {
	for _, body := range []string{"", "\n", "# only a comment\n"} {
		if _, err := Parse("t.yaml", []byte(body)); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("Parse(%q) = %v; want an empty-file error", body, err)
		}
	}
}

// TestRelativePathsFromTheFile: paths set in the file are relative to its
// directory; the built-in default db stays where the working directory is.
func TestRelativePathsFromTheFile(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "etc", "warden.yaml")
	os.MkdirAll(filepath.Dir(cfgPath), 0o755)
	os.WriteFile(cfgPath, []byte("db: data/w.db\npolicy: p.yaml\npolicy_tests: /abs/t.yaml\nexchange: {credentials_file: keys.yaml}\nadvisor: {kind: replay, replay: {file: rec.jsonl}}\n"), 0o600)
	c, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	etc := filepath.Dir(cfgPath)
	for name, tc := range map[string][2]string{
		"db": {c.DB, filepath.Join(etc, "data/w.db")}, "policy": {c.Policy, filepath.Join(etc, "p.yaml")},
		"policy_tests": {c.PolicyTests, "/abs/t.yaml"}, "credentials_file": {c.Exchange.CredentialsFile, filepath.Join(etc, "keys.yaml")},
		"replay.file": {c.Advisor.Replay.File, filepath.Join(etc, "rec.jsonl")},
	} {
		if tc[0] != tc[1] {
			t.Errorf("%s = %q; want %q", name, tc[0], tc[1])
		}
	}
	os.WriteFile(cfgPath, []byte("mode: paper\n"), 0o600)
	if c, _ := Load(cfgPath); c.DB != "./warden.db" {
		t.Errorf("default db = %q; want ./warden.db (not set in the file)", c.DB)
	}
}

func TestAdviceDeadline(t *testing.T) {
	for _, tc := range []struct {
		schedule string
		set      time.Duration
		want     time.Duration
	}{
		{"@hourly", 0, 3 * time.Minute},
		{"@every 6m", 0, 3 * time.Minute},
		{"@every 5m", 0, 150 * time.Second},
		{"*/2 * * * *", 0, time.Minute},
		{"0 9,17 * * *", 0, 3 * time.Minute},
		{"@every 1m", 20 * time.Second, 20 * time.Second},
	} {
		c := Default()
		c.Schedule, c.Advisor.OpenAI.Deadline = tc.schedule, tc.set
		if got := c.AdviceDeadline(); got != tc.want {
			t.Errorf("AdviceDeadline(schedule %q, deadline %s) = %s; want %s", tc.schedule, tc.set, got, tc.want)
		}
	}
}

// TestScheduleRefusesWhatNeverDoesWhatItSays: an @every under a second
// (which the cron library runs every second), at the limit and one step
// beyond, and a spec that never fires are refused, for the run schedule
// and the review digest alike.
func TestScheduleRefusesWhatNeverDoesWhatItSays(t *testing.T) {
	for _, tc := range []struct {
		spec string
		ok   bool
	}{
		{"@every 1s", true}, {"@every 999ms", false}, {"@every 0s", false}, {"@every -1h", false}, {"@every 1ns", false},
		{"@hourly", true}, {"0 0 29 2 *", true}, {"0 0 30 2 *", false}, {"0 0 31 4 *", false},
	} {
		for _, field := range []string{"schedule", "notify.digest"} {
			yaml := "schedule: '" + tc.spec + "'\n"
			if field == "notify.digest" {
				yaml = "notify: {digest: '" + tc.spec + "'}\n"
			}
			_, err := Parse("t.yaml", []byte(yaml))
			switch {
			case tc.ok && err != nil:
				t.Errorf("%s %q: %v; want accepted", field, tc.spec, err)
			case !tc.ok && (err == nil || !strings.Contains(err.Error(), field+":")):
				t.Errorf("%s %q: %v; want refused, naming %s", field, tc.spec, err, field)
			}
		}
	}
}

// TestPlainHTTPRefusedForEveryService: the exchange, Slack and Telegram
// URLs follow the same rule as the model's: https, or http to this machine.
func TestPlainHTTPRefusedForEveryService(t *testing.T) {
	for _, tc := range []struct{ yaml, field string }{
		{"exchange: {base_url: 'http://binance-proxy.example.com'}", "exchange.base_url"},
		{"notify: {slack: {token_env: SLACK_TOKEN, channel: C1, api_url: 'http://slack-proxy.example.com/api/'}}", "notify.slack.api_url"},
		{"notify: {telegram: {token_env: TG_TOKEN, chat_id: '42', server_url: 'http://tg.example.com'}}", "notify.telegram.server_url"},
	} {
		_, err := Parse("t.yaml", []byte(tc.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "plain http://") {
			t.Errorf("%s: %v; want refused naming %s", tc.yaml, err, tc.field)
		}
		loop := strings.Replace(strings.Replace(strings.Replace(tc.yaml, "binance-proxy.example.com", "127.0.0.1:9", 1), "slack-proxy.example.com", "127.0.0.1:9", 1), "tg.example.com", "127.0.0.1:9", 1)
		if _, err := Parse("t.yaml", []byte(loop+"\n")); err != nil {
			t.Errorf("%s: %v; want accepted", loop, err)
		}
	}
}

// TestLeadingZeroIntegersRefused: YAML reads an unquoted 0100 as octal
// (64), so a limit written with a leading zero would not be the limit
// checked; it is refused with the line and the key. A decimal setting
// written so is refused too (it would read 100: the two kinds would
// disagree). Plain 0, 100 and 0.5 stay fine.
func TestLeadingZeroIntegersRefused(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"candles: 0100\n", "line 1: candles: 0100 has a leading zero (YAML reads 0100 as the octal number 64): write the number without it"},
		{"executor:\n  max_orders_per_minute: 010\n", "line 2: executor.max_orders_per_minute: 010 has a leading zero"},
		{"alerts: {exposure_pct: 090}\n", "alerts.exposure_pct: 090 has a leading zero"},
		{"alerts: {exposure_pct: 00.5}\n", "alerts.exposure_pct: 00.5 has a leading zero"},
		{"symbols: [BTC/USDT]\ncandles: -0100\n", "candles: -0100 has a leading zero"},
	} {
		_, err := Parse("t.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want an error containing %q", tc.yaml, err, tc.want)
		}
	}
	c, err := Parse("t.yaml", []byte("candles: 100\nalerts: {exposure_pct: 0.5}\nsymbols: ['BTC/USDT']\n"))
	if err != nil || c.Candles != 100 {
		t.Fatalf("Parse(candles: 100) = %+v, %v", c.Candles, err)
	}
}

// TestOutOfRangeSettings: values with no use that read as something else
// are refused, at the limit and one step beyond: an explicit 0 alert
// threshold (it read as left out, so the default applied), a negative key
// rotation reminder, a submit timeout too short for a round trip.
func TestOutOfRangeSettings(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"alerts: {day_loss_pct: 0}\n", "line 1: alerts.day_loss_pct: 0 would warn at once, at every cycle; leave it out for the default (70) or give a negative value"},
		{"alerts:\n  exposure_pct: 0.0\n", "line 2: alerts.exposure_pct: 0 would warn at once"},
		{"alerts: {model_error_pct: 0}\n", "alerts.model_error_pct: 0 would warn at once"},
		{"exchange: {key_rotation_days: -1}\n", "exchange.key_rotation_days: -1 is outside 0..3650"},
		{"exchange: {key_rotation_days: 3651}\n", "exchange.key_rotation_days: 3651 is outside 0..3650"},
		{"executor: {submit_timeout: 999ms}\n", "executor.submit_timeout: 999ms is outside 1s..5m"},
		{"executor: {submit_timeout: 5m1s}\n", "executor.submit_timeout: 5m1s is outside 1s..5m"},
	} {
		_, err := Parse("t.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want an error containing %q", tc.yaml, err, tc.want)
		}
	}
	for _, y := range []string{"alerts: {day_loss_pct: -1, exposure_pct: 0.01}", "exchange: {key_rotation_days: 0}", "exchange: {key_rotation_days: 3650}",
		"executor: {submit_timeout: 1s}", "executor: {submit_timeout: 5m}"} {
		if _, err := Parse("t.yaml", []byte(y+"\n")); err != nil {
			t.Errorf("Parse(%q) = %v; want accepted", y, err)
		}
	}
}
