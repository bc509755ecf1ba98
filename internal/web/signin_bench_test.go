package web_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// BenchmarkSignIn measures a sign-in by each way side by side, on one
// server (a real Redis, the production argon2id cost: testenv.Hash is
// secret.Hash with secret.DefaultParams, 19 MiB and 2 passes). Each
// iteration is a fresh browser that opens /login and ends on the account
// page, signed in. Only right answers are sent, which spend no budget.
//
//	go test -run '^$' -bench BenchmarkSignIn -benchtime 200x -count 3 ./internal/web/
func BenchmarkSignIn(b *testing.B) {
	clock := newTestClock()
	// Localhost: passkeys need a domain as their relying party id; the
	// clock moves 30 s per TOTP sign-in, as a code is accepted once.
	s := webtest.New(b, webtest.Options{Localhost: true, Now: clock.Now})
	const (
		totpUser, totpPassword       = "carol", "carol-password"
		passkeyUser, passkeyPassword = "dave", "dave-password"
	)
	for id, name := range map[string]string{"u-carol": totpUser, "u-dave": passkeyUser} {
		u := &storage.User{ID: id, Username: name, PasswordHash: testenv.Hash(b, name+"-password"), Roles: []string{"user"}}
		if err := s.Store.CreateUser(b.Context(), u); err != nil {
			b.Fatal(err)
		}
	}
	setup := s.NewBrowser(b)
	signIn(b, setup, totpUser, totpPassword)
	secret, _ := enrolTOTP(b, setup, clock)
	key := webtest.NewAuthenticator(s.Issuer)
	setup = s.NewBrowser(b)
	signIn(b, setup, passkeyUser, passkeyPassword)
	if p := setup.AddPasskey(key, "Laptop"); p.Status != http.StatusOK {
		b.Fatalf("add passkey: %d %s", p.Status, p.Body)
	}

	// Redis round trips made for requests (a pipeline or a script is one);
	// the workers' polling is left out: their contexts come from no
	// request.
	var trips atomic.Int64
	s.Store.Redis().AddHook(roundTrips{&trips})
	run := func(name string, signIn func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			before := trips.Load()
			for b.Loop() {
				signIn(b)
			}
			b.ReportMetric(float64(trips.Load()-before)/float64(b.N), "redis-trips/op")
		})
	}

	signedIn := func(b *testing.B, how string, p *webtest.Page) {
		b.Helper()
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "connected applications") {
			b.Fatalf("%s: not signed in: %d %s", how, p.Status, p.Body)
		}
	}
	secondFactor := func(b *testing.B, br *webtest.Browser, username, password, form string) *webtest.Page {
		b.Helper()
		p := br.SubmitLogin(br.Get("/login"), username, password)
		if !strings.Contains(p.Body, form) {
			b.Fatalf("after %s's password: no %s: %d %s", username, form, p.Status, p.Body)
		}
		return p
	}

	run("password", func(b *testing.B) {
		br := s.NewBrowser(b)
		signedIn(b, "password", br.SubmitLogin(br.Get("/login"), "bob", webtest.BobPassword))
	})
	run("password+totp", func(b *testing.B) {
		clock.Advance(30 * time.Second)
		br := s.NewBrowser(b)
		p := secondFactor(b, br, totpUser, totpPassword, `id="verify-totp"`)
		signedIn(b, "totp", br.SubmitSecondFactor(p, "totp", totpCode(b, secret, clock)))
	})
	run("passkey", func(b *testing.B) {
		br := s.NewBrowser(b)
		signedIn(b, "passkey", br.SignInWithPasskey(br.Get("/login"), key))
	})
	run("password+passkey", func(b *testing.B) {
		br := s.NewBrowser(b)
		p := secondFactor(b, br, passkeyUser, passkeyPassword, `id="passkey-option"`)
		cred, err := key.Get(p.PasskeyOptions())
		if err != nil {
			b.Fatal(err)
		}
		signedIn(b, "password+passkey", br.Follow(br.SubmitSecondFactorPasskey(p, cred)))
	})
}

// roundTrips counts the Redis round trips made for HTTP requests.
type roundTrips struct{ n *atomic.Int64 }

func (roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h roundTrips) count(ctx context.Context) {
	if ctx.Value(http.ServerContextKey) != nil {
		h.n.Add(1)
	}
}

func (h roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(ctx)
		return next(ctx, cmd)
	}
}

func (h roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.count(ctx)
		return next(ctx, cmds)
	}
}
