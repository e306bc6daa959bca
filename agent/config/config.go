// Package config owns Warden's configuration file: its YAML shape, the
// built-in defaults that make a fresh clone run offline, strict loading
// (unknown keys are errors) and environment overrides for secrets.
//
// Secrets never live in the file itself: the file names the environment
// variables (or a 0600 file) that hold them.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"

	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/schemas"
)

// Config is the whole configuration. The zero value is not valid; use
// Default or Load.
type Config struct {
	// Mode is "paper" (default) or "live". Live trading also needs --live
	// on the command line.
	Mode string `yaml:"mode"`
	// DB is the path of the SQLite audit store.
	DB string `yaml:"db"`
	// Schedule is the cron spec of `warden run` (robfig/cron, with
	// descriptors such as "@every 1h" or "@hourly").
	Schedule string `yaml:"schedule"`
	// Symbols are the markets the advisor is asked about.
	Symbols []string `yaml:"symbols"`
	// Timeframe of the candles in each snapshot: 1h, 4h or 1d.
	Timeframe string `yaml:"timeframe"`
	// Candles is how many closed candles a snapshot holds.
	Candles int `yaml:"candles"`
	// Policy is the path of a CEL policy file; empty means the embedded
	// default policy.
	Policy string `yaml:"policy"`
	// PolicyTests is the path of the policy tests a reloaded policy must
	// pass; empty means the tests file beside Policy, if any.
	PolicyTests string   `yaml:"policy_tests"`
	Limits      Limits   `yaml:"limits"`
	Advisor     Advisor  `yaml:"advisor"`
	Exchange    Exchange `yaml:"exchange"`
	Paper       Paper    `yaml:"paper"`
	Executor    Executor `yaml:"executor"`
	Breakers    Breakers `yaml:"breakers"`
	Notify      Notify   `yaml:"notify"`
	Metrics     Metrics  `yaml:"metrics"`
}

// Limits are the hard limits in Go that no policy edit can remove.
type Limits struct {
	// MaxOrderNotional caps any single order, in the quote currency.
	MaxOrderNotional decimal.Decimal `yaml:"max_order_notional"`
}

// Advisor selects and configures the model side.
type Advisor struct {
	// Kind is baseline (default, offline), openai or replay.
	Kind   string       `yaml:"kind"`
	OpenAI OpenAI       `yaml:"openai"`
	Replay ReplayConfig `yaml:"replay"`
}

// OpenAI configures any OpenAI-compatible chat completions endpoint.
type OpenAI struct {
	BaseURL           string        `yaml:"base_url"`
	Model             string        `yaml:"model"`
	APIKeyEnv         string        `yaml:"api_key_env"`
	Temperature       *float64      `yaml:"temperature"`
	MaxTokens         int           `yaml:"max_tokens"`
	Timeout           time.Duration `yaml:"timeout"`
	MaxRetries        int           `yaml:"max_retries"`
	StructuredOutputs bool          `yaml:"structured_outputs"`
	RepairAttempts    int           `yaml:"repair_attempts"`
	DailyTokenBudget  int64         `yaml:"daily_token_budget"`
	// TrainingCutoff is the model's training cutoff (YYYY-MM-DD). A
	// backtest over data before it is reported as not evidence.
	TrainingCutoff string `yaml:"training_cutoff"`
}

// ReplayConfig answers from recorded responses.
type ReplayConfig struct {
	// File is a JSONL file of recorded responses keyed by run id or index.
	File string `yaml:"file"`
	// DB is a recorded warden.db: each run is answered with the response
	// recorded by the run that decided at the same time.
	DB string `yaml:"db"`
}

// Exchange configures the live exchange (ccxt).
type Exchange struct {
	ID                  string `yaml:"id"`
	APIKeyEnv           string `yaml:"api_key_env"`
	APISecretEnv        string `yaml:"api_secret_env"`
	CredentialsFile     string `yaml:"credentials_file"`
	AllowWithdrawalKeys bool   `yaml:"allow_withdrawal_keys"`
	// KeyCreated is when the API key was made (YYYY-MM-DD), for rotation
	// warnings.
	KeyCreated      string `yaml:"key_created"`
	KeyRotationDays int    `yaml:"key_rotation_days"`
	Sandbox         bool   `yaml:"sandbox"`
	// BaseURL sends every request to this scheme://host instead of the
	// exchange's own hosts (a proxy, or a local fake in tests).
	BaseURL string `yaml:"base_url"`
}

// Paper configures the paper exchange.
type Paper struct {
	// Data is "bundled" (replay of the bundled candles, offline) or
	// "live" (public market data from Exchange.ID, no keys).
	Data      string          `yaml:"data"`
	StartCash decimal.Decimal `yaml:"start_cash"`
	// ReplayStart is where a fresh bundled replay begins (RFC 3339). Each
	// `run` advances the replay clock by one timeframe.
	ReplayStart string          `yaml:"replay_start"`
	MakerFeeBps decimal.Decimal `yaml:"maker_fee_bps"`
	TakerFeeBps decimal.Decimal `yaml:"taker_fee_bps"`
	SlippageBps decimal.Decimal `yaml:"slippage_bps"`
	SpreadBps   decimal.Decimal `yaml:"spread_bps"`
	// Participation is the share of a candle's volume an order may fill.
	Participation decimal.Decimal `yaml:"participation"`
	Latency       time.Duration   `yaml:"latency"`
}

// Executor configures order placement.
type Executor struct {
	SubmitTimeout      time.Duration `yaml:"submit_timeout"`
	MaxOrdersPerMinute int           `yaml:"max_orders_per_minute"`
	// ReconcileEvery is how often a full reconciliation (balances, foreign
	// orders, every journaled order) runs; cycles in between only poll
	// their open orders. 0 reconciles at every cycle.
	ReconcileEvery time.Duration `yaml:"reconcile_every"`
}

// Breakers configures the circuit breakers that switch to safe mode.
type Breakers struct {
	Cooldown          time.Duration `yaml:"cooldown"`
	MaxConsecutiveErr int           `yaml:"max_consecutive_errors"`
	ShockATRMultiple  float64       `yaml:"shock_atr_multiple"`
	DriftPSI          float64       `yaml:"drift_psi"`
	DriftReference    int           `yaml:"drift_reference_bars"`
	DriftRecent       int           `yaml:"drift_recent_bars"`
	MaxGapBars        int           `yaml:"max_gap_bars"`
	MaxDataAge        time.Duration `yaml:"max_data_age"`
}

// Notify configures Slack and Telegram. Tokens and webhook URLs are read
// from the named environment variables.
type Notify struct {
	Slack    Slack    `yaml:"slack"`
	Telegram Telegram `yaml:"telegram"`
}

// Slack posts through an incoming webhook or chat.postMessage.
type Slack struct {
	WebhookURLEnv string `yaml:"webhook_url_env"`
	TokenEnv      string `yaml:"token_env"`
	Channel       string `yaml:"channel"`
	APIURL        string `yaml:"api_url"` // override, for tests and proxies
}

// Telegram posts with the Bot API sendMessage.
type Telegram struct {
	TokenEnv  string `yaml:"token_env"`
	ChatID    string `yaml:"chat_id"`
	ServerURL string `yaml:"server_url"` // override, for tests and proxies
}

// Metrics configures the Prometheus endpoint, off when Listen is empty.
type Metrics struct {
	Listen       string `yaml:"listen"`
	AllowNonLoop bool   `yaml:"allow_non_loopback"`
}

// Default is the configuration of a fresh clone: paper trading over the
// bundled candles with the baseline advisor and the default policy.
func Default() Config {
	return Config{
		Mode:      "paper",
		DB:        "./warden.db",
		Schedule:  "@hourly",
		Symbols:   []string{"BTC/USDT", "ETH/USDT"},
		Timeframe: "1h",
		Candles:   200,
		Limits:    Limits{MaxOrderNotional: decimal.NewFromInt(1000)},
		Advisor: Advisor{
			Kind: "baseline",
			OpenAI: OpenAI{
				BaseURL:           "https://api.openai.com/v1",
				APIKeyEnv:         "OPENAI_API_KEY",
				MaxTokens:         2000,
				Timeout:           60 * time.Second,
				MaxRetries:        3,
				StructuredOutputs: true,
				RepairAttempts:    1,
				DailyTokenBudget:  2_000_000,
			},
		},
		Exchange: Exchange{
			ID:              "binance",
			APIKeyEnv:       "WARDEN_API_KEY",
			APISecretEnv:    "WARDEN_API_SECRET",
			KeyRotationDays: 90,
		},
		Paper: Paper{
			Data:          "bundled",
			StartCash:     decimal.NewFromInt(10000),
			ReplayStart:   "2022-06-01T00:00:00Z",
			MakerFeeBps:   decimal.NewFromInt(10),
			TakerFeeBps:   decimal.NewFromInt(10),
			SlippageBps:   decimal.NewFromInt(2),
			SpreadBps:     decimal.NewFromInt(2),
			Participation: decimal.RequireFromString("0.1"),
		},
		Executor: Executor{
			SubmitTimeout:      10 * time.Second,
			MaxOrdersPerMinute: 6,
			ReconcileEvery:     5 * time.Minute,
		},
		Breakers: Breakers{
			Cooldown:          4 * time.Hour,
			MaxConsecutiveErr: 3,
			ShockATRMultiple:  6,
			DriftPSI:          1.0,
			DriftReference:    500,
			DriftRecent:       48,
			MaxGapBars:        3,
			MaxDataAge:        2 * time.Hour,
		},
	}
}

// Load reads a YAML file over the defaults. Unknown keys, bad values and a
// missing file are errors.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse reads YAML bytes over the defaults; name is used in errors.
func Parse(name string, data []byte) (Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	// A second document is as suspicious as trailing JSON.
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return Config{}, fmt.Errorf("config %s: more than one YAML document", name)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	return c, nil
}

// Validate checks every value and returns all problems at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Mode {
	case "paper", "live":
	default:
		bad("mode: %q is not paper or live", c.Mode)
	}
	if strings.TrimSpace(c.DB) == "" {
		bad("db: empty path")
	}
	if _, err := cron.ParseStandard(c.Schedule); err != nil {
		bad("schedule: %v", err)
	}
	if len(c.Symbols) == 0 {
		bad("symbols: at least one is needed")
	}
	seen := map[string]bool{}
	for _, s := range c.Symbols {
		if !schemas.ValidSymbol(s) {
			bad("symbols: %q is not BASE/QUOTE in upper case", s)
		}
		if seen[s] {
			bad("symbols: %q listed twice", s)
		}
		seen[s] = true
	}
	if _, err := market.Step(c.Timeframe); err != nil {
		bad("timeframe: %v", err)
	}
	if c.Candles < 50 || c.Candles > 1000 {
		bad("candles: %d is outside 50..1000", c.Candles)
	}
	if !c.Limits.MaxOrderNotional.IsPositive() {
		bad("limits.max_order_notional: must be > 0")
	}
	switch c.Advisor.Kind {
	case "baseline":
	case "replay":
		if (c.Advisor.Replay.File == "") == (c.Advisor.Replay.DB == "") {
			bad("advisor.replay: set exactly one of file and db")
		}
		if c.Advisor.Replay.DB != "" && c.Advisor.Replay.DB == c.DB {
			bad("advisor.replay.db: must not be the database this run writes to")
		}
	case "openai":
		o := c.Advisor.OpenAI
		if o.Model == "" {
			bad("advisor.openai.model: required for the openai advisor")
		}
		if o.BaseURL == "" {
			bad("advisor.openai.base_url: required")
		}
		if o.APIKeyEnv == "" {
			bad("advisor.openai.api_key_env: required (the name of the variable, not the key)")
		}
		if o.Timeout <= 0 {
			bad("advisor.openai.timeout: must be > 0")
		}
		if o.RepairAttempts < 0 || o.RepairAttempts > 3 {
			bad("advisor.openai.repair_attempts: %d is outside 0..3", o.RepairAttempts)
		}
		if o.Temperature != nil && (*o.Temperature < 0 || *o.Temperature > 2) {
			bad("advisor.openai.temperature: %v is outside 0..2", *o.Temperature)
		}
		if o.TrainingCutoff != "" {
			if _, err := time.Parse("2006-01-02", o.TrainingCutoff); err != nil {
				bad("advisor.openai.training_cutoff: %v", err)
			}
		}
	default:
		bad("advisor.kind: %q is not baseline, openai or replay", c.Advisor.Kind)
	}
	if looksLikeSecret(c.Advisor.OpenAI.APIKeyEnv) || looksLikeSecret(c.Exchange.APIKeyEnv) || looksLikeSecret(c.Exchange.APISecretEnv) {
		bad("an *_env setting holds what looks like a secret: put the name of an environment variable there, never the key itself")
	}
	switch c.Paper.Data {
	case "bundled", "live":
	default:
		bad("paper.data: %q is not bundled or live", c.Paper.Data)
	}
	if !c.Paper.StartCash.IsPositive() {
		bad("paper.start_cash: must be > 0")
	}
	if _, err := time.Parse(time.RFC3339, c.Paper.ReplayStart); err != nil {
		bad("paper.replay_start: %v", err)
	}
	for name, d := range map[string]decimal.Decimal{
		"paper.maker_fee_bps": c.Paper.MakerFeeBps, "paper.taker_fee_bps": c.Paper.TakerFeeBps,
		"paper.slippage_bps": c.Paper.SlippageBps, "paper.spread_bps": c.Paper.SpreadBps,
	} {
		if d.IsNegative() || d.GreaterThan(decimal.NewFromInt(1000)) {
			bad("%s: %s is outside 0..1000", name, d)
		}
	}
	if !c.Paper.Participation.IsPositive() || c.Paper.Participation.GreaterThan(decimal.NewFromInt(1)) {
		bad("paper.participation: %s is outside (0, 1]", c.Paper.Participation)
	}
	if c.Executor.ReconcileEvery < 0 {
		bad("executor.reconcile_every: must be ≥ 0")
	}
	if c.Executor.SubmitTimeout <= 0 {
		bad("executor.submit_timeout: must be > 0")
	}
	if c.Executor.MaxOrdersPerMinute < 1 {
		bad("executor.max_orders_per_minute: must be ≥ 1")
	}
	b := c.Breakers
	if b.Cooldown <= 0 || b.MaxConsecutiveErr < 1 || b.ShockATRMultiple <= 0 || b.DriftPSI <= 0 ||
		b.DriftReference < 50 || b.DriftRecent < 10 || b.MaxGapBars < 0 || b.MaxDataAge <= 0 {
		bad("breakers: cooldown, max_consecutive_errors, shock_atr_multiple, drift_psi, drift_max_data_age must be > 0, drift_reference_bars ≥ 50, drift_recent_bars ≥ 10")
	}
	if c.Exchange.KeyCreated != "" {
		if _, err := time.Parse("2006-01-02", c.Exchange.KeyCreated); err != nil {
			bad("exchange.key_created: %v", err)
		}
	}
	if c.Notify.Telegram.TokenEnv != "" && c.Notify.Telegram.ChatID == "" {
		bad("notify.telegram.chat_id: required when token_env is set")
	}
	if c.Notify.Slack.TokenEnv != "" && c.Notify.Slack.Channel == "" {
		bad("notify.slack.channel: required when token_env is set")
	}
	return errors.Join(errs...)
}

// Env returns the value of the environment variable name, and whether it
// was set and non-empty.
func Env(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	v, ok := os.LookupEnv(name)
	return v, ok && v != ""
}

// looksLikeSecret reports whether an *_env value is a key rather than the
// name of a variable: names are short upper-case identifiers.
func looksLikeSecret(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return true
		}
	}
	return len(v) > 64
}
