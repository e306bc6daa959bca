package backtest

import "time"

// WalkForwardReport is the out-of-sample record of a walk-forward run.
type WalkForwardReport struct {
	TrainMonths int    `json:"train_months"`
	TestMonths  int    `json:"test_months"`
	Objective   string `json:"objective"`
	MinTrades   int    `json:"min_trades"`
	GridSize    int    `json:"grid_size"`
	// Windows are the test windows in time order.
	Windows []WalkForwardWindow `json:"windows"`
	// OutOfSample chains the test windows' curves (each window restarts
	// from the previous one's end equity), so it is the result of trading
	// only with parameters chosen on the past.
	OutOfSample        Metrics        `json:"out_of_sample"`
	OutOfSampleBuyHold Metrics        `json:"out_of_sample_buy_and_hold"`
	ByRegime           []RegimeResult `json:"by_regime"`
}

// WalkForwardWindow is one calibration and its test.
type WalkForwardWindow struct {
	TrainFrom time.Time `json:"train_from"`
	TrainTo   time.Time `json:"train_to"`
	TestFrom  time.Time `json:"test_from"`
	TestTo    time.Time `json:"test_to"`
	// Params are the baseline parameters chosen on the train window.
	Params any `json:"params"`
	// Calibrated is false when no parameter set reached MinTrades on the
	// train window and the defaults were kept.
	Calibrated  bool    `json:"calibrated"`
	TrainScore  float64 `json:"train_score"`
	TrainTrips  int     `json:"train_round_trips"`
	Regime      Regime  `json:"regime"`
	Trend       float64 `json:"trend"`
	TestReturn  float64 `json:"test_return"`
	TestBuyHold float64 `json:"test_buy_and_hold_return"`
	TestSharpe  float64 `json:"test_sharpe"`
	TestMaxDD   float64 `json:"test_max_drawdown"`
	TestTrips   int     `json:"test_round_trips"`
}
