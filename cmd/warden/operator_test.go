package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/agent/audit"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// operatorModel is an OpenAI-compatible server answering a script, one
// step per call: "buyBTC" buys BTC/USDT for 1.5 % of equity at the ask
// with a stop 3 % below; "sellBTC" sells what the prompt says is held, at
// the bid; "buyETH" buys ETH/USDT likewise and asks for 40 % of equity in
// BTC/USDT (rejected by max_position); "hold" holds both; "fail" answers
// HTTP 500 with OpenAI's recorded error body.
type operatorModel struct {
	mu     sync.Mutex
	script []string
	calls  int
	url    string
}

var (
	tickerRe = regexp.MustCompile(`Market (\S+) [^\n]*\n- ticker: bid ([0-9.]+), ask ([0-9.]+)`)
	equityRe = regexp.MustCompile(`- equity ([0-9.]+),`)
	heldRe   = regexp.MustCompile(`- (\S+): qty ([0-9.]+) at average price`)
)

func newOperatorModel(t *testing.T, script ...string) *operatorModel {
	t.Helper()
	fail500, err := os.ReadFile(filepath.Join(openaiFixturesDir(), "500_server_error.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := &operatorModel{script: script}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		step := "hold"
		if m.calls < len(m.script) {
			step = m.script[m.calls]
		}
		m.calls++
		m.mu.Unlock()
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		user := ""
		if len(req.Messages) > 0 {
			user = req.Messages[len(req.Messages)-1].Content
		}
		w.Header().Set("Content-Type", "application/json")
		if step == "fail" {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write(fail500)
			return
		}
		bid, ask := map[string]float64{}, map[string]float64{}
		for _, mm := range tickerRe.FindAllStringSubmatch(user, -1) {
			bid[mm[1]], _ = strconv.ParseFloat(mm[2], 64)
			ask[mm[1]], _ = strconv.ParseFloat(mm[3], 64)
		}
		equity := 0.0
		if mm := equityRe.FindStringSubmatch(user); mm != nil {
			equity, _ = strconv.ParseFloat(mm[1], 64)
		}
		held := map[string]float64{}
		for _, mm := range heldRe.FindAllStringSubmatch(user, -1) {
			held[mm[1]], _ = strconv.ParseFloat(mm[2], 64)
		}
		rec := func(sym, action string, size float64, price, stop any, reason string) map[string]any {
			return map[string]any{"symbol": sym, "action": action, "confidence": 0.7, "size_pct": size, "order_type": "limit",
				"limit_price": price, "stop_loss": stop, "take_profit": nil, "reason": reason}
		}
		hold := func(sym string) map[string]any { return rec(sym, "hold", 0, nil, nil, "No clear edge.") }
		buy := func(sym string, size float64) map[string]any {
			a := ask[sym]
			return rec(sym, "buy", size, a, float64(int(a*0.97*100))/100, fmt.Sprintf("test: buy %s at the ask, stop 3%% below", sym))
		}
		var recs []map[string]any
		switch step {
		case "hold":
			recs = []map[string]any{hold("BTC/USDT"), hold("ETH/USDT")}
		case "buyBTC":
			recs = []map[string]any{buy("BTC/USDT", 1.5), hold("ETH/USDT")}
		case "sellBTC":
			b := bid["BTC/USDT"]
			size := float64(int(held["BTC/USDT"]*b/equity*100*1e4)+1) / 1e4
			recs = []map[string]any{rec("BTC/USDT", "sell", size, b, nil, "test: sell what is held at the bid"), hold("ETH/USDT")}
		case "buyETH":
			recs = []map[string]any{buy("BTC/USDT", 40), buy("ETH/USDT", 1.5)}
		}
		content, _ := json.Marshal(map[string]any{"rationale": "Scripted test model, step " + step + ".", "recommendations": recs})
		body, _ := json.Marshal(map[string]any{
			"id": "chatcmpl-test", "object": "chat.completion", "created": 1727346143, "model": "gpt-4o-mini",
			"choices": []map[string]any{{"index": 0, "message": map[string]any{"role": "assistant", "content": string(content), "refusal": nil},
				"logprobs": nil, "finish_reason": "stop"}},
			"usage": map[string]any{"prompt_tokens": 79, "completion_tokens": 14, "total_tokens": 93},
		})
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	m.url = srv.URL + "/v1"
	return m
}

// operatorScript is the history the operator views are tested on: a buy
// that fills and gets its protective stop, a sell that closes the trip, a
// second buy (with a rejected one beside it) that stays open behind its
// stop, two failed model calls that trip the error-spike breaker into safe
// mode, and a cycle in safe mode.
var operatorScript = []string{"buyBTC", "hold", "sellBTC", "buyETH", "fail", "fail", "hold"}

// recordOperatorHistory runs operatorScript, one `warden run --once` (a
// new Main) per step, in the current directory.
func recordOperatorHistory(t *testing.T) {
	t.Helper()
	m := newOperatorModel(t, operatorScript...)
	writeBreakerConfig(t, m.url, quietStart, "{error_spike: {max_consecutive: 2}}")
	want := []int{0, 0, 0, 0, 1, 1, 3}
	for i, step := range operatorScript {
		code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
		if code != want[i] {
			t.Fatalf("cycle %d (%s) = exit %d; want %d\n%s\n%s", i+1, step, code, want[i], out, errOut)
		}
		if strings.Contains(out, "breaker volatility_shock") || strings.Contains(out, "breaker data_gap") || strings.Contains(out, "breaker drift") {
			t.Fatalf("cycle %d: a market breaker tripped in the quiet stretch\n%s", i+1, out)
		}
	}
}

var (
	opRunIDRe = regexp.MustCompile(`(r-\d{8}T\d{6}Z-)[0-9a-f]{6}`)
	clientRe  = regexp.MustCompile(`wd[0-9a-f]{30}`)
	hash64Re  = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
	tmpPathRe = regexp.MustCompile(`/\S*/warden\.db`)
	latencyRe = regexp.MustCompile(`latency p50 \S+, p90 \S+, p99 \S+;`) // wall-clock latencies of the fake model
)

// normalise replaces what differs between runs of the test (random run id
// suffixes, the client order ids and chain hashes derived from them, the
// temporary directory) by placeholders of the same width, so tables keep
// their alignment.
func normalise(s, policyHash string) string {
	s = strings.ReplaceAll(s, policyHash, "POLICYHASH")
	s = opRunIDRe.ReplaceAllString(s, "${1}xxxxxx")
	s = clientRe.ReplaceAllStringFunc(s, func(m string) string { return "wd" + strings.Repeat("x", len(m)-2) })
	s = hash64Re.ReplaceAllStringFunc(s, func(m string) string { return strings.Repeat("h", len(m)) })
	s = latencyRe.ReplaceAllString(s, "latency p50 L, p90 L, p99 L;")
	return tmpPathRe.ReplaceAllString(s, "$$DIR/warden.db")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (go test -run %s -update rewrites it):\n--- got\n%s\n--- want\n%s", name, t.Name(), got, want)
	}
}

// goldenDir is cmd/warden/testdata, resolved before tests change directory.
var goldenDir, _ = filepath.Abs("testdata")

// TestOperatorViewsGolden: status, trades, profit and review through
// Main, on a database produced by real cycles, against golden outputs.
func TestOperatorViewsGolden(t *testing.T) {
	t.Chdir(t.TempDir())
	recordOperatorHistory(t)
	pol, err := loadPolicy("")
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{}
	for _, c := range []struct {
		golden string
		args   []string
	}{
		{"status.golden", []string{"status", "--config", "warden.yaml"}},
		{"trades.golden", []string{"trades", "--config", "warden.yaml"}},
		{"profit.golden", []string{"profit", "--config", "warden.yaml"}},
		{"review.golden", []string{"review", "--config", "warden.yaml"}},
	} {
		code, out, errOut := runMain(t, c.args...)
		if code != 0 {
			t.Fatalf("%v = exit %d\n%s\n%s", c.args, code, out, errOut)
		}
		golden(t, c.golden, normalise(out, pol.Hash()))
		outputs[c.golden] = normalise(out, pol.Hash())
	}

	// The review as a page: self-contained, with the same figures.
	if code, _, errOut := runMain(t, "review", "--config", "warden.yaml", "--html", "review.html"); code != 0 || !strings.Contains(errOut, "review written to review.html") {
		t.Fatalf("review --html = exit %d\n%s", code, errOut)
	}
	page, err := os.ReadFile("review.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"error_spike", "gpt-4o-mini", "<code>max_position</code> 1", "http_error 2", "<span class=\"ok\">verified</span>"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("review.html lacks %q", want)
		}
	}
	if strings.Contains(string(page), "<script") {
		t.Errorf("review.html has a script")
	}

	// The same views of a copy in a read-only directory: identical, and
	// nothing written (no -wal, no -shm, the file unchanged).
	ro := filepath.Join(t.TempDir(), "archive")
	os.Mkdir(ro, 0o755)
	raw, err := os.ReadFile("warden.db")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ro, "warden.db"), raw, 0o444)
	os.Chmod(ro, 0o555)
	t.Cleanup(func() { os.Chmod(ro, 0o755) })
	for name, args := range map[string][]string{"status.golden": {"status"}, "trades.golden": {"trades"}, "profit.golden": {"profit"}, "review.golden": {"review"}} {
		args = append(args, "--config", "warden.yaml", "--db", filepath.Join(ro, "warden.db"))
		code, out, errOut := runMain(t, args...)
		if code != 0 || normalise(out, pol.Hash()) != outputs[name] {
			t.Errorf("%v on a read-only copy = exit %d, same output %v\n%s", args, code, normalise(out, pol.Hash()) == outputs[name], errOut)
		}
	}
	entries, _ := os.ReadDir(ro)
	if len(entries) != 1 {
		t.Errorf("the read-only directory holds %d files after the reads; want only warden.db", len(entries))
	}
	if after, _ := os.ReadFile(filepath.Join(ro, "warden.db")); string(after) != string(raw) {
		t.Errorf("the copy changed")
	}
}

// TestTradesReconcileWithThePaperAccount: the numbers of trades and profit
// reconcile exactly, in decimal, with the paper exchange's balances after
// fees: the cash is the starting cash plus everything realised less the
// cost still held, each base asset's balance is the position the round
// trips leave, and the total PnL is the equity's change at the marks.
func TestTradesReconcileWithThePaperAccount(t *testing.T) {
	t.Chdir(t.TempDir())
	recordOperatorHistory(t)
	ctx := context.Background()
	st, err := audit.Open(ctx, "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	px, ok, err := restorePaperAccount(ctx, st)
	if err != nil || !ok {
		t.Fatalf("restore the paper account: ok %v, %v", ok, err)
	}
	bals, err := px.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The views, as an operator runs them.
	var trips []struct {
		Symbol     string          `json:"symbol"`
		Open       bool            `json:"open"`
		Realised   decimal.Decimal `json:"realised"`
		Basis      decimal.Decimal `json:"basis"`
		Held       decimal.Decimal `json:"held"`
		Unrealised decimal.Decimal `json:"unrealised"`
		Mark       decimal.Decimal `json:"mark"`
		Fees       decimal.Decimal `json:"fees"`
	}
	code, out, errOut := runMain(t, "trades", "--config", "warden.yaml", "--json")
	if code != 0 {
		t.Fatalf("trades --json = %d\n%s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &trips); err != nil {
		t.Fatal(err)
	}
	var profit struct {
		BySymbol []audit.ProfitLine `json:"by_symbol"`
		ByDay    []audit.ProfitLine `json:"by_day"`
		Total    audit.ProfitLine   `json:"total"`
	}
	code, out, errOut = runMain(t, "profit", "--config", "warden.yaml", "--json")
	if code != 0 {
		t.Fatalf("profit --json = %d\n%s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &profit); err != nil {
		t.Fatal(err)
	}

	// Two trips: BTC/USDT closed by the sell, ETH/USDT open behind its stop.
	if len(trips) != 2 || trips[0].Symbol != "BTC/USDT" || trips[0].Open || trips[1].Symbol != "ETH/USDT" || !trips[1].Open {
		t.Fatalf("trips = %+v; want BTC/USDT closed, ETH/USDT open", trips)
	}
	start := decimal.NewFromInt(10000) // paper.start_cash
	realised, basis, unreal := decimal.Zero, decimal.Zero, decimal.Zero
	held := map[string]decimal.Decimal{}
	for _, tr := range trips {
		realised = realised.Add(tr.Realised)
		basis = basis.Add(tr.Basis)
		unreal = unreal.Add(tr.Unrealised)
		base, _, _ := strings.Cut(tr.Symbol, "/")
		held[base] = held[base].Add(tr.Held)
	}
	cash := bals["USDT"].Total()
	if want := start.Add(realised).Sub(basis); !cash.Equal(want) {
		t.Errorf("USDT balance %s; want start %s + realised %s - basis held %s = %s", cash, start, realised, basis, want)
	}
	for _, asset := range []string{"BTC", "ETH"} {
		if got := bals[asset].Total(); !got.Equal(held[asset]) {
			t.Errorf("%s balance %s; the round trips hold %s", asset, got, held[asset])
		}
	}
	if !profit.Total.Realised.Equal(realised) || !profit.Total.Unrealised.Equal(unreal) {
		t.Errorf("profit total realised %s, unrealised %s; trades say %s, %s", profit.Total.Realised, profit.Total.Unrealised, realised, unreal)
	}
	dayRealised := decimal.Zero
	for _, d := range profit.ByDay {
		dayRealised = dayRealised.Add(d.Realised)
	}
	if !dayRealised.Equal(realised) {
		t.Errorf("profit by day sums to %s; total realised %s", dayRealised, realised)
	}
	// Equity at the marks: the cash plus what is held at its mark is the
	// start plus the total PnL, to the last digit.
	equity := cash
	for _, tr := range trips {
		equity = equity.Add(tr.Held.Mul(tr.Mark))
	}
	if want := start.Add(profit.Total.Total); !equity.Equal(want) {
		t.Errorf("cash + held at marks = %s; start + total PnL = %s", equity, want)
	}
	if !realised.IsNegative() && !realised.IsPositive() {
		t.Errorf("realised PnL of the closed trip is exactly 0: fees were not counted")
	}
	if fees := trips[0].Fees; !fees.IsPositive() {
		t.Errorf("closed trip fees = %s; want > 0", fees)
	}
	t.Logf("cash %s, realised %s, basis %s, unrealised %s, equity at marks %s", cash, realised, basis, unreal, equity)

	// CSV carries the same rows.
	code, out, _ = runMain(t, "trades", "--config", "warden.yaml", "--csv")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(recs) != 3 || recs[0][0] != "id" {
		t.Fatalf("trades --csv = exit %d, %d rows, %v:\n%s", code, len(recs), err, out)
	}
	if got, _ := decimal.NewFromString(recs[1][13]); !got.Equal(trips[0].Realised) {
		t.Errorf("CSV realised %s; JSON %s", recs[1][13], trips[0].Realised)
	}
}

// TestDigestOncePerScheduledTime: notify.digest "0 8 * * MON" sends the
// review once, at the first `run --once` at or after Monday 08:00 (replay
// clock), and a later process does not send it again: the outbox is the
// memory. Before the first run there is nothing to review.
func TestDigestOncePerScheduledTime(t *testing.T) {
	sink := newNotifySink(t)
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_TEST_SLACK_HOOK", sink.URL+"/services/T0/B0/digesttest")
	os.WriteFile("warden.yaml", []byte(`paper: {replay_start: "2022-06-06T06:00:00Z"}
notify:
  slack: {webhook_url_env: WARDEN_TEST_SLACK_HOOK}
  digest: "0 8 * * MON"
`), 0o600)
	digests := func() int {
		n := 0
		for _, b := range sink.all() {
			if strings.Contains(string(b), "Warden review") {
				n++
			}
		}
		return n
	}
	for i, want := range []int{0, 0, 1, 1} { // 06:00, 07:00, 08:00, 09:00 on Monday 2022-06-06
		code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml")
		if code != 0 {
			t.Fatalf("cycle %d = exit %d\n%s\n%s", i+1, code, out, errOut)
		}
		if got := digests(); got != want {
			t.Fatalf("after the cycle at %02d:00: %d digests sent; want %d", 6+i, got, want)
		}
	}
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if ok, err := st.Enqueued(context.Background(), "digest:2022-06-06T08:00:00Z"); err != nil || !ok {
		t.Fatalf("digest for 2022-06-06 08:00 in the outbox: %v, %v", ok, err)
	}
	for _, b := range sink.all() {
		if s := string(b); strings.Contains(s, "Warden review") && !strings.Contains(s, "audit chain head") {
			t.Errorf("digest lacks the chain head:\n%s", s)
		}
	}
}

// TestTradesSayWhenHistoryIsArchived: after older records were archived,
// trades and profit still run but say on stderr that the history they sum
// is not whole (a position's buy may be in the archive).
func TestTradesSayWhenHistoryIsArchived(t *testing.T) {
	t.Chdir(t.TempDir())
	recordOperatorHistory(t)
	if code, _, errOut := runMain(t, "trades", "--config", "warden.yaml"); code != 0 || strings.Contains(errOut, "archive") {
		t.Fatalf("trades before any archive = %d, %q", code, errOut)
	}
	st, err := audit.Open(context.Background(), "warden.db", audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Archive(context.Background(), audit.ArchiveOptions{Before: hour(3), Dir: "archive"})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"trades", "profit"} {
		code, _, errOut := runMain(t, cmd, "--config", "warden.yaml")
		if code != 0 || !strings.Contains(errOut, "moved to archive files") {
			t.Errorf("%s after an archive = %d, stderr %q; want the warning", cmd, code, errOut)
		}
	}
}

// TestDigestPeriodsDoNotOverlap: each digest reports its scheduled period
// [previous time, its time), so the run at the scheduled time itself (the
// one that sends the digest) is the next digest's: with a digest every two
// hours over hourly cron runs, every run is counted in exactly one digest.
func TestDigestPeriodsDoNotOverlap(t *testing.T) {
	sink := newNotifySink(t)
	t.Chdir(t.TempDir())
	t.Setenv("WARDEN_TEST_SLACK_HOOK", sink.URL+"/services/T0/B0/digestperiods")
	os.WriteFile("warden.yaml", []byte(`paper: {replay_start: "2022-06-05T22:00:00Z"}
notify:
  slack: {webhook_url_env: WARDEN_TEST_SLACK_HOOK}
  digest: "0 */2 * * *"
`), 0o600)
	for i := 0; i < 6; i++ { // 22:00 .. 03:00
		if code, out, errOut := runMain(t, "run", "--once", "--config", "warden.yaml"); code != 0 {
			t.Fatalf("cycle %d = exit %d\n%s\n%s", i+1, code, out, errOut)
		}
	}
	runsRe := regexp.MustCompile(`(\d{4}-\d\d-\d\d \d\d:\d\d) to (\d{4}-\d\d-\d\d \d\d:\d\d) UTC\\nruns: ok (\d+)`)
	got := map[string]string{}
	for _, b := range sink.all() {
		if m := runsRe.FindStringSubmatch(string(b)); m != nil {
			got[m[1]+" to "+m[2]] = m[3]
		}
	}
	want := map[string]string{"2022-06-05 22:00 to 2022-06-06 00:00": "2", "2022-06-06 00:00 to 2022-06-06 02:00": "2"}
	if len(got) != len(want) {
		t.Fatalf("digests sent: %v; want %v", got, want)
	}
	for period, n := range want {
		if got[period] != n {
			t.Errorf("digest %s counts %s runs; want %s (each hourly run in one digest only)", period, got[period], n)
		}
	}
}
