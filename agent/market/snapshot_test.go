package market

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/warden-trading/warden/executor"
)

func ticker(sym string, c executor.Candle, at time.Time) executor.Ticker {
	p := decimal.NewFromFloat(c.Close)
	return executor.Ticker{Symbol: sym, Bid: p, Ask: p.Add(decimal.RequireFromString("0.01")), Last: p, Time: at}
}

func TestBundled(t *testing.T) {
	tests := []struct {
		sym, tf string
		rows    int
		first   time.Time
		open    float64
	}{
		{"BTC/USDT", "1h", 45024, time.Date(2017, 8, 17, 4, 0, 0, 0, time.UTC), 4261.48},
		{"ETH/USDT", "1h", 45024, time.Date(2017, 8, 17, 4, 0, 0, 0, time.UTC), 0},
		{"BTC/USDT", "4h", 11271, time.Date(2017, 8, 17, 4, 0, 0, 0, time.UTC), 0},
		{"ETH/USDT", "4h", 11271, time.Date(2017, 8, 17, 4, 0, 0, 0, time.UTC), 0},
		{"BTC/USDT", "1d", 1881, time.Date(2017, 8, 17, 0, 0, 0, 0, time.UTC), 0},
		{"ETH/USDT", "1d", 1881, time.Date(2017, 8, 17, 0, 0, 0, 0, time.UTC), 0},
	}
	for _, tt := range tests {
		t.Run(tt.sym+" "+tt.tf, func(t *testing.T) {
			cs, err := Bundled(tt.sym, tt.tf)
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) != tt.rows || !cs[0].Time.Equal(tt.first) || cs[0].Time.Location() != time.UTC {
				t.Fatalf("Bundled(%q, %q): %d rows from %s; want %d from %s", tt.sym, tt.tf, len(cs), cs[0].Time, tt.rows, tt.first)
			}
			if tt.open != 0 && cs[0].Open != tt.open {
				t.Errorf("Bundled(%q, %q)[0].Open = %v; want %v", tt.sym, tt.tf, cs[0].Open, tt.open)
			}
		})
	}
	// Known reference price from SOURCES.md: 2021-01-01 00:00 1h open 28923.63.
	cs, _ := Bundled("BTC/USDT", "1h")
	r, err := NewReplay("BTC/USDT", "1h", cs)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := r.Forming(time.Date(2021, 1, 1, 0, 30, 0, 0, time.UTC))
	want := executor.Candle{Time: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), Open: 28923.63, High: 29031.34, Low: 28690.17, Close: 28995.13, Volume: 2311.811445}
	if !ok || c != want {
		t.Errorf("BTC 1h at 2021-01-01 00:00 = %+v; want %+v", c, want)
	}
	// Each call is a copy: mutating it must not change the next.
	cs[0].Open = -1
	again, _ := Bundled("BTC/USDT", "1h")
	if again[0].Open != 4261.48 {
		t.Errorf("Bundled after caller mutation: Open = %v; want 4261.48", again[0].Open)
	}
}

func TestBundledUnknown(t *testing.T) {
	for _, tt := range []struct{ sym, tf string }{{"DOGE/USDT", "1h"}, {"BTC/USDT", "5m"}, {"BTC-USDT", "1h"}} {
		if _, err := Bundled(tt.sym, tt.tf); err == nil {
			t.Errorf("Bundled(%q, %q) = nil error; want error", tt.sym, tt.tf)
		}
	}
	if got := BundledSymbols(); !reflect.DeepEqual(got, []string{"BTC/USDT", "ETH/USDT"}) {
		t.Errorf("BundledSymbols() = %v", got)
	}
	if got := BundledTimeframes("BTC/USDT"); !reflect.DeepEqual(got, []string{"1h", "4h", "1d"}) {
		t.Errorf("BundledTimeframes(BTC/USDT) = %v", got)
	}
}

func TestParseCSVErrors(t *testing.T) {
	h := "timestamp_ms,open,high,low,close,volume\n"
	for _, in := range []string{
		"",
		"ts,o,h,l,c,v\n1,1,1,1,1,1\n",
		h + "1,2,3\n",
		h + "1,2,3,4,5,6,7\n",
		h + "x,2,3,4,5,6\n",
		h + "1,2,3,4,5,abc\n",
	} {
		if _, err := ParseCSV(in); err == nil {
			t.Errorf("ParseCSV(%q) = nil error; want error", in)
		}
	}
	cs, err := ParseCSV(h + "3600000,1,2,0.5,1.5,10\r\n\n7200000,1.5,2,1,1,0\n")
	if err != nil || len(cs) != 2 || cs[1].Time != time.UnixMilli(7200000).UTC() || cs[0].Low != 0.5 {
		t.Errorf("ParseCSV(good) = %+v, %v", cs, err)
	}
}

// TestBuildNoLookAhead poisons every candle that is not closed at the
// decision time with absurd prices and proves that the snapshot and its
// indicators do not change — the decision sees only closed candles.
func TestBuildNoLookAhead(t *testing.T) {
	hist, err := Bundled("BTC/USDT", "1h")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 50; n++ {
		i := 300 + rng.IntN(len(hist)-600) // the candle open at now
		now := hist[i].Time.Add(time.Duration(rng.IntN(60)) * time.Minute)
		tk := ticker("BTC/USDT", hist[i-1], now)
		opts := BuildOptions{Check: CheckOptions{MaxMissingBars: 100, RecentBars: -1, OutlierPct: 10, OutlierATR: 1000}}
		clean, err := Build("BTC/USDT", "1h", hist, tk, now, opts)
		if err != nil {
			t.Fatalf("Build(at %s): %v", now, err)
		}
		poisoned := append([]executor.Candle(nil), hist...)
		for j := range poisoned {
			if poisoned[j].Time.Add(time.Hour).After(now) {
				poisoned[j] = executor.Candle{Time: poisoned[j].Time, Open: 1e12, High: 1e13, Low: 1e-6, Close: 5e12, Volume: 1e15}
			}
		}
		got, err := Build("BTC/USDT", "1h", poisoned, tk, now, opts)
		if err != nil {
			t.Fatalf("Build(poisoned, at %s): %v", now, err)
		}
		if !reflect.DeepEqual(got, clean) {
			t.Fatalf("Build(poisoned future, at %s) differs from clean:\n got %+v\nwant %+v", now, got.Indicators, clean.Indicators)
		}
		if last, _ := got.Last(); !last.Time.Add(time.Hour).After(now.Add(-time.Hour)) || last.Time.Add(time.Hour).After(now) {
			t.Fatalf("Build(at %s): last candle opens %s; want the last one closed by now", now, last.Time)
		}
		if got.Indicators.Close != hist[i-1].Close {
			t.Fatalf("Build(at %s).Indicators.Close = %v; want close of the candle before the open one %v", now, got.Indicators.Close, hist[i-1].Close)
		}
	}
}

func TestBuild(t *testing.T) {
	cs, now := clean()
	tk := ticker("X/USDT", cs[59], now)
	s, err := Build("X/USDT", "1h", cs, tk, now, BuildOptions{Keep: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Candles) != 10 || s.Candles[9] != cs[59] || !s.At.Equal(now) || !s.Indicators.Valid() {
		t.Errorf("Build: %d candles, last %+v, At %s, valid %v; want 10, cs[59], %s, true", len(s.Candles), s.Candles[9], s.At, s.Indicators.Valid(), now)
	}
	if !reflect.DeepEqual(s.Indicators, Summarize(cs, "1h")) {
		t.Errorf("Build.Indicators != Summarize(closed candles)")
	}
	// The candle that closes exactly at now is included; one minute earlier it is not.
	s2, err := Build("X/USDT", "1h", cs, ticker("X/USDT", cs[58], now.Add(-time.Minute)), now.Add(-time.Minute), BuildOptions{Keep: 10})
	if err != nil {
		t.Fatal(err)
	}
	if last, _ := s2.Last(); last != cs[58] {
		t.Errorf("Build(now-1m) last = %s; want %s", last.Time, cs[58].Time)
	}
	// Snapshot candles are a copy.
	s.Candles[0].Close = -5
	if cs[50].Close == -5 {
		t.Errorf("Build shares its input array")
	}
	// Unless the caller says its candles are frozen: then they are a view
	// of them, and appending to it cannot write into the caller's array.
	f, err := Build("X/USDT", "1h", cs[:55], ticker("X/USDT", cs[54], now.Add(-5*time.Hour)), now.Add(-5*time.Hour), BuildOptions{Keep: 5, Frozen: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Candles) != 5 || &f.Candles[0] != &cs[50] || cap(f.Candles) != 5 {
		t.Errorf("frozen Build: %d candles from %p, cap %d; want a view of cs[50:55] (%p), cap 5", len(f.Candles), &f.Candles[0], cap(f.Candles), &cs[50])
	}
	before := cs[55]
	_ = append(f.Candles, executor.Candle{Close: -7})
	if cs[55] != before {
		t.Errorf("appending to a frozen snapshot's candles wrote into the caller's array")
	}
	if !reflect.DeepEqual(f.Indicators, Summarize(cs[:55], "1h")) {
		t.Errorf("frozen Build.Indicators != Summarize(closed candles)")
	}
	bad := []struct {
		name string
		cs   []executor.Candle
		tk   executor.Ticker
		tf   string
		now  time.Time
	}{
		{"stale", cs, ticker("X/USDT", cs[59], now.Add(5*time.Hour)), "1h", now.Add(5 * time.Hour)},
		{"crossed ticker", cs, executor.Ticker{Symbol: "X/USDT", Bid: decimal.NewFromInt(2), Ask: decimal.NewFromInt(1), Time: now}, "1h", now},
		{"other symbol's ticker", cs, ticker("Y/USDT", cs[59], now), "1h", now},
		{"unknown timeframe", cs, tk, "2w", now},
		{"too few closed", cs[:20], ticker("X/USDT", cs[19], cs[19].Time.Add(time.Hour)), "1h", cs[19].Time.Add(time.Hour)},
	}
	for _, b := range bad {
		_, err := Build("X/USDT", b.tf, b.cs, b.tk, b.now, BuildOptions{})
		var se *SnapshotError
		if !errors.As(err, &se) {
			t.Errorf("Build(%s) = %v; want *SnapshotError", b.name, err)
		}
	}
}

func TestReplay(t *testing.T) {
	cs, _ := clean()
	r, err := NewReplay("X/USDT", "1h", cs)
	if err != nil {
		t.Fatal(err)
	}
	for m := -90; m < 62*60; m += 17 {
		now := t0.Add(time.Duration(m) * time.Minute)
		want := 0
		for _, c := range cs {
			if !c.Time.Add(time.Hour).After(now) {
				want++
			}
		}
		if got := len(r.Closed(now)); got != want {
			t.Fatalf("Replay.Closed(%s) has %d candles; want %d", now, got, want)
		}
		w := r.Window(now, 5)
		if len(w) != min(5, want) || (want > 0 && w[len(w)-1] != cs[want-1]) {
			t.Fatalf("Replay.Window(%s, 5) = %d candles; want %d ending at #%d", now, len(w), min(5, want), want-1)
		}
		last, ok := r.Last(now)
		if ok != (want > 0) || (ok && last != cs[want-1]) {
			t.Fatalf("Replay.Last(%s) = %v, %v", now, last.Time, ok)
		}
		f, ok := r.Forming(now)
		if ok != (want < len(cs) && !now.Before(t0)) || (ok && f != cs[want]) {
			t.Fatalf("Replay.Forming(%s) = %v, %v", now, f.Time, ok)
		}
	}
	// Appending to a Closed slice must not overwrite the replay.
	c := r.Closed(t0.Add(3 * time.Hour))
	_ = append(c, executor.Candle{Close: -1})
	if r.Candle(3).Close == -1 {
		t.Errorf("append to Replay.Closed overwrote the replay")
	}
	if !r.Start().Equal(t0) || !r.End().Equal(t0.Add(60*time.Hour)) || r.Len() != 60 {
		t.Errorf("Replay Start/End/Len = %s %s %d", r.Start(), r.End(), r.Len())
	}
	cs[10].Time = cs[9].Time
	if _, err := NewReplay("X/USDT", "1h", cs); err == nil {
		t.Errorf("NewReplay(duplicate times) = nil error; want error")
	}
	if _, err := BundledReplay("BTC/USDT", "1h"); err != nil {
		t.Errorf("BundledReplay(BTC/USDT 1h) = %v", err)
	}
}

func BenchmarkBundledParse(b *testing.B) {
	raw, err := bundledFS.ReadFile("data/BTC-USDT-1h.csv.gz")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		cs, err := parseGzipCSV(raw)
		if err != nil || len(cs) != 45024 {
			b.Fatal(len(cs), err)
		}
	}
}

func benchWindow(b *testing.B) ([]executor.Candle, time.Time) {
	cs, err := Bundled("BTC/USDT", "1h")
	if err != nil {
		b.Fatal(err)
	}
	w := cs[30000 : 30000+DefaultLookback]
	return w, w[len(w)-1].Time.Add(time.Hour)
}

func BenchmarkSummarize(b *testing.B) {
	w, _ := benchWindow(b)
	b.ReportAllocs()
	for b.Loop() {
		Summarize(w, "1h")
	}
}

func BenchmarkCheck(b *testing.B) {
	w, now := benchWindow(b)
	b.ReportAllocs()
	for b.Loop() {
		if ps := Check(w, "1h", now, CheckOptions{}); len(ps) != 0 {
			b.Fatal(ps)
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	r, err := BundledReplay("BTC/USDT", "1h")
	if err != nil {
		b.Fatal(err)
	}
	now := r.Candle(30200).Time
	tk := ticker("BTC/USDT", r.Candle(30199), now)
	all := r.Closed(r.End())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build("BTC/USDT", "1h", all, tk, now, BuildOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBuildTakesKnownAnalysisOnlyWhenItFits: an analysis done ahead
// (Analyse) gives the very snapshot Build computes itself, and Build takes
// it only when it was made of the same window at the same time with the
// same timeframe and check options: a marked analysis (a problem Build
// would not find) rejects the snapshot when it fits, and is ignored when
// any of those differs.
func TestBuildTakesKnownAnalysisOnlyWhenItFits(t *testing.T) {
	cs, now := clean()
	tk := ticker("X/USDT", cs[59], now)
	opts := BuildOptions{Lookback: 55, Check: CheckOptions{MaxAge: 2 * time.Hour}, Frozen: true}
	fresh, err := Build("X/USDT", "1h", cs, tk, now, opts)
	if err != nil {
		t.Fatal(err)
	}
	k := Analyse(cs, "1h", now, 55, opts.Check)
	withKnown := opts
	withKnown.Known = &k
	got, err := Build("X/USDT", "1h", cs, tk, now, withKnown)
	if err != nil || !reflect.DeepEqual(got, fresh) {
		t.Fatalf("Build with its own analysis = %+v, %v; want %+v", got.Indicators, err, fresh.Indicators)
	}
	marked := func(edit func(*Analysis)) *Analysis {
		m := Analyse(cs, "1h", now, 55, opts.Check)
		m.Problems = append(m.Problems, Problem{Kind: ProblemGap, Index: -1, Detail: "marked"})
		edit(&m)
		return &m
	}
	o := opts
	o.Known = marked(func(*Analysis) {})
	if _, err := Build("X/USDT", "1h", cs, tk, now, o); err == nil || !strings.Contains(err.Error(), "marked") {
		t.Fatalf("Build with a fitting marked analysis = %v; want it taken (the marked problem)", err)
	}
	other := slices.Clone(cs)
	other[50].Volume++
	for name, edit := range map[string]func(*Analysis){
		"another window":    func(m *Analysis) { m.Window = other[5:] },
		"a shorter window":  func(m *Analysis) { m.Window = m.Window[1:] },
		"another time":      func(m *Analysis) { m.Now = m.Now.Add(time.Minute) },
		"another timeframe": func(m *Analysis) { m.Timeframe = "4h" },
		"other checks":      func(m *Analysis) { m.Check.OutlierATR = 3 },
	} {
		o.Known = marked(edit)
		got, err := Build("X/USDT", "1h", cs, tk, now, o)
		if err != nil || !reflect.DeepEqual(got, fresh) {
			t.Errorf("Build with a marked analysis of %s = %v; want it ignored", name, err)
		}
	}
}
