package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/notify"
	"github.com/warden-trading/warden/policy"
)

// validatorSwapper is the part of *agent.Agent hot reload uses.
type validatorSwapper interface {
	Validator() *policy.Validator
	SetValidator(v *policy.Validator)
}

// eventRecorder is the part of *audit.Store hot reload uses: it records
// the reloads and reads the policy tests in force before one.
type eventRecorder interface {
	RecordEvent(ctx context.Context, e audit.Event) error
	ListEvents(ctx context.Context, f audit.EventFilter) ([]audit.EventRow, error)
}

var (
	_ validatorSwapper = (*agent.Agent)(nil)
	_ eventRecorder    = (*audit.Store)(nil)
)

// watchPolicy hot-reloads the policy file of `warden run` until ctx is
// done: a changed file is taken only if it loads and its policy tests pass
// (policy.Watch); the agent then uses it from its next cycle. Every taken
// and refused change is an audit event (kind policy_reload, state accepted
// or rejected); a refused one is also published to pub (nil: no
// notifications). The embedded default policy is not watched.
func (rt *runtime) watchPolicy(ctx context.Context, pub agent.Publisher) {
	if rt.cfg.Policy == "" {
		return
	}
	w := &policyWatch{
		file: rt.cfg.Policy, tests: rt.cfg.PolicyTests,
		limits: rt.cfg.PolicyLimits(!rt.live),
		agent:  rt.agent, store: rt.store, pub: pub, logger: rt.logger,
		// Wall time, not the replay clock: a reload happens now, and the
		// replay clock is written by the cycle goroutine.
		now: func() time.Time { return time.Now().UTC() },
	}
	w.run(ctx)
}

// policyWatch applies and records the outcomes of policy.Watch.
type policyWatch struct {
	file, tests string
	limits      policy.Limits
	agent       validatorSwapper
	store       eventRecorder
	pub         agent.Publisher // nil: no notifications
	logger      *slog.Logger
	now         func() time.Time
}

func (w *policyWatch) run(ctx context.Context) {
	if w.logger == nil {
		w.logger = slog.New(slog.DiscardHandler)
	}
	err := policy.Watch(ctx, w.file, w.tests, w.logger,
		func(p *policy.Policy) { w.accepted(ctx, p) },
		func(err error) { w.rejected(ctx, err) })
	if err != nil {
		w.logger.Error("policy hot reload is off", "policy", w.file, "err", err)
	}
}

// reloadDetail is the detail of a policy_reload audit event.
type reloadDetail struct {
	File    string `json:"file"`
	Policy  string `json:"policy,omitempty"`   // the taken policy's name
	OldHash string `json:"old_hash"`           // the policy in force before
	NewHash string `json:"new_hash,omitempty"` // the file's content hash ("" when unreadable)
	Reason  string `json:"reason,omitempty"`   // why it was refused
}

func (w *policyWatch) accepted(ctx context.Context, p *policy.Policy) {
	old := w.agent.Validator().Policy()
	if p.Hash() == old.Hash() {
		return // the policy in force already
	}
	w.agent.SetValidator(policy.NewValidator(p, w.limits))
	w.logger.Warn("policy reloaded: in force from the next cycle", "file", w.file, "policy", p.Name(), "old_hash", old.Hash(), "new_hash", p.Hash())
	w.record(ctx, "accepted", reloadDetail{File: w.file, Policy: p.Name(), OldHash: old.Hash(), NewHash: p.Hash()})
	// The tests it was taken with stay required of the next process.
	w.requireReloadTests(ctx, p)
}

func (w *policyWatch) rejected(ctx context.Context, err error) {
	at := w.now()
	var rev string
	var re *policy.ReloadError
	if errors.As(err, &re) {
		rev = re.Revision
	}
	old := w.agent.Validator().Policy()
	w.record(ctx, "rejected", reloadDetail{File: w.file, OldHash: old.Hash(), NewHash: rev, Reason: err.Error()})
	if w.pub == nil {
		return
	}
	if perr := w.pub.Publish(ctx, notify.PolicyReloadFailed{Path: w.file, Revision: rev, Err: err.Error(), At: at}); perr != nil {
		w.logger.Error("notify: policy reload refused", "err", perr)
	}
}

func (w *policyWatch) record(ctx context.Context, state string, d reloadDetail) {
	body, err := json.Marshal(d)
	if err == nil {
		err = w.store.RecordEvent(ctx, audit.Event{Kind: audit.EventPolicyReload, At: w.now(), State: state, Detail: body})
	}
	if err != nil {
		w.logger.Error("audit: policy reload event", "state", state, "err", err)
	}
}
