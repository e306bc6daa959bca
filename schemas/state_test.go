package schemas

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// stateWith returns the state example with the first occurrence of old
// replaced by new.
func stateWith(t testing.TB, old, new string) string {
	t.Helper()
	s := string(readTestdata(t, "state.example.json"))
	if !strings.Contains(s, old) {
		t.Fatalf("state example has no %q", old)
	}
	return strings.Replace(s, old, new, 1)
}

func TestParseStateExample(t *testing.T) {
	st, err := ParseState(readTestdata(t, "state.example.json"))
	if err != nil {
		t.Fatalf("ParseState(example) error: %v", err)
	}
	if want := time.Date(2024, 1, 10, 12, 0, 0, 0, time.UTC); !st.Now.Equal(want) {
		t.Errorf("Now = %v; want %v", st.Now, want)
	}
	if st.Mode != "paper" || st.KillSwitch || st.SafeMode {
		t.Errorf("Mode, KillSwitch, SafeMode = %q, %v, %v; want paper, false, false", st.Mode, st.KillSwitch, st.SafeMode)
	}
	a := st.Account
	checks := []struct {
		name string
		got  string
		want string
	}{
		{"account.quote", a.Quote, "USDT"},
		{"account.equity", a.Equity.String(), "10000"},
		{"account.cash", a.Cash.String(), "9200"},
		{"account.peak_equity", a.PeakEquity.String(), "10400"},
		{"account.day_start_equity", a.DayStartEquity.String(), "10100"},
		{"positions[ETH/USDT].qty", a.Positions["ETH/USDT"].Qty.String(), "0.35"},
		{"positions[ETH/USDT].avg_price", a.Positions["ETH/USDT"].AvgPrice.String(), "2300"},
		{"markets[BTC/USDT].bid", st.Markets["BTC/USDT"].Bid.String(), "42000"},
		{"markets[BTC/USDT].ask", st.Markets["BTC/USDT"].Ask.String(), "42010"},
		{"markets[BTC/USDT].last", st.Markets["BTC/USDT"].Last.String(), "42005"},
		{"markets[BTC/USDT].quote_volume_24h", st.Markets["BTC/USDT"].QuoteVolume24h.String(), "1250000000"},
		{"markets[BTC/USDT].data_age_s", st.Markets["BTC/USDT"].DataAgeS.String(), "20"},
		{"markets[BTC/USDT].amount_step", st.Markets["BTC/USDT"].AmountStep.String(), "0.00001"},
		{"markets[BTC/USDT].price_step", st.Markets["BTC/USDT"].PriceStep.String(), "0.01"},
		{"markets[BTC/USDT].min_amount", st.Markets["BTC/USDT"].MinAmount.String(), "0.00001"},
		{"markets[BTC/USDT].min_notional", st.Markets["BTC/USDT"].MinNotional.String(), "5"},
		{"markets[ETH/USDT].bid", st.Markets["ETH/USDT"].Bid.String(), "2285.1"},
		{"markets[ETH/USDT].amount_step", st.Markets["ETH/USDT"].AmountStep.String(), "0.0001"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %s; want %s", c.name, c.got, c.want)
		}
	}
	if a.OrdersLastMinute != 0 || a.OpenOrders != 0 {
		t.Errorf("OrdersLastMinute, OpenOrders = %d, %d; want 0, 0", a.OrdersLastMinute, a.OpenOrders)
	}
	if len(st.Markets) != 2 || len(a.Positions) != 1 {
		t.Errorf("len(Markets), len(Positions) = %d, %d; want 2, 1", len(st.Markets), len(a.Positions))
	}
}

func TestParseStateAccepts(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(State) bool
	}{
		{"live mode with switches", stateWith(t, `"mode": "paper",
  "kill_switch": false,
  "safe_mode": false,`, `"mode": "live", "kill_switch": true, "safe_mode": true,`), func(s State) bool {
			return s.Mode == "live" && s.KillSwitch && s.SafeMode
		}},
		{"no positions", stateWith(t, `"ETH/USDT": {"qty": 0.35, "avg_price": 2300.0}`, ``), func(s State) bool {
			return s.Account.Positions != nil && len(s.Account.Positions) == 0
		}},
		{"no markets", `{"now": "2024-01-10T12:00:00.5+01:00", "mode": "paper", "kill_switch": false, "safe_mode": false,
			"account": {"quote": "USDT", "equity": 0, "cash": 0, "peak_equity": 0, "day_start_equity": 0, "orders_last_minute": 3, "open_orders": 2.0, "positions": {}},
			"markets": {}}`, func(s State) bool {
			return len(s.Markets) == 0 && s.Account.OrdersLastMinute == 3 && s.Account.OpenOrders == 2 &&
				s.Now.Equal(time.Date(2024, 1, 10, 11, 0, 0, 500_000_000, time.UTC))
		}},
		{"bid equals ask", stateWith(t, `"ask": 42010.0`, `"ask": 42000.0`), func(s State) bool {
			return s.Markets["BTC/USDT"].Ask.Equal(s.Markets["BTC/USDT"].Bid)
		}},
		{"risk_scale absent is 1", stateWith(t, `"mode": "paper",`, `"mode": "paper",`), func(s State) bool {
			return s.RiskScale.IsZero() && s.Risk().String() == "1" && s.RiskValid()
		}},
		{"risk_scale 0.5", stateWith(t, `"mode": "paper",`, `"mode": "paper", "risk_scale": 0.5,`), func(s State) bool {
			return s.RiskScale.String() == "0.5" && s.Risk().String() == "0.5" && s.RiskValid()
		}},
		{"risk_scale at the limit 1", stateWith(t, `"mode": "paper",`, `"mode": "paper", "risk_scale": 1.0,`), func(s State) bool {
			return s.Risk().String() == "1" && s.RiskValid()
		}},
		{"risk_scale just above 0", stateWith(t, `"mode": "paper",`, `"mode": "paper", "risk_scale": 0.00000001,`), func(s State) bool {
			return s.Risk().String() == "0.00000001" && s.RiskValid()
		}},
		{"locked within qty", stateWith(t, `{"qty": 0.35, "avg_price": 2300.0}`, `{"qty": 0.35, "avg_price": 2300.0, "locked": 0.35}`), func(s State) bool {
			return s.Account.Positions["ETH/USDT"].Locked.String() == "0.35"
		}},
		{"exchange status absent is normal, market status absent is TRADING", stateWith(t, `"mode": "paper",`, `"mode": "paper",`), func(s State) bool {
			return s.ExchangeStatus == "" && s.Exchange() == ExchangeNormal && !s.InMaintenance &&
				s.Markets["BTC/USDT"].Status == "" && s.Markets["BTC/USDT"].TradingStatus() == MarketTrading
		}},
		{"exchange in maintenance, window open, market on a break", stateWith(t, `"quote_volume_24h": 1250000000.0,`, `"quote_volume_24h": 1250000000.0, "status": "BREAK",`), func(s State) bool {
			return s.Markets["BTC/USDT"].TradingStatus() == "BREAK"
		}},
		{"a market with a book", stateWith(t, `"quote_volume_24h": 1250000000.0,`, `"quote_volume_24h": 1250000000.0, "book": {"bids": [[42000.0, 0.5], [41999.5, 1]], "asks": [[42010, 0.25], [42011, 2]]},`), func(s State) bool {
			b := s.Markets["BTC/USDT"].Book
			return b != nil && len(b.Bids) == 2 && len(b.Asks) == 2 && b.Asks[1].Price.String() == "42011" && b.Bids[1].Qty.String() == "1" && s.Markets["ETH/USDT"].Book == nil
		}},
		{"exchange_status unknown and in_maintenance", stateWith(t, `"mode": "paper",`, `"mode": "paper", "exchange_status": "unknown", "in_maintenance": true,`), func(s State) bool {
			return s.Exchange() == ExchangeUnknown && s.InMaintenance
		}},
		{"exchange_status maintenance", stateWith(t, `"mode": "paper",`, `"mode": "paper", "exchange_status": "maintenance",`), func(s State) bool {
			return s.Exchange() == ExchangeMaintenance
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseState([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseState(%.60q) error: %v", tt.in, err)
			}
			if !tt.check(got) {
				t.Errorf("ParseState(%.60q) = %+v; check failed", tt.in, got)
			}
		})
	}
}

func TestParseStateRejects(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantPointer string
		wantKeyword string
		wantMsg     string
	}{
		{"empty", ``, "", KeywordSyntax, "state is empty"},
		{"invalid JSON", `{"now": }`, "/now", KeywordSyntax, "unexpected character '}'"},
		{"trailing text", stateWith(t, "\n}\n", "\n}\nEOF\n"), "", KeywordTrailing, "trailing data after the JSON value"},
		{"two values", string(readTestdata(t, "state.example.json")) + "{}", "", KeywordTrailing, "a second JSON value"},
		{"duplicate key", stateWith(t, `"equity": 10000.0,`, `"equity": 10000.0, "equity": 99999999.0,`), "/account/equity", KeywordDuplicate, `duplicate key "equity" at /account`},
		{"duplicate market", stateWith(t, `"markets": {`, `"markets": {"ETH/USDT": {},`), "/markets/ETH~1USDT", KeywordDuplicate, `duplicate key "ETH/USDT" at /markets`},
		{"NaN", stateWith(t, `"cash": 9200.0`, `"cash": NaN`), "/account/cash", KeywordNumber, "NaN is not a JSON number"},
		{"overflow", stateWith(t, `"cash": 9200.0`, `"cash": 1e999`), "/account/cash", KeywordNumber, "overflows float64"},
		{"deep nesting", `{"now": ` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, "/now" + strings.Repeat("/0", MaxDepth-1), KeywordDepth, "nesting deeper than 32"},
		{"oversize", `{"now": "` + strings.Repeat("x", MaxStateBytes) + `"}`, "", KeywordSize, "at most 4194304 bytes"},
		{"invalid UTF-8", stateWith(t, `"quote": "USDT"`, "\"quote\": \"US\xfe\""), "/account/quote", KeywordUTF8, "invalid UTF-8"},
		{"not an object", `[]`, "", "type", "the top level must be an object, not an array"},
		{"unknown top-level field", stateWith(t, `"mode": "paper",`, `"mode": "paper", "leverage": 5,`), "/leverage", "additionalProperties", `unknown field "leverage" at the top level`},
		{"field name in another case", stateWith(t, `"mode": "paper",`, `"Mode": "paper",`), "/Mode", "additionalProperties", `unknown field "Mode"`},
		{"unknown market field", stateWith(t, `"bid": 42000.0,`, `"bid": 42000.0, "funding": 0.01,`), "/markets/BTC~1USDT/funding", "additionalProperties", `unknown field "funding" at /markets/BTC~1USDT`},
		{"missing now", stateWith(t, `"now": "2024-01-10T12:00:00Z",`, ``), "/now", "required", `missing required field "now" at the top level`},
		{"missing kill_switch", stateWith(t, `"kill_switch": false,`, ``), "/kill_switch", "required", `missing required field "kill_switch"`},
		{"missing equity", stateWith(t, `"equity": 10000.0,`, ``), "/account/equity", "required", `missing required field "equity" at /account`},
		{"missing account", `{"now": "2024-01-10T12:00:00Z", "mode": "paper", "kill_switch": false, "safe_mode": false, "markets": {}}`, "/account", "required", `missing required field "account"`},
		{"missing markets", stateWith(t, `"markets": {`, `"marketz": {`), "/markets", "required", `missing required field "markets"`},
		{"missing price step", stateWith(t, `"amount_step": 0.00001, "price_step": 0.01,`, `"amount_step": 0.00001,`), "/markets/BTC~1USDT/price_step", "required", `missing required field "price_step" at /markets/BTC~1USDT`},
		{"null equity", stateWith(t, `"equity": 10000.0`, `"equity": null`), "/account/equity", "type", "/account/equity must be a number, not null"},
		{"string equity", stateWith(t, `"equity": 10000.0`, `"equity": "10000"`), "/account/equity", "type", `must be a number, not the string "10000"`},
		{"string kill switch", stateWith(t, `"kill_switch": false`, `"kill_switch": "false"`), "/kill_switch", "type", "/kill_switch must be true or false"},
		{"fractional counter", stateWith(t, `"orders_last_minute": 0`, `"orders_last_minute": 1.5`), "/account/orders_last_minute", "type", "must be an integer, not 1.5"},
		{"negative counter", stateWith(t, `"open_orders": 0`, `"open_orders": -1`), "/account/open_orders", "minimum", "must not be negative"},
		{"huge counter", stateWith(t, `"open_orders": 0`, `"open_orders": 1e20`), "/account/open_orders", "maximum", "at most 1000000000"},
		{"risk_scale 0", stateWith(t, `"mode": "paper",`, `"mode": "paper", "risk_scale": 0,`), "/risk_scale", "exclusiveMinimum", "/risk_scale is 0; it must be greater than 0 and at most 1"},
		{"risk_scale negative", stateWith(t, `"mode": "paper",`, `"mode": "paper", "risk_scale": -0.5,`), "/risk_scale", "exclusiveMinimum", "must be greater than 0"},
		{"risk_scale one step above 1", stateWith(t, `"mode": "paper",`, `"mode": "paper", "risk_scale": 1.00000001,`), "/risk_scale", "maximum", "/risk_scale is 1.00000001; it must be at most 1"},
		{"risk_scale null", stateWith(t, `"mode": "paper",`, `"mode": "paper", "risk_scale": null,`), "/risk_scale", "type", "must be a number, not null"},
		{"risk_scale string", stateWith(t, `"mode": "paper",`, `"mode": "paper", "risk_scale": "0.5",`), "/risk_scale", "type", "must be a number"},
		{"locked above qty", stateWith(t, `{"qty": 0.35, "avg_price": 2300.0}`, `{"qty": 0.35, "avg_price": 2300.0, "locked": 0.35000001}`), "/account/positions/ETH~1USDT/locked", "consistency", "locked 0.35000001 is more than"},
		{"locked negative", stateWith(t, `{"qty": 0.35, "avg_price": 2300.0}`, `{"qty": 0.35, "avg_price": 2300.0, "locked": -1}`), "/account/positions/ETH~1USDT/locked", "minimum", "must not be negative"},
		{"unknown position field", stateWith(t, `{"qty": 0.35, "avg_price": 2300.0}`, `{"qty": 0.35, "avg_price": 2300.0, "free": 1}`), "/account/positions/ETH~1USDT/free", "additionalProperties", "allowed: qty, avg_price, locked"},
		{"exchange_status not a status", stateWith(t, `"mode": "paper",`, `"mode": "paper", "exchange_status": "ok",`), "/exchange_status", "enum", `/exchange_status is "ok"; it must be one of normal, maintenance, unknown`},
		{"exchange_status null", stateWith(t, `"mode": "paper",`, `"mode": "paper", "exchange_status": null,`), "/exchange_status", "type", "must be a string, not null"},
		{"in_maintenance not a bool", stateWith(t, `"mode": "paper",`, `"mode": "paper", "in_maintenance": "yes",`), "/in_maintenance", "type", "must be true or false"},
		{"market status lower case", stateWith(t, `"quote_volume_24h": 1250000000.0,`, `"quote_volume_24h": 1250000000.0, "status": "trading",`), "/markets/BTC~1USDT/status", "pattern", `is "trading"; it must be the exchange's market status in upper case`},
		{"market status empty", stateWith(t, `"quote_volume_24h": 1250000000.0,`, `"quote_volume_24h": 1250000000.0, "status": "",`), "/markets/BTC~1USDT/status", "pattern", "market status"},
		{"market status a number", stateWith(t, `"quote_volume_24h": 1250000000.0,`, `"quote_volume_24h": 1250000000.0, "status": 1,`), "/markets/BTC~1USDT/status", "type", "must be a string"},
		{"unknown market field", stateWith(t, `"quote_volume_24h": 1250000000.0,`, `"quote_volume_24h": 1250000000.0, "state": "TRADING",`), "/markets/BTC~1USDT/state", "additionalProperties", "min_notional, status"},
		{"book crossed", stateWith(t, `"quote_volume_24h": 1250000000.0,`, `"quote_volume_24h": 1250000000.0, "book": {"bids": [[42010, 1]], "asks": [[42010, 1]]},`), "/markets/BTC~1USDT/book/bids", "consistency", "best bid 42010 is not below best ask 42010: a crossed book"},
		{"book empty side", stateWith(t, `"quote_volume_24h": 1250000000.0,`, `"quote_volume_24h": 1250000000.0, "book": {"bids": [], "asks": [[42010, 1]]},`), "/markets/BTC~1USDT/book/bids", "minItems", "is empty"},
		{"book asks not rising", stateWith(t, `"quote_volume_24h": 1250000000.0,`, `"quote_volume_24h": 1250000000.0, "book": {"bids": [[42000, 1]], "asks": [[42010, 1], [42010, 2]]},`), "/markets/BTC~1USDT/book/asks/1", "consistency", "asks prices must strictly rise"},
		{"book bids not falling", stateWith(t, `"quote_volume_24h": 1250000000.0,`, `"quote_volume_24h": 1250000000.0, "book": {"bids": [[42000, 1], [42001, 1]], "asks": [[42010, 1]]},`), "/markets/BTC~1USDT/book/bids/1", "consistency", "bids prices must strictly fall"},
		{"book zero qty", stateWith(t, `"quote_volume_24h": 1250000000.0,`, `"quote_volume_24h": 1250000000.0, "book": {"bids": [[42000, 0]], "asks": [[42010, 1]]},`), "/markets/BTC~1USDT/book/bids/0/qty", "exclusiveMinimum", "must be greater than 0"},
		{"book level not a pair", stateWith(t, `"quote_volume_24h": 1250000000.0,`, `"quote_volume_24h": 1250000000.0, "book": {"bids": [[42000]], "asks": [[42010, 1]]},`), "/markets/BTC~1USDT/book/bids/0", "type", "must be [price, qty]"},
		{"book side missing", stateWith(t, `"quote_volume_24h": 1250000000.0,`, `"quote_volume_24h": 1250000000.0, "book": {"bids": [[42000, 1]]},`), "/markets/BTC~1USDT/book/asks", "required", "missing required field"},
		{"bad mode", stateWith(t, `"mode": "paper"`, `"mode": "Live"`), "/mode", "enum", `/mode is "Live"; it must be one of paper, live`},
		{"bad time", stateWith(t, `"2024-01-10T12:00:00Z"`, `"2024-01-10 12:00"`), "/now", "format", "RFC 3339"},
		{"time without zone", stateWith(t, `"2024-01-10T12:00:00Z"`, `"2024-01-10T12:00:00"`), "/now", "format", "RFC 3339"},
		{"negative equity", stateWith(t, `"equity": 10000.0`, `"equity": -1`), "/account/equity", "minimum", "/account/equity is -1; it must not be negative"},
		{"negative cash", stateWith(t, `"cash": 9200.0`, `"cash": -0.01`), "/account/cash", "minimum", "must not be negative"},
		{"negative position", stateWith(t, `"qty": 0.35`, `"qty": -0.35`), "/account/positions/ETH~1USDT/qty", "minimum", "must not be negative"},
		{"bad quote", stateWith(t, `"quote": "USDT"`, `"quote": "usdt"`), "/account/quote", "pattern", "currency code"},
		{"zero bid", stateWith(t, `"bid": 42000.0`, `"bid": 0`), "/markets/BTC~1USDT/bid", "exclusiveMinimum", "/markets/BTC~1USDT/bid is 0; it must be greater than 0"},
		{"negative last", stateWith(t, `"last": 42005.0`, `"last": -1`), "/markets/BTC~1USDT/last", "exclusiveMinimum", "greater than 0"},
		{"crossed book", stateWith(t, `"bid": 42000.0`, `"bid": 42020.0`), "/markets/BTC~1USDT/bid", "consistency", "bid 42020 is above /markets/BTC~1USDT/ask 42010"},
		{"zero amount step", stateWith(t, `"amount_step": 0.00001`, `"amount_step": 0`), "/markets/BTC~1USDT/amount_step", "exclusiveMinimum", "greater than 0"},
		{"zero price step", stateWith(t, `"price_step": 0.01`, `"price_step": 0.0`), "/markets/BTC~1USDT/price_step", "exclusiveMinimum", "greater than 0"},
		{"negative data age", stateWith(t, `"data_age_s": 20`, `"data_age_s": -1`), "/markets/BTC~1USDT/data_age_s", "minimum", "must not be negative"},
		{"negative min notional", stateWith(t, `"min_notional": 5.0`, `"min_notional": -5`), "/markets/BTC~1USDT/min_notional", "minimum", "must not be negative"},
		{"market not an object", stateWith(t, `"markets": {`, `"markets": {"SOL/USDT": null,`), "/markets/SOL~1USDT", "type", "must be an object, not null"},
		{"lowercase market symbol", stateWith(t, `"BTC/USDT": {
      "bid"`, `"btc/usdt": {
      "bid"`), "/markets/btc~1usdt", "pattern", "lower-case"},
		{"lookalike market symbol", stateWith(t, `"BTC/USDT": {
      "bid"`, `"BTC/USDТ": {
      "bid"`), "/markets/BTC~1USDТ", "pattern", "U+0422"},
		{"market in another quote", stateWith(t, `"BTC/USDT": {
      "bid"`, `"BTC/EUR": {
      "bid"`), "/markets/BTC~1EUR", "consistency", "quoted in EUR, but the account's quote currency is USDT"},
		{"position symbol without slash", stateWith(t, `"ETH/USDT": {"qty"`, `"ETHUSDT": {"qty"`), "/account/positions/ETHUSDT", "pattern", "'/' between base and quote is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseState([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseState(%.60q) = %+v, nil; want an error", tt.in, got)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseState(%.60q) error %T %v; want *ParseError", tt.in, err, err)
			}
			if pe.What != "state" || !strings.HasPrefix(err.Error(), "invalid state") {
				t.Errorf("error = %q; want it to name the state", err)
			}
			for _, p := range pe.Problems {
				if p.Pointer == tt.wantPointer && p.Keyword == tt.wantKeyword && strings.Contains(p.Message, tt.wantMsg) {
					return
				}
			}
			t.Errorf("ParseState(%.60q) problems = %+v; want one with pointer %q, keyword %q, message containing %q", tt.in, pe.Problems, tt.wantPointer, tt.wantKeyword, tt.wantMsg)
		})
	}
}

func TestParseStateReportsEveryProblem(t *testing.T) {
	in := `{"now": "yesterday", "mode": "demo", "kill_switch": false, "safe_mode": 0,
	  "account": {"quote": "USDT", "equity": -1, "cash": 1, "peak_equity": 1, "day_start_equity": 1,
	              "orders_last_minute": 0, "open_orders": 0, "positions": {}},
	  "markets": {"BTC/USDT": {"bid": 2, "ask": 1, "last": 1, "quote_volume_24h": 0, "data_age_s": 0,
	              "amount_step": 0, "price_step": 0.01, "min_amount": 0, "min_notional": 0}}}`
	_, err := ParseState([]byte(in))
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("ParseState error = %v; want *ParseError", err)
	}
	want := []string{"/account/equity", "/markets/BTC~1USDT/amount_step", "/markets/BTC~1USDT/bid", "/mode", "/now", "/safe_mode"}
	var got []string
	for _, p := range pe.Problems {
		got = append(got, p.Pointer)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("problem pointers = %v; want %v (problems %+v)", got, want, pe.Problems)
	}
}

// TestStateRiskScaleJSON: the audit store keeps states with encoding/json;
// an unset scale is left out (older records read back as unset), a set one
// round-trips.
func TestStateRiskScaleJSON(t *testing.T) {
	st, err := ParseState(readTestdata(t, "state.example.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"risk_scale", "locked", "exchange_status", "in_maintenance", `"status"`} {
		if strings.Contains(string(raw), f) {
			t.Errorf("json.Marshal(unset) = %s; want no %s", raw, f)
		}
	}
	st.ExchangeStatus, st.InMaintenance = ExchangeUnknown, true
	m := st.Markets["BTC/USDT"]
	m.Status = "HALT"
	st.Markets["BTC/USDT"] = m
	m.Book = &Book{Bids: []BookLevel{{Price: decimal.RequireFromString("42000"), Qty: decimal.RequireFromString("0.5")}},
		Asks: []BookLevel{{Price: decimal.RequireFromString("42010.5"), Qty: decimal.RequireFromString("2")}}}
	st.Markets["BTC/USDT"] = m
	raw, _ = json.Marshal(st)
	if !strings.Contains(string(raw), `"book":{"bids":[[42000,0.5]],"asks":[[42010.5,2]]}`) {
		t.Errorf("book JSON = %s", raw)
	}
	var bk State
	if err := json.Unmarshal(raw, &bk); err != nil || bk.Markets["BTC/USDT"].Book == nil || !bk.Markets["BTC/USDT"].Book.Asks[0].Price.Equal(decimal.RequireFromString("42010.5")) {
		t.Errorf("json.Unmarshal of a marshalled state with a book = %v", err)
	}
	var st2 State
	err = json.Unmarshal(raw, &st2)
	if err != nil || st2.Exchange() != ExchangeUnknown || !st2.InMaintenance || st2.Markets["BTC/USDT"].Status != "HALT" {
		t.Errorf("round trip of the exchange and market status = %+v, %v", st2, err)
	}
	st.RiskScale = decimal.RequireFromString("0.5")
	raw, _ = json.Marshal(st)
	var back State
	if err := json.Unmarshal(raw, &back); err != nil || back.Risk().String() != "0.5" {
		t.Errorf("round trip of risk_scale 0.5 = %v, %v", back.RiskScale, err)
	}
}
