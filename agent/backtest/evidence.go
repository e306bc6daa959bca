package backtest

import (
	"fmt"
	"time"
)

// Evidence says whether a backtest's result can count as evidence of an
// advisor's skill. A language model has likely seen the historical prices
// it is asked about if they predate its training cutoff, and can recall
// them instead of forecasting (Lopez-Lira, Tang & Zhu 2025, "The Memorization
// Problem: Can We Trust LLMs' Economic Forecasts?"; "Profit Mirage", 2025):
// such a backtest is not evidence.
type Evidence struct {
	// Evidence is false when the result must not be read as evidence.
	Evidence bool `json:"evidence"`
	// Warning explains why, for the report's banner; empty when Evidence.
	Warning string `json:"warning,omitempty"`
	// TrainingCutoff is the model's configured cutoff, if any.
	TrainingCutoff *time.Time `json:"training_cutoff,omitempty"`
}

// CheckEvidence decides the banner of a backtest of advisor (baseline,
// openai or replay) over data from..to. A model advisor with an unknown
// cutoff is not evidence either: nothing shows the data are out of sample.
func CheckEvidence(advisor, model string, cutoff *time.Time, from, to time.Time) Evidence {
	if advisor == "baseline" {
		return Evidence{Evidence: true}
	}
	name := advisor
	if model != "" {
		name = fmt.Sprintf("%s (%s)", advisor, model)
	}
	e := Evidence{TrainingCutoff: cutoff}
	switch {
	case cutoff == nil:
		e.Warning = fmt.Sprintf("NOT EVIDENCE: the training cutoff of the model behind %s is not configured (advisor.openai.training_cutoff). "+
			"A model may have memorised the prices of %s to %s; a backtest over data it may have seen says nothing about its skill.",
			name, from.Format("2006-01-02"), to.Format("2006-01-02"))
	case !to.After(*cutoff):
		e.Warning = fmt.Sprintf("NOT EVIDENCE: all data (%s to %s) predate the training cutoff of %s (%s). "+
			"Models memorise historical prices (Lopez-Lira et al. 2025; \"Profit Mirage\" 2025): this result shows recall, not skill.",
			from.Format("2006-01-02"), to.Format("2006-01-02"), name, cutoff.Format("2006-01-02"))
	case from.Before(*cutoff):
		e.Warning = fmt.Sprintf("NOT EVIDENCE before %s: the data start %s, before the training cutoff of %s. "+
			"Only the part after the cutoff is out of sample; rerun with --from %s for a result that can count.",
			cutoff.Format("2006-01-02"), from.Format("2006-01-02"), name, cutoff.Format("2006-01-02"))
	default:
		return Evidence{Evidence: true, TrainingCutoff: cutoff}
	}
	return e
}
