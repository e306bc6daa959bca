package main

import (
	"context"
	"fmt"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/notify"
)

// publishHead enqueues, once a day (the dedup key is the day), the audit
// chain's head for every configured notification channel, so a copy
// exists outside the machine: `warden audit verify --expect-head SEQ:HASH`
// then finds records deleted from the end of the chain. A failure is
// logged; the cycle's outcome does not depend on it.
func (rt *runtime) publishHead(ctx context.Context) {
	if rt.pub == nil || rt.store == nil {
		return
	}
	seq, hash, err := rt.store.Head(ctx)
	if err == nil && seq > 0 {
		err = rt.pub.Publish(ctx, notify.AuditHead{Seq: seq, Hash: hash, Day: rt.clock.Now()})
	}
	if err != nil {
		rt.logger.Warn("audit head not published", "error", err)
	}
}

// verifyOptions reads verify's --expect-head (SEQ:HASH or HASH).
func verifyOptions(expectHead string) (audit.VerifyOptions, error) {
	var o audit.VerifyOptions
	if expectHead == "" {
		return o, nil
	}
	seq, hash, err := audit.ParseHead(expectHead)
	if err != nil {
		return o, fmt.Errorf("--expect-head: %w", err)
	}
	o.ExpectSeq, o.ExpectHash = seq, hash
	return o, nil
}
