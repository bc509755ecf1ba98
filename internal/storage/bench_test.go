package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

// Hot paths against a real Redis (testredis.New): one client lookup per
// token request, one code redemption per code exchange, one rotation per
// refresh, one revocation check per introspection. Run:
// go test -run '^$' -bench . -benchmem ./internal/storage/

func benchStore(b *testing.B) *storage.Store {
	srv := testredis.New(b)
	s, err := storage.Open(context.Background(), storage.Options{URL: srv.URL, Prefix: srv.Prefix})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func BenchmarkGetClient(b *testing.B) {
	s, ctx := benchStore(b), context.Background()
	c := &storage.Client{ID: "web", SecretHash: "$argon2id$…", RedirectURIs: []string{"https://app.example/cb"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "profile", "offline_access"}}
	if err := s.CreateClient(ctx, c); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.GetClient(ctx, "web"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveAndRedeemCode: what the authorize and token endpoints do
// with a code, reading it before redeeming it as the token endpoint does.
func BenchmarkSaveAndRedeemCode(b *testing.B) {
	s, ctx := benchStore(b), context.Background()
	now := time.Now()
	code := &storage.AuthCode{ClientID: "web", UserID: "u1", RedirectURI: "https://app.example/cb",
		Scope: []string{"openid", "profile"}, CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256", AuthTime: now, ExpiresAt: now.Add(time.Minute)}
	issue := storage.CodeRedemption{FamilyID: "f", AccessJTI: "j", AccessExpiresAt: now.Add(5 * time.Minute)}
	for b.Loop() {
		h := secret.SHA256(secret.NewToken(32))
		if err := s.SaveCode(ctx, h, code); err != nil {
			b.Fatal(err)
		}
		if _, err := s.GetCode(ctx, h); err != nil {
			b.Fatal(err)
		}
		if _, err := s.RedeemCode(ctx, h, issue); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRotate(b *testing.B) {
	s, ctx := benchStore(b), context.Background()
	now := time.Now()
	cur := secret.SHA256(secret.NewToken(32))
	f := storage.RefreshFamily{ID: secret.NewToken(16), ClientID: "web", UserID: "u1",
		Scope: []string{"openid", "offline_access"}, AuthTime: now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := s.CreateFamily(ctx, storage.NewRefresh{Family: f, TokenHash: cur, Sliding: time.Hour}); err != nil {
		b.Fatal(err)
	}
	successor := make([]byte, 120) // about an encrypted token
	for b.Loop() {
		next := secret.SHA256(secret.NewToken(32))
		_, err := s.Rotate(ctx, storage.Rotation{FamilyID: f.ID, PresentedHash: cur, NewHash: next,
			Successor: successor, AccessJTI: "j", AccessExpiresAt: now.Add(5 * time.Minute),
			Now: time.Now(), Sliding: time.Hour, Grace: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		cur = next
	}
}

// One per introspection and userinfo request: deny list and cutoffs in
// one round trip.
func BenchmarkIsAccessRevoked(b *testing.B) {
	s, ctx := benchStore(b), context.Background()
	now := time.Now()
	if err := s.RevokeJTI(ctx, "j1", now.Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := s.IsAccessRevoked(ctx, "j1", "u1", "web", now); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
