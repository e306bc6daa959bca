package redact

import (
	"io"
	"strings"
	"testing"
)

// benchSecrets are what a live run registers: a model key, an exchange
// key and secret, a Slack webhook URL and its path, a Telegram token.
var benchSecrets = []string{
	"sk-proj-0123456789abcdefghijklmnopqrstuvwxyz",
	"vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
	"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
	"https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
	"/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
	"123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
}

// benchBody is an audit-sized JSON body (about 8 KB) with no secret.
var benchBody = `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("BTC/USDT close 42005.5 volume 123.4 rsi 55.2; ", 170) + `"}],"max_tokens":12434}`

func BenchmarkString(b *testing.B) {
	r := New(benchSecrets...)
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		_ = r.String(benchBody)
	}
}

func BenchmarkWriterLines(b *testing.B) {
	r := New(benchSecrets...)
	w := r.Writer(io.Discard)
	line := []byte("time=2026-01-01T00:00:00Z level=INFO msg=\"cycle done\" run=r-20260101T000000Z-abcdef verdicts=2 orders=1\n")
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		w.Write(line)
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = New(benchSecrets...)
	}
}
