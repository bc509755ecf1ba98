package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/token"
)

// TestExampleResource runs the program as a user would, against a stand-in
// for oauth2d: RFC 8414 metadata, the JWKS of fresh development keys, and
// a revocation feed whose snapshot revokes one token.
func TestExampleResource(t *testing.T) {
	keys, err := token.NewDevKeySet(token.AlgES256, token.AlgRS256, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	var issuer string
	const revokedJTI = "revoked-jti"
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": issuer + "/jwks",
				"oauth2d_revocation_feed_endpoint": issuer + "/feed"})
		case "/jwks":
			_, _ = w.Write(keys.JWKS())
		case "/feed":
			if id, secret, _ := r.BasicAuth(); id != "my-api" || secret != "feed-secret" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if r.URL.Query().Has("cursor") { // nothing new: hold briefly
				select {
				case <-time.After(time.Second):
				case <-r.Context().Done():
					return
				}
			}
			fmt.Fprintf(w, `{"cursor":"1","snapshot":%t,"jtis":[{"jti":%q,"exp":%d}],"cutoffs":[]}`,
				!r.URL.Query().Has("cursor"), revokedJTI, time.Now().Add(time.Hour).UnixMilli())
		default:
			http.NotFound(w, r)
		}
	}))
	defer as.Close()
	issuer = as.URL
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	getenv := func(k string) string { return map[string]string{"EXAMPLE_RESOURCE_CLIENT_SECRET": "feed-secret"}[k] }
	go func() {
		done <- run(ctx, []string{"-issuer", issuer, "-addr", addr, "-client-id", "my-api"}, getenv, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	minter := token.NewMinter(keys, issuer, []string{issuer + "/api"}, time.Now)
	mint := func(req token.AccessRequest) string {
		raw, _, err := minter.MintAccess(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	base := token.AccessRequest{Subject: "user-1", ClientID: "web", Scope: []string{"profile"}, Lifetime: time.Minute}
	revoked, noScope, wrongAud := base, base, base
	revoked.JTI = revokedJTI
	noScope.Scope = []string{"comments:read"}
	wrongAud.Audience = []string{"https://other.example"}
	key := dpoptest.NewKey(t)
	boundReq := base
	boundReq.JKT = key.Thumbprint(t)
	bound := mint(boundReq)
	url := "http://" + addr + "/hello"
	tests := []struct {
		name, scheme, token, proof string
		status                     int
	}{
		{"valid", "Bearer", mint(base), "", 200},
		{"revoked through the feed", "Bearer", mint(revoked), "", 401},
		{"another audience", "Bearer", mint(wrongAud), "", 401},
		{"missing scope", "Bearer", mint(noScope), "", 403},
		{"DPoP-bound with its proof", "DPoP", bound, key.Proof(t, dpoptest.For("GET", url).WithToken(bound)), 200},
		{"DPoP-bound as Bearer", "Bearer", bound, "", 401},
	}
	waitServing(t, url, mint(base))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Authorization", tc.scheme+" "+tc.token)
			if tc.proof != "" {
				req.Header.Set("DPoP", tc.proof)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (WWW-Authenticate %q)", resp.StatusCode, tc.status, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitServing polls url with a valid token until the server listens and
// its revocation state is loaded (200).
func waitServing(t *testing.T, url, raw string) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+raw)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("example-resource did not start serving")
}
