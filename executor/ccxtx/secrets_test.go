package ccxtx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/executor/ccxtx/fakebinance"
)

func TestCredentialsNeverPrint(t *testing.T) {
	c := NewCredentials(canaryKey, canarySecret)
	type wrapper struct {
		Name  string
		Creds Credentials
	}
	w := wrapper{"live", c}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "creds", c, "wrapped", w)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "creds", c)
	js, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		c.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c, c), fmt.Sprintf("%v %+v %#v", w, w, w),
		fmt.Sprint(&c), string(js), logs.String(), fmt.Errorf("bad key %v", c).Error(),
	} {
		assertNoCanary(t, "printed credentials", s)
		if !strings.Contains(s, Redacted) {
			t.Errorf("printed credentials %q do not say %s", s, Redacted)
		}
	}
	// a whole Config, as someone might log it at start
	cfg := Config{Exchange: "binance", Credentials: c}
	var cfgLogs bytes.Buffer
	slog.New(slog.NewJSONHandler(&cfgLogs, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewTextHandler(&cfgLogs, nil)).Info("config", "cfg", cfg, "ptr", &cfg)
	cfgJSON, _ := json.Marshal(cfg)
	for _, s := range []string{cfgLogs.String(), string(cfgJSON), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg)} {
		assertNoCanary(t, "printed config", s)
	}
	if got := c.Redact("k=" + canaryKey + " s=" + canarySecret); got != "k=[REDACTED] s=[REDACTED]" {
		t.Errorf("Credentials.Redact() = %q; want both redacted", got)
	}
	if (Credentials{}).String() != "Credentials{api_key: secret:}" {
		t.Errorf("empty Credentials print %q", Credentials{}.String())
	}
}

func writeKeyFile(t *testing.T, body string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "binance.key")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadCredentials(t *testing.T) {
	good := fmt.Sprintf("api_key: %s\nsecret: %s\ncreated: 2026-01-02\n", canaryKey, canarySecret)
	env := map[string]string{"WK": canaryKey, "WS": canarySecret, "EMPTY": ""}
	getenv := func(k string) string { return env[k] }

	c, err := LoadCredentials(CredentialSource{APIKeyEnv: "WK", SecretEnv: "WS", Getenv: getenv})
	if err != nil || c.apiKey != canaryKey || c.secret != canarySecret {
		t.Errorf("LoadCredentials(env) = %v, %v; want the canary pair", c, err)
	}
	c, err = LoadCredentials(CredentialSource{File: writeKeyFile(t, good, 0o600)})
	if err != nil || c.apiKey != canaryKey || c.secret != canarySecret || !c.Created.Equal(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("LoadCredentials(0600 file) = %v (created %v), %v; want the canary pair created 2026-01-02", c, c.Created, err)
	}
	if _, err := LoadCredentials(CredentialSource{File: writeKeyFile(t, good, 0o400)}); err != nil {
		t.Errorf("LoadCredentials(0400 file) = %v; want ok", err)
	}

	for _, tc := range []struct {
		name string
		src  CredentialSource
		want string
	}{
		{"group-readable file", CredentialSource{File: writeKeyFile(t, good, 0o640)}, "0640"},
		{"world-readable file", CredentialSource{File: writeKeyFile(t, good, 0o644)}, "0644"},
		{"missing file", CredentialSource{File: filepath.Join(t.TempDir(), "nope")}, "no such file"},
		{"directory", CredentialSource{File: t.TempDir()}, "not a regular file"},
		{"no secret", CredentialSource{File: writeKeyFile(t, "api_key: "+canaryKey+"\n", 0o600)}, "both required"},
		{"unknown field", CredentialSource{File: writeKeyFile(t, good+"passphrase: x\n", 0o600)}, "not YAML"},
		{"not yaml", CredentialSource{File: writeKeyFile(t, canarySecret+": [", 0o600)}, "not YAML"},
		{"bad created", CredentialSource{File: writeKeyFile(t, "api_key: a\nsecret: b\ncreated: soon\n", 0o600)}, "YYYY-MM-DD"},
		{"unset env", CredentialSource{APIKeyEnv: "WK", SecretEnv: "EMPTY", Getenv: getenv}, "must both be set"},
		{"half env", CredentialSource{APIKeyEnv: "WK", Getenv: getenv}, "both the key and the secret"},
		{"env and file", CredentialSource{APIKeyEnv: "WK", SecretEnv: "WS", File: "x", Getenv: getenv}, "not both"},
		{"nothing", CredentialSource{}, "no source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadCredentials(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadCredentials() = %v; want an error containing %q", err, tc.want)
			}
			if err != nil {
				assertNoCanary(t, "credential error", err.Error())
			}
		})
	}
}

func TestRedact(t *testing.T) {
	sig := "3c5fa7b0f1d2e3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbcc"
	for _, tc := range []struct{ in, want string }{
		{
			"binance GET http://127.0.0.1:1/api/v3/account?timestamp=1&recvWindow=10000&signature=" + sig + " 500",
			"binance GET http://127.0.0.1:1/api/v3/account?timestamp=1&recvWindow=10000&signature=[REDACTED] 500",
		},
		{`Network error: Post "http://h/api/v3/order": EOF body symbol=BTCUSDT&signature=` + sig, `Network error: Post "http://h/api/v3/order": EOF body symbol=BTCUSDT&signature=[REDACTED]`},
		{"headers map[X-Mbx-Apikey:[" + canaryKey + "]]", "headers map[X-Mbx-Apikey:[[REDACTED]]]"},
		{`{"X-MBX-APIKEY": "abcd1234"}`, `{"X-MBX-APIKEY": "[REDACTED]"}`},
		{"apiKey=abc123def&secret=xyz789", "apiKey=[REDACTED]&secret=[REDACTED]"},
		{`{"apiKey":"k1k1k1","password":"p1p1"}`, `{"apiKey":"[REDACTED]","password":"[REDACTED]"}`},
		{"the secret " + canarySecret + " leaked, the key too: " + canaryKey, "the secret [REDACTED] leaked, the key too: [REDACTED]"},
		{"nothing to hide: Order does not exist.", "nothing to hide: Order does not exist."},
	} {
		if got := Redact(tc.in, canaryKey, canarySecret); got != tc.want {
			t.Errorf("Redact(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
	odd := "s3cr+t/with=chars"
	if got := Redact("q?secretval="+"s3cr%2Bt%2Fwith%3Dchars", odd); strings.Contains(got, "s3cr%2Bt") {
		t.Errorf("Redact(url-encoded secret) = %q; want it gone", got)
	}
	if got := Redact("abc", "ab"); got != "abc" {
		t.Errorf("Redact with a 2-char secret = %q; want the text untouched", got)
	}
}

func TestCheckKey(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	young := fakebinance.Restrictions{EnableReading: true, EnableSpotAndMarginTrading: true, IPRestrict: true, CreateTime: now.AddDate(0, 0, -10)}
	for _, tc := range []struct {
		name      string
		r         fakebinance.Restrictions
		allow     bool
		created   time.Time
		wantErr   error
		rotation  bool
		warnings  int
		withdraws bool
	}{
		{"trade-only key", young, false, time.Time{}, nil, false, 0, false},
		{"withdrawals refused", func() fakebinance.Restrictions { r := young; r.EnableWithdrawals = true; return r }(), false, time.Time{}, ErrWithdrawalsEnabled, false, 0, true},
		{"withdrawals allowed by override", func() fakebinance.Restrictions { r := young; r.EnableWithdrawals = true; return r }(), true, time.Time{}, nil, false, 1, true},
		{"cannot trade", func() fakebinance.Restrictions { r := young; r.EnableSpotAndMarginTrading = false; return r }(), false, time.Time{}, ErrCannotTrade, false, 0, false},
		{"old by exchange date", func() fakebinance.Restrictions { r := young; r.CreateTime = now.AddDate(0, 0, -120); return r }(), false, time.Time{}, nil, true, 1, false},
		{"old by configured date", young, false, now.AddDate(0, -4, 0), nil, true, 1, false},
		{"no ip allowlist, extra rights", func() fakebinance.Restrictions { r := young; r.IPRestrict = false; r.EnableFutures = true; return r }(), false, time.Time{}, nil, false, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newRig(t, fakebinance.Options{Restrictions: &tc.r}, func(c *Config) { c.AllowWithdrawalKeys = tc.allow; c.KeyCreated = tc.created })
			rep, err := rg.ex.CheckKey(tctx(t), now)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("CheckKey() error = %v; want %v", err, tc.wantErr)
			}
			if !rep.Checked || rep.CanWithdraw != tc.withdraws || rep.RotationDue != tc.rotation || len(rep.Warnings) != tc.warnings {
				t.Errorf("CheckKey() = %+v; want checked, withdraw=%v rotation=%v, %d warnings", rep, tc.withdraws, tc.rotation, len(rep.Warnings))
			}
			if tc.rotation && !strings.Contains(rg.logs.String(), "rotation period") {
				t.Errorf("no rotation warning logged: %s", rg.logs.String())
			}
			var sapi int
			for _, q := range rg.fake.Requests() {
				if q.Path == "/sapi/v1/account/apiRestrictions" && q.Signed {
					sapi++
				}
			}
			if sapi != 1 {
				t.Errorf("signed apiRestrictions calls = %d; want 1", sapi)
			}
		})
	}

	t.Run("no key", func(t *testing.T) {
		rg := newRig(t, fakebinance.Options{}, func(c *Config) { c.Credentials = Credentials{} })
		if _, err := rg.ex.CheckKey(tctx(t), now); err == nil {
			t.Error("CheckKey() without a key = nil; want an error")
		}
	})
	t.Run("sandbox skips the check", func(t *testing.T) {
		ex, err := New(Config{Exchange: "binance", Sandbox: true, Credentials: NewCredentials("k", "s"), KeyCreated: now.AddDate(-1, 0, 0)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := ex.CheckKey(tctx(t), now)
		if err != nil || rep.Checked || !rep.RotationDue {
			t.Errorf("CheckKey(sandbox) = %+v, %v; want unchecked, rotation due, no error", rep, err)
		}
	})
	t.Run("exchange without the endpoint", func(t *testing.T) {
		ex, err := New(Config{Exchange: "kraken", Credentials: NewCredentials("k", "s")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := ex.CheckKey(tctx(t), now)
		if err != nil || rep.Checked || len(rep.Warnings) == 0 {
			t.Errorf("CheckKey(kraken) = %+v, %v; want unchecked with a warning", rep, err)
		}
	})
}

func TestLiveAllowed(t *testing.T) {
	for _, tc := range []struct {
		mode string
		flag bool
		want bool
	}{{"live", true, true}, {"live", false, false}, {"paper", true, false}, {"", true, false}, {"LIVE", true, false}} {
		if got := LiveAllowed(tc.mode, tc.flag); got != tc.want {
			t.Errorf("LiveAllowed(%q, %v) = %v; want %v", tc.mode, tc.flag, got, tc.want)
		}
	}
}

// The key check is bounded and retried like any other read: a stalled
// reply costs CheckTimeout per attempt, not ccxt's 30 s, and one transient
// fault does not abort the start.
func TestCheckKeyBoundedAndRetried(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	r := fakebinance.Restrictions{EnableReading: true, EnableSpotAndMarginTrading: true, IPRestrict: true, CreateTime: now.AddDate(0, 0, -10)}
	const path = "/sapi/v1/account/apiRestrictions"
	bounded := func(c *Config) {
		c.CheckTimeout, c.CheckAttempts, c.CheckBackoff = 300*time.Millisecond, 3, 10*time.Millisecond
	}
	calls := func(rg *rig) int {
		n := 0
		for _, q := range rg.fake.Requests() {
			if q.Path == path {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		name  string
		fault fakebinance.Fault
		calls int
	}{
		{"503 once, then ok", fakebinance.Fault{Path: path, Kind: fakebinance.FaultUnavailable}, 2},
		{"connection dropped once, then ok", fakebinance.Fault{Path: path, Kind: fakebinance.FaultDrop}, 2},
		{"stalled once, then ok", fakebinance.Fault{Path: path, Kind: fakebinance.FaultHang}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newRig(t, fakebinance.Options{Restrictions: &r, HangLimit: 20 * time.Second}, bounded)
			if err := rg.fake.Inject(tc.fault); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			rep, err := rg.ex.CheckKey(tctx(t), now)
			if err != nil {
				t.Fatalf("CheckKey() after one %s = %v; want it retried and checked", tc.fault.Kind, err)
			}
			if !rep.Checked {
				t.Errorf("CheckKey() = %+v; want checked", rep)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("CheckKey() took %s; want about one CheckTimeout at most", el)
			}
			if n := calls(rg); n != tc.calls {
				t.Errorf("apiRestrictions requests = %d; want %d", n, tc.calls)
			}
		})
	}
	t.Run("stalled every time", func(t *testing.T) {
		rg := newRig(t, fakebinance.Options{Restrictions: &r, HangLimit: 20 * time.Second}, bounded)
		if err := rg.fake.Inject(fakebinance.Fault{Path: path, Kind: fakebinance.FaultHang, Times: 10}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := rg.ex.CheckKey(tctx(t), now)
		el := time.Since(start)
		if err == nil || executor.KindOf(err) != executor.KindNetwork || !strings.Contains(err.Error(), "3 attempts") {
			t.Fatalf("CheckKey() against a stalled exchange = %v; want a network error after 3 attempts", err)
		}
		// 3 × 300 ms + 10 + 20 ms of backoff, far below ccxt's 30 s
		if el < 900*time.Millisecond || el > 5*time.Second {
			t.Errorf("CheckKey() took %s; want 3 bounded attempts (~0.93 s)", el)
		}
	})
	t.Run("a refusal is not retried", func(t *testing.T) {
		rg := newRig(t, fakebinance.Options{Restrictions: &r}, bounded)
		if err := rg.fake.Inject(fakebinance.Fault{Path: path, Kind: fakebinance.FaultBan, RetryAfter: time.Minute}); err != nil {
			t.Fatal(err)
		}
		before := calls(rg)
		if _, err := rg.ex.CheckKey(tctx(t), now); executor.KindOf(err) != executor.KindBanned {
			t.Fatalf("CheckKey() when banned = %v; want the ban, not retried", err)
		}
		if n := calls(rg) - before; n != 1 {
			t.Errorf("apiRestrictions requests when banned = %d; want 1", n)
		}
	})
}
