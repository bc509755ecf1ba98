package oauth_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/oauth2d/oauth2d/internal/oauth"
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

// introspectAccepting asks about tok as the service (a resource server
// registered for the token's audience) with the given Accept header.
func (s *server) introspectAccepting(tok, accept string) response {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+oauth.IntrospectionPath, strings.NewReader(url.Values{"token": {tok}}.Encode()))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.SetBasicAuth(serviceID, serviceSecret)
	return s.do(req)
}

// verifySignedIntrospection checks an RFC 9701 answer with go-jose (none
// of our code) against the published JWKS and metadata: the alg
// advertised, typ token-introspection+jwt, iss, aud the asking client,
// a fresh iat, nothing at the top that an access token would carry. It
// returns token_introspection.
func (s *server) verifySignedIntrospection(res response) map[string]any {
	t := s.t
	t.Helper()
	if res.Status != http.StatusOK || res.Header.Get("Content-Type") != "application/token-introspection+jwt" ||
		res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("got %d %q %q %s, want 200 application/token-introspection+jwt, no-store",
			res.Status, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"), res.Raw)
	}
	md := s.get(oauth.OAuthMetadataPath)
	var algs []jose.SignatureAlgorithm
	for _, a := range md.Body["introspection_signing_alg_values_supported"].([]any) {
		algs = append(algs, jose.SignatureAlgorithm(a.(string)))
	}
	jws, err := jose.ParseSignedCompact(res.Raw, algs)
	if err != nil {
		t.Fatalf("not a JWS signed with an advertised alg %v: %v", algs, err)
	}
	header := jws.Signatures[0].Header
	if header.ExtraHeaders["typ"] != "token-introspection+jwt" {
		t.Fatalf("typ = %v, want token-introspection+jwt", header.ExtraHeaders["typ"])
	}
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(s.get(oauth.JWKSPath).Raw), &jwks); err != nil {
		t.Fatal(err)
	}
	keys := jwks.Key(header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d keys in the JWKS", header.KeyID, len(keys))
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	iat, _ := claims["iat"].(float64)
	if claims["iss"] != s.Issuer || claims["aud"] != serviceID || math.Abs(float64(time.Now().Unix())-iat) > 60 {
		t.Fatalf("claims %v: want iss %s, aud %s, iat now", claims, s.Issuer, serviceID)
	}
	if len(claims) != 4 {
		t.Fatalf("claims %v: want iss, aud, iat and token_introspection alone", claims)
	}
	inner, ok := claims["token_introspection"].(map[string]any)
	if !ok {
		t.Fatalf("token_introspection = %v", claims["token_introspection"])
	}
	return inner
}

// get fetches a document from the server.
func (s *server) get(path string) response {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.do(req)
}

// RFC 9701: asked for application/token-introspection+jwt, the answer is
// the RFC 7662 object signed, for the client that asked; inactive tokens
// are {"active": false} inside as outside.
func TestSignedIntrospection(t *testing.T) {
	s := newServer(t)
	access := s.passwordGrant("profile comments:read").str("access_token")
	plain := s.introspectAccepting(access, "")
	if plain.Body["active"] != true {
		t.Fatalf("plain answer: %s", plain.Raw)
	}
	t.Run("active: the plain answer, signed", func(t *testing.T) {
		inner := s.verifySignedIntrospection(s.introspectAccepting(access, "application/token-introspection+jwt"))
		if !reflect.DeepEqual(inner, plain.Body) {
			t.Fatalf("token_introspection\n%v\nwant the plain answer\n%v", inner, plain.Body)
		}
	})
	t.Run("inactive: active false and nothing else", func(t *testing.T) {
		inner := s.verifySignedIntrospection(s.introspectAccepting("garbage", "application/token-introspection+jwt"))
		if !reflect.DeepEqual(inner, map[string]any{"active": false}) {
			t.Fatalf("token_introspection = %v", inner)
		}
	})
	t.Run("errors stay JSON", func(t *testing.T) {
		res := s.introspectAccepting("", "application/token-introspection+jwt")
		wantError(t, res, http.StatusBadRequest, "invalid_request")
	})
	for _, tc := range []struct {
		accept string
		signed bool
	}{
		{"", false},
		{"*/*", false},
		{"application/json", false},
		{"application/*", false},
		{"application/jwt", false},
		{"application/token-introspection+jwt;q=0", false},
		{"application/token-introspection+jwt", true},
		{"Application/Token-Introspection+JWT", true},
		{"application/json;q=0.5, application/token-introspection+jwt", true},
		{"application/token-introspection+jwt; q=0.1", true},
	} {
		t.Run("Accept: "+tc.accept, func(t *testing.T) {
			res := s.introspectAccepting(access, tc.accept)
			if signed := res.Header.Get("Content-Type") == "application/token-introspection+jwt"; signed != tc.signed || res.Status != 200 {
				t.Fatalf("got %d %q, want signed %v", res.Status, res.Header.Get("Content-Type"), tc.signed)
			}
			if tc.signed {
				s.verifySignedIntrospection(res)
			} else if res.Raw != plain.Raw {
				t.Fatalf("got %s, want the plain answer %s", res.Raw, plain.Raw)
			}
		})
	}
}

// RFC 7662 §2.2: the plain answer about an access token keeps every
// member it had (aud included), in JSON, uncached.
func TestIntrospectionJSONAnswer(t *testing.T) {
	s := newServer(t)
	tr := s.passwordGrant("profile comments:read")
	res := s.introspectAccepting(tr.str("access_token"), "application/json")
	if res.Status != 200 || res.Header.Get("Content-Type") != "application/json; charset=utf-8" ||
		res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("got %d %q %q", res.Status, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
	}
	want := map[string]any{
		"active": true, "scope": "profile comments:read", "client_id": firstPartyID, "username": "alice",
		"token_type": "Bearer", "sub": s.alice.ID, "iss": s.Issuer, "roles": []any{"user"},
	}
	aud := make([]any, len(s.Audience))
	for i, a := range s.Audience {
		aud[i] = a
	}
	want["aud"] = aud
	for _, member := range []string{"exp", "iat", "nbf", "jti"} {
		if res.Body[member] == nil {
			t.Errorf("%s missing: %s", member, res.Raw)
		}
		want[member] = res.Body[member]
	}
	if !reflect.DeepEqual(res.Body, want) {
		t.Fatalf("answer\n%v\nwant\n%v", res.Body, want)
	}
}
