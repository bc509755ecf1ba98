package oauth_test

import (
	"net/url"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
)

// RFC 7662 §4: a client learns about its own tokens, and a resource
// server (a client registered with introspection_audiences) about the
// access tokens for its audience; anyone else gets exactly what an
// unknown token gets, so introspection is no oracle for other apps'
// tokens.
func TestIntrospectionIsForTheTokensClientOrAudience(t *testing.T) {
	s := newServer(t)
	const otherAPIID, otherAPISecret = "other-api", "other-api-secret-0123456789"
	if err := s.Store.CreateClient(t.Context(), &storage.Client{
		ID: otherAPIID, SecretHash: testenv.Hash(t, otherAPISecret), GrantTypes: []string{"client_credentials"},
		IntrospectionAudiences: []string{"https://other-api.example/"},
	}); err != nil {
		t.Fatal(err)
	}
	alices := s.passwordGrant("profile comments:read offline_access") // first party's tokens
	access, refresh := alices.str("access_token"), alices.str("refresh_token")
	machine := s.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"comments:read"}}, serviceID, serviceSecret)
	if machine.Status != 200 {
		t.Fatalf("client credentials: %d %s", machine.Status, machine.Raw)
	}

	for _, tc := range []struct {
		name       string
		tok        string
		id, secret string
		active     bool
	}{
		{"own client, access token", access, firstPartyID, firstPartySecret, true},
		{"own client, refresh token", refresh, firstPartyID, firstPartySecret, true},
		{"another client, access token", access, thirdPartyID, thirdPartySecret, false},
		{"another client, refresh token", refresh, thirdPartyID, thirdPartySecret, false},
		{"resource server of the token's audience, access token", access, serviceID, serviceSecret, true},
		{"resource server of the token's audience, refresh token", refresh, serviceID, serviceSecret, false},
		{"resource server of another audience, access token", access, otherAPIID, otherAPISecret, false},
		{"resource server of another audience, refresh token", refresh, otherAPIID, otherAPISecret, false},
		{"own client, client credentials token", machine.str("access_token"), serviceID, serviceSecret, true},
		{"another client, client credentials token", machine.str("access_token"), thirdPartyID, thirdPartySecret, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := s.post("/oauth2/introspect", url.Values{"token": {tc.tok}}, tc.id, tc.secret)
			if res.Status != 200 || res.Body["active"] != tc.active {
				t.Fatalf("got %d %s, want active %v", res.Status, res.Raw, tc.active)
			}
			if !tc.active && len(res.Body) != 1 {
				t.Fatalf("got %s, want only {\"active\": false}, as for an unknown token", res.Raw)
			}
			if tc.active && (res.str("client_id") == "" || res.str("sub") == "") {
				t.Fatalf("got %s, want the token's claims", res.Raw)
			}
		})
	}
	t.Run("the answer is the same as for an unknown token", func(t *testing.T) {
		unknown := s.post("/oauth2/introspect", url.Values{"token": {"garbage"}}, thirdPartyID, thirdPartySecret)
		other := s.post("/oauth2/introspect", url.Values{"token": {access}}, thirdPartyID, thirdPartySecret)
		if unknown.Raw != other.Raw || unknown.Header.Get("Content-Type") != other.Header.Get("Content-Type") {
			t.Fatalf("unknown token: %s; another client's token: %s", unknown.Raw, other.Raw)
		}
	})
	t.Run("public clients may not introspect their own tokens either", func(t *testing.T) {
		f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}, "client_id": {publicID}}
		own := s.post("/oauth2/token", f, "", "")
		if own.Status != 200 {
			t.Fatalf("public password grant: %d %s", own.Status, own.Raw)
		}
		res := s.post("/oauth2/introspect", url.Values{"token": {own.str("access_token")}, "client_id": {publicID}}, "", "")
		wantError(t, res, 400, "unauthorized_client")
	})
}
