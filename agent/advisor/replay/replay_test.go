package replay

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/warden-trading/warden/agent/advisor"
)

func TestFileReplay(t *testing.T) {
	fs, err := LoadFile("testdata/recorded.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	a := New(fs, "gpt-4o-2024-08-06")
	tests := []struct {
		run  string
		want string
	}{
		{"run-001", `{"rationale":"r","recommendations":[{"symbol":"BTC/USDT","action":"hold","confidence":0.5,"size_pct":0,"order_type":"limit","limit_price":null,"stop_loss":null,"take_profit":null,"reason":"x"}]}`},
		{"run-002", `{"rationale": "object form,  kept byte for byte", "recommendations": []}`},
		{"7", "not even JSON — replayed as recorded"},
	}
	for _, tt := range tests {
		rep, err := a.Advise(context.Background(), advisor.Request{RunID: tt.run})
		if err != nil {
			t.Fatalf("Advise(%q) = %v", tt.run, err)
		}
		if string(rep.Raw) != tt.want || rep.Advisor != "replay" || rep.Model != "gpt-4o-2024-08-06" || len(rep.Calls) != 0 {
			t.Errorf("Advise(%q) = %q (%s/%s); want %q", tt.run, rep.Raw, rep.Advisor, rep.Model, tt.want)
		}
	}
	if _, err := a.Advise(context.Background(), advisor.Request{RunID: "run-404"}); advisor.KindOf(err) != advisor.KindNoRecording {
		t.Errorf("Advise(unrecorded run) = %v; want kind %s", err, advisor.KindNoRecording)
	}
	if _, err := a.Advise(context.Background(), advisor.Request{}); advisor.KindOf(err) != advisor.KindInput {
		t.Errorf("Advise(no run id) = %v; want kind input", err)
	}
}

type brokenSource struct{}

func (brokenSource) RecordedResponse(context.Context, string) ([]byte, bool, error) {
	return nil, false, errors.New("disk on fire")
}

var _ Source = brokenSource{}

func TestSourceError(t *testing.T) {
	_, err := New(brokenSource{}, "").Advise(context.Background(), advisor.Request{RunID: "x"})
	if advisor.KindOf(err) != advisor.KindTransport || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Advise(broken source) = %v; want a transport error", err)
	}
}

// TestRoundTrip: whatever was recorded comes back byte for byte.
func TestRoundTrip(t *testing.T) {
	raws := map[string][]byte{
		"a": []byte(`{"rationale":"Ünïcode <&> \"quotes\" \\ and\ttabs\n","recommendations":[]}`),
		"b": []byte("  leading and trailing space  "),
		"c": []byte(`{"x":1e-7,"y":0.10000000000000001}`),
	}
	var buf bytes.Buffer
	for _, k := range []string{"a", "b", "c"} {
		if err := WriteJSONL(&buf, k, raws[k]); err != nil {
			t.Fatal(err)
		}
	}
	path := t.TempDir() + "/rec.jsonl"
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	fs, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := New(fs, "")
	for k, want := range raws {
		rep, err := a.Advise(context.Background(), advisor.Request{RunID: k})
		if err != nil || !bytes.Equal(rep.Raw, want) {
			t.Errorf("replay of %q = %q, %v; want %q", k, rep.Raw, err, want)
		}
		rep.Raw[0] = 'X' // the caller's copy; the recording must not change
		again, _ := a.Advise(context.Background(), advisor.Request{RunID: k})
		if !bytes.Equal(again.Raw, want) {
			t.Errorf("mutating a reply changed the recording of %q", k)
		}
	}
	if err := WriteJSONL(&buf, "bad", []byte("\xff")); err == nil {
		t.Errorf("WriteJSONL(invalid UTF-8) = nil error; want error")
	}
}

func TestReadJSONLErrors(t *testing.T) {
	for _, in := range []string{
		`{"raw":"x"}`,
		`{"run_id":"a"}`,
		`{"run_id":"a","raw":null}`,
		`{"run_id":"a","raw":"x"}` + "\n" + `{"run_id":"a","raw":"y"}`,
		`not json`,
	} {
		if _, err := ReadJSONL(strings.NewReader(in)); err == nil {
			t.Errorf("ReadJSONL(%q) = nil error; want error", in)
		}
	}
	if _, err := LoadFile("testdata/missing.jsonl"); err == nil {
		t.Errorf("LoadFile(missing) = nil error")
	}
}
