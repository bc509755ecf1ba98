package oauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The grants as real client libraries drive them, with every token checked
// against the published JWKS by libraries that are not ours.
func TestWithRealClientLibraries(t *testing.T) {
	s := newServer(t)
	ctx := t.Context()
	jwks, err := keyfunc.NewDefaultCtx(ctx, []string{s.URL + "/.well-known/jwks.json"})
	if err != nil {
		t.Fatal(err)
	}
	checkAccess := func(t *testing.T, raw, wantSub, wantClient string) {
		t.Helper()
		var claims jwt.MapClaims
		tok, err := jwt.ParseWithClaims(raw, &claims, jwks.KeyfuncCtx(ctx), jwt.WithValidMethods([]string{"ES256"}),
			jwt.WithIssuer(s.Issuer), jwt.WithAudience(s.Issuer+"/api"), jwt.WithExpirationRequired())
		if err != nil {
			t.Fatalf("access token does not verify against the JWKS: %v", err)
		}
		if tok.Header["typ"] != "at+jwt" || tok.Header["kid"] == nil {
			t.Errorf("header = %v, want typ at+jwt and a kid", tok.Header)
		}
		if claims["sub"] != wantSub || claims["client_id"] != wantClient || claims["jti"] == nil {
			t.Errorf("claims = %v", claims)
		}
	}

	t.Run("password grant and refreshing token source", func(t *testing.T) {
		conf := &oauth2.Config{
			ClientID: firstPartyID, ClientSecret: firstPartySecret,
			Endpoint: oauth2.Endpoint{TokenURL: s.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
			Scopes:   []string{"openid", "profile", "comments:read"},
		}
		tok, err := conf.PasswordCredentialsToken(ctx, "alice", alicePassword)
		if err != nil {
			t.Fatal(err)
		}
		checkAccess(t, tok.AccessToken, s.alice.ID, firstPartyID)

		provider, err := oidc.NewProvider(ctx, s.Issuer)
		if err != nil {
			t.Fatal(err)
		}
		rawID, _ := tok.Extra("id_token").(string)
		idt, err := provider.Verifier(&oidc.Config{ClientID: firstPartyID}).Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("id_token: %v", err)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatalf("at_hash: %v", err)
		}

		// Let the token source see an expired token: it must refresh.
		tok.Expiry = time.Now().Add(-time.Minute)
		fresh, err := conf.TokenSource(ctx, tok).Token()
		if err != nil {
			t.Fatal(err)
		}
		if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken {
			t.Fatal("token source did not refresh and rotate")
		}
		checkAccess(t, fresh.AccessToken, s.alice.ID, firstPartyID)
	})
	t.Run("client credentials", func(t *testing.T) {
		conf := &clientcredentials.Config{
			ClientID: serviceID, ClientSecret: serviceSecret, TokenURL: s.URL + "/oauth2/token",
			Scopes: []string{"comments:read"},
		}
		tok, err := conf.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		checkAccess(t, tok.AccessToken, serviceID, serviceID)
		if tok.RefreshToken != "" {
			t.Error("client credentials must not get a refresh token")
		}
	})
	t.Run("client secret in the body", func(t *testing.T) {
		conf := &clientcredentials.Config{ClientID: serviceID, ClientSecret: serviceSecret,
			TokenURL: s.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}
		if _, err := conf.Token(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
