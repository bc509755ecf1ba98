package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// A person signed in in Chromium and on a phone sees both sessions on the
// sessions page, this one marked, and signs the phone out with "Sign out
// all other sessions". Set OAUTH2D_UPDATE_SCREENSHOTS=1 to rewrite
// docs/account.png (the sessions page) from this run.
func TestBrowserSessionsPage(t *testing.T) {
	chromium := findChromium(t)
	s := webtest.New(t, webtest.Options{})
	phone := signedInAs(t, s, "alice", webtest.AlicePassword, iphoneUA)

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	ctx, stop := newBrowser(ctx, t, chromium)
	defer stop()
	violations := watchCSP(ctx)

	var shot []byte
	steps := []struct {
		name string
		run  func() error
	}{
		{"sign in", func() error {
			return chromedp.Do(ctx, chromedp.Navigate(s.URL+"/login"), chromedp.WaitVisible(chromedp.ID("username")),
				chromedp.SendKeys(chromedp.ID("username"), "alice"),
				chromedp.SendKeys(chromedp.ID("password"), webtest.AlicePassword),
				chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(`a[href="/account/sessions"]`))
		}},
		{"open the sessions page", func() error {
			return chromedp.Do(ctx, chromedp.Click(`a[href="/account/sessions"]`), chromedp.WaitVisible(chromedp.ID("end-others")))
		}},
		{"see both sessions, this one marked", func() error {
			text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("ul.sessions").innerText`))
			if err != nil {
				return err
			}
			first, _, _ := strings.Cut(text, "Sign out")
			if !strings.Contains(first, "Chrome on Linux (this session)") || !strings.Contains(text, "Safari on iPhone") {
				return fmt.Errorf("the sessions read %q", text)
			}
			return nil
		}},
		{"screenshot the sessions page", func() (err error) {
			shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
			return err
		}},
		{"sign out all other sessions", func() error {
			return chromedp.Do(ctx, chromedp.Click(chromedp.ID("end-others")), chromedp.WaitVisible(`p[role="status"]`))
		}},
		{"see only this session", func() error {
			n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("ul.sessions > li").length`))
			if err != nil {
				return err
			}
			if n != 1 {
				return fmt.Errorf("%d sessions listed", n)
			}
			return nil
		}},
	}
	for _, st := range steps {
		if err := st.run(); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (browser at %s; CSP violations: %q)", st.name, err, loc, violations())
		}
	}
	if p := phone.Get("/account"); p.Status != http.StatusFound {
		t.Fatalf("the phone is still signed in: %d", p.Status)
	}
	if v := violations(); len(v) > 0 {
		t.Errorf("content security policy violations: %q", v)
	}
	saveScreenshots(t, map[string][]byte{"account.png": shot})
}
