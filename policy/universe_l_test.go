package policy

import "testing"

func TestNumberParam(t *testing.T) {
	p := mustDefault(t)
	for name, want := range map[string]string{"max_day_loss_pct": "3", "max_drawdown_pct": "10", "max_exposure_pct": "30", "min_buy_confidence": "0.55"} {
		got, ok := p.NumberParam(name)
		if !ok || got.String() != want {
			t.Errorf("NumberParam(%q) = %s, %v; want %s", name, got, ok, want)
		}
	}
	if _, ok := p.NumberParam("allowed_symbols"); ok {
		t.Error("NumberParam of a list: ok")
	}
	if _, ok := p.NumberParam("no_such_param"); ok {
		t.Error("NumberParam of a missing param: ok")
	}
	var nilp *Policy
	if _, ok := nilp.NumberParam("max_day_loss_pct"); ok {
		t.Error("NumberParam on a nil policy: ok")
	}
}
