package resourceserver_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oauth2d/oauth2d/resourceserver"
)

// A resource server for https://api.example.com: tokens verified against
// the issuer's JWKS, revocations followed through the issuer's feed (the
// API's own confidential client, registered with introspection_audiences,
// reads it).
func Example() {
	ctx := context.Background()
	issuer, audience := "https://auth.example.com", "https://api.example.com"
	verifier, err := resourceserver.NewJWKSVerifier(ctx, resourceserver.JWKSConfig{Issuer: issuer, Audience: audience})
	if err != nil {
		log.Fatal(err)
	}
	feed, err := resourceserver.NewFeedFollower(ctx, resourceserver.FeedConfig{Issuer: issuer,
		ClientID: "my-api", ClientSecret: os.Getenv("FEED_SECRET")})
	if err != nil {
		log.Fatal(err)
	}
	go feed.Run(ctx)
	rs, err := resourceserver.New(resourceserver.Config{Realm: issuer, Verifier: verifier, Revocations: feed})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /notes", rs.Require(resourceserver.Scopes("notes:read"))(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			c, _ := resourceserver.ClaimsFromContext(r.Context())
			fmt.Fprintf(w, "hello %s\n", c.Subject)
		})))
	log.Fatal(http.ListenAndServe(":9090", mux))
}

// exampleTokens is a Verifier for the examples: it knows two tokens.
func exampleTokens() resourceserver.Verifier {
	now := time.Now()
	return tokensOf{
		"reader": {Subject: "alice", ClientID: "web", JTI: "1", Scope: []string{"notes:read"}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)},
		"writer": {Subject: "bob", ClientID: "web", JTI: "2", Scope: []string{"notes:read", "notes:write"},
			ACR: "urn:example:mfa", AuthTime: now.Add(-time.Hour), IssuedAt: now, ExpiresAt: now.Add(time.Hour)},
	}
}

func call(h http.Handler, token string) {
	r := httptest.NewRequest(http.MethodPost, "/notes", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(strings.Join(slices.DeleteFunc([]string{strconv.Itoa(w.Code), w.Header().Get("WWW-Authenticate"), w.Body.String()},
		func(s string) bool { return s == "" }), " "))
}

// Require answers with RFC 6750 challenges: 401 without a token or with a
// bad one, 403 naming the scope a token lacks.
func ExampleResource_Require() {
	rs, _ := resourceserver.New(resourceserver.Config{Realm: "https://auth.example.com", Verifier: exampleTokens(),
		ResourceMetadataURL: "https://api.example.com/.well-known/oauth-protected-resource"})
	h := rs.Require(resourceserver.Scopes("notes:write"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := resourceserver.ClaimsFromContext(r.Context())
		fmt.Fprint(w, "written by ", c.Subject)
	}))
	call(h, "")
	call(h, "forged")
	call(h, "reader")
	call(h, "writer")
	// Output:
	// 401 Bearer realm="https://auth.example.com", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"
	// 401 Bearer realm="https://auth.example.com", error="invalid_token", error_description="the access token is invalid or expired", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource" {"error":"invalid_token","error_description":"the access token is invalid or expired"}
	// 403 Bearer realm="https://auth.example.com", error="insufficient_scope", error_description="the access token lacks a scope this request requires", scope="notes:write" {"error":"insufficient_scope","error_description":"the access token lacks a scope this request requires"}
	// 200 written by bob
}

// A route that needs a recent multi-factor sign-in asks for step-up
// authentication (RFC 9470): the client sends the user back to the
// authorization server with acr_values and max_age.
func ExampleMaxAge() {
	rs, _ := resourceserver.New(resourceserver.Config{Realm: "https://auth.example.com", Verifier: exampleTokens()})
	h := rs.Require(resourceserver.ACR("urn:example:mfa"), resourceserver.MaxAge(10*time.Minute))(http.HandlerFunc(
		func(http.ResponseWriter, *http.Request) {}))
	call(h, "writer") // signed in with MFA, but an hour ago
	// Output:
	// 401 Bearer realm="https://auth.example.com", error="insufficient_user_authentication", error_description="the user must authenticate again, as this request requires", acr_values="urn:example:mfa", max_age="600" {"error":"insufficient_user_authentication","error_description":"the user must authenticate again, as this request requires"}
}

// A handler that finds the token's user gone answers in the middleware's
// shape.
func ExampleResource_Reject() {
	rs, _ := resourceserver.New(resourceserver.Config{Realm: "https://auth.example.com", Verifier: exampleTokens()})
	h := rs.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.Reject(w, r, resourceserver.ErrUnknownSubject)
	}))
	call(h, "reader")
	// Output:
	// 401 Bearer realm="https://auth.example.com", error="invalid_token", error_description="the access token's user no longer exists" {"error":"invalid_token","error_description":"the access token's user no longer exists"}
}

// DPoP-bound tokens (RFC 9449) are accepted with a proof; RequireDPoP
// refuses bearer tokens altogether. Several instances of one API share a
// ReplayStore (the default remembers proofs in this process only).
func ExampleNewProofVerifier() {
	proofs, err := resourceserver.NewProofVerifier(resourceserver.DPoPConfig{})
	if err != nil {
		log.Fatal(err)
	}
	rs, _ := resourceserver.New(resourceserver.Config{Realm: "https://auth.example.com", Verifier: exampleTokens(),
		DPoP: proofs, RequireDPoP: true, PublicURL: "https://api.example.com"})
	call(rs.Require()(http.NotFoundHandler()), "reader")
	// Output:
	// 401 DPoP realm="https://auth.example.com", algs="ES256 ES384 PS256 RS256 EdDSA", error="invalid_token", error_description="this resource accepts only DPoP-bound access tokens" {"error":"invalid_token","error_description":"this resource accepts only DPoP-bound access tokens"}
}
