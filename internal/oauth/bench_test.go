package oauth_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// Full in-process token requests through the real handler and a real
// Redis, without the network: what one request costs the server. Compare
// with BenchmarkSignES256 in internal/token (the bare signature) and
// BenchmarkPasswordHash here (one password check) in the same run.
//
//	go test -run '^$' -bench . -benchmem ./internal/oauth/ ./internal/token/

// tokenCall sends one token request straight to the handler and returns
// the body; anything but 200 fails the benchmark.
func tokenCall(tb testing.TB, s *server, form url.Values, user, pass string) string {
	req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, pass)
	rec := httptest.NewRecorder()
	s.Handler.Token(rec, req)
	if rec.Code != http.StatusOK {
		tb.Errorf("got %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func BenchmarkTokenClientCredentials(b *testing.B) {
	s := newServer(b)
	f := url.Values{"grant_type": {"client_credentials"}}
	b.ReportAllocs()
	for b.Loop() {
		tokenCall(b, s, f, serviceID, serviceSecret)
	}
}

// BenchmarkTokenResources is the client-credentials grant without a
// registry of resources, with one (the built-in ones and a stored one,
// cached as in the server) and with a resource parameter: what the
// resource rules of the issuance policy cost.
func BenchmarkTokenResources(b *testing.B) {
	for _, c := range []struct {
		name     string
		registry bool
		form     url.Values
	}{
		{"no registry", false, url.Values{"grant_type": {"client_credentials"}}},
		{"registry", true, url.Values{"grant_type": {"client_credentials"}}},
		{"resource parameter", true, url.Values{"grant_type": {"client_credentials"}, "resource": {photosAPI}, "scope": {"photos:read"}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var opts []serverOption
			if c.registry {
				opts = append(opts, withCachedResources(b))
			}
			s := newServer(b, opts...)
			if err := s.Store.UpsertResource(b.Context(), &storage.Resource{ID: photosAPI, Scopes: []string{"photos:read"}}); err != nil {
				b.Fatal(err)
			}
			svc, err := s.Store.GetClient(b.Context(), serviceID)
			if err != nil {
				b.Fatal(err)
			}
			svc.Scopes = append(svc.Scopes, "photos:read")
			if err := s.Store.UpsertClient(b.Context(), svc); err != nil {
				b.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // the caches hear of the changes
			b.ReportAllocs()
			for b.Loop() {
				tokenCall(b, s, c.form, serviceID, serviceSecret)
			}
		})
	}
}

func BenchmarkTokenRefresh(b *testing.B) {
	s := newServer(b)
	rt := s.passwordGrant("comments:read").str("refresh_token")
	b.ReportAllocs()
	for b.Loop() {
		body := tokenCall(b, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, firstPartyID, firstPartySecret)
		rt = extract(body, "refresh_token")
	}
}

// BenchmarkTokenRefreshParallel is the refresh grant under concurrency:
// each goroutine keeps its own family, as separate clients would.
func BenchmarkTokenRefreshParallel(b *testing.B) {
	s := newServer(b)
	tokens := make(chan string, 64)
	for range cap(tokens) {
		tokens <- s.passwordGrant("comments:read").str("refresh_token")
	}
	b.ReportAllocs()
	b.SetParallelism(16) // 16 goroutines per core: enough to keep both busy while others wait on Redis
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rt := <-tokens
		for pb.Next() {
			body := tokenCall(b, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, firstPartyID, firstPartySecret)
			if rt = extract(body, "refresh_token"); rt == "" {
				return
			}
		}
	})
}

func BenchmarkTokenPassword(b *testing.B) {
	s := newServer(b, withLimits(0, 0))
	// Without openid: an ID token is a second signature (RS256), measured
	// by the token package's benchmarks, not part of the password grant.
	f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}, "scope": {"profile comments:read"}}
	b.ReportAllocs()
	for b.Loop() {
		tokenCall(b, s, f, firstPartyID, firstPartySecret)
	}
}

// BenchmarkPasswordGrantVsHash alternates one password check and one whole
// password grant in the same loop, so that both see the same machine, and
// reports the grant's time as a multiple of the check's (target: ≤ 1.10).
func BenchmarkPasswordGrantVsHash(b *testing.B) {
	s := newServer(b, withLimits(0, 0))
	stored, err := secret.Hash(alicePassword)
	if err != nil {
		b.Fatal(err)
	}
	f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}, "scope": {"profile comments:read"}}
	var hashTime, grantTime time.Duration
	for b.Loop() {
		t0 := time.Now()
		if ok, err := secret.Verify(stored, alicePassword); !ok || err != nil {
			b.Fatal("verify failed")
		}
		t1 := time.Now()
		tokenCall(b, s, f, firstPartyID, firstPartySecret)
		grantTime += time.Since(t1)
		hashTime += t1.Sub(t0)
	}
	b.ReportMetric(float64(grantTime)/float64(hashTime), "grant/hash")
}

// BenchmarkPasswordHash is the floor of the password grant: one check of
// a stored password hash.
func BenchmarkPasswordHash(b *testing.B) {
	h, err := secret.Hash(alicePassword)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := secret.Verify(h, alicePassword); !ok || err != nil {
			b.Fatal("verify failed")
		}
	}
}

// extract pulls one string member out of a JSON token response without a
// decode, to keep the benchmark loop's own cost small.
func extract(body, name string) string {
	_, rest, ok := strings.Cut(body, `"`+name+`":"`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// BenchmarkTokenPasswordAudited is BenchmarkTokenPassword with the audit
// log the server gives every request (a sign_in and a token.issued
// event, JSON-logged to nowhere): without the stream, and with it, its
// writer running. The difference is what audit.stream costs a request.
func BenchmarkTokenPasswordAudited(b *testing.B) {
	for _, stream := range []bool{false, true} {
		b.Run(fmt.Sprintf("stream=%t", stream), func(b *testing.B) {
			s := newServer(b, withLimits(0, 0))
			o := audit.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
			if stream {
				o.Redis, o.StreamKey = s.Store.Redis(), s.Store.AuditStreamKey()
			}
			log, err := audit.New(o)
			if err != nil {
				b.Fatal(err)
			}
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = log.Run(ctx) }()
			defer func() { stop(); <-done }()
			f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}, "scope": {"profile comments:read"}}
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(f.Encode()))
				req = req.WithContext(audit.NewContext(req.Context(), log))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(firstPartyID, firstPartySecret)
				rec := httptest.NewRecorder()
				s.Handler.Token(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("got %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
