// Package config owns Warden's configuration file: its YAML shape, the
// built-in defaults that make a fresh clone run offline, strict loading
// (unknown keys are errors) and environment overrides for secrets.
//
// Secrets never live in the file itself: the file names the environment
// variables (or a 0600 file) that hold them, and a secret pasted where a
// variable's name belongs is refused with the field it is in.
//
// Relative paths written in a config file are relative to the file's
// directory, not to the working directory: a cron job or a shell in
// another directory opens the same database and policy.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"

	"github.com/warden-trading/warden/agent/maintenance"
	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/policy"
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
	// Maintenance lists the exchange's maintenance windows: no new orders
	// while one is open (CEL system.in_maintenance; the default policy's
	// rule exchange_open). A window that does not parse is a config error
	// with its line.
	Maintenance maintenance.Windows `yaml:"maintenance"`
	// Alerts are the threshold alerts: warnings before a limit is hit.
	Alerts Alerts `yaml:"alerts"`
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
	UI          UI       `yaml:"ui"`
	Approval    Approval `yaml:"approval"`
	Audit       Audit    `yaml:"audit"`
}

// Limits are the hard limits in Go that no policy edit can remove.
type Limits struct {
	// MaxOrderNotional caps any single order, in the quote currency.
	MaxOrderNotional decimal.Decimal `yaml:"max_order_notional"`
	// MaxPriceDeviationPct bounds how far over the mid a limit buy may be
	// priced (a limit sell under it), in % (policy.RuleLimitPriceBand).
	MaxPriceDeviationPct decimal.Decimal `yaml:"max_price_deviation_pct"`
}

// PolicyLimits are the validator's hard limits for this config: the
// order cap, and the fee a buy pays in the bought asset, which the stop
// check (policy.RuleLimitStopPlaceable) takes off what the stop sells.
// On the paper exchange (paper true: paper mode and backtests) that fee
// is the larger of the paper fees when it is above policy.DefaultBaseFee.
func (c *Config) PolicyLimits(paper bool) policy.Limits {
	l := policy.Limits{MaxOrderNotional: c.Limits.MaxOrderNotional, MaxPriceDeviationPct: c.Limits.MaxPriceDeviationPct}
	if paper {
		l.BaseFee = decimal.Max(c.Paper.MakerFeeBps, c.Paper.TakerFeeBps).Div(decimal.NewFromInt(10000))
	}
	return l
}

// Advisor selects and configures the model side.
type Advisor struct {
	// Kind is baseline (default, offline), openai or replay.
	Kind   string       `yaml:"kind"`
	OpenAI OpenAI       `yaml:"openai"`
	Replay ReplayConfig `yaml:"replay"`
	// Consensus configures kind consensus: several advisors that must
	// agree before a recommendation reaches the validator.
	Consensus Consensus `yaml:"consensus"`
	// Anonymise renders model prompts without absolute dates and with
	// each market's prices rebased to 100 at the first candle shown; the
	// answer is mapped back exactly before validation. Unset: on for the
	// offline replay of bundled history (paper.data bundled) and for
	// backtests, off on live data. See Config.AnonymiseOn.
	Anonymise *bool `yaml:"anonymise"`
}

// AnonymiseOn is whether model prompts are anonymised for a run (not a
// backtest, where it is on unless advisor.anonymise is false).
func (c Config) AnonymiseOn() bool {
	if c.Advisor.Anonymise != nil {
		return *c.Advisor.Anonymise
	}
	return c.ReplaysBundled()
}

// ReplaysBundled is whether the config trades paper on the offline replay
// of the bundled candles: its records carry the replay's (historical)
// clock, not the wall clock.
func (c Config) ReplaysBundled() bool {
	return c.Mode == "paper" && c.Paper.Data == "bundled"
}

// Consensus is the consensus advisor (agent/advisor/consensus).
type Consensus struct {
	// Members are the advisors asked; at least one, none a consensus.
	Members []Member `yaml:"members"`
	// Samples is how many times each member is asked (k ≥ 1; default 1).
	Samples int `yaml:"samples"`
	// Require is all (default) or majority.
	Require string `yaml:"require"`
	// Size is min (default) or median of the agreeing sizes.
	Size string `yaml:"size"`
}

// Member is one advisor of a consensus. An openai member's unset fields
// (base_url, api_key_env, timeout, temperature, ...) are taken from
// advisor.openai.
type Member struct {
	// Name identifies the member in reasons and the audit (default: the
	// model, or the kind).
	Name string `yaml:"name"`
	// Kind is baseline, openai, replay or perturbed: the stability probe,
	// an openai model asked with dates removed and prices rescaled by a
	// random factor (recorded), its answer mapped back.
	Kind   string       `yaml:"kind"`
	OpenAI OpenAI       `yaml:"openai"`
	Replay ReplayConfig `yaml:"replay"`
}

// MemberName is m's name, or its default: the model, else the kind.
func (m Member) MemberName() string {
	switch {
	case m.Name != "":
		return m.Name
	case m.Kind == "openai" && m.OpenAI.Model != "":
		return m.OpenAI.Model
	case m.Kind == "perturbed" && m.OpenAI.Model != "":
		return m.OpenAI.Model + "-perturbed"
	}
	return m.Kind
}

// MemberOpenAI is an openai member's settings over advisor.openai's.
func (a Advisor) MemberOpenAI(m Member) OpenAI {
	o, base := m.OpenAI, a.OpenAI
	if o.BaseURL == "" {
		o.BaseURL = base.BaseURL
	}
	if o.Model == "" {
		o.Model = base.Model
	}
	if o.APIKeyEnv == "" {
		o.APIKeyEnv = base.APIKeyEnv
	}
	if o.Temperature == nil {
		o.Temperature = base.Temperature
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = base.MaxTokens
	}
	if o.Timeout == 0 {
		o.Timeout = base.Timeout
	}
	if o.Deadline == 0 {
		o.Deadline = base.Deadline
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = base.MaxRetries
	}
	if !o.StructuredOutputs {
		o.StructuredOutputs = base.StructuredOutputs
	}
	if o.RepairAttempts == 0 {
		o.RepairAttempts = base.RepairAttempts
	}
	if o.DailyTokenBudget == 0 {
		o.DailyTokenBudget = base.DailyTokenBudget
	}
	if o.TrainingCutoff == "" {
		o.TrainingCutoff = base.TrainingCutoff
	}
	if o.Price == nil && o.Model == base.Model {
		o.Price = base.Price
	}
	return o
}

// OpenAI configures any OpenAI-compatible chat completions endpoint.
type OpenAI struct {
	BaseURL     string   `yaml:"base_url"`
	Model       string   `yaml:"model"`
	APIKeyEnv   string   `yaml:"api_key_env"`
	Temperature *float64 `yaml:"temperature"`
	// MaxTokens caps the completion; 0 (default) derives it from the
	// response schema's largest answer (see openai.MaxAnswerTokens).
	MaxTokens int           `yaml:"max_tokens"`
	Timeout   time.Duration `yaml:"timeout"`
	// Deadline bounds one cycle's advice: every attempt, retry wait and
	// repair share it. 0 (default) means the smaller of half the
	// schedule's interval and 3 minutes.
	Deadline          time.Duration `yaml:"deadline"`
	MaxRetries        int           `yaml:"max_retries"`
	StructuredOutputs bool          `yaml:"structured_outputs"`
	RepairAttempts    int           `yaml:"repair_attempts"`
	DailyTokenBudget  int64         `yaml:"daily_token_budget"`
	// TrainingCutoff is the model's training cutoff (YYYY-MM-DD). A
	// backtest over data before it is reported as not evidence.
	TrainingCutoff string `yaml:"training_cutoff"`
	// Price is what the model's tokens cost per million, in the quote
	// currency, for the reliability and cost figures; unset: cost unknown
	// (never reported as zero).
	Price *Price `yaml:"price"`
}

// Price is a model's price per million tokens.
type Price struct {
	InputPerMTok  decimal.Decimal `yaml:"input_per_mtok"`
	OutputPerMTok decimal.Decimal `yaml:"output_per_mtok"`
}

// Prices maps each configured model (advisor.openai and the openai
// members of a consensus) to its price, for those that set one.
func (a Advisor) Prices() map[string]Price {
	out := map[string]Price{}
	if a.OpenAI.Price != nil && a.OpenAI.Model != "" {
		out[a.OpenAI.Model] = *a.OpenAI.Price
	}
	for _, m := range a.Consensus.Members {
		if m.Kind != "openai" && m.Kind != "perturbed" {
			continue
		}
		if o := a.MemberOpenAI(m); o.Price != nil && o.Model != "" {
			out[o.Model] = *o.Price
		}
	}
	return out
}

func (p *Price) check(field string) error {
	if p == nil {
		return nil
	}
	if p.InputPerMTok.IsNegative() || p.OutputPerMTok.IsNegative() {
		return fmt.Errorf("%s: prices must be ≥ 0", field)
	}
	return nil
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

// Notify configures Slack and Telegram. Tokens and webhook URLs are read
// from the named environment variables.
type Notify struct {
	Slack    Slack    `yaml:"slack"`
	Telegram Telegram `yaml:"telegram"`
	Email    Email    `yaml:"email"`
	// Digest is a cron schedule ("0 8 * * MON") on which the review of the
	// audit log since the previous digest is sent to the channels; empty:
	// no digest. warden run sends it at its first cycle at or after the
	// time, once (the outbox remembers it across processes).
	Digest string `yaml:"digest"`
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

// Email sends by SMTP with STARTTLS (default, port 587) or TLS (port
// 465); never in plain text. The username and password are read from the
// named environment variables.
type Email struct {
	Host        string   `yaml:"host"`
	Port        int      `yaml:"port"`     // 0: 587 for starttls, 465 for tls
	Security    string   `yaml:"security"` // starttls (default) or tls
	UsernameEnv string   `yaml:"username_env"`
	PasswordEnv string   `yaml:"password_env"`
	From        string   `yaml:"from"`
	To          []string `yaml:"to"`
}

// Alerts set the thresholds of the warnings sent before a limit is hit,
// each once per threshold per day (agent/alerts). A percentage left out
// takes its default; a negative one switches that alert off.
type Alerts struct {
	Off              bool            `yaml:"off"`
	DayLossPct       decimal.Decimal `yaml:"day_loss_pct"`     // % of the policy's max_day_loss_pct; 70
	DrawdownPct      decimal.Decimal `yaml:"drawdown_pct"`     // % of max_drawdown_pct; 70
	ExposurePct      decimal.Decimal `yaml:"exposure_pct"`     // % of max_exposure_pct; 90
	TokenBudgetPct   decimal.Decimal `yaml:"token_budget_pct"` // % of advisor.openai.daily_token_budget; 80
	ModelErrorPct    decimal.Decimal `yaml:"model_error_pct"`  // % of the last model_error_window calls; 10
	ModelErrorWindow int             `yaml:"model_error_window"`
}

// Metrics configures the Prometheus endpoint, off when Listen is empty.
type Metrics struct {
	Listen       string `yaml:"listen"`
	AllowNonLoop bool   `yaml:"allow_non_loopback"`
}

// UI configures the console (`warden ui`). It listens on loopback unless
// AllowNonLoop is set, and then only with TLS (TLSCert and TLSKey).
type UI struct {
	Listen       string `yaml:"listen"`
	TLSCert      string `yaml:"tls_cert"`
	TLSKey       string `yaml:"tls_key"`
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
		Limits:    Limits{MaxOrderNotional: decimal.NewFromInt(1000), MaxPriceDeviationPct: policy.DefaultMaxPriceDeviationPct},
		Advisor: Advisor{
			Kind: "baseline",
			OpenAI: OpenAI{
				BaseURL:           "https://api.openai.com/v1",
				APIKeyEnv:         "OPENAI_API_KEY",
				Timeout:           60 * time.Second,
				MaxRetries:        3,
				StructuredOutputs: true,
				RepairAttempts:    1,
				DailyTokenBudget:  2_000_000,
			},
			Consensus: Consensus{Samples: 1, Require: "all", Size: "min"},
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
		Breakers: DefaultBreakers(),
		Approval: DefaultApproval(),
		UI:       UI{Listen: "127.0.0.1:8787"},
	}
}

// Load reads a YAML file over the defaults. Unknown keys, bad values, an
// empty file and a missing file are errors. Relative paths set in the
// file (db, policy, policy_tests, advisor.replay.file and .db,
// exchange.credentials_file) are resolved against the file's directory;
// the built-in default db stays relative to the working directory.
func Load(path string) (Config, error) {
	// Not a FIFO or a device: reading one blocks for ever or never ends.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() && !fi.IsDir() {
		return Config{}, fmt.Errorf("config: %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(path, data)
	if err != nil {
		return Config{}, err
	}
	c.resolvePaths(filepath.Dir(path), data)
	return c, nil
}

// pathFields are the paths a config file may set, read leniently to learn
// which ones the file sets.
type pathFields struct {
	DB          *string `yaml:"db"`
	Policy      *string `yaml:"policy"`
	PolicyTests *string `yaml:"policy_tests"`
	Advisor     struct {
		Replay struct {
			File *string `yaml:"file"`
			DB   *string `yaml:"db"`
		} `yaml:"replay"`
	} `yaml:"advisor"`
	Exchange struct {
		CredentialsFile *string `yaml:"credentials_file"`
	} `yaml:"exchange"`
	UI struct {
		TLSCert *string `yaml:"tls_cert"`
		TLSKey  *string `yaml:"tls_key"`
	} `yaml:"ui"`
	Audit struct {
		ArchiveDir *string `yaml:"archive_dir"`
	} `yaml:"audit"`
}

// resolvePaths makes every relative path set in data relative to dir.
func (c *Config) resolvePaths(dir string, data []byte) {
	var set pathFields
	if yaml.Unmarshal(data, &set) != nil {
		return // Parse accepted data; this cannot fail on it
	}
	for _, f := range []struct {
		set *string
		val *string
	}{
		{set.DB, &c.DB}, {set.Policy, &c.Policy}, {set.PolicyTests, &c.PolicyTests},
		{set.Advisor.Replay.File, &c.Advisor.Replay.File}, {set.Advisor.Replay.DB, &c.Advisor.Replay.DB},
		{set.Exchange.CredentialsFile, &c.Exchange.CredentialsFile},
		{set.UI.TLSCert, &c.UI.TLSCert}, {set.UI.TLSKey, &c.UI.TLSKey},
		{set.Audit.ArchiveDir, &c.Audit.ArchiveDir},
	} {
		if f.set != nil && *f.val != "" && !filepath.IsAbs(*f.val) {
			*f.val = filepath.Join(dir, *f.val)
		}
	}
}

// AdviceDeadline is the one deadline of a cycle's advice:
// advisor.openai.deadline, or the smaller of half the schedule's interval
// and 3 minutes.
func (c Config) AdviceDeadline() time.Duration {
	if c.Advisor.OpenAI.Deadline > 0 {
		return c.Advisor.OpenAI.Deadline
	}
	d := 3 * time.Minute
	if iv := ScheduleInterval(c.Schedule); iv > 0 {
		d = min(d, iv/2)
	}
	return d
}

// checkSchedule parses a cron spec and refuses what would not do what it
// says: an @every interval under a second (the cron library runs a
// negative, zero or sub-second one every second: with a model advisor, a
// paid call a second), and a spec with no time to fire on (30 February).
func checkSchedule(spec string) error {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return err
	}
	if d, ok := strings.CutPrefix(strings.TrimSpace(spec), "@every "); ok {
		iv, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return err
		}
		if iv < time.Second {
			return fmt.Errorf("%q: the interval must be at least 1s (%s would run a cycle every second)", spec, iv)
		}
	}
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if sched.Next(from).IsZero() {
		return fmt.Errorf("%q never fires (no such date in the next five years)", spec)
	}
	return nil
}

// ScheduleInterval is the shortest gap between two runs of a cron spec
// over its next 100 runs, or 0 when the spec does not parse.
func ScheduleInterval(spec string) time.Duration {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return 0
	}
	t := sched.Next(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	var shortest time.Duration
	for range 100 {
		n := sched.Next(t)
		if n.IsZero() {
			break
		}
		if gap := n.Sub(t); shortest == 0 || gap < shortest {
			shortest = gap
		}
		t = n
	}
	return shortest
}

// Parse reads YAML bytes over the defaults; name is used in errors.
func Parse(name string, data []byte) (Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); errors.Is(err, io.EOF) {
		// An empty file (or only comments) is a mistake, not "all
		// defaults": run without --config for those.
		return Config{}, fmt.Errorf("config %s: the file is empty (no settings); run without --config for the built-in defaults", name)
	} else if err != nil {
		// The decimal library's error names neither the key nor the
		// line, and stops the decoding: find the values it refused.
		if derr := badDecimals(data); derr != nil {
			err = derr
		}
		return Config{}, fmt.Errorf("config %s: %w", name, withSuggestions(err))
	}
	// A second document is as suspicious as trailing JSON.
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return Config{}, fmt.Errorf("config %s: more than one YAML document", name)
	}
	if err := leadingZeros(data); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	return c, nil
}

// alertDefaults are the alert thresholds whose explicit 0 is refused
// (a zero reads as left out), with the default each takes.
var alertDefaults = map[string]string{
	"alerts.day_loss_pct": "70", "alerts.drawdown_pct": "70", "alerts.exposure_pct": "90",
	"alerts.token_budget_pct": "80", "alerts.model_error_pct": "10",
}

// leadingZero is a number written with a leading zero (0100, 010, 090.5).
var leadingZero = regexp.MustCompile(`^[-+]?0[0-9_]+(\.[0-9_]*)?([eE][-+]?[0-9]+)?$`)

// leadingZeros refuses an unquoted number written with a leading zero:
// the YAML library reads 0100 as octal, so candles: 0100 would be 64 and
// max_orders_per_minute: 010 would be 8, while 090 reads 90 and a decimal
// setting (max_order_notional: 0100) reads 100. Such a value is
// ambiguous, never surely the limit that was meant.
func leadingZeros(data []byte) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil // the decoder has reported it
	}
	var errs []error
	var walk func(n *yaml.Node, key string)
	walk = func(n *yaml.Node, key string) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, key)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if key != "" {
					k = key + "." + k
				}
				walk(n.Content[i+1], k)
			}
		case yaml.ScalarNode:
			if n.Style == 0 && (n.Tag == "!!int" || n.Tag == "!!float") && leadingZero.MatchString(n.Value) {
				errs = append(errs, fmt.Errorf("line %d: %s: %s has a leading zero (YAML reads 0100 as the octal number 64): write the number without it", n.Line, key, n.Value))
			}
			if def, ok := alertDefaults[key]; ok {
				if d, err := decimal.NewFromString(n.Value); err == nil && d.IsZero() {
					// The field reads as left out: 0 would silently be
					// the default.
					errs = append(errs, fmt.Errorf("line %d: %s: 0 would warn at once, at every cycle; leave it out for the default (%s) or give a negative value to switch this alert off", n.Line, key, def))
				}
			}
		}
	}
	walk(&root, "")
	return errors.Join(errs...)
}

// yamlShapes are the config types read by their own UnmarshalYAML, with
// the shape each decodes its node into.
var yamlShapes = map[reflect.Type]reflect.Type{
	reflect.TypeFor[Breakers](): reflect.TypeFor[breakersYAML](),
}

// badDecimals names, with its line, every value of a decimal setting in
// data that is not a decimal number (abc, NaN, 1,000): the decimal
// library's own error names neither.
func badDecimals(data []byte) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil // the decoder has reported it
	}
	decimalType := reflect.TypeFor[decimal.Decimal]()
	var errs []error
	var walk func(n *yaml.Node, t reflect.Type, key string)
	walk = func(n *yaml.Node, t reflect.Type, key string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if shape, ok := yamlShapes[t]; ok {
			t = shape
		}
		switch {
		case n.Kind == yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, t, key)
			}
		case n.Kind == yaml.AliasNode && n.Alias != nil:
			walk(n.Alias, t, key)
		case t == decimalType:
			if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
				return // the decoder says what is wrong with those
			}
			if _, err := decimal.NewFromString(n.Value); err != nil {
				errs = append(errs, fmt.Errorf("line %d: %s: %q is not a decimal number", n.Line, key, n.Value))
			}
		case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if ft, ok := yamlFieldType(t, k); ok {
					walk(n.Content[i+1], ft, joinKey(key, k))
				}
			}
		case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], t.Elem(), joinKey(key, n.Content[i].Value))
			}
		case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, t.Elem(), fmt.Sprintf("%s[%d]", key, i))
			}
		}
	}
	walk(&root, reflect.TypeFor[Config](), "")
	return errors.Join(errs...)
}

// yamlFieldType is the type of the field of struct t that yaml.v3 reads
// key into, inlined structs included.
func yamlFieldType(t reflect.Type, key string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			if ft, ok := yamlFieldType(f.Type, key); ok {
				return ft, true
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name == key {
			return f.Type, true
		}
	}
	return nil, false
}

func joinKey(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
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
	if err := checkSchedule(c.Schedule); err != nil {
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
	if d := c.Limits.MaxPriceDeviationPct; !d.IsPositive() || d.GreaterThan(decimal.NewFromInt(50)) {
		bad("limits.max_price_deviation_pct: %s is outside (0, 50]: a limit buy may be priced at most that %% over the mid, a sell under it", d)
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
		if o.Deadline < 0 {
			bad("advisor.openai.deadline: must be ≥ 0 (0: the smaller of half the schedule interval and 3m)")
		}
		if o.MaxTokens < 0 {
			bad("advisor.openai.max_tokens: must be ≥ 0 (0: derived from the response schema)")
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
		if err := o.Price.check("advisor.openai.price"); err != nil {
			errs = append(errs, err)
		}
	case "consensus":
		errs = append(errs, c.validateConsensus()...)
	default:
		bad("advisor.kind: %q is not baseline, openai, replay or consensus", c.Advisor.Kind)
	}
	errs = append(errs, c.pastedSecrets()...)
	errs = append(errs, c.validateApproval()...)
	errs = append(errs, c.validateAudit()...)
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
	if c.Executor.SubmitTimeout < time.Second || c.Executor.SubmitTimeout > 5*time.Minute {
		bad("executor.submit_timeout: %s is outside 1s..5m (a shorter wait makes every order's outcome unknown until it is looked up)", c.Executor.SubmitTimeout)
	}
	if c.Executor.MaxOrdersPerMinute < 1 {
		bad("executor.max_orders_per_minute: must be ≥ 1")
	}
	errs = append(errs, c.Breakers.validate()...)
	if c.Exchange.KeyRotationDays < 0 || c.Exchange.KeyRotationDays > 3650 {
		bad("exchange.key_rotation_days: %d is outside 0..3650 (0: no reminder)", c.Exchange.KeyRotationDays)
	}
	if c.Exchange.KeyCreated != "" {
		if _, err := time.Parse("2006-01-02", c.Exchange.KeyCreated); err != nil {
			bad("exchange.key_created: %v", err)
		}
	}
	if c.Notify.Digest != "" {
		if err := checkSchedule(c.Notify.Digest); err != nil {
			bad("notify.digest: %v", err)
		}
	}
	for _, f := range []struct {
		name string
		v    decimal.Decimal
	}{{"day_loss_pct", c.Alerts.DayLossPct}, {"drawdown_pct", c.Alerts.DrawdownPct}, {"exposure_pct", c.Alerts.ExposurePct},
		{"token_budget_pct", c.Alerts.TokenBudgetPct}, {"model_error_pct", c.Alerts.ModelErrorPct}} {
		if f.v.GreaterThan(decimal.NewFromInt(100)) {
			bad("alerts.%s: %s is over 100 (a warning must come before the limit; a negative value switches it off)", f.name, f.v)
		}
	}
	if c.Alerts.ModelErrorWindow < 0 || c.Alerts.ModelErrorWindow > 1000 {
		bad("alerts.model_error_window: %d is outside 0..1000 (0: 20)", c.Alerts.ModelErrorWindow)
	}
	if e := c.Notify.Email; e.Host != "" || len(e.To) > 0 || e.From != "" {
		if e.Host == "" {
			bad("notify.email.host: required when from or to is set")
		}
		if e.From == "" {
			bad("notify.email.from: required (the sender address)")
		}
		if len(e.To) == 0 {
			bad("notify.email.to: at least one recipient")
		}
		if e.Security != "" && e.Security != "starttls" && e.Security != "tls" {
			bad("notify.email.security: %q is not starttls or tls (plain text is not offered)", e.Security)
		}
		if e.Port < 0 || e.Port > 65535 {
			bad("notify.email.port: %d is not a TCP port", e.Port)
		}
		if (e.UsernameEnv == "") != (e.PasswordEnv == "") {
			bad("notify.email: set both username_env and password_env, or neither")
		}
	}
	if c.Notify.Telegram.TokenEnv != "" && c.Notify.Telegram.ChatID == "" {
		bad("notify.telegram.chat_id: required when token_env is set")
	}
	if c.Notify.Slack.TokenEnv != "" && c.Notify.Slack.Channel == "" {
		bad("notify.slack.channel: required when token_env is set")
	}
	if (c.UI.TLSCert == "") != (c.UI.TLSKey == "") {
		bad("ui: set both tls_cert and tls_key, or neither")
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

// pastedSecrets refuses a secret written where the name of an environment
// variable (or a URL, or a chat id) belongs. The message names the field
// and the shape recognised, never the value.
func (c Config) pastedSecrets() []error {
	var errs []error
	type field struct{ field, v string }
	envNames := []field{
		{"advisor.openai.api_key_env", c.Advisor.OpenAI.APIKeyEnv},
		{"exchange.api_key_env", c.Exchange.APIKeyEnv},
		{"exchange.api_secret_env", c.Exchange.APISecretEnv},
		{"notify.slack.webhook_url_env", c.Notify.Slack.WebhookURLEnv},
		{"notify.slack.token_env", c.Notify.Slack.TokenEnv},
		{"notify.telegram.token_env", c.Notify.Telegram.TokenEnv},
		{"notify.email.username_env", c.Notify.Email.UsernameEnv},
		{"notify.email.password_env", c.Notify.Email.PasswordEnv},
	}
	for i, m := range c.Advisor.Consensus.Members {
		envNames = append(envNames, field{fmt.Sprintf("advisor.consensus.members[%d].openai.api_key_env", i), m.OpenAI.APIKeyEnv})
	}
	for _, f := range envNames {
		if shape := secretShape(f.v); shape != "" {
			errs = append(errs, fmt.Errorf("%s holds %s, not the name of an environment variable: put the secret in a variable (export NAME=...) and write NAME here", f.field, shape))
		} else if looksLikeSecret(f.v) {
			errs = append(errs, fmt.Errorf("%s is not the name of an environment variable (upper-case letters, digits and _): put the secret in a variable and write its name here", f.field))
		}
	}
	for _, f := range []struct{ field, v string }{
		{"notify.slack.api_url", c.Notify.Slack.APIURL},
		{"notify.slack.channel", c.Notify.Slack.Channel},
		{"notify.telegram.server_url", c.Notify.Telegram.ServerURL},
		{"notify.telegram.chat_id", c.Notify.Telegram.ChatID},
		{"advisor.openai.base_url", c.Advisor.OpenAI.BaseURL},
		{"exchange.base_url", c.Exchange.BaseURL},
	} {
		if shape := embeddedSecret(f.v); shape != "" {
			errs = append(errs, fmt.Errorf("%s holds %s, and a secret never goes in the config file: put it in a variable and name that in the *_env setting", f.field, shape))
		} else if strings.HasSuffix(f.field, "_url") {
			if p := urlProblem(f.v); p != "" {
				errs = append(errs, fmt.Errorf("%s: the URL %s", f.field, p))
			}
		}
	}
	return errs
}

// urlProblem says what is wrong with a service's base URL ("" when
// nothing, or when it is empty: required fields are checked apart). It
// must be an absolute http or https URL with a host, and carry no query
// or fragment: a key=… there would be sent with every request, and
// printed with every error that names the URL.
func urlProblem(v string) string {
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return "is not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "is not an http:// or https:// URL"
	case u.Host == "" || u.Hostname() == "":
		return "names no host"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v, "#"):
		return "carries a query or fragment (?…, #…): a base URL takes none, and a key there would be sent and logged; secrets go in the *_env settings"
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return "is plain http:// to a host other than this machine: every request carries a key (an API key header, a bearer token, a bot token in the path) that anyone on the way could read and replay; use https:// (plain http is for a proxy or fake on 127.0.0.1, ::1 or localhost)"
	}
	return ""
}

// loopbackHost reports whether host is this machine: localhost or a
// loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var (
	telegramToken = regexp.MustCompile(`^(?:bot)?[0-9]{5,}:[A-Za-z0-9_-]{20,}$`)
	telegramInURL = regexp.MustCompile(`/bot[0-9]{5,}:[A-Za-z0-9_-]{20,}`)
	slackToken    = regexp.MustCompile(`^xox[abposre]-[A-Za-z0-9-]{8,}$`)
	keyPrefix     = regexp.MustCompile(`^(?:sk-|sk_|rk_|gsk_|xai-)[A-Za-z0-9_-]{8,}`)
)

// secretShape names the kind of secret v looks like, or "".
func secretShape(v string) string {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return ""
	case strings.Contains(v, "hooks.slack.com"):
		return "a Slack webhook URL"
	case strings.Contains(v, "://"):
		return "a URL"
	case telegramToken.MatchString(v):
		return "a Telegram bot token (digits:token)"
	case slackToken.MatchString(v):
		return "a Slack token (xox…-)"
	case keyPrefix.MatchString(v):
		return "an API key (sk-…)"
	}
	return ""
}

// embeddedSecret names a secret found inside a URL or id field, or "".
func embeddedSecret(v string) string {
	switch {
	case strings.Contains(v, "hooks.slack.com/services/"):
		return "a Slack webhook URL"
	case telegramInURL.MatchString(v) || telegramToken.MatchString(v):
		return "a Telegram bot token"
	case slackToken.MatchString(v):
		return "a Slack token"
	case keyPrefix.MatchString(v):
		return "an API key"
	}
	if u, err := url.Parse(v); err == nil && u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			return "a password in the URL"
		}
	}
	return ""
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

// validateConsensus checks advisor.consensus: members (none a consensus:
// a consensus that names itself), k ≥ 1, require and size, and each
// member's own settings.
func (c Config) validateConsensus() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	cs := c.Advisor.Consensus
	if len(cs.Members) == 0 {
		bad("advisor.consensus.members: at least one member is needed")
	}
	if cs.Samples < 1 {
		bad("advisor.consensus.samples: %d must be at least 1", cs.Samples)
	}
	if cs.Require != "all" && cs.Require != "majority" {
		bad("advisor.consensus.require: %q is not all or majority", cs.Require)
	}
	if cs.Size != "min" && cs.Size != "median" {
		bad("advisor.consensus.size: %q is not min or median", cs.Size)
	}
	names := map[string]bool{}
	for i, m := range cs.Members {
		at := fmt.Sprintf("advisor.consensus.members[%d]", i)
		switch m.Kind {
		case "baseline":
		case "openai", "perturbed":
			o := c.Advisor.MemberOpenAI(m)
			if o.Model == "" {
				bad("%s.openai.model: required for an openai member", at)
			}
			if o.BaseURL == "" {
				bad("%s.openai.base_url: required (here or in advisor.openai)", at)
			}
			if o.Timeout <= 0 {
				bad("%s.openai.timeout: must be > 0", at)
			}
			if o.Temperature != nil && (*o.Temperature < 0 || *o.Temperature > 2) {
				bad("%s.openai.temperature: %v is outside 0..2", at, *o.Temperature)
			}
			if o.RepairAttempts < 0 || o.RepairAttempts > 3 {
				bad("%s.openai.repair_attempts: %d is outside 0..3", at, o.RepairAttempts)
			}
			if err := o.Price.check(at + ".openai.price"); err != nil {
				errs = append(errs, err)
			}
		case "replay":
			if m.Replay.File == "" {
				bad("%s.replay.file: required for a replay member", at)
			}
		case "consensus":
			bad("%s: a consensus cannot name itself as a member", at)
		case "":
			bad("%s.kind: required (baseline, openai, replay or perturbed)", at)
		default:
			bad("%s.kind: %q is not baseline, openai, replay or perturbed", at, m.Kind)
		}
		if shape := secretShape(m.OpenAI.APIKeyEnv); shape != "" || looksLikeSecret(m.OpenAI.APIKeyEnv) {
			bad("%s.openai.api_key_env is not the name of an environment variable: put the secret in a variable and write its name here", at)
		}
		if shape := embeddedSecret(m.OpenAI.BaseURL); shape != "" {
			bad("%s.openai.base_url holds %s, and a secret never goes in the config file", at, shape)
		} else if p := urlProblem(m.OpenAI.BaseURL); p != "" {
			bad("%s.openai.base_url: the URL %s", at, p)
		}
		if n := m.MemberName(); names[n] {
			bad("%s.name: %q is used by another member (set name)", at, n)
		} else {
			names[n] = true
		}
	}
	return errs
}
