package browsertest

import (
	"context"

	"github.com/chromedp/chromedp"
)

// Fill sets the value of the form field sel (a CSS selector, such as
// "#username"), as typing it would; any error fails the test.
func (p *Page) Fill(sel, value string) {
	p.t.Helper()
	if err := p.do(chromedp.WaitVisible(sel), chromedp.SetValue(sel, value)); err != nil {
		p.t.Fatalf("browsertest: fill %s on %s: %v", sel, p.URL, err)
	}
}

// Submit clicks sel (a submit button) and waits until the page it leads
// to has loaded; it returns that page's HTTP status (after redirects).
func (p *Page) Submit(sel string) int {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(sel))
	if err != nil {
		p.t.Fatalf("browsertest: submit %s on %s: %v", sel, p.URL, err)
	}
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err == nil {
		p.URL = url
	}
	return int(resp.Status)
}
