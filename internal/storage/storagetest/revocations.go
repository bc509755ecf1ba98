package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

func testRevocations(t *testing.T, newStore NewStore) {
	t.Run("deny list", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		exp := ms(time.Now().Add(time.Hour))
		if err := s.RevokeJTI(ctx, "j1", exp); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeJTI(ctx, "gone", time.Now().Add(-time.Second)); err != nil {
			t.Fatalf("revoking an expired token: %v", err)
		}
		for jti, want := range map[string]bool{"j1": true, "j2": false, "gone": false} {
			if got := jtiDenied(t, s, jti); got != want {
				t.Fatalf("%s denied = %v, want %v", jti, got, want)
			}
		}
		// Revoking again with an earlier exp keeps the later one.
		if err := s.RevokeJTI(ctx, "j1", time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		all, err := s.RevokedJTIs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 || !all["j1"].Equal(exp) {
			t.Fatalf("RevokedJTIs = %v, want j1 until %v", all, exp)
		}
	})
	t.Run("entries expire", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		if err := s.RevokeJTI(ctx, "short", time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeJTI(ctx, "long", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if !eventually(func() bool { return !jtiDenied(t, s, "short") }) {
			t.Fatal("an expired jti is still denied")
		}
		all, err := s.RevokedJTIs(ctx)
		if _, ok := all["short"]; err != nil || ok || len(all) != 1 {
			t.Fatalf("RevokedJTIs = %v, %v; want only long", all, err)
		}
	})
	t.Run("published to subscribers", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		subCtx, cancel := context.WithCancel(ctx)
		// The parallel "resubscribes" test kills every pub/sub connection
		// of the server, this one's too: a message published meanwhile
		// is lost (subscribers resync from the set, by design). After
		// such a reconnect the test publishes again.
		reconnected := make(chan struct{}, 1)
		ch, err := s.SubscribeRevocations(subCtx, func() {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		exp := ms(time.Now().Add(time.Hour))
		for attempt := 0; ; attempt++ {
			jti := fmt.Sprintf("j-pub-%d", attempt)
			if err := s.RevokeJTI(ctx, jti, exp); err != nil {
				t.Fatal(err)
			}
			select {
			case got, ok := <-ch:
				if !ok {
					t.Fatal("revocation channel closed")
				}
				if !strings.HasPrefix(got.JTI, "j-pub-") || !got.ExpiresAt.Equal(exp) {
					t.Fatalf("received %+v, want %s until %v", got, jti, exp)
				}
			case <-reconnected:
				if attempt < 5 {
					continue
				}
				t.Fatal("the subscription kept being killed")
			case <-time.After(10 * time.Second):
				t.Fatal("no revocation received")
			}
			break
		}
		cancel()
		select {
		case _, open := <-ch:
			if open {
				t.Fatal("message after cancel")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("channel not closed after ctx ended")
		}
	})
	t.Run("resubscribes after the connection is killed", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		rb := redisOf(t, s)
		if rb.Embedded() {
			t.Skip("the embedded server cannot kill client connections")
		}
		// Other tests' kills may hit this subscription too: never block
		// the delivery goroutine on a full channel.
		reconnected := make(chan struct{}, 1)
		ch, err := s.SubscribeRevocations(ctx, func() {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		killPubSub(t, ctx, rb.Redis())
		select {
		case <-reconnected:
		case <-ctx.Done():
			t.Fatal("onReconnect not called after the subscription connection was killed")
		}
		if err := s.RevokeJTI(ctx, "after-kill", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		// Other tests' kills may also hit this subscription; skip their noise.
		for {
			if got := receive(t, ch); got.JTI == "after-kill" {
				break
			}
		}
	})
}

func receive(t *testing.T, ch <-chan storage.RevokedJTI) storage.RevokedJTI {
	t.Helper()
	select {
	case got, ok := <-ch:
		if !ok {
			t.Fatal("revocation channel closed")
		}
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("no revocation received")
	}
	return storage.RevokedJTI{}
}

// killPubSub drops the subscriptions as a failover would, or skips t
// where the server cannot.
func killPubSub(t *testing.T, ctx context.Context, rdb redis.UniversalClient) {
	t.Helper()
	err := testredis.KillPubSub(ctx, rdb)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// jtiDenied reports whether an otherwise clean token with this jti is
// revoked, as introspection asks.
func jtiDenied(t *testing.T, s storage.RevocationChecker, jti string) bool {
	t.Helper()
	got, err := s.IsAccessRevoked(ctxFor(t), jti, "nobody", "no-client", time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatalf("IsAccessRevoked(%s): %v", jti, err)
	}
	return got
}

// testAccessRevoked: the one-round-trip check that introspection and
// userinfo make, across the deny list and the cutoffs (two slots on a
// Cluster).
func testAccessRevoked(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), ctxFor(t)
	nbf := ms(time.Now())
	before := nbf.Add(-time.Second)
	revocations := []struct {
		jti string
		exp time.Time
	}{
		{"j-denied", nbf.Add(time.Hour)},
		{"j-expired", nbf.Add(-time.Second)}, // its token has expired: nothing to deny
	}
	for _, r := range revocations {
		if err := s.RevokeJTI(ctx, r.jti, r.exp); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{storage.SubjectCutoff("alice"), storage.ClientCutoff("app")} {
		if err := s.SetCutoff(ctx, storage.Cutoff{Principal: p, NotBefore: nbf, Until: nbf.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name          string
		jti           string
		sub, clientID string
		iat           time.Time
		want          bool
	}{
		{"nothing revoked", "j1", "bob", "web", before, false},
		{"denied jti", "j-denied", "bob", "web", before, true},
		{"deny entry past the token's expiry", "j-expired", "bob", "web", before, false},
		{"subject cut off after issue", "j2", "alice", "web", before, true},
		{"subject, issued at the cutoff", "j3", "alice", "web", nbf, false},
		{"subject, issued after the cutoff", "j4", "alice", "web", nbf.Add(time.Second), false},
		{"client cut off after issue", "j5", "bob", "app", before, true},
		{"a client's cutoff is not a subject's", "j6", "app", "web", before, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.IsAccessRevoked(ctx, tc.jti, tc.sub, tc.clientID, tc.iat)
			if err != nil || got != tc.want {
				t.Fatalf("IsAccessRevoked = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
