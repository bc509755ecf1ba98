package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// Passkeys in real headless Chromium with a virtual CTAP2 authenticator
// (DevTools WebAuthn domain): alice registers a passkey on her security
// page, signs out, and signs in to an app with the passkey alone, through
// the whole authorization code flow; then her password leads to the
// second-factor page, where the passkey answers. The pages' script runs under their
// CSP with no violation.
//
// Set OAUTH2D_UPDATE_SCREENSHOTS=1 to rewrite docs/passkeys.png.
func TestBrowserPasskey(t *testing.T) {
	chromium := findChromium(t)
	app := newRelyingParty(t)
	s := webtest.New(t, webtest.Options{Localhost: true, RedirectURI: app.URL + "/callback"})
	app.configureAs(t, s, webtest.ThirdPartyID, webtest.ThirdPartySecret, "openid", "profile", "email")

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ctx, stop := newBrowser(ctx, t, chromium)
	defer stop()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	violations := watchCSP(ctx)
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	authn, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	// presence turns the authenticator's simulated touch on or off: while
	// it is off, the login page's conditional request waits.
	presence := func(ctx context.Context, on bool) error {
		_, err := chromedp.Call(ctx, webauthn.SetAutomaticPresenceSimulation,
			webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: authn.AuthenticatorID, Enabled: on})
		return err
	}

	var securityShot []byte
	var registered uint32 // the passkey's signature counter when registered
	steps := []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"sign in with the password", func(ctx context.Context) error {
			return chromedp.Do(ctx, chromedp.Navigate(s.Issuer+"/login"),
				chromedp.SendKeys(chromedp.ID("username"), "alice"),
				chromedp.SendKeys(chromedp.ID("password"), webtest.AlicePassword),
				chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(`//a[@href="/account/security"]`))
		}},
		{"add a passkey on the security page", func(ctx context.Context) error {
			return chromedp.Do(ctx, chromedp.Click(`//a[@href="/account/security"]`), chromedp.WaitVisible(chromedp.ID("passkey-add")),
				chromedp.SendKeys(chromedp.ID("passkey-name"), "Chromium"),
				chromedp.Click(chromedp.ID("passkey-add")), chromedp.WaitVisible(chromedp.ID("passkeys-notice")))
		}},
		{"see it listed", func(ctx context.Context) error {
			text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".passkey-list").innerText + document.querySelector(".passkey-name").value`))
			if err != nil {
				return err
			}
			if !strings.Contains(text, "Chromium") || !strings.Contains(text, "last used never") {
				return fmt.Errorf("the passkey list reads %q", text)
			}
			keys, err := s.Store.ListPasskeys(ctx, s.Alice.ID)
			if err != nil || len(keys) != 1 {
				return fmt.Errorf("alice's passkeys: %d, %v", len(keys), err)
			}
			registered = keys[0].SignCount
			return nil
		}},
		{"screenshot the security page", func(ctx context.Context) (err error) {
			securityShot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
			return err
		}},
		{"sign out", func(ctx context.Context) error {
			return chromedp.Do(ctx, chromedp.Navigate(s.Issuer+"/account/consents"), chromedp.Click(chromedp.ID("sign-out")),
				chromedp.WaitVisible(`//h1[text()="Signed out"]`))
		}},
		{"open the app's login link", func(ctx context.Context) error {
			if err := presence(ctx, false); err != nil {
				return err
			}
			return chromedp.Do(ctx, chromedp.Navigate(app.URL+"/"), chromedp.Click(chromedp.ID("login-with")),
				chromedp.WaitVisible(chromedp.ID("passkey-sign-in")))
		}},
		{"sign in with the passkey button alone", func(ctx context.Context) error {
			if err := presence(ctx, true); err != nil {
				return err
			}
			return chromedp.Do(ctx, chromedp.Click(chromedp.ID("passkey-sign-in")), chromedp.WaitVisible(chromedp.ID("allow")))
		}},
		{"allow", func(ctx context.Context) error {
			return chromedp.Do(ctx, chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
		}},
		{"sign out again", func(ctx context.Context) error {
			return chromedp.Do(ctx, chromedp.Navigate(s.Issuer+"/logout"), chromedp.Click(chromedp.ID("sign-out")),
				chromedp.WaitVisible(`//h1[text()="Signed out"]`))
		}},
		// The username field's autofill offers the passkey (conditional
		// mediation); the virtual authenticator picks it at once. The
		// consent is remembered, so the app gets its code straight away.
		{"sign in from the autofill", func(ctx context.Context) error {
			return chromedp.Do(ctx, chromedp.Navigate(app.URL+"/"), chromedp.Click(chromedp.ID("login-with")),
				chromedp.WaitVisible(chromedp.ID("result")))
		}},
		{"sign out a third time", func(ctx context.Context) error {
			return chromedp.Do(ctx, chromedp.Navigate(s.Issuer+"/logout"), chromedp.Click(chromedp.ID("sign-out")),
				chromedp.WaitVisible(`//h1[text()="Signed out"]`))
		}},
		// Her password now leads to the second-factor page, since her
		// passkey is a second factor; the passkey answers it there.
		{"sign in to the app with the password", func(ctx context.Context) error {
			if err := presence(ctx, false); err != nil {
				return err
			}
			return chromedp.Do(ctx, chromedp.Navigate(app.URL+"/"), chromedp.Click(chromedp.ID("login-with")),
				chromedp.WaitVisible(chromedp.ID("password")),
				chromedp.SendKeys(chromedp.ID("username"), "alice"),
				chromedp.SendKeys(chromedp.ID("password"), webtest.AlicePassword),
				chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("use-passkey")))
		}},
		{"use the passkey as the second factor", func(ctx context.Context) error {
			if err := presence(ctx, true); err != nil {
				return err
			}
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("use-passkey")), chromedp.WaitVisible(chromedp.ID("result"))); err != nil {
				return err
			}
			result, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("result")))
			if err != nil {
				return err
			}
			if !strings.Contains(result, "acr="+account.ACRMFA+" ") || !strings.Contains(result, "amr=pwd,hwk,user,mfa") {
				return fmt.Errorf("after password and passkey the client has %q", result)
			}
			return nil
		}},
	}
	for _, st := range steps {
		sctx, scancel := context.WithTimeout(ctx, 15*time.Second)
		err := st.run(sctx)
		scancel()
		if err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("%s: %v (browser at %s: %q; client: %v; CSP violations: %q)", st.name, err, loc, body, app.failure(), violations())
		}
	}
	result, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("result")))
	if err != nil {
		t.Fatal(err)
	}
	if err := app.failure(); err != nil {
		t.Fatalf("client: %v", err)
	}
	if !strings.Contains(result, "sub="+s.Alice.ID) {
		t.Errorf("callback page %q is not alice's", result)
	}
	keys, err := s.Store.ListPasskeys(t.Context(), s.Alice.ID)
	// Three sign-ins with it: the button's, the autofill's and the
	// second factor's.
	if err != nil || len(keys) != 1 {
		t.Fatalf("alice's passkeys after the sign-ins: %d, %v", len(keys), err)
	}
	if k := keys[0]; k.LastUsedAt.IsZero() || k.Name != "Chromium" || k.SignCount != registered+3 {
		t.Fatalf("alice's passkey after three sign-ins: %+v", *k)
	}
	if v := violations(); len(v) > 0 {
		t.Errorf("content security policy violations: %q", v)
	}
	saveScreenshots(t, map[string][]byte{"passkeys.png": securityShot})
}
