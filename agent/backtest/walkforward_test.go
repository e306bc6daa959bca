package backtest

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-trading/warden/executor"
)

func TestSpans(t *testing.T) {
	day := func(s string) time.Time { v, _ := time.Parse("2006-01-02", s); return v }
	tests := []struct {
		name            string
		from, to        string
		train, test     int
		wantN           int
		wantLastTestTo  string
		wantFirstTestAt string
	}{
		{"exact fit", "2020-01-01", "2021-01-01", 6, 3, 2, "2021-01-01", "2020-07-01"},
		{"partial last test kept (≥ half)", "2020-01-01", "2020-11-20", 6, 3, 2, "2020-11-20", "2020-07-01"},
		{"partial last test dropped (< half)", "2020-01-01", "2020-10-20", 6, 3, 1, "2020-10-01", "2020-07-01"},
		{"too short", "2020-01-01", "2020-06-01", 6, 3, 0, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := Spans(day(tc.from), day(tc.to), tc.train, tc.test)
			if len(sp) != tc.wantN {
				t.Fatalf("Spans(%s, %s, %d, %d) = %d windows %+v; want %d", tc.from, tc.to, tc.train, tc.test, len(sp), sp, tc.wantN)
			}
			if tc.wantN == 0 {
				return
			}
			if got := sp[len(sp)-1].TestTo; !got.Equal(day(tc.wantLastTestTo)) {
				t.Errorf("last TestTo = %s; want %s", got, tc.wantLastTestTo)
			}
			if got := sp[0].TestFrom; !got.Equal(day(tc.wantFirstTestAt)) || !sp[0].TrainTo.Equal(got) {
				t.Errorf("first test starts %s (train ends %s); want %s for both", got, sp[0].TrainTo, tc.wantFirstTestAt)
			}
			for i := 1; i < len(sp); i++ {
				if !sp[i].TestFrom.Equal(sp[i-1].TestTo) {
					t.Errorf("test windows %d and %d do not abut: %s vs %s", i-1, i, sp[i-1].TestTo, sp[i].TestFrom)
				}
			}
		})
	}
}

// fakeRunner returns daily curves: a train run of params p scores
// sharpe[p] with trips[p] round trips; a test run grows by growth[p] per
// day, against a benchmark that grows by bh per day.
type fakeRunner struct {
	sharpe []float64
	trips  []int
	growth []float64
	bh     float64
	fail   error

	mu    sync.Mutex
	tests []int // params used for each test run, in order
}

func (f *fakeRunner) run(ctx context.Context, from, to time.Time, params any) (Result, error) {
	if f.fail != nil {
		return Result{}, f.fail
	}
	p := params.(int)
	var c, b []Point
	for at, i := from, 0; at.Before(to); at, i = at.Add(24*time.Hour), i+1 {
		c = append(c, Point{Time: at, Equity: 1000 * math.Pow(1+f.growth[p], float64(i)), Invested: 1000})
		b = append(b, Point{Time: at, Equity: 1000 * math.Pow(1+f.bh, float64(i)), Invested: 1000})
	}
	res := Result{Curve: c, BuyHold: b}
	// Train runs are recognised by length (six months > three).
	if to.Sub(from) > 120*24*time.Hour {
		res.Summary.Advisor = Metrics{Sharpe: f.sharpe[p], RoundTrips: f.trips[p]}
	} else {
		f.mu.Lock()
		f.tests = append(f.tests, p)
		f.mu.Unlock()
		m, err := Analyze(Input{Curve: c, PeriodsPerYear: 365})
		if err != nil {
			return Result{}, err
		}
		res.Summary.Advisor = m
		res.Fills = []executor.Trade{}
	}
	return res, nil
}

func TestWalkForward(t *testing.T) {
	from := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	grid := []any{0, 1, 2, 3}
	tests := []struct {
		name           string
		sharpe         []float64
		trips          []int
		wantParams     int
		wantCalibrated bool
	}{
		{"best Sharpe with enough trades wins", []float64{0.5, 2.0, 3.0, 1.0}, []int{5, 5, 1, 5}, 1, true},
		{"ties keep the earlier grid entry", []float64{1.0, 1.0, 1.0, 1.0}, []int{5, 5, 5, 5}, 0, true},
		{"nothing trades enough: defaults (grid[0])", []float64{0.5, 2.0, 3.0, 1.0}, []int{0, 1, 2, 0}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{sharpe: tc.sharpe, trips: tc.trips, growth: []float64{0.001, 0.002, 0.003, 0.004}, bh: 0.001}
			var seen []int
			onWindow := func(i, n int, _ WalkForwardWindow) { seen = append(seen, i*10+n) }
			rep, err := WalkForward(context.Background(), from, to, WalkForwardConfig{Workers: 3, OnWindow: onWindow}, grid, 365, f.run)
			if err != nil {
				t.Fatalf("WalkForward: %v", err)
			}
			if len(rep.Windows) != 2 {
				t.Fatalf("WalkForward gave %d windows; want 2", len(rep.Windows))
			}
			if len(seen) != 2 || seen[0] != 12 || seen[1] != 22 {
				t.Errorf("OnWindow calls (i*10+n) = %v; want [12 22]", seen)
			}
			for i, w := range rep.Windows {
				if w.Params != tc.wantParams || w.Calibrated != tc.wantCalibrated {
					t.Errorf("window %d params %v calibrated %v; want %d %v", i, w.Params, w.Calibrated, tc.wantParams, tc.wantCalibrated)
				}
				if w.Regime != Bull {
					t.Errorf("window %d regime %s; want bull (benchmark rises without noise)", i, w.Regime)
				}
			}
			// The out-of-sample curve chains the two test windows: its
			// return is the product of theirs.
			want := (1+rep.Windows[0].TestReturn)*(1+rep.Windows[1].TestReturn) - 1
			if !near(rep.OutOfSample.TotalReturn, want) {
				t.Errorf("OutOfSample.TotalReturn = %v; want %v (chained test windows)", rep.OutOfSample.TotalReturn, want)
			}
			g := 0.001 + 0.001*float64(tc.wantParams)
			days := rep.Windows[0].TestTo.Sub(rep.Windows[0].TestFrom).Hours()/24 - 1
			if w0 := math.Pow(1+g, days) - 1; !near(rep.Windows[0].TestReturn, w0) {
				t.Errorf("first test return %v; want %v", rep.Windows[0].TestReturn, w0)
			}
			if rep.ByRegime[0].Regime != Bull || rep.ByRegime[0].Windows != 2 {
				t.Errorf("ByRegime = %+v; want two bull windows", rep.ByRegime)
			}
			if rep.GridSize != 4 || rep.TrainMonths != 6 || rep.TestMonths != 3 || rep.MinTrades != 3 {
				t.Errorf("report config %+v; want grid 4, 6+3 months, min trades 3", rep)
			}
		})
	}
}

func TestWalkForwardErrors(t *testing.T) {
	from := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &fakeRunner{fail: errors.New("boom")}
	if _, err := WalkForward(context.Background(), from, to, WalkForwardConfig{}, []any{0}, 365, f.run); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("WalkForward with a failing runner: error %v; want boom", err)
	}
	if _, err := WalkForward(context.Background(), from, to, WalkForwardConfig{}, nil, 365, f.run); err == nil {
		t.Errorf("WalkForward with an empty grid: no error")
	}
	if _, err := WalkForward(context.Background(), from, from.AddDate(0, 5, 0), WalkForwardConfig{}, []any{0}, 365, f.run); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("WalkForward over 5 months: error %v; want too short", err)
	}
}

func TestChain(t *testing.T) {
	a := []Point{{Time: t0, Equity: 100}, {Time: t0.Add(time.Hour), Equity: 110}}
	b := []Point{{Time: t0.Add(2 * time.Hour), Equity: 1000, Invested: 500}, {Time: t0.Add(3 * time.Hour), Equity: 1100, Invested: 550}}
	got := chain(a, b)
	if len(got) != 3 || !near(got[2].Equity, 121) || !near(got[1].Invested, 55) {
		t.Errorf("chain = %+v; want 100, 110 (invested 55), 121", got)
	}
}
