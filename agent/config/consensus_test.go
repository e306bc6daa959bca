package config

import (
	"strings"
	"testing"
)

func TestConsensusConfig(t *testing.T) {
	good := `advisor:
  kind: consensus
  openai: {model: gpt-x, base_url: "http://127.0.0.1:1/v1"}
  consensus:
    samples: 3
    require: majority
    size: median
    members:
      - {kind: baseline}
      - {kind: openai, name: fast, openai: {model: gpt-y}}
`
	c, err := Parse("good", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	cs := c.Advisor.Consensus
	if cs.Samples != 3 || cs.Require != "majority" || cs.Size != "median" || len(cs.Members) != 2 {
		t.Fatalf("consensus = %+v", cs)
	}
	if o := c.Advisor.MemberOpenAI(cs.Members[1]); o.Model != "gpt-y" || o.BaseURL != "http://127.0.0.1:1/v1" || o.Timeout != c.Advisor.OpenAI.Timeout {
		t.Fatalf("member settings not taken over advisor.openai: %+v", o)
	}
	if n := cs.Members[0].MemberName(); n != "baseline" {
		t.Fatalf("default member name = %q", n)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"advisor: {kind: consensus, consensus: {members: []}}", "at least one member"},
		{"advisor: {kind: consensus, consensus: {samples: 0, members: [{kind: baseline}]}}", "samples: 0 must be at least 1"},
		{"advisor: {kind: consensus, consensus: {samples: -2, members: [{kind: baseline}]}}", "samples: -2"},
		{"advisor: {kind: consensus, consensus: {members: [{kind: consensus}]}}", "cannot name itself"},
		{"advisor: {kind: consensus, consensus: {members: [{kind: baseline}, {kind: baseline}]}}", "used by another member"},
		{"advisor: {kind: consensus, consensus: {require: most, members: [{kind: baseline}]}}", "require"},
		{"advisor: {kind: consensus, consensus: {size: max, members: [{kind: baseline}]}}", "size"},
		{"advisor: {kind: consensus, consensus: {members: [{kind: openai}]}}", "members[0].openai.model"},
		{"advisor: {kind: consensus, consensus: {members: [{kind: openai, openai: {model: m, api_key_env: sk-abcdefghijklmnop}}]}}", "api_key_env is not the name"},
		{"advisor: {kind: consensus, consensus: {members: [{kind: replay}]}}", "replay.file"},
	} {
		_, err := Parse("bad", []byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v; want %q", tt.yaml, err, tt.want)
		}
	}
	// k = 1 is the smallest accepted.
	if _, err := Parse("k1", []byte("advisor: {kind: consensus, consensus: {samples: 1, members: [{kind: baseline}]}}")); err != nil {
		t.Fatalf("samples 1: %v", err)
	}
}

func TestPrices(t *testing.T) {
	c, err := Parse("p", []byte(`advisor:
  kind: consensus
  openai: {model: gpt-x, price: {input_per_mtok: 2.5, output_per_mtok: 10}}
  consensus:
    members:
      - {kind: openai, name: same}
      - {kind: openai, name: other, openai: {model: gpt-y, price: {input_per_mtok: 0.15, output_per_mtok: 0.6}}}
      - {kind: openai, name: unpriced, openai: {model: gpt-z}}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Advisor.Prices()
	if len(p) != 2 || p["gpt-x"].InputPerMTok.String() != "2.5" || p["gpt-y"].OutputPerMTok.String() != "0.6" {
		t.Fatalf("prices = %+v; want gpt-x and gpt-y, gpt-z unknown", p)
	}
	if _, ok := p["gpt-z"]; ok {
		t.Fatal("a model without a price must have no entry (unknown), not zero")
	}
	if _, err := Parse("neg", []byte("advisor: {kind: openai, openai: {model: m, price: {input_per_mtok: -1, output_per_mtok: 1}}}")); err == nil || !strings.Contains(err.Error(), "advisor.openai.price") {
		t.Fatalf("a negative price: %v", err)
	}
}

func TestAnonymiseDefaultAndPerturbedMember(t *testing.T) {
	c := Default()
	if !c.AnonymiseOn() {
		t.Fatal("the offline replay of bundled history must anonymise by default")
	}
	c.Paper.Data = "live"
	if c.AnonymiseOn() {
		t.Fatal("live data: anonymise is off unless asked")
	}
	on := true
	c.Advisor.Anonymise = &on
	if !c.AnonymiseOn() {
		t.Fatal("advisor.anonymise: true must hold")
	}
	p, err := Parse("p", []byte("advisor: {kind: consensus, anonymise: false, openai: {model: gpt-x}, consensus: {members: [{kind: openai}, {kind: perturbed}]}}"))
	if err != nil {
		t.Fatal(err)
	}
	if p.AnonymiseOn() || p.Advisor.Consensus.Members[1].MemberName() != "perturbed" {
		t.Fatalf("anonymise %v, probe name %q", p.AnonymiseOn(), p.Advisor.Consensus.Members[1].MemberName())
	}
	if _, err := Parse("bad", []byte("advisor: {kind: consensus, consensus: {members: [{kind: perturbed}]}}")); err == nil || !strings.Contains(err.Error(), "openai.model") {
		t.Fatalf("a perturbed member without a model: %v", err)
	}
}
