// Package testenv gives a test the parts every in-process oauth2d server
// is built from: a Store on a real Redis under a key prefix of its own, an
// unstarted loopback HTTP server whose address is the issuer, development
// signing keys and a verifier for the issuer's access tokens. Each
// package's harness mounts its own handlers on top, and sends them
// requests in process with Do and Serve.
package testenv

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/token"
)

// Env is one test server's parts. Everything is closed when the test ends.
type Env struct {
	Store    *storage.Store
	Prefix   string           // the Store's key prefix
	RedisURL string           // the Store's Redis
	Server   *httptest.Server // not started: Start serves a handler on it
	Issuer   string           // http://127.0.0.1:<port>
	Audience []string         // Issuer + "/api"
	Keys     *token.KeySet    // ES256 access tokens, RS256 ID tokens
	Verifier *token.Verifier
	// Checker is the one password and secret checker of this server, as
	// serve shares one between the token endpoint and the login page.
	Checker *secret.Checker
	Logger  *slog.Logger // discards
	tls     bool
}

// New builds an Env for t.
func New(t testing.TB) *Env {
	t.Helper()
	return newEnv(t, false)
}

// NewTLS is New on https: the issuer is https://127.0.0.1:<port> and Start
// serves TLS with httptest's certificate, which Server.Client trusts.
func NewTLS(t testing.TB) *Env {
	t.Helper()
	return newEnv(t, true)
}

func newEnv(t testing.TB, useTLS bool) *Env {
	t.Helper()
	rs := testredis.New(t)
	logger := slog.New(slog.DiscardHandler)
	store, err := storage.Open(context.Background(), storage.Options{URL: rs.URL, Prefix: rs.Prefix, Logger: logger})
	if err != nil {
		t.Fatalf("testenv: open storage: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })

	ts := httptest.NewUnstartedServer(nil)
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	issuer := scheme + "://" + ts.Listener.Addr().String()
	keys, err := token.NewDevKeySet(token.AlgES256, token.AlgRS256, logger, time.Now)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	audience := []string{issuer + "/api"}
	verifier, err := token.NewVerifier(keys, issuer, audience, 0, time.Now)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	checker, err := secret.NewChecker(runtime.GOMAXPROCS(0), nil)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return &Env{Store: store, Prefix: rs.Prefix, RedisURL: rs.URL, Server: ts, Issuer: issuer, Audience: audience,
		Keys: keys, Verifier: verifier, Checker: checker, Logger: logger, tls: useTLS}
}

// Reopen replaces the Store with one on the same data whose expiry
// decisions follow now (the handlers' clock, in tests that move time;
// nil: time.Now) and whose commands tp traces (nil: none).
func (e *Env) Reopen(t testing.TB, now func() time.Time, tp trace.TracerProvider) {
	t.Helper()
	store, err := storage.Open(context.Background(), storage.Options{URL: e.RedisURL, Prefix: e.Prefix, Logger: e.Logger, Now: now,
		TracerProvider: tp})
	if err != nil {
		t.Fatalf("testenv: open storage: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	e.Store = store
}

// Start serves h on the Env's address until the test ends.
func (e *Env) Start(t testing.TB, h http.Handler) {
	e.Server.Config.Handler = h
	if e.tls {
		e.Server.StartTLS()
	} else {
		e.Server.Start()
	}
	t.Cleanup(e.Server.Close)
}

// UseLocalhost names the server http(s)://localhost:<port> instead of
// 127.0.0.1: WebAuthn needs a domain for its relying party id, which an IP
// address is not. Call it before Start.
func (e *Env) UseLocalhost(t testing.TB) {
	t.Helper()
	e.Issuer = strings.Replace(e.Issuer, "://127.0.0.1:", "://localhost:", 1)
	e.Audience = []string{e.Issuer + "/api"}
	v, err := token.NewVerifier(e.Keys, e.Issuer, e.Audience, 0, time.Now)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	e.Verifier = v
}

// Hash is secret.Hash for seeding test records; it fails t on error.
func Hash(t testing.TB, clear string) string {
	t.Helper()
	h, err := secret.Hash(clear)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return h
}
