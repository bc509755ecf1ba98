package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// Second factors in real headless Chromium: alice enrols an authenticator
// app on the account page (QR code and secret, confirmed by a code the
// test computes as the app would), then signs in to a relying party:
// after her password the second-factor page asks for a code, and the
// relying party's go-oidc verifies an ID token whose acr is the MFA
// class. Neither page breaks the CSP (the QR code is inline SVG).
//
// Set OAUTH2D_UPDATE_SCREENSHOTS=1 to rewrite docs/second-factor.png and
// docs/account-security.png from this run.
func TestBrowserSecondFactor(t *testing.T) {
	chromium := findChromium(t)
	app := newRelyingParty(t)
	// The clock starts a minute back, so that the sign-in's code, a
	// minute later, is of another time step than the enrolment's and the
	// tokens are issued at the real time the relying party checks.
	clock := &testClock{now: time.Now().Add(-time.Minute)}
	s := webtest.New(t, webtest.Options{RedirectURI: app.URL + "/callback", Now: clock.Now})
	app.configureAs(t, s, webtest.ThirdPartyID, webtest.ThirdPartySecret, "openid", "profile", "offline_access")

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	ctx, stop := newBrowser(ctx, t, chromium)
	defer stop()
	violations := watchCSP(ctx)

	var secret string
	var securityShot, secondFactorShot []byte
	steps := []struct {
		name string
		run  func() error
	}{
		{"sign in with the password", func() error {
			return chromedp.Do(ctx, chromedp.Navigate(s.URL+"/login"), chromedp.WaitVisible(chromedp.ID("username")),
				chromedp.SendKeys(chromedp.ID("username"), "alice"), chromedp.SendKeys(chromedp.ID("password"), webtest.AlicePassword),
				chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("sign-out")))
		}},
		{"begin enrolment on the account page", func() error {
			return chromedp.Do(ctx, chromedp.Navigate(s.URL+"/account/security"), chromedp.Click(chromedp.ID("begin-totp")),
				chromedp.WaitVisible(chromedp.ID("totp-qr")))
		}},
		{"screenshot the account page", func() (err error) {
			securityShot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
			return err
		}},
		{"confirm a code of the app", func() (err error) {
			if secret, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("totp-secret"))); err != nil {
				return err
			}
			code, err := account.TOTPCode(strings.TrimSpace(secret), clock.Now())
			if err != nil {
				return err
			}
			return chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Click(chromedp.ID("confirm-totp")),
				chromedp.WaitVisible(chromedp.ID("recovery-codes")))
		}},
		{"forget the session", func() error {
			_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
			return err
		}},
		{"sign in to the app with the password", func() error {
			clock.Advance(time.Minute)
			return chromedp.Do(ctx, chromedp.Navigate(app.URL+"/"), chromedp.Click(chromedp.ID("login-with")),
				chromedp.WaitVisible(chromedp.ID("username")),
				chromedp.SendKeys(chromedp.ID("username"), "alice"), chromedp.SendKeys(chromedp.ID("password"), webtest.AlicePassword),
				chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("verify-totp")))
		}},
		{"screenshot the second-factor page", func() (err error) {
			secondFactorShot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
			return err
		}},
		{"enter the app's code and allow", func() error {
			code, err := account.TOTPCode(strings.TrimSpace(secret), clock.Now())
			if err != nil {
				return err
			}
			return chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Click(chromedp.ID("verify-totp")),
				chromedp.WaitVisible(chromedp.ID("allow")), chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
		}},
	}
	for _, st := range steps {
		if err := st.run(); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (browser at %s; client: %v; CSP violations: %q)", st.name, err, loc, app.failure(), violations())
		}
	}
	result, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("result")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sub=" + s.Alice.ID, "acr=" + account.ACRMFA, "amr=pwd,otp,mfa"} {
		if !strings.Contains(result, want) {
			t.Errorf("callback page %q lacks %q", result, want)
		}
	}
	if v := violations(); len(v) > 0 {
		t.Errorf("content security policy violations: %q", v)
	}
	saveScreenshots(t, map[string][]byte{"second-factor.png": secondFactorShot, "account-security.png": securityShot})
}
