package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// TestBrowserDeviceFlow is RFC 8628 with a real client and a real
// browser: golang.org/x/oauth2 starts a device authorization
// (Config.DeviceAuth) and polls (DeviceAccessToken) while headless
// Chromium opens verification_uri_complete, signs in, sees the device
// form prefilled, confirms the application by name, allows on the
// consent page and reads that the device may continue. The client then
// holds an access token, an ID token and a refresh token that refreshes.
func TestBrowserDeviceFlow(t *testing.T) {
	chromium := findChromium(t)
	s := webtest.New(t, webtest.Options{})
	cfg := oauth2.Config{
		ClientID: webtest.DeviceID,
		Endpoint: oauth2.Endpoint{DeviceAuthURL: s.URL + "/oauth2/device_authorization", TokenURL: s.URL + "/oauth2/token",
			AuthStyle: oauth2.AuthStyleInParams},
		Scopes: []string{"openid", "profile", "offline_access"},
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if da.VerificationURIComplete == "" || da.Interval != 1 {
		t.Fatalf("device authorization = %+v", da)
	}
	type result struct {
		tok *oauth2.Token
		err error
	}
	polled := make(chan result, 1)
	go func() {
		tok, err := cfg.DeviceAccessToken(ctx, da)
		polled <- result{tok, err}
	}()

	bctx, stop := newBrowser(ctx, t, chromium)
	defer stop()
	violations := watchCSP(bctx)
	steps := []struct {
		name string
		run  func() error
	}{
		{"open the link the device shows", func() error {
			return chromedp.Do(bctx, chromedp.Navigate(da.VerificationURIComplete), chromedp.WaitVisible(chromedp.ID("username")))
		}},
		{"sign in", func() error {
			return chromedp.Do(bctx, chromedp.SendKeys(chromedp.ID("username"), "alice"),
				chromedp.SendKeys(chromedp.ID("password"), webtest.AlicePassword),
				chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("user_code")))
		}},
		{"continue with the prefilled code", func() error {
			code, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("user_code").value`))
			if err != nil {
				return err
			}
			if code != da.UserCode {
				t.Errorf("prefilled code %q, want %q", code, da.UserCode)
			}
			return chromedp.Do(bctx, chromedp.Click(chromedp.ID("continue")), chromedp.WaitVisible(chromedp.ID("confirm")))
		}},
		{"confirm the application by name", func() error {
			name, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("client-name")))
			if err != nil {
				return err
			}
			if name != "Living Room TV" {
				t.Errorf("confirmation names %q", name)
			}
			return chromedp.Do(bctx, chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.ID("allow")))
		}},
		{"allow", func() error {
			return chromedp.Do(bctx, chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("device-approved")))
		}},
	}
	for _, st := range steps {
		if err := st.run(); err != nil {
			loc, _ := chromedp.Run(bctx, chromedp.Location())
			t.Fatalf("%s: %v (browser at %s; CSP violations: %q)", st.name, err, loc, violations())
		}
	}
	var res result
	select {
	case res = <-polled:
	case <-ctx.Done():
		t.Fatal("the device never got its tokens")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.tok.AccessToken == "" || res.tok.RefreshToken == "" {
		t.Fatalf("token = %+v", res.tok)
	}
	if idt, _ := res.tok.Extra("id_token").(string); idt == "" {
		t.Fatal("no id_token")
	}
	if scope, _ := res.tok.Extra("scope").(string); scope != "openid profile offline_access" {
		t.Fatalf("scope = %q", scope)
	}
	if !s.Active(t, res.tok.AccessToken) {
		t.Fatal("access token not active")
	}
	// The refresh token refreshes, with the same library.
	next, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: res.tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if next.AccessToken == "" || next.AccessToken == res.tok.AccessToken {
		t.Fatalf("refreshed token = %+v", next)
	}
	if v := violations(); len(v) > 0 {
		t.Fatalf("CSP violations: %q", v)
	}
}
