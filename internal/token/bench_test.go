package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The benchmarks compare minting and verifying with the bare cost of one
// ES256 signature: the rest is our overhead.

func benchRequest() AccessRequest {
	return AccessRequest{
		Subject: "3f6c1a52-7d2b-4c1e-9a51-0c6f1e0a9b11", ClientID: "demo-web",
		Scope: []string{"openid", "profile", "comments:read", "comments:write"}, Roles: []string{"user"},
		Lifetime: 15 * time.Minute, AuthTime: testStart,
	}
}

func BenchmarkSignES256(b *testing.B) {
	key := newTestKey(b, AlgES256, 0).Signer().(*ecdsa.PrivateKey)
	digest := sha256.Sum256([]byte("header.payload"))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ecdsa.Sign(rand.Reader, key, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyES256 is the bare signature check under VerifyAccess.
func BenchmarkVerifyES256(b *testing.B) {
	key := newTestKey(b, AlgES256, 0).Signer().(*ecdsa.PrivateKey)
	digest := sha256.Sum256([]byte("header.payload"))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !ecdsa.Verify(&key.PublicKey, digest[:], r, s) {
			b.Fatal("signature did not verify")
		}
	}
}

func BenchmarkMintAccessES256(b *testing.B) {
	m := newTestMinter(newTestSet(b, AlgES256), time.Now)
	req := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.MintAccess(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMintAccessES256MapClaims is the obvious golang-jwt way, for
// comparison with BenchmarkMintAccessES256.
func BenchmarkMintAccessES256MapClaims(b *testing.B) {
	key := newTestKey(b, AlgES256, 0)
	req := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"iss": testIssuer, "sub": req.Subject, "aud": testAudience, "exp": now.Add(req.Lifetime).Unix(),
			"iat": now.Unix(), "nbf": now.Unix(), "jti": NewJTI(), "client_id": req.ClientID,
			"scope": strings.Join(req.Scope, " "), "roles": req.Roles, "auth_time": req.AuthTime.Unix(),
		})
		tok.Header["typ"], tok.Header["kid"] = "at+jwt", key.ID()
		if _, err := tok.SignedString(key.Signer()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMintAccessRS256(b *testing.B) {
	key, err := GenerateKey(AlgRS256) // DefaultRSABits, as in production
	if err != nil {
		b.Fatal(err)
	}
	set, _ := NewKeySet(AlgRS256, AlgRS256)
	if err := set.Replace([]KeyEntry{{Key: key, State: StateActive}}, testStart); err != nil {
		b.Fatal(err)
	}
	m := newTestMinter(set, time.Now)
	req := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.MintAccess(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyAccessES256(b *testing.B) {
	set := newTestSet(b, AlgES256)
	raw, _, err := newTestMinter(set, time.Now).MintAccess(context.Background(), benchRequest())
	if err != nil {
		b.Fatal(err)
	}
	v, err := NewVerifier(set, testIssuer, []string{testAudience}, 0, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyAccess(raw); err != nil {
			b.Fatal(err)
		}
	}
}
