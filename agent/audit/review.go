package audit

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// Review is the periodic review of a window of the audit log: what
// traded and at what slippage, what failed and why, what was refused and
// by which rule, the breakers, the model's token use, and the head of
// the hash chain the review was read at.
type Review struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`

	Runs      map[string]int `json:"runs"`      // by outcome (ok, failed, killed, safe_mode, unfinished)
	Decisions map[string]int `json:"decisions"` // by decision (approved, rejected, no_action)
	// Rejections counts rejected decisions by the rule that rejected them
	// (a decision rejected by two rules counts for both), most first.
	Rejections []Count `json:"rejections"`
	// Errors counts failures by component (advisor, schema, market,
	// exchange, executor, protection, reconcile, policy), most first.
	Errors []Count `json:"errors"`
	// ModelCalls counts model calls by status (ok, http_error, refusal,
	// truncated, timeout, transport_error, budget, error), most first;
	// FailedCalls is those not ok.
	ModelCalls  []Count    `json:"model_calls"`
	FailedCalls int        `json:"failed_calls"`
	Tokens      []TokenUse `json:"tokens"` // by model
	// Reliability is per model and prompt version (see Store.Reliability),
	// priced by the caller's table; nil when not asked for.
	Reliability []Reliability `json:"reliability,omitempty"`

	Trips []BreakerTrip `json:"trips"`
	// TripsByBreaker counts the trips per breaker.
	TripsByBreaker []Count `json:"trips_by_breaker"`
	// Levels is the time spent at each level inside the window.
	Levels []LevelTime `json:"levels"`

	Orders   []OrderCount `json:"orders"` // by role and final state
	Fills    []FillRecord `json:"fills"`
	Slippage Slippage     `json:"slippage"`

	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	ChainOK  bool   `json:"chain_ok"`
	// ChainProblem names the first broken record when ChainOK is false.
	ChainProblem string `json:"chain_problem,omitempty"`
}

// Count is a name with how many times it occurred.
type Count struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// TokenUse is the tokens one model used in the window.
type TokenUse struct {
	Model      string `json:"model"`
	Calls      int    `json:"calls"`
	Prompt     int64  `json:"prompt_tokens"`
	Completion int64  `json:"completion_tokens"`
	Total      int64  `json:"total_tokens"`
}

// LevelTime is how long, inside the window, a level was in force.
type LevelTime struct {
	Level    string   `json:"level"`
	Duration Duration `json:"duration"`
	// Share is Duration over the window, in % (2 decimals).
	Share decimal.Decimal `json:"share_pct"`
}

// OrderCount counts orders placed in the window by role and the state
// they are in now.
type OrderCount struct {
	Role  string `json:"role"`
	State string `json:"state"`
	Count int    `json:"count"`
}

// Slippage is the distribution of the fills' slippage against their
// orders' intended prices, in basis points (positive: worse than
// intended).
type Slippage struct {
	Fills int `json:"fills"` // fills with an intended price
	// Unpriced counts fills whose order named no price (market orders).
	Unpriced int             `json:"unpriced"`
	Mean     decimal.Decimal `json:"mean_bps"` // weighted by intended notional
	Min      decimal.Decimal `json:"min_bps"`
	Median   decimal.Decimal `json:"median_bps"`
	P90      decimal.Decimal `json:"p90_bps"`
	Max      decimal.Decimal `json:"max_bps"`
	// Cost is the slippage in quote (negative: better than intended).
	Cost    decimal.Decimal `json:"cost"`
	Buckets []Count         `json:"buckets"`
	ByRole  []RoleSlippage  `json:"by_role"`
}

// RoleSlippage is the slippage of one order role's fills.
type RoleSlippage struct {
	Role  string          `json:"role"`
	Fills int             `json:"fills"`
	Mean  decimal.Decimal `json:"mean_bps"`
	Cost  decimal.Decimal `json:"cost"`
}

// SlippageBuckets are the upper bounds (exclusive, bps) of the slippage
// histogram's buckets; the last bucket is everything at or above the last
// bound.
var SlippageBuckets = []struct {
	Name  string
	Below decimal.Decimal
}{
	{"< -5 bps", decimal.NewFromInt(-5)},
	{"-5 to 0 bps", decimal.Zero},
	{"0 bps", decimal.NewFromInt(0).Add(decimal.New(1, -12))},
	{"0 to 5 bps", decimal.NewFromInt(5)},
	{"5 to 10 bps", decimal.NewFromInt(10)},
	{"10 to 25 bps", decimal.NewFromInt(25)},
	{">= 25 bps", decimal.Zero}, // the rest
}

// BuildReview reads the review of [from, to) from the store. Records are
// taken by their own time, except model calls, which are taken by the run
// they belong to (an online model's call is stamped with wall time, a
// replayed run with its candle's).
func (s *Store) BuildReview(ctx context.Context, from, to time.Time) (Review, error) {
	r := Review{From: from, To: to, Runs: map[string]int{}, Decisions: map[string]int{}}
	runs, err := s.ListRuns(ctx, RunFilter{From: from, To: to})
	if err != nil {
		return r, err
	}
	errs := map[string]int{}
	for _, run := range runs {
		r.Runs[run.Outcome]++
		if n := len(run.OrderErrors); n > 0 {
			errs["executor"] += n
		}
	}
	if err := s.reviewDecisions(ctx, &r, from, to); err != nil {
		return r, err
	}
	if err := s.reviewEventErrors(ctx, errs, from, to); err != nil {
		return r, err
	}
	r.Errors = sortedCounts(errs)
	if err := s.reviewCalls(ctx, &r, from, to); err != nil {
		return r, err
	}
	if r.Trips, err = s.Trips(ctx, from, to); err != nil {
		return r, err
	}
	byBreaker := map[string]int{}
	for _, t := range r.Trips {
		byBreaker[t.Breaker]++
	}
	r.TripsByBreaker = sortedCounts(byBreaker)
	if r.Levels, err = s.levelTimes(ctx, from, to); err != nil {
		return r, err
	}
	if err := s.reviewOrders(ctx, &r, from, to); err != nil {
		return r, err
	}
	if r.Fills, err = s.FillRecords(ctx, from, to); err != nil {
		return r, err
	}
	r.Slippage = SlippageOf(r.Fills)
	rep, err := s.Verify(ctx)
	if err != nil {
		return r, err
	}
	r.HeadSeq, r.HeadHash, r.ChainOK = rep.HeadSeq, rep.HeadHash, rep.OK
	if rep.Broken != nil {
		r.ChainProblem = rep.Broken.String()
	}
	return r, nil
}

func (s *Store) reviewDecisions(ctx context.Context, r *Review, from, to time.Time) error {
	q, args := boundedKind(`SELECT state, COUNT(*) FROM records WHERE kind = 'verdict'`, from, to)
	rows, err := s.query(ctx, q+` GROUP BY state`, args...)
	if err != nil {
		return fmt.Errorf("audit: review decisions: %w", err)
	}
	if err := scanCounts(rows, func(k string, n int) { r.Decisions[k] = n }); err != nil {
		return err
	}
	q, args = boundedKind(`SELECT json_extract(v.value, '$.rule'), COUNT(*) FROM records, json_each(records.body, '$.verdict.violations') v
		WHERE kind = 'verdict' AND state = 'rejected'`, from, to)
	rows, err = s.query(ctx, q+` GROUP BY 1`, args...)
	if err != nil {
		return fmt.Errorf("audit: review rejections: %w", err)
	}
	rules := map[string]int{}
	if err := scanCounts(rows, func(k string, n int) { rules[k] += n }); err != nil {
		return err
	}
	r.Rejections = sortedCounts(rules)
	return nil
}

// reviewEventErrors counts the failures events record: failed cycles by
// component (the error-spike breaker's count), protection failures,
// failed reconciliations, refused policy reloads and error events.
func (s *Store) reviewEventErrors(ctx context.Context, errs map[string]int, from, to time.Time) error {
	q, args := boundedKind(`SELECT ref, state, COALESCE(json_extract(body, '$.detail.component'), '') FROM records
		WHERE kind = 'event' AND ref IN ('error_count', 'protection', 'reconcile', 'policy_reload', 'error')`, from, to)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("audit: review errors: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, state, comp string
		if err := rows.Scan(&kind, &state, &comp); err != nil {
			return fmt.Errorf("audit: review errors: %w", err)
		}
		switch kind {
		case EventErrorCount:
			if state == "0" {
				continue // a good cycle's reset
			}
			if comp == "" {
				comp = "unknown"
			}
			errs[comp]++
		case EventProtection:
			errs["protection"]++
		case EventReconcile:
			if state == "failed" {
				errs["reconcile"]++
			}
		case EventPolicyReload:
			if state == "rejected" {
				errs["policy"]++
			}
		default:
			if comp == "" {
				comp = "error"
			}
			errs[comp]++
		}
	}
	return rows.Err()
}

func (s *Store) reviewCalls(ctx context.Context, r *Review, from, to time.Time) error {
	q, args := boundedKind(`SELECT run_id FROM records WHERE kind = 'run'`, from, to)
	rows, err := s.query(ctx, `SELECT c.state, COALESCE(json_extract(c.body, '$.model'), ''), COUNT(*), COALESCE(SUM(c.tokens), 0),
		COALESCE(SUM(json_extract(c.body, '$.prompt_tokens')), 0), COALESCE(SUM(json_extract(c.body, '$.completion_tokens')), 0)
		FROM records c WHERE c.kind = 'llm_call' AND c.run_id <> '' AND c.run_id IN (`+q+`) GROUP BY 1, 2 ORDER BY 2, 1`, args...)
	if err != nil {
		return fmt.Errorf("audit: review model calls: %w", err)
	}
	defer rows.Close()
	status := map[string]int{}
	models := map[string]*TokenUse{}
	var order []string
	for rows.Next() {
		var (
			st, model                 string
			n                         int
			total, prompt, completion int64
		)
		if err := rows.Scan(&st, &model, &n, &total, &prompt, &completion); err != nil {
			return fmt.Errorf("audit: review model calls: %w", err)
		}
		if st == "" {
			st = "unknown"
		}
		status[st] += n
		if st != "ok" {
			r.FailedCalls += n
		}
		if model == "" {
			model = "-"
		}
		u := models[model]
		if u == nil {
			u = &TokenUse{Model: model}
			models[model] = u
			order = append(order, model)
		}
		u.Calls += n
		u.Total += total
		u.Prompt += prompt
		u.Completion += completion
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: review model calls: %w", err)
	}
	r.ModelCalls = sortedCounts(status)
	r.Tokens = []TokenUse{}
	for _, m := range order {
		r.Tokens = append(r.Tokens, *models[m])
	}
	return nil
}

// reviewOrders counts the orders first journaled in the window by role and
// the state of their newest event.
func (s *Store) reviewOrders(ctx context.Context, r *Review, from, to time.Time) error {
	q, args := boundedKind(`SELECT ref FROM records WHERE kind = 'order_event' AND state = 'intent'`, from, to)
	rows, err := s.query(ctx, `SELECT json_extract(o.body, '$.role'), o.state, COUNT(*) FROM records o
		WHERE o.kind = 'order_event' AND o.seq IN (SELECT MAX(seq) FROM records WHERE kind = 'order_event' AND ref IN (`+q+`) GROUP BY ref)
		GROUP BY 1, 2 ORDER BY 1, 2`, args...)
	if err != nil {
		return fmt.Errorf("audit: review orders: %w", err)
	}
	defer rows.Close()
	r.Orders = []OrderCount{}
	for rows.Next() {
		var c OrderCount
		var role *string
		if err := rows.Scan(&role, &c.State, &c.Count); err != nil {
			return fmt.Errorf("audit: review orders: %w", err)
		}
		if role != nil {
			c.Role = *role
		}
		r.Orders = append(r.Orders, c)
	}
	return rows.Err()
}

// levelTimes is how long reduce and safe mode were in force inside [from,
// to), and active the rest. A level holds from a switch "on" until its
// cool-down (the event's due) or a switch "off", whichever comes first; a
// later "on" while it holds extends it.
func (s *Store) levelTimes(ctx context.Context, from, to time.Time) ([]LevelTime, error) {
	rows, err := s.queryDurable(ctx, `SELECT ref, state, at, due FROM records WHERE kind = 'event' AND ref IN ('safe_mode', 'reduce') ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("audit: level history: %w", err)
	}
	defer rows.Close()
	type span struct{ a, b int64 }
	const open = int64(1<<63 - 1)
	spans := map[string][]span{}
	cur := map[string]*span{}
	for rows.Next() {
		var (
			kind, state string
			at, due     int64
		)
		if err := rows.Scan(&kind, &state, &at, &due); err != nil {
			return nil, fmt.Errorf("audit: level history: %w", err)
		}
		end := due
		if end == 0 {
			end = open
		}
		c := cur[kind]
		if c != nil && at >= c.b {
			spans[kind] = append(spans[kind], *c)
			c = nil
			delete(cur, kind)
		}
		switch {
		case state == "on" && c == nil:
			cur[kind] = &span{at, end}
		case state == "on":
			if end > c.b {
				c.b = end
			}
		case c != nil: // off
			if at < c.b {
				c.b = at
			}
			spans[kind] = append(spans[kind], *c)
			delete(cur, kind)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: level history: %w", err)
	}
	for k, c := range cur {
		spans[k] = append(spans[k], *c)
	}
	lo, hi := from.UnixNano(), to.UnixNano()
	// Before the first run nothing ran: that time is at no level (it was
	// counted as active: a one-hour backtest read "active 7d0h").
	var first sql.NullInt64
	if err := s.queryRowDurable(ctx, `SELECT MIN(at) FROM records WHERE kind = 'run'`).Scan(&first); err != nil {
		return nil, fmt.Errorf("audit: first run: %w", err)
	}
	if !first.Valid {
		lo = hi
	} else if first.Int64 > lo {
		lo = min(first.Int64, hi)
	}
	clip := func(list []span) []span {
		var out []span
		for _, sp := range list {
			a, b := max(sp.a, lo), min(sp.b, hi)
			if a < b {
				out = append(out, span{a, b})
			}
		}
		return out
	}
	// union of sorted spans, as total length
	unionLen := func(list []span) int64 {
		sort.Slice(list, func(i, j int) bool { return list[i].a < list[j].a })
		var total, ca, cb int64
		started := false
		for _, sp := range list {
			if !started || sp.a > cb {
				if started {
					total += cb - ca
				}
				ca, cb, started = sp.a, sp.b, true
				continue
			}
			cb = max(cb, sp.b)
		}
		if started {
			total += cb - ca
		}
		return total
	}
	safe := clip(spans[EventSafeMode])
	reduce := clip(spans[EventReduce])
	safeLen := unionLen(append([]span(nil), safe...))
	anyLen := unionLen(append(append([]span(nil), safe...), reduce...))
	window := hi - lo
	out := []LevelTime{
		{Level: LevelActive, Duration: Duration(window - anyLen)},
		{Level: LevelReduce, Duration: Duration(anyLen - safeLen)},
		{Level: LevelSafeMode, Duration: Duration(safeLen)},
	}
	for i := range out {
		if window > 0 {
			out[i].Share = decimal.NewFromInt(int64(out[i].Duration)).Mul(decimal.NewFromInt(100)).DivRound(decimal.NewFromInt(window), 2)
		}
	}
	return out, nil
}

// SlippageOf is the slippage distribution of fills.
func SlippageOf(fills []FillRecord) Slippage {
	var (
		sl       = Slippage{Buckets: []Count{}, ByRole: []RoleSlippage{}}
		bps      []decimal.Decimal
		weighted decimal.Decimal
		notional decimal.Decimal
		buckets  = make([]int, len(SlippageBuckets))
		roles    = map[string]*struct {
			n            int
			w, not, cost decimal.Decimal
		}{}
	)
	for _, f := range fills {
		b, ok := f.SlippageBps()
		if !ok {
			sl.Unpriced++
			continue
		}
		sl.Fills++
		bps = append(bps, b)
		n := f.Intended.Mul(f.Quantity)
		cost := f.SlippageCost()
		weighted, notional = weighted.Add(cost), notional.Add(n)
		sl.Cost = sl.Cost.Add(cost)
		i := 0
		for i < len(SlippageBuckets)-1 && !b.LessThan(SlippageBuckets[i].Below) {
			i++
		}
		buckets[i]++
		role := f.Role
		if role == "" {
			role = "unknown"
		}
		rs := roles[role]
		if rs == nil {
			rs = &struct {
				n            int
				w, not, cost decimal.Decimal
			}{}
			roles[role] = rs
		}
		rs.n++
		rs.w, rs.not, rs.cost = rs.w.Add(cost), rs.not.Add(n), rs.cost.Add(cost)
	}
	for i, b := range SlippageBuckets {
		sl.Buckets = append(sl.Buckets, Count{Name: b.Name, Count: buckets[i]})
	}
	tenK := decimal.NewFromInt(10000)
	if notional.IsPositive() {
		sl.Mean = weighted.Mul(tenK).DivRound(notional, 4)
	}
	if len(bps) > 0 {
		sort.Slice(bps, func(i, j int) bool { return bps[i].LessThan(bps[j]) })
		sl.Min, sl.Max = bps[0], bps[len(bps)-1]
		sl.Median = bps[(len(bps)-1)/2]
		sl.P90 = bps[(len(bps)*9+9)/10-1]
	}
	for _, role := range slices.Sorted(maps.Keys(roles)) {
		rs := roles[role]
		rsl := RoleSlippage{Role: role, Fills: rs.n, Cost: rs.cost}
		if rs.not.IsPositive() {
			rsl.Mean = rs.w.Mul(tenK).DivRound(rs.not, 4)
		}
		sl.ByRole = append(sl.ByRole, rsl)
	}
	return sl
}

func scanCounts(rows rowsScanner, fn func(string, int)) error {
	defer rows.Close()
	for rows.Next() {
		var (
			k *string
			n int
		)
		if err := rows.Scan(&k, &n); err != nil {
			return fmt.Errorf("audit: read counts: %w", err)
		}
		key := ""
		if k != nil {
			key = *k
		}
		fn(key, n)
	}
	return rows.Err()
}

// sortedCounts is m as counts, most first, then by name.
func sortedCounts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{Name: k, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// CountsText formats counts as "a 3, b 1"; "none" when empty.
func CountsText(cs []Count) string {
	if len(cs) == 0 {
		return "none"
	}
	s := ""
	for i, c := range cs {
		if i > 0 {
			s += ", "
		}
		s += c.Name + " " + strconv.Itoa(c.Count)
	}
	return s
}

// Enqueued reports whether a notification with dedupKey was ever put in
// the outbox, on any channel: for schedules kept in the store (a digest
// due at a time is enqueued once, whichever process gets there first).
func (s *Store) Enqueued(ctx context.Context, dedupKey string) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM records WHERE kind = 'notification' AND dedup = CAST(? AS TEXT) AND dedup <> ''`, dedupKey).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("audit: look up notification %s: %w", dedupKey, err)
	}
	return n > 0, nil
}
