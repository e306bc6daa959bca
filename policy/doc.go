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
//	order    symbol, side, type, quantity, price, notional, stop_loss, take_profit,
//	         limit_distance_bps, stop_distance_pct, expected_slippage_bps — the sized
//	         order (rounded quantity, price, stop and take-profit); every check runs on it
//	market   bid, ask, mid, last, spread_bps, quote_volume_24h, data_age_s,
//	         amount_step, price_step, min_amount, min_notional, known,
//	         status (the exchange's word for the market: "TRADING" when open,
//	         "BREAK", "HALT", ...; "TRADING" when the state does not say),
//	         depth_quote_within_bps (map of 5, 10, 25, 50, 100 to the quote value of
//	         the book on the order's side within that many bps of mid; empty
//	         without a book: market.depth_quote_within_bps[10] is then an error)
//	account  equity, cash, peak_equity, day_start_equity,
//	         position_qty, position_notional, position_pct, position_locked_qty, sellable_qty,
//	         position_qty_after, position_notional_after, position_pct_after,
//	         exposure, exposure_pct, exposure_after, exposure_pct_after,
//	         open_positions, open_positions_after, open_orders,
//	         day_pnl_pct, day_loss_pct, drawdown_pct, orders_last_minute
//	system   mode, kill_switch, safe_mode, risk_scale,
//	         exchange_status ("normal", "maintenance" or "unknown": a status
//	         Warden could not read; "normal" when the state does not say),
//	         in_maintenance (now falls in a configured maintenance window)
//	params   the policy file's params, typed from their YAML values
//	now      timestamp: the state's "now" (time is an input, never the clock)
//
// The nullable prices (rec.limit_price, rec.stop_loss, rec.take_profit,
// order.stop_loss, order.take_profit, order.stop_distance_pct) have no
// sentinel value: reading one that is null is an evaluation error, and so a
// failed rule. Test them with has(), e.g. has(order.stop_loss) &&
// order.stop_loss < order.price.
//
// order.expected_slippage_bps walks the state's book for the order's
// quantity (asks for a buy, bids for a sell) from the best level: the
// average fill price's distance from that best price, in bps of it,
// rounded up; +Inf when the book cannot fill the quantity. It is null (test
// it with has()) when the state carries no book for the symbol.
//
// market.known is true when the state has a market for the symbol with
// positive bid, ask and last and ask >= bid; mid is (bid+ask)/2 and spread_bps
// is (ask-bid)/mid×10000 (both 0 when not known).
//
// # What may be bought, what may be sold
//
// The "now" values (position_qty, position_notional, position_pct,
// exposure, exposure_pct, open_positions) are the state's, before anything
// in the response. The "_after" values are for caps and are conservative:
// every buy approved earlier in the response and this order, if a buy, are
// assumed to fill; sells are assumed not to (a sell leaves them as they
// are). account.sellable_qty is for sells: the quantity held now, less
// position_locked_qty (held in open sell orders; protective stops, which the
// executor releases for a sell, are not counted) and less the sells
// approved earlier in the response; a buy that has not filled never makes
// anything sellable. The default rule sell_held uses sellable_qty;
// max_position, max_exposure and max_open_positions use the _after values.
// account.cash is the state's cash less the approved buys.
//
// # One valuation
//
// An order is valued at its own price (order.price: the limit price on the
// price step, rounded down for a buy and up for a sell; a market order's
// ask or bid) by sizing (notional = quantity × price, at most size_pct of
// equity) and by every cap; so are the buys approved earlier in the
// response. A held position is valued at its mark: the mid when the market
// is known, else last, else its average price. So size_pct exactly at the
// position cap is approved whichever side of mid the limit is on.
//
// # Numeric model
//
// Money, quantities and prices are decimals in Go (shopspring/decimal);
// CEL sees doubles. The quantities rules compare with limits are computed
// in decimal in Go and handed to CEL ready to compare: position_pct(_after)
// and exposure_pct(_after) (of equity), day_loss_pct and drawdown_pct,
// market.spread_bps, order.limit_distance_bps (|price - mid| / mid ×
// 10000) and order.stop_distance_pct ((price - stop) / price × 100).
// Each is rounded to 15 significant digits in the direction that makes a
// rule stricter (up for values held under a maximum, down for
// rec.confidence, account.sellable_qty and day_pnl_pct) and then to the
// nearest double. A param is the double nearest its text. Two decimals of
// up to 15 significant digits that differ are different doubles in the same
// order, so a value exactly at a limit passes an inclusive comparison (<=,
// >=) and a value past it by any amount fails; the rounding direction keeps
// a value with more digits from passing a limit it is past. Other values
// (prices, quantities, notionals, market data) are the nearest double of
// their decimal. Rules should compare these ready values with params and
// not recompute ratios in CEL, where double arithmetic rounds.
//
// system.risk_scale is the state's risk scale (1 when not set; below 1 in
// the breakers' reduce mode). The default policy multiplies the size caps
// max_position_pct and max_exposure_pct by it with scaled(cap, scale),
// which multiplies in decimal; max_open_positions is a count and is not
// scaled. A state whose scale is not in (0, 1] is rejected by the hard
// limit limit_risk_scale (and CEL sees NaN, so every cap fails too).
//
// # Sizing failures, one recommendation per symbol
//
// When a recommendation cannot be sized (an unknown symbol, no limit price,
// ...), every rule is still judged: a rule whose when or expr reads a value
// of the sized order (order.quantity, price, notional, stop_loss,
// take_profit, limit_distance_bps, stop_distance_pct, or an account _after
// value) is reported not applicable with the sizing reason
// (RuleResult.NotApplicable); every other rule is evaluated, with order.symbol,
// order.side and order.type taken from the recommendation. So a symbol the
// model invents always names symbol_allowlist. A second recommendation for
// a symbol in one response is rejected by one_per_symbol (source
// "response"); UniverseWarnings names the configured symbols a response
// left out (universe_missing).
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
// model's prompt. Besides CEL's standard library, these functions are
// declared: abs(double) double; scaled(cap, scale) double, cap × scale in
// decimal; and, for messages, fixed(double, int) string (that many
// decimals), num(double) string (the shortest decimal that reads back as
// the double: "0.55", "42010.5") and fixed_vs(value, limit) string (two
// decimals, or as many more as it takes for the shown value to be on the
// value's side of the limit: "0.549 is below 0.55", never "0.55 is below
// 0.55").
//
// Every key of a policy file, params included, may appear once per
// mapping: a duplicate is a load error with file and line (YAML would keep
// the last one silently). The same holds for policy tests files.
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
