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
