package backtest

import (
	"context"
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// auditTee is the store of an audited backtest. Every record goes to the
// audit database, as in `warden run`; everything the agent and the
// executor read back (breaker levels and error count, peak and day-start
// equity, the order journal, recent model calls, alerts already raised)
// is answered from memory, which the same calls keep. A backtest is the
// only process writing its fresh database, so memory and database hold
// the same answers, and no cycle waits for queued records to be committed
// before it may read: the audit store commits them in large batches.
//
// A write goes to the audit store first; memory changes only once the
// audit store took it, so what the run reads back is always on record.
type auditTee struct {
	*memStore
	a     *audit.Store
	clock func() time.Time
	// calls are the model calls recorded, by time (then recording order).
	calls []teeCall
	// spent are the tokens of the model calls by when they were sent
	// (audit.LLMCall.SentAt, else At), as the store's token count reads
	// them.
	spent []teeSpend
	// once are the (event kind, dedup key) pairs RecordEventOnce recorded.
	once map[[2]string]bool
}

type teeCall struct {
	at      time.Time
	invalid bool
}

type teeSpend struct {
	sent   time.Time
	tokens int64
}

var (
	_ agent.Store                = (*auditTee)(nil)
	_ agent.AlertStore           = (*auditTee)(nil)
	_ agent.InvalidOutputCounter = (*auditTee)(nil)
	_ executor.Journal           = (*auditTee)(nil)
	_ executor.OrderCounter      = (*auditTee)(nil)
)

func newAuditTee(a *audit.Store, clock func() time.Time) *auditTee {
	return &auditTee{memStore: newMemStore(), a: a, clock: clock, once: map[[2]string]bool{}}
}

// Ephemeral is false: everything is recorded.
func (t *auditTee) Ephemeral() bool { return false }

func (t *auditTee) BeginRun(ctx context.Context, r audit.Run) error { return t.a.BeginRun(ctx, r) }

func (t *auditTee) EndRun(ctx context.Context, runID, status string, summary any) error {
	return t.a.EndRun(ctx, runID, status, summary)
}

func (t *auditTee) RecordResponse(ctx context.Context, runID string, raw []byte, parsed *schemas.Response, schemaErrors []schemas.Violation) error {
	return t.a.RecordResponse(ctx, runID, raw, parsed, schemaErrors)
}

func (t *auditTee) RecordVerdicts(ctx context.Context, runID, policyHash string, st schemas.State, vs []schemas.Verdict) ([]string, error) {
	return t.a.RecordVerdicts(ctx, runID, policyHash, st, vs)
}

func (t *auditTee) RecordEvent(ctx context.Context, e audit.Event) error {
	if e.At.IsZero() {
		e.At = t.clock()
	}
	return t.a.RecordEvent(ctx, e)
}

// RecordLLMCall records the call and keeps what the invalid-output
// breaker and the token budget read back.
func (t *auditTee) RecordLLMCall(ctx context.Context, c audit.LLMCall) error {
	if c.At.IsZero() {
		c.At = t.clock()
	}
	if err := t.a.RecordLLMCall(ctx, c); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	i := sort.Search(len(t.calls), func(i int) bool { return t.calls[i].at.After(c.At) })
	t.calls = append(t.calls, teeCall{})
	copy(t.calls[i+1:], t.calls[i:])
	t.calls[i] = teeCall{at: c.At, invalid: audit.InvalidOutput(c.Status, c.Kind)}
	sent := c.SentAt
	if sent.IsZero() {
		sent = c.At
	}
	j := sort.Search(len(t.spent), func(j int) bool { return t.spent[j].sent.After(sent) })
	t.spent = append(t.spent, teeSpend{})
	copy(t.spent[j+1:], t.spent[j:])
	t.spent[j] = teeSpend{sent: sent, tokens: c.Tokens()}
	return nil
}

// RecentInvalidOutput counts invalid output over the last n model calls,
// like audit.Store.
func (t *auditTee) RecentInvalidOutput(_ context.Context, n int) (calls, invalid int, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	recent := t.calls
	if n >= 0 && len(recent) > n {
		recent = recent[len(recent)-n:]
	}
	for _, c := range recent {
		calls++
		if c.invalid {
			invalid++
		}
	}
	return calls, invalid, nil
}

// TokensUsedSince sums the tokens of the model calls sent at or after
// since, like audit.Store.
func (t *auditTee) TokensUsedSince(_ context.Context, since time.Time) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := sort.Search(len(t.spent), func(i int) bool { return !t.spent[i].sent.Before(since) })
	var n int64
	for _, c := range t.spent[i:] {
		n += c.tokens
	}
	return n, nil
}

// RecordEventOnce records e unless an event of its kind with the same
// dedup key was recorded before; only a first one reaches the database
// (which checks again).
func (t *auditTee) RecordEventOnce(ctx context.Context, e audit.Event, dedupKey string) (bool, error) {
	k := [2]string{e.Kind, dedupKey}
	t.mu.Lock()
	seen := t.once[k]
	t.mu.Unlock()
	if seen {
		return false, nil
	}
	if e.At.IsZero() {
		e.At = t.clock()
	}
	recorded, err := t.a.RecordEventOnce(ctx, e, dedupKey)
	if err != nil {
		return false, err
	}
	t.mu.Lock()
	t.once[k] = true
	t.mu.Unlock()
	return recorded, nil
}

// RaiseLevel queues the raise with the other records and returns the
// state memory computes; the record, when committed, computes the same
// from the records before it (TestAuditTeeAnswersAsTheDatabase).
func (t *auditTee) RaiseLevel(ctx context.Context, tr audit.LevelTrip) (audit.LevelState, error) {
	if tr.At.IsZero() {
		tr.At = t.clock()
	}
	if err := t.a.QueueRaiseLevel(ctx, tr); err != nil {
		return audit.LevelState{}, err
	}
	return t.memStore.RaiseLevel(ctx, tr)
}

// CountError counts a failed cycle in memory and queues the record that
// counts it in the database (which comes to the same count from the
// records before it).
func (t *auditTee) CountError(ctx context.Context, at time.Time, runID, component, msg string) (int, error) {
	if at.IsZero() {
		at = t.clock()
	}
	if err := t.a.QueueCountError(ctx, at, runID, component, msg); err != nil {
		return 0, err
	}
	return t.memStore.CountError(ctx, at, runID, component, msg)
}

// ResetErrors ends a run of failed cycles; the database is written only
// when there was one (as audit.Store does after reading its count).
func (t *auditTee) ResetErrors(ctx context.Context, at time.Time, runID string) error {
	t.mu.Lock()
	n := t.errors
	t.mu.Unlock()
	if n == 0 {
		return nil
	}
	if at.IsZero() {
		at = t.clock()
	}
	if err := t.a.QueueResetErrors(ctx, at, runID); err != nil {
		return err
	}
	return t.memStore.ResetErrors(ctx, at, runID)
}

func (t *auditTee) RecordEquity(ctx context.Context, at time.Time, eq decimal.Decimal) error {
	if err := t.a.RecordEquity(ctx, at, eq); err != nil {
		return err
	}
	return t.memStore.RecordEquity(ctx, at, eq)
}

// AppendOrderEvent journals the event in the database, then in memory.
func (t *auditTee) AppendOrderEvent(ctx context.Context, ev schemas.OrderEvent) error {
	if err := t.a.AppendOrderEvent(ctx, ev); err != nil {
		return err
	}
	return t.memStore.AppendOrderEvent(ctx, ev)
}
