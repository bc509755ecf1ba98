// Command example-resource is a minimal resource server outside oauth2d,
// built on package resourceserver as docs/resource-servers.md explains:
// it verifies oauth2d access tokens locally against the published JWKS
// (bearer or DPoP-bound), follows the revocation feed when given client
// credentials, and serves one protected route.
//
//	EXAMPLE_RESOURCE_CLIENT_SECRET=… go run ./cmd/example-resource \
//	    -issuer http://localhost:8080 -addr 127.0.0.1:9090 -client-id my-api
//	curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:9090/hello
//
// Without -client-id it cannot see revocations: a revoked token then
// stands until it expires.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/oauth2d/oauth2d/resourceserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "example-resource:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("example-resource", flag.ContinueOnError)
	fs.SetOutput(stderr)
	issuer := fs.String("issuer", "http://localhost:8080", "oauth2d issuer URL")
	audience := fs.String("audience", "", "this API's resource identifier, the expected aud (default: issuer + /api)")
	addr := fs.String("addr", "127.0.0.1:9090", "listen address")
	scope := fs.String("scope", "profile", "scope /hello requires")
	publicURL := fs.String("url", "", "this service's public URL, the htu of DPoP proofs (default: http://<addr>)")
	clientID := fs.String("client-id", "", "client id for the revocation feed (secret from EXAMPLE_RESOURCE_CLIENT_SECRET); empty: no revocations")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *audience == "" {
		*audience = strings.TrimSuffix(*issuer, "/") + "/api"
	}
	if *publicURL == "" {
		*publicURL = "http://" + *addr
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	verifier, err := resourceserver.NewJWKSVerifier(ctx, resourceserver.JWKSConfig{Issuer: *issuer, Audience: *audience})
	if err != nil {
		return err
	}
	proofs, err := resourceserver.NewProofVerifier(resourceserver.DPoPConfig{})
	if err != nil {
		return err
	}
	cfg := resourceserver.Config{Realm: *issuer, Verifier: verifier, DPoP: proofs, PublicURL: *publicURL, Logger: log}
	g, ctx := errgroup.WithContext(ctx)
	if *clientID != "" {
		feed, err := resourceserver.NewFeedFollower(ctx, resourceserver.FeedConfig{Issuer: *issuer,
			ClientID: *clientID, ClientSecret: getenv("EXAMPLE_RESOURCE_CLIENT_SECRET"), Logger: log})
		if err != nil {
			return err
		}
		g.Go(func() error { return feed.Run(ctx) })
		cfg.Revocations = feed
	}
	rs, err := resourceserver.New(cfg)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: *addr, Handler: routes(rs, *scope), ReadHeaderTimeout: 5 * time.Second}
	g.Go(func() error {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	})
	g.Go(func() error {
		log.Info("example-resource: listening", "addr", *addr, "issuer", *issuer, "revocations", *clientID != "")
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return g.Wait()
}

func routes(rs *resourceserver.Resource, scope string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /hello", rs.Require(resourceserver.Scopes(scope))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := resourceserver.ClaimsFromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"hello\":%q,\"client_id\":%q}\n", c.Subject, c.ClientID)
	})))
	return mux
}
