// Package replay is the advisor that answers from recorded responses — from
// the audit store or a JSONL file — so a run can be reproduced exactly. It
// never invents an answer: no recording is an error.
package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"unicode/utf8"

	"github.com/warden-trading/warden/agent/advisor"
)

// Source yields the raw response recorded for a run (the audit store
// implements it). ok is false when nothing was recorded.
type Source interface {
	RecordedResponse(ctx context.Context, runID string) (raw []byte, ok bool, err error)
}

// Advisor replays a Source.
type Advisor struct {
	src   Source
	model string
}

var _ advisor.Advisor = (*Advisor)(nil)

// New returns an advisor answering from src. model is what Reply.Model
// reports ("" means "replay").
func New(src Source, model string) *Advisor {
	if model == "" {
		model = "replay"
	}
	return &Advisor{src: src, model: model}
}

func (a *Advisor) Name() string { return "replay" }

// Advise returns the bytes recorded for req.RunID, unchanged.
func (a *Advisor) Advise(ctx context.Context, req advisor.Request) (advisor.Reply, error) {
	rep := advisor.Reply{Advisor: a.Name(), Model: a.model}
	if req.RunID == "" {
		return rep, &advisor.Error{Kind: advisor.KindInput, Advisor: a.Name(), Msg: "request has no run id to replay"}
	}
	raw, ok, err := a.src.RecordedResponse(ctx, req.RunID)
	switch {
	case err != nil:
		return rep, &advisor.Error{Kind: advisor.KindTransport, Advisor: a.Name(), Msg: "reading the recording of run " + strconv.Quote(req.RunID), Err: err}
	case !ok:
		return rep, &advisor.Error{Kind: advisor.KindNoRecording, Advisor: a.Name(), Msg: "no recorded response for run " + strconv.Quote(req.RunID)}
	}
	rep.Raw = bytes.Clone(raw)
	return rep, nil
}

// FileSource holds recordings read from a JSONL file: one object per line,
// {"run_id": "...", "raw": ...} or {"index": N, "raw": ...}. raw is either
// a JSON string holding the model's text (replayed as that text) or any
// other JSON value (replayed as its exact bytes in the file). A record
// keyed by index answers RecordedResponse(ctx, strconv.Itoa(N)).
type FileSource struct {
	byKey map[string][]byte
}

var _ Source = (*FileSource)(nil)

// LoadFile reads a recordings file.
func LoadFile(path string) (*FileSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	fs, err := ReadJSONL(f)
	if err != nil {
		return nil, fmt.Errorf("replay: %s: %w", path, err)
	}
	return fs, nil
}

// ReadJSONL parses recordings from r. Duplicate keys, lines without a key
// or without raw are errors.
func ReadJSONL(r io.Reader) (*FileSource, error) {
	fs := &FileSource{byKey: map[string][]byte{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec struct {
			RunID *string         `json:"run_id"`
			Index *int            `json:"index"`
			Raw   json.RawMessage `json:"raw"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		var key string
		switch {
		case rec.RunID != nil && *rec.RunID != "":
			key = *rec.RunID
		case rec.Index != nil:
			key = strconv.Itoa(*rec.Index)
		default:
			return nil, fmt.Errorf("line %d: neither run_id nor index", line)
		}
		if len(rec.Raw) == 0 || string(rec.Raw) == "null" {
			return nil, fmt.Errorf("line %d: no raw response", line)
		}
		raw := []byte(rec.Raw)
		if rec.Raw[0] == '"' {
			var s string
			if err := json.Unmarshal(rec.Raw, &s); err != nil {
				return nil, fmt.Errorf("line %d: raw: %w", line, err)
			}
			raw = []byte(s)
		} else {
			raw = bytes.Clone(raw)
		}
		if _, dup := fs.byKey[key]; dup {
			return nil, fmt.Errorf("line %d: %q recorded twice", line, key)
		}
		fs.byKey[key] = raw
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return fs, nil
}

// Len is the number of recordings.
func (fs *FileSource) Len() int { return len(fs.byKey) }

// RecordedResponse returns the recording for runID (or index).
func (fs *FileSource) RecordedResponse(_ context.Context, runID string) ([]byte, bool, error) {
	raw, ok := fs.byKey[runID]
	return raw, ok, nil
}

// WriteJSONL appends one recording line ({"run_id", "raw" as a JSON
// string}) to w, the format LoadFile reads.
func WriteJSONL(w io.Writer, runID string, raw []byte) error {
	if !utf8.Valid(raw) {
		return fmt.Errorf("replay: run %q: raw response is not valid UTF-8 and cannot be recorded exactly", runID)
	}
	b, err := json.Marshal(struct {
		RunID string `json:"run_id"`
		Raw   string `json:"raw"`
	}{runID, string(raw)})
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
