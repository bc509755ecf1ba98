package resourceserver_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/resourceserver"
)

// BenchmarkAuthenticateCached is the middleware's own cost per request
// with a warm cache: hash, cache hit, revocation check, context.
func BenchmarkAuthenticateCached(b *testing.B) {
	rs, minter := localResource(b, resourceserver.Config{Revocations: nothingRevoked{}})
	raw, _, _ := minter.MintAccess(token.AccessRequest{Subject: "u", ClientID: "c", Lifetime: time.Hour})
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
