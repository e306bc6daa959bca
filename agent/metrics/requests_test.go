package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestExchangeRequestsGauge(t *testing.T) {
	m := New()
	m.ObserveExchangeRequests(15)
	m.ObserveExchangeRequests(13)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if !strings.Contains(string(body), "warden_exchange_requests_per_cycle 13") {
		t.Errorf("metrics lack warden_exchange_requests_per_cycle 13:\n%s", body)
	}
}
