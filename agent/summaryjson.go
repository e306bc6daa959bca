package agent

import (
	"maps"
	"slices"

	"github.com/warden-trading/warden/schemas"
	"github.com/warden-trading/warden/schemas/jsonw"
)

// AppendJSON appends the summary's JSON to b, byte for byte what
// encoding/json writes from its fields with HTML escaping off (the audit
// store takes it instead of encoding the summary by reflection at every
// cycle).
func (s summaryRecord) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"decisions":`...)
	if s.Decisions == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(s.Decisions)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.String(b, string(k))
			b = append(b, ':')
			b = jsonw.Int(b, int64(s.Decisions[k]))
		}
		b = append(b, '}')
	}
	b = append(b, `,"equity":`...)
	if s.Equity == nil {
		b = append(b, "null"...)
	} else {
		b = jsonw.QuotedDecimal(b, *s.Equity)
	}
	b = append(b, `,"kill_switch":`...)
	b = jsonw.Bool(b, s.KillSwitch)
	b = append(b, `,"level":`...)
	b = jsonw.String(b, s.Level)
	b = append(b, `,"order_errors":`...)
	if s.OrderErrors == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, e := range s.OrderErrors {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.String(b, e)
		}
		b = append(b, ']')
	}
	b = append(b, `,"orders":`...)
	b = jsonw.Int(b, int64(s.Orders))
	b = append(b, `,"reason":`...)
	b = jsonw.String(b, s.Reason)
	b = append(b, `,"risk_scale":`...)
	b = jsonw.QuotedDecimal(b, s.RiskScale)
	b = append(b, `,"safe_mode":`...)
	b = jsonw.Bool(b, s.SafeMode)
	b = append(b, `,"trips":`...)
	if s.Trips == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, t := range s.Trips {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"breaker":`...)
			b = jsonw.String(b, t.Breaker)
			if t.Symbol != "" {
				b = append(b, `,"symbol":`...)
				b = jsonw.String(b, t.Symbol)
			}
			b = append(b, `,"reason":`...)
			b = jsonw.String(b, t.Reason)
			if t.Level != "" {
				b = append(b, `,"level":`...)
				b = jsonw.String(b, t.Level)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(s.Warnings) > 0 {
		b = append(b, `,"warnings":`...)
		b = schemas.AppendViolationsJSON(b, s.Warnings)
	}
	return append(b, '}'), nil
}
