package backtest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-trading/warden/agent/config"
	"github.com/warden-trading/warden/agent/internal/browsertest"
)

// TestReportInBrowser renders report.html from short real backtests over
// the bundled candles in headless Chromium at 1400 px: nothing may scroll
// sideways and no chart label may be clipped or drawn over another. The
// screenshots go to $WARDEN_SCREENSHOTS when set.
func TestReportInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("renders backtests in a browser")
	}
	runs := []struct {
		name string
		cfg  Config
	}{
		// Two months of hourly decisions on both symbols: trades, breaker
		// trips, buy-and-hold down 15 % while the baseline stays flat.
		{"report-hourly-2022", Config{
			From: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2022, 3, 1, 0, 0, 0, 0, time.UTC),
			Symbols: []string{"BTC/USDT", "ETH/USDT"}, Timeframe: "1h",
		}},
		// A year and a half of daily decisions with a walk-forward: the
		// window table with its parameter columns, curves far apart.
		{"report-walkforward-2020", Config{
			From: time.Date(2019, 7, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC),
			Symbols: []string{"BTC/USDT"}, Timeframe: "1h", Every: 24 * time.Hour,
			WalkForward: &WalkForwardConfig{TrainMonths: 6, TestMonths: 3, MinTrades: 1}, Grid: DefaultGrid()[:4],
		}},
	}
	b := browsertest.New(t)
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			r.cfg.Settings = config.Default()
			res, err := Run(context.Background(), r.cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			dir := t.TempDir()
			if err := WriteReport(dir, res); err != nil {
				t.Fatal(err)
			}
			p := b.OpenFile(t, filepath.Join(dir, "report.html"), browsertest.DefaultWidth)
			p.Screenshot(r.name + "-1400")
			p.RequireNoHorizontalOverflow()
			labels := p.Labels()
			if n := p.RequireReadableLabels(); n < 3*8 {
				t.Errorf("%d chart labels displayed; want the three charts' ticks, titles and legends", n)
			}
			// The last date label of each chart lies inside it, and each
			// chart has at least three date ticks.
			dates := map[string]int{}
			for _, l := range labels {
				if len(l.Text) >= 4 && (l.Text[:2] == "20" || l.Text[:2] == "19") && !strings.Contains(l.Text, ",") {
					dates[l.SVG]++
				}
			}
			if len(dates) != 3 {
				t.Errorf("charts with date ticks: %v; want 3", dates)
			}
			for svg, n := range dates {
				if n < 3 {
					t.Errorf("chart %q has %d date ticks; want at least 3", svg, n)
				}
			}
			if r.cfg.WalkForward != nil {
				heads := browsertest.Eval[[]string](p, `[...document.querySelectorAll("h3 + p + table th, h3 + table th")].map(th => th.textContent)`)
				joined := strings.Join(heads, "|")
				if !strings.Contains(joined, "stop ×ATR") || strings.Contains(joined, "params") {
					t.Errorf("walk-forward table headers %q; want a column per varying parameter", heads)
				}
			}
		})
	}
}
