package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// Errors of Place. Exchange refusals wrap both ErrRejected and the
// exchange's *Error.
var (
	// ErrInvalidOrder: the order is malformed; nothing was recorded or sent.
	ErrInvalidOrder = errors.New("executor: invalid order")
	// ErrRateLimited: the order-rate limit refused the order; nothing was
	// recorded or sent.
	ErrRateLimited = errors.New("executor: order rate limit reached")
	// ErrUnresolvedOrder: an earlier buy of the symbol has no known
	// outcome yet (Place).
	ErrUnresolvedOrder = errors.New("executor: an earlier order's outcome is not known yet")
	// ErrRejected: the order is final as rejected (the exchange refused it,
	// or it was never sent). Nothing was placed.
	ErrRejected = errors.New("executor: order rejected")
	// ErrOutcomeUnknown: the order may or may not be on the exchange. It is
	// journaled as unknown and resolved by client order id on later Poll or
	// Reconcile calls; it is never sent again.
	ErrOutcomeUnknown = errors.New("executor: order outcome unknown")
)

// Options configure an Executor. Zero values take the defaults shown.
type Options struct {
	Logger *slog.Logger     // nil discards
	Clock  func() time.Time // time.Now; stamps events, the rate limit and grace periods

	// SubmitTimeout bounds the wait for PlaceOrder (default 10 s). ccxt's
	// REST client waits up to 30 s whatever its options say, so the call
	// runs in its own goroutine and a reply later than this is treated as
	// unknown (and logged when it arrives).
	SubmitTimeout time.Duration
	// ReadTimeout bounds each read (FetchOrder, OpenOrders, Balances,
	// Markets, CancelOrder) attempt (default 10 s).
	ReadTimeout time.Duration
	// ReadAttempts is how often a read is tried on transport errors
	// (default 3); ReadBackoff is the first wait between tries, doubled
	// each time (default 500 ms). Writes are never retried.
	ReadAttempts int
	ReadBackoff  time.Duration

	// An unknown order is resolved as never placed (rejected) only when
	// FetchOrder by its client id has answered "not found" at least
	// NotFoundLookups times (default 3) AND NotFoundGrace (default 2 min,
	// above Binance's largest recvWindow of 60 s, after which the exchange
	// refuses a delayed request) has passed since it was submitted. Until
	// then it stays unknown and blocks nothing else. Each "not found" answer
	// is journaled (an unknown event, up to NotFoundLookups of them) when
	// the journal keeps history (OrderHistorian), so the count and the
	// clock carry over from one process to the next.
	NotFoundLookups int
	NotFoundGrace   time.Duration
	// LandWindow is how long after its submission an order that the
	// exchange has never shown may still arrive there (default 60 s,
	// Binance's largest recvWindow; at most NotFoundGrace). Past it, an
	// unresolved sell that was never seen protects nothing and holds
	// nothing: the position gets a stop for what is free.
	LandWindow time.Duration

	// MaxOrdersPerMinute limits entries placed per sliding minute (default
	// 10). Protective stops and exits are counted but never refused.
	MaxOrdersPerMinute int

	// StopLimitOffset is how far below the stop price the protective
	// stop-loss-limit rests, as a fraction (default schemas.StopLimitOffset, the
	// price the validator judges the stop's exchange minimums at).
	StopLimitOffset decimal.Decimal
	// BalanceTolerance is the absolute difference per asset below which
	// Reconcile reports no balance mismatch (default 1e-8); a relative
	// 1e-6 of the balance is added to it.
	BalanceTolerance decimal.Decimal

	// OnProtection, when set, is called (synchronously, under the
	// executor's lock: do not call back into the Executor) for every
	// protection event: stop placed or resized, stop failed and the
	// position closed, exit failed, dust left unprotected.
	OnProtection func(ProtectionEvent)
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.SubmitTimeout <= 0 {
		o.SubmitTimeout = 10 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 10 * time.Second
	}
	if o.ReadAttempts <= 0 {
		o.ReadAttempts = 3
	}
	if o.ReadBackoff <= 0 {
		o.ReadBackoff = 500 * time.Millisecond
	}
	if o.NotFoundLookups <= 0 {
		o.NotFoundLookups = 3
	}
	if o.NotFoundGrace <= 0 {
		o.NotFoundGrace = 2 * time.Minute
	}
	if o.LandWindow <= 0 {
		o.LandWindow = time.Minute
	}
	if o.LandWindow > o.NotFoundGrace {
		o.LandWindow = o.NotFoundGrace
	}
	if o.MaxOrdersPerMinute <= 0 {
		o.MaxOrdersPerMinute = 10
	}
	if o.StopLimitOffset.Sign() <= 0 {
		o.StopLimitOffset = schemas.StopLimitOffset
	}
	if o.BalanceTolerance.Sign() <= 0 {
		o.BalanceTolerance = decimal.New(1, -8)
	}
}

// OrderCounter is optionally implemented by a Journal (agent/audit does):
// the number of orders whose intent was recorded at or after t. New uses
// it to seed the order-rate limit after a restart.
type OrderCounter interface {
	OrdersSince(ctx context.Context, t time.Time) (int, error)
}

// Executor places approved orders exactly once or not at all, and always
// knows which: every state is journaled before the exchange call that
// causes it, a resend is impossible because the client order id is derived
// from the decision id, and an unknown outcome is resolved by asking the
// exchange. It protects filled entries with a stop and reconciles the
// journal with the exchange. One Executor per journal: its methods are
// serialised by a mutex, and two processes must not share a journal.
type Executor struct {
	ex  Exchange
	j   Journal
	opt Options
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex // serialises Place, Poll and Reconcile
	limiter  *RateLimiter
	seeded   bool
	markets  map[string]Market
	notFound map[string]int    // client id → "not found" answers, for a journal without history
	cyc      *cycle            // the current call's exchange reads, read once
	warned   map[string]string // decision id → last protection warning emitted
	appended *[]schemas.OrderEvent
	prots    *[]ProtectionEvent

	// balances: the exchange's totals at the last Reconcile, and what the
	// fills recorded since imply.
	baseline map[string]decimal.Decimal
	delta    map[string]decimal.Decimal

	lateMu sync.Mutex
	late   map[string]OrderReport // replies that arrived after SubmitTimeout
	// lateWG counts the sends still waiting for a reply after
	// SubmitTimeout (Wait).
	lateWG sync.WaitGroup
}

// New builds an Executor over an exchange and a journal.
func New(ex Exchange, j Journal, opts Options) (*Executor, error) {
	if ex == nil || j == nil {
		return nil, errors.New("executor: New needs an exchange and a journal")
	}
	if opts.StopLimitOffset.Sign() < 0 || opts.StopLimitOffset.GreaterThanOrEqual(decimal.NewFromInt(1)) {
		return nil, fmt.Errorf("executor: StopLimitOffset %s must be in [0, 1)", opts.StopLimitOffset)
	}
	opts.defaults()
	return &Executor{
		ex: ex, j: j, opt: opts, log: opts.Logger, now: opts.Clock,
		limiter:  NewRateLimiter(opts.MaxOrdersPerMinute, time.Minute, opts.Clock),
		notFound: map[string]int{},
		warned:   map[string]string{},
		delta:    map[string]decimal.Decimal{},
		late:     map[string]OrderReport{},
	}, nil
}

// OrdersLastMinute is the number of orders sent in the last minute, for the
// state the policy sees.
func (e *Executor) OrdersLastMinute() int { return e.limiter.Count() }

// append journals one event (and collects it for the current Poll).
func (e *Executor) append(ctx context.Context, ev schemas.OrderEvent) error {
	if e.cyc != nil {
		e.cyc.alloc = nil // the journal changes: share out anew
	}
	if err := e.j.AppendOrderEvent(ctx, ev); err != nil {
		return fmt.Errorf("executor: journal %s %s: %w", ev.ClientOrderID, ev.State, err)
	}
	if e.appended != nil {
		*e.appended = append(*e.appended, ev)
	}
	return nil
}

// appendAfter journals an outcome of a call already made: a cancelled
// caller context must not lose it.
func (e *Executor) appendAfter(ctx context.Context, ev schemas.OrderEvent) error {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return e.append(c, ev)
}

// next is prev moved to state, as a new event.
func (e *Executor) next(prev schemas.OrderEvent, state schemas.OrderState, reason string) schemas.OrderEvent {
	ev := prev
	ev.State = state
	ev.Reason = reason
	ev.At = e.now().UTC()
	return ev
}

func validate(decisionID string, o schemas.Order) error {
	switch {
	case strings.TrimSpace(decisionID) == "":
		return fmt.Errorf("%w: empty decision id", ErrInvalidOrder)
	case o.Symbol == "":
		return fmt.Errorf("%w: empty symbol", ErrInvalidOrder)
	case o.Side != schemas.SideBuy && o.Side != schemas.SideSell:
		return fmt.Errorf("%w: side %q", ErrInvalidOrder, o.Side)
	case o.Type != schemas.OrderLimit && o.Type != schemas.OrderMarket:
		return fmt.Errorf("%w: type %q", ErrInvalidOrder, o.Type)
	case o.Quantity.Sign() <= 0:
		return fmt.Errorf("%w: quantity %s", ErrInvalidOrder, o.Quantity)
	case o.Type == schemas.OrderLimit && o.Price.Sign() <= 0:
		return fmt.Errorf("%w: limit price %s", ErrInvalidOrder, o.Price)
	case o.StopLoss != nil && o.StopLoss.Sign() <= 0:
		return fmt.Errorf("%w: stop loss %s", ErrInvalidOrder, o.StopLoss)
	case o.StopLoss != nil && o.Side == schemas.SideBuy && o.Type == schemas.OrderLimit && o.StopLoss.GreaterThanOrEqual(o.Price):
		return fmt.Errorf("%w: stop loss %s not below the buy price %s", ErrInvalidOrder, o.StopLoss, o.Price)
	}
	return nil
}

// Place places the entry order of one approved decision, exactly once.
//
// The client order id is ClientOrderID(decisionID, RoleEntry). If the
// journal already knows it, nothing is sent: Place resolves and returns the
// order's state (a replay after a crash or a retry by the caller).
// Otherwise it journals intent, then submitted, then sends with a wait
// bounded by SubmitTimeout and journals the outcome. A buy with a StopLoss
// is protected as soon as it fills (see Poll); the stop price is kept in the
// entry's events as StopPrice (never sent with the entry itself). A sell
// first releases our stops on the symbol (they lock what it sells); they
// are placed again, for what is still held, if the sell does not sell it.
//
// The returned event is the order's newest state. err is nil when the order
// is acknowledged, (partially) filled or cancelled; otherwise it wraps
// ErrInvalidOrder, ErrRateLimited or ErrUnresolvedOrder (nothing
// recorded), ErrRejected (final: nothing placed), ErrOutcomeUnknown
// (journaled as unknown; Poll and Reconcile resolve it) or a journal error
// (the order was not sent, or its outcome will be resolved like an unknown
// one).
func (e *Executor) Place(ctx context.Context, decisionID string, o schemas.Order) (schemas.OrderEvent, error) {
	if err := validate(decisionID, o); err != nil {
		return schemas.OrderEvent{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	defer e.begin()()
	cid := ClientOrderID(decisionID, RoleEntry)
	last, ok, err := e.j.LastOrderEvent(ctx, cid)
	if err != nil {
		return schemas.OrderEvent{}, fmt.Errorf("executor: journal lookup %s: %w", cid, err)
	}
	if ok {
		e.log.Info("executor: decision already journaled; not sending again", "decision_id", decisionID, "client_order_id", cid, "state", last.State)
		ev, err := e.refresh(ctx, last)
		if err == nil {
			e.protectDecision(ctx, decisionID)
			if ev2, ok, _ := e.j.LastOrderEvent(ctx, cid); ok {
				ev = ev2
			}
		}
		return ev, placeErr(ev, err)
	}
	if o.Side == schemas.SideBuy {
		// A buy whose outcome is not known yet (sent and unanswered, lost
		// in a timeout, or journaled by a process killed before it sent
		// it) may be on the exchange: another buy of the symbol beside it
		// could take the position past its cap. It waits for the poll or
		// reconciliation to resolve the first.
		if err := e.unresolvedBuy(ctx, o.Symbol); err != nil {
			return schemas.OrderEvent{}, err
		}
	}
	e.seedLimiter(ctx)
	if !e.limiter.Allow() {
		return schemas.OrderEvent{}, fmt.Errorf("%w: %d orders in the last minute (max %d)", ErrRateLimited, e.limiter.Count(), e.opt.MaxOrdersPerMinute)
	}
	intent := schemas.OrderEvent{
		ClientOrderID: cid, DecisionID: decisionID, Role: RoleEntry, State: schemas.OrderIntent,
		Symbol: o.Symbol, Side: o.Side, Type: string(o.Type), Quantity: o.Quantity, Price: o.Price, At: e.now().UTC(),
	}
	if o.Type == schemas.OrderMarket {
		intent.Price = decimal.Zero
	}
	if o.StopLoss != nil {
		intent.StopPrice = *o.StopLoss
	}
	if err := e.append(ctx, intent); err != nil {
		return schemas.OrderEvent{}, err
	}
	var released []string
	if o.Side == schemas.SideSell {
		// Our stops lock the base asset a sell needs: release them first.
		sold, err := e.releaseStops(ctx, intent)
		if err != nil {
			e.log.Error("executor: releasing stops before a sell failed; sending the sell anyway", "decision_id", decisionID, "err", err)
		}
		released = e.pendingStopDecisions(ctx, o.Symbol)
		if sold.IsPositive() {
			next, done := e.soldFirst(ctx, intent, sold)
			if done {
				for _, d := range released {
					e.protectDecision(ctx, d) // what is left, if anything
				}
				return next, nil
			}
			intent = next
		}
	}
	ev, err := e.submit(ctx, intent)
	if err == nil && ev.FilledQty.Sign() > 0 {
		e.protectDecision(ctx, decisionID)
		if ev2, ok, _ := e.j.LastOrderEvent(ctx, cid); ok {
			ev = ev2
		}
	}
	for _, d := range released {
		e.protectDecision(ctx, d) // back if the sell did not sell
	}
	return ev, err
}

// soldFirst: a protective stop the sell was to release had triggered in
// the meantime (the market fell between the cycle's poll and the sell) and
// sold sold. The balances are read again. When what is free still covers
// the sell, it goes as approved (next is sell). When it covers less but a
// limit sell of it, on the amount step, meets the exchange's minimums, the
// sell goes for that (next: a new intent of the smaller quantity, naming
// the stop; less than the validator approved, in the direction it
// approved). Otherwise it is not sent: the journal closes the intent as
// rejected, naming the stop, and done is true; the caller returns it with
// no error, since the position is sold as the sell meant (sending it would
// only get the exchange's refusal for want of balance, an order error that
// notifies and fails the run).
func (e *Executor) soldFirst(ctx context.Context, sell schemas.OrderEvent, sold decimal.Decimal) (next schemas.OrderEvent, done bool) {
	base, _ := splitSymbol(sell.Symbol)
	if e.cyc != nil {
		e.cyc.balRead = false // the stop's fill changed them
	}
	bals, err := e.balances(ctx)
	if err != nil {
		return sell, false // the exchange says, when the sell is sent
	}
	free := bals[base].Free
	if !free.LessThan(sell.Quantity) {
		return sell, false
	}
	why := fmt.Sprintf("a protective stop sold %s %s first (it triggered before it could be released); %s free, the sell was for %s", sold, base, free, sell.Quantity)
	if m, err := e.market(ctx, sell.Symbol); err == nil && sell.Price.IsPositive() {
		if q := FloorToStep(free, m.AmountStep); q.IsPositive() && !belowMin(m, q, sell.Price) {
			resized := e.next(sell, schemas.OrderIntent, "resized to what is left: "+why)
			resized.Quantity = q
			if err := e.append(ctx, resized); err != nil {
				e.log.Error("executor: journal the resized sell; sending it as approved", "client_order_id", sell.ClientOrderID, "err", err)
				return sell, false
			}
			e.log.Warn("executor: sell resized: its position's stop sold part first", "client_order_id", sell.ClientOrderID, "sold", sold.String(), "quantity", q.String())
			return resized, false
		}
	}
	rej := e.next(sell, schemas.OrderRejected, "not sent: "+why)
	if err := e.append(ctx, rej); err != nil {
		e.log.Error("executor: journal the sell a stop made moot; sending it", "client_order_id", sell.ClientOrderID, "err", err)
		return sell, false
	}
	e.log.Warn("executor: sell not sent: its position's stop sold first", "client_order_id", sell.ClientOrderID, "sold", sold.String(), "free", free.String())
	return rej, true
}

// unresolvedBuy refuses (ErrUnresolvedOrder) when the journal holds a buy
// of symbol whose outcome is not known: intent, submitted or unknown.
func (e *Executor) unresolvedBuy(ctx context.Context, symbol string) error {
	open, err := e.j.OpenOrderEvents(ctx)
	if err != nil {
		return fmt.Errorf("executor: journal: %w", err)
	}
	for _, ev := range open {
		if ev.Symbol != symbol || ev.Side != schemas.SideBuy {
			continue
		}
		switch ev.State {
		case schemas.OrderIntent, schemas.OrderSubmitted, schemas.OrderUnknown:
			return fmt.Errorf("%w: buy %s of %s is %s; no other buy of %s until it is resolved", ErrUnresolvedOrder, ev.ClientOrderID, symbol, ev.State, symbol)
		}
	}
	return nil
}

// pendingStopDecisions lists decisions with a journaled, unsent stop on
// symbol.
func (e *Executor) pendingStopDecisions(ctx context.Context, symbol string) []string {
	open, err := e.j.OpenOrderEvents(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, ev := range open {
		if ev.Role == RoleStop && ev.Symbol == symbol && ev.State == schemas.OrderIntent {
			out = append(out, ev.DecisionID)
		}
	}
	return out
}

// placeErr maps a replayed order's state to Place's error contract.
func placeErr(ev schemas.OrderEvent, err error) error {
	if err != nil {
		return err
	}
	switch ev.State {
	case schemas.OrderRejected:
		return fmt.Errorf("%w: %s", ErrRejected, ev.Reason)
	case schemas.OrderUnknown, schemas.OrderSubmitted:
		return fmt.Errorf("%w: %s", ErrOutcomeUnknown, ev.ClientOrderID)
	}
	return nil
}

func (e *Executor) seedLimiter(ctx context.Context) {
	if e.seeded {
		return
	}
	e.seeded = true
	oc, ok := e.j.(OrderCounter)
	if !ok {
		return
	}
	n, err := oc.OrdersSince(ctx, e.now().Add(-time.Minute))
	if err != nil {
		e.log.Warn("executor: cannot seed the order-rate limit from the journal", "err", err)
		return
	}
	for range n {
		e.limiter.Record()
	}
}

func request(ev schemas.OrderEvent) OrderRequest {
	req := OrderRequest{ClientOrderID: ev.ClientOrderID, Symbol: ev.Symbol, Side: ev.Side, Type: ev.Type,
		Quantity: ev.Quantity, Price: ev.Price}
	if ev.Type == TypeStopLossLimit {
		req.StopPrice = ev.StopPrice
	}
	return req
}

// submit sends an order whose intent is journaled: it journals submitted,
// sends with a bounded wait and journals the outcome.
func (e *Executor) submit(ctx context.Context, intent schemas.OrderEvent) (schemas.OrderEvent, error) {
	sub := e.next(intent, schemas.OrderSubmitted, "")
	if err := e.append(ctx, sub); err != nil {
		// Not sent. The intent stays in the journal; Poll records it as
		// never sent (entries) or sends it (protection).
		return intent, err
	}
	if err := ctx.Err(); err != nil {
		rej := e.next(sub, schemas.OrderRejected, "never sent: "+err.Error())
		if jerr := e.appendAfter(ctx, rej); jerr != nil {
			return sub, errors.Join(jerr, err)
		}
		return rej, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	rep, err := e.send(ctx, request(sub))
	if err == nil {
		if rep.ClientOrderID != "" && rep.ClientOrderID != sub.ClientOrderID {
			e.log.Error("executor: exchange answered with another client order id", "sent", sub.ClientOrderID, "got", rep.ClientOrderID)
		}
		if rep.Status == "" {
			rep.Status = schemas.OrderAcknowledged
		}
		ev, jerr := e.record(ctx, sub, rep)
		if jerr != nil {
			return sub, jerr
		}
		e.trackSent(ev)
		if ev.State == schemas.OrderRejected {
			return ev, fmt.Errorf("%w: %s", ErrRejected, ev.Reason)
		}
		return ev, nil
	}
	if !OutcomeUnknown(err) {
		ev := e.next(sub, schemas.OrderRejected, err.Error())
		if jerr := e.appendAfter(ctx, ev); jerr != nil {
			return sub, errors.Join(jerr, err)
		}
		return ev, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	e.log.Warn("executor: order outcome unknown; resolving by client order id", "client_order_id", sub.ClientOrderID, "err", err)
	unk := e.next(sub, schemas.OrderUnknown, err.Error())
	if jerr := e.appendAfter(ctx, unk); jerr != nil {
		return sub, errors.Join(jerr, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err))
	}
	ev, rerr := e.resolve(ctx, unk)
	e.trackSent(ev)
	if ev.State == schemas.OrderUnknown {
		return ev, fmt.Errorf("%w: %s: %w", ErrOutcomeUnknown, sub.ClientOrderID, errors.Join(err, rerr))
	}
	return ev, placeErr(ev, rerr)
}

// send calls PlaceOrder and waits at most SubmitTimeout (or until ctx is
// done). A reply arriving later is logged and remembered for the resolver.
func (e *Executor) send(ctx context.Context, req OrderRequest) (OrderReport, error) {
	type result struct {
		rep OrderReport
		err error
	}
	// The call is detached from ctx's cancellation: an abandoned send may
	// still complete, and its reply is worth logging.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opt.SubmitTimeout+lateReplyWindow)
	ch := make(chan result, 1)
	go func() {
		rep, err := e.ex.PlaceOrder(callCtx, req)
		ch <- result{rep, err}
	}()
	timer := time.NewTimer(e.opt.SubmitTimeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		cancel()
		return r.rep, r.err
	case <-timer.C:
	case <-ctx.Done():
	}
	e.lateWG.Add(1)
	go func() {
		defer e.lateWG.Done()
		defer cancel()
		r := <-ch
		e.onLate(req, r.rep, r.err)
	}()
	return OrderReport{}, &Error{Kind: KindNetwork, Msg: fmt.Sprintf("no reply to order %s within %s", req.ClientOrderID, e.opt.SubmitTimeout)}
}

// onLate takes a reply that came after SubmitTimeout. An acceptance is
// remembered (the resolver keeps the order unknown rather than conclude
// it was never placed) and journaled as the order's state: the journal is
// all a later process has (a cron `run --once` is a new process each
// cycle), and an exchange that lags in showing the order could otherwise
// let that process conclude "never placed" and leave a filled buy without
// its stop.
func (e *Executor) onLate(req OrderRequest, rep OrderReport, err error) {
	if err != nil {
		e.log.Warn("executor: late reply to an abandoned order", "client_order_id", req.ClientOrderID, "err", err)
		return
	}
	e.log.Warn("executor: late reply: the exchange accepted an order after the wait ended; journaling it",
		"client_order_id", req.ClientOrderID, "status", rep.Status, "filled", rep.FilledQty)
	e.lateMu.Lock()
	e.late[req.ClientOrderID] = rep
	e.lateMu.Unlock()

	e.mu.Lock() // after the Place that sent it, like any other journal write
	defer e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), lateJournalTimeout)
	defer cancel()
	prev, ok, err := e.j.LastOrderEvent(ctx, req.ClientOrderID)
	switch {
	case err != nil:
		e.log.Error("executor: cannot read the journal to record a late reply", "client_order_id", req.ClientOrderID, "err", err)
		return
	case !ok:
		e.log.Error("executor: late reply for an order the journal has never seen", "client_order_id", req.ClientOrderID)
		return
	case prev.State == schemas.OrderRejected && rep.Status != schemas.OrderRejected:
		// Resolved as never placed before the reply came: the exchange
		// has it after all. Only an operator can tell what it did.
		e.log.Error("executor: late reply: the exchange accepted an order the journal holds as never placed; check the account",
			"client_order_id", req.ClientOrderID, "exchange", rep.Status, "filled", rep.FilledQty)
		return
	case prev.State.Final():
		return // a later read already settled it
	}
	if _, err := e.record(ctx, prev, rep); err != nil {
		e.log.Error("executor: cannot journal a late reply", "client_order_id", req.ClientOrderID, "err", err)
	}
}

// lateReplyWindow is how long past SubmitTimeout a send still waits for
// its reply; lateJournalTimeout bounds journaling a late reply.
const (
	lateReplyWindow    = time.Minute
	lateJournalTimeout = 10 * time.Second
)

// LateReplyWait is the longest Wait takes when no Place, Poll or Reconcile
// runs meanwhile (a process closing): a send's whole wait for its reply,
// then journaling it.
func (e *Executor) LateReplyWait() time.Duration {
	return e.opt.SubmitTimeout + lateReplyWindow + lateJournalTimeout
}

// Wait waits until every order sent without a reply in time has its reply
// (each send gives up lateReplyWindow after SubmitTimeout) and the reply is
// journaled, or until ctx is done. A process that ends after its cycle
// (`warden run --once`) calls it before closing the journal, so that what
// the exchange accepted late is on record for the next process.
func (e *Executor) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		e.lateWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Executor) lateReply(cid string) (OrderReport, bool) {
	e.lateMu.Lock()
	defer e.lateMu.Unlock()
	r, ok := e.late[cid]
	return r, ok
}

// read runs one read with a per-attempt timeout, retrying transport errors
// with exponential backoff. Refusals and "not found" are not retried.
func read[T any](ctx context.Context, e *Executor, what string, f func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	wait := e.opt.ReadBackoff
	var err error
	for attempt := 1; ; attempt++ {
		c, cancel := context.WithTimeout(ctx, e.opt.ReadTimeout)
		var v T
		v, err = f(c)
		cancel()
		if err == nil {
			return v, nil
		}
		switch KindOf(err) {
		case KindNotFound, KindRejected, KindAuth, KindBanned:
			return zero, err
		}
		if attempt >= e.opt.ReadAttempts || ctx.Err() != nil {
			return zero, err
		}
		if k := KindOf(err); k == KindRateLimited {
			var xe *Error
			if errors.As(err, &xe) && xe.RetryAfter > wait {
				return zero, err // do not sit out a long Retry-After here
			}
		}
		e.log.Debug("executor: retrying read", "what", what, "attempt", attempt, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, err
		case <-t.C:
		}
		wait *= 2
	}
}

func (e *Executor) fetch(ctx context.Context, symbol, cid string) (OrderReport, error) {
	return read(ctx, e, "fetch "+cid, func(c context.Context) (OrderReport, error) {
		return e.ex.FetchOrder(c, symbol, cid)
	})
}

func (e *Executor) market(ctx context.Context, symbol string) (Market, error) {
	if m, ok := e.markets[symbol]; ok {
		return m, nil
	}
	ms, err := read(ctx, e, "markets", e.ex.Markets)
	if err != nil {
		return Market{}, err
	}
	e.markets = ms
	m, ok := ms[symbol]
	if !ok {
		return Market{}, fmt.Errorf("executor: exchange %s has no market %q", e.ex.Name(), symbol)
	}
	return m, nil
}

// fromReport is prev updated with what the exchange says.
func (e *Executor) fromReport(prev schemas.OrderEvent, rep OrderReport, reason string) schemas.OrderEvent {
	ev := e.next(prev, rep.Status, reason)
	if rep.ExchangeOrderID != "" {
		ev.ExchangeOrderID = rep.ExchangeOrderID
	}
	ev.FilledQty, ev.AvgPrice, ev.Fee, ev.FeeCurrency = rep.FilledQty, rep.AvgPrice, rep.Fee, rep.FeeCurrency
	if ev.FeeCurrency == "" {
		ev.FeeCurrency = prev.FeeCurrency
	}
	// A final report of a partially filled order keeps its fills; a
	// report never reduces what was filled.
	if ev.FilledQty.LessThan(prev.FilledQty) {
		ev.FilledQty, ev.AvgPrice, ev.Fee = prev.FilledQty, prev.AvgPrice, prev.Fee
	}
	return ev
}

func changed(prev, ev schemas.OrderEvent) bool {
	return prev.State != ev.State || !prev.FilledQty.Equal(ev.FilledQty) || !prev.Fee.Equal(ev.Fee) ||
		prev.ExchangeOrderID != ev.ExchangeOrderID
}

// record journals what the exchange reports about an order, when it is new.
// For a protected entry whose fill grew, the stop it now needs is journaled
// (as intent) first, so a crash right after cannot leave the fill
// unprotected.
func (e *Executor) record(ctx context.Context, prev schemas.OrderEvent, rep OrderReport) (schemas.OrderEvent, error) {
	return e.recordWhy(ctx, prev, rep, "")
}

// recordWhy is record, with the reason the new event carries.
func (e *Executor) recordWhy(ctx context.Context, prev schemas.OrderEvent, rep OrderReport, reason string) (schemas.OrderEvent, error) {
	switch rep.Status {
	case schemas.OrderAcknowledged, schemas.OrderPartiallyFilled, schemas.OrderFilled, schemas.OrderCancelled, schemas.OrderRejected:
	default:
		return prev, fmt.Errorf("executor: exchange reported status %q for %s", rep.Status, prev.ClientOrderID)
	}
	ev := e.fromReport(prev, rep, reason)
	if prev.State.Final() || !changed(prev, ev) {
		return prev, nil
	}
	if ev.Role == RoleEntry && needsProtection(ev) && ev.FilledQty.GreaterThan(prev.FilledQty) {
		if err := e.planStop(ctx, ev); err != nil {
			e.log.Error("executor: cannot journal the protective stop before the fill", "client_order_id", ev.ClientOrderID, "err", err)
		}
	}
	if err := e.appendAfter(ctx, ev); err != nil {
		return prev, err
	}
	e.countFill(prev, ev)
	return ev, nil
}

// countFill adds the balance changes a fill implies to the running delta
// Reconcile compares against.
func (e *Executor) countFill(prev, ev schemas.OrderEvent) {
	dq := ev.FilledQty.Sub(prev.FilledQty)
	if dq.Sign() <= 0 {
		return
	}
	if e.cyc != nil && e.cyc.balRead {
		e.cyc.fillsAfterRead = true
	}
	base, quote := splitSymbol(ev.Symbol)
	if m, ok := e.markets[ev.Symbol]; ok {
		base, quote = m.Base, m.Quote
	}
	dQuote := ev.FilledQty.Mul(ev.AvgPrice).Sub(prev.FilledQty.Mul(prev.AvgPrice))
	if ev.Side == schemas.SideSell {
		dq, dQuote = dq.Neg(), dQuote.Neg()
	}
	e.delta[base] = e.delta[base].Add(dq)
	e.delta[quote] = e.delta[quote].Sub(dQuote)
	if ev.FeeCurrency != "" {
		e.delta[ev.FeeCurrency] = e.delta[ev.FeeCurrency].Sub(ev.Fee.Sub(prev.Fee))
	}
}

func splitSymbol(s string) (base, quote string) {
	b, q, _ := strings.Cut(s, "/")
	return b, q
}

// resolve settles a submitted or unknown order by asking the exchange for
// its client order id; see Options.NotFoundLookups for when "not found"
// counts as never placed. The count of "not found" answers and the time of
// submission come from the journal (see OrderHistorian), so every process
// reaches the same verdict.
func (e *Executor) resolve(ctx context.Context, ev schemas.OrderEvent) (schemas.OrderEvent, error) {
	if ev.State == schemas.OrderSubmitted {
		unk := e.next(ev, schemas.OrderUnknown, "outcome not recorded after submission (process stopped or journal failed); resolving by client order id")
		if err := e.append(ctx, unk); err != nil {
			return ev, err
		}
		ev = unk
	}
	rep, err := e.fetch(ctx, ev.Symbol, ev.ClientOrderID)
	if err == nil {
		delete(e.notFound, ev.ClientOrderID)
		e.log.Info("executor: unknown order resolved", "client_order_id", ev.ClientOrderID, "status", rep.Status)
		return e.record(ctx, ev, rep)
	}
	if KindOf(err) != KindNotFound {
		return ev, err
	}
	if _, ok := e.lateReply(ev.ClientOrderID); ok {
		e.log.Warn("executor: exchange does not show an order it accepted late; staying unknown", "client_order_id", ev.ClientOrderID)
		return ev, nil
	}
	n, since, durable, err := e.unresolvedRun(ctx, ev)
	if err != nil {
		return ev, err
	}
	n++ // this answer
	age := e.now().Sub(since)
	if n < e.opt.NotFoundLookups || age < e.opt.NotFoundGrace {
		e.log.Info("executor: unknown order not found yet; staying unknown", "client_order_id", ev.ClientOrderID, "lookups", n, "age", age)
		if !durable {
			e.notFound[ev.ClientOrderID] = n
			return ev, nil
		}
		if n > e.opt.NotFoundLookups {
			return ev, nil // enough answers journaled; only the grace is left
		}
		nf := e.next(ev, schemas.OrderUnknown, fmt.Sprintf("%s (answer %d of %d needed; submitted %s ago, grace %s)",
			notFoundReason, n, e.opt.NotFoundLookups, age.Round(time.Second), e.opt.NotFoundGrace))
		if err := e.append(ctx, nf); err != nil {
			return ev, err
		}
		return nf, nil
	}
	delete(e.notFound, ev.ClientOrderID)
	rej := e.next(ev, schemas.OrderRejected, fmt.Sprintf("never placed: not found by client order id in %d lookups, %s after it was submitted", n, age.Round(time.Second)))
	if err := e.append(ctx, rej); err != nil {
		return ev, err
	}
	return rej, nil
}

// refresh brings one journaled, possibly open order up to date without ever
// sending it again.
func (e *Executor) refresh(ctx context.Context, ev schemas.OrderEvent) (schemas.OrderEvent, error) {
	switch ev.State {
	case schemas.OrderIntent:
		if ev.Role != RoleEntry {
			return ev, nil // pending protection: protectDecision sends it
		}
		rej := e.next(ev, schemas.OrderRejected, "never sent: the process stopped (or the journal failed) before submission")
		if err := e.append(ctx, rej); err != nil {
			return ev, err
		}
		return rej, nil
	case schemas.OrderSubmitted, schemas.OrderUnknown:
		return e.resolve(ctx, ev)
	case schemas.OrderAcknowledged, schemas.OrderPartiallyFilled:
		// One list of open orders per cycle: an order still open there
		// is brought up to date from it; only one that left it (filled,
		// cancelled, expired) is fetched by client id.
		if e.cyc != nil {
			if _, open, err := e.openOrders(ctx); err == nil {
				if rep, ok := open[ev.ClientOrderID]; ok && isLive(rep.Status) {
					return e.record(ctx, ev, rep)
				}
			}
		}
		rep, err := e.fetch(ctx, ev.Symbol, ev.ClientOrderID)
		if err != nil {
			if KindOf(err) == KindNotFound {
				e.log.Error("executor: acknowledged order not found on the exchange", "client_order_id", ev.ClientOrderID)
			}
			return ev, err
		}
		return e.record(ctx, ev, rep)
	}
	return ev, nil
}
