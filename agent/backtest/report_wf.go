package backtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// wfTable is the walk-forward's window table with the chosen parameters
// in columns of their own: one per parameter that changed between
// windows. The parameters every window shares are listed once (Fixed).
type wfTable struct {
	ParamCols []string
	Rows      []wfRow
	Fixed     string
}

type wfRow struct {
	W      WalkForwardWindow
	Params []string
}

// paramOrder puts the baseline's parameters in the order its Params
// declares them; other keys follow alphabetically.
var paramOrder = []string{"FastEMA", "SlowEMA", "TrendSMA", "RSI", "ATR", "RSIMaxBuy", "StopATR", "TakeProfitATR", "MaxStopPct", "RiskPct", "MaxSizePct", "MinConfidence"}

// paramLabels are short column headers for the baseline's parameters.
var paramLabels = map[string]string{
	"FastEMA": "fast EMA", "SlowEMA": "slow EMA", "TrendSMA": "trend SMA", "RSI": "RSI", "ATR": "ATR",
	"RSIMaxBuy": "RSI max buy", "StopATR": "stop ×ATR", "TakeProfitATR": "take profit ×ATR",
	"MaxStopPct": "max stop %", "RiskPct": "risk %", "MaxSizePct": "max size %", "MinConfidence": "min confidence",
}

func paramLabel(k string) string {
	if l, ok := paramLabels[k]; ok {
		return l
	}
	return k
}

// flatParams reads a window's parameters as name → value text. Params
// that are not a JSON object show as one "params" value.
func flatParams(p any) map[string]string {
	raw, err := json.Marshal(p)
	if err != nil {
		return map[string]string{"params": fmt.Sprint(p)}
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil {
		return map[string]string{"params": strings.Trim(string(raw), `"`)}
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = strings.Trim(string(v), `"`)
	}
	return out
}

func newWFTable(wf *WalkForwardReport) *wfTable {
	flat := make([]map[string]string, len(wf.Windows))
	keys := map[string]bool{}
	for i, w := range wf.Windows {
		flat[i] = flatParams(w.Params)
		for k := range flat[i] {
			keys[k] = true
		}
	}
	rank := map[string]int{}
	for i, k := range paramOrder {
		rank[k] = i + 1
	}
	ordered := make([]string, 0, len(keys))
	for k := range keys {
		ordered = append(ordered, k)
	}
	sort.Slice(ordered, func(i, j int) bool {
		ri, rj := rank[ordered[i]], rank[ordered[j]]
		if ri != rj {
			if ri == 0 {
				return false
			}
			if rj == 0 {
				return true
			}
			return ri < rj
		}
		return ordered[i] < ordered[j]
	})
	t := &wfTable{}
	var varying, fixed []string
	for _, k := range ordered {
		same := true
		for _, f := range flat {
			if f[k] != flat[0][k] {
				same = false
				break
			}
		}
		if same && len(flat) > 1 {
			fixed = append(fixed, paramLabel(k)+" "+flat[0][k])
		} else {
			varying = append(varying, k)
		}
	}
	for _, k := range varying {
		t.ParamCols = append(t.ParamCols, paramLabel(k))
	}
	for i, w := range wf.Windows {
		r := wfRow{W: w}
		for _, k := range varying {
			v, ok := flat[i][k]
			if !ok {
				v = "–"
			}
			r.Params = append(r.Params, v)
		}
		t.Rows = append(t.Rows, r)
	}
	t.Fixed = strings.Join(fixed, ", ")
	return t
}
