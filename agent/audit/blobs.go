package audit

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Prompts stored once. A model request repeats, at every call, parts that
// rarely change: the system text (rules, the policy in words, the response
// schema) and the response format. RecordLLMCall stores each such part
// once in the blobs table, under the SHA-256 of its bytes, and keeps in the
// call record the request as parts: literal text, and blob hashes. Joining
// the parts gives back the exact bytes sent. The hashes are inside the
// chained record, so Verify covers the blobs: it rehashes each blob a
// record refers to.

// RequestPart is one piece of a stored request: literal text, or the hash
// of a blob holding text shared with other calls.
type RequestPart struct {
	Text string `json:"text,omitempty"`
	Blob string `json:"blob,omitempty"` // SHA-256 of the blob's bytes, hex
}

// minBlob is the smallest part worth storing once: below it a reference
// costs about as much as the text. minDynBlob is the smallest unique text
// (the user message, a raw response) kept compressed in blobs rather than
// in the record (not in scratch stores, which favour speed).
const (
	minBlob    = 512
	minDynBlob = 512
)

// blobSet is blobs to store in a write: hash -> bytes.
type blobSet map[string][]byte

// ref stores b once (in bs, written with the record) and returns its hash.
func (bs blobSet) ref(b []byte) string {
	h := blobHash(b)
	bs[h] = b
	return h
}

// textRef is text as a blob hash when it is long enough to be kept in
// blobs (never in a scratch store), or "".
func (s *Store) textRef(text string, bs blobSet) string {
	if s.scratch || len(text) < minDynBlob {
		return ""
	}
	return bs.ref([]byte(text))
}

// blobHash is the key of a blob: the SHA-256 of its bytes, hex.
func blobHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// splitRequest (adding the blobs to store to blobs) finds the static parts of a request body (the system
// message, the response format, tools; in the offline form the system
// text) and returns the request as parts, and the blobs to store (by
// hash). It returns nil parts when nothing is worth sharing or the request
// is not JSON. The request is redacted first; joining the parts gives the
// redacted request back byte for byte (checked here).
func (s *Store) splitRequest(request string, blobs blobSet) []RequestPart {
	if len(request) < minBlob {
		return nil
	}
	if s.redact != nil {
		request = s.redact(request)
	}
	// Fast path: the static parts of the previous request, found again
	// byte for byte (a backtest sends the same system text at every
	// decision, and parsing each request was most of what storing it
	// cost). Any split that joins back exactly is a faithful record.
	s.smu.Lock()
	last := s.lastStatic
	s.smu.Unlock()
	var spans []blobSpan
	for _, c := range last {
		i := strings.Index(request, c.text)
		if i < 0 {
			spans = nil
			break
		}
		spans = append(spans, blobSpan{at: i, end: i + len(c.text), part: c})
	}
	fast := spans != nil
	if !fast {
		raw := []byte(request)
		for _, sp := range staticSpans(raw) {
			b := raw[sp.at:sp.end]
			spans = append(spans, blobSpan{at: sp.at, end: sp.end, part: staticPart{text: string(b), b: b, hash: blobHash(b)}})
		}
	}
	if len(spans) == 0 {
		return nil
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].at < spans[j].at })
	var (
		parts  []RequestPart
		mine   = blobSet{}
		static []staticPart
		pos    int
	)
	text := func(t string) {
		if h := s.textRef(t, mine); h != "" {
			parts = append(parts, RequestPart{Blob: h})
		} else {
			parts = append(parts, RequestPart{Text: t})
		}
	}
	for _, sp := range spans {
		if sp.at < pos {
			continue // overlapping (a value inside another): keep the first
		}
		if sp.at > pos {
			text(request[pos:sp.at])
		}
		mine[sp.part.hash] = sp.part.b
		parts = append(parts, RequestPart{Blob: sp.part.hash})
		static = append(static, sp.part)
		pos = sp.end
	}
	if pos < len(request) {
		text(request[pos:])
	}
	// Joining must give the request back exactly, or it is stored whole.
	pos = 0
	for _, p := range parts {
		if p.Blob != "" {
			b := mine[p.Blob]
			if len(request)-pos < len(b) || request[pos:pos+len(b)] != string(b) {
				return nil
			}
			pos += len(b)
			continue
		}
		if !strings.HasPrefix(request[pos:], p.Text) {
			return nil
		}
		pos += len(p.Text)
	}
	if pos != len(request) {
		return nil
	}
	for h, b := range mine {
		blobs[h] = b
	}
	if !fast {
		s.smu.Lock()
		s.lastStatic = static
		s.smu.Unlock()
	}
	return parts
}

// staticPart is a static part of a request: its text, the same bytes,
// and their blob hash.
type staticPart struct {
	text string
	b    []byte
	hash string
}

// blobSpan is a byte range of a request stored as a blob (part, once
// known).
type blobSpan struct {
	at, end int
	part    staticPart
}

// staticSpans finds the static parts of a request (the system message,
// the response format, tools; in the offline form the system text) as
// byte ranges of raw; nil when raw is not JSON or has none.
func staticSpans(raw []byte) []blobSpan {
	var req struct {
		System   json.RawMessage `json:"system"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		ResponseFormat json.RawMessage `json:"response_format"`
		Tools          json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil
	}
	cands := []json.RawMessage{req.System, req.ResponseFormat, req.Tools}
	for _, m := range req.Messages {
		if m.Role == "system" || m.Role == "developer" {
			cands = append(cands, m.Content)
		}
	}
	var spans []blobSpan
	for _, c := range cands {
		if len(c) < minBlob {
			continue
		}
		i := bytes.Index(raw, c)
		if i < 0 {
			continue
		}
		spans = append(spans, blobSpan{at: i, end: i + len(c)})
	}
	return spans
}

const insertBlobSQL = `INSERT INTO blobs (hash, codec, body, created_at) VALUES (?, ?, ?, ?)`

// encodeBlob is how a blob is stored: deflated when that saves a tenth or
// more (never in a scratch store).
func (s *Store) encodeBlob(b []byte) (codec string, stored []byte) {
	if s.scratch || len(b) < 256 {
		return "", b
	}
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	zw.Write(b)
	zw.Close()
	if buf.Len() > len(b)*9/10 {
		return "", b
	}
	return "deflate", buf.Bytes()
}

// decodeBlob gives back the bytes of a stored blob.
func decodeBlob(codec string, stored []byte) ([]byte, error) {
	switch codec {
	case "":
		return stored, nil
	case "deflate":
		b, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(stored)), 1<<30))
		if err != nil {
			return nil, fmt.Errorf("inflate: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown codec %q", codec)
}

// putBlobs stores blobs in the write transaction (a blob already stored
// stays as it is).
func (w *writeTx) putBlobs(blobs blobSet) error {
	if len(blobs) == 0 {
		return nil
	}
	hashes := make([]string, 0, len(blobs))
	for h := range blobs {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	for _, h := range hashes {
		if w.s.blobSeen(h) {
			continue
		}
		codec, stored := w.s.encodeBlob(blobs[h])
		if _, err := w.tx.ExecContext(w.ctx, insertBlobSQL, h, codec, stored, w.s.now()); err != nil {
			return fmt.Errorf("audit: store blob: %w", err)
		}
		w.newBlobs = append(w.newBlobs, h)
	}
	return nil
}

// blobSeen reports whether this store committed blob h already (wmu held).
func (s *Store) blobSeen(h string) bool { return s.blobs[h] }

// errBlobMissing is returned when a record refers to a blob that is not
// in the database.
var errBlobMissing = errors.New("blob missing")

// readBlob returns the bytes of blob h.
func (s *Store) readBlob(ctx context.Context, h string) ([]byte, error) {
	var (
		codec string
		b     []byte
	)
	err := s.queryRow(ctx, `SELECT codec, body FROM blobs WHERE hash = CAST(? AS TEXT)`, h).Scan(&codec, &b)
	if isNoRows(err) {
		return nil, fmt.Errorf("audit: blob %s: %w", h, errBlobMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: blob %s: %w", h, err)
	}
	if b, err = decodeBlob(codec, b); err != nil {
		return nil, fmt.Errorf("audit: blob %s: %w", h, err)
	}
	return b, nil
}

// readText is the text of blob h, checked against its hash.
func (s *Store) readText(ctx context.Context, h string) (string, error) {
	b, err := s.readBlob(ctx, h)
	if err != nil {
		return "", err
	}
	if blobHash(b) != h {
		return "", fmt.Errorf("audit: blob %s does not match its hash (edited)", h)
	}
	return string(b), nil
}

// joinParts gives back a request stored as parts.
func (s *Store) joinParts(ctx context.Context, parts []RequestPart) (string, error) {
	var sb strings.Builder
	for _, p := range parts {
		if p.Blob == "" {
			sb.WriteString(p.Text)
			continue
		}
		t, err := s.readText(ctx, p.Blob)
		if err != nil {
			return "", err
		}
		sb.WriteString(t)
	}
	return sb.String(), nil
}

// resolveCall fills c.Request and c.Response from the blobs they were
// stored in, as they were sent and received.
func (s *Store) resolveCall(ctx context.Context, c *LLMCall) error {
	if len(c.RequestParts) > 0 {
		req, err := s.joinParts(ctx, c.RequestParts)
		if err != nil {
			return fmt.Errorf("audit: request of call %d of run %s: %w", c.Attempt, c.RunID, err)
		}
		c.Request, c.RequestParts = req, nil
	}
	if c.ResponseBlob != "" {
		resp, err := s.readText(ctx, c.ResponseBlob)
		if err != nil {
			return fmt.Errorf("audit: response of call %d of run %s: %w", c.Attempt, c.RunID, err)
		}
		c.Response, c.ResponseBlob = resp, ""
	}
	return nil
}

// resolveResponse fills r.Raw from its blob.
func (s *Store) resolveResponse(ctx context.Context, r *ResponseRecord) error {
	if r.RawBlob == "" {
		return nil
	}
	raw, err := s.readText(ctx, r.RawBlob)
	if err != nil {
		return fmt.Errorf("audit: raw response of run %s: %w", r.RunID, err)
	}
	r.Raw, r.RawBlob = raw, ""
	return nil
}

// blobRefs returns the blob hashes a record body refers to (llm_call and
// response records).
func blobRefs(kind string, body []byte) []string {
	if (kind != KindLLMCall && kind != KindResponse && kind != KindState) || !bytes.Contains(body, []byte(`_blob"`)) && !bytes.Contains(body, []byte(`"request_parts"`)) {
		return nil
	}
	var c struct {
		Parts    []RequestPart `json:"request_parts"`
		Response string        `json:"response_blob"`
		Raw      string        `json:"raw_blob"`
		State    string        `json:"state_blob"`
	}
	if kind == KindState && !bytes.HasPrefix(body, stateBlobPrefix) {
		return nil // a state stored whole
	}
	if json.Unmarshal(body, &c) != nil {
		return nil
	}
	var hs []string
	for _, p := range c.Parts {
		if p.Blob != "" {
			hs = append(hs, p.Blob)
		}
	}
	for _, h := range []string{c.Response, c.Raw, c.State} {
		if h != "" {
			hs = append(hs, h)
		}
	}
	return hs
}

// blobChecker checks, once per blob, that the blobs records refer to
// exist and match their hashes (Verify).
type blobChecker struct {
	s    *Store
	seen map[string]string // hash -> "" when good, else the problem
}

// check returns the problem ("deleted" or "edited") and its detail for the
// first bad blob among hs; "" when all are good.
func (bc *blobChecker) check(ctx context.Context, hs []string) (problem, detail string, err error) {
	for _, h := range hs {
		p, ok := bc.seen[h]
		if !ok {
			var (
				codec string
				b     []byte
			)
			qerr := bc.s.db.QueryRowContext(ctx, `SELECT codec, body FROM blobs WHERE hash = CAST(? AS TEXT)`, h).Scan(&codec, &b)
			if qerr == nil {
				b, qerr = decodeBlob(codec, b)
				if qerr != nil {
					p, qerr = "edited", nil
				}
			}
			switch {
			case p != "":
			case isNoRows(qerr):
				p = "deleted"
			case qerr != nil:
				return "", "", qerr
			case blobHash(b) != h:
				p = "edited"
			}
			bc.seen[h] = p
		}
		switch p {
		case "deleted":
			return p, fmt.Sprintf("blob %s… that its request refers to is missing from the blobs table", h[:12]), nil
		case "edited":
			return p, fmt.Sprintf("blob %s… that its request refers to does not match its hash", h[:12]), nil
		}
	}
	return "", "", nil
}

// redactText is text redacted as a record body would be.
func (s *Store) redactText(text string) string {
	if s.redact == nil {
		return text
	}
	return s.redact(text)
}

// A state record (the state a decision was judged against) whose JSON is
// long (a market's order book makes it about 2.4 KB) is stored in a blob,
// deflated, and the record's body is {"state_blob":"HASH"}: the hash is in
// the chained record, verify rehashes the blob, and every reader gets the
// state's JSON back byte for byte through stateJSON. Not in scratch
// stores (backtests), which favour speed.
var stateBlobPrefix = []byte(`{"state_blob":`)

type stateRef struct {
	Blob string `json:"state_blob"`
}

// stateRecordBody is the body to record for a state's JSON (adding the
// blob to store to blobs).
func (s *Store) stateRecordBody(state []byte, blobs blobSet) []byte {
	h := s.textRef(string(state), blobs)
	if h == "" {
		return state
	}
	body, err := json.Marshal(stateRef{Blob: h})
	if err != nil {
		return state
	}
	return body
}

// stateJSON is a state record's JSON: its body, or the blob it names
// (checked against its hash).
func (s *Store) stateJSON(ctx context.Context, body []byte) ([]byte, error) {
	if !bytes.HasPrefix(body, stateBlobPrefix) {
		return body, nil
	}
	var r stateRef
	if err := json.Unmarshal(body, &r); err != nil || r.Blob == "" {
		return nil, fmt.Errorf("audit: state record names no blob: %s", body)
	}
	text, err := s.readText(ctx, r.Blob)
	if err != nil {
		return nil, err
	}
	return []byte(text), nil
}
