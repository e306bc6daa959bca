package executor

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"

	"github.com/shopspring/decimal"
)

// ClientIDPrefix starts every client order id Warden generates, so an order
// on the exchange without it is recognisably not ours.
const ClientIDPrefix = "wd"

// Order roles. The entry is the decision's own order (whichever side); stops
// and exits are the protection the executor places for a filled entry. A
// resized stop gets a new role "stop.2", "stop.3"... so each exchange order
// has its own client id.
const (
	RoleEntry = "entry"
	RoleStop  = "stop"
	RoleExit  = "exit"
)

var clientIDRe = regexp.MustCompile(`^[\.A-Z\:/a-z0-9_-]{1,36}$`)

// ClientOrderID derives the client order id of one order of a decision:
// "wd" and the first 30 hex digits of sha256(decisionID, role). The same
// decision and role always give the same id, so a resend is recognisable;
// the id matches Binance's ^[\.A-Z\:/a-z0-9_-]{1,36}$.
func ClientOrderID(decisionID, role string) string {
	h := sha256.New()
	h.Write([]byte(decisionID))
	h.Write([]byte{0})
	h.Write([]byte(role))
	return ClientIDPrefix + hex.EncodeToString(h.Sum(nil))[:30]
}

// ValidClientOrderID reports whether id is acceptable to Binance.
func ValidClientOrderID(id string) bool { return clientIDRe.MatchString(id) }

// FloorToStep rounds v down to a multiple of step; a zero or negative step
// leaves v unchanged.
func FloorToStep(v, step decimal.Decimal) decimal.Decimal {
	if step.Sign() <= 0 {
		return v
	}
	return v.Div(step).Floor().Mul(step)
}

// IsStepMultiple reports whether v is a whole multiple of step; a zero step
// accepts anything.
func IsStepMultiple(v, step decimal.Decimal) bool {
	if step.Sign() <= 0 {
		return true
	}
	return v.Mod(step).IsZero()
}
