package audit

import (
	"testing"

	"github.com/shopspring/decimal"
)

func TestPriceFor(t *testing.T) {
	prices := map[string]Price{
		"gpt-4o":      {InputPerMTok: decimal.NewFromInt(2)},
		"gpt-4o-mini": {InputPerMTok: decimal.NewFromInt(1)},
	}
	for model, want := range map[string]int64{
		"gpt-4o": 2, "gpt-4o-2024-08-06": 2, "gpt-4o-mini-2024-07-18": 1, "gpt-4o-mini": 1, "gpt-4-0613": -1, "o3": -1, "gpt-4o-2024": 2,
	} {
		p, ok := PriceFor(prices, model)
		if want < 0 {
			if ok {
				t.Errorf("%s priced %v; want unknown", model, p)
			}
			continue
		}
		if !ok || !p.InputPerMTok.Equal(decimal.NewFromInt(want)) {
			t.Errorf("%s = %v, %v; want %d", model, p, ok, want)
		}
	}
	if c := (Price{InputPerMTok: decimal.RequireFromString("2.5"), OutputPerMTok: decimal.NewFromInt(10)}).Cost(1_000_000, 100_000); !c.Equal(decimal.RequireFromString("3.5")) {
		t.Errorf("cost = %s; want 3.5", c)
	}
}
