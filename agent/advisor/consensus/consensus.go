// Package consensus is the advisor that asks several advisors (two
// models, or one model sampled k times) and passes a recommendation on
// only where they agree. An LLM's trade call is a sample, not a fact: an
// order the members do not agree on is not placed.
//
// Per symbol the members must agree on the action (buy, sell or hold).
// With require "all" every answer must name the same action; with
// "majority" more than half of all answers (failed ones included) must.
// The agreed size is the minimum or the median of the agreeing sizes, the
// stop the most protective, the limit and take-profit the most
// conservative, the confidence the lowest. Disagreement is a hold with the
// reason "no consensus: ..." naming every member's answer. A member that
// fails (an advisor error, or an answer that is not schema-valid) counts
// as disagreeing: under "all" it ends the consensus, under "majority" the
// others may still carry it. When every member fails the consensus
// advisor fails too: there is nothing to agree on.
//
// Every member's HTTP calls are returned in Reply.Calls (renumbered,
// tagged with the member), so the agent audits each of them as it audits a
// single model; members that make no call (baseline, replay) get one
// synthetic call carrying their answer.
package consensus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/schemas"
)

// Name is the advisor kind.
const Name = "consensus"

// NoConsensus starts the reason of a hold that the members did not agree on.
const NoConsensus = "no consensus"

// Require values.
const (
	RequireAll      = "all"
	RequireMajority = "majority"
)

// Size values.
const (
	SizeMin    = "min"
	SizeMedian = "median"
)

// Member is one advisor taking part.
type Member struct {
	// Name identifies the member in reasons and the audit; unique.
	Name    string
	Advisor advisor.Advisor
	// Model is the member's model name, for the audit ("" when none).
	Model string
}

// Config is a consensus.
type Config struct {
	Members []Member
	// Samples is how many times each member is asked (k ≥ 1).
	Samples int
	// Require is "all" or "majority".
	Require string
	// Size is "min" or "median".
	Size string
}

// Advisor is the consensus advisor.
type Advisor struct {
	cfg Config
}

var _ advisor.Advisor = (*Advisor)(nil)

// New checks cfg: at least one member, none of them a consensus (it would
// name itself), unique names, k ≥ 1, and known require and size.
func New(cfg Config) (*Advisor, error) {
	if len(cfg.Members) == 0 {
		return nil, errors.New("consensus: no members")
	}
	if cfg.Samples < 1 {
		return nil, fmt.Errorf("consensus: samples %d: must be at least 1", cfg.Samples)
	}
	if cfg.Require == "" {
		cfg.Require = RequireAll
	}
	if cfg.Require != RequireAll && cfg.Require != RequireMajority {
		return nil, fmt.Errorf("consensus: require %q is not all or majority", cfg.Require)
	}
	if cfg.Size == "" {
		cfg.Size = SizeMin
	}
	if cfg.Size != SizeMin && cfg.Size != SizeMedian {
		return nil, fmt.Errorf("consensus: size %q is not min or median", cfg.Size)
	}
	seen := map[string]bool{}
	for i, m := range cfg.Members {
		if m.Advisor == nil {
			return nil, fmt.Errorf("consensus: member %d has no advisor", i+1)
		}
		if m.Advisor.Name() == Name {
			return nil, fmt.Errorf("consensus: member %d is itself a consensus (a consensus cannot name itself)", i+1)
		}
		if m.Name == "" {
			return nil, fmt.Errorf("consensus: member %d has no name", i+1)
		}
		if seen[m.Name] {
			return nil, fmt.Errorf("consensus: member name %q used twice", m.Name)
		}
		seen[m.Name] = true
	}
	return &Advisor{cfg: cfg}, nil
}

// Name is "consensus".
func (a *Advisor) Name() string { return Name }

// Model lists the members' models, for the run record.
func (a *Advisor) Model() string {
	var ms []string
	for _, m := range a.cfg.Members {
		model := m.Model
		if model == "" {
			if mm, ok := m.Advisor.(interface{ Model() string }); ok {
				model = mm.Model()
			}
		}
		if model == "" {
			model = m.Advisor.Name()
		}
		ms = append(ms, m.Name+"="+model)
	}
	return strings.Join(ms, ",")
}

// UsesPrompt is true: the members may read it, and their calls record it.
func (a *Advisor) UsesPrompt() bool { return true }

// Vote is one member's answer to one sample.
type Vote struct {
	Member string `json:"member"`
	Sample int    `json:"sample"` // 1-based
	// Resp is the parsed answer; nil when the member failed.
	Resp  *schemas.Response `json:"-"`
	Raw   []byte            `json:"-"`
	Err   error             `json:"-"`
	reply advisor.Reply
}

// Label is "member" or "member#k" with more than one sample.
func (v Vote) label(samples int) string {
	if samples > 1 {
		return fmt.Sprintf("%s#%d", v.Member, v.Sample)
	}
	return v.Member
}

// Advise asks every member Samples times, concurrently, and combines the
// answers. Reply.Raw is a schema-valid response.
func (a *Advisor) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	votes := a.ask(ctx, req)
	reply := advisor.Reply{Advisor: Name, Model: a.Model()}
	reply.Calls = a.calls(req, votes)
	for _, v := range votes {
		reply.Repairs += v.reply.Repairs
	}
	ok := 0
	for _, v := range votes {
		if v.Resp != nil {
			ok++
		}
	}
	if ok == 0 {
		// Nothing to agree on: an advisor failure, as for one model.
		var kind advisor.Kind = advisor.KindBadResponse
		var msgs []string
		for _, v := range votes {
			if k := advisor.KindOf(v.Err); k != "" && kind == advisor.KindBadResponse {
				kind = k
			}
			msgs = append(msgs, v.label(a.cfg.Samples)+": "+errText(v.Err))
		}
		return reply, &advisor.Error{Kind: kind, Advisor: Name, Msg: "every member failed: " + strings.Join(msgs, "; ")}
	}
	resp := Combine(a.cfg, req.State.Markets, votes)
	var seen []string
	for _, v := range votes {
		if v.reply.Transform != "" {
			// The perturbation each member saw, for the audit.
			seen = append(seen, v.label(a.cfg.Samples)+" saw "+v.reply.Transform)
		}
	}
	if len(seen) > 0 {
		resp.Rationale = clip(resp.Rationale+"\n"+strings.Join(seen, "\n"), 8000)
	}
	raw, err := schemas.MarshalResponse(resp)
	if err != nil {
		return reply, &advisor.Error{Kind: advisor.KindBadResponse, Advisor: Name, Msg: "combined response", Err: err}
	}
	if _, perr := schemas.ParseResponse(raw); perr != nil {
		return reply, &advisor.Error{Kind: advisor.KindBadResponse, Advisor: Name, Msg: "the combined response is not valid against the schema", Err: perr}
	}
	reply.Raw = raw
	return reply, nil
}

func (a *Advisor) ask(ctx context.Context, req advisor.Request) []Vote {
	n := len(a.cfg.Members) * a.cfg.Samples
	votes := make([]Vote, n)
	var wg sync.WaitGroup
	for i, m := range a.cfg.Members {
		for s := 0; s < a.cfg.Samples; s++ {
			idx := i*a.cfg.Samples + s
			votes[idx] = Vote{Member: m.Name, Sample: s + 1}
			wg.Add(1)
			go func(v *Vote, m Member) {
				defer wg.Done()
				defer func() {
					if r := recover(); r != nil {
						v.Err = fmt.Errorf("member %s panicked: %v", m.Name, r)
						v.Resp = nil
					}
				}()
				rep, err := m.Advisor.Advise(ctx, req)
				v.reply, v.Raw = rep, rep.Raw
				if err != nil {
					v.Err = err
					return
				}
				resp, perr := schemas.ParseResponse(rep.Raw)
				if perr != nil {
					// Not schema-valid: a failed member call, never a guess.
					v.Err = &advisor.Error{Kind: advisor.KindSchemaInvalid, Advisor: m.Advisor.Name(), Msg: "member answer is not schema-valid", Err: perr}
					return
				}
				v.Resp = &resp
			}(&votes[idx], m)
		}
	}
	wg.Wait()
	return votes
}

// calls renumbers every member's calls and tags them with the member; a
// member that made no HTTP call gets one synthetic call with its answer.
func (a *Advisor) calls(req advisor.Request, votes []Vote) []advisor.Call {
	var out []advisor.Call
	models := map[string]string{}
	for _, m := range a.cfg.Members {
		models[m.Name] = m.Model
	}
	for _, v := range votes {
		// The model the server named, else the one configured.
		model := v.reply.Model
		if model == "" {
			model = models[v.Member]
		}
		label := Name + "/" + v.label(a.cfg.Samples)
		if len(v.reply.Calls) == 0 {
			body, _ := json.Marshal(map[string]string{"system": req.Prompt.System, "user": req.Prompt.User})
			c := advisor.Call{Purpose: "member", Started: req.Now, RequestJSON: body, ResponseBody: v.Raw, Advisor: label, Model: model}
			if v.Err != nil {
				c.Err, c.Kind = v.Err.Error(), advisor.KindOf(v.Err)
			}
			out = append(out, c)
		} else {
			for i, c := range v.reply.Calls {
				c.Advisor, c.Model = label, model
				if i == len(v.reply.Calls)-1 && v.Err != nil && c.Err == "" {
					// The member's outcome, on its last call (e.g. still
					// schema-invalid after the repairs).
					c.Err = v.Err.Error()
				}
				out = append(out, c)
			}
		}
	}
	for i := range out {
		out[i].Attempt = i + 1
	}
	return out
}

// Combine merges the votes per symbol (in the order the symbols first
// appear). markets gives the side of the book a missing limit refers to;
// it is not needed for the combination itself.
func Combine(cfg Config, _ map[string]schemas.Market, votes []Vote) schemas.Response {
	if cfg.Samples < 1 {
		cfg.Samples = 1
	}
	var symbols []string
	seen := map[string]bool{}
	for _, v := range votes {
		if v.Resp == nil {
			continue
		}
		for _, r := range v.Resp.Recommendations {
			if !seen[r.Symbol] {
				seen[r.Symbol] = true
				symbols = append(symbols, r.Symbol)
			}
		}
	}
	var out schemas.Response
	var lines []string
	for _, sym := range symbols {
		rec, line := combineSymbol(cfg, sym, votes)
		out.Recommendations = append(out.Recommendations, rec)
		lines = append(lines, line)
	}
	names := make([]string, 0, len(cfg.Members))
	for _, m := range cfg.Members {
		names = append(names, m.Name)
	}
	head := fmt.Sprintf("Consensus of %d answers (%s × %d; require %s, size %s).", len(votes), strings.Join(names, ", "), cfg.Samples, cfg.Require, cfg.Size)
	out.Rationale = clip(head+"\n"+strings.Join(lines, "\n"), 8000)
	return out
}

func combineSymbol(cfg Config, sym string, votes []Vote) (schemas.Recommendation, string) {
	counts := map[schemas.Action]int{}
	recs := make([]*schemas.Recommendation, len(votes))
	var answers []string
	for i, v := range votes {
		label := v.label(cfg.Samples)
		if v.Resp == nil {
			answers = append(answers, label+" failed ("+string(failKind(v.Err))+")")
			continue
		}
		var r *schemas.Recommendation
		for j := range v.Resp.Recommendations {
			if v.Resp.Recommendations[j].Symbol == sym {
				r = &v.Resp.Recommendations[j]
				break
			}
		}
		if r == nil {
			answers = append(answers, label+" no answer")
			continue
		}
		recs[i] = r
		counts[r.Action]++
		a := label + " " + string(r.Action)
		if r.Action != schemas.ActionHold {
			a += " " + r.SizePct.String() + "%"
		}
		answers = append(answers, a)
	}
	n := len(votes)
	var agreed schemas.Action
	for _, act := range []schemas.Action{schemas.ActionBuy, schemas.ActionSell, schemas.ActionHold} {
		c := counts[act]
		if (cfg.Require == RequireAll && c == n) || (cfg.Require == RequireMajority && 2*c > n) {
			agreed = act
		}
	}
	summary := strings.Join(answers, ", ")
	if agreed == "" {
		reason := clip(NoConsensus+": "+summary, 1000)
		return schemas.Recommendation{
			Symbol: sym, Action: schemas.ActionHold, Confidence: decimal.Zero, SizePct: decimal.Zero,
			OrderType: schemas.OrderMarket, Reason: reason,
		}, sym + ": " + reason
	}
	var agree []schemas.Recommendation
	for _, r := range recs {
		if r != nil && r.Action == agreed {
			agree = append(agree, *r)
		}
	}
	rec := merge(cfg, agreed, agree)
	return rec, fmt.Sprintf("%s: %s by %d of %d (%s)", sym, agreed, len(agree), n, summary)
}

// merge combines agreeing recommendations: the lowest confidence, the
// minimum or median size, the most protective stop, and the most
// conservative limit and take-profit (for a buy the lowest limit and the
// nearest, lowest, take-profit; for a sell the highest of each). A limit
// order wins over a market order: the price is then bounded.
func merge(cfg Config, act schemas.Action, rs []schemas.Recommendation) schemas.Recommendation {
	first := rs[0]
	out := schemas.Recommendation{Symbol: first.Symbol, Action: act, Confidence: first.Confidence, OrderType: schemas.OrderMarket}
	sizes := make([]decimal.Decimal, 0, len(rs))
	var reasons []string
	buy := act == schemas.ActionBuy
	pick := func(cur *decimal.Decimal, v *decimal.Decimal, preferHigh bool) *decimal.Decimal {
		if v == nil {
			return cur
		}
		if cur == nil || (preferHigh && v.GreaterThan(*cur)) || (!preferHigh && v.LessThan(*cur)) {
			x := *v
			return &x
		}
		return cur
	}
	for _, r := range rs {
		out.Confidence = decimal.Min(out.Confidence, r.Confidence)
		sizes = append(sizes, r.SizePct)
		if r.OrderType == schemas.OrderLimit {
			out.OrderType = schemas.OrderLimit
			out.LimitPrice = pick(out.LimitPrice, r.LimitPrice, !buy)
		}
		// A long's stop sits below the price: the highest is the most
		// protective. A sell's stop (a short's) sits above: the lowest.
		out.StopLoss = pick(out.StopLoss, r.StopLoss, buy)
		out.TakeProfit = pick(out.TakeProfit, r.TakeProfit, !buy)
		if !contains(reasons, r.Reason) {
			reasons = append(reasons, r.Reason)
		}
	}
	if out.OrderType == schemas.OrderLimit && out.LimitPrice == nil {
		out.OrderType = schemas.OrderMarket
	}
	if act == schemas.ActionHold {
		out.SizePct = decimal.Zero
		out.LimitPrice, out.StopLoss, out.TakeProfit = nil, nil, nil
		if first.OrderType == schemas.OrderLimit {
			out.OrderType = schemas.OrderLimit
		}
	} else {
		out.SizePct = combineSize(cfg.Size, sizes)
	}
	out.Reason = clip("consensus: "+strings.Join(reasons, " | "), 1000)
	return out
}

func combineSize(how string, sizes []decimal.Decimal) decimal.Decimal {
	s := append([]decimal.Decimal(nil), sizes...)
	sort.Slice(s, func(i, j int) bool { return s[i].LessThan(s[j]) })
	if how == SizeMedian {
		n := len(s)
		if n%2 == 1 {
			return s[n/2]
		}
		// The mean of the two middle sizes, exact in decimal. Sizes are
		// bounded by the schema's 0..100 and stay so.
		return s[n/2-1].Add(s[n/2]).Div(decimal.NewFromInt(2))
	}
	return s[0]
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func failKind(err error) advisor.Kind {
	if k := advisor.KindOf(err); k != "" {
		return k
	}
	return "error"
}

func errText(err error) string {
	if err == nil {
		return "no answer"
	}
	return err.Error()
}

// clip cuts s to at most n characters (runes), marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// IsNoConsensus reports whether a recommendation's reason marks a hold the
// members did not agree on.
func IsNoConsensus(r schemas.Recommendation) bool {
	return r.Action == schemas.ActionHold && strings.HasPrefix(r.Reason, NoConsensus+":")
}
