//go:build race

package consensus_test

// raceEnabled skips the year of backtests under the race detector (ten
// times slower); the concurrent members are raced by the other tests.
const raceEnabled = true
