package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// idTokenSubject reads sub from an ID token without verifying it.
func idTokenSubject(t *testing.T, idToken string) string {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(idToken, claims); err != nil {
		t.Fatal(err)
	}
	sub, _ := claims.GetSubject()
	return sub
}

// hintFor mints an ID token of s for user and client, issued at issuedAt,
// as the token endpoint would have.
func hintFor(t *testing.T, s *webtest.Server, userID, clientID string, issuedAt time.Time) string {
	t.Helper()
	raw, err := token.NewMinter(s.Keys, s.Issuer, nil, time.Now).MintIDToken(context.Background(), token.IDClaims{
		Subject: userID, Audience: clientID, IssuedAt: issuedAt, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestAuthorizeIDTokenHintPromptNone: with prompt=none a code is issued
// only for the user the id_token_hint names (OIDC Core §3.1.2.1); before,
// the hint was ignored and bob's browser got a code for bob on alice's
// hint.
func TestAuthorizeIDTokenHintPromptNone(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	bob := s.NewBrowser(t)
	signIn(t, bob, "bob", webtest.BobPassword)
	alice := s.NewBrowser(t)
	signIn(t, alice, "alice", webtest.AlicePassword)
	none := func(hint string) (url.Values, string) {
		v, verifier := webtest.CodeRequest(webtest.FirstPartyID, "openid")
		v.Set("prompt", "none")
		v.Set("id_token_hint", hint)
		return v, verifier
	}
	aliceHint := hintFor(t, s, s.Alice.ID, webtest.FirstPartyID, time.Now())

	t.Run("another user signed in: login_required", func(t *testing.T) {
		v, _ := none(aliceHint)
		cb := s.Callback(t, bob.Authorize(v))
		if cb.Get("error") != "login_required" || cb.Get("code") != "" || cb.Get("state") != v.Get("state") {
			t.Fatalf("callback = %v", cb)
		}
	})
	t.Run("nobody signed in: login_required", func(t *testing.T) {
		v, _ := none(aliceHint)
		if cb := s.Callback(t, s.NewBrowser(t).Authorize(v)); cb.Get("error") != "login_required" {
			t.Fatalf("callback = %v", cb)
		}
	})
	for name, hint := range map[string]string{
		"the hinted user signed in": aliceHint,
		"an expired hint is a hint": hintFor(t, s, s.Alice.ID, webtest.FirstPartyID, time.Now().Add(-30*24*time.Hour)),
	} {
		t.Run(name, func(t *testing.T) {
			v, verifier := none(hint)
			cb := s.Callback(t, alice.Authorize(v))
			tok := s.Exchange(t, cb.Get("code"), verifier, webtest.FirstPartyID, webtest.FirstPartySecret)
			if sub := idTokenSubject(t, tok.Str("id_token")); sub != s.Alice.ID {
				t.Fatalf("code for %q (callback %v)", sub, cb)
			}
		})
	}
	t.Run("through a pushed request", func(t *testing.T) {
		params, _ := pushedRequest(webtest.FirstPartyID, "openid")
		params.Set("prompt", "none")
		params.Set("id_token_hint", aliceHint)
		uri := push(t, s, params, webtest.FirstPartyID, webtest.FirstPartySecret, "").str("request_uri")
		cb := s.Callback(t, bob.Authorize(url.Values{"client_id": {webtest.FirstPartyID}, "request_uri": {uri}}))
		if cb.Get("error") != "login_required" || cb.Get("code") != "" {
			t.Fatalf("callback = %v", cb)
		}
	})
}

// TestAuthorizeIDTokenHintInteractive: without prompt=none, a browser
// signed in as someone else than the hint names gets the login page; the
// hinted user signing in gets the code, anyone else login_required. The
// request travels sealed through the login page, hint included.
func TestAuthorizeIDTokenHintInteractive(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	aliceHint := hintFor(t, s, s.Alice.ID, webtest.FirstPartyID, time.Now())
	tests := []struct {
		name, username, password string
		wantAlice                bool
	}{
		{"the hinted user signs in", "alice", webtest.AlicePassword, true},
		{"the same other user signs in again", "bob", webtest.BobPassword, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := s.NewBrowser(t)
			signIn(t, b, "bob", webtest.BobPassword)
			v, verifier := webtest.CodeRequest(webtest.FirstPartyID, "openid")
			v.Set("id_token_hint", aliceHint)
			login := b.Authorize(v)
			if !isLoginPage(login) {
				t.Fatalf("want the login page for bob's browser, got %d %s", login.Status, login.Body)
			}
			cb := s.Callback(t, b.SubmitLogin(login, tc.username, tc.password))
			if !tc.wantAlice {
				if cb.Get("error") != "login_required" || cb.Get("code") != "" || cb.Get("state") != v.Get("state") {
					t.Fatalf("callback = %v", cb)
				}
				return
			}
			tok := s.Exchange(t, cb.Get("code"), verifier, webtest.FirstPartyID, webtest.FirstPartySecret)
			if sub := idTokenSubject(t, tok.Str("id_token")); sub != s.Alice.ID {
				t.Fatalf("code for %q (callback %v)", sub, cb)
			}
		})
	}
}

// TestAuthorizeIDTokenHintInvalid: a hint that is not an ID token this
// server issued to this client is redirected back as invalid_request,
// even when the signed-in user would have matched it.
func TestAuthorizeIDTokenHintInvalid(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	signIn(t, b, "alice", webtest.AlicePassword)
	good := hintFor(t, s, s.Alice.ID, webtest.FirstPartyID, time.Now())
	access, _, err := token.NewMinter(s.Keys, s.Issuer, nil, time.Now).MintAccess(context.Background(), token.AccessRequest{Subject: s.Alice.ID,
		ClientID: webtest.FirstPartyID, Scope: []string{"openid"}, Audience: []string{webtest.FirstPartyID}, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for name, hint := range map[string]string{
		"garbage":                  "not-a-jwt",
		"forged signature":         good[:len(good)-6] + "AAAAAA",
		"an access token":          access,
		"issued to another client": hintFor(t, s, s.Alice.ID, webtest.ThirdPartyID, time.Now()),
		"over the size limit":      good + "." + strings.Repeat("A", token.MaxIDTokenHintLen),
		"unsigned (alg none)":      "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1LWFsaWNlIn0.",
	} {
		t.Run(name, func(t *testing.T) {
			for _, prompt := range []string{"", "none"} {
				v, _ := webtest.CodeRequest(webtest.FirstPartyID, "openid")
				v.Set("id_token_hint", hint)
				if prompt != "" {
					v.Set("prompt", prompt)
				}
				p := b.Authorize(v)
				cb := s.Callback(t, p)
				if cb.Get("error") != "invalid_request" || cb.Get("code") != "" || cb.Get("state") != v.Get("state") {
					t.Fatalf("prompt=%q: callback = %v", prompt, cb)
				}
			}
		})
	}
	t.Run("control: the good hint", func(t *testing.T) {
		v, _ := webtest.CodeRequest(webtest.FirstPartyID, "openid")
		v.Set("id_token_hint", good)
		if cb := s.Callback(t, b.Authorize(v)); cb.Get("code") == "" {
			t.Fatalf("callback = %v", cb)
		}
	})
	t.Run("pushed: refused at the PAR endpoint", func(t *testing.T) {
		params, _ := pushedRequest(webtest.FirstPartyID, "openid")
		params.Set("id_token_hint", hintFor(t, s, s.Alice.ID, webtest.ThirdPartyID, time.Now()))
		res := push(t, s, params, webtest.FirstPartyID, webtest.FirstPartySecret, "")
		if res.status != http.StatusBadRequest || res.str("error") != "invalid_request" {
			t.Fatalf("push: %d %v", res.status, res.body)
		}
	})
}
