package review

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
	"github.com/warden-trading/warden/agent/internal/browsertest"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

// TestReviewPageInChromium renders the review page in headless Chromium
// at 1400 px: nothing scrolls sideways, even with a week of fills, long
// decision ids and a long breaker reason, and a screenshot is kept for a
// person to look at ($WARDEN_SCREENSHOTS).
func TestReviewPageInChromium(t *testing.T) {
	b := browsertest.New(t)
	r := sampleReview()
	// A busy week: 200 fills with long ids, a reason of 400 characters.
	d := decimal.RequireFromString
	for i := range 200 {
		side, role := schemas.SideBuy, "entry"
		if i%2 == 1 {
			side, role = schemas.SideSell, "stop"
		}
		r.Fills = append(r.Fills, audit.FillRecord{Trade: executor.Trade{ID: "t", Symbol: "ETH/USDT", Side: side, Price: d("1933.82"),
			Quantity: d("0.0771228"), Fee: d("0.00007713"), FeeCurrency: "ETH", Time: r.From.Add(time.Duration(i) * 40 * time.Minute)},
			DecisionID: "r-20240506T090000Z-aadf8f:" + strings.Repeat("1", i%12), Role: role, Intended: d("1933.5")})
	}
	r.Slippage = audit.SlippageOf(r.Fills)
	r.Trips = append(r.Trips, audit.BreakerTrip{At: r.From.Add(90 * time.Hour), Breaker: "volatility_shock", Symbol: "ETH/USDT", Level: "safe_mode",
		Reason: strings.Repeat("the close moved 5.1σ over 4 candles; ", 11)})
	// A consensus of many members, one with a long model name.
	for i := range 6 {
		rel := r.Reliability[0]
		rel.Model = fmt.Sprintf("ft:gpt-4o-2024-08-06:a-rather-long-organisation-name:warden-advisor-%d:AbCdEf12", i)
		rel.Advisors = []string{"consensus/" + strings.Repeat("member", 8), "consensus/probe#2"}
		rel.PromptTokens, rel.CompletionTokens = 123_456_789, 12_345_678
		r.Reliability = append(r.Reliability, rel)
	}
	html, err := Render(Page{Review: r, Database: "/var/lib/warden/a-rather-long-directory-name/for-archived-audit-logs/warden-2024-05.db"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "review.html")
	if err := os.WriteFile(path, html, 0o644); err != nil {
		t.Fatal(err)
	}
	p := b.OpenFile(t, path, browsertest.DefaultWidth)
	p.RequireNoHorizontalOverflow()
	p.Screenshot("review page")
}
