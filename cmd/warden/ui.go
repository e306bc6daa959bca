package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent/approval"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/console"
	"github.com/warden-trading/warden/policy"
)

func newUICmd(a *app) *cobra.Command {
	var cfgPath, db, listen string
	cmd := &cobra.Command{
		Use:   "ui [--config FILE | --db FILE] [--listen ADDR]",
		Short: "Serve the console: status, decisions with rationale and rules, runs, events, policy, audit chain; kill switch with MFA",
		Long: `Serve the web console from this binary (no CDN, no build step) on ui.listen,
127.0.0.1:8787 by default. Users sign in with a password and a TOTP code;
accounts are made with "warden ui user add" only. Viewers read; operators may
also engage or release the kill switch and, when approval is configured,
approve or deny pending proposals (Approvals page), each time with a fresh
TOTP code. The console only records an approval: the running "warden run"
places it within seconds, or the next "run --once" / "warden approvals --process".

It runs beside "warden run" on the same database: it reads the audit log and
writes only its sessions and the records of logins and actions.

An address other than loopback needs ui.tls_cert, ui.tls_key and
ui.allow_non_loopback: true. Prefer an SSH tunnel or a VPN:
  ssh -L 8787:127.0.0.1:8787 host   then open http://127.0.0.1:8787`,
		Example: `  warden ui --config /etc/warden/warden.yaml
  warden ui --db ./warden.db --listen 127.0.0.1:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, st, err := openUIStore(cmd.Context(), a, cfgPath, db)
			if err != nil {
				return err
			}
			defer st.Close()
			if listen != "" {
				cfg.UI.Listen = listen
			}
			return serveUI(cmd.Context(), a, cfg, st)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config file (its db, policy, notify and ui settings)")
	cmd.Flags().StringVar(&db, "db", "", "audit database path (overrides the config)")
	cmd.Flags().StringVar(&listen, "listen", "", "address to serve (overrides ui.listen)")
	cmd.AddCommand(newUIUserCmd(a))
	return cmd
}

// openUIStore loads the config and opens its existing audit database for
// the console (writable: sessions, logins and actions are recorded).
func openUIStore(ctx context.Context, a *app, cfgPath, db string) (config.Config, *audit.Store, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return cfg, nil, usageErr(err)
	}
	a.addSecrets(cfg)
	if db != "" {
		cfg.DB = db
	}
	abs, err := filepath.Abs(cfg.DB)
	if err != nil {
		return cfg, nil, usageErr(err)
	}
	if err := existingAuditDB(ctx, abs, false); err != nil {
		return cfg, nil, usageErr(err)
	}
	st, err := audit.Open(ctx, abs, audit.Options{Secrets: secretValues(cfg), Redact: a.red.String})
	if err != nil {
		return cfg, nil, usageErr(fmt.Errorf("%w (the console records logins and actions: it needs the database writable)", err))
	}
	return cfg, st, nil
}

func uiPolicy(cfg config.Config) (console.PolicyInfo, error) {
	var (
		p   *policy.Policy
		err error
	)
	if cfg.Policy != "" {
		p, err = policy.LoadFile(cfg.Policy)
	} else {
		p, err = policy.Default()
	}
	if err != nil {
		return console.PolicyInfo{}, err
	}
	info := console.PolicyInfo{Name: p.Name(), File: p.File(), Hash: p.Hash(), Source: string(p.Source())}
	names, words := p.RuleNames(), p.Describe()
	for i, n := range names {
		ri := console.RuleInfo{Name: n}
		if i < len(words) {
			ri.Words = words[i]
		}
		info.Rules = append(info.Rules, ri)
	}
	return info, nil
}

// uiChannels are the notification channels the config sets up (as warden
// run opens them): actions are announced there.
func uiChannels(cfg config.Config) []string {
	var out []string
	s := cfg.Notify.Slack
	if _, ok := config.Env(s.WebhookURLEnv); ok {
		out = append(out, "slack")
	} else if _, ok := config.Env(s.TokenEnv); ok {
		out = append(out, "slack")
	}
	if _, ok := config.Env(cfg.Notify.Telegram.TokenEnv); ok {
		out = append(out, "telegram")
	}
	return out
}

// uiApprovals is the gate the console records approvals and denials
// through, or nil when approval is off or approval.channels leaves the
// console out. It places nothing (the console holds no run lock and no
// executor): the running warden run, the next run --once or
// warden approvals --process re-checks and places. Expiry is judged at
// the vote when the decision clock is the wall clock (mode live or
// paper.data live); in an offline replay the replay's time is the
// running process's, which judges it before placing.
func uiApprovals(a *app, cfg config.Config, st *audit.Store) (*approval.Gate, error) {
	ac := approvalConfig(cfg, cfg.Mode)
	if !ac.Enabled() || (len(ac.Channels) > 0 && !slices.Contains(ac.Channels, approval.ChannelConsole)) {
		return nil, nil
	}
	pub, err := voteNotifier(a, cfg, st)
	if err != nil {
		return nil, err
	}
	o := approval.Options{Publisher: pub}
	if cfg.Mode == "live" || cfg.Paper.Data == "live" {
		o.Clock = func() time.Time { return time.Now().UTC() }
	}
	return approval.New(ac, st, o)
}

func serveUI(ctx context.Context, a *app, cfg config.Config, st *audit.Store) error {
	useTLS := cfg.UI.TLSCert != "" && cfg.UI.TLSKey != ""
	if err := console.CheckListen(cfg.UI.Listen, useTLS, cfg.UI.AllowNonLoop); err != nil {
		return usageErr(err)
	}
	pol, err := uiPolicy(cfg)
	if err != nil {
		return usageErr(fmt.Errorf("policy: %w", err))
	}
	logger, err := newLogger(a, "info")
	if err != nil {
		return err
	}
	gate, err := uiApprovals(a, cfg, st)
	if err != nil {
		return usageErr(err)
	}
	srv, err := console.New(console.Options{Store: st, Policy: pol, Channels: uiChannels(cfg), TLS: useTLS, Redactor: a.red, Logger: logger, Approvals: gate,
		// The status page reads as warden status does (readFlags.open).
		Status: console.StatusConfig{Mode: cfg.Mode, Schedule: cfg.Schedule, ReduceScale: cfg.Breakers.ReduceScale, ReplayClock: cfg.ReplaysBundled(), ReplayStep: replayStep(cfg.Timeframe)}})
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn), // redacted like every log
	}
	if useTLS {
		cert, err := tls.LoadX509KeyPair(cfg.UI.TLSCert, cfg.UI.TLSKey)
		if err != nil {
			return usageErr(fmt.Errorf("ui.tls_cert/ui.tls_key: %w", err))
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.UI.Listen)
	if err != nil {
		return usageErr(fmt.Errorf("ui.listen: %w", err))
	}
	scheme := "http"
	if useTLS {
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	fmt.Fprintf(a.stdout, "console at %s://%s (database %s); Ctrl-C stops it\n", scheme, ln.Addr(), st.Path())
	if f, ok := a.stdout.(interface{ Flush() error }); ok {
		f.Flush()
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	}
}

func newUIUserCmd(a *app) *cobra.Command {
	var cfgPath, db string
	user := &cobra.Command{
		Use:   "user",
		Short: "Manage console users: add, list, remove, reset-totp",
		Long: `Console users exist only through these commands, run on the server. A user is
a viewer (reads) or an operator (may also engage and release the kill switch).`,
		Example: `  printf '%s\n' "$PASSWORD" | warden ui user add alice --role operator --config warden.yaml
  warden ui user list --config warden.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	user.PersistentFlags().StringVar(&cfgPath, "config", "", "YAML config file: its db holds the users")
	user.PersistentFlags().StringVar(&db, "db", "", "audit database path (overrides the config)")
	withStore := func(cmd *cobra.Command, fn func(ctx context.Context, st *audit.Store) error) error {
		_, st, err := openUIStore(cmd.Context(), a, cfgPath, db)
		if err != nil {
			return err
		}
		defer st.Close()
		return fn(cmd.Context(), st)
	}
	actor := "cli:" + currentUser()

	var role string
	add := &cobra.Command{
		Use:   "add NAME --role viewer|operator",
		Short: "Add a user: reads the password from stdin, prints the TOTP enrolment",
		Long: `Add a console user. The password is the first line of stdin (at least 12
characters), stored as an argon2id hash. The TOTP enrolment is printed once:
an otpauth:// URI, its secret in base32 and a QR code for the terminal; scan
it with an authenticator app. Keep the output private.`,
		Example: `  read -s PW && printf '%s\n' "$PW" | warden ui user add alice --role operator`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := console.ValidName(args[0]); err != nil {
				return usageErr(err)
			}
			if role != console.RoleViewer && role != console.RoleOperator {
				return usageErr(fmt.Errorf("--role %q: want viewer or operator", role))
			}
			pw, err := readPassword(a.stdin)
			if err != nil {
				return usageErr(err)
			}
			return withStore(cmd, func(ctx context.Context, st *audit.Store) error {
				e, err := console.AddUser(ctx, st, args[0], role, pw, actor)
				if err != nil {
					if errors.Is(err, audit.ErrConsoleUserExists) {
						return usageErr(fmt.Errorf("user %q already exists: nothing changed (warden ui user reset-totp re-enrols)", args[0]))
					}
					return usageErr(fmt.Errorf("%w: nothing changed", err))
				}
				fmt.Fprintf(a.stdout, "user %s added as %s\n", args[0], role)
				printEnrolment(a, e)
				return nil
			})
		},
	}
	add.Flags().StringVar(&role, "role", "", "viewer or operator (required)")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List console users with role, creation time and lockout",
		Example: `  warden ui user list --config warden.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, func(ctx context.Context, st *audit.Store) error {
				us, err := st.ConsoleUsers(ctx)
				if err != nil {
					return err
				}
				if len(us) == 0 {
					fmt.Fprintln(a.stdout, "no console users (warden ui user add NAME --role viewer|operator)")
					return nil
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "USER\tROLE\tCREATED\tSESSIONS\tLOCKED UNTIL")
				for _, u := range us {
					n, err := st.ConsoleSessionCount(ctx, u.Name)
					if err != nil {
						return err
					}
					locked := "-"
					if u.LockedUntil.After(time.Now()) {
						locked = u.LockedUntil.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", u.Name, u.Role, u.CreatedAt.UTC().Format(time.RFC3339), n, locked)
				}
				return tw.Flush()
			})
		},
	}

	remove := &cobra.Command{
		Use:     "remove NAME",
		Short:   "Remove a user and end their sessions",
		Example: `  warden ui user remove bob --config warden.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(ctx context.Context, st *audit.Store) error {
				if err := st.RemoveConsoleUser(ctx, args[0], actor); err != nil {
					if errors.Is(err, audit.ErrNotFound) {
						return usageErr(fmt.Errorf("no console user %q: nothing changed", args[0]))
					}
					return err
				}
				fmt.Fprintf(a.stdout, "user %s removed; their sessions ended\n", args[0])
				return nil
			})
		},
	}

	reset := &cobra.Command{
		Use:     "reset-totp NAME",
		Short:   "Give a user a new TOTP secret (lost phone); ends their sessions and clears a lockout",
		Example: `  warden ui user reset-totp alice --config warden.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(ctx context.Context, st *audit.Store) error {
				e, err := console.ResetTOTP(ctx, st, args[0], actor)
				if err != nil {
					if errors.Is(err, audit.ErrNotFound) {
						return usageErr(fmt.Errorf("no console user %q: nothing changed", args[0]))
					}
					return err
				}
				fmt.Fprintf(a.stdout, "user %s has a new TOTP secret; the old one no longer works\n", args[0])
				printEnrolment(a, e)
				return nil
			})
		},
	}
	user.AddCommand(add, list, remove, reset)
	return user
}

// readPassword reads the first line of r (at most 1 KiB).
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("no password on stdin")
	}
	line, err := bufio.NewReaderSize(io.LimitReader(r, 1024), 1024).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on stdin: give it as the first line of stdin (printf '%s\\n' \"$PW\" | warden ui user add ...)")
	}
	return pw, nil
}

// printEnrolment prints the TOTP enrolment on stdout without the
// redactor (which masks any "secret=" value): it is the one secret Warden
// shows, to the person who must scan it, once.
func printEnrolment(a *app, e console.Enrolment) {
	if f, ok := a.stdout.(interface{ Flush() error }); ok {
		f.Flush()
	}
	w := a.rawStdout
	if w == nil {
		w = a.stdout
	}
	fmt.Fprintf(w, "\nTOTP enrolment for %s (shown once; keep it private):\n", e.User)
	fmt.Fprintf(w, "  URI:    %s\n", e.URI)
	fmt.Fprintf(w, "  secret: %s (base32, 30 s, 6 digits, SHA-1)\n\n", e.Secret)
	if q, err := console.QRText(e.URI); err == nil {
		fmt.Fprint(w, q)
	}
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}
