package oauth_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/oauth2d/oauth2d/internal/clientkeys"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/outbound"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/token"
)

// withClientKeys gives the handler a jwks_uri fetcher through a guard
// that allows the listed internal destinations (none: the production
// policy, which refuses 127.0.0.1).
func withClientKeys(t testing.TB, timeout, minRefetch time.Duration, allow ...string) serverOption {
	guard, err := outbound.New(&config.Config{Outbound: config.Outbound{AllowInternal: allow}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := clientkeys.NewFetcher(clientkeys.FetcherConfig{Client: guard.Client(timeout), FetchTimeout: timeout, MinRefetch: minRefetch})
	if err != nil {
		t.Fatal(err)
	}
	return func(d *oauth.Deps, _ *ratelimit.Limits) { d.ClientKeys = f }
}

// jwksServer serves body (changeable) and counts its requests.
type jwksServer struct {
	*httptest.Server
	body  atomic.Value // string
	hits  atomic.Int64
	serve func(w http.ResponseWriter, r *http.Request, body string)
}

func newJWKSServer(t *testing.T, body string) *jwksServer {
	j := &jwksServer{}
	j.body.Store(body)
	j.serve = func(w http.ResponseWriter, _ *http.Request, body string) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write([]byte(body))
	}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.hits.Add(1)
		j.serve(w, r, j.body.Load().(string))
	}))
	t.Cleanup(j.Close)
	return j
}

// TestPrivateKeyJWTJWKSURI: keys at a jwks_uri are fetched, cached, and
// fetched again for a kid the cache lacks (a rotated key), but no more
// often than the refetch interval whatever kids callers name.
func TestPrivateKeyJWTJWKSURI(t *testing.T) {
	const minRefetch = 400 * time.Millisecond
	s := newServer(t, withClientKeys(t, 2*time.Second, minRefetch, "127.0.0.1"))
	js := newJWKSServer(t, pkJWKS(t, "ec"))
	s.registerPK(pkClientID, "", js.URL+"/jwks")
	ec, ed := pkKeys()["ec"], pkKeys()["ed"]
	for range 3 {
		if res := s.pkToken(sign(t, ec, jose.ES256, "ec", nil, s.pkClaims(nil))); res.Status != http.StatusOK {
			t.Fatalf("%d %s", res.Status, res.Raw)
		}
	}
	if n := js.hits.Load(); n != 1 {
		t.Fatalf("%d fetches for three requests, want 1 (cached)", n)
	}
	// Unknown kids, many at once: at most one more fetch.
	for range 5 {
		wantError(t, s.pkToken(sign(t, ed, jose.EdDSA, "ed", nil, s.pkClaims(nil))), http.StatusUnauthorized, "invalid_client")
	}
	if n := js.hits.Load(); n > 2 {
		t.Fatalf("%d fetches after five unknown kids, want at most 2", n)
	}
	// The client rotates to its Ed25519 key; after the interval, its kid
	// is fetched and accepted.
	js.body.Store(pkJWKS(t, "ed"))
	time.Sleep(minRefetch + 50*time.Millisecond)
	if res := s.pkToken(sign(t, ed, jose.EdDSA, "ed", nil, s.pkClaims(nil))); res.Status != http.StatusOK {
		t.Fatalf("rotated key: %d %s", res.Status, res.Raw)
	}
}

// TestPrivateKeyJWTJWKSURIRefusals: a jwks_uri that redirects, is
// internal, answers too much or never answers fails the assertion with
// invalid_client, promptly.
func TestPrivateKeyJWTJWKSURIRefusals(t *testing.T) {
	const fetchTimeout = 500 * time.Millisecond
	good := pkJWKS(t, "ec")
	target := newJWKSServer(t, good)
	redirect := newJWKSServer(t, good)
	redirect.serve = func(w http.ResponseWriter, r *http.Request, _ string) {
		http.Redirect(w, r, target.URL+"/jwks", http.StatusFound)
	}
	large := newJWKSServer(t, `{"keys":[],"pad":"`+strings.Repeat("x", clientkeys.MaxSetBytes)+`"}`)
	stall := newJWKSServer(t, good)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stall.serve = func(http.ResponseWriter, *http.Request, string) { <-release }
	for _, tc := range []struct {
		name  string
		uri   string
		allow []string
	}{
		{"redirect", redirect.URL + "/jwks", []string{"127.0.0.1"}},
		{"internal address", target.URL + "/jwks", nil},
		{"too large", large.URL + "/jwks", []string{"127.0.0.1"}},
		{"never answers", stall.URL + "/jwks", []string{"127.0.0.1"}},
		{"nothing listens", "http://127.0.0.1:1/jwks", []string{"127.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, withClientKeys(t, fetchTimeout, time.Second, tc.allow...))
			s.registerPK(pkClientID, "", tc.uri)
			start := time.Now()
			res := s.pkToken(sign(t, pkKeys()["ec"], jose.ES256, "ec", nil, s.pkClaims(nil)))
			wantError(t, res, http.StatusUnauthorized, "invalid_client")
			if d := time.Since(start); d > fetchTimeout+time.Second {
				t.Fatalf("answered after %v", d)
			}
			if !strings.Contains(res.str("error_description"), "jwks_uri") {
				t.Errorf("description %q does not name the jwks_uri", res.str("error_description"))
			}
		})
	}
	if n := target.hits.Load(); n != 0 {
		t.Fatalf("the redirect was followed or the internal address reached: %d requests", n)
	}
}

// TestPrivateKeyJWTRedisStalls: while Redis stalls, an assertion whose
// jti cannot be recorded is answered 503 temporarily_unavailable within
// about the command timeout, never accepted and never left hanging; once
// Redis is back a fresh assertion works.
func TestPrivateKeyJWTRedisStalls(t *testing.T) {
	rs := testredis.NewPrivate(t)
	const timeout = 300 * time.Millisecond
	store, err := storage.Open(context.Background(), storage.Options{URL: rs.URL, Prefix: rs.Prefix, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	clients := storage.NewClientCache(store, time.Minute)
	go func() { _ = clients.Run(ctx) }()
	keys, err := token.NewDevKeySet(token.AlgES256, token.AlgRS256, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://127.0.0.1"
	verifier, err := token.NewVerifier(keys, issuer, []string{issuer + "/api"}, 0, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	checker, err := secret.NewChecker(runtime.GOMAXPROCS(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := oauth.NewHandler(oauth.Deps{
		Config: oauth.Config{Issuer: issuer, AccessTokenTTL: time.Minute},
		Store:  store, Clients: clients, Users: store, Passwords: store, Checker: checker, Assertions: store,
		Minter: token.NewMinter(keys, issuer, []string{issuer + "/api"}, time.Now), Verifier: verifier,
		Limiter: ratelimit.New(store.Redis(), rs.Prefix, ratelimit.Limits{PerUsername: 1000, PerIP: 1000}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(h.Token))
	t.Cleanup(ts.Close)
	s := &server{t: t, URL: ts.URL, Issuer: issuer, Store: store, deps: oauth.Deps{Clients: clients}}
	s.registerPK(pkClientID, pkJWKS(t, "ec"), "")
	ec := pkKeys()["ec"]
	if res := s.pkToken(sign(t, ec, jose.ES256, "ec", nil, s.pkClaims(nil))); res.Status != http.StatusOK {
		t.Fatalf("before the stall: %d %s", res.Status, res.Raw)
	}
	rs.Pause(t)
	start := time.Now()
	res := s.pkToken(sign(t, ec, jose.ES256, "ec", nil, s.pkClaims(nil)))
	if d := time.Since(start); d > 3*timeout+time.Second {
		t.Errorf("answered after %v", d)
	}
	wantError(t, res, http.StatusServiceUnavailable, "temporarily_unavailable")
	rs.Resume(t)
	if res := s.pkToken(sign(t, ec, jose.ES256, "ec", nil, s.pkClaims(nil))); res.Status != http.StatusOK {
		t.Fatalf("after the stall: %d %s", res.Status, res.Raw)
	}
}
