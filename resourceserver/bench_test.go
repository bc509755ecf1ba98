package resourceserver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/resourceserver"
)

// BenchmarkAuthenticateCached is the middleware's own cost per request
// with a warm cache: hash, cache hit, revocation check, context.
func BenchmarkAuthenticateCached(b *testing.B) {
	rs, minter := localResource(b, resourceserver.Config{Revocations: nothingRevoked{}})
	raw, _, _ := minter.MintAccess(context.Background(), token.AccessRequest{Subject: "u", ClientID: "c", Lifetime: time.Hour})
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("Authorization", "Bearer "+raw)
	policy := rs.Policy()
	w := httptest.NewRecorder()
	if _, ok := policy.Authorize(w, req); !ok {
		b.Fatal(w.Code)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := policy.Authorize(w, req); !ok {
			b.Fatal(w.Code)
		}
	}
}

type nothingRevoked struct{}

func (nothingRevoked) Revoked(*resourceserver.Claims) (bool, error) { return false, nil }

// BenchmarkVerification is what the middleware costs per request with a
// JWKSVerifier (ES256 tokens), on a cache hit and on a miss, next to a
// bare signature check: golang-jwt's Parse with the key in hand. The
// ratio miss/bare is what the middleware adds to the unavoidable work.
func BenchmarkVerification(b *testing.B) {
	fi := newFakeIssuer(b)
	v, err := resourceserver.NewJWKSVerifier(b.Context(), resourceserver.JWKSConfig{Issuer: fi.URL, Audience: fi.audience()})
	if err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, 512)
	for i := range tokens {
		tokens[i] = fi.mint(b, alice)
	}
	requests := make([]*http.Request, len(tokens))
	for i, raw := range tokens {
		requests[i] = httptest.NewRequest(http.MethodGet, "/x", nil)
		requests[i].Header.Set("Authorization", "Bearer "+raw)
	}
	active, err := fi.keys.Active(token.AlgES256)
	if err != nil {
		b.Fatal(err)
	}
	pub := active.Public()
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"ES256"}))
	b.Run("bare-jwt-parse", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := parser.Parse(tokens[i%len(tokens)], func(*jwt.Token) (any, error) { return pub, nil }); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("verifier", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := v.VerifyAccess(tokens[i%len(tokens)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	for _, tc := range []struct {
		name      string
		cacheSize int
	}{{"middleware-miss", 2}, {"middleware-hit", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			rs, err := resourceserver.New(resourceserver.Config{Realm: fi.URL, Verifier: v, Revocations: nothingRevoked{},
				CacheSize: tc.cacheSize})
			if err != nil {
				b.Fatal(err)
			}
			policy := rs.Policy(resourceserver.Scopes("profile"))
			w := httptest.NewRecorder()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := policy.Authorize(w, requests[i%len(requests)]); !ok {
					b.Fatal(w.Code)
				}
				i++
			}
		})
	}
}
