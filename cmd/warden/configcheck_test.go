package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/market"
)

// TestConfigCheckIsStart: config check refuses what run refuses, and run
// refuses it before creating anything (no database, no lock, no directory).
func TestConfigCheckIsStart(t *testing.T) {
	const hook = "https://hooks.slack.com/services/T000/B000/XXXXXXXXCANARYXXXXXXXX"
	dir := t.TempDir()
	// A policy that fails the tests written beside it.
	strict := filepath.Join(dir, "strict.yaml")
	if code, _, errOut := runMain(t, "policy", "init", "--out", strict); code != 0 {
		t.Fatalf("policy init = %d %s", code, errOut)
	}
	src, _ := os.ReadFile(strict)
	loose := strings.Replace(string(src), "max_position_pct: 2 ", "max_position_pct: 50 ", 1)
	if loose == string(src) {
		t.Fatal("could not loosen max_position_pct in the written policy")
	}
	os.WriteFile(strict, []byte(loose), 0o600)
	t.Setenv("WARDEN_TEST_SET", "xoxb-0000-1111-set")
	t.Setenv("WARDEN_TEST_TG", "123456789:AAHdqTcvCANARYxxxxxxxxxxxxxxx")
	t.Setenv("WARDEN_TEST_HOOK_NOT_URL", "hooks.slack.com/services/T000/B000/CANARY")
	t.Setenv("WARDEN_TEST_HOOK_HTTP", "http://hooks.example.com/services/T000/B000/CANARY")
	tests := []struct {
		name, yaml, want string
	}{
		{"empty file", "", "empty"},
		{"unknown key", "mood: happy\n", "field mood not found"},
		{"policy fails its tests", "policy: strict.yaml\n", "fails"},
		{"metrics on all interfaces", "metrics: {listen: '0.0.0.0:9100'}\n", "metrics.listen"},
		{"webhook pasted into *_env", "notify: {slack: {webhook_url_env: '" + hook + "'}}\n", "notify.slack.webhook_url_env holds a Slack webhook URL"},
		{"telegram token pasted", "notify: {telegram: {token_env: '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw', chat_id: '1'}}\n", "notify.telegram.token_env holds a Telegram bot token"},
		{"slack variable unset", "notify: {slack: {webhook_url_env: WARDEN_TEST_UNSET_HOOK}}\n", "$WARDEN_TEST_UNSET_HOOK, not set here"},
		{"telegram variable unset", "notify: {telegram: {token_env: WARDEN_TEST_UNSET_TG, chat_id: '1'}}\n", "$WARDEN_TEST_UNSET_TG, which is not set"},
		{"email password unset", "notify: {email: {host: smtp.example.com, username_env: WARDEN_TEST_SET, password_env: WARDEN_TEST_UNSET_PW, from: w@example.com, to: [o@example.com]}}\n", "notify.email.password_env names $WARDEN_TEST_UNSET_PW, which is not set"},
		{"maintenance window that does not parse", "maintenance: [{every: 'Wed 2am-4am'}]\n", "line 2: maintenance window: every \"Wed 2am-4am\""},
		{"alert threshold past the limit", "alerts: {exposure_pct: 120}\n", "alerts.exposure_pct: 120 is over 100"},
		{"model key unset", "advisor: {kind: openai, openai: {model: m, api_key_env: WARDEN_TEST_UNSET_KEY}}\n", "$WARDEN_TEST_UNSET_KEY, which is not set"},
		{"live without keys", "mode: live\nexchange: {api_key_env: WARDEN_TEST_UNSET_A, api_secret_env: WARDEN_TEST_UNSET_B}\n", "exchange credentials"},
		{"a symbol the paper exchange does not define", "symbols: [BTC/USDT, DOGE/USDT]\n", "no market definition for DOGE/USDT (it knows BTC/USDT, ETH/USDT)"},
		{"a replay start after the bundled data", "paper: {replay_start: '2030-01-01T00:00:00Z'}\n", "paper.replay_start: 2030-01-01T00:00:00Z is outside the bundled BTC/USDT 1h candles"},
		// Said whole: the redactor, which masks "token: <value>", leaves
		// the explanation readable.
		{"slack token as the channel", "notify: {slack: {webhook_url_env: WARDEN_TEST_HOOK_HTTP, channel: 'xoxb-1234-CANARYsecret'}}\n", "notify.slack.channel holds a Slack token, and a secret never goes in the config file: put it in a variable"},
		// What the senders refuse at start, config check refuses too.
		{"telegram chat id that is none", "notify: {telegram: {token_env: WARDEN_TEST_TG, chat_id: mychat}}\n", "notify.telegram: chat id \"mychat\" is neither a number nor @channelusername"},
		{"slack webhook variable that holds no URL", "notify: {slack: {webhook_url_env: WARDEN_TEST_HOOK_NOT_URL}}\n", "notify.slack ($WARDEN_TEST_HOOK_NOT_URL): webhook URL is not an http(s) URL"},
		{"slack webhook in plain http to another host", "notify: {slack: {webhook_url_env: WARDEN_TEST_HOOK_HTTP}}\n", "plain http:// to a host other than this machine"},
		{"e-mail sender that is no address", "notify: {email: {host: smtp.example.com, from: 'not an address', to: [o@example.com]}}\n", "notify.email: from \"not an address\" is not an e-mail address"},
		{"a replay start before the bundled data", "paper: {replay_start: '2010-01-01T00:00:00Z'}\n", "paper.replay_start: 2010-01-01T00:00:00Z is outside the bundled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "warden.yaml")
			os.WriteFile(cfg, []byte("db: state/w.db\n"+tt.yaml), 0o600)
			if tt.yaml == "" {
				os.WriteFile(cfg, nil, 0o600)
			}
			code, out, errOut := runMain(t, "config", "check", cfg)
			if code != exitRejected || !strings.Contains(errOut, tt.want) {
				t.Fatalf("config check = exit %d\n%s\n%s\nwant exit 1 containing %q", code, out, errOut, tt.want)
			}
			if strings.Contains(out+errOut, "CANARY") || strings.Contains(out+errOut, "AAHdqTcv") {
				t.Errorf("the pasted secret is quoted back:\n%s", errOut)
			}
			args := []string{"run", "--once", "--config", cfg}
			if strings.Contains(tt.yaml, "mode: live") {
				args = append(args, "--live")
			}
			code, out, errOut = runMain(t, args...)
			if code != exitUsage || !strings.Contains(errOut, tt.want) {
				t.Fatalf("run = exit %d\n%s\n%s\nwant exit 2 containing %q", code, out, errOut, tt.want)
			}
			for _, p := range []string{"state", "state/w.db", "state/w.db.lock", "warden.db", "warden.db.lock"} {
				if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
					t.Errorf("a refused start left %s behind", p)
				}
			}
		})
	}
	t.Run("ok, and the same config runs", func(t *testing.T) {
		cfg := filepath.Join(dir, "warden.yaml")
		os.WriteFile(cfg, []byte("db: state/w.db\nmetrics: {listen: '0.0.0.0:0', allow_non_loopback: true}\nnotify: {slack: {token_env: WARDEN_TEST_SET, channel: '#ops', api_url: 'http://127.0.0.1:1/'}}\nadvisor: {openai: {max_tokens: 1000}}\n"), 0o600)
		code, out, errOut := runMain(t, "config", "check", cfg)
		if code != 0 || !strings.Contains(out, ": ok") || !strings.Contains(out, filepath.Join(dir, "state/w.db")) {
			t.Fatalf("config check = exit %d\n%s\n%s", code, out, errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
			t.Error("config check created the database directory")
		}
	})
	t.Run("max_tokens below the schema's answer warns", func(t *testing.T) {
		cfg := filepath.Join(dir, "warden.yaml")
		t.Setenv("WARDEN_TEST_KEY", "sk-test-0123456789")
		os.WriteFile(cfg, []byte("advisor: {kind: openai, openai: {model: m, api_key_env: WARDEN_TEST_KEY, max_tokens: 2000}}\n"), 0o600)
		code, out, errOut := runMain(t, "config", "check", cfg)
		if code != 0 || !strings.Contains(out, "warning: advisor.openai.max_tokens 2000 is below") {
			t.Fatalf("config check = exit %d\n%s\n%s; want ok with a max_tokens warning", code, out, errOut)
		}
	})
}

// TestConfigPathsFromAnotherDirectory: a shell (or cron) in another
// directory uses the paths beside the config file.
func TestConfigPathsFromAnotherDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "warden.yaml"), []byte("db: w.db\npolicy: mine.yaml\n"), 0o600)
	if code, _, errOut := runMain(t, "policy", "init", "--out", filepath.Join(dir, "mine.yaml")); code != 0 {
		t.Fatalf("policy init = %d %s", code, errOut)
	}
	t.Chdir(t.TempDir())
	code, out, errOut := runMain(t, "config", "check", filepath.Join(dir, "warden.yaml"))
	if code != 0 {
		t.Fatalf("config check from another directory = exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runMain(t, "run", "--once", "--config", filepath.Join(dir, "warden.yaml")); code != 0 {
		t.Fatalf("run from another directory = exit %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "w.db")); err != nil {
		t.Errorf("the database is not beside the config: %v", err)
	}
	if _, err := os.Stat("w.db"); err == nil {
		t.Error("the database was made in the working directory")
	}
}

// TestReplayStartLimits: the offline replay may start from the first
// candle's close to the last candle's open (that candle still to come);
// one step beyond either end is refused.
func TestReplayStartLimits(t *testing.T) {
	cfg := config.Default()
	cfg.Symbols = []string{"BTC/USDT", "ETH/USDT"}
	var first, last time.Time
	for _, s := range cfg.Symbols {
		rp, err := market.BundledReplay(s, cfg.Timeframe)
		if err != nil {
			t.Fatal(err)
		}
		if f := rp.Candle(0).Time.Add(rp.Step()); f.After(first) {
			first = f
		}
		if l := rp.Candle(rp.Len() - 1).Time; last.IsZero() || l.Before(last) {
			last = l
		}
	}
	for _, tc := range []struct {
		start time.Time
		ok    bool
	}{
		{first, true}, {first.Add(-time.Hour), false},
		{last, true}, {last.Add(time.Hour), false},
	} {
		cfg.Paper.ReplayStart = tc.start.Format(time.RFC3339)
		if err := replayStartCovered(cfg); (err == nil) != tc.ok {
			t.Errorf("replay_start %s: %v; want ok %v", cfg.Paper.ReplayStart, err, tc.ok)
		}
	}
}
