package resource

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop"
	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/token"
)

type acceptAll struct{}

// dpopAuthenticator is a ready middleware for issuer https://i and
// audience https://a that checks DPoP proofs with proofs, and the minter
// of its tokens.
func dpopAuthenticator(tb testing.TB, proofs *dpop.Verifier) (*Authenticator, *token.Minter) {
	tb.Helper()
	keys, err := token.NewDevKeySet(token.AlgES256, token.AlgES256, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		tb.Fatal(err)
	}
	verifier, err := token.NewVerifier(keys, "https://i", []string{"https://a"}, 0, time.Now)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := NewAuthenticator(verifier, nopFeed{}, Options{Realm: "https://i", DPoP: proofs})
	if err != nil {
		tb.Fatal(err)
	}
	a.ready.Store(true)
	return a, token.NewMinter(keys, "https://i", []string{"https://a"}, time.Now)
}

// nopFeed is a RevocationFeed with nothing revoked.
type nopFeed struct{ RevocationFeed }

// authenticate runs req through a's middleware with no scope required:
// nil when it lets the request through, else the status.
func authenticate(a *Authenticator, req *http.Request) error {
	w := httptest.NewRecorder()
	if _, ok := a.Resource().Policy().Authorize(w, req); !ok {
		return fmt.Errorf("status %d: %s", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	return nil
}

func (acceptAll) RecordProof(context.Context, string, time.Duration) (bool, error) { return true, nil }

// BenchmarkAuthenticateDPoPVsBearer (issue 12 item 7) alternates, in one
// loop: the middleware's check of a cached bearer token, of the same kind
// of token DPoP-bound with a fresh proof, one proof verification without
// replay check (parse + one ES256 signature check) and one replay record
// in Redis (one round trip). It reports dpop/bearer and what DPoP adds as
// a multiple of verify+rtt (≤ 1: at most one signature verification and
// one Redis round trip more). Proof signing is the client's, untimed.
func BenchmarkAuthenticateDPoPVsBearer(b *testing.B) {
	rs := testredis.New(b)
	store, err := storage.Open(context.Background(), storage.Options{URL: rs.URL, Prefix: rs.Prefix})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	proofs, err := dpop.NewVerifier(dpop.Options{Replay: store})
	if err != nil {
		b.Fatal(err)
	}
	bare, _ := dpop.NewVerifier(dpop.Options{Replay: acceptAll{}})
	a, minter := dpopAuthenticator(b, proofs)
	key := dpoptest.NewKey(b)
	bearerTok, _, _ := minter.MintAccess(context.Background(), token.AccessRequest{Subject: "u", ClientID: "c", Lifetime: time.Hour})
	boundTok, _, _ := minter.MintAccess(context.Background(), token.AccessRequest{Subject: "u", ClientID: "c", Lifetime: time.Hour, JKT: key.Thumbprint(b)})
	bearerReq := httptest.NewRequest(http.MethodGet, "/x", nil)
	bearerReq.Header.Set("Authorization", "Bearer "+bearerTok)
	ctx := context.Background()
	warm := httptest.NewRequest(http.MethodGet, "/x", nil) // puts the bound token in the cache
	warm.Header.Set("Authorization", "DPoP "+boundTok)
	warm.Header.Set("DPoP", key.Proof(b, dpoptest.For("GET", "https://i/x").WithToken(boundTok)))
	if err := authenticate(a, warm); err != nil {
		b.Fatal(err)
	}
	var bearerT, dpopT, verifyT, rttT time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := authenticate(a, bearerReq); err != nil {
			b.Fatal(err)
		}
		bearerT += time.Since(t0)

		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Header.Set("Authorization", "DPoP "+boundTok)
		req.Header.Set("DPoP", key.Proof(b, dpoptest.For("GET", "https://i/x").WithToken(boundTok)))
		t1 := time.Now()
		if err := authenticate(a, req); err != nil {
			b.Fatal(err)
		}
		dpopT += time.Since(t1)

		proof := key.Proof(b, dpoptest.For("GET", "https://i/x").WithToken(boundTok))
		t2 := time.Now()
		ath := sha256.Sum256([]byte(boundTok))
		if _, err := bare.Verify(ctx, proof, dpop.Request{Method: "GET", URL: "https://i/x", AccessTokenHash: ath[:]}); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if _, err := store.RecordProof(ctx, "bench "+proof[len(proof)-20:], time.Minute); err != nil {
			b.Fatal(err)
		}
		rttT += time.Since(t3)
		verifyT += t3.Sub(t2)
	}
	b.ReportMetric(float64(dpopT)/float64(bearerT), "dpop/bearer")
	b.ReportMetric(float64(dpopT-bearerT)/float64(verifyT+rttT), "extra/(verify+rtt)")
}
