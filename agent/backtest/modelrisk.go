package backtest

import (
	"regexp"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/advisor/consensus"
)

// ModelStats is how the advisor's answers held up over the run (issue
// 16): how often it was asked, how often it gave no usable answer and
// why, and how often a consensus did not agree; and which prompt form it
// was given.
type ModelStats struct {
	// Prompt says how the model saw the data: "anonymised (...)", "as
	// rendered (...)", or "not read" for the rules baseline.
	Prompt string `json:"prompt"`
	// Asked is the cycles that reached the advisor.
	Asked int `json:"asked"`
	// AdvisorErrors are the cycles with no usable answer, by kind
	// (refusal, truncated, schema_invalid_after_repair, transport, ...).
	AdvisorErrors int            `json:"advisor_errors"`
	ErrorsByKind  map[string]int `json:"errors_by_kind"`
	// NoConsensusCycles are the cycles where a consensus held at least one
	// symbol for want of agreement; NoConsensusHolds the symbols so held.
	NoConsensusCycles int `json:"no_consensus_cycles"`
	NoConsensusHolds  int `json:"no_consensus_holds"`
	// NoConsensusRate is NoConsensusCycles over Asked, in percent.
	NoConsensusRate decimal.Decimal `json:"no_consensus_rate_pct"`
}

var advisorKindRe = regexp.MustCompile(`^advisor [^:]+: ([a-z_]+):`)

func (m *ModelStats) add(res agent.CycleResult) {
	switch res.Status {
	case "advisor_error":
		m.Asked++
		m.AdvisorErrors++
		kind := "error"
		if k := advisorKindRe.FindStringSubmatch(res.Reason); k != nil {
			kind = k[1]
		}
		if m.ErrorsByKind == nil {
			m.ErrorsByKind = map[string]int{}
		}
		m.ErrorsByKind[kind]++
	case agent.StatusSchemaError:
		m.Asked++
		m.AdvisorErrors++
		if m.ErrorsByKind == nil {
			m.ErrorsByKind = map[string]int{}
		}
		m.ErrorsByKind["schema_invalid"]++
	case "ok":
		m.Asked++
		if res.Response == nil {
			return // no answer, or one the schema refused
		}
		n := 0
		for _, r := range res.Response.Recommendations {
			if consensus.IsNoConsensus(r) {
				n++
			}
		}
		if n > 0 {
			m.NoConsensusCycles++
			m.NoConsensusHolds += n
		}
	}
}

func (m *ModelStats) finish(prompt string) {
	m.Prompt = prompt
	m.NoConsensusRate = decimal.Zero
	if m.Asked > 0 {
		m.NoConsensusRate = decimal.NewFromInt(int64(m.NoConsensusCycles * 100)).Div(decimal.NewFromInt(int64(m.Asked))).Round(2)
	}
}
