package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/warden-trading/warden/agent/audit"
)

// Recordings answers a replayed run with the raw response recorded by the
// run that decided at the same time, so replaying a recorded period
// reproduces its verdicts exactly. Run ids carry their decision time
// (prefix-20060102T150405Z[-suffix]); that time is the key. It satisfies
// the replay advisor's Source.
type Recordings struct {
	byTime map[string][]byte
}

// RecordingSource is what loading recordings needs of the audit store.
type RecordingSource interface {
	List(ctx context.Context, f audit.Filter) ([]audit.DecisionRow, error)
	Show(ctx context.Context, id string) (audit.Story, error)
}

// LoadRecordings reads the raw response of every run with a recorded
// decision at or after since.
func LoadRecordings(ctx context.Context, src RecordingSource, since time.Time) (*Recordings, error) {
	rows, err := src.List(ctx, audit.Filter{From: since})
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	r := &Recordings{byTime: map[string][]byte{}}
	seen := map[string]bool{}
	for _, row := range rows {
		if seen[row.RunID] {
			continue
		}
		seen[row.RunID] = true
		key, ok := runTimeKey(row.RunID)
		if !ok {
			return nil, fmt.Errorf("recordings: run id %q carries no decision time", row.RunID)
		}
		story, err := src.Show(ctx, row.RunID)
		if err != nil {
			return nil, fmt.Errorf("recordings: run %s: %w", row.RunID, err)
		}
		if len(story.Responses) == 0 {
			continue
		}
		if _, dup := r.byTime[key]; dup {
			return nil, fmt.Errorf("recordings: two recorded runs decided at %s; replay would be ambiguous", key)
		}
		r.byTime[key] = []byte(story.Responses[len(story.Responses)-1].Raw)
	}
	return r, nil
}

// Len is the number of recorded runs.
func (r *Recordings) Len() int { return len(r.byTime) }

// RecordedResponse returns the response recorded at the decision time of
// runID.
func (r *Recordings) RecordedResponse(_ context.Context, runID string) ([]byte, bool, error) {
	key, ok := runTimeKey(runID)
	if !ok {
		return nil, false, fmt.Errorf("run id %q carries no decision time", runID)
	}
	raw, ok := r.byTime[key]
	return raw, ok, nil
}

// runTimeKey extracts the decision time from a run id made by runID.
func runTimeKey(runID string) (string, bool) {
	parts := strings.Split(runID, "-")
	for _, p := range parts[1:] {
		if _, err := time.Parse("20060102T150405Z", p); err == nil {
			return p, true
		}
	}
	return "", false
}
