package policy_test

import (
	"fmt"
	"os"

	"github.com/warden-trading/warden/policy"
	"github.com/warden-trading/warden/schemas"
)

// The contract examples: the BTC buy is sized to 0.00238 BTC at 42010.5 and
// approved; the ETH hold gives no action.
func ExampleValidator_ValidateRaw() {
	p, err := policy.Default()
	if err != nil {
		fmt.Println(err)
		return
	}
	stRaw, _ := os.ReadFile("testdata/state.example.json")
	st, err := schemas.ParseState(stRaw)
	if err != nil {
		fmt.Println(err)
		return
	}
	raw, _ := os.ReadFile("testdata/recommendation.example.json")
	res := policy.NewValidator(p, policy.Limits{}).ValidateRaw(raw, st)
	for _, v := range res.Verdicts {
		fmt.Print(v.Symbol, " ", v.Action, ": ", v.Decision)
		if v.Order != nil {
			fmt.Print(" ", v.Order.Quantity, " @ ", v.Order.Price)
		}
		fmt.Println()
	}
	fmt.Println("all approved:", res.AllApproved())
	// Output:
	// BTC/USDT buy: approved 0.00238 @ 42010.5
	// ETH/USDT hold: no_action
	// all approved: true
}

func ExamplePolicy_Describe() {
	p, err := policy.Load("tiny.yaml", []byte(`
params:
  max_position_pct: 2
rules:
  - name: max_position
    description: After a buy, a position is at most {max_position_pct}% of equity.
    when: order.side == "buy"
    expr: account.position_notional_after <= account.equity * params.max_position_pct / 100.0
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range p.Describe() {
		fmt.Println(line)
	}
	// Output:
	// After a buy, a position is at most 2% of equity.
}
