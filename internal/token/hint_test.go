package token

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifyIDTokenHint: an ID token of ours is a hint however old; an
// access or logout token, another issuer's token, one without subject or
// audience, a forged one or an oversized one is not.
func TestVerifyIDTokenHint(t *testing.T) {
	clock := newClock()
	set := newTestSet(t, AlgES256) // ES256 access key, RS256 id-token key
	es, _ := set.Active(AlgES256)
	minter := newTestMinter(set, clock.Now)
	idToken, err := minter.MintIDToken(context.Background(), IDClaims{Subject: "user-1", Audience: "app", SessionID: "sid-1", Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	old, err := minter.MintIDToken(context.Background(), IDClaims{Subject: "user-1", Audience: "app", Lifetime: time.Minute,
		IssuedAt: clock.Now().Add(-30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	access := mintAccess(t, minter)
	logout, err := minter.MintLogout(context.Background(), LogoutClaims{Audience: "app", Subject: "user-1", JTI: NewJTI()})
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"iss": testIssuer, "sub": "user-1", "aud": "app", "iat": clock.Now().Unix(), "exp": clock.Now().Add(time.Minute).Unix()}
	sign := func(header map[string]any, c jwt.MapClaims) string {
		return craft(t, jwt.SigningMethodES256, es.Signer(), header, c)
	}
	jwtHeader := map[string]any{"kid": es.ID(), "typ": "JWT"}

	if h, err := VerifyIDTokenHint(set, testIssuer, idToken); err != nil || h.Subject != "user-1" ||
		!slices.Equal(h.Audience, []string{"app"}) || h.SessionID != "sid-1" {
		t.Fatalf("minted ID token: %+v, %v", h, err)
	}
	for _, ok := range []struct{ name, raw string }{
		{"expired a month ago", old},
		{"no typ", sign(map[string]any{"kid": es.ID()}, claims)},
	} {
		if _, err := VerifyIDTokenHint(set, testIssuer, ok.raw); err != nil {
			t.Errorf("%s: %v", ok.name, err)
		}
	}
	tests := []struct{ name, raw, reason string }{
		{"an access token", access, `"at+jwt" token is not an id_token_hint`},
		{"a logout token", logout, `"logout+jwt" token is not an id_token_hint`},
		{"another issuer", sign(jwtHeader, with(claims, map[string]any{"iss": "https://other.example"})), "issuer"},
		{"no subject", sign(jwtHeader, with(claims, map[string]any{"sub": nil})), "without subject or audience"},
		{"no audience", sign(jwtHeader, with(claims, map[string]any{"aud": nil})), "without subject or audience"},
		{"tampered signature", tamperSignature(idToken), "signature is invalid"},
		{"unknown kid", sign(map[string]any{"kid": "nope", "typ": "JWT"}, claims), "unknown kid"},
		{"crit header", sign(map[string]any{"kid": es.ID(), "typ": "JWT", "crit": []string{"exp"}}, claims), "crit"},
		{"over the size limit", idToken + strings.Repeat("A", MaxIDTokenHintLen), "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyIDTokenHint(set, testIssuer, tc.raw)
			if !errors.Is(err, ErrInvalidIDTokenHint) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err = %v, want ErrInvalidIDTokenHint with %q", err, tc.reason)
			}
		})
	}
}
