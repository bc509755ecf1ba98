package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/oauth2d/oauth2d/internal/token"
)

// newOurIssuer stands in for oauth2d as a resource server outside it
// sees it: fresh development keys whose JWKS is served over HTTP until
// the test ends, a minter of oauth2d's access tokens for them, and this
// package's verifier reading that JWKS.
func newOurIssuer(t *testing.T) (*token.KeySet, *token.Minter, *Verifier) {
	t.Helper()
	keys, err := token.NewDevKeySet(token.AlgES256, token.AlgRS256, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(keys.JWKS())
	}))
	t.Cleanup(jwks.Close)
	issuer, audience := jwks.URL, jwks.URL+"/api"
	v, err := NewVerifier(t.Context(), issuer, audience)
	if err != nil {
		t.Fatal(err)
	}
	return keys, token.NewMinter(keys, issuer, []string{audience}, time.Now), v
}

// TestVerifierAgainstOurJWKS runs the documented verification against
// tokens oauth2d mints and a JWKS served over HTTP, as a resource server
// outside oauth2d would see them.
func TestVerifierAgainstOurJWKS(t *testing.T) {
	keys, minter, v := newOurIssuer(t)
	access := func(req token.AccessRequest) string {
		raw, _, err := minter.MintAccess(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	base := token.AccessRequest{Subject: "user-1", ClientID: "web", Scope: []string{"profile"}, Lifetime: time.Minute}
	valid := access(base)
	wrongAud := base
	wrongAud.Audience = []string{"https://other.example"}
	expired := base
	expired.IssuedAt = time.Now().Add(-time.Hour)
	noScope := base
	noScope.Scope = []string{"comments:read"}
	idToken, err := minter.MintIDToken(context.Background(), token.IDClaims{Subject: "user-1", Audience: "web", Lifetime: time.Minute,
		Extra: map[string]any{"scope": "profile", "client_id": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	signer, err := keys.Active(token.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		token  string
		status int
	}{
		{"valid", valid, 200},
		{"wrong audience", access(wrongAud), 401},
		{"expired", access(expired), 401},
		{"id_token", idToken, 401},
		// Valid in every way but typ, so only the typ check refuses them;
		// the at+jwt row proves the re-signing itself is sound.
		{"re-signed with typ at+jwt", retyped(t, signer, valid, "at+jwt"), 200},
		{"typ JWT", retyped(t, signer, valid, "JWT"), 401},
		{"no typ", retyped(t, signer, valid, ""), 401},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[1] + ".", 401},
		{"tampered", parts[0] + "." + parts[1] + "x." + parts[2], 401},
		{"missing scope", access(noScope), 403},
	}
	h := routes(v, "profile")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/hello", nil)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if tc.status == 401 && !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate %q, want invalid_token", w.Header().Get("WWW-Authenticate"))
			}
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d (WWW-Authenticate %q)", w.Code, tc.status, w.Header().Get("WWW-Authenticate"))
			}
			if tc.status == 200 && !strings.Contains(w.Body.String(), `"hello":"user-1"`) {
				t.Fatalf("body %s", w.Body)
			}
		})
	}
}

// TestAcceptedAlgorithmsMatchOauth2d keeps the example's literal list (see
// acceptedAlgorithms) in step with the algorithms oauth2d signs with.
func TestAcceptedAlgorithmsMatchOauth2d(t *testing.T) {
	got, want := acceptedAlgorithms(), token.Algorithms()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("example accepts %v, oauth2d signs with %v", got, want)
	}
}

// retyped re-signs raw's payload, byte for byte, with key under a header
// of alg, kid and typ (no typ when typ is "").
func retyped(t *testing.T, key *token.Key, raw, typ string) string {
	t.Helper()
	header := map[string]string{"alg": key.Algorithm(), "kid": key.ID()}
	if typ != "" {
		header["typ"] = typ
	}
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + strings.Split(raw, ".")[1]
	sig, err := jwt.GetSigningMethod(key.Algorithm()).Sign(signing, key.Signer())
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}
