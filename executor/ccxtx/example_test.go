package ccxtx_test

import (
	"fmt"

	"github.com/warden-trading/warden/executor/ccxtx"
)

func ExampleRedact() {
	msg := `Network error: Get "https://api.binance.com/api/v3/account?timestamp=1&signature=9f2c8e41d0aa": EOF; key s3cr3tKEY`
	fmt.Println(ccxtx.Redact(msg, "s3cr3tKEY"))
	// Output: Network error: Get "https://api.binance.com/api/v3/account?timestamp=1&signature=[REDACTED]": EOF; key [REDACTED]
}

func ExampleCredentials() {
	c := ccxtx.NewCredentials("my-api-key", "my-secret")
	fmt.Println(c)
	fmt.Printf("%#v\n", c)
	// Output:
	// Credentials{api_key:[REDACTED] secret:[REDACTED]}
	// ccxtx.Credentials{api_key:[REDACTED] secret:[REDACTED]}
}

func ExampleLiveAllowed() {
	fmt.Println(ccxtx.LiveAllowed("live", true), ccxtx.LiveAllowed("live", false), ccxtx.LiveAllowed("paper", true))
	// Output: true false false
}
