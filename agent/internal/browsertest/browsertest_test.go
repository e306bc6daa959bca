package browsertest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// One browser for the package's tests: starting Chromium is the slow part.
func TestPages(t *testing.T) {
	b := New(t)

	t.Run("a page that fits", func(t *testing.T) {
		p := b.OpenFile(t, "testdata/clean.html", DefaultWidth)
		if o := p.Overflow(); o.Scrolls() || o.ClientWidth == 0 || o.ClientWidth > DefaultWidth {
			t.Errorf("clean.html overflow = %s; want none, client width ≤ %d", o, DefaultWidth)
		}
		if n := p.RequireReadableLabels(); n != 2 {
			t.Errorf("checked %d labels; want 2", n)
		}
		path := p.Screenshot("clean page")
		png, err := os.ReadFile(path)
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || filepath.Base(path) != "clean_page.png" {
			t.Errorf("screenshot %s: %d bytes, err %v; want a PNG named clean_page.png", path, len(png), err)
		}
	})

	t.Run("a page that overflows and clips", func(t *testing.T) {
		p := b.OpenFile(t, "testdata/broken.html", DefaultWidth)
		o := p.Overflow()
		if o.ScrollWidth <= o.ClientWidth {
			t.Errorf("broken.html scrollWidth %d ≤ clientWidth %d; want the 2000 px table to overflow", o.ScrollWidth, o.ClientWidth)
		}
		if len(o.Scrollers) != 1 || !strings.HasPrefix(o.Scrollers[0], "div.box") {
			t.Errorf("scrollers = %q; want div.box", o.Scrollers)
		}
		if !strings.Contains(strings.Join(o.Wide, " "), "table") {
			t.Errorf("elements past the edge = %q; want the table", o.Wide)
		}
		ls := p.Labels()
		clipped := Clipped(ls)
		if len(clipped) != 1 || clipped[0].Text != "2022-10-11" || clipped[0].SVG != "broken chart" {
			t.Errorf("clipped = %v; want the last date label", clipped)
		}
		over := Overlapping(ls)
		if len(over) != 1 || over[0][0].Text != "first" || over[0][1].Text != "second" {
			t.Errorf("overlapping = %v; want first over second", over)
		}
	})

	t.Run("an http page at a narrow width", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `<!DOCTYPE html><html><body style="margin:0"><div style="width:700px">x</div></body></html>`)
		}))
		defer srv.Close()
		wide := b.Open(t, srv.URL, 1000).Overflow()
		narrow := b.Open(t, srv.URL, 500).Overflow()
		if wide.Scrolls() || !narrow.Scrolls() || narrow.ClientWidth > 500 {
			t.Errorf("700 px div at 1000 px: %s; at 500 px: %s; want overflow only at 500", wide, narrow)
		}
	})
}

// fakeTB records how New gave up.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

type stop struct{}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = fmt.Sprintf(format, args...)
	panic(stop{})
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	panic(stop{})
}

func newWithout(t *testing.T, ci string) *fakeTB {
	t.Setenv("WARDEN_CHROMIUM", filepath.Join(t.TempDir(), "no-such-browser"))
	t.Setenv("CI", ci)
	f := &fakeTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(stop); !ok {
					panic(r)
				}
			}
		}()
		New(f)
	}()
	return f
}

// TestMissingBrowser: skip locally, fail on CI.
func TestMissingBrowser(t *testing.T) {
	local := newWithout(t, "")
	if local.failed != "" || !strings.Contains(local.skipped, "apt-get install") || !strings.Contains(local.skipped, "no-such-browser") {
		t.Errorf("without a browser and CI unset: skipped %q, failed %q; want a skip saying how to install one", local.skipped, local.failed)
	}
	ci := newWithout(t, "true")
	if ci.skipped != "" || !strings.Contains(ci.failed, "CI=true requires a browser") {
		t.Errorf("without a browser and CI=true: skipped %q, failed %q; want a failure", ci.skipped, ci.failed)
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{"report 1400px": "report_1400px", "../x": ".._x", "": "page", "a/b:c": "a_b_c"} {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q) = %q; want %q", in, got, want)
		}
	}
}
