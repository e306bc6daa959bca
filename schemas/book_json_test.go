package schemas

import (
	"encoding/json"
	"testing"

	"github.com/shopspring/decimal"
)

// TestBookMarshalsAsItsFields: Book's own encoder writes what
// encoding/json writes from its fields, empty and missing sides included.
func TestBookMarshalsAsItsFields(t *testing.T) {
	type fields struct {
		Bids []BookLevel `json:"bids"`
		Asks []BookLevel `json:"asks"`
	}
	lv := func(p, q string) BookLevel {
		return BookLevel{Price: decimal.RequireFromString(p), Qty: decimal.RequireFromString(q)}
	}
	books := []Book{
		{},
		{Bids: []BookLevel{}, Asks: []BookLevel{}},
		{Bids: []BookLevel{lv("30855.89", "36.14743")}},
		{Bids: []BookLevel{lv("30855.89", "36.14743"), lv("30852.80", "0.00001")}, Asks: []BookLevel{lv("30862.07", "1e-8"), lv("30865.1600", "1000000")}},
	}
	for _, b := range books {
		got, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(fields(b))
		if string(got) != string(want) {
			t.Errorf("Book encodes as %s; its fields as %s", got, want)
		}
		var back Book
		if err := json.Unmarshal(got, &back); err != nil || len(back.Bids) != len(b.Bids) {
			t.Errorf("Book %s does not read back: %v", got, err)
		}
	}
}
