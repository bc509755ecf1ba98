package resource

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/token"
)

// BenchmarkAuthenticateCached is the middleware's own cost per request
// with a warm cache: hash, cache hit, deny-list check.
func BenchmarkAuthenticateCached(b *testing.B) {
	keys, err := token.NewDevKeySet(token.AlgES256, token.AlgES256, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	verifier, _ := token.NewVerifier(keys, "https://i", []string{"https://a"}, 0, time.Now)
	a, _ := NewAuthenticator(verifier, nopFeed{}, Options{Realm: "https://i"})
	a.ready.Store(true)
	raw, _, _ := token.NewMinter(keys, "https://i", []string{"https://a"}, time.Now).
		MintAccess(context.Background(), token.AccessRequest{Subject: "u", ClientID: "c", Lifetime: time.Hour})
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("Authorization", "Bearer "+raw)
	if _, f := a.authenticate(req); f != nil {
		b.Fatal(f.desc)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, f := a.authenticate(req); f != nil {
			b.Fatal(f.desc)
		}
	}
}

// nopFeed is a RevocationFeed with nothing revoked.
type nopFeed struct{ RevocationFeed }
