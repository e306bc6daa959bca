package backtest

import (
	"github.com/warden-trading/warden/agent"
	"github.com/warden-trading/warden/agent/audit"
)

// BreakerStats is what the circuit breakers did over a run: trips per
// breaker, and how many cycles decided at each level (active, reduce,
// safe_mode), with their share of all cycles.
type BreakerStats struct {
	Cycles int `json:"cycles"`
	// Trips counts trips by breaker (a breaker tripping on two symbols in
	// one cycle counts twice); TripCycles the cycles in which it tripped.
	Trips      map[string]int `json:"trips"`
	TripCycles map[string]int `json:"trip_cycles"`
	// Levels counts the cycles decided at each level, after the cycle's
	// own trips; LevelShare is Levels over Cycles.
	Levels     map[string]int     `json:"levels"`
	LevelShare map[string]float64 `json:"level_share"`
}

func newBreakerStats() BreakerStats {
	s := BreakerStats{Trips: map[string]int{}, TripCycles: map[string]int{}, Levels: map[string]int{}, LevelShare: map[string]float64{}}
	for _, l := range []string{audit.LevelActive, audit.LevelReduce, audit.LevelSafeMode} {
		s.Levels[l] = 0
	}
	return s
}

// add counts one cycle.
func (s *BreakerStats) add(res agent.CycleResult) {
	s.Cycles++
	seen := map[string]bool{}
	for _, t := range res.Trips {
		s.Trips[t.Breaker]++
		if !seen[t.Breaker] {
			seen[t.Breaker] = true
			s.TripCycles[t.Breaker]++
		}
	}
	level := res.Level
	if level == "" {
		level = audit.LevelActive
	}
	s.Levels[level]++
	for l, n := range s.Levels {
		s.LevelShare[l] = float64(n) / float64(s.Cycles)
	}
}
