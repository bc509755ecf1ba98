package web_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// TestConsentNeedsCSRF: POST /consent decides for the signed-in user only
// with the CSRF token of the browser's own session. Without it nothing is
// decided: no consent is stored, and the request still waits for an answer.
func TestConsentNeedsCSRF(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	// pending signs alice in on a new browser through a third-party
	// request and returns the browser on its consent page.
	pending := func(t *testing.T) (*webtest.Browser, *webtest.Page) {
		t.Helper()
		b := s.NewBrowser(t)
		params, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid profile")
		consent := b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword)
		if consent.Status != http.StatusOK || !strings.Contains(consent.Body, `name="decision"`) {
			t.Fatalf("want the consent page, got %d %s", consent.Status, consent.Body)
		}
		return b, consent
	}
	otherSession := func(t *testing.T) string {
		t.Helper()
		other := s.NewBrowser(t)
		return signIn(t, other, "alice", webtest.AlicePassword).Hidden("csrf_token")
	}
	tests := []struct {
		name string
		csrf func(t *testing.T, consent *webtest.Page) (value string, send bool)
	}{
		{"no csrf_token", func(*testing.T, *webtest.Page) (string, bool) { return "", false }},
		{"empty csrf_token", func(*testing.T, *webtest.Page) (string, bool) { return "", true }},
		{"forged csrf_token", func(*testing.T, *webtest.Page) (string, bool) { return "forged", true }},
		{"the token of another session of the same user", func(t *testing.T, _ *webtest.Page) (string, bool) {
			return otherSession(t), true
		}},
		{"the token with one character changed", func(_ *testing.T, consent *webtest.Page) (string, bool) {
			tok := consent.Hidden("csrf_token")
			last := "A"
			if strings.HasSuffix(tok, "A") {
				last = "B"
			}
			return tok[:len(tok)-1] + last, true
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, consent := pending(t)
			form := url.Values{"decision": {"allow"}, "req": {consent.Hidden("req")}}
			if v, send := tc.csrf(t, consent); send {
				form.Set("csrf_token", v)
			}
			p := b.Post("/consent", form)
			if p.Status != http.StatusForbidden || p.Header.Get("Location") != "" {
				t.Fatalf("got %d Location=%q, want 403 and no redirect", p.Status, p.Header.Get("Location"))
			}
			if !strings.Contains(p.Body, "This form expired or was not sent from this site.") {
				t.Errorf("error page: %s", p.Body)
			}
			if c, err := s.Store.GetConsent(t.Context(), s.Alice.ID, webtest.ThirdPartyID); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("consent after a refused form: %+v, %v; want storage.ErrNotFound", c, err)
			}
			// The request is undecided: going back to the authorize
			// endpoint asks again instead of issuing a code.
			again := b.Follow(b.Get("/oauth2/authorize/resume?req=" + url.QueryEscape(consent.Hidden("req"))))
			if again.Status != http.StatusOK || !strings.Contains(again.Body, `name="decision"`) {
				t.Fatalf("after a refused form: %d Location=%q, want the consent page again", again.Status, again.Header.Get("Location"))
			}
		})
	}

	t.Run("the session's own token decides", func(t *testing.T) {
		b, consent := pending(t)
		cb := s.Callback(t, b.SubmitConsent(consent, "allow"))
		if cb.Get("code") == "" {
			t.Fatalf("callback = %v", cb)
		}
		c, err := s.Store.GetConsent(t.Context(), s.Alice.ID, webtest.ThirdPartyID)
		if err != nil || strings.Join(c.Scope, " ") != "openid profile" {
			t.Fatalf("consent = %+v, %v; want openid profile", c, err)
		}
	})
}

// The consent page's "remember this decision" box: ticked (or a form
// without the field at all) stores the consent, so the next request skips
// the page; unticked, the code is issued but nothing is stored, and the
// next request asks again.
func TestConsentRememberDecision(t *testing.T) {
	tests := []struct {
		name         string
		unticked     bool     // consent.remember_by_default false
		remember     []string // the form's remember values; nil: field left out
		wantChecked  bool
		wantRemember bool
	}{
		{"ticked by default, sent ticked", false, []string{"no", "yes"}, true, true},
		{"ticked by default, unticked by the user", false, []string{"no"}, true, false},
		{"unticked by default, left unticked", true, []string{"no"}, false, false},
		{"unticked by default, ticked by the user", true, []string{"no", "yes"}, false, true},
		{"a form without the field", false, nil, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := webtest.New(t, webtest.Options{ConsentRememberUnticked: tc.unticked})
			b := s.NewBrowser(t)
			params, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid profile")
			consent := b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword)
			box := `<input type="checkbox" name="remember" value="yes" id="remember">`
			if tc.wantChecked {
				box = `<input type="checkbox" name="remember" value="yes" id="remember" checked>`
			}
			if !strings.Contains(consent.Body, box) || !strings.Contains(consent.Body, `<input type="hidden" name="remember" value="no">`) {
				t.Fatalf("consent page lacks %s and the hidden remember=no:\n%s", box, consent.Body)
			}
			form := url.Values{"decision": {"allow"}, "csrf_token": {consent.Hidden("csrf_token")}, "req": {consent.Hidden("req")}}
			if tc.remember != nil {
				form["remember"] = tc.remember
			}
			if cb := s.Callback(t, b.Follow(b.Post("/consent", form))); cb.Get("code") == "" {
				t.Fatalf("callback = %v, want a code", cb)
			}
			_, err := s.Store.GetConsent(t.Context(), s.Alice.ID, webtest.ThirdPartyID)
			if stored := err == nil; stored != tc.wantRemember || (err != nil && !errors.Is(err, storage.ErrNotFound)) {
				t.Fatalf("consent stored: %v (%v), want %v", stored, err, tc.wantRemember)
			}
			params, _ = webtest.CodeRequest(webtest.ThirdPartyID, "openid profile")
			again := b.Authorize(params)
			asked := again.Status == http.StatusOK && strings.Contains(again.Body, `name="decision"`)
			if asked == tc.wantRemember {
				t.Fatalf("second request: asked again = %v, want %v (%d %s)", asked, !tc.wantRemember, again.Status, again.Header.Get("Location"))
			}
		})
	}
}
