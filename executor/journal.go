package executor

import (
	"context"

	"github.com/warden-trading/warden/schemas"
)

// Journal is the durable, append-only order history. The executor writes
// an order's intent here before it sends anything, and every later state as
// a new event. agent/audit implements it on SQLite.
type Journal interface {
	AppendOrderEvent(ctx context.Context, ev schemas.OrderEvent) error
	// OpenOrderEvents returns the newest event of every order whose newest
	// state is not final (intent, submitted, acknowledged, partially_filled,
	// unknown), oldest first.
	OpenOrderEvents(ctx context.Context) ([]schemas.OrderEvent, error)
	// LastOrderEvent returns the newest event of one client order id; ok is
	// false when the journal has never seen it.
	LastOrderEvent(ctx context.Context, clientOrderID string) (ev schemas.OrderEvent, ok bool, err error)
}
