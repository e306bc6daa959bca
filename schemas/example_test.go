package schemas_test

import (
	"errors"
	"fmt"

	"github.com/warden-trading/warden/schemas"
)

func ExampleParseResponse() {
	raw := []byte(`{
	  "rationale": "BTC broke out; ETH has no edge.",
	  "recommendations": [
	    {"symbol": "BTC/USDT", "action": "buy", "confidence": 0.62, "size_pct": 1.0,
	     "order_type": "limit", "limit_price": 42010.5, "stop_loss": 41200.0, "take_profit": null,
	     "reason": "Breakout with volume."},
	    {"symbol": "ETH/USDT", "action": "hold", "confidence": 0.5, "size_pct": 0,
	     "order_type": "limit", "limit_price": null, "stop_loss": null, "take_profit": null,
	     "reason": "No clear edge."}
	  ]
	}`)
	resp, err := schemas.ParseResponse(raw)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range resp.Recommendations {
		fmt.Println(r.Symbol, r.Action, r.SizePct, r.LimitPrice != nil)
	}
	// Output:
	// BTC/USDT buy 1 true
	// ETH/USDT hold 0 false
}

func ExampleParseError_Violations() {
	raw := []byte(`{"rationale": "Lookalike.", "recommendations": [
	  {"symbol": "BTC/USDТ", "action": "buy", "confidence": 1.5, "size_pct": 1,
	   "order_type": "limit", "limit_price": 42010.5, "stop_loss": 41200, "take_profit": null,
	   "reason": "Breakout."}]}`)
	_, err := schemas.ParseResponse(raw)
	var pe *schemas.ParseError
	if errors.As(err, &pe) {
		for _, v := range pe.Violations() {
			fmt.Printf("%s %s: %s\n", v.Rule, v.Pointer, v.Message)
		}
	}
	_, err = schemas.ParseResponse([]byte(`{"rationale": "a", "rationale": "b"}`))
	if errors.As(err, &pe) {
		for _, v := range pe.Violations() {
			fmt.Printf("%s %s: %s\n", v.Rule, v.Pointer, v.Message)
		}
	}
	// Output:
	// schema /recommendations/0/confidence: /recommendations/0/confidence is 1.5; it must be at most 1
	// schema /recommendations/0/symbol: /recommendations/0/symbol: symbol "BTC/USDТ" must be BASE/QUOTE in upper-case ASCII letters and digits, 2 to 20 each (e.g. "BTC/USDT"); it contains the non-ASCII character 'Т' (U+0422) at byte 7
	// json /rationale: duplicate key "rationale" at the top level (second occurrence at byte 19)
}
