package redact

import (
	"bytes"
	"io"
	"sync"
)

// maxHeld bounds what a Writer holds back waiting for the end of a line.
// A longer line without a newline is written in pieces, each cut where no
// secret form can straddle it.
const maxHeld = 64 << 10

// Writer redacts what is written through it before it reaches the
// underlying writer. It works line by line: a complete line (ended by \n
// or \r) is redacted and written at once; a partial line is held until
// its end, Flush,
// or maxHeld bytes, so a secret split over several Write calls is still
// caught. It is safe for concurrent use.
type Writer struct {
	r   *Redactor
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// Writer returns a redacting writer in front of w. Call Flush when done
// writing, or the last partial line is never written.
func (r *Redactor) Writer(w io.Writer) *Writer {
	return &Writer{r: r, w: w}
}

// Unwrap returns the writer behind w, so a caller can ask whether the
// output is a terminal (a progress bar is drawn only there). Writing to it
// directly bypasses the redaction.
func (w *Writer) Unwrap() io.Writer { return w.w }

// Write redacts and writes every complete line of p (with what was held
// before it), and holds the rest. It reports len(p) when the complete
// lines were written, whatever their redacted length.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	// A carriage return ends a line too: a progress display redrawn with
	// \r is shown as it is drawn. No secret form holds either byte.
	if i := bytes.LastIndexAny(w.buf, "\n\r"); i >= 0 {
		if err := w.emit(i + 1); err != nil {
			return 0, err
		}
	}
	for len(w.buf) > maxHeld {
		if err := w.emit(w.safeCut()); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// safeCut is where a line too long to hold may be cut: before the last
// longest-form-minus-one bytes (a form found later must include new bytes,
// so it starts there at the earliest) and before any form that straddles
// that point. It prefers the last white space before it, so a signature=
// or key=value pattern is not cut from its value.
func (w *Writer) safeCut() int {
	t := w.r.table()
	cut := len(w.buf) - (t.longest() - 1)
	cut = t.straddle(w.buf, cut)
	if i := bytes.LastIndexAny(w.buf[:cut], " \t\r"); i > cut/2 {
		cut = i + 1
	}
	if cut <= 0 {
		cut = 1 // never stall: a form longer than maxHeld cannot exist
	}
	return cut
}

// emit redacts and writes buf[:n] and keeps the rest.
func (w *Writer) emit(n int) error {
	out := w.r.Bytes(w.buf[:n])
	_, err := w.w.Write(out)
	rest := copy(w.buf, w.buf[n:])
	w.buf = w.buf[:rest]
	if cap(w.buf) > 4*maxHeld && rest < maxHeld {
		w.buf = append([]byte(nil), w.buf...)
	}
	return err
}

// Flush redacts and writes whatever is held.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return nil
	}
	return w.emit(len(w.buf))
}
