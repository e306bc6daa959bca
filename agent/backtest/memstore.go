package backtest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// memStore is the state a backtest with audit records off keeps in memory:
// exactly what the agent and the executor read back from the audit store
// (the breakers' levels and error count, peak and day-start equity, orders in the
// last minute, the order journal), so a run judges every recommendation as
// it would with the audit on. What the store only records (runs, prompts,
// responses, verdicts, events) is dropped. The kill switch is always off:
// a backtest has no operator.
type memStore struct {
	mu       sync.Mutex
	levels   map[string]audit.LevelState // by level: the latest raise
	errors   int                         // failed cycles in a row
	equities []equityMark                // in recording order; backtest time only grows
	peak     decimal.Decimal
	hasPeak  bool
	intents  []time.Time // intent times, in order
	last     map[string]schemas.OrderEvent
	first    map[string]int // client order id → order of its first event
	open     map[string]bool
}

type equityMark struct {
	at time.Time
	eq decimal.Decimal
}

var (
	_ agent.Store      = (*memStore)(nil)
	_ executor.Journal = (*memStore)(nil)
)

func newMemStore() *memStore {
	return &memStore{levels: map[string]audit.LevelState{}, last: map[string]schemas.OrderEvent{}, first: map[string]int{}, open: map[string]bool{}}
}

func (m *memStore) BeginRun(context.Context, audit.Run) error          { return nil }
func (m *memStore) EndRun(context.Context, string, string, any) error  { return nil }
func (m *memStore) RecordLLMCall(context.Context, audit.LLMCall) error { return nil }

// Ephemeral tells the agent that nothing recorded here is kept, so it
// builds no record only the audit log would read.
func (m *memStore) Ephemeral() bool                                { return true }
func (m *memStore) RecordEvent(context.Context, audit.Event) error { return nil }
func (m *memStore) KillSwitch(context.Context) (bool, error)       { return false, nil }
func (m *memStore) RecordResponse(context.Context, string, []byte, *schemas.Response, []schemas.Violation) error {
	return nil
}

// RecordVerdicts returns the decision ids the audit store would.
func (m *memStore) RecordVerdicts(_ context.Context, runID, _ string, _ schemas.State, vs []schemas.Verdict) ([]string, error) {
	ids := make([]string, len(vs))
	for i, v := range vs {
		ids[i] = audit.DecisionID(runID, v.Index)
	}
	return ids, nil
}

// Level is the breakers' level at now, like audit.Store.
func (m *memStore) Level(_ context.Context, now time.Time) (audit.LevelState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range []string{audit.LevelSafeMode, audit.LevelReduce} {
		if s, ok := m.levels[l]; ok && (s.Until.IsZero() || now.Before(s.Until)) {
			return s, nil
		}
	}
	return audit.LevelState{Level: audit.LevelActive}, nil
}

// RaiseLevel raises a level, keeping a longer cool-down and the start of
// an episode still running, like audit.Store.
func (m *memStore) RaiseLevel(_ context.Context, t audit.LevelTrip) (audit.LevelState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.Level != audit.LevelReduce && t.Level != audit.LevelSafeMode {
		return audit.LevelState{}, fmt.Errorf("backtest: %q is not a level that can be raised", t.Level)
	}
	s := audit.LevelState{Level: t.Level, Since: t.At, Until: t.Until, Reason: t.Reason}
	if prev, ok := m.levels[t.Level]; ok && (prev.Until.IsZero() || t.At.Before(prev.Until)) {
		s.Since = prev.Since
		if prev.Until.IsZero() || prev.Until.After(s.Until) {
			s.Until = prev.Until
		}
	}
	m.levels[t.Level] = s
	return s, nil
}

// CountError counts a failed cycle, like audit.Store.
func (m *memStore) CountError(context.Context, time.Time, string, string, string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errors++
	return m.errors, nil
}

// ResetErrors ends a run of failed cycles.
func (m *memStore) ResetErrors(context.Context, time.Time, string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errors = 0
	return nil
}

// OrdersSince counts order intents at or after t, like audit.Store.
func (m *memStore) OrdersSince(_ context.Context, t time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := sort.Search(len(m.intents), func(i int) bool { return !m.intents[i].Before(t) })
	return len(m.intents) - i, nil
}

func (m *memStore) RecordEquity(_ context.Context, at time.Time, eq decimal.Decimal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.equities = append(m.equities, equityMark{at: at, eq: eq})
	if !m.hasPeak || eq.GreaterThan(m.peak) {
		m.peak, m.hasPeak = eq, true
	}
	return nil
}

func (m *memStore) PeakEquity(context.Context) (decimal.Decimal, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak, m.hasPeak, nil
}

// EquityAt is the equity recorded last at or before t, else the first
// after t, like audit.Store.
func (m *memStore) EquityAt(_ context.Context, t time.Time) (decimal.Decimal, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.equities) == 0 {
		return decimal.Decimal{}, false, nil
	}
	i := sort.Search(len(m.equities), func(i int) bool { return m.equities[i].at.After(t) })
	if i > 0 {
		return m.equities[i-1].eq, true, nil
	}
	return m.equities[0].eq, true, nil
}

func (m *memStore) AppendOrderEvent(_ context.Context, ev schemas.OrderEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, seen := m.first[ev.ClientOrderID]; !seen {
		m.first[ev.ClientOrderID] = len(m.first)
	}
	m.last[ev.ClientOrderID] = ev
	if ev.State == schemas.OrderIntent {
		m.intents = append(m.intents, ev.At)
	}
	if ev.State.Final() {
		delete(m.open, ev.ClientOrderID)
	} else {
		m.open[ev.ClientOrderID] = true
	}
	return nil
}

func (m *memStore) OpenOrderEvents(context.Context) ([]schemas.OrderEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.open) == 0 {
		return nil, nil
	}
	out := make([]schemas.OrderEvent, 0, len(m.open))
	for id := range m.open {
		out = append(out, m.last[id])
	}
	sort.Slice(out, func(i, j int) bool { return m.first[out[i].ClientOrderID] < m.first[out[j].ClientOrderID] })
	return out, nil
}

func (m *memStore) LastOrderEvent(_ context.Context, id string) (schemas.OrderEvent, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ev, ok := m.last[id]
	return ev, ok, nil
}
