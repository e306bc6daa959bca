package schemas

import (
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/shopspring/decimal"
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
	b = appendJSONString(b, s.Mode)
	b = append(b, `,"kill_switch":`...)
	b = strconv.AppendBool(b, s.KillSwitch)
	b = append(b, `,"safe_mode":`...)
	b = strconv.AppendBool(b, s.SafeMode)
	if !s.RiskScale.IsZero() {
		b = append(b, `,"risk_scale":`...)
		b = appendQuotedDecimal(b, s.RiskScale)
	}
	if s.ExchangeStatus != "" {
		b = append(b, `,"exchange_status":`...)
		b = appendJSONString(b, s.ExchangeStatus)
	}
	if s.InMaintenance {
		b = append(b, `,"in_maintenance":true`...)
	}
	a := &s.Account
	b = append(b, `,"account":{"quote":`...)
	b = appendJSONString(b, a.Quote)
	for _, f := range [...]struct {
		key string
		v   decimal.Decimal
	}{{`,"equity":`, a.Equity}, {`,"cash":`, a.Cash}, {`,"peak_equity":`, a.PeakEquity}, {`,"day_start_equity":`, a.DayStartEquity}} {
		b = append(b, f.key...)
		b = appendQuotedDecimal(b, f.v)
	}
	b = append(b, `,"orders_last_minute":`...)
	b = strconv.AppendInt(b, int64(a.OrdersLastMinute), 10)
	b = append(b, `,"open_orders":`...)
	b = strconv.AppendInt(b, int64(a.OpenOrders), 10)
	b = append(b, `,"positions":`...)
	b = appendSortedMap(b, a.Positions, func(b []byte, p Position) []byte {
		b = append(b, `{"qty":`...)
		b = appendQuotedDecimal(b, p.Qty)
		b = append(b, `,"avg_price":`...)
		b = appendQuotedDecimal(b, p.AvgPrice)
		if !p.Locked.IsZero() {
			b = append(b, `,"locked":`...)
			b = appendQuotedDecimal(b, p.Locked)
		}
		return append(b, '}')
	})
	b = append(b, `},"markets":`...)
	b = appendSortedMap(b, s.Markets, func(b []byte, m Market) []byte {
		for _, f := range [...]struct {
			key string
			v   decimal.Decimal
		}{{`{"bid":`, m.Bid}, {`,"ask":`, m.Ask}, {`,"last":`, m.Last}, {`,"quote_volume_24h":`, m.QuoteVolume24h},
			{`,"data_age_s":`, m.DataAgeS}, {`,"amount_step":`, m.AmountStep}, {`,"price_step":`, m.PriceStep},
			{`,"min_amount":`, m.MinAmount}, {`,"min_notional":`, m.MinNotional}} {
			b = append(b, f.key...)
			b = appendQuotedDecimal(b, f.v)
		}
		if m.Status != "" {
			b = append(b, `,"status":`...)
			b = appendJSONString(b, m.Status)
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
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = value(b, m[k])
	}
	return append(b, '}')
}

// appendQuotedDecimal appends d as decimal's MarshalJSON writes it: its
// String() in quotes.
func appendQuotedDecimal(b []byte, d decimal.Decimal) []byte {
	if decimal.MarshalJSONWithoutQuotes {
		return appendDecimal(b, d)
	}
	b = append(b, '"')
	b = appendDecimal(b, d)
	return append(b, '"')
}

// appendJSONString appends s as encoding/json writes a string with HTML
// escaping off: quotes and backslashes escaped, \b \f \n \r \t, other
// control bytes as \u00XX, U+2028 and U+2029 escaped, and each byte of
// invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += n
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += n
			start = i
			continue
		}
		i += n
	}
	b = append(b, s[start:]...)
	return append(b, '"')
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
	b = appendJSONString(b, r.Rationale)
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
	b = appendJSONString(b, r.Symbol)
	b = append(b, `,"action":`...)
	b = appendJSONString(b, string(r.Action))
	b = append(b, `,"confidence":`...)
	b = appendQuotedDecimal(b, r.Confidence)
	b = append(b, `,"size_pct":`...)
	b = appendQuotedDecimal(b, r.SizePct)
	b = append(b, `,"order_type":`...)
	b = appendJSONString(b, string(r.OrderType))
	for _, f := range [...]struct {
		key string
		v   *decimal.Decimal
	}{{`,"limit_price":`, r.LimitPrice}, {`,"stop_loss":`, r.StopLoss}, {`,"take_profit":`, r.TakeProfit}} {
		b = append(b, f.key...)
		if f.v == nil {
			b = append(b, "null"...)
		} else {
			b = appendQuotedDecimal(b, *f.v)
		}
	}
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, r.Reason)
	return append(b, '}')
}
