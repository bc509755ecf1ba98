package token

import (
	"context"
	"crypto"
	"encoding/json"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// These tests check our tokens and JWKS with libraries that share none of
// our code: go-jose parses the JWKS and verifies access tokens, keyfunc
// (jwkset) parses the JWKS for golang-jwt, go-oidc verifies ID tokens and
// at_hash.

func TestGoJoseVerifiesAccessTokensWithOurJWKS(t *testing.T) {
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			clock := newClock()
			set := newTestSet(t, alg)
			raw := mintAccess(t, newTestMinter(set, clock.Now))
			var jwks jose.JSONWebKeySet
			if err := json.Unmarshal(set.JWKS(), &jwks); err != nil {
				t.Fatal(err)
			}
			for _, k := range jwks.Keys {
				if !k.IsPublic() || !k.Valid() || k.Use != "sig" {
					t.Fatalf("JWKS key %s: public %v, valid %v, use %q", k.KeyID, k.IsPublic(), k.Valid(), k.Use)
				}
			}
			jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			h := jws.Signatures[0].Header
			if h.ExtraHeaders["typ"] != "at+jwt" {
				t.Fatalf("typ = %v", h.ExtraHeaders["typ"])
			}
			keys := jwks.Key(h.KeyID)
			if len(keys) != 1 || keys[0].Algorithm != alg {
				t.Fatalf("kid %s: %d keys in JWKS", h.KeyID, len(keys))
			}
			payload, err := jws.Verify(keys[0])
			if err != nil {
				t.Fatalf("go-jose rejected our signature: %v", err)
			}
			var claims map[string]any
			if err := json.Unmarshal(payload, &claims); err != nil || claims["client_id"] != "client-1" {
				t.Fatalf("payload %s: %v", payload, err)
			}
		})
	}
}

func TestKeyfuncVerifiesAccessTokensWithOurJWKS(t *testing.T) {
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			set := newTestSet(t, alg)
			// time.Now: keyfunc checks exp against the real clock.
			raw := mintAccess(t, newTestMinter(set, time.Now))
			kf, err := keyfunc.NewJWKSetJSON(set.JWKS())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jwt.Parse(raw, kf.Keyfunc, jwt.WithValidMethods([]string{alg})); err != nil {
				t.Fatalf("keyfunc-based verification failed: %v", err)
			}
		})
	}
}

func TestGoOIDCVerifiesIDTokens(t *testing.T) {
	for _, alg := range []string{AlgRS256, AlgEdDSA, AlgES256} {
		t.Run(alg, func(t *testing.T) {
			clock := newClock()
			set, err := NewKeySet(AlgES256, alg)
			if err != nil {
				t.Fatal(err)
			}
			entries := []KeyEntry{{Key: newTestKey(t, alg, 0), State: StateActive}}
			if alg != AlgES256 {
				entries = append(entries, KeyEntry{Key: newTestKey(t, AlgES256, 0), State: StateActive})
			}
			if err := set.Replace(entries, clock.Now()); err != nil {
				t.Fatal(err)
			}
			m := newTestMinter(set, clock.Now)
			access := mintAccess(t, m)
			raw, err := m.MintIDToken(context.Background(), IDClaims{
				Subject: "user-1", Audience: "client-1", Nonce: "n-1", AuthTime: clock.Now(),
				AccessToken: access, Lifetime: 5 * time.Minute, Extra: map[string]any{"email": "a@example.com"},
			})
			if err != nil {
				t.Fatal(err)
			}
			var pubs []crypto.PublicKey
			for _, e := range set.Entries() {
				pubs = append(pubs, e.Key.Public())
			}
			v := oidc.NewVerifier(testIssuer, &oidc.StaticKeySet{PublicKeys: pubs}, &oidc.Config{
				ClientID: "client-1", SupportedSigningAlgs: []string{alg}, Now: clock.Now,
			})
			tok, err := v.Verify(context.Background(), raw)
			if err != nil {
				t.Fatalf("go-oidc rejected our ID token: %v", err)
			}
			if tok.Nonce != "n-1" || tok.Subject != "user-1" {
				t.Fatalf("nonce %q, sub %q", tok.Nonce, tok.Subject)
			}
			if err := tok.VerifyAccessToken(access); err != nil {
				t.Fatalf("go-oidc disagrees with our at_hash: %v", err)
			}
		})
	}
}
