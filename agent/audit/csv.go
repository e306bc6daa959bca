package audit

import (
	"encoding/csv"
	"io"
	"strconv"
)

// CSVWriter writes CSV whose cells a spreadsheet takes as text: a cell
// that starts with =, +, -, @, a tab or a carriage return and is not a
// number is written with a leading apostrophe, so that text a model wrote
// (a reason of "=HYPERLINK(...)") or any other recorded text is never run
// as a formula when the export is opened (CSV injection). Numbers,
// negative ones included, are written as they are.
type CSVWriter struct {
	*csv.Writer
	buf []string
}

// NewCSVWriter returns a CSVWriter writing to w.
func NewCSVWriter(w io.Writer) *CSVWriter { return &CSVWriter{Writer: csv.NewWriter(w)} }

// Write writes one record, each cell made safe (SafeCell).
func (c *CSVWriter) Write(record []string) error {
	c.buf = c.buf[:0]
	for _, s := range record {
		c.buf = append(c.buf, SafeCell(s))
	}
	return c.Writer.Write(c.buf)
}

// SafeCell is s as a spreadsheet cell that cannot start a formula.
func SafeCell(s string) string {
	if s == "" || s == "-" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return s
		}
		return "'" + s
	}
	return s
}
