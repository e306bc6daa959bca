package market

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/warden-trading/warden/executor"
)

//go:embed data/*.csv.gz
var bundledFS embed.FS

// bundle is one embedded file, parsed at most once per process.
type bundle struct {
	file    string
	once    sync.Once
	candles []executor.Candle
	err     error
}

// bundles lists the embedded files by symbol and timeframe. It is static
// data; each entry parses lazily on first use.
var bundles = map[string]map[string]*bundle{
	"BTC/USDT": {
		"1h": {file: "data/BTC-USDT-1h.csv.gz"},
		"4h": {file: "data/BTC-USDT-4h.csv.gz"},
		"1d": {file: "data/BTC-USDT-1d.csv.gz"},
	},
	"ETH/USDT": {
		"1h": {file: "data/ETH-USDT-1h.csv.gz"},
		"4h": {file: "data/ETH-USDT-4h.csv.gz"},
		"1d": {file: "data/ETH-USDT-1d.csv.gz"},
	},
}

// BundledSymbols lists the symbols with bundled candles, sorted.
func BundledSymbols() []string {
	out := make([]string, 0, len(bundles))
	for s := range bundles {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// BundledTimeframes lists the bundled timeframes of symbol, shortest first.
func BundledTimeframes(symbol string) []string {
	tfs := bundles[symbol]
	out := make([]string, 0, len(tfs))
	for tf := range tfs {
		out = append(out, tf)
	}
	sort.Slice(out, func(i, j int) bool { return timeframes[out[i]] < timeframes[out[j]] })
	return out
}

// Bundled returns the embedded real candles of symbol ("BTC/USDT") and
// timeframe ("1h", "4h", "1d"), oldest first. The file is parsed once per
// process; every call returns a fresh copy the caller may modify.
func Bundled(symbol, timeframe string) ([]executor.Candle, error) {
	shared, err := bundled(symbol, timeframe)
	if err != nil {
		return nil, err
	}
	return append([]executor.Candle(nil), shared...), nil
}

// bundled returns the shared, read-only parsed candles.
func bundled(symbol, timeframe string) ([]executor.Candle, error) {
	tfs, ok := bundles[symbol]
	if !ok {
		return nil, fmt.Errorf("market: no bundled candles for symbol %q (bundled: %s)", symbol, strings.Join(BundledSymbols(), ", "))
	}
	b, ok := tfs[timeframe]
	if !ok {
		return nil, fmt.Errorf("market: no bundled %q candles for %s (bundled timeframes: %s)", timeframe, symbol, strings.Join(BundledTimeframes(symbol), ", "))
	}
	b.once.Do(func() {
		raw, err := bundledFS.ReadFile(b.file)
		if err != nil {
			b.err = fmt.Errorf("market: read %s: %w", b.file, err)
			return
		}
		b.candles, b.err = parseGzipCSV(raw)
		if b.err != nil {
			b.err = fmt.Errorf("market: %s: %w", b.file, b.err)
		}
	})
	return b.candles, b.err
}

// parseGzipCSV decompresses and parses a candle CSV.
func parseGzipCSV(gz []byte) ([]executor.Candle, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var buf bytes.Buffer
	buf.Grow(len(gz) * 3)
	if _, err := io.Copy(&buf, zr); err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	return ParseCSV(buf.String())
}

// ParseCSV parses candles in the bundled format: a header line
// "timestamp_ms,open,high,low,close,volume", then one candle per line with
// the open time in UTC milliseconds. It is hand-rolled for speed (one
// allocation for the result) and strict: any malformed line is an error
// naming the line.
func ParseCSV(s string) ([]executor.Candle, error) {
	const header = "timestamp_ms,open,high,low,close,volume"
	nl := strings.IndexByte(s, '\n')
	if nl < 0 {
		nl = len(s)
	}
	if strings.TrimRight(s[:nl], "\r") != header {
		return nil, fmt.Errorf("line 1: header %q; want %q", s[:nl], header)
	}
	rest := s[min(nl+1, len(s)):]
	out := make([]executor.Candle, 0, strings.Count(rest, "\n")+1)
	line := 1
	for len(rest) > 0 {
		line++
		var ln string
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			ln, rest = rest[:i], rest[i+1:]
		} else {
			ln, rest = rest, ""
		}
		ln = strings.TrimSuffix(ln, "\r")
		if ln == "" {
			continue
		}
		c, err := parseLine(ln)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func parseLine(ln string) (executor.Candle, error) {
	var f [6]string
	for i := 0; i < 5; i++ {
		j := strings.IndexByte(ln, ',')
		if j < 0 {
			return executor.Candle{}, fmt.Errorf("%d fields; want 6", i+1)
		}
		f[i], ln = ln[:j], ln[j+1:]
	}
	if strings.IndexByte(ln, ',') >= 0 {
		return executor.Candle{}, fmt.Errorf("more than 6 fields")
	}
	f[5] = ln
	ms, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return executor.Candle{}, fmt.Errorf("timestamp: %w", err)
	}
	var v [5]float64
	for i := range v {
		v[i], err = strconv.ParseFloat(f[i+1], 64)
		if err != nil {
			return executor.Candle{}, fmt.Errorf("field %d: %w", i+2, err)
		}
	}
	return executor.Candle{
		Time: time.UnixMilli(ms).UTC(),
		Open: v[0], High: v[1], Low: v[2], Close: v[3], Volume: v[4],
	}, nil
}
