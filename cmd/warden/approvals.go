package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/approval"
	tgapproval "github.com/warden-trading/warden/agent/approval/telegram"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/notify"
	"github.com/warden-trading/warden/schemas"
)

// approvalConfig is the approval gate's configuration from cfg, for a
// runtime in mode (paper or live).
func approvalConfig(cfg config.Config, mode string) approval.Config {
	a := cfg.Approval
	c := approval.Config{
		Required: a.Required, OverNotional: a.OverNotional, Expires: a.Expires, MaxPriceMoveBps: a.MaxPriceMoveBps,
		Channels: a.Channels, Mode: mode, WarmupDays: a.LiveWarmup.Days, WarmupOrders: a.LiveWarmup.Orders,
	}
	for _, s := range a.For {
		c.For = append(c.For, schemas.Side(s))
	}
	return c
}

// approvalPlaceHook, when set (tests only), runs after the executor placed
// an approved proposal's order and before that is recorded: an error there
// stands for a crash between approval and placement.
var approvalPlaceHook func(decisionID string) error

// openApprovals makes the runtime's approval gate. It always exists, so
// that proposals made while approval was on still expire and are placed
// or voided after it is turned off; the agent holds orders only when the
// config enables approval.
func (rt *runtime) openApprovals() error {
	mode := "paper"
	if rt.live {
		mode = "live"
	}
	g, err := approval.New(approvalConfig(rt.cfg, mode), rt.store, approval.Options{
		Publisher: rt.pub, Clock: rt.clock.Now, AfterPlace: approvalPlaceHook,
	})
	if err != nil {
		return fmt.Errorf("approval: %w", err)
	}
	rt.approvals = g
	if slices.Contains(rt.cfg.Approval.Channels, approval.ChannelTelegram) {
		t := rt.cfg.Notify.Telegram
		tok, ok := config.Env(t.TokenEnv)
		if !ok {
			return fmt.Errorf("approval.channels has telegram but %s (notify.telegram.token_env) is not set", t.TokenEnv)
		}
		// The bot votes through a gate without the decision clock: it runs
		// beside the cycles, and expiry is judged where the vote is acted
		// on (processApprovals, under cycleMu).
		votes, err := approval.New(approvalConfig(rt.cfg, mode), rt.store, approval.Options{Publisher: rt.pub})
		if err != nil {
			return fmt.Errorf("approval: %w", err)
		}
		bot, err := tgapproval.New(tgapproval.Config{
			Token: tok, ChatID: t.ChatID, ServerURL: t.ServerURL, AllowedUserIDs: rt.cfg.Approval.Telegram.AllowedUserIDs, Logger: rt.logger,
		}, votes, rt.store)
		if err != nil {
			return err
		}
		rt.tg = &approvalTelegram{bot: bot}
	}
	return nil
}

// approvalTelegram is the runtime's Telegram approval bot: polled at the
// start of each `run --once` cycle, or long-polling in its own goroutine
// under a scheduled run (never both: Telegram allows one poller).
type approvalTelegram struct {
	bot     *tgapproval.Bot
	running atomic.Bool
}

// startTelegram long-polls Telegram until ctx ends (scheduled runs), in
// a goroutine started by spawn (the run's background loops).
func (rt *runtime) startTelegram(ctx context.Context, spawn func(func())) {
	if rt.tg == nil {
		return
	}
	rt.tg.running.Store(true)
	spawn(func() { rt.tg.bot.Run(ctx) })
}

// sendProposals sends new proposals to Telegram with their buttons, right
// after the cycle that made them.
func (rt *runtime) sendProposals(ctx context.Context) {
	if rt.tg == nil {
		return
	}
	if err := rt.tg.bot.SendPending(ctx); err != nil {
		rt.logger.Warn("approval telegram: send proposals", "err", err)
	}
}

// approvalsHook is the gate for agent.Deps: nil (no approval at all) when
// the config does not enable it.
func (rt *runtime) approvalsHook() agent.Approvals {
	mode := "paper"
	if rt.live {
		mode = "live"
	}
	if rt.approvals == nil || !rt.cfg.ApprovalEnabled(mode) {
		return nil
	}
	return rt.approvals
}

// processApprovals is the scheduler's approval step: it expires
// proposals, resumes an interrupted placement and re-checks and places
// the approved ones. The caller holds rt.cycleMu.
func (rt *runtime) processApprovals(ctx context.Context) approval.Result {
	if rt.approvals == nil || rt.agent == nil {
		return approval.Result{}
	}
	if rt.tg != nil && !rt.tg.running.Load() {
		// run --once: the button presses since the last cycle.
		if _, err := rt.tg.bot.PollOnce(ctx, 0); err != nil {
			rt.logger.Warn("approval telegram: getUpdates", "err", err)
		}
	}
	res := rt.approvals.Process(ctx, rt.agent, rt.exec)
	for _, err := range res.Errors {
		rt.logger.Error("approval", "err", err)
	}
	for id, why := range res.Void {
		rt.logger.Warn("approval: proposal void", "decision_id", id, "reason", why)
	}
	return res
}

// printApprovals writes to the cycle's printout what a pass of
// processApprovals did: the approved proposals placed, voided, expired.
func (rt *runtime) printApprovals(res approval.Result) {
	if rt.output == nil {
		return
	}
	for _, ev := range res.Placed {
		fmt.Fprintf(rt.output, "approved proposal placed %s: %s %s %s %s (client order id %s)\n", ev.DecisionID, ev.Side, ev.Quantity, ev.Symbol, ev.State, ev.ClientOrderID)
	}
	for _, id := range slices.Sorted(maps.Keys(res.Void)) {
		fmt.Fprintf(rt.output, "approved proposal void %s: %s\n", id, res.Void[id])
	}
	for _, id := range res.Expired {
		fmt.Fprintf(rt.output, "proposal expired %s\n", id)
	}
	for _, err := range res.Errors {
		fmt.Fprintf(rt.output, "approval error: %v\n", err)
	}
}

// approvalWork reports whether a pass of processApprovals has anything to
// do: a proposal approved or being placed, or a pending one past its time.
func (rt *runtime) approvalWork(ctx context.Context) bool {
	rows, err := rt.store.Approvals(ctx, audit.ApprovalPending, audit.ApprovalApproved, audit.ApprovalPlacing)
	if err != nil {
		if ctx.Err() == nil { // a shutdown's cancellation is no error
			rt.logger.Error("approval: list proposals", "err", err)
		}
		return false
	}
	now := rt.clock.Now()
	for _, r := range rows {
		if r.Status != audit.ApprovalPending || now.After(r.ExpiresAt) {
			return true
		}
	}
	return false
}

// approvalLoop acts, between cycles, on approvals recorded by other
// processes (warden approve while this run holds the lock, the console,
// Telegram) and on a kill switch or safe mode they set (withdrawIfHalted)
// within a few seconds, never during a cycle.
func (rt *runtime) approvalLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rt.approvalPass(ctx)
	}
}

// approvalPass is one pass of approvalLoop, holding cycleMu (the clock,
// the agent and the paper account are the cycle's).
func (rt *runtime) approvalPass(ctx context.Context) {
	rt.cycleMu.Lock()
	defer rt.cycleMu.Unlock()
	if ctx.Err() != nil {
		// Shutdown began while the pass waited for the running cycle:
		// nothing to do between cycles any more.
		return
	}
	if err := rt.store.CheckFile(); err != nil {
		return // the next cycle stops the service (run.go)
	}
	if rt.replay != nil && rt.clock.t.IsZero() {
		// No cycle yet in this process: the offline replay's time is
		// where the last cycle left the paper account.
		if now, err := rt.replay.Current(); err == nil {
			rt.clock.t = now
		}
	}
	_, _ = rt.withdrawIfHalted(ctx) // logged; tried again a minute on, and by the cycle
	if !rt.approvalWork(ctx) {
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if rt.liveFeed != nil {
		if err := rt.liveFeed.Advance(pctx, rt.clock.Now()); err != nil {
			rt.logger.Error("approval: market data", "err", err)
		}
	}
	rt.processApprovals(pctx)
	rt.savePaperOrLog(pctx)
}

// withdrawRetry is how long a between-cycles withdrawal that failed waits
// before it is tried again (the exchange may be down; the next cycle tries
// too).
const withdrawRetry = time.Minute

// withdrawIfHalted cancels the resting buys as soon as the kill switch or
// safe mode is seen between cycles (agent.WithdrawIfHalted): a buy placed
// before `warden kill` must not fill during the rest of an hourly
// schedule's hour. The caller holds rt.cycleMu.
func (rt *runtime) withdrawIfHalted(ctx context.Context) (int, error) {
	if time.Now().Before(rt.withdrawAfter) {
		return 0, nil
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	n, err := rt.agent.WithdrawIfHalted(pctx)
	if err != nil {
		rt.logger.Error("withdraw resting buys between cycles; the next cycle tries again", "err", err)
		rt.withdrawAfter = time.Now().Add(withdrawRetry)
	}
	if n > 0 {
		if serr := rt.savePaper(pctx); serr != nil {
			rt.logger.Error("save paper state", "err", serr)
			err = errors.Join(err, serr)
		}
	}
	return n, err
}

// isLockHeld reports whether err is lockDB's refusal because another
// process holds the database.
func isLockHeld(err error) bool {
	return err != nil && strings.Contains(err.Error(), "another warden run is using")
}

func defaultActor() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "operator"
}

// openApprovalStore opens the existing database cfg (or --db) names, for a
// vote; a missing database is refused, never created.
func openApprovalStore(ctx context.Context, a *app, cfgPath, db string) (config.Config, *audit.Store, error) {
	return openApprovalStoreAs(ctx, a, cfgPath, db, false)
}

// openApprovalStoreAs is openApprovalStore; readOnly opens the database as
// the audit commands do (nothing written, no -wal or -shm created), for
// the listing: it works on a copy in a read-only directory.
func openApprovalStoreAs(ctx context.Context, a *app, cfgPath, db string, readOnly bool) (config.Config, *audit.Store, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return cfg, nil, usageErr(err)
	}
	// What the command prints passes the redactor with the config's
	// secrets too (a reason or a proposal may quote one).
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
	cfg.DB = abs
	st, err := audit.Open(ctx, abs, audit.Options{Secrets: secretValues(cfg), ReadOnly: readOnly})
	if err != nil {
		return cfg, nil, usageErr(err)
	}
	return cfg, st, nil
}

// voteErr turns a gate's error into the command's: a refusal exits 1 with
// its reason, anything else is a failure.
func voteErr(err error) error {
	if errors.Is(err, approval.ErrRefused) {
		return &exitError{Code: exitRejected, Err: fmt.Errorf("%v; nothing changed", err)}
	}
	return &exitError{Code: exitFailed, Err: err}
}

func newApprovalsCmd(a *app) *cobra.Command {
	var (
		cfgPath, db, level   string
		all, asJSON, process bool
		live                 bool
	)
	cmd := &cobra.Command{
		Use:   "approvals [--all] [--json] [--process] [--config FILE | --db FILE]",
		Short: "List the proposals waiting for a person (human approval), with their expiry and hash",
		Long: `approvals lists the approved orders that wait for a person (approval.required
in the config, or the live warm-up): the order, the hash prefix to name in
warden approve, when the proposal expires, and its status. --all lists every
proposal ever made, with who decided, through which channel, and why it ended.

--process acts on approvals now, when no warden run holds the database: it reads
Telegram once, expires proposals past their time, and re-checks and places (or
voids) the approved ones. Run it from cron every minute when warden run --once
runs less often than approval.expires, so that an approval given in Telegram or
the console is acted on in time. With a warden run holding the database it does
nothing: that run acts on approvals itself within seconds.`,
		Example: `  warden approvals --config warden.yaml
  warden approvals --all --json
  warden approvals --process --config warden.yaml   # from cron, every minute`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			// Listing reads only: the database is opened read-only, as
			// the audit commands open it. --process writes.
			cfg, st, err := openApprovalStoreAs(ctx, a, cfgPath, db, !process)
			if err != nil {
				return err
			}
			if process {
				st.Close()
				return processNow(ctx, a, cfg, live, level)
			}
			defer st.Close()
			statuses := []string{audit.ApprovalPending, audit.ApprovalApproved, audit.ApprovalPlacing}
			if all {
				statuses = nil
			}
			rows, err := st.Approvals(ctx, statuses...)
			if err == nil {
				err = st.Unchanged()
			}
			if err != nil {
				return &exitError{Code: exitFailed, Err: err}
			}
			type item struct {
				DecisionID string        `json:"decision_id"`
				Status     string        `json:"status"`
				Hash       string        `json:"hash"`
				Order      schemas.Order `json:"order"`
				CreatedAt  time.Time     `json:"created_at"`
				ExpiresAt  time.Time     `json:"expires_at"`
				DecidedBy  string        `json:"decided_by,omitempty"`
				Channel    string        `json:"channel,omitempty"`
				HashSeen   string        `json:"hash_seen,omitempty"`
				Reason     string        `json:"reason,omitempty"`
			}
			items := []item{}
			for _, r := range rows {
				var p approval.Proposal
				if err := json.Unmarshal(r.Proposal, &p); err != nil {
					return &exitError{Code: exitFailed, Err: fmt.Errorf("proposal %s: %w", r.DecisionID, err)}
				}
				items = append(items, item{r.DecisionID, r.Status, r.Hash, p.Order, r.CreatedAt, r.ExpiresAt, r.DecidedBy, r.Channel, r.HashSeen, r.Reason})
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(items)
			}
			if len(items) == 0 {
				fmt.Fprintln(a.stdout, "no proposals waiting")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "DECISION\tSTATUS\tORDER\tNOTIONAL\tHASH\tEXPIRES\tBY\tREASON")
			for _, it := range items {
				o := it.Order
				by := it.DecidedBy
				if by != "" {
					by += " (" + it.Channel + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s %s %s %s\t%s\t%s\t%s\t%s\t%s\n", it.DecisionID, it.Status, o.Side, o.Quantity, o.Symbol, o.Type,
					o.Notional, it.Hash[:approval.ShownHashPrefix], it.ExpiresAt.UTC().Format(time.RFC3339), by, it.Reason)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config file: its db is read (as for warden run)")
	cmd.Flags().StringVar(&db, "db", "", "audit database path (overrides the config)")
	cmd.Flags().BoolVar(&all, "all", false, "every proposal, decided or not")
	cmd.Flags().BoolVar(&process, "process", false, "act on approvals now (when no warden run holds the database)")
	cmd.Flags().BoolVar(&live, "live", false, "--process: place live proposals (also needs mode: live in the config)")
	cmd.Flags().StringVar(&level, "log-level", "warn", "log level: debug, info, warn, error")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	return cmd
}

func newApproveCmd(a *app) *cobra.Command {
	var (
		cfgPath, db, hash, by, level string
		live                         bool
	)
	cmd := &cobra.Command{
		Use:   "approve DECISION_ID --hash PREFIX [--config FILE | --db FILE]",
		Short: "Approve a proposal: re-checked against the market now, then placed once",
		Long: `approve approves one proposal, bound to what was shown: name its decision id and
at least 8 hex digits of its hash (warden approvals and the notification show
them). A wrong hash, an unknown id, a proposal no longer pending, an expired one
or the kill switch refuses it (exit 1) and nothing changes.

Before anything is placed Warden reads the market again and judges the same
recommendation again, under the policy in force now: the order is placed only
if the verdict approves the same order (quantity and price within one step),
the price moved at most approval.max_price_move_bps, the proposal has not
expired, and neither the kill switch nor safe mode is on. Otherwise the
proposal is void, with the reason recorded and notified (exit 1).

When a warden run holds the database, approve only records the approval and
that run places it within seconds; otherwise approve places it itself (a live
proposal only with --live, as for warden run). Approving twice places once.`,
		Example: `  warden approve r-20240601T100000Z-1a2b3c:0 --hash 3f9a1c0d --config warden.yaml
  warden approve r-20240601T100000Z-1a2b3c:0 --hash 3f9a1c0d7e21 --by alice`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if strings.TrimSpace(hash) == "" {
				return usageErr(fmt.Errorf("--hash is required: at least %d hex digits of the proposal's hash (warden approvals shows it)", approval.MinHashPrefix))
			}
			cfg, st, err := openApprovalStore(ctx, a, cfgPath, db)
			if err != nil {
				return err
			}
			st.Close()
			vote := approval.Vote{DecisionID: args[0], HashPrefix: hash, Who: by, Channel: approval.ChannelCLI}
			logger, err := newLogger(a, level)
			if err != nil {
				return err
			}
			a.addSecrets(cfg)
			// A live proposal is placed live only with --live; without it,
			// or while a run holds the database, the approval is recorded
			// for the run to place.
			placeHere := cfg.Mode != "live" || live
			var rt *runtime
			if placeHere {
				rt, err = newRuntime(ctx, cfg, runtimeOptions{live: live, output: a.stderr, logger: logger, red: a.red, lockKind: "approve", noAdvisor: true, lockNote: a.stderr})
				if err != nil && !isLockHeld(err) {
					return startErr(err)
				}
			}
			if rt == nil {
				running := placeHere // not placed here only because a warden run holds the database
				return recordApproval(ctx, a, cfg, vote, running)
			}
			defer rt.Close()
			return approveAndPlace(ctx, a, rt, vote)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config file (as for warden run)")
	cmd.Flags().StringVar(&db, "db", "", "audit database path (overrides the config)")
	cmd.Flags().StringVar(&hash, "hash", "", "at least 8 hex digits of the proposal's hash, as shown")
	cmd.Flags().StringVar(&by, "by", defaultActor(), "who approves (recorded)")
	cmd.Flags().BoolVar(&live, "live", false, "place a live proposal here (also needs mode: live in the config)")
	cmd.Flags().StringVar(&level, "log-level", "warn", "log level: debug, info, warn, error")
	return cmd
}

// recordApproval records the vote only: a warden run holds the database
// (or the proposal is live and --live was not given) and places it.
func recordApproval(ctx context.Context, a *app, cfg config.Config, vote approval.Vote, running bool) error {
	st, err := audit.Open(ctx, cfg.DB, audit.Options{Secrets: secretValues(cfg)})
	if err != nil {
		return usageErr(err)
	}
	defer st.Close()
	g, err := approval.New(approvalConfig(cfg, cfg.Mode), st, approval.Options{})
	if err != nil {
		return usageErr(err)
	}
	row, err := g.Approve(ctx, vote)
	if err != nil {
		return voteErr(err)
	}
	if running {
		fmt.Fprintf(a.stdout, "approved %s (hash %s) by %s; recorded for the running warden, which re-checks and places it within seconds (warden approvals --all shows the outcome)\n",
			row.DecisionID, row.Hash[:approval.ShownHashPrefix], row.DecidedBy)
		return nil
	}
	fmt.Fprintf(a.stdout, "approved %s (hash %s) by %s; recorded, not placed here (a live proposal is placed with --live): the next warden run, run --once or approvals --process --live re-checks and places it if before %s (warden approvals --all shows the outcome)\n",
		row.DecisionID, row.Hash[:approval.ShownHashPrefix], row.DecidedBy, row.ExpiresAt.UTC().Format(time.RFC3339))
	return nil
}

// approvalMarket brings the market to now for a process that acts on
// approvals between cycles: the offline replay as the last cycle left it
// (acting on an approval is not a cycle: nothing advances), or fresh
// public data for paper.data live. The caller holds rt.cycleMu.
func (rt *runtime) approvalMarket(ctx context.Context) error {
	if rt.replay != nil {
		now, err := rt.replay.Current()
		if err != nil {
			return err
		}
		rt.clock.t = now
	}
	if rt.liveFeed != nil {
		if err := rt.liveFeed.Advance(ctx, rt.clock.Now()); err != nil {
			return fmt.Errorf("market data: %w", err)
		}
	}
	return nil
}

// processNow is `warden approvals --process`: when no run holds the
// database, read Telegram once, expire, re-check and place approved
// proposals, and send new ones; for cron setups whose `run --once` is
// less frequent than approval.expires.
func processNow(ctx context.Context, a *app, cfg config.Config, live bool, level string) error {
	logger, err := newLogger(a, level)
	if err != nil {
		return err
	}
	a.addSecrets(cfg)
	if cfg.Mode == "live" && !live {
		return usageErr(errors.New("the config says mode: live: --process places live orders only with --live"))
	}
	rt, err := newRuntime(ctx, cfg, runtimeOptions{live: live, output: a.stderr, logger: logger, red: a.red, lockKind: "approvals --process", noAdvisor: true, lockNote: a.stderr})
	if isLockHeld(err) {
		fmt.Fprintf(a.stdout, "a warden run holds %s: it acts on approvals itself within seconds\n", cfg.DB)
		return nil
	}
	if err != nil {
		return startErr(err)
	}
	defer rt.Close()
	rt.cycleMu.Lock()
	defer rt.cycleMu.Unlock()
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	if err := rt.approvalMarket(pctx); err != nil {
		return &exitError{Code: exitFailed, Err: err}
	}
	res := rt.processApprovals(pctx)
	rt.sendProposals(pctx)
	if err := rt.savePaper(pctx); err != nil {
		res.Errors = append(res.Errors, err)
	}
	rt.flushNotifications(pctx)
	for _, ev := range res.Placed {
		fmt.Fprintf(a.stdout, "placed %s: %s %s %s %s (client order id %s)\n", ev.DecisionID, ev.Side, ev.Quantity, ev.Symbol, ev.State, ev.ClientOrderID)
	}
	for _, id := range slices.Sorted(maps.Keys(res.Void)) {
		fmt.Fprintf(a.stdout, "void %s: %s\n", id, res.Void[id])
	}
	for _, id := range res.Expired {
		fmt.Fprintf(a.stdout, "expired %s\n", id)
	}
	if len(res.Placed)+len(res.Void)+len(res.Expired) == 0 {
		fmt.Fprintln(a.stdout, "nothing to do")
	}
	if len(res.Errors) > 0 {
		return &exitError{Code: exitFailed, Err: errors.Join(res.Errors...)}
	}
	return nil
}

// approveAndPlace records the vote and, holding the database, re-checks
// and places the proposal itself.
func approveAndPlace(ctx context.Context, a *app, rt *runtime, vote approval.Vote) error {
	rt.cycleMu.Lock()
	defer rt.cycleMu.Unlock()
	if err := rt.approvalMarket(ctx); err != nil {
		return &exitError{Code: exitFailed, Err: err}
	}
	row, err := rt.approvals.Approve(ctx, vote)
	if err != nil {
		// Approved already (from the console, or Telegram) and not placed
		// yet: this vote is refused (recorded), but this process holds the
		// database, so it places the proposal now rather than leave it to
		// expire until a process that holds it passes.
		cur, cerr := rt.store.Approval(ctx, vote.DecisionID)
		if !errors.Is(err, approval.ErrRefused) || cerr != nil || cur.Status != audit.ApprovalApproved {
			return voteErr(err)
		}
		row = cur
		fmt.Fprintf(a.stdout, "%s was already approved by %s (through %s); placing it now\n", row.DecisionID, row.DecidedBy, row.Channel)
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	res := rt.processApprovals(pctx)
	rt.savePaperOrLog(pctx)
	rt.flushNotifications(pctx)
	final, err := rt.store.Approval(pctx, row.DecisionID)
	if err != nil {
		return &exitError{Code: exitFailed, Err: err}
	}
	switch final.Status {
	case audit.ApprovalPlaced:
		for _, ev := range res.Placed {
			if ev.DecisionID == row.DecisionID {
				fmt.Fprintf(a.stdout, "approved %s by %s and placed: %s %s %s %s (client order id %s)\n",
					row.DecisionID, row.DecidedBy, ev.Side, ev.Quantity, ev.Symbol, ev.State, ev.ClientOrderID)
				return nil
			}
		}
		fmt.Fprintf(a.stdout, "approved %s by %s and placed\n", row.DecisionID, row.DecidedBy)
		return nil
	case audit.ApprovalVoid:
		return &exitError{Code: exitRejected, Err: fmt.Errorf("approved %s, but it is void and nothing was placed: %s", row.DecisionID, final.Reason)}
	}
	msg := fmt.Sprintf("approved %s; it is %s", row.DecisionID, final.Status)
	if len(res.Errors) > 0 {
		return &exitError{Code: exitFailed, Err: fmt.Errorf("%s: %w", msg, errors.Join(res.Errors...))}
	}
	fmt.Fprintln(a.stdout, msg)
	return nil
}

func newDenyCmd(a *app) *cobra.Command {
	var cfgPath, db, reason, by string
	cmd := &cobra.Command{
		Use:   "deny DECISION_ID --reason TEXT [--config FILE | --db FILE]",
		Short: "Deny a proposal: it is never placed",
		Long: `deny ends a pending (or approved, not yet placed) proposal; the reason and who
denied it are recorded in the audit chain and notified. It works whether or not a
warden run holds the database.`,
		Example: `  warden deny r-20240601T100000Z-1a2b3c:0 --reason "not before the FOMC statement" --config warden.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if strings.TrimSpace(reason) == "" {
				return usageErr(errors.New("--reason is required: say why, for the audit log"))
			}
			cfg, st, err := openApprovalStore(ctx, a, cfgPath, db)
			if err != nil {
				return err
			}
			defer st.Close()
			pub, err := voteNotifier(a, cfg, st)
			if err != nil {
				return usageErr(err)
			}
			g, err := approval.New(approvalConfig(cfg, cfg.Mode), st, approval.Options{Publisher: pub})
			if err != nil {
				return usageErr(err)
			}
			row, err := g.Deny(ctx, approval.Vote{DecisionID: args[0], Who: by, Channel: approval.ChannelCLI, Reason: reason})
			if err != nil {
				return voteErr(err)
			}
			fmt.Fprintf(a.stdout, "denied %s by %s: %s\n", row.DecisionID, row.DecidedBy, reason)
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config file (as for warden run)")
	cmd.Flags().StringVar(&db, "db", "", "audit database path (overrides the config)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded)")
	cmd.Flags().StringVar(&by, "by", defaultActor(), "who denies (recorded)")
	return cmd
}

// voteNotifier is the outbox publisher of a command that votes without a
// runtime (kill, resume, deny, an approval recorded for the running
// warden): it enqueues to every channel the config file sets up; the
// running warden's dispatchers, or the next run, deliver. The channels
// come from the file, not from this shell's environment: the secrets are
// the delivering process's (an operator's terminal rarely has them). nil
// when the file sets up none.
func voteNotifier(a *app, cfg config.Config, st *audit.Store) (approval.Publisher, error) {
	var channels []string
	if s := cfg.Notify.Slack; s.WebhookURLEnv != "" || s.TokenEnv != "" {
		channels = append(channels, notify.ChannelSlack)
	}
	if cfg.Notify.Telegram.TokenEnv != "" {
		channels = append(channels, notify.ChannelTelegram)
	}
	if cfg.Notify.Email.Host != "" {
		channels = append(channels, notify.ChannelEmail)
	}
	if len(channels) == 0 {
		return nil, nil
	}
	n, err := notify.NewNotifier(notify.NotifierConfig{Outbox: st, Channels: channels, Redactor: a.red})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// approvalPollEvery is how often a scheduled warden run looks for
// approvals recorded by other processes.
const approvalPollEvery = 2 * time.Second
