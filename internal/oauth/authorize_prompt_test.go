package oauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

func isLoginPage(p *webtest.Page) bool   { return strings.Contains(p.Body, `name="password"`) }
func isConsentPage(p *webtest.Page) bool { return strings.Contains(p.Body, `name="decision"`) }

// authTime reads auth_time from an ID token without verifying it (other
// tests verify ID tokens with go-oidc).
func authTime(t *testing.T, idToken string) time.Time {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(idToken, claims); err != nil {
		t.Fatal(err)
	}
	v, ok := claims["auth_time"].(float64)
	if !ok {
		t.Fatalf("id token without auth_time: %v", claims)
	}
	return time.Unix(int64(v), 0)
}

func TestAuthorizePromptNone(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	none := func(client, scope string) url.Values {
		v, _ := webtest.CodeRequest(client, scope)
		v.Set("prompt", "none")
		return v
	}
	b := s.NewBrowser(t)

	t.Run("nobody signed in: login_required", func(t *testing.T) {
		v := none(webtest.ThirdPartyID, "openid")
		cb := s.Callback(t, b.Authorize(v))
		if cb.Get("error") != "login_required" || cb.Get("state") != v.Get("state") || cb.Get("iss") != s.Issuer {
			t.Fatalf("callback = %v", cb)
		}
	})
	signIn(t, b, "alice", webtest.AlicePassword)
	t.Run("signed in, no consent: consent_required", func(t *testing.T) {
		cb := s.Callback(t, b.Authorize(none(webtest.ThirdPartyID, "openid")))
		if cb.Get("error") != "consent_required" {
			t.Fatalf("callback = %v", cb)
		}
	})
	t.Run("first-party client: a code without any page", func(t *testing.T) {
		cb := s.Callback(t, b.Authorize(none(webtest.FirstPartyID, "openid")))
		if cb.Get("code") == "" {
			t.Fatalf("callback = %v", cb)
		}
	})
	t.Run("consent remembered: a code without any page", func(t *testing.T) {
		v, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid profile")
		if p := b.Authorize(v); !isConsentPage(p) {
			t.Fatalf("want consent, got %d %s", p.Status, p.Body)
		} else {
			s.Callback(t, b.SubmitConsent(p, "allow"))
		}
		cb := s.Callback(t, b.Authorize(none(webtest.ThirdPartyID, "openid")))
		if cb.Get("code") == "" {
			t.Fatalf("callback = %v", cb)
		}
	})
	t.Run("login too old for max_age: login_required", func(t *testing.T) {
		v := none(webtest.FirstPartyID, "openid")
		v.Set("max_age", "0")
		time.Sleep(10 * time.Millisecond)
		if cb := s.Callback(t, b.Authorize(v)); cb.Get("error") != "login_required" {
			t.Fatalf("callback = %v", cb)
		}
	})
}

func TestAuthorizeReauthentication(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	signIn(t, b, "alice", webtest.AlicePassword)

	tests := []struct {
		name      string
		change    func(url.Values)
		wantLogin bool
	}{
		{"signed in already", func(url.Values) {}, false},
		{"prompt=login", func(v url.Values) { v.Set("prompt", "login") }, true},
		{"max_age=0", func(v url.Values) { v.Set("max_age", "0") }, true},
		{"max_age one hour", func(v url.Values) { v.Set("max_age", "3600") }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, verifier := webtest.CodeRequest(webtest.FirstPartyID, "openid")
			tc.change(v)
			time.Sleep(1100 * time.Millisecond) // auth_time has whole seconds
			started := time.Now().Truncate(time.Second)
			p := b.Authorize(v)
			if isLoginPage(p) != tc.wantLogin {
				t.Fatalf("login page shown = %v, want %v (%d)", isLoginPage(p), tc.wantLogin, p.Status)
			}
			if tc.wantLogin {
				p = b.SubmitLogin(p, "alice", webtest.AlicePassword)
			}
			tok := s.Exchange(t, s.Callback(t, p).Get("code"), verifier, webtest.FirstPartyID, webtest.FirstPartySecret)
			at := authTime(t, tok.Str("id_token"))
			if fresh := !at.Before(started); fresh != tc.wantLogin {
				t.Errorf("auth_time %v fresh = %v, want %v", at, fresh, tc.wantLogin)
			}
		})
	}
}

// The consent form is bound to the browser's session by its CSRF token and
// to the user the request was prepared for; it can say allow or deny and
// nothing else.
func TestAuthorizeConsentFormIsBound(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	alice := s.NewBrowser(t)
	v, verifier := webtest.CodeRequest(webtest.ThirdPartyID, "openid")
	consent := alice.SubmitLogin(alice.Authorize(v), "alice", webtest.AlicePassword)
	if !isConsentPage(consent) {
		t.Fatalf("want consent, got %d %s", consent.Status, consent.Body)
	}
	req := consent.Hidden("req")

	const (
		csrfRefused  = "This form expired or was not sent from this site."
		otherAccount = "This request was made for another account."
	)
	tests := []struct {
		name    string
		by      *webtest.Browser
		form    url.Values
		status  int
		message string // on the error page
	}{
		{"no csrf token", alice, url.Values{"decision": {"allow"}, "req": {req}}, http.StatusForbidden, csrfRefused},
		{"wrong csrf token", alice, url.Values{"decision": {"allow"}, "req": {req}, "csrf_token": {"forged"}},
			http.StatusForbidden, csrfRefused},
		{"another browser's token", func() *webtest.Browser {
			bob := s.NewBrowser(t)
			signIn(t, bob, "bob", webtest.BobPassword)
			return bob
		}(), url.Values{"decision": {"allow"}, "req": {req}}, http.StatusForbidden, otherAccount},
		{"unknown decision", alice, url.Values{"decision": {"maybe"}, "req": {req}, "csrf_token": {consent.Hidden("csrf_token")}},
			http.StatusBadRequest, "Choose Allow or Deny."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.form.Get("csrf_token") == "" && tc.by != alice {
				acct := tc.by.Get("/account/consents")
				tc.form.Set("csrf_token", acct.Hidden("csrf_token"))
			}
			p := tc.by.Post("/consent", tc.form)
			if p.Status != tc.status || p.Header.Get("Location") != "" {
				t.Fatalf("got %d Location=%q, want %d and no redirect", p.Status, p.Header.Get("Location"), tc.status)
			}
			if !strings.Contains(p.Body, tc.message) {
				t.Errorf("error page lacks %q: %s", tc.message, p.Body)
			}
		})
	}
	t.Run("extra fields cannot widen the grant", func(t *testing.T) {
		f := url.Values{"decision": {"allow"}, "req": {req}, "csrf_token": {consent.Hidden("csrf_token")},
			"scope": {"openid admin comments:write"}, "redirect_uri": {"https://evil.example/cb"}}
		cb := s.Callback(t, alice.Follow(alice.Post("/consent", f)))
		tok := s.Exchange(t, cb.Get("code"), verifier, webtest.ThirdPartyID, webtest.ThirdPartySecret)
		if tok.Status != http.StatusOK || tok.Str("scope") != "openid" {
			t.Fatalf("exchange: %d %s", tok.Status, tok.Raw)
		}
	})
}

func TestAuthorizeAdminScopeNeedsTheRole(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	v, _ := webtest.CodeRequest(webtest.FirstPartyID, "openid admin")
	b := s.NewBrowser(t)
	cb := s.Callback(t, b.SubmitLogin(b.Authorize(v), "alice", webtest.AlicePassword))
	if cb.Get("error") != "invalid_scope" || cb.Get("state") != v.Get("state") {
		t.Fatalf("callback = %v", cb)
	}
	admin := s.NewBrowser(t)
	cb = s.Callback(t, admin.SubmitLogin(admin.Authorize(v), "admin", webtest.AdminPassword))
	if cb.Get("code") == "" {
		t.Fatalf("callback = %v", cb)
	}
}

func TestAuthorizeByPost(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	signIn(t, b, "alice", webtest.AlicePassword)
	v, _ := webtest.CodeRequest(webtest.FirstPartyID, "openid")
	p := b.Post("/oauth2/authorize", v)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("got %d, want 303 so the browser does not repost", p.Status)
	}
	if cb := s.Callback(t, p); cb.Get("code") == "" {
		t.Fatalf("callback = %v", cb)
	}
}
