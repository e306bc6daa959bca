package agent_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/warden-trading/warden/agent/audit"
)

// TestFailedCycleRecordsNoEquity: a cycle that failed before it read the
// account (the market feed could not be advanced, an exchange banned the
// IP) records its equity as unknown (null), and prints "not read": a 0
// would read as the account having lost everything on every skipped cycle
// (audit export --runs, dashboards). A cycle that read it records it.
func TestFailedCycleRecordsNoEquity(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil, "")
	ok := h.step()
	h.out.Reset()
	failed, err := h.agent.Failed(ctx, "market", errors.New("exchange banned the IP"))
	if err == nil {
		t.Fatal("Failed returned no error")
	}
	if !strings.Contains(h.out.String(), "equity not read") {
		t.Errorf("the failed cycle's printout:\n%s\nwant 'equity not read'", h.out.String())
	}
	rows, err := h.store.ListRuns(ctx, audit.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, r := range rows {
		switch r.RunID {
		case failed.RunID:
			seen++
			if !strings.Contains(string(r.Summary), `"equity":null`) {
				t.Errorf("failed run's summary %s; want equity null", r.Summary)
			}
		case ok.RunID:
			seen++
			if strings.Contains(string(r.Summary), `"equity":null`) || !strings.Contains(string(r.Summary), `"equity":"1`) {
				t.Errorf("good run's summary %s; want its equity", r.Summary)
			}
		}
	}
	if seen != 2 {
		t.Fatalf("runs %+v; want both", rows)
	}
}
