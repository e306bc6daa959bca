package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	reqOnce  sync.Map // *Metrics → its registered prometheus.Gauge
	reqGauge = func() prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "warden_exchange_requests_per_cycle",
			Help: "Exchange calls sent by the last cycle (ticker, candles, book, status, balances, orders, trades)."})
	}
)

// ObserveExchangeRequests sets warden_exchange_requests_per_cycle to the
// last cycle's count of exchange calls.
func (m *Metrics) ObserveExchangeRequests(n int64) {
	g, loaded := reqOnce.LoadOrStore(m, reqGauge())
	if !loaded {
		m.reg.MustRegister(g.(prometheus.Gauge))
	}
	g.(prometheus.Gauge).Set(float64(n))
}
