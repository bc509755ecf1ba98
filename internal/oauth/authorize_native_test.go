package oauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// nativeClient registers a public client with the redirect URI and the
// flags given.
func nativeClient(t *testing.T, s *webtest.Server, id, redirect string, firstParty, skip bool) {
	t.Helper()
	err := s.Store.CreateClient(t.Context(), &storage.Client{ID: id, Name: "Native " + id, Public: true, FirstParty: firstParty,
		InsecureSkipConsentForNativeRedirects: skip, GrantTypes: []string{"authorization_code", "refresh_token"},
		Scopes: []string{"openid", "offline_access"}, RedirectURIs: []string{redirect}})
	if err != nil {
		t.Fatal(err)
	}
}

// nativeRequest is an authorization request of client to redirect.
func nativeRequest(client, redirect, prompt string) url.Values {
	v, _ := webtest.CodeRequest(client, "openid offline_access")
	v.Set("redirect_uri", redirect)
	if prompt != "" {
		v.Set("prompt", prompt)
	}
	return v
}

// clientAnswer is where p sends the browser when it leaves the server: the
// redirect URI without its query, and the query.
func clientAnswer(t *testing.T, p *webtest.Page) (string, url.Values) {
	t.Helper()
	loc := p.Location()
	if p.Status != http.StatusFound && p.Status != http.StatusSeeOther || loc == nil {
		t.Fatalf("want a redirect to the client, got %d %.300s", p.Status, p.Body)
	}
	q := loc.Query()
	loc.RawQuery = ""
	return loc.String(), q
}

// TestAuthorizeNativeAppIsAlwaysAsked is the reproduction of issue 22
// item 4 (RFC 8252 §8.6): after alice consented to a public native app on
// loopback port 9001, another local process listening on port 45678 got a
// code and a refresh token with prompt=none. A public client whose
// redirect URI is not https is now asked every time.
func TestAuthorizeNativeAppIsAlwaysAsked(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	const cli = "native-cli"
	nativeClient(t, s, cli, "http://127.0.0.1/callback", false, false)
	b := s.NewBrowser(t)

	// Alice signs in and consents once, remembering it, on port 9001.
	first := b.SubmitLogin(b.Authorize(nativeRequest(cli, "http://127.0.0.1:9001/callback", "")), "alice", webtest.AlicePassword)
	if to, q := clientAnswer(t, b.SubmitConsent(first, "allow")); to != "http://127.0.0.1:9001/callback" || q.Get("code") == "" {
		t.Fatalf("first consent answered %s %v", to, q)
	}
	if acct := b.Get("/account/consents"); !strings.Contains(acct.Body, "Native "+cli) {
		t.Fatalf("the consent is not listed on the account page:\n%s", acct.Body)
	}

	t.Run("prompt=none on another port: consent_required", func(t *testing.T) {
		v := nativeRequest(cli, "http://127.0.0.1:45678/callback", "none")
		to, q := clientAnswer(t, b.Authorize(v))
		if to != "http://127.0.0.1:45678/callback" || q.Get("error") != "consent_required" || q.Get("code") != "" ||
			q.Get("state") != v.Get("state") {
			t.Fatalf("answered %s %v", to, q)
		}
	})
	t.Run("interactive on another port: the consent page", func(t *testing.T) {
		p := b.Authorize(nativeRequest(cli, "http://127.0.0.1:45678/callback", ""))
		if !isConsentPage(p) || !strings.Contains(p.Body, "127.0.0.1:45678") {
			t.Fatalf("want the consent page naming the port, got %d %.300s", p.Status, p.Body)
		}
		if _, q := clientAnswer(t, b.SubmitConsent(p, "deny")); q.Get("error") != "access_denied" {
			t.Fatalf("deny answered %v", q)
		}
	})
	t.Run("the same port is asked too", func(t *testing.T) {
		if p := b.Authorize(nativeRequest(cli, "http://127.0.0.1:9001/callback", "")); !isConsentPage(p) {
			t.Fatalf("want the consent page, got %d %.300s", p.Status, p.Body)
		}
	})
}

// TestAuthorizeNativeConsentByRedirect: who is asked every time, by client
// kind and redirect URI. A first-party public app on a loopback,
// localhost or private-use redirect is asked too; a public app on https
// and a confidential one keep skipping the page; the loud registration
// flag restores skipping.
func TestAuthorizeNativeConsentByRedirect(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	signIn(t, b, "alice", webtest.AlicePassword)
	tests := []struct {
		name                   string
		redirect, used         string
		firstParty, skip       bool
		confidential           string // a confidential client of webtest instead
		wantAskedAfterRemember bool
	}{
		{"first-party loopback IP", "http://127.0.0.1/cb", "http://127.0.0.1:9001/cb", true, false, "", true},
		{"first-party IPv6 loopback", "http://[::1]/cb", "http://[::1]:9001/cb", true, false, "", true},
		{"first-party localhost", "http://localhost:9001/cb", "", true, false, "", true},
		{"first-party private-use scheme", "com.example.app:/cb", "", true, false, "", true},
		{"third-party private-use scheme", "com.example.other:/cb", "", false, false, "", true},
		{"first-party https", "https://app.example/cb", "", true, false, "", false},
		{"third-party https", "https://other.example/cb", "", false, false, "", false},
		{"first-party loopback, flag set", "http://127.0.0.1/flag", "http://127.0.0.1:9001/flag", true, true, "", false},
		{"third-party loopback, flag set", "http://127.0.0.1/flag3", "http://127.0.0.1:45678/flag3", false, true, "", false},
		{"confidential first party on localhost", "", "", true, false, webtest.FirstPartyID, false},
		{"confidential third party on localhost", "", "", false, false, webtest.ThirdPartyID, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, redirect := tc.confidential, tc.redirect
			if id == "" {
				id = "native-" + string(rune('a'+i))
				nativeClient(t, s, id, redirect, tc.firstParty, tc.skip)
			} else {
				redirect = webtest.DefaultRedirect
			}
			used := tc.used
			if used == "" {
				used = redirect
			}
			if !tc.firstParty {
				// Consent once, remembered.
				p := b.Authorize(nativeRequest(id, used, ""))
				if _, q := clientAnswer(t, b.SubmitConsent(p, "allow")); q.Get("code") == "" {
					t.Fatalf("consent answered %v", q)
				}
			}
			v := nativeRequest(id, used, "none")
			_, q := clientAnswer(t, b.Authorize(v))
			if asked := q.Get("error") == "consent_required"; asked != tc.wantAskedAfterRemember || (!asked && q.Get("code") == "") {
				t.Fatalf("prompt=none answered %v, want consent_required %v", q, tc.wantAskedAfterRemember)
			}
			if p := b.Authorize(nativeRequest(id, used, "")); isConsentPage(p) != tc.wantAskedAfterRemember {
				t.Fatalf("consent page shown = %v, want %v (%d)", isConsentPage(p), tc.wantAskedAfterRemember, p.Status)
			}
		})
	}
}
