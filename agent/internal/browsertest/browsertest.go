// Package browsertest opens Warden's HTML pages (the backtest report, the
// review page, a console) in a real headless Chromium for tests: it
// measures horizontal overflow at a given viewport width, finds SVG labels
// cut off by their chart, and saves full-page screenshots for a person to
// look at.
//
// It is for tests only. Without a browser the test is skipped with a
// message saying how to install one, unless CI=true is set: on CI a
// missing browser fails the test, so the checks cannot silently stop
// running.
//
// The browser is Debian's chromium (apt-get install chromium), found as
// $WARDEN_CHROMIUM, chromium, chromium-browser, google-chrome or
// google-chrome-stable on PATH. It runs headless with --no-sandbox (tests
// run as root on CI), no GPU, no /dev/shm, and a host resolver that fails
// every name except localhost and 127.0.0.1, so a page that links a CDN script loads
// offline, quickly, and never reaches the network.
package browsertest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultWidth is the viewport width pages are checked at: a laptop screen.
const DefaultWidth = 1400

// DefaultTimeout bounds each browser step (start, load, evaluate,
// screenshot); generous for a shared 2-core machine. WARDEN_BROWSER_TIMEOUT
// (a Go duration) overrides it.
const DefaultTimeout = 90 * time.Second

// Find returns the path of a Chromium-family browser, or an error naming
// what was looked for.
func Find() (string, error) {
	if p := os.Getenv("WARDEN_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("WARDEN_CHROMIUM=%s: %w", p, err)
		}
		return p, nil
	}
	names := []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no browser found (looked for $WARDEN_CHROMIUM and %s on PATH)", strings.Join(names, ", "))
}

// Browser is one headless browser process, closed when the test ends.
type Browser struct {
	ctx     context.Context // the browser's chromedp context (first tab)
	timeout time.Duration
}

// New starts a headless browser for t. Without one it skips t, or fails it
// when CI=true.
func New(t testing.TB) *Browser {
	t.Helper()
	path, err := Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browsertest: %v; CI=true requires a browser: apt-get install -y --no-install-recommends chromium", err)
		}
		t.Skipf("browsertest: %v; install one with: apt-get install -y --no-install-recommends chromium (with CI=true this test fails instead)", err)
	}
	timeout := DefaultTimeout
	if s := os.Getenv("WARDEN_BROWSER_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("browsertest: WARDEN_BROWSER_TIMEOUT=%q: want a positive Go duration", s)
		}
		timeout = d
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", false),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
		chromedp.Flag("font-render-hinting", "none"),
		chromedp.WindowSize(DefaultWidth, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := attach(ctx, timeout); err != nil {
		t.Fatalf("browsertest: start %s: %v", path, err)
	}
	return &Browser{ctx: ctx, timeout: timeout}
}

// attach makes the first Run on a chromedp context, which starts the
// browser or opens the tab. Whatever that first Run's context is, the
// browser or tab lives only as long as it, so it cannot carry a timeout;
// the wait is bounded here instead.
func attach(ctx context.Context, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("not ready within %s", timeout)
	}
}

// Page is one loaded page in its own tab.
type Page struct {
	t       testing.TB
	ctx     context.Context
	timeout time.Duration
	URL     string
	Width   int
}

// Open loads rawURL (http(s) or file) in a new tab with a viewport of
// width × 900 CSS pixels and waits for its load event. The tab closes when
// the test ends.
func (b *Browser) Open(t testing.TB, rawURL string, width int) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	p := &Page{t: t, ctx: ctx, timeout: b.timeout, URL: rawURL, Width: width}
	if err := attach(ctx, b.timeout); err != nil {
		t.Fatalf("browsertest: new tab: %v", err)
	}
	if err := p.do(chromedp.EmulateViewport(int64(width), 900), chromedp.Navigate(rawURL)); err != nil {
		t.Fatalf("browsertest: open %s at %d px: %v", rawURL, width, err)
	}
	return p
}

// OpenFile loads a local file.
func (b *Browser) OpenFile(t testing.TB, path string, width int) *Page {
	t.Helper()
	return b.Open(t, FileURL(t, path), width)
}

// FileURL is the file:// URL of path.
func FileURL(t testing.TB, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}

func (p *Page) do(steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// Eval evaluates a JavaScript expression in the page and decodes its
// JSON value into T; any error fails the test.
func Eval[T any](p *Page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("browsertest: evaluate on %s: %v", p.URL, err)
	}
	return v
}

// Overflow is the page's horizontal overflow: the document is wider than
// the viewport when ScrollWidth > ClientWidth, and Scrollers lists the
// elements that scroll sideways inside the page (overflow auto or scroll
// with content wider than the box).
type Overflow struct {
	ScrollWidth int      `json:"scrollWidth"`
	ClientWidth int      `json:"clientWidth"`
	Scrollers   []string `json:"scrollers"`
	// Wide lists visible elements whose right edge lies beyond the
	// viewport (the cause of a page-level overflow), at most 10.
	Wide []string `json:"wide"`
}

// Scrolls reports whether anything scrolls sideways.
func (o Overflow) Scrolls() bool { return o.ScrollWidth > o.ClientWidth || len(o.Scrollers) > 0 }

func (o Overflow) String() string {
	return fmt.Sprintf("document scrollWidth %d vs clientWidth %d; sideways scrollers %v; elements past the right edge %v",
		o.ScrollWidth, o.ClientWidth, o.Scrollers, o.Wide)
}

const overflowJS = `(() => {
  const d = document.documentElement;
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (typeof el.className === "string" && el.className ? "." + el.className.trim().split(/\s+/).join(".") : "");
  const scrollers = [], wide = [];
  for (const el of document.body.querySelectorAll("*")) {
    const cs = getComputedStyle(el);
    if ((cs.overflowX === "auto" || cs.overflowX === "scroll") && el.scrollWidth > el.clientWidth + 1) {
      scrollers.push(name(el) + " " + el.scrollWidth + ">" + el.clientWidth);
    }
    const r = el.getBoundingClientRect();
    if (wide.length < 10 && r.width > 0 && r.right > d.clientWidth + 1) {
      wide.push(name(el) + " right " + Math.round(r.right));
    }
  }
  return {scrollWidth: d.scrollWidth, clientWidth: d.clientWidth, scrollers, wide};
})()`

// Overflow measures the page's horizontal overflow.
func (p *Page) Overflow() Overflow {
	p.t.Helper()
	return Eval[Overflow](p, overflowJS)
}

// RequireNoHorizontalOverflow fails the test when anything on the page
// scrolls sideways at the page's width.
func (p *Page) RequireNoHorizontalOverflow() {
	p.t.Helper()
	if o := p.Overflow(); o.Scrolls() {
		p.t.Errorf("%s at %d px scrolls sideways: %s", p.URL, p.Width, o)
	}
}

// Label is an SVG text element as laid out, in CSS pixels relative to the
// viewport.
type Label struct {
	SVG   string  `json:"svg"` // the chart: its aria-label, id, or index
	Text  string  `json:"text"`
	Left  float64 `json:"left"`
	Right float64 `json:"right"`
	Top   float64 `json:"top"`
	Bot   float64 `json:"bottom"`
	// Box is the svg's own box.
	BoxLeft  float64 `json:"boxLeft"`
	BoxRight float64 `json:"boxRight"`
	BoxTop   float64 `json:"boxTop"`
	BoxBot   float64 `json:"boxBottom"`
}

func (l Label) String() string {
	return fmt.Sprintf("%q in %q at x %.1f–%.1f y %.1f–%.1f (chart x %.1f–%.1f y %.1f–%.1f)",
		l.Text, l.SVG, l.Left, l.Right, l.Top, l.Bot, l.BoxLeft, l.BoxRight, l.BoxTop, l.BoxBot)
}

const labelsJS = `(() => {
  const out = [];
  document.querySelectorAll("svg").forEach((svg, i) => {
    if (svg.ownerSVGElement) return; // nested: checked against the outer one
    const r = svg.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return; // not displayed
    const name = svg.getAttribute("aria-label") || svg.id || ("svg " + i);
    svg.querySelectorAll("text").forEach(tx => {
      const b = tx.getBoundingClientRect();
      if (b.width === 0 && b.height === 0) return;
      out.push({svg: name, text: tx.textContent.trim(), left: b.left, right: b.right, top: b.top, bottom: b.bottom,
        boxLeft: r.left, boxRight: r.right, boxTop: r.top, boxBottom: r.bottom});
    });
  });
  return out;
})()`

// Labels returns every displayed SVG text element with its box and its
// chart's box.
func (p *Page) Labels() []Label {
	p.t.Helper()
	return Eval[[]Label](p, labelsJS)
}

// Clipped returns the labels that stick out of their chart (by more than
// half a pixel): an inline SVG clips them, so the reader sees a cut label.
func Clipped(ls []Label) []Label {
	const tol = 0.5
	var out []Label
	for _, l := range ls {
		if l.Left < l.BoxLeft-tol || l.Right > l.BoxRight+tol || l.Top < l.BoxTop-tol || l.Bot > l.BoxBot+tol {
			out = append(out, l)
		}
	}
	return out
}

// Overlapping returns pairs of labels of one chart whose boxes overlap by
// more than a pixel each way: text drawn over text.
func Overlapping(ls []Label) [][2]Label {
	const tol = 1.0
	var out [][2]Label
	for i := range ls {
		for j := i + 1; j < len(ls); j++ {
			a, b := ls[i], ls[j]
			if a.SVG != b.SVG {
				continue
			}
			w := min(a.Right, b.Right) - max(a.Left, b.Left)
			h := min(a.Bot, b.Bot) - max(a.Top, b.Top)
			if w > tol && h > tol {
				out = append(out, [2]Label{a, b})
			}
		}
	}
	return out
}

// RequireReadableLabels fails the test when an SVG label is clipped by its
// chart or drawn over another label, and returns how many labels it
// checked (a page with none fails too: the check would prove nothing).
func (p *Page) RequireReadableLabels() int {
	p.t.Helper()
	ls := p.Labels()
	if len(ls) == 0 {
		p.t.Errorf("%s: no SVG labels displayed; nothing to check", p.URL)
	}
	for _, l := range Clipped(ls) {
		p.t.Errorf("%s at %d px: clipped label %s", p.URL, p.Width, l)
	}
	for _, pair := range Overlapping(ls) {
		p.t.Errorf("%s at %d px: overlapping labels %s and %s", p.URL, p.Width, pair[0], pair[1])
	}
	return len(ls)
}

// Screenshot saves a full-page PNG named name (".png" added) into
// ArtifactsDir and returns its path.
func (p *Page) Screenshot(name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("browsertest: screenshot of %s: %v", p.URL, err)
	}
	path := filepath.Join(ArtifactsDir(p.t), safeName(name)+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatalf("browsertest: %v", err)
	}
	p.t.Logf("screenshot: %s", path)
	return path
}

// ArtifactsDir is where screenshots go: $WARDEN_SCREENSHOTS when set
// (created if missing, kept after the test), else a directory removed
// with the test.
func ArtifactsDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("WARDEN_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("browsertest: WARDEN_SCREENSHOTS: %v", err)
		}
		return d
	}
	return t.TempDir()
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string {
	s = unsafeChars.ReplaceAllString(s, "_")
	if s == "" {
		return "page"
	}
	return s
}
