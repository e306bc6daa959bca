package audit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// Filter selects decisions. Zero fields do not filter.
type Filter struct {
	From     time.Time        // decisions at or after
	To       time.Time        // decisions before
	RunID    string           //
	Symbol   string           // "BTC/USDT"
	Decision schemas.Decision // approved, rejected, no_action
	Rule     string           // a rule that failed (violation or warning)
	Advisor  string
	Model    string
	Limit    int // List: the newest Limit decisions; Export: the oldest Limit
}

// DecisionRow is one recorded verdict with what it judged.
type DecisionRow struct {
	Seq            int64            `json:"seq"`
	DecisionID     string           `json:"decision_id"`
	RunID          string           `json:"run_id"`
	At             time.Time        `json:"at"`
	Symbol         string           `json:"symbol"`
	Action         schemas.Action   `json:"action"`
	Decision       schemas.Decision `json:"decision"`
	Advisor        string           `json:"advisor,omitempty"`
	Model          string           `json:"model,omitempty"`
	PolicyHash     string           `json:"policy_hash"`
	Recommendation json.RawMessage  `json:"recommendation,omitempty"`
	Verdict        schemas.Verdict  `json:"verdict"`
}

// FailedRules lists the rules that rejected the decision, then those that
// only warned (marked "(warn)").
func (d *DecisionRow) FailedRules() []string {
	var out []string
	for _, v := range d.Verdict.Violations {
		out = append(out, v.Rule)
	}
	for _, v := range d.Verdict.Warnings {
		out = append(out, v.Rule+" (warn)")
	}
	return out
}

func (f Filter) where() (string, []any) {
	conds := []string{"r.kind = 'verdict'"}
	var args []any
	add := func(c string, a ...any) { conds = append(conds, c); args = append(args, a...) }
	if !f.From.IsZero() {
		add("r.at >= CAST(? AS INTEGER)", f.From.UnixNano())
	}
	if !f.To.IsZero() {
		add("r.at < CAST(? AS INTEGER)", f.To.UnixNano())
	}
	if f.RunID != "" {
		add("r.run_id = CAST(? AS TEXT) AND r.run_id <> ''", f.RunID)
	}
	if f.Symbol != "" {
		add("r.symbol = CAST(? AS TEXT)", f.Symbol)
	}
	if f.Decision != "" {
		add("r.state = CAST(? AS TEXT)", string(f.Decision))
	}
	if f.Rule != "" {
		add(`(EXISTS (SELECT 1 FROM json_each(r.body, '$.verdict.violations') v WHERE json_extract(v.value, '$.rule') = ?)
		   OR EXISTS (SELECT 1 FROM json_each(r.body, '$.verdict.warnings') v WHERE json_extract(v.value, '$.rule') = ?))`, f.Rule, f.Rule)
	}
	if f.Advisor != "" {
		add("json_extract(r.body, '$.advisor') = ?", f.Advisor)
	}
	if f.Model != "" {
		add("json_extract(r.body, '$.model') = ?", f.Model)
	}
	return strings.Join(conds, " AND "), args
}

// List returns the decisions matching f, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]DecisionRow, error) {
	var out []DecisionRow
	err := s.eachDecision(ctx, f, true, func(d DecisionRow) error {
		out = append(out, d)
		return nil
	})
	return out, err
}

func (s *Store) eachDecision(ctx context.Context, f Filter, newestFirst bool, fn func(DecisionRow) error) error {
	where, args := f.where()
	return s.eachBody(ctx, "decision", where, args, newestFirst, f.Limit, func(seq int64, body []byte) error {
		d, err := decodeDecision(seq, body)
		if err != nil {
			return err
		}
		return fn(d)
	})
}

// eachBody hands fn the seq and body of every record matching where (on
// records r), in seq order, newest first when asked, at most limit when
// limit > 0. what names the records in errors ("decision": "list
// decisions", "read decision").
func (s *Store) eachBody(ctx context.Context, what, where string, args []any, newestFirst bool, limit int, fn func(seq int64, body []byte) error) error {
	q := "SELECT r.seq, r.body FROM records r WHERE " + where + " ORDER BY r.seq"
	if newestFirst {
		q += " DESC"
	}
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("audit: list %ss: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq  int64
			body []byte
		)
		if err := rows.Scan(&seq, &body); err != nil {
			return fmt.Errorf("audit: read %s: %w", what, err)
		}
		if err := fn(seq, body); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: list %ss: %w", what, err)
	}
	return nil
}

func decodeDecision(seq int64, body []byte) (DecisionRow, error) {
	var vb verdictBody
	if err := json.Unmarshal(body, &vb); err != nil {
		return DecisionRow{}, fmt.Errorf("audit: decode decision at seq %d: %w", seq, err)
	}
	return DecisionRow{
		Seq: seq, DecisionID: vb.DecisionID, RunID: vb.RunID, At: vb.At,
		Symbol: vb.Verdict.Symbol, Action: vb.Verdict.Action, Decision: vb.Verdict.Decision,
		Advisor: vb.Advisor, Model: vb.Model, PolicyHash: vb.PolicyHash,
		Recommendation: vb.Recommendation, Verdict: vb.Verdict,
	}, nil
}

// Export formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// csvHeader is the header of a CSV export.
var csvHeader = []string{"seq", "decision_id", "run_id", "at", "symbol", "action", "decision", "advisor", "model",
	"policy_hash", "violations", "warnings", "side", "quantity", "price", "notional", "confidence", "size_pct", "reason"}

// Export writes the decisions matching f, oldest first, as JSON lines (one
// DecisionRow per line) or CSV (one row per decision; rules joined by
// ";").
func (s *Store) Export(ctx context.Context, w io.Writer, format string, f Filter) error {
	switch format {
	case FormatJSONL:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return s.eachDecision(ctx, f, false, func(d DecisionRow) error { return enc.Encode(d) })
	case FormatCSV:
		cw := NewCSVWriter(w)
		if err := cw.Write(csvHeader); err != nil {
			return err
		}
		err := s.eachDecision(ctx, f, false, func(d DecisionRow) error {
			var rec struct {
				Confidence json.Number `json:"confidence"`
				SizePct    json.Number `json:"size_pct"`
				Reason     string      `json:"reason"`
			}
			if len(d.Recommendation) > 0 && string(d.Recommendation) != "null" {
				// The recommendation is what the model said; unreadable fields stay empty.
				_ = json.Unmarshal(d.Recommendation, &rec)
			}
			var side, qty, price, notional string
			if o := d.Verdict.Order; o != nil {
				side, qty, price, notional = string(o.Side), o.Quantity.String(), o.Price.String(), o.Notional.String()
			}
			var viol, warn []string
			for _, v := range d.Verdict.Violations {
				viol = append(viol, v.Rule)
			}
			for _, v := range d.Verdict.Warnings {
				warn = append(warn, v.Rule)
			}
			return cw.Write([]string{strconv.FormatInt(d.Seq, 10), d.DecisionID, d.RunID, d.At.UTC().Format(time.RFC3339Nano),
				d.Symbol, string(d.Action), string(d.Decision), d.Advisor, d.Model, d.PolicyHash,
				strings.Join(viol, ";"), strings.Join(warn, ";"), side, qty, price, notional,
				rec.Confidence.String(), rec.SizePct.String(), rec.Reason})
		})
		if err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	}
	return fmt.Errorf("audit: export format %q: want %q or %q", format, FormatJSONL, FormatCSV)
}

// RecordedDecision is what policy replay needs of one past decision: the
// recommendation, the state it was judged against, and the verdict given.
type RecordedDecision struct {
	DecisionID     string                  `json:"decision_id"`
	RunID          string                  `json:"run_id"`
	At             time.Time               `json:"at"`
	PolicyHash     string                  `json:"policy_hash"`
	Recommendation *schemas.Recommendation `json:"recommendation"` // nil when the response never parsed
	State          schemas.State           `json:"state"`
	Verdict        schemas.Verdict         `json:"verdict"`
}

// RecordedDecisions returns every decision recorded at or after since,
// oldest first, with its recommendation and state, for policy replay.
func (s *Store) RecordedDecisions(ctx context.Context, since time.Time) ([]RecordedDecision, error) {
	rows, err := s.query(ctx, `
		SELECT r.seq, r.body, COALESCE(st.body, 'null') FROM records r
		LEFT JOIN records st ON st.seq = r.parent AND st.kind = 'state'
		WHERE r.kind = 'verdict' AND r.at >= CAST(? AS INTEGER)
		ORDER BY r.seq`, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("audit: recorded decisions: %w", err)
	}
	defer rows.Close()
	var out []RecordedDecision
	for rows.Next() {
		var (
			seq         int64
			body, state []byte
		)
		if err := rows.Scan(&seq, &body, &state); err != nil {
			return nil, fmt.Errorf("audit: read decision: %w", err)
		}
		d, err := decodeDecision(seq, body)
		if err != nil {
			return nil, err
		}
		rd := RecordedDecision{DecisionID: d.DecisionID, RunID: d.RunID, At: d.At, PolicyHash: d.PolicyHash, Verdict: d.Verdict}
		if len(d.Recommendation) > 0 && string(d.Recommendation) != "null" {
			rd.Recommendation = new(schemas.Recommendation)
			if err := json.Unmarshal(d.Recommendation, rd.Recommendation); err != nil {
				return nil, fmt.Errorf("audit: decode recommendation of %s: %w", d.DecisionID, err)
			}
		}
		if state, err = s.stateJSON(ctx, state); err != nil {
			return nil, fmt.Errorf("audit: state of %s: %w", d.DecisionID, err)
		}
		if err := json.Unmarshal(state, &rd.State); err != nil {
			return nil, fmt.Errorf("audit: decode state of %s: %w", d.DecisionID, err)
		}
		out = append(out, rd)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: recorded decisions: %w", err)
	}
	return out, nil
}

// Story is everything recorded about one run or one decision: the run, its
// model calls (prompts and raw responses), the parsed responses, the
// decisions with their rule results, the orders and fills, the events and
// the notifications with their delivery attempts.
type Story struct {
	ID            string               `json:"id"`
	Kind          string               `json:"kind"` // "run" or "decision"
	Run           *Run                 `json:"run,omitempty"`
	End           *RunEnd              `json:"end,omitempty"`
	LLMCalls      []LLMCall            `json:"llm_calls"`
	Responses     []ResponseRecord     `json:"responses"`
	Decisions     []DecisionStory      `json:"decisions"`
	Events        []Event              `json:"events"`
	Notifications []NotificationRecord `json:"notifications"`
}

// DecisionStory is one decision with the state it was judged against and
// the orders it led to.
type DecisionStory struct {
	DecisionRow
	State  json.RawMessage `json:"state,omitempty"`
	Orders []OrderStory    `json:"orders"`
}

// OrderStory is one order's history and fills.
type OrderStory struct {
	ClientOrderID string               `json:"client_order_id"`
	Events        []schemas.OrderEvent `json:"events"`
	Fills         []executor.Trade     `json:"fills,omitempty"` // trade records, when the exchange's trades were recorded
}

// Show returns the story of a run (id is a run id) or of one decision (id
// is a decision id, "<run>:<index>"). ErrNotFound when neither is known.
func (s *Store) Show(ctx context.Context, id string) (Story, error) {
	st := Story{ID: id, LLMCalls: []LLMCall{}, Responses: []ResponseRecord{}, Decisions: []DecisionStory{}, Events: []Event{}, Notifications: []NotificationRecord{}}
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM records WHERE decision_id = CAST(? AS TEXT) AND kind = 'verdict'`, id).Scan(&n); err != nil {
		return st, fmt.Errorf("audit: show %s: %w", id, err)
	}
	runID := id
	if n > 0 {
		st.Kind = "decision"
		if err := s.queryRow(ctx, `SELECT run_id FROM records WHERE decision_id = CAST(? AS TEXT) AND kind = 'verdict'`, id).Scan(&runID); err != nil {
			return st, fmt.Errorf("audit: show %s: %w", id, err)
		}
	} else {
		if err := s.queryRow(ctx, `SELECT COUNT(*) FROM records WHERE run_id = CAST(? AS TEXT) AND run_id <> '' AND kind IN ('run', 'verdict', 'llm_call', 'response')`, id).Scan(&n); err != nil {
			return st, fmt.Errorf("audit: show %s: %w", id, err)
		}
		if n == 0 || id == "" {
			return st, fmt.Errorf("%w: no run or decision %q", ErrNotFound, id)
		}
		st.Kind = "run"
	}

	rows, err := s.query(ctx, `SELECT seq, kind, parent, body FROM records WHERE run_id = CAST(? AS TEXT) AND run_id <> '' ORDER BY seq`, runID)
	if err != nil {
		return st, fmt.Errorf("audit: show %s: %w", id, err)
	}
	defer rows.Close()
	states := map[int64]json.RawMessage{}
	notes := map[int64]int{} // notification seq -> index in st.Notifications
	for rows.Next() {
		var (
			seq, parent int64
			kind        string
			body        []byte
		)
		if err := rows.Scan(&seq, &kind, &parent, &body); err != nil {
			return st, fmt.Errorf("audit: show %s: %w", id, err)
		}
		var derr error
		switch kind {
		case KindRun:
			st.Run = new(Run)
			derr = json.Unmarshal(body, st.Run)
		case KindRunEnd:
			st.End = new(RunEnd)
			derr = json.Unmarshal(body, st.End)
		case KindLLMCall:
			var c LLMCall
			if derr = json.Unmarshal(body, &c); derr == nil {
				derr = s.resolveCall(ctx, &c)
			}
			st.LLMCalls = append(st.LLMCalls, c)
		case KindResponse:
			var r ResponseRecord
			if derr = json.Unmarshal(body, &r); derr == nil {
				derr = s.resolveResponse(ctx, &r)
			}
			st.Responses = append(st.Responses, r)
		case KindState:
			var js []byte
			if js, derr = s.stateJSON(ctx, body); derr == nil {
				states[seq] = json.RawMessage(js)
			}
		case KindVerdict:
			d, err := decodeDecision(seq, body)
			if err != nil {
				return st, err
			}
			if st.Kind == "decision" && d.DecisionID != id {
				continue
			}
			st.Decisions = append(st.Decisions, DecisionStory{DecisionRow: d, State: states[parent]})
		case KindEvent:
			var e Event
			derr = json.Unmarshal(body, &e)
			st.Events = append(st.Events, e)
		case KindNotification:
			var nr NotificationRecord
			derr = json.Unmarshal(body, &nr.Notification)
			nr.Attempts = []schemas.DeliveryAttempt{}
			notes[seq] = len(st.Notifications)
			st.Notifications = append(st.Notifications, nr)
		case KindDelivery:
			var a schemas.DeliveryAttempt
			derr = json.Unmarshal(body, &a)
			if i, ok := notes[a.NotificationID]; ok {
				st.Notifications[i].Attempts = append(st.Notifications[i].Attempts, a)
			}
		}
		if derr != nil {
			return st, fmt.Errorf("audit: show %s: decode %s at seq %d: %w", id, kind, seq, derr)
		}
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("audit: show %s: %w", id, err)
	}
	rows.Close()

	// States and orders of each decision.
	for i := range st.Decisions {
		d := &st.Decisions[i]
		orders, err := s.ordersOfDecision(ctx, d.DecisionID)
		if err != nil {
			return st, err
		}
		d.Orders = orders
	}
	return st, nil
}

// ordersOfDecision returns the orders a decision led to, with their events
// and fills, in the order they were first recorded.
func (s *Store) ordersOfDecision(ctx context.Context, decisionID string) ([]OrderStory, error) {
	rows, err := s.query(ctx, `SELECT kind, ref, body FROM records WHERE decision_id = CAST(? AS TEXT) AND decision_id <> '' AND kind IN ('order_event', 'fill') ORDER BY seq`, decisionID)
	if err != nil {
		return nil, fmt.Errorf("audit: orders of %s: %w", decisionID, err)
	}
	defer rows.Close()
	out := []OrderStory{}
	idx := map[string]int{}
	for rows.Next() {
		var kind, ref string
		var body []byte
		if err := rows.Scan(&kind, &ref, &body); err != nil {
			return nil, fmt.Errorf("audit: orders of %s: %w", decisionID, err)
		}
		i, ok := idx[ref]
		if !ok {
			i = len(out)
			idx[ref] = i
			out = append(out, OrderStory{ClientOrderID: ref, Events: []schemas.OrderEvent{}, Fills: []executor.Trade{}})
		}
		if kind == KindFill {
			var t executor.Trade
			if err := json.Unmarshal(body, &t); err != nil {
				return nil, fmt.Errorf("audit: decode fill of %s: %w", ref, err)
			}
			out[i].Fills = append(out[i].Fills, t)
			continue
		}
		var ev schemas.OrderEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			return nil, fmt.Errorf("audit: decode order event of %s: %w", ref, err)
		}
		out[i].Events = append(out[i].Events, ev)
	}
	return out, rows.Err()
}

// RawRecord is one row of the records table as stored, hashes in hex: what
// ExportRecords writes, enough to recompute the chain elsewhere.
type RawRecord struct {
	Seq        int64           `json:"seq"`
	Kind       string          `json:"kind"`
	At         int64           `json:"at_ns"`
	RunID      string          `json:"run_id,omitempty"`
	DecisionID string          `json:"decision_id,omitempty"`
	Ref        string          `json:"ref,omitempty"`
	Symbol     string          `json:"symbol,omitempty"`
	State      string          `json:"state,omitempty"`
	Dedup      string          `json:"dedup,omitempty"`
	Parent     int64           `json:"parent,omitempty"`
	Due        int64           `json:"due_ns,omitempty"`
	Tokens     int64           `json:"tokens,omitempty"`
	Body       json.RawMessage `json:"body"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
	// Blobs are the texts stored once that Body refers to (a prompt's
	// static parts, long texts), by hash (the SHA-256 of the text's
	// bytes): with them the export is whole without the database.
	Blobs map[string]string `json:"blobs,omitempty"`
}

// ExportRecords writes every record, oldest first, as JSON lines of
// RawRecord: the whole history with its hash chain, and the blobs each
// record refers to, for archiving.
func (s *Store) ExportRecords(ctx context.Context, w io.Writer) error {
	rows, err := s.query(ctx, `SELECT seq, kind, at, run_id, decision_id, ref, symbol, state, dedup, parent, due, tokens, body, prev_hash, hash FROM records ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("audit: export records: %w", err)
	}
	defer rows.Close()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	texts := map[string]string{}
	for rows.Next() {
		var (
			r          RawRecord
			body       []byte
			prev, hash []byte
		)
		if err := rows.Scan(&r.Seq, &r.Kind, &r.At, &r.RunID, &r.DecisionID, &r.Ref, &r.Symbol, &r.State, &r.Dedup, &r.Parent, &r.Due, &r.Tokens, &body, &prev, &hash); err != nil {
			return fmt.Errorf("audit: export records: %w", err)
		}
		if json.Valid(body) {
			r.Body = body
		} else {
			r.Body, _ = json.Marshal(string(body))
		}
		r.PrevHash, r.Hash = hex.EncodeToString(prev), hex.EncodeToString(hash)
		for _, h := range blobRefs(r.Kind, body) {
			text, ok := texts[h]
			if !ok {
				b, err := s.readBlob(ctx, h)
				if err != nil {
					return fmt.Errorf("audit: export records: seq %d: %w", r.Seq, err)
				}
				text = string(b)
				if len(texts) > 64 {
					clear(texts) // the static parts repeat; long unique texts do not
				}
				texts[h] = text
			}
			if r.Blobs == nil {
				r.Blobs = map[string]string{}
			}
			r.Blobs[h] = text
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: export records: %w", err)
	}
	return nil
}

// EventFilter selects events. Zero fields do not filter.
type EventFilter struct {
	From   time.Time // events at or after
	To     time.Time // events before
	Kinds  []string  // any of these kinds (kill_switch, breaker, policy_reload, ...)
	RunID  string
	Symbol string
	State  string // on, off, tripped, refused, ...
	Limit  int    // ListEvents: the newest Limit events; ExportEvents: the oldest Limit
}

// EventRow is one recorded event with its place in the log.
type EventRow struct {
	Seq int64 `json:"seq"`
	Event
}

func (f EventFilter) where() (string, []any) {
	conds := []string{"kind = 'event'"}
	var args []any
	add := func(c string, a ...any) { conds = append(conds, c); args = append(args, a...) }
	if !f.From.IsZero() {
		add("at >= CAST(? AS INTEGER)", f.From.UnixNano())
	}
	if !f.To.IsZero() {
		add("at < CAST(? AS INTEGER)", f.To.UnixNano())
	}
	if len(f.Kinds) > 0 {
		marks := make([]string, len(f.Kinds))
		for i, k := range f.Kinds {
			marks[i] = "CAST(? AS TEXT)"
			args = append(args, k)
		}
		conds = append(conds, "ref IN ("+strings.Join(marks, ", ")+")")
	}
	if f.RunID != "" {
		add("run_id = CAST(? AS TEXT) AND run_id <> ''", f.RunID)
	}
	if f.Symbol != "" {
		add("symbol = CAST(? AS TEXT)", f.Symbol)
	}
	if f.State != "" {
		add("state = CAST(? AS TEXT)", f.State)
	}
	return strings.Join(conds, " AND "), args
}

// ListEvents returns the events matching f, newest first: every kind
// recorded (operator switches, breakers, policy reloads, reconciliation,
// errors...), including kinds this version does not name.
func (s *Store) ListEvents(ctx context.Context, f EventFilter) ([]EventRow, error) {
	out := []EventRow{}
	err := s.eachEvent(ctx, f, true, func(e EventRow) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

func (s *Store) eachEvent(ctx context.Context, f EventFilter, newestFirst bool, fn func(EventRow) error) error {
	where, args := f.where()
	return s.eachBody(ctx, "event", where, args, newestFirst, f.Limit, func(seq int64, body []byte) error {
		e := EventRow{Seq: seq}
		if err := json.Unmarshal(body, &e.Event); err != nil {
			return fmt.Errorf("audit: decode event at seq %d: %w", seq, err)
		}
		return fn(e)
	})
}

// EventKinds returns every event kind recorded, with how many of each, in
// name order.
func (s *Store) EventKinds(ctx context.Context) (map[string]int, error) {
	rows, err := s.query(ctx, `SELECT ref, COUNT(*) FROM records WHERE kind = 'event' GROUP BY ref ORDER BY ref`)
	if err != nil {
		return nil, fmt.Errorf("audit: event kinds: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			k string
			n int
		)
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("audit: event kinds: %w", err)
		}
		out[k] = n
	}
	return out, rows.Err()
}

// eventsCSVHeader is the header of a CSV export of events.
var eventsCSVHeader = []string{"seq", "at", "kind", "state", "symbol", "run_id", "detail"}

// ExportEvents writes the events matching f, oldest first, as JSON lines
// (one EventRow per line) or CSV (the detail as JSON text).
func (s *Store) ExportEvents(ctx context.Context, w io.Writer, format string, f EventFilter) error {
	switch format {
	case FormatJSONL:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return s.eachEvent(ctx, f, false, func(e EventRow) error { return enc.Encode(e) })
	case FormatCSV:
		cw := NewCSVWriter(w)
		if err := cw.Write(eventsCSVHeader); err != nil {
			return err
		}
		err := s.eachEvent(ctx, f, false, func(e EventRow) error {
			return cw.Write([]string{strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), e.Kind, e.State, e.Symbol, e.RunID, string(e.Detail)})
		})
		if err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	}
	return fmt.Errorf("audit: export format %q: want %q or %q", format, FormatJSONL, FormatCSV)
}
