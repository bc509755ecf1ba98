package oauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop"
	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// countingGuard counts the replay checks, each one Redis round trip.
type countingGuard struct {
	dpop.ReplayGuard
	n atomic.Int64
}

func (g *countingGuard) RecordProof(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	g.n.Add(1)
	return g.ReplayGuard.RecordProof(ctx, id, ttl)
}

// nopGuard accepts every proof: a verifier with it costs the proof's
// parsing and signature check alone.
type nopGuard struct{}

func (nopGuard) RecordProof(context.Context, string, time.Duration) (bool, error) { return true, nil }

// BenchmarkTokenDPoPVsBearer (issue 12 item 7) alternates, in one loop so
// that all see the same machine: a bearer client_credentials request, the
// same request with a DPoP proof, one proof verification without replay
// check (parse + one ES256 signature check) and one replay record (one
// Redis round trip). It reports dpop/bearer and what DPoP adds as a
// multiple of verify+rtt: ≤ 1 means at most one signature verification
// and one Redis round trip more than the bearer request. Proofs are
// signed outside the timed sections: that is the client's work.
func BenchmarkTokenDPoPVsBearer(b *testing.B) {
	var guard *countingGuard
	s := newServer(b, func(d *oauth.Deps, _ *ratelimit.Limits) {
		guard = &countingGuard{ReplayGuard: d.Store.(*storage.Store)}
		v, err := dpop.NewVerifier(dpop.Options{Replay: guard})
		if err != nil {
			b.Fatal(err)
		}
		d.DPoP = v
	})
	bare, err := dpop.NewVerifier(dpop.Options{Replay: nopGuard{}})
	if err != nil {
		b.Fatal(err)
	}
	key := dpoptest.NewKey(b)
	htu := s.Issuer + oauth.TokenPath
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	call := func(proof string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, oauth.TokenPath, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(serviceID, serviceSecret)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		rec := httptest.NewRecorder()
		s.Handler.Token(rec, req)
		return rec
	}
	ctx := context.Background()
	// Warm the client cache and the secret check on both paths first.
	call("")
	call(key.Proof(b, dpoptest.For("POST", htu)))
	var bearerT, dpopT, verifyT, rttT time.Duration
	for b.Loop() {
		t0 := time.Now()
		if rec := call(""); rec.Code != 200 {
			b.Fatalf("bearer: %d %s", rec.Code, rec.Body)
		}
		bearerT += time.Since(t0)

		proof := key.Proof(b, dpoptest.For("POST", htu))
		t1 := time.Now()
		if rec := call(proof); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"token_type":"DPoP"`) {
			b.Fatalf("dpop: %d %s", rec.Code, rec.Body)
		}
		dpopT += time.Since(t1)

		proof = key.Proof(b, dpoptest.For("POST", htu))
		t2 := time.Now()
		if _, err := bare.Verify(ctx, proof, dpop.Request{Method: "POST", URL: htu}); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if _, err := s.Store.RecordProof(ctx, "bench "+proof[len(proof)-20:], time.Minute); err != nil {
			b.Fatal(err)
		}
		rttT += time.Since(t3)
		verifyT += t3.Sub(t2)
	}
	b.ReportMetric(float64(dpopT)/float64(bearerT), "dpop/bearer")
	b.ReportMetric(float64(dpopT-bearerT)/float64(verifyT+rttT), "extra/(verify+rtt)")
	b.ReportMetric(float64(guard.n.Load()-1)/float64(b.N), "replay-checks/dpop-op")
}
