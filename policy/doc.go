// Package policy owns Warden's deterministic validator: the CEL environment,
// policy files (YAML rules with a name, a plain-word description, a CEL
// expression that must hold and a message), their compile-time type check,
// sizing of a recommendation into an exchange-precision order, the hard limits
// in Go that no policy edit can remove, the Validator that judges a model
// response against a state, and the runner for policy tests written as data.
//
// The package knows nothing about exchanges, the network or the audit store:
// it takes parsed values from package schemas and returns verdicts.
//
// # CEL variables
//
// Every rule sees the same typed variables. Every number is a CEL double.
//
//	rec      symbol, action, confidence, size_pct, order_type, limit_price,
//	         stop_loss, take_profit, reason — the recommendation as the model sent it
//	order    symbol, side, type, quantity, price, notional, stop_loss, take_profit —
//	         the sized order (rounded quantity and price); every check runs on it
//	market   bid, ask, mid, last, spread_bps, quote_volume_24h, data_age_s,
//	         amount_step, price_step, min_amount, min_notional, known
//	account  equity, cash, peak_equity, day_start_equity, position_qty,
//	         position_notional, position_qty_after, position_notional_after,
//	         exposure, exposure_after, open_positions, open_positions_after,
//	         open_orders, day_pnl_pct, drawdown_pct, orders_last_minute
//	system   mode, kill_switch, safe_mode
//	params   the policy file's params, typed from their YAML values
//	now      timestamp: the state's "now" (time is an input, never the clock)
//
// The nullable prices (rec.limit_price, rec.stop_loss, rec.take_profit,
// order.stop_loss, order.take_profit) have no sentinel value: reading one that
// is null is an evaluation error, and so a failed rule. Test them with has(),
// e.g. has(order.stop_loss) && order.stop_loss < order.price.
//
// market.known is true when the state has a market for the symbol with
// positive bid, ask and last and ask >= bid; mid is (bid+ask)/2 and spread_bps
// is (ask-bid)/mid×10000 (both 0 when not known). Notionals and exposure are in
// the quote currency, marked at the symbol's mid (last, then the position's
// average price, when the market is not known). "_after" values assume the
// order fills completely at its price, and include orders approved earlier in
// the same response.
//
// # Policy files
//
//	name: my-policy
//	params:                      # numbers (CEL double) and lists of strings or numbers
//	  allowed_symbols: [BTC/USDT]
//	  max_position_pct: 2
//	rules:
//	  - name: max_position       # lower_snake_case, unique
//	    description: After a buy, a position is at most {max_position_pct}% of equity.
//	    when: order.side == "buy"                      # optional guard; false = rule does not apply
//	    expr: account.position_notional_after <= account.equity * params.max_position_pct / 100.0
//	    message: '"position would be " + fixed(account.position_notional_after, 2)'  # CEL string
//	    message_fallback: position over the cap       # static text if message is absent or fails
//	    mode: enforce                                  # or warn: reported, never rejects
//
// Unknown keys anywhere are errors. Description placeholders {param} are
// replaced by the param's value in Describe, which renders the rules for the
// model's prompt. Besides CEL's standard library, two functions are
// declared: abs(double) double and fixed(double, int) string (a number with
// that many decimals, for messages).
//
// Every expression is type-checked against the variables above (a typo in a
// field or param name is a load error) and its cost is estimated against
// RuleCostLimit, with strings bounded by the schema's 1000-character cap and
// param lists by their size; an input with longer strings is evaluated under
// cel.CostLimit instead (see program).
//
// # Fail closed
//
// A policy that does not load is refused as a whole, with file, line and rule
// name. An evaluation error (a null price read without has(), a division that
// errors, the cost limit) fails the rule it happened in.
package policy
