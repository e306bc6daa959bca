package schemas

import (
	"maps"
	"slices"
	"strconv"

	"github.com/shopspring/decimal"
	"github.com/warden-trading/warden/schemas/jsonw"
)

// MarshalJSON writes the state as encoding/json writes it from its fields
// (AppendJSON). A state is encoded at every audited cycle, and
// encoding/json spent most of that calling and checking the MarshalJSON
// of each decimal in it.
func (s State) MarshalJSON() ([]byte, error) {
	return s.AppendJSON(make([]byte, 0, 1024))
}

// AppendJSON appends the state's JSON to b: the bytes encoding/json writes
// from its fields with HTML escaping off (json.Encoder.SetEscapeHTML(false),
// as the audit store encodes records), key for key and byte for byte;
// json.Marshal, which escapes <, > and &, makes the same of it.
func (s State) AppendJSON(b []byte) ([]byte, error) {
	now, err := s.Now.MarshalJSON()
	if err != nil {
		return nil, err
	}
	b = append(b, `{"now":`...)
	b = append(b, now...)
	b = append(b, `,"mode":`...)
	b = jsonw.String(b, s.Mode)
	b = append(b, `,"kill_switch":`...)
	b = strconv.AppendBool(b, s.KillSwitch)
	b = append(b, `,"safe_mode":`...)
	b = strconv.AppendBool(b, s.SafeMode)
	if !s.RiskScale.IsZero() {
		b = append(b, `,"risk_scale":`...)
		b = jsonw.QuotedDecimal(b, s.RiskScale)
	}
	if s.ExchangeStatus != "" {
		b = append(b, `,"exchange_status":`...)
		b = jsonw.String(b, s.ExchangeStatus)
	}
	if s.InMaintenance {
		b = append(b, `,"in_maintenance":true`...)
	}
	a := &s.Account
	b = append(b, `,"account":{"quote":`...)
	b = jsonw.String(b, a.Quote)
	for _, f := range [...]struct {
		key string
		v   decimal.Decimal
	}{{`,"equity":`, a.Equity}, {`,"cash":`, a.Cash}, {`,"peak_equity":`, a.PeakEquity}, {`,"day_start_equity":`, a.DayStartEquity}} {
		b = append(b, f.key...)
		b = jsonw.QuotedDecimal(b, f.v)
	}
	b = append(b, `,"orders_last_minute":`...)
	b = strconv.AppendInt(b, int64(a.OrdersLastMinute), 10)
	b = append(b, `,"open_orders":`...)
	b = strconv.AppendInt(b, int64(a.OpenOrders), 10)
	b = append(b, `,"positions":`...)
	b = appendSortedMap(b, a.Positions, func(b []byte, p Position) []byte {
		b = append(b, `{"qty":`...)
		b = jsonw.QuotedDecimal(b, p.Qty)
		b = append(b, `,"avg_price":`...)
		b = jsonw.QuotedDecimal(b, p.AvgPrice)
		if !p.Locked.IsZero() {
			b = append(b, `,"locked":`...)
			b = jsonw.QuotedDecimal(b, p.Locked)
		}
		return append(b, '}')
	})
	if len(a.PendingBuys) > 0 {
		b = append(b, `,"pending_buys":`...)
		b = appendSortedMap(b, a.PendingBuys, func(b []byte, p PendingBuy) []byte {
			b = append(b, `{"qty":`...)
			b = jsonw.QuotedDecimal(b, p.Qty)
			b = append(b, `,"notional":`...)
			b = jsonw.QuotedDecimal(b, p.Notional)
			return append(b, '}')
		})
	}
	b = append(b, `},"markets":`...)
	b = appendSortedMap(b, s.Markets, func(b []byte, m Market) []byte {
		for _, f := range [...]struct {
			key string
			v   decimal.Decimal
		}{{`{"bid":`, m.Bid}, {`,"ask":`, m.Ask}, {`,"last":`, m.Last}, {`,"quote_volume_24h":`, m.QuoteVolume24h},
			{`,"data_age_s":`, m.DataAgeS}, {`,"amount_step":`, m.AmountStep}, {`,"price_step":`, m.PriceStep},
			{`,"min_amount":`, m.MinAmount}, {`,"min_notional":`, m.MinNotional}} {
			b = append(b, f.key...)
			b = jsonw.QuotedDecimal(b, f.v)
		}
		if m.Status != "" {
			b = append(b, `,"status":`...)
			b = jsonw.String(b, m.Status)
		}
		if m.Book != nil {
			b = append(b, `,"book":`...)
			b = m.Book.appendJSON(b)
		}
		return append(b, '}')
	})
	return append(b, '}'), nil
}

// appendSortedMap appends m as encoding/json does: null when nil, else
// its keys in order.
func appendSortedMap[V any](b []byte, m map[string]V, value func([]byte, V) []byte) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	keys := slices.AppendSeq(make([]string, 0, len(m)), maps.Keys(m))
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.String(b, k)
		b = append(b, ':')
		b = value(b, m[k])
	}
	return append(b, '}')
}

// MarshalJSON writes the response as encoding/json writes it from its
// fields (AppendJSON).
func (r Response) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(make([]byte, 0, 256+len(r.Rationale)+256*len(r.Recommendations))), nil
}

// AppendJSON appends the response's JSON to b, byte for byte what
// encoding/json writes from its fields with HTML escaping off.
func (r Response) AppendJSON(b []byte) []byte {
	b = append(b, `{"rationale":`...)
	b = jsonw.String(b, r.Rationale)
	b = append(b, `,"recommendations":`...)
	if r.Recommendations == nil {
		return append(b, "null}"...)
	}
	b = append(b, '[')
	for i := range r.Recommendations {
		if i > 0 {
			b = append(b, ',')
		}
		b = r.Recommendations[i].AppendJSON(b)
	}
	return append(b, "]}"...)
}

// MarshalJSON writes the recommendation as encoding/json writes it from
// its fields (AppendJSON).
func (r Recommendation) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(make([]byte, 0, 256+len(r.Reason))), nil
}

// AppendJSON appends the recommendation's JSON to b, byte for byte what
// encoding/json writes from its fields with HTML escaping off.
func (r Recommendation) AppendJSON(b []byte) []byte {
	b = append(b, `{"symbol":`...)
	b = jsonw.String(b, r.Symbol)
	b = append(b, `,"action":`...)
	b = jsonw.String(b, string(r.Action))
	b = append(b, `,"confidence":`...)
	b = jsonw.QuotedDecimal(b, r.Confidence)
	b = append(b, `,"size_pct":`...)
	b = jsonw.QuotedDecimal(b, r.SizePct)
	b = append(b, `,"order_type":`...)
	b = jsonw.String(b, string(r.OrderType))
	for _, f := range [...]struct {
		key string
		v   *decimal.Decimal
	}{{`,"limit_price":`, r.LimitPrice}, {`,"stop_loss":`, r.StopLoss}, {`,"take_profit":`, r.TakeProfit}} {
		b = append(b, f.key...)
		if f.v == nil {
			b = append(b, "null"...)
		} else {
			b = jsonw.QuotedDecimal(b, *f.v)
		}
	}
	b = append(b, `,"reason":`...)
	b = jsonw.String(b, r.Reason)
	return append(b, '}')
}

// MarshalJSON writes the verdict as encoding/json writes it from its
// fields (AppendJSON).
func (v Verdict) MarshalJSON() ([]byte, error) {
	return v.AppendJSON(make([]byte, 0, 256+128*(len(v.Violations)+len(v.Warnings)+len(v.Rules)))), nil
}

// AppendJSON appends the verdict's JSON to b, byte for byte what
// encoding/json writes from its fields with HTML escaping off.
func (v Verdict) AppendJSON(b []byte) []byte {
	b = append(b, `{"index":`...)
	b = jsonw.Int(b, int64(v.Index))
	b = append(b, `,"symbol":`...)
	b = jsonw.String(b, v.Symbol)
	b = append(b, `,"action":`...)
	b = jsonw.String(b, string(v.Action))
	b = append(b, `,"decision":`...)
	b = jsonw.String(b, string(v.Decision))
	b = append(b, `,"order":`...)
	if v.Order == nil {
		b = append(b, "null"...)
	} else {
		b = v.Order.appendJSON(b)
	}
	b = append(b, `,"violations":`...)
	b = appendViolations(b, v.Violations)
	b = append(b, `,"warnings":`...)
	b = appendViolations(b, v.Warnings)
	if len(v.Rules) > 0 {
		b = append(b, `,"rules":[`...)
		for i, r := range v.Rules {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = jsonw.String(b, r.Name)
			b = append(b, `,"mode":`...)
			b = jsonw.String(b, r.Mode)
			b = append(b, `,"passed":`...)
			b = jsonw.Bool(b, r.Passed)
			if r.Message != "" {
				b = append(b, `,"message":`...)
				b = jsonw.String(b, r.Message)
			}
			if r.Error != "" {
				b = append(b, `,"error":`...)
				b = jsonw.String(b, r.Error)
			}
			if r.NotApplicable {
				b = append(b, `,"not_applicable":true`...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func (o *Order) appendJSON(b []byte) []byte {
	b = append(b, `{"symbol":`...)
	b = jsonw.String(b, o.Symbol)
	b = append(b, `,"side":`...)
	b = jsonw.String(b, string(o.Side))
	b = append(b, `,"type":`...)
	b = jsonw.String(b, string(o.Type))
	b = append(b, `,"quantity":`...)
	b = jsonw.QuotedDecimal(b, o.Quantity)
	b = append(b, `,"price":`...)
	b = jsonw.QuotedDecimal(b, o.Price)
	b = append(b, `,"notional":`...)
	b = jsonw.QuotedDecimal(b, o.Notional)
	b = append(b, `,"stop_loss":`...)
	b = appendOptDecimal(b, o.StopLoss)
	b = append(b, `,"take_profit":`...)
	b = appendOptDecimal(b, o.TakeProfit)
	return append(b, '}')
}

func appendOptDecimal(b []byte, d *decimal.Decimal) []byte {
	if d == nil {
		return append(b, "null"...)
	}
	return jsonw.QuotedDecimal(b, *d)
}

// AppendViolationsJSON appends vs as encoding/json writes the slice: null
// when nil.
func AppendViolationsJSON(b []byte, vs []Violation) []byte { return appendViolations(b, vs) }

func appendViolations(b []byte, vs []Violation) []byte {
	if vs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"rule":`...)
		b = jsonw.String(b, v.Rule)
		b = append(b, `,"message":`...)
		b = jsonw.String(b, v.Message)
		b = append(b, `,"source":`...)
		b = jsonw.String(b, v.Source)
		if v.Pointer != "" {
			b = append(b, `,"pointer":`...)
			b = jsonw.String(b, v.Pointer)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}
