package schemas

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// MaxStateBytes caps the size of a state document.
const MaxStateBytes = 4 << 20

// maxCount bounds the integer counters of a state (orders, open orders).
const maxCount = 1_000_000_000

var (
	stateFields    = []string{"now", "mode", "kill_switch", "safe_mode", "account", "markets"}
	stateOptional  = []string{"risk_scale", "exchange_status", "in_maintenance"}
	accountFields  = []string{"quote", "equity", "cash", "peak_equity", "day_start_equity", "orders_last_minute", "open_orders", "positions"}
	positionFields = []string{"qty", "avg_price"}
	positionOpt    = []string{"locked"}
	accountOpt     = []string{"pending_buys"}
	pendingFields  = []string{"qty", "notional"}
	marketFields   = []string{"bid", "ask", "last", "quote_volume_24h", "data_age_s", "amount_step", "price_step", "min_amount", "min_notional"}
	marketOptional = []string{"status", "book"}
)

// ParseState reads a state document (the shape of
// shared/contracts/state.example.json) with the same strict JSON rules as
// ParseResponse (size cap MaxStateBytes), then decodes it field by field:
// every field is required and none may be null, unknown fields are refused
// (names match exactly, not case-insensitively), and the values must make
// sense: mode paper or live; now in RFC 3339; money and counters
// non-negative; symbols BASE/QUOTE in the account's quote currency; market
// prices positive with bid <= ask; steps positive; data age non-negative.
// Optional fields: exchange_status (normal, maintenance or unknown;
// absent, normal), in_maintenance (absent, false) and a market's status
// (the exchange's word in upper case; absent, TRADING), so older state
// files keep their verdicts; risk_scale, above 0 and at most 1 when given
// (absent, State.RiskScale is zero, which means 1: see State.Risk), and a
// position's locked, at least 0 and at most its qty (absent, zero).
// A refusal is a *ParseError naming every offending field by JSON pointer.
func ParseState(raw []byte) (State, error) {
	doc, p := decodeStrict(raw, MaxStateBytes, "state")
	if p != nil {
		return State{}, &ParseError{What: "state", Problems: []Problem{*p}}
	}
	var r stateReader
	st := r.state(doc)
	if len(r.problems) > 0 {
		sortProblems(r.problems)
		return State{}, &ParseError{What: "state", Problems: r.problems}
	}
	return st, nil
}

type stateReader struct {
	problems []Problem
}

func (r *stateReader) add(ptr, keyword, format string, args ...any) {
	r.problems = append(r.problems, Problem{Pointer: ptr, Keyword: keyword, Message: fmt.Sprintf(format, args...)})
}

func (r *stateReader) state(doc any) State {
	m := r.objectOpt(doc, "", stateFields, stateOptional)
	if m == nil {
		return State{}
	}
	st := State{
		Now:        r.time(m, "", "now"),
		Mode:       r.enum(m, "", "mode", "paper", "live"),
		KillSwitch: r.boolean(m, "", "kill_switch"),
		SafeMode:   r.boolean(m, "", "safe_mode"),
	}
	if _, ok := m["risk_scale"]; ok {
		st.RiskScale = r.num(m, "", "risk_scale", riskScale)
	}
	if _, ok := m["exchange_status"]; ok {
		st.ExchangeStatus = r.enum(m, "", "exchange_status", ExchangeNormal, ExchangeMaintenance, ExchangeUnknown)
	}
	if _, ok := m["in_maintenance"]; ok {
		st.InMaintenance = r.boolean(m, "", "in_maintenance")
	}
	if v, ok := m["account"]; ok {
		st.Account = r.account(v, "/account")
	}
	if v, ok := m["markets"]; ok {
		st.Markets = r.markets(v, "/markets", st.Account.Quote)
	}
	return st
}

func (r *stateReader) account(v any, ptr string) Account {
	m := r.objectOpt(v, ptr, accountFields, accountOpt)
	if m == nil {
		return Account{}
	}
	a := Account{
		Quote:            r.quote(m, ptr, "quote"),
		Equity:           r.num(m, ptr, "equity", atLeastZero),
		Cash:             r.num(m, ptr, "cash", atLeastZero),
		PeakEquity:       r.num(m, ptr, "peak_equity", atLeastZero),
		DayStartEquity:   r.num(m, ptr, "day_start_equity", atLeastZero),
		OrdersLastMinute: r.count(m, ptr, "orders_last_minute"),
		OpenOrders:       r.count(m, ptr, "open_orders"),
	}
	pptr := joinPointer(ptr, "positions")
	if pv, ok := m["positions"]; ok {
		pm := r.object(pv, pptr, nil)
		if pm != nil {
			a.Positions = make(map[string]Position, len(pm))
		}
		for _, sym := range slices.Sorted(maps.Keys(pm)) {
			sp := joinPointer(pptr, sym)
			r.symbol(sym, sp, a.Quote)
			om := r.objectOpt(pm[sym], sp, positionFields, positionOpt)
			if om == nil {
				continue
			}
			pos := Position{
				Qty:      r.num(om, sp, "qty", atLeastZero),
				AvgPrice: r.num(om, sp, "avg_price", atLeastZero),
			}
			if _, ok := om["locked"]; ok {
				pos.Locked = r.num(om, sp, "locked", atLeastZero)
				if pos.Locked.GreaterThan(pos.Qty) {
					r.add(joinPointer(sp, "locked"), "consistency", "%s/locked %s is more than %s/qty %s: open orders cannot lock more than is held", sp, pos.Locked, sp, pos.Qty)
				}
			}
			a.Positions[sym] = pos
		}
	}
	bptr := joinPointer(ptr, "pending_buys")
	if bv, ok := m["pending_buys"]; ok {
		bm := r.object(bv, bptr, nil)
		if len(bm) > 0 {
			a.PendingBuys = make(map[string]PendingBuy, len(bm))
		}
		for _, sym := range slices.Sorted(maps.Keys(bm)) {
			sp := joinPointer(bptr, sym)
			r.symbol(sym, sp, a.Quote)
			om := r.object(bm[sym], sp, pendingFields)
			if om == nil {
				continue
			}
			a.PendingBuys[sym] = PendingBuy{Qty: r.num(om, sp, "qty", atLeastZero), Notional: r.num(om, sp, "notional", atLeastZero)}
		}
	}
	return a
}

func (r *stateReader) markets(v any, ptr, quote string) map[string]Market {
	m := r.object(v, ptr, nil)
	if m == nil {
		return nil
	}
	out := make(map[string]Market, len(m))
	for _, sym := range slices.Sorted(maps.Keys(m)) {
		sp := joinPointer(ptr, sym)
		r.symbol(sym, sp, quote)
		om := r.objectOpt(m[sym], sp, marketFields, marketOptional)
		if om == nil {
			continue
		}
		mk := Market{
			Bid:            r.num(om, sp, "bid", aboveZero),
			Ask:            r.num(om, sp, "ask", aboveZero),
			Last:           r.num(om, sp, "last", aboveZero),
			QuoteVolume24h: r.num(om, sp, "quote_volume_24h", atLeastZero),
			DataAgeS:       r.num(om, sp, "data_age_s", atLeastZero),
			AmountStep:     r.num(om, sp, "amount_step", aboveZero),
			PriceStep:      r.num(om, sp, "price_step", aboveZero),
			MinAmount:      r.num(om, sp, "min_amount", atLeastZero),
			MinNotional:    r.num(om, sp, "min_notional", atLeastZero),
		}
		if _, ok := om["status"]; ok {
			mk.Status = r.marketStatus(om, sp)
		}
		if v, ok := om["book"]; ok {
			mk.Book = r.book(v, joinPointer(sp, "book"))
		}
		if mk.Bid.IsPositive() && mk.Ask.IsPositive() && mk.Bid.GreaterThan(mk.Ask) {
			r.add(joinPointer(sp, "bid"), "consistency", "%s/bid %s is above %s/ask %s: a crossed book is not valid market data", sp, mk.Bid, sp, mk.Ask)
		}
		out[sym] = mk
	}
	return out
}

// object checks that v is an object with exactly the given fields (when
// fields is nil, any keys) and returns it, or nil after reporting why not.
func (r *stateReader) object(v any, ptr string, fields []string) map[string]any {
	return r.objectOpt(v, ptr, fields, nil)
}

// objectOpt is object with optional fields besides the required ones.
func (r *stateReader) objectOpt(v any, ptr string, fields, optional []string) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		r.add(ptr, "type", "%s must be an object, not %s", where(ptr), describeValue(v))
		return nil
	}
	if fields == nil {
		return m
	}
	for _, f := range fields {
		if _, ok := m[f]; !ok {
			r.add(joinPointer(ptr, f), "required", "missing required field %q at %s", f, where(ptr))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(fields, k) && !slices.Contains(optional, k) {
			allowed := strings.Join(append(slices.Clone(fields), optional...), ", ")
			r.add(joinPointer(ptr, k), "additionalProperties", "unknown field %q at %s (allowed: %s)", k, where(ptr), allowed)
		}
	}
	return m
}

// get returns m[key], or false when it is missing (already reported by
// object).
func get(m map[string]any, key string) (any, bool) {
	v, ok := m[key]
	return v, ok
}

type bound int

const (
	atLeastZero bound = iota
	aboveZero
	riskScale // above 0 and at most 1
)

func (r *stateReader) num(m map[string]any, obj, key string, b bound) decimal.Decimal {
	v, ok := get(m, key)
	if !ok {
		return decimal.Decimal{}
	}
	ptr := joinPointer(obj, key)
	n, ok := v.(json.Number)
	if !ok {
		r.add(ptr, "type", "%s must be a number, not %s", ptr, describeValue(v))
		return decimal.Decimal{}
	}
	d, err := decimal.NewFromString(string(n))
	if err != nil {
		r.add(ptr, KeywordNumber, "%s: %s is not a decimal number: %v", ptr, n, err)
		return decimal.Decimal{}
	}
	switch b {
	case atLeastZero:
		if d.IsNegative() {
			r.add(ptr, "minimum", "%s is %s; it must not be negative", ptr, n)
		}
	case aboveZero:
		if !d.IsPositive() {
			r.add(ptr, "exclusiveMinimum", "%s is %s; it must be greater than 0", ptr, n)
		}
	case riskScale:
		switch {
		case !d.IsPositive():
			r.add(ptr, "exclusiveMinimum", "%s is %s; it must be greater than 0 and at most 1 (leave it out for 1; to stop buying use safe mode)", ptr, n)
		case d.GreaterThan(decimal.NewFromInt(1)):
			r.add(ptr, "maximum", "%s is %s; it must be at most 1 (a risk scale only shrinks the caps)", ptr, n)
		}
	}
	return d
}

func (r *stateReader) count(m map[string]any, obj, key string) int {
	v, ok := get(m, key)
	if !ok {
		return 0
	}
	ptr := joinPointer(obj, key)
	n, ok := v.(json.Number)
	if !ok {
		r.add(ptr, "type", "%s must be an integer, not %s", ptr, describeValue(v))
		return 0
	}
	d, err := decimal.NewFromString(string(n))
	switch {
	case err != nil || !d.IsInteger():
		r.add(ptr, "type", "%s must be an integer, not %s", ptr, n)
	case d.IsNegative():
		r.add(ptr, "minimum", "%s is %s; it must not be negative", ptr, n)
	case d.GreaterThan(decimal.NewFromInt(maxCount)):
		r.add(ptr, "maximum", "%s is %s; it must be at most %d", ptr, n, maxCount)
	default:
		return int(d.IntPart())
	}
	return 0
}

func (r *stateReader) str(m map[string]any, obj, key string) (string, bool) {
	v, ok := get(m, key)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		ptr := joinPointer(obj, key)
		r.add(ptr, "type", "%s must be a string, not %s", ptr, describeValue(v))
	}
	return s, ok
}

func (r *stateReader) boolean(m map[string]any, obj, key string) bool {
	v, ok := get(m, key)
	if !ok {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		ptr := joinPointer(obj, key)
		r.add(ptr, "type", "%s must be true or false, not %s", ptr, describeValue(v))
	}
	return b
}

func (r *stateReader) enum(m map[string]any, obj, key string, allowed ...string) string {
	s, ok := r.str(m, obj, key)
	if !ok {
		return ""
	}
	if !slices.Contains(allowed, s) {
		ptr := joinPointer(obj, key)
		r.add(ptr, "enum", "%s is %q; it must be one of %s", ptr, s, strings.Join(allowed, ", "))
		return ""
	}
	return s
}

// MaxBookLevels caps the levels of one side of a state's book.
const MaxBookLevels = 100

// book reads an order book: {"bids": [[price, qty], ...], "asks": [...]},
// each side non-empty, at most MaxBookLevels levels, prices and
// quantities above 0, bids strictly falling and asks strictly rising from
// the best, and the best bid below the best ask (a crossed book is not
// market data).
func (r *stateReader) book(v any, ptr string) *Book {
	m := r.object(v, ptr, []string{"bids", "asks"})
	if m == nil {
		return nil
	}
	b := &Book{}
	side := func(key string, falling bool) []BookLevel {
		sp := joinPointer(ptr, key)
		raw, ok := m[key]
		if !ok {
			return nil
		}
		arr, ok := raw.([]any)
		if !ok {
			r.add(sp, "type", "%s must be an array of [price, qty] levels, not %s", sp, describeValue(raw))
			return nil
		}
		if len(arr) == 0 {
			r.add(sp, "minItems", "%s is empty: a book needs at least one level a side", sp)
			return nil
		}
		if len(arr) > MaxBookLevels {
			r.add(sp, "maxItems", "%s has %d levels; at most %d", sp, len(arr), MaxBookLevels)
			return nil
		}
		out := make([]BookLevel, 0, len(arr))
		for i, lv := range arr {
			lp := joinPointer(sp, fmt.Sprint(i))
			pair, ok := lv.([]any)
			if !ok || len(pair) != 2 {
				r.add(lp, "type", "%s must be [price, qty], not %s", lp, describeValue(lv))
				return nil
			}
			lm := map[string]any{"price": pair[0], "qty": pair[1]}
			l := BookLevel{Price: r.num(lm, lp, "price", aboveZero), Qty: r.num(lm, lp, "qty", aboveZero)}
			if i > 0 {
				prev := out[i-1].Price
				if (falling && !l.Price.LessThan(prev)) || (!falling && !l.Price.GreaterThan(prev)) {
					dir := "rise"
					if falling {
						dir = "fall"
					}
					r.add(lp, "consistency", "%s: price %s after %s; %s prices must strictly %s from the best", lp, l.Price, prev, key, dir)
					return nil
				}
			}
			out = append(out, l)
		}
		return out
	}
	b.Bids = side("bids", true)
	b.Asks = side("asks", false)
	if len(b.Bids) > 0 && len(b.Asks) > 0 && !b.Bids[0].Price.LessThan(b.Asks[0].Price) {
		r.add(joinPointer(ptr, "bids"), "consistency", "%s: best bid %s is not below best ask %s: a crossed book is not market data", ptr, b.Bids[0].Price, b.Asks[0].Price)
	}
	return b
}

// marketStatus reads a market's status: the exchange's own word, 1 to 32
// upper-case ASCII letters, digits or underscores (TRADING, BREAK,
// END_OF_DAY, ...).
func (r *stateReader) marketStatus(m map[string]any, obj string) string {
	s, ok := r.str(m, obj, "status")
	if !ok {
		return ""
	}
	good := len(s) >= 1 && len(s) <= 32
	for i := 0; good && i < len(s); i++ {
		c := s[i]
		good = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
	}
	if !good {
		ptr := joinPointer(obj, "status")
		r.add(ptr, "pattern", "%s is %q; it must be the exchange's market status in upper case, e.g. \"TRADING\" or \"BREAK\"", ptr, s)
		return ""
	}
	return s
}

func (r *stateReader) time(m map[string]any, obj, key string) time.Time {
	s, ok := r.str(m, obj, key)
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		ptr := joinPointer(obj, key)
		r.add(ptr, "format", "%s is %q; it must be an RFC 3339 time such as \"2024-01-10T12:00:00Z\"", ptr, s)
		return time.Time{}
	}
	return t
}

func (r *stateReader) quote(m map[string]any, obj, key string) string {
	s, ok := r.str(m, obj, key)
	if !ok {
		return ""
	}
	if !isAsset(s) {
		ptr := joinPointer(obj, key)
		r.add(ptr, "pattern", "%s is %q; it must be a currency code of 2 to 20 upper-case ASCII letters and digits, e.g. \"USDT\"", ptr, s)
		return ""
	}
	return s
}

// symbol checks a market or position key: BASE/QUOTE in upper-case ASCII,
// quoted in the account's currency (when that is known).
func (r *stateReader) symbol(sym, ptr, quote string) {
	base, q, ok := strings.Cut(sym, "/")
	if !ok || !isAsset(base) || !isAsset(q) {
		r.add(ptr, "pattern", "%s", symbolMessage(ptr, sym))
		return
	}
	if quote != "" && q != quote {
		r.add(ptr, "consistency", "%s: symbol %q is quoted in %s, but the account's quote currency is %s", ptr, sym, q, quote)
	}
}

// isAsset reports whether s is 2 to 20 upper-case ASCII letters and digits.
// ValidSymbol reports whether s is BASE/QUOTE in upper-case ASCII letters
// and digits, 2 to 20 of each: the form the response schema's pattern
// requires, and the one configured symbols must have.
func ValidSymbol(s string) bool {
	base, quote, ok := strings.Cut(s, "/")
	return ok && isAsset(base) && isAsset(quote)
}

func isAsset(s string) bool {
	if len(s) < 2 || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
