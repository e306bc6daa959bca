package openai

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBody caps what one attempt reads of a response body. A body beyond
// it is not read further: the attempt fails, and is not retried.
const maxBody = 8 << 20

// wire is what one HTTP attempt put on and took off the wire.
type wire struct {
	request  []byte
	status   int
	header   http.Header
	response []byte
	oversize bool // the body went on past maxBody
}

type wireKey struct{}

// withWire makes the recorder fill w for requests made with the context.
func withWire(ctx context.Context, w *wire) context.Context {
	return context.WithValue(ctx, wireKey{}, w)
}

// recorder is the HTTP transport under go-openai. It records the exact
// request body and the response's status, headers (Retry-After, which
// go-openai's errors do not expose) and body; and it puts
// "temperature":0 on the wire, which go-openai drops because its float32
// field is omitempty.
type recorder struct {
	base            http.RoundTripper
	temperatureZero bool
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	w, _ := req.Context().Value(wireKey{}).(*wire)
	if w == nil {
		w = &wire{}
	}
	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading request body: %w", err)
		}
		if r.temperatureZero {
			body = injectTemperatureZero(body)
		}
		w.request = body
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.ContentLength = int64(len(body))
	}
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	w.status, w.header = resp.StatusCode, resp.Header.Clone()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	resp.Body.Close()
	if len(body) > maxBody {
		body, w.oversize = body[:maxBody], true
	}
	w.response = body
	if rerr != nil {
		return nil, fmt.Errorf("reading response body: %w", rerr)
	}
	if w.oversize {
		return nil, fmt.Errorf("response body over %d bytes", maxBody)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// injectTemperatureZero adds "temperature":0 to a JSON object body that
// has no temperature key at the top level.
func injectTemperatureZero(body []byte) []byte {
	if len(body) < 2 || body[0] != '{' || hasTopLevelKey(body, "temperature") {
		return body
	}
	sep := ","
	if bytes.Equal(bytes.TrimSpace(body[1:]), []byte("}")) {
		sep = ""
	}
	out := make([]byte, 0, len(body)+17)
	out = append(out, '{')
	out = append(out, `"temperature":0`...)
	out = append(out, sep...)
	return append(out, body[1:]...)
}

// hasTopLevelKey scans a JSON object for key at depth 1 (strings skipped).
func hasTopLevelKey(b []byte, key string) bool {
	want := `"` + key + `"`
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			if depth == 1 && j < len(b) && string(b[i:j+1]) == want {
				k := j + 1
				for k < len(b) && (b[k] == ' ' || b[k] == '\n' || b[k] == '\t' || b[k] == '\r') {
					k++
				}
				if k < len(b) && b[k] == ':' {
					return true
				}
			}
			i = j
		}
	}
	return false
}

// retryAfter parses a Retry-After header (seconds or an HTTP date), or
// the OpenAI-style retry-after-ms.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
