package resourceserver_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/resourceserver"
)

// localResource is a Resource for issuer https://i and audience https://a
// verifying with oauth2d's local-key verifier (as the built-in API does),
// with cfg's other settings, and the minter of its tokens.
func localResource(tb testing.TB, cfg resourceserver.Config) (*resourceserver.Resource, *token.Minter) {
	tb.Helper()
	keys, err := token.NewDevKeySet(token.AlgES256, token.AlgES256, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		tb.Fatal(err)
	}
	verifier, err := token.NewVerifier(keys, "https://i", []string{"https://a"}, 0, time.Now)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Realm, cfg.Verifier = "https://i", verifier
	rs, err := resourceserver.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return rs, token.NewMinter(keys, "https://i", []string{"https://a"}, time.Now)
}

type acceptAll struct{}

func (acceptAll) RecordProof(context.Context, string, time.Duration) (bool, error) { return true, nil }

// serve runs req through policy and returns the answer; 200 means it was
// let through.
func serve(policy *resourceserver.Policy, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	policy.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, req)
	return w
}
