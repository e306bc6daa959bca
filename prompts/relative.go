package prompts

import (
	"embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"text/template"
)

//go:embed templates/user_relative.tmpl
var relativeFS embed.FS

// loadRelative parses the user template without absolute dates.
type relativeTemplate struct {
	tm   *template.Template
	hash string
}

var loadRelative = sync.OnceValues(func() (relativeTemplate, error) {
	src, err := relativeFS.ReadFile("templates/user_relative.tmpl")
	if err != nil {
		return relativeTemplate{}, fmt.Errorf("prompts: %w", err)
	}
	tm, err := template.New("user_relative.tmpl").Option("missingkey=error").Parse(string(src))
	if err != nil {
		return relativeTemplate{}, fmt.Errorf("prompts: parse user_relative.tmpl: %w", err)
	}
	return relativeTemplate{tm: tm, hash: Hash(src)}, nil
})

// RenderUserRelative renders the user prompt without absolute time: the
// decision is "now", candles are "t-1" (the last closed), "t-2", ... and no
// date, weekday or timestamp is shown. The caller rebases the prices in d
// (see agent/advisor/transform); the template says they are an index.
// It returns the prompt and its template's hash.
func RenderUserRelative(d Data) (user, hash string, err error) {
	t, err := loadTemplates()
	if err != nil {
		return "", "", err
	}
	rt, err := loadRelative()
	if err != nil {
		return "", "", err
	}
	if len(d.Snapshots) == 0 {
		return "", "", errors.New("prompts: no market snapshot")
	}
	v := newUserView(t, d)
	v.Now = "now"
	rows := d.CandleRows
	if rows <= 0 {
		rows = DefaultCandleRows
	}
	for i := range v.Markets {
		s := d.Snapshots[v.Markets[i].Symbol]
		cs := s.Candles[max(0, len(s.Candles)-rows):]
		v.Markets[i].LastOpen, v.Markets[i].TickerTime = "t-1", "now"
		var b strings.Builder
		for j, c := range cs {
			if j > 0 {
				b.WriteByte('\n')
			}
			b.WriteString("  t-")
			b.WriteString(strconv.Itoa(len(cs) - j))
			for _, x := range [...]float64{c.Open, c.High, c.Low, c.Close, c.Volume} {
				b.WriteString(" | ")
				b.WriteString(num(x))
			}
		}
		v.Markets[i].Table = b.String()
	}
	var out strings.Builder
	if err := rt.tm.Execute(&out, v); err != nil {
		return "", "", fmt.Errorf("prompts: user (relative): %w", err)
	}
	return out.String(), rt.hash, nil
}
