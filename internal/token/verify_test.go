package token

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// craft signs arbitrary header and claims, to build tokens our Minter
// would never produce.
func craft(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header = header
	tok.Header["alg"] = method.Alg()
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return canonicalS(t, method, raw, false)
}

// canonicalS rewrites an ECDSA-signed JWS to its low-S form, or to its
// high-S twin when high is set (the malleable second string of a token).
func canonicalS(t *testing.T, method jwt.SigningMethod, raw string, high bool) string {
	t.Helper()
	n := ecdsaOrder(method)
	if n == nil {
		return raw
	}
	i := strings.LastIndexByte(raw, '.')
	sig, err := base64.RawURLEncoding.DecodeString(raw[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	lowS(method, sig)
	if high {
		half := len(sig) / 2
		s := new(big.Int).SetBytes(sig[half:])
		s.Sub(n, s).FillBytes(sig[half:])
	}
	return raw[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

func validClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIssuer, "sub": "user-1", "aud": testAudience, "client_id": "client-1",
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"jti": "jti-1", "scope": "openid comments:read",
	}
}

func with(c jwt.MapClaims, changes map[string]any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func TestVerifyAccess(t *testing.T) {
	clock := newClock()
	now := clock.Now()
	set := newTestSet(t, AlgES256) // ES256 access key, RS256 id-token key
	es, _ := set.Active(AlgES256)
	rs, _ := set.Active(AlgRS256)
	stranger := newTestKey(t, AlgES256, 0) // not in the set
	minter := newTestMinter(set, clock.Now)
	v := newTestVerifier(t, set, clock)

	hdr := func(k *Key) map[string]any { return map[string]any{"kid": k.ID(), "typ": "at+jwt"} }
	signES := func(h map[string]any, c jwt.MapClaims) string {
		return craft(t, jwt.SigningMethodES256, es.Signer(), h, c)
	}
	good := validClaims(now)
	rsaPub, err := x509.MarshalPKIXPublicKey(rs.Public())
	if err != nil {
		t.Fatal(err)
	}
	rsaPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
	minted := mintAccess(t, minter)
	idToken, err := minter.MintIDToken(context.Background(), IDClaims{Subject: "user-1", Audience: testAudience, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		raw    string
		reason string // substring of the error; empty means the token must verify
	}{
		{"minted token", minted, ""},
		{"crafted valid token", signES(hdr(es), good), ""},
		{"typ application/at+jwt", signES(map[string]any{"kid": es.ID(), "typ": "application/at+jwt"}, good), ""},
		{"typ in upper case", signES(map[string]any{"kid": es.ID(), "typ": "AT+JWT"}, good), ""},
		{"expired within the leeway", signES(hdr(es), with(good, map[string]any{"exp": now.Add(-10 * time.Second).Unix()})), "token is expired"},
		{"expiring now", signES(hdr(es), with(good, map[string]any{"exp": now.Unix()})), "token is expired"},
		{"issued within the leeway ahead", signES(hdr(es), with(good, map[string]any{"iat": now.Add(10 * time.Second).Unix(), "nbf": now.Add(10 * time.Second).Unix()})), ""},
		{"alg none", noneToken(t, hdr(es), good), "signing method none is invalid"},
		{"HS256 keyed with the RSA public key", craft(t, jwt.SigningMethodHS256, rsaPubPEM, hdr(rs), good), "signing method HS256 is invalid"},
		{"HS256 keyed with the raw RSA public key", craft(t, jwt.SigningMethodHS256, rsaPub, hdr(rs), good), "signing method HS256 is invalid"},
		{"PS256 header over an RS256 key", craft(t, jwt.SigningMethodPS256, rs.Signer(), hdr(rs), good), `alg "PS256" does not match`},
		{"ES256 header naming the RSA key", signES(hdr(rs), good), `alg "ES256" does not match`},
		{"tampered payload", tamperPayload(t, signES(hdr(es), good)), "signature is invalid"},
		{"tampered signature", tamperSignature(signES(hdr(es), good)), "signature is invalid"},
		{"minted token's high-S twin", canonicalS(t, jwt.SigningMethodES256, minted, true), "low-S"},
		{"crafted token's high-S twin", canonicalS(t, jwt.SigningMethodES256, signES(hdr(es), good), true), "low-S"},
		{"unknown kid", craft(t, jwt.SigningMethodES256, stranger.Signer(), hdr(stranger), good), "unknown kid"},
		{"our kid, another key", craft(t, jwt.SigningMethodES256, stranger.Signer(), hdr(es), good), "signature is invalid"},
		{"no kid", signES(map[string]any{"typ": "at+jwt"}, good), "no kid"},
		{"typ JWT", signES(map[string]any{"kid": es.ID(), "typ": "JWT"}, good), "is not at+jwt"},
		{"no typ", signES(map[string]any{"kid": es.ID()}, good), "is not at+jwt"},
		{"id_token as access token", idToken, "is not at+jwt"},
		{"crit header", signES(map[string]any{"kid": es.ID(), "typ": "at+jwt", "crit": []string{"exp"}}, good), "crit"},
		{"expired", signES(hdr(es), with(good, map[string]any{"exp": now.Add(-time.Minute).Unix()})), "token is expired"},
		{"not yet valid", signES(hdr(es), with(good, map[string]any{"nbf": now.Add(2 * time.Minute).Unix()})), "token is not valid yet"},
		{"issued in the future", signES(hdr(es), with(good, map[string]any{"iat": now.Add(2 * time.Minute).Unix()})), "token used before issued"},
		{"wrong issuer", signES(hdr(es), with(good, map[string]any{"iss": "https://evil.example"})), "invalid issuer"},
		{"issuer with a trailing slash", signES(hdr(es), with(good, map[string]any{"iss": testIssuer + "/"})), "invalid issuer"},
		{"wrong audience", signES(hdr(es), with(good, map[string]any{"aud": []string{"https://other.example"}})), "invalid audience"},
		{"no audience", signES(hdr(es), with(good, map[string]any{"aud": nil})), "aud"},
		{"no exp", signES(hdr(es), with(good, map[string]any{"exp": nil})), "exp"},
		{"exp not a number", signES(hdr(es), with(good, map[string]any{"exp": "tomorrow"})), "malformed"},
		{"no jti", signES(hdr(es), with(good, map[string]any{"jti": nil})), "jti"},
		{"no sub", signES(hdr(es), with(good, map[string]any{"sub": nil})), "sub"},
		{"no client_id", signES(hdr(es), with(good, map[string]any{"client_id": nil})), "client_id"},
		{"no iat", signES(hdr(es), with(good, map[string]any{"iat": nil})), "iat"},
		{"empty string", "", "malformed"},
		{"two segments", "a.b", "malformed"},
		{"garbage segments", "a.b.c", "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims, err := v.VerifyAccess(tc.raw)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("rejected a valid token: %v", err)
				}
				if claims.Subject != "user-1" || claims.ClientID != "client-1" {
					t.Fatalf("claims = %+v", claims)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted, want a rejection")
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v, does not wrap ErrInvalidToken", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err = %q, want the reason %q", err, tc.reason)
			}
		})
	}
}

func noneToken(t *testing.T, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	raw, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// tamperPayload changes sub and keeps the original signature.
func tamperPayload(t *testing.T, raw string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	var claims map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	claims["sub"] = "admin"
	b, _ = json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func tamperSignature(raw string) string {
	dot := strings.LastIndexByte(raw, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(raw[dot+1:])
	sig[0] ^= 0xff
	return raw[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)
}

func TestVerifyAccessRejectsTokenForOtherAudienceOfSameIssuer(t *testing.T) {
	// Our keys also sign for other audiences; a resource server must only
	// take its own tokens.
	clock := newClock()
	set := newTestSet(t, AlgES256)
	raw := mintAccess(t, NewMinter(set, testIssuer, []string{"https://other-api.example"}, clock.Now))
	if _, err := newTestVerifier(t, set, clock).VerifyAccess(raw); !errors.Is(err, jwt.ErrTokenInvalidAudience) {
		t.Fatalf("err = %v, want invalid audience", err)
	}
}

func TestVerifyAccessHonoursTheClock(t *testing.T) {
	clock := newClock()
	set := newTestSet(t, AlgEdDSA)
	m := newTestMinter(set, clock.Now)
	v := newTestVerifier(t, set, clock)
	raw := mintAccess(t, m)
	clock.Advance(time.Minute - time.Second)
	if _, err := v.VerifyAccess(raw); err != nil {
		t.Fatalf("rejected a second before exp: %v", err)
	}
	// exp is strict, leeway or not: every endpoint (API, userinfo,
	// introspection) calls a token expired at the same instant.
	clock.Advance(time.Second)
	if _, err := v.VerifyAccess(raw); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("err = %v, want expired", err)
	}
}

func TestNewVerifierRequiresIssuerAndAudience(t *testing.T) {
	set := newTestSet(t, AlgES256)
	now := newClock().Now
	const want = "token: verifier needs keys, an issuer, an audience and a clock"
	tests := []struct {
		name     string
		issuer   string
		audience []string
	}{
		{"empty issuer", "", []string{testAudience}},
		{"no audience", testIssuer, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewVerifier(set, tc.issuer, tc.audience, 0, now)
			checkErrorText(t, err, want)
		})
	}
}
