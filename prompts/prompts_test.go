package prompts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/market"
	"github.com/warden-trading/warden/executor"
	"github.com/warden-trading/warden/schemas"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var dec = decimal.RequireFromString

func snapshot(t testing.TB, sym string, now time.Time) market.Snapshot {
	t.Helper()
	r, err := market.BundledReplay(sym, "1h")
	if err != nil {
		t.Fatal(err)
	}
	last, _ := r.Last(now)
	p := decimal.NewFromFloat(last.Close)
	tk := executor.Ticker{Symbol: sym, Bid: p, Ask: p.Add(dec("0.01")), Last: p, QuoteVolume24h: dec("123456789.5"), Time: now}
	s, err := market.Build(sym, "1h", r.Closed(now), tk, now, market.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testData(t testing.TB) Data {
	now := time.Date(2021, 6, 1, 12, 0, 0, 0, time.UTC)
	return Data{
		Now:  now,
		Mode: "paper",
		Account: schemas.Account{
			Quote: "USDT", Equity: dec("10000"), Cash: dec("9200.5"), PeakEquity: dec("10400"), DayStartEquity: dec("10100"),
			Positions: map[string]schemas.Position{"ETH/USDT": {Qty: dec("0.35"), AvgPrice: dec("2300")}},
		},
		Markets: map[string]schemas.Market{
			"BTC/USDT": {PriceStep: dec("0.01"), AmountStep: dec("0.00001"), MinAmount: dec("0.00001"), MinNotional: dec("5")},
		},
		Snapshots: map[string]market.Snapshot{
			"BTC/USDT": snapshot(t, "BTC/USDT", now),
			"ETH/USDT": snapshot(t, "ETH/USDT", now),
		},
		Policy: []string{
			"Only trade these symbols - [BTC/USDT ETH/USDT].",
			"Use limit orders only; market orders are refused.",
		},
	}
}

func TestRenderGolden(t *testing.T) {
	r, err := Render(testData(t))
	if err != nil {
		t.Fatal(err)
	}
	// The schema belongs to package schemas; the golden file holds a
	// placeholder so a schema change does not break this test.
	schema := strings.TrimSpace(string(schemas.ResponseSchema()))
	system := strings.Replace(r.System, schema, "<schemas.ResponseSchema()>", 1)
	for name, got := range map[string]string{"system.golden": system, "user.golden": r.User} {
		path := "testdata/" + name
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./prompts -update once)", err)
		}
		if got != string(want) {
			t.Errorf("Render(...) %s differs from %s:\n%s", strings.TrimSuffix(name, ".golden"), path, got)
		}
	}
}

func TestRenderContent(t *testing.T) {
	d := testData(t)
	r, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	// Static first: the system prompt holds the rules, the policy and the
	// schema, and nothing of the run.
	for _, want := range append([]string{strings.TrimSpace(string(schemas.ResponseSchema())), "Spot and long only"}, d.Policy...) {
		if !strings.Contains(r.System, want) {
			t.Errorf("Render(...).System lacks %q", want)
		}
	}
	for _, runData := range []string{"2021-06-01", "9200.5", "BTC/USDT ("} {
		if strings.Contains(r.System, runData) {
			t.Errorf("Render(...).System contains run data %q; the system prompt must be static", runData)
		}
	}
	btc := d.Snapshots["BTC/USDT"]
	last, _ := btc.Last()
	for _, want := range []string{
		"Decision time: 2021-06-01T12:00:00Z (mode: paper)",
		"equity 10000, cash 9200.5",
		"- ETH/USDT: qty 0.35 at average price 2300, value",
		"Market BTC/USDT (1h candles; last closed candle opened 2021-06-01T11:00:00Z)",
		"price step 0.01, amount step 0.00001",
		candleRow(last),
		"Answer with the JSON object for: BTC/USDT, ETH/USDT.",
	} {
		if !strings.Contains(r.User, want) {
			t.Errorf("Render(...).User lacks %q:\n%s", want, r.User)
		}
	}
	if n := strings.Count(r.User, " | "); n != 2*(DefaultCandleRows+1)*5 {
		t.Errorf("Render(...).User has %d table separators; want %d (two symbols × %d rows + header)", n, 2*(DefaultCandleRows+1)*5, DefaultCandleRows)
	}
	if strings.Index(r.User, "Market BTC/USDT") > strings.Index(r.User, "Market ETH/USDT") {
		t.Errorf("markets not in sorted order")
	}
	d.SafeMode = true
	d.CandleRows = 3
	r2, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r2.User, "SAFE MODE") || strings.Count(r2.User, " | ") != 2*4*5 || r2.System != r.System {
		t.Errorf("Render(safe mode, 3 rows): safe=%v rows=%d sameSystem=%v", strings.Contains(r2.User, "SAFE MODE"), strings.Count(r2.User, " | ")/5, r2.System == r.System)
	}
}

func TestRenderDeterministic(t *testing.T) {
	d := testData(t)
	first, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		// Rebuild the maps so their iteration order changes.
		d2 := d
		d2.Snapshots = map[string]market.Snapshot{}
		for _, k := range []string{"ETH/USDT", "BTC/USDT"} {
			d2.Snapshots[k] = d.Snapshots[k]
		}
		d2.Account.Positions = map[string]schemas.Position{"ETH/USDT": d.Account.Positions["ETH/USDT"], "BTC/USDT": {Qty: dec("0.001"), AvgPrice: dec("30000")}}
		delete(d2.Account.Positions, "BTC/USDT")
		got, err := Render(d2)
		if err != nil {
			t.Fatal(err)
		}
		if got != first {
			t.Fatalf("Render is not deterministic (iteration %d)", i)
		}
	}
}

func TestHashes(t *testing.T) {
	r, err := Render(testData(t))
	if err != nil {
		t.Fatal(err)
	}
	for file, got := range map[string]string{"templates/system.tmpl": r.SystemHash, "templates/user.tmpl": r.UserHash} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if want := hex.EncodeToString(sum[:])[:12]; got != want {
			t.Errorf("hash of %s = %s; want %s", file, got, want)
		}
	}
	if r.Version != Version || r.SystemHash == r.UserHash {
		t.Errorf("Rendered version/hashes = %q %q %q", r.Version, r.SystemHash, r.UserHash)
	}
	s, u, err := TemplateHashes()
	if err != nil || s != r.SystemHash || u != r.UserHash {
		t.Errorf("TemplateHashes() = %s, %s, %v; want %s, %s", s, u, err, r.SystemHash, r.UserHash)
	}
}

// TestNoSecretReachesPrompt: Data has no field that could carry a
// credential, and a canary planted in the environment (where keys live)
// never shows up in a rendered prompt.
func TestNoSecretReachesPrompt(t *testing.T) {
	const canary = "sk-CANARY-7f3a9c1e-do-not-leak"
	for _, env := range []string{"OPENAI_API_KEY", "WARDEN_OPENAI_API_KEY", "BINANCE_API_SECRET"} {
		t.Setenv(env, canary)
	}
	secretish := regexp.MustCompile(`(?i)key|secret|token|password|credential|auth`)
	var walk func(reflect.Type, string)
	seen := map[reflect.Type]bool{}
	walk = func(tp reflect.Type, path string) {
		for tp.Kind() == reflect.Map || tp.Kind() == reflect.Slice || tp.Kind() == reflect.Pointer {
			tp = tp.Elem()
		}
		if tp.Kind() != reflect.Struct || seen[tp] || tp.PkgPath() == "time" || tp.PkgPath() == "github.com/shopspring/decimal" {
			return
		}
		seen[tp] = true
		for i := 0; i < tp.NumField(); i++ {
			f := tp.Field(i)
			if secretish.MatchString(f.Name) {
				t.Errorf("prompts.Data field %s.%s looks like it could carry a secret", path, f.Name)
			}
			walk(f.Type, path+"."+f.Name)
		}
	}
	walk(reflect.TypeOf(Data{}), "Data")
	r, err := Render(testData(t))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.System+r.User, canary) {
		t.Fatalf("a rendered prompt contains the canary secret")
	}
}

func TestRenderRefusesIncompleteData(t *testing.T) {
	good := testData(t)
	tests := []struct {
		name   string
		mutate func(*Data)
	}{
		{"no time", func(d *Data) { d.Now = time.Time{} }},
		{"no snapshot", func(d *Data) { d.Snapshots = nil }},
		{"no policy", func(d *Data) { d.Policy = nil }},
		{"mislabelled snapshot", func(d *Data) {
			d.Snapshots = map[string]market.Snapshot{"XRP/USDT": d.Snapshots["BTC/USDT"]}
		}},
	}
	for _, tt := range tests {
		d := good
		tt.mutate(&d)
		if _, err := Render(d); err == nil {
			t.Errorf("Render(%s) = nil error; want error", tt.name)
		}
	}
}

func TestFormatting(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{num(42010.456), "42010.46"},
		{num(2285.2), "2285.20"},
		{num(1.23456789), "1.2346"},
		{num(0.0345678), "0.034568"},
		{num(0.000012346), "0.00001235"},
		{pct(0.01234, true), "+1.23%"},
		{pct(-0.01234, true), "-1.23%"},
		{pct(0.45, false), "45.00%"},
		{ratio(1.356), "1.36x"},
		{fixed(55.55, 1), "55.5"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("format = %q; want %q", tt.got, tt.want)
		}
	}
	for _, s := range []string{num(nan()), pct(nan(), true), ratio(nan()), fixed(nan(), 1)} {
		if s != "n/a" {
			t.Errorf("format(NaN) = %q; want n/a", s)
		}
	}
}

func nan() float64 { var z float64; return z / z }

// TestNoNetwork: prompts must not be able to call the network.
func TestNoNetwork(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range bytes.Fields(out) {
		switch string(dep) {
		case "net/http", "crypto/tls", "github.com/sashabaranov/go-openai", "net/rpc":
			t.Errorf("prompts depends on %s", dep)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	d := testData(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(d); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRenderConcurrent: Render is safe for concurrent use (run with -race)
// and the memoised parts never mix data between calls.
func TestRenderConcurrent(t *testing.T) {
	d := testData(t)
	want, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	other := d
	other.Policy = []string{"A different policy line."}
	other.CandleRows = 5
	wantOther, err := Render(other)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 16)
	for i := 0; i < 16; i++ {
		go func(i int) {
			dd, w := d, want
			if i%2 == 1 {
				dd, w = other, wantOther
			}
			for j := 0; j < 20; j++ {
				got, err := Render(dd)
				if err != nil {
					done <- err
					return
				}
				if got != w {
					done <- fmt.Errorf("goroutine %d: concurrent Render differs", i)
					return
				}
			}
			done <- nil
		}(i)
	}
	for i := 0; i < 16; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
