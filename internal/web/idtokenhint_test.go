package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// hintRefused is the error page of a logout request whose id_token_hint
// is refused.
const hintRefused = "The sign-out request is not valid (id_token_hint)."

// hintSession signs alice in to the first-party client with openid and
// returns her browser, the token response and the sid of her session.
func hintSession(t *testing.T, s *webtest.Server) (*webtest.Browser, webtest.TokenResponse, string) {
	t.Helper()
	b := s.NewBrowser(t)
	params, verifier := webtest.CodeRequest(webtest.FirstPartyID, "openid")
	cb := s.Callback(t, b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword))
	tr := s.Exchange(t, cb.Get("code"), verifier, webtest.FirstPartyID, webtest.FirstPartySecret)
	parts := strings.Split(tr.Str("id_token"), ".")
	if len(parts) != 3 {
		t.Fatalf("no id token: %v", tr)
	}
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(body, &claims); err != nil || claims.SID == "" {
		t.Fatalf("id token claims %s: %v, want a sid", body, err)
	}
	return b, tr, claims.SID
}

// cookielessLogout is a logout request without the session cookie, as a
// relying party's server sends one: only the hint can name a session.
func cookielessLogout(t *testing.T, s *webtest.Server, hint string) *webtest.Page {
	t.Helper()
	return s.NewBrowser(t).Post("/oauth2/logout", url.Values{"id_token_hint": {hint}})
}

// TestEndSessionHintMustBeAnIDToken: an access token (typ at+jwt) or a
// logout token (typ logout+jwt) is signed by us too, names the client in
// its aud and may carry the session's sid, but is no id_token_hint: a
// resource server that sees an access token, or a relying party holding
// a logout token, must not sign anybody out with it (cross-JWT
// confusion).
func TestEndSessionHintMustBeAnIDToken(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b, tr, sid := hintSession(t, s)
	minter := token.NewMinter(s.Keys, s.Issuer, nil, time.Now)
	accessForClient, _, err := minter.MintAccess(context.Background(), token.AccessRequest{Subject: s.Alice.ID, ClientID: webtest.FirstPartyID,
		Scope: []string{"openid"}, Audience: []string{webtest.FirstPartyID}, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	logoutToken, err := minter.MintLogout(context.Background(), token.LogoutClaims{Audience: webtest.FirstPartyID, Subject: s.Alice.ID,
		SessionID: sid, JTI: token.NewJTI()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, hint string }{
		{"the access token issued with the ID token", tr.Str("access_token")},
		{"an access token whose audience is the client", accessForClient},
		{"a logout token for the live session", logoutToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := cookielessLogout(t, s, tc.hint)
			if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, hintRefused) {
				t.Fatalf("got %d, want 400 %q:\n%s", p.Status, hintRefused, p.Body)
			}
			if !signedIn(t, b) {
				t.Fatal("the session ended")
			}
		})
	}
	// The control: the ID token itself is a hint.
	if p := cookielessLogout(t, s, tr.Str("id_token")); p.Status == http.StatusBadRequest {
		t.Fatalf("the ID token was refused as a hint: %d\n%s", p.Status, p.Body)
	}
}

// TestEndSessionHintSizeLimit: a hint over the limit is refused before it
// is decoded or its signature checked, even one we signed that would
// verify.
func TestEndSessionHintSizeLimit(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	_, _, sid := hintSession(t, s)
	minter := token.NewMinter(s.Keys, s.Issuer, nil, time.Now)
	mint := func(pad int) string {
		t.Helper()
		raw, err := minter.MintIDToken(context.Background(), token.IDClaims{Subject: s.Alice.ID, Audience: webtest.FirstPartyID,
			SessionID: sid, Lifetime: time.Minute, Extra: map[string]any{"pad": strings.Repeat("a", pad)}})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	const limit = token.MaxIDTokenHintLen
	long := mint(limit)
	if len(long) <= limit {
		t.Fatalf("hint of %d bytes is not over the limit", len(long))
	}
	if p := cookielessLogout(t, s, long); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, hintRefused) {
		t.Fatalf("hint of %d bytes: got %d, want 400 %q", len(long), p.Status, hintRefused)
	}
	// The control: the same token under the limit is a hint.
	if p := cookielessLogout(t, s, mint(limit/2)); p.Status == http.StatusBadRequest {
		t.Fatalf("a valid hint under the limit was refused: %d\n%s", p.Status, p.Body)
	}
}
