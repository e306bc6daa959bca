package policy

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// The CEL object types of the variables. Each is backed by a Go struct
// filled once per recommendation; field reads are direct function calls, so
// an evaluation builds no maps.
const (
	typeRec     = "warden.Rec"
	typeOrder   = "warden.Order"
	typeMarket  = "warden.Market"
	typeAccount = "warden.Account"
	typeSystem  = "warden.System"
	typeParams  = "warden.Params"
)

// recObj is the recommendation as CEL sees it.
type recObj struct {
	symbol, action, orderType, reason string
	confidence, sizePct               float64
	limitPrice, stopLoss, takeProfit  float64
	hasLimit, hasStop, hasTakeProfit  bool
}

// orderObj is the sized order as CEL sees it.
type orderObj struct {
	symbol, side, typ         string
	quantity, price, notional float64
	stopLoss, takeProfit      float64
	hasStop, hasTakeProfit    bool
	limitDistanceBps          float64
	stopDistancePct           float64 // set when hasStop
	expectedSlippageBps       float64 // set when hasBook
	hasBook                   bool
}

// marketObj is the symbol's market as CEL sees it.
type marketObj struct {
	bid, ask, mid, last, spreadBps, quoteVolume, dataAge float64
	amountStep, priceStep, minAmount, minNotional        float64
	known                                                bool
	status                                               string  // the exchange's word; TRADING when open
	depth                                                ref.Val // map(int, double): quote depth on the order's side within N bps of mid
}

// accountObj is the account as CEL sees it, before and after the order.
type accountObj struct {
	equity, cash, peakEquity, dayStartEquity      float64
	positionQty, positionNotional, positionPct    float64
	positionLockedQty, sellableQty                float64
	positionQtyAfter, positionNotionalAfter       float64
	positionPctAfter                              float64
	exposure, exposureAfter                       float64
	exposurePct, exposurePctAfter                 float64
	openPositions, openPositionsAfter, openOrders float64
	dayPnlPct, dayLossPct, drawdownPct            float64
	ordersLastMinute                              float64
}

// systemObj is the operating mode as CEL sees it.
type systemObj struct {
	mode                 string
	killSwitch, safeMode bool
	riskScale            float64
	exchangeStatus       string // normal, maintenance or unknown
	inMaintenance        bool
}

// paramsObj holds the policy's params as ready CEL values.
type paramsObj struct {
	vals map[string]ref.Val
}

// activation resolves the CEL variables of one evaluation without maps.
type activation struct {
	rec     recObj
	order   orderObj
	market  marketObj
	account accountObj
	system  systemObj
	params  *paramsObj
	now     ref.Val
	// sized is false when sizing failed: the rules that read the sized
	// order are then not evaluated.
	sized bool
}

// withinEstimate reports whether every string the rules can read is within
// the size the cost estimate assumed.
func (a *activation) withinEstimate() bool {
	for _, s := range [...]string{a.rec.symbol, a.rec.action, a.rec.orderType, a.rec.reason,
		a.order.symbol, a.order.side, a.order.typ, a.system.mode, a.market.status, a.system.exchangeStatus} {
		if len(s) > maxStringSize {
			return false
		}
	}
	return true
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "rec":
		return &a.rec, true
	case "order":
		return &a.order, true
	case "market":
		return &a.market, true
	case "account":
		return &a.account, true
	case "system":
		return &a.system, true
	case "params":
		return a.params, true
	case "now":
		return a.now, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

var errWrongObject = errors.New("policy: internal error: field read on the wrong object")

// nullFieldError is the evaluation error for reading a null price.
type nullFieldError struct{ field string }

func (e nullFieldError) Error() string {
	return fmt.Sprintf("%s is null; test it with has(%s) before reading it", e.field, e.field)
}

func present[T any](o any) bool { _, ok := o.(*T); return ok }

func dblField[T any](get func(*T) float64) *types.FieldType {
	return &types.FieldType{
		Type:  types.DoubleType,
		IsSet: present[T],
		GetFrom: func(o any) (any, error) {
			v, ok := o.(*T)
			if !ok {
				return nil, errWrongObject
			}
			return types.Double(get(v)), nil
		},
	}
}

// nullableField is a double that may be null: has() tests it, reading it
// while null is an error (never a silent zero).
func nullableField[T any](name string, get func(*T) (float64, bool)) *types.FieldType {
	return &types.FieldType{
		Type: types.DoubleType,
		IsSet: func(o any) bool {
			v, ok := o.(*T)
			if !ok {
				return false
			}
			_, set := get(v)
			return set
		},
		GetFrom: func(o any) (any, error) {
			v, ok := o.(*T)
			if !ok {
				return nil, errWrongObject
			}
			f, set := get(v)
			if !set {
				return nil, nullFieldError{field: name}
			}
			return types.Double(f), nil
		},
	}
}

func strField[T any](get func(*T) string) *types.FieldType {
	return &types.FieldType{
		Type:  types.StringType,
		IsSet: present[T],
		GetFrom: func(o any) (any, error) {
			v, ok := o.(*T)
			if !ok {
				return nil, errWrongObject
			}
			return internString(get(v)), nil
		},
	}
}

// Common string values, boxed once: reading order.side in a dozen guards
// allocates nothing.
var (
	strBuy     ref.Val = types.String("buy")
	strSell    ref.Val = types.String("sell")
	strHold    ref.Val = types.String("hold")
	strLimit   ref.Val = types.String("limit")
	strMarket  ref.Val = types.String("market")
	strPaper   ref.Val = types.String("paper")
	strLive    ref.Val = types.String("live")
	strNormal  ref.Val = types.String("normal")
	strTrading ref.Val = types.String("TRADING")
)

func internString(s string) ref.Val {
	switch s {
	case "buy":
		return strBuy
	case "sell":
		return strSell
	case "hold":
		return strHold
	case "limit":
		return strLimit
	case "market":
		return strMarket
	case "paper":
		return strPaper
	case "live":
		return strLive
	case "normal":
		return strNormal
	case "TRADING":
		return strTrading
	}
	return types.String(s)
}

func boolField[T any](get func(*T) bool) *types.FieldType {
	return &types.FieldType{
		Type:  types.BoolType,
		IsSet: present[T],
		GetFrom: func(o any) (any, error) {
			v, ok := o.(*T)
			if !ok {
				return nil, errWrongObject
			}
			return types.Bool(get(v)), nil
		},
	}
}

// objType is one object type: its fields and their getters.
type objType struct {
	fields map[string]*types.FieldType
	names  []string
}

func newObjType(fields map[string]*types.FieldType) *objType {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return &objType{fields: fields, names: names}
}

var (
	recType = newObjType(map[string]*types.FieldType{
		"symbol":      strField(func(r *recObj) string { return r.symbol }),
		"action":      strField(func(r *recObj) string { return r.action }),
		"order_type":  strField(func(r *recObj) string { return r.orderType }),
		"reason":      strField(func(r *recObj) string { return r.reason }),
		"confidence":  dblField(func(r *recObj) float64 { return r.confidence }),
		"size_pct":    dblField(func(r *recObj) float64 { return r.sizePct }),
		"limit_price": nullableField("rec.limit_price", func(r *recObj) (float64, bool) { return r.limitPrice, r.hasLimit }),
		"stop_loss":   nullableField("rec.stop_loss", func(r *recObj) (float64, bool) { return r.stopLoss, r.hasStop }),
		"take_profit": nullableField("rec.take_profit", func(r *recObj) (float64, bool) { return r.takeProfit, r.hasTakeProfit }),
	})
	orderType = newObjType(map[string]*types.FieldType{
		"symbol":             strField(func(o *orderObj) string { return o.symbol }),
		"side":               strField(func(o *orderObj) string { return o.side }),
		"type":               strField(func(o *orderObj) string { return o.typ }),
		"quantity":           dblField(func(o *orderObj) float64 { return o.quantity }),
		"price":              dblField(func(o *orderObj) float64 { return o.price }),
		"notional":           dblField(func(o *orderObj) float64 { return o.notional }),
		"stop_loss":          nullableField("order.stop_loss", func(o *orderObj) (float64, bool) { return o.stopLoss, o.hasStop }),
		"take_profit":        nullableField("order.take_profit", func(o *orderObj) (float64, bool) { return o.takeProfit, o.hasTakeProfit }),
		"limit_distance_bps": dblField(func(o *orderObj) float64 { return o.limitDistanceBps }),
		"stop_distance_pct": nullableField("order.stop_distance_pct", func(o *orderObj) (float64, bool) {
			return o.stopDistancePct, o.hasStop
		}),
		"expected_slippage_bps": nullableField("order.expected_slippage_bps", func(o *orderObj) (float64, bool) {
			return o.expectedSlippageBps, o.hasBook
		}),
	})
	marketType = newObjType(map[string]*types.FieldType{
		"bid":              dblField(func(m *marketObj) float64 { return m.bid }),
		"ask":              dblField(func(m *marketObj) float64 { return m.ask }),
		"mid":              dblField(func(m *marketObj) float64 { return m.mid }),
		"last":             dblField(func(m *marketObj) float64 { return m.last }),
		"spread_bps":       dblField(func(m *marketObj) float64 { return m.spreadBps }),
		"quote_volume_24h": dblField(func(m *marketObj) float64 { return m.quoteVolume }),
		"data_age_s":       dblField(func(m *marketObj) float64 { return m.dataAge }),
		"amount_step":      dblField(func(m *marketObj) float64 { return m.amountStep }),
		"price_step":       dblField(func(m *marketObj) float64 { return m.priceStep }),
		"min_amount":       dblField(func(m *marketObj) float64 { return m.minAmount }),
		"min_notional":     dblField(func(m *marketObj) float64 { return m.minNotional }),
		"known":            boolField(func(m *marketObj) bool { return m.known }),
		"status":           strField(func(m *marketObj) string { return m.status }),
		"depth_quote_within_bps": {
			Type:  types.NewMapType(types.IntType, types.DoubleType),
			IsSet: present[marketObj],
			GetFrom: func(o any) (any, error) {
				m, ok := o.(*marketObj)
				if !ok {
					return nil, errWrongObject
				}
				if m.depth == nil {
					return emptyDepth, nil
				}
				return m.depth, nil
			},
		},
	})
	accountType = newObjType(map[string]*types.FieldType{
		"equity":                  dblField(func(a *accountObj) float64 { return a.equity }),
		"cash":                    dblField(func(a *accountObj) float64 { return a.cash }),
		"peak_equity":             dblField(func(a *accountObj) float64 { return a.peakEquity }),
		"day_start_equity":        dblField(func(a *accountObj) float64 { return a.dayStartEquity }),
		"position_qty":            dblField(func(a *accountObj) float64 { return a.positionQty }),
		"position_notional":       dblField(func(a *accountObj) float64 { return a.positionNotional }),
		"position_pct":            dblField(func(a *accountObj) float64 { return a.positionPct }),
		"position_locked_qty":     dblField(func(a *accountObj) float64 { return a.positionLockedQty }),
		"sellable_qty":            dblField(func(a *accountObj) float64 { return a.sellableQty }),
		"position_qty_after":      dblField(func(a *accountObj) float64 { return a.positionQtyAfter }),
		"position_notional_after": dblField(func(a *accountObj) float64 { return a.positionNotionalAfter }),
		"position_pct_after":      dblField(func(a *accountObj) float64 { return a.positionPctAfter }),
		"exposure":                dblField(func(a *accountObj) float64 { return a.exposure }),
		"exposure_after":          dblField(func(a *accountObj) float64 { return a.exposureAfter }),
		"exposure_pct":            dblField(func(a *accountObj) float64 { return a.exposurePct }),
		"exposure_pct_after":      dblField(func(a *accountObj) float64 { return a.exposurePctAfter }),
		"open_positions":          dblField(func(a *accountObj) float64 { return a.openPositions }),
		"open_positions_after":    dblField(func(a *accountObj) float64 { return a.openPositionsAfter }),
		"open_orders":             dblField(func(a *accountObj) float64 { return a.openOrders }),
		"day_pnl_pct":             dblField(func(a *accountObj) float64 { return a.dayPnlPct }),
		"day_loss_pct":            dblField(func(a *accountObj) float64 { return a.dayLossPct }),
		"drawdown_pct":            dblField(func(a *accountObj) float64 { return a.drawdownPct }),
		"orders_last_minute":      dblField(func(a *accountObj) float64 { return a.ordersLastMinute }),
	})
	systemType = newObjType(map[string]*types.FieldType{
		"mode":            strField(func(s *systemObj) string { return s.mode }),
		"kill_switch":     boolField(func(s *systemObj) bool { return s.killSwitch }),
		"safe_mode":       boolField(func(s *systemObj) bool { return s.safeMode }),
		"risk_scale":      dblField(func(s *systemObj) float64 { return s.riskScale }),
		"exchange_status": strField(func(s *systemObj) string { return s.exchangeStatus }),
		"in_maintenance":  boolField(func(s *systemObj) bool { return s.inMaintenance }),
	})
)

// DepthBps are the distances from mid, in bps, at which
// market.depth_quote_within_bps holds the book's quote depth.
var DepthBps = []int64{5, 10, 25, 50, 100}

var emptyDepth = types.DefaultTypeAdapter.NativeToValue(map[int64]float64{})

// paramField reads one param; the values are built once when the policy loads.
func paramField(name string, t *types.Type) *types.FieldType {
	return &types.FieldType{
		Type:  t,
		IsSet: present[paramsObj],
		GetFrom: func(o any) (any, error) {
			p, ok := o.(*paramsObj)
			if !ok {
				return nil, errWrongObject
			}
			v, ok := p.vals[name]
			if !ok {
				return nil, fmt.Errorf("param %q has no value", name)
			}
			return v, nil
		},
	}
}

// provider adds Warden's object types to CEL's base provider.
type provider struct {
	base types.Provider
	objs map[string]*objType
}

var _ types.Provider = (*provider)(nil)

func (p *provider) EnumValue(name string) ref.Val { return p.base.EnumValue(name) }

func (p *provider) FindIdent(name string) (ref.Val, bool) { return p.base.FindIdent(name) }

func (p *provider) FindStructType(name string) (*types.Type, bool) {
	if _, ok := p.objs[name]; ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.base.FindStructType(name)
}

func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	if o, ok := p.objs[name]; ok {
		return o.names, true
	}
	return p.base.FindStructFieldNames(name)
}

func (p *provider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if o, ok := p.objs[name]; ok {
		ft, ok := o.fields[field]
		return ft, ok
	}
	return p.base.FindStructFieldType(name, field)
}

func (p *provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.objs[name]; ok {
		return types.NewErr("policy: %s values cannot be constructed in an expression", name)
	}
	return p.base.NewValue(name, fields)
}

// newEnv builds the CEL environment for a policy whose params have the given
// CEL types.
func newEnv(paramTypes map[string]*types.Type) (*cel.Env, error) {
	pf := make(map[string]*types.FieldType, len(paramTypes))
	for n, t := range paramTypes {
		pf[n] = paramField(n, t)
	}
	objs := map[string]*objType{
		typeRec:     recType,
		typeOrder:   orderType,
		typeMarket:  marketType,
		typeAccount: accountType,
		typeSystem:  systemType,
		typeParams:  newObjType(pf),
	}
	base, err := cel.NewEnv()
	if err != nil {
		return nil, err
	}
	prov := &provider{base: base.CELTypeProvider(), objs: objs}
	return cel.NewEnv(
		cel.CustomTypeProvider(prov),
		cel.Function("abs", cel.Overload("abs_double", []*cel.Type{cel.DoubleType}, cel.DoubleType,
			cel.UnaryBinding(celAbs))),
		cel.Function("fixed", cel.Overload("fixed_double_int", []*cel.Type{cel.DoubleType, cel.IntType}, cel.StringType,
			cel.BinaryBinding(celFixed))),
		cel.Function("fixed_vs", cel.Overload("fixed_vs_double_double", []*cel.Type{cel.DoubleType, cel.DoubleType}, cel.StringType,
			cel.BinaryBinding(celFixedVs))),
		cel.Function("num", cel.Overload("num_double", []*cel.Type{cel.DoubleType}, cel.StringType,
			cel.UnaryBinding(celNum))),
		cel.Function("scaled", cel.Overload("scaled_double_double", []*cel.Type{cel.DoubleType, cel.DoubleType}, cel.DoubleType,
			cel.BinaryBinding(celScaled))),
		cel.Variable("rec", cel.ObjectType(typeRec)),
		cel.Variable("order", cel.ObjectType(typeOrder)),
		cel.Variable("market", cel.ObjectType(typeMarket)),
		cel.Variable("account", cel.ObjectType(typeAccount)),
		cel.Variable("system", cel.ObjectType(typeSystem)),
		cel.Variable("params", cel.ObjectType(typeParams)),
		cel.Variable("now", cel.TimestampType),
	)
}

// maxStringSize bounds the strings a rule can see: the schema caps a
// recommendation's reason at 1000 characters and every other string is
// shorter. Params lists have their exact size.
const maxStringSize = 1000

// sizeEstimator gives CEL's cost estimator the sizes it cannot infer.
type sizeEstimator struct {
	listSizes map[string]uint64
}

func (e sizeEstimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	path := n.Path()
	if len(path) == 2 && path[0] == "params" {
		if s, ok := e.listSizes[path[1]]; ok {
			return &checker.SizeEstimate{Min: s, Max: s}
		}
	}
	if n.Type() != nil && n.Type().Kind() == types.StringKind && len(path) > 0 {
		return &checker.SizeEstimate{Min: 0, Max: maxStringSize}
	}
	return nil
}

// EstimateCallCost bounds the results of the number-to-string functions,
// so messages that concatenate them have a known cost.
func (sizeEstimator) EstimateCallCost(function, overload string, _ *checker.AstNode, _ []checker.AstNode) *checker.CallEstimate {
	switch {
	case function == "fixed" || function == "fixed_vs" || function == "num":
		// at most 308 integer digits, a point and 12 decimals
		return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: 1, Max: 1}, ResultSize: &checker.SizeEstimate{Min: 1, Max: 330}}
	case function == "string" && overload != "string_to_string" && overload != "bytes_to_string":
		return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: 1, Max: 1}, ResultSize: &checker.SizeEstimate{Min: 1, Max: 330}}
	}
	return nil
}

// celTimestamp boxes t once per validation.
func celTimestamp(t time.Time) ref.Val { return types.Timestamp{Time: t} }

// celAbs is abs(double) -> double.
func celAbs(v ref.Val) ref.Val {
	d, ok := v.(types.Double)
	if !ok {
		return types.MaybeNoSuchOverloadErr(v)
	}
	return types.Double(math.Abs(float64(d)))
}

// celFixed is fixed(double, int) -> string: the number with that many
// decimals (0..12), for messages.
func celFixed(v, places ref.Val) ref.Val {
	d, ok := v.(types.Double)
	n, ok2 := places.(types.Int)
	if !ok || !ok2 {
		return types.MaybeNoSuchOverloadErr(v)
	}
	if n < 0 || n > 12 {
		return types.NewErr("fixed: places %d is outside 0..12", n)
	}
	return types.String(strconv.FormatFloat(float64(d), 'f', int(n), 64))
}

// celFixedVs is fixed_vs(double, double) -> string (see fixedVs).
func celFixedVs(v, limit ref.Val) ref.Val {
	x, ok := v.(types.Double)
	l, ok2 := limit.(types.Double)
	if !ok || !ok2 {
		return types.MaybeNoSuchOverloadErr(v)
	}
	return types.String(fixedVs(float64(x), float64(l)))
}

// celNum is num(double) -> string (see numText).
func celNum(v ref.Val) ref.Val {
	x, ok := v.(types.Double)
	if !ok {
		return types.MaybeNoSuchOverloadErr(v)
	}
	return types.String(numText(float64(x)))
}

// celScaled is scaled(double, double) -> double (see scaledCap). A NaN or
// infinite argument is an evaluation error: the rule fails.
func celScaled(x, s ref.Val) ref.Val {
	a, ok := x.(types.Double)
	b, ok2 := s.(types.Double)
	if !ok || !ok2 {
		return types.MaybeNoSuchOverloadErr(x)
	}
	f, ok := scaledCap(float64(a), float64(b))
	if !ok {
		return types.NewErr("scaled: %v × %v is not a finite number", float64(a), float64(b))
	}
	return types.Double(f)
}
