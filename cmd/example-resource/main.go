// Command example-resource is a minimal resource server outside oauth2d:
// it verifies oauth2d access tokens locally against the published JWKS
// (MicahParks/keyfunc + golang-jwt), as docs/resource-servers.md explains,
// and serves one protected route.
//
//	go run ./cmd/example-resource -issuer http://localhost:8080 -addr 127.0.0.1:9090
//	curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:9090/hello
//
// It checks what RFC 9068 §4 asks of a resource server: signature with a
// published key and a pinned algorithm, typ "at+jwt" (so an ID token is
// refused), iss, aud, exp, and the presence of sub, client_id and jti. It
// cannot see oauth2d's revocation list: for that, keep access tokens
// short-lived or ask /oauth2/introspect before sensitive operations.
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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "example-resource:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("example-resource", flag.ContinueOnError)
	fs.SetOutput(stderr)
	issuer := fs.String("issuer", "http://localhost:8080", "oauth2d issuer URL")
	audience := fs.String("audience", "", "expected aud (default: issuer + /api)")
	addr := fs.String("addr", "127.0.0.1:9090", "listen address")
	scope := fs.String("scope", "profile", "scope /hello requires")
	publicURL := fs.String("url", "", "this service's public URL, the htu of DPoP proofs (default: http://<addr>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *audience == "" {
		*audience = strings.TrimSuffix(*issuer, "/") + "/api"
	}
	v, err := NewVerifier(ctx, *issuer, *audience)
	if err != nil {
		return err
	}
	if *publicURL == "" {
		*publicURL = "http://" + *addr
	}
	v.Proofs = &ProofChecker{BaseURL: *publicURL, Now: time.Now}
	srv := &http.Server{Addr: *addr, Handler: routes(v, *scope), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.New(slog.NewTextHandler(stderr, nil)).Info("example-resource: listening", "addr", *addr, "issuer", *issuer)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func routes(v *Verifier, scope string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /hello", v.Require(scope, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := ClaimsFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"hello\":%q,\"client_id\":%q}\n", c.Subject, c.ClientID)
	})))
	return mux
}
