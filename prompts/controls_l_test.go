package prompts

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/schemas"
)

// TestStatusDepthAndTrailingInWords: the exchange status, a market's
// status and book depth and the trailing stop appear in plain words when
// the data carry them (absolute and relative prompts); without them the
// prompt is as before.
func TestStatusDepthAndTrailingInWords(t *testing.T) {
	d := testData(t)
	before, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	dd := decimal.RequireFromString
	d.Exchange, d.Trailing = schemas.ExchangeMaintenance, "percent 3 below the last close"
	d.Markets = map[string]schemas.Market{}
	for sym := range d.Snapshots {
		d.Markets[sym] = schemas.Market{Status: "BREAK", PriceStep: dd("0.01"), AmountStep: dd("0.0001"),
			Book: &schemas.Book{Bids: []schemas.BookLevel{{Price: dd("100"), Qty: dd("2")}, {Price: dd("99.95"), Qty: dd("1")}, {Price: dd("90"), Qty: dd("9")}},
				Asks: []schemas.BookLevel{{Price: dd("100.02"), Qty: dd("1")}, {Price: dd("101"), Qty: dd("9")}}}}
	}
	r, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	rel, _, err := RenderUserRelative(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{r.User, rel} {
		for _, want := range []string{
			"Exchange: IN MAINTENANCE: no new order is accepted now",
			"- market status: BREAK (not trading: no new order in this market); order book within 10 bps of mid: bids 300, asks 100",
			"Trailing stop: each cycle the protective stops are raised to percent 3 below the last close (never lowered).",
		} {
			if !strings.Contains(u, want) {
				t.Errorf("prompt lacks %q:\n%s", want, u)
			}
		}
	}
	if strings.Contains(before.User, "Exchange:") || strings.Contains(before.User, "market status") || strings.Contains(before.User, "Trailing") {
		t.Errorf("a prompt without the data shows them:\n%s", before.User)
	}
	for status, want := range map[string]string{schemas.ExchangeUnknown: "status UNKNOWN", schemas.ExchangeNormal: "Exchange: normal operation."} {
		if got := exchangeLine(status, false); !strings.Contains(got, want) {
			t.Errorf("exchangeLine(%s) = %q", status, got)
		}
	}
	if got := exchangeLine(schemas.ExchangeNormal, true); !strings.Contains(got, "maintenance window is open") {
		t.Errorf("exchangeLine(normal, window) = %q", got)
	}
}
