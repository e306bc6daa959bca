package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-trading/warden/schemas"
)

// TestPendingBuysCountAgainstTheCaps: buys resting from earlier cycles
// count as if they fill, as this response's buys do. BTC not held, a buy
// of exactly 1 % (see roundState): with 1 % already resting the position
// reaches exactly the 2 % cap and passes; with one amount step more
// resting it is over and fails, naming the resting buy in the total.
func TestPendingBuysCountAgainstTheCaps(t *testing.T) {
	v := NewValidator(mustDefault(t), Limits{})
	for _, tc := range []struct {
		name          string
		qty, notional string // resting BTC buy; "" = none
		want          string
	}{
		{"nothing resting", "", "", ""},
		{"1% resting: exactly 2% passes", "0.0025", "100", ""},
		{"one step more resting: 2.004% fails", "0.00251", "100.4", "max_position"},
		{"a resting buy that filled nothing of 3%", "0.0075", "300", "max_position"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, rec := roundState(t)
			delete(st.Account.Positions, "BTC/USDT")
			if tc.qty != "" {
				st.Account.PendingBuys = map[string]schemas.PendingBuy{"BTC/USDT": {Qty: d(tc.qty), Notional: d(tc.notional)}}
			}
			rec.SizePct = d("1")
			vd := validateRec(t, v, st, rec)[0]
			if got := strings.Join(violationNames(vd), ","); got != tc.want {
				t.Fatalf("violations = %q; want %q (%+v)", got, tc.want, vd.Violations)
			}
		})
	}
}

// TestPendingBuysRoundTrip: a state file may carry pending_buys (optional);
// it reads back as written, the recorded state encodes it, and a negative
// quantity is refused.
func TestPendingBuysRoundTrip(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "schemas", "testdata", "state.example.json"))
	if err != nil {
		t.Fatal(err)
	}
	withPending := strings.Replace(string(raw), `"positions":`, `"pending_buys": {"BTC/USDT": {"qty": 0.0025, "notional": 100}}, "positions":`, 1)
	st, err := schemas.ParseState([]byte(withPending))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if p := st.Account.PendingBuys["BTC/USDT"]; !p.Qty.Equal(d("0.0025")) || !p.Notional.Equal(d("100")) {
		t.Fatalf("read back %+v", st.Account.PendingBuys)
	}
	b, err := st.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"pending_buys":{"BTC/USDT":{"qty":"0.0025","notional":"100"}}`) {
		t.Fatalf("recorded state lacks pending_buys: %s", b)
	}
	bad := strings.Replace(withPending, `"qty": 0.0025`, `"qty": -1`, 1)
	if _, err := schemas.ParseState([]byte(bad)); err == nil {
		t.Fatal("a negative pending quantity was accepted")
	}
}
