package consensus

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/advisor"
	"github.com/warden-trading/warden/schemas"
)

// fixed answers with raw, or fails with err.
type fixed struct {
	name string
	raw  string
	err  error
}

func (f fixed) Name() string { return f.name }
func (f fixed) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	return advisor.Reply{Raw: []byte(f.raw), Advisor: f.name, Model: "m-" + f.name}, f.err
}

func answer(action, size, stop string) string {
	limit, sl := "null", "null"
	if action != "hold" {
		limit = "100"
	}
	if stop != "" {
		sl = stop
	}
	return fmt.Sprintf(`{"rationale":"r","recommendations":[{"symbol":"BTC/USDT","action":%q,"confidence":0.7,"size_pct":%s,"order_type":"limit","limit_price":%s,"stop_loss":%s,"take_profit":null,"reason":"why %s"}]}`, action, size, limit, sl, action)
}

func run(t *testing.T, require, size string, samples int, ms ...advisor.Advisor) (schemas.Response, advisor.Reply, error) {
	t.Helper()
	var members []Member
	for i, m := range ms {
		members = append(members, Member{Name: fmt.Sprintf("m%d", i+1), Advisor: m})
	}
	c, err := New(Config{Members: members, Samples: samples, Require: require, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Advise(context.Background(), advisor.Request{RunID: "r1"})
	if err != nil {
		return schemas.Response{}, rep, err
	}
	resp, perr := schemas.ParseResponse(rep.Raw)
	if perr != nil {
		t.Fatalf("combined answer is not schema-valid: %v\n%s", perr, rep.Raw)
	}
	return resp, rep, nil
}

func TestAgreeMinSizeMostProtectiveStop(t *testing.T) {
	resp, rep, err := run(t, "all", "min", 1,
		fixed{name: "a", raw: answer("buy", "5", "95")},
		fixed{name: "b", raw: answer("buy", "3", "97")},
		fixed{name: "c", raw: answer("buy", "4", "")})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Recommendations[0]
	if r.Action != schemas.ActionBuy || !r.SizePct.Equal(decimal.NewFromInt(3)) || r.StopLoss == nil || r.StopLoss.String() != "97" {
		t.Fatalf("got %+v; want buy 3%% stop 97", r)
	}
	if len(rep.Calls) != 3 || rep.Calls[2].Attempt != 3 || rep.Calls[1].Advisor != "consensus/m2" || string(rep.Calls[0].ResponseBody) != answer("buy", "5", "95") {
		t.Fatalf("calls not one per member, numbered and tagged: %+v", rep.Calls)
	}
}

func TestMedianSize(t *testing.T) {
	resp, _, err := run(t, "all", "median", 1,
		fixed{name: "a", raw: answer("buy", "5", "")},
		fixed{name: "b", raw: answer("buy", "2", "")},
		fixed{name: "c", raw: answer("buy", "4", "")},
		fixed{name: "d", raw: answer("buy", "1", "")})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Recommendations[0].SizePct; got.String() != "3" {
		t.Fatalf("median of 1,2,4,5 = %s; want 3", got)
	}
	resp, _, _ = run(t, "all", "median", 1,
		fixed{name: "a", raw: answer("buy", "5", "")},
		fixed{name: "b", raw: answer("buy", "2.5", "")},
		fixed{name: "c", raw: answer("buy", "1", "")})
	if got := resp.Recommendations[0].SizePct; got.String() != "2.5" {
		t.Fatalf("median of 1,2.5,5 = %s; want 2.5", got)
	}
}

func TestDisagreementHolds(t *testing.T) {
	resp, _, err := run(t, "all", "min", 1,
		fixed{name: "a", raw: answer("buy", "5", "")},
		fixed{name: "b", raw: answer("sell", "5", "")})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Recommendations[0]
	if !IsNoConsensus(r) || !r.SizePct.IsZero() || !strings.Contains(r.Reason, "m1 buy 5%") || !strings.Contains(r.Reason, "m2 sell 5%") {
		t.Fatalf("got %+v; want a no-consensus hold naming both answers", r)
	}
}

func TestFailureCountsAsDisagreementUnlessMajorityHolds(t *testing.T) {
	fail := fixed{name: "x", err: &advisor.Error{Kind: advisor.KindTransport, Advisor: "openai", Msg: "down"}}
	bad := fixed{name: "y", raw: `{"rationale":"r"}`} // not schema-valid
	for _, tt := range []struct {
		require string
		ms      []advisor.Advisor
		want    schemas.Action
		nc      bool
	}{
		{"all", []advisor.Advisor{fixed{name: "a", raw: answer("buy", "2", "")}, fixed{name: "b", raw: answer("buy", "2", "")}, fail}, schemas.ActionHold, true},
		{"majority", []advisor.Advisor{fixed{name: "a", raw: answer("buy", "2", "")}, fixed{name: "b", raw: answer("buy", "2", "")}, fail}, schemas.ActionBuy, false},
		// At the limit: 2 of 4 is not more than half.
		{"majority", []advisor.Advisor{fixed{name: "a", raw: answer("buy", "2", "")}, fixed{name: "b", raw: answer("buy", "2", "")}, fail, bad}, schemas.ActionHold, true},
		// One step beyond: 3 of 4.
		{"majority", []advisor.Advisor{fixed{name: "a", raw: answer("buy", "2", "")}, fixed{name: "b", raw: answer("buy", "2", "")}, fixed{name: "c", raw: answer("buy", "2", "")}, bad}, schemas.ActionBuy, false},
	} {
		resp, rep, err := run(t, tt.require, "min", 1, tt.ms...)
		if err != nil {
			t.Fatal(err)
		}
		r := resp.Recommendations[0]
		if r.Action != tt.want || IsNoConsensus(r) != tt.nc {
			t.Errorf("%s with %d members: got %s (%s); want %s", tt.require, len(tt.ms), r.Action, r.Reason, tt.want)
		}
		if tt.nc && !strings.Contains(r.Reason, "failed (") {
			t.Errorf("the failed member is not named: %s", r.Reason)
		}
		last := rep.Calls[len(rep.Calls)-1]
		if last.Err == "" {
			t.Errorf("the failed member's call carries no error: %+v", last)
		}
	}
}

func TestSamplesAskEachMemberKTimes(t *testing.T) {
	n := 0
	counting := advisorFunc(func() (string, error) {
		n++
		if n == 2 {
			return answer("sell", "1", ""), nil
		}
		return answer("buy", "1", ""), nil
	})
	resp, rep, err := run(t, "all", "min", 3, counting)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Calls) != 3 || rep.Calls[2].Advisor != "consensus/m1#3" {
		t.Fatalf("want 3 samples, got calls %+v", rep.Calls)
	}
	if !IsNoConsensus(resp.Recommendations[0]) {
		t.Fatalf("one flipped sample of three must break require all: %+v", resp.Recommendations[0])
	}
}

type advisorFunc func() (string, error)

func (f advisorFunc) Name() string { return "func" }
func (f advisorFunc) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	mu.Lock()
	defer mu.Unlock()
	raw, err := f()
	return advisor.Reply{Raw: []byte(raw)}, err
}

func TestEveryMemberFailingIsAnAdvisorError(t *testing.T) {
	fail := fixed{name: "x", err: &advisor.Error{Kind: advisor.KindRefusal, Advisor: "openai", Msg: "no"}}
	_, rep, err := run(t, "majority", "min", 1, fail, fail)
	if advisor.KindOf(err) != advisor.KindRefusal || !strings.Contains(err.Error(), "every member failed") {
		t.Fatalf("err = %v; want a refusal naming every member", err)
	}
	if len(rep.Calls) != 2 {
		t.Fatalf("failed members' calls must still be returned for the audit: %+v", rep.Calls)
	}
}

func TestConfigErrors(t *testing.T) {
	ok := fixed{name: "a", raw: answer("hold", "0", "")}
	self, _ := New(Config{Members: []Member{{Name: "a", Advisor: ok}}, Samples: 1})
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{Samples: 1}, "no members"},
		{Config{Members: []Member{{Name: "a", Advisor: ok}}, Samples: 0}, "samples 0"},
		{Config{Members: []Member{{Name: "a", Advisor: ok}}, Samples: -1}, "samples -1"},
		{Config{Members: []Member{{Name: "c", Advisor: self}}, Samples: 1}, "cannot name itself"},
		{Config{Members: []Member{{Name: "a", Advisor: ok}, {Name: "a", Advisor: ok}}, Samples: 1}, "twice"},
		{Config{Members: []Member{{Name: "a", Advisor: ok}}, Samples: 1, Require: "most"}, "require"},
		{Config{Members: []Member{{Name: "a", Advisor: ok}}, Samples: 1, Size: "max"}, "size"},
	} {
		_, err := New(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v; want an error mentioning %q", tt.cfg, err, tt.want)
		}
	}
	if _, err := New(Config{Members: []Member{{Name: "a", Advisor: ok}}, Samples: 1}); err != nil {
		t.Fatalf("k = 1 must be accepted: %v", err)
	}
}

var mu sync.Mutex
