package schemas

import "testing"

func TestValidSymbol(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"BTC/USDT", true}, {"1INCH/USDT", true}, {"btc/usdt", false}, {"BTCUSDT", false},
		{"BTC/USDТ", false}, // Cyrillic Т
		{"B/USDT", false}, {"BTC/USDT/X", false}, {"BTC-USDT", false}, {"", false}, {" BTC/USDT", false},
	} {
		if got := ValidSymbol(tt.in); got != tt.want {
			t.Errorf("ValidSymbol(%q) = %v; want %v", tt.in, got, tt.want)
		}
	}
}
