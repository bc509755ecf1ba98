package storagetest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/storage"
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
			got, err := s.IsRevokedJTI(ctx, jti)
			if err != nil || got != want {
				t.Fatalf("IsRevokedJTI(%s) = %v, %v; want %v", jti, got, err, want)
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
		time.Sleep(1100 * time.Millisecond)
		if got, _ := s.IsRevokedJTI(ctx, "short"); got {
			t.Fatal("expired jti still denied")
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
		ch, err := s.SubscribeRevocations(subCtx, nil)
		if err != nil {
			t.Fatal(err)
		}
		exp := ms(time.Now().Add(time.Hour))
		if err := s.RevokeJTI(ctx, "j-pub", exp); err != nil {
			t.Fatal(err)
		}
		got := receive(t, ch)
		if got.JTI != "j-pub" || !got.ExpiresAt.Equal(exp) {
			t.Fatalf("received %+v, want j-pub until %v", got, exp)
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
		if s.Embedded() {
			t.Skip("the embedded server cannot kill client connections")
		}
		var reconnects atomic.Int32
		reconnected := make(chan struct{}, 10)
		ch, err := s.SubscribeRevocations(ctx, func() {
			reconnects.Add(1)
			reconnected <- struct{}{}
		})
		if err != nil {
			t.Fatal(err)
		}
		killPubSub(t, ctx, s.Redis())
		select {
		case <-reconnected:
		case <-time.After(10 * time.Second):
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
		if reconnects.Load() < 1 {
			t.Fatal("no reconnect seen")
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

// killPubSub drops every pub/sub connection on every node.
func killPubSub(t *testing.T, ctx context.Context, rdb redis.UniversalClient) {
	t.Helper()
	kill := func(ctx context.Context, c *redis.Client) error {
		return c.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err()
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachShard(ctx, kill)
	} else if c, ok := rdb.(*redis.Client); ok {
		err = kill(ctx, c)
	} else {
		t.Skipf("cannot kill connections through %T", rdb)
	}
	if err != nil && strings.Contains(err.Error(), "unknown subcommand") {
		// The embedded fallback of testredis on a machine without
		// redis-server: it has no connections to kill.
		t.Skip("this server cannot kill client connections")
	}
	if err != nil {
		t.Fatalf("CLIENT KILL TYPE pubsub: %v", err)
	}
}

// testAccessRevoked: the one-round-trip check that introspection and
// userinfo make, across the deny list and the cutoffs (two slots on a
// Cluster).
func testAccessRevoked(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), ctxFor(t)
	now := time.Now()
	issued := now.Add(-time.Minute)
	check := func(name, jti, sub, client string, want bool) {
		t.Helper()
		got, err := s.IsAccessRevoked(ctx, jti, sub, client, issued)
		if err != nil || got != want {
			t.Fatalf("%s: IsAccessRevoked = %v, %v; want %v", name, got, err, want)
		}
	}
	check("nothing revoked", "j1", "u1", "c1", false)
	if err := s.RevokeJTI(ctx, "j1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	check("denied jti", "j1", "u1", "c1", true)
	check("another jti", "j2", "u1", "c1", false)
	if err := s.RevokeJTI(ctx, "j-expired", now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	check("deny entry past the token's expiry", "j-expired", "u1", "c1", false)
	if err := s.SetCutoff(ctx, storage.Cutoff{Principal: storage.SubjectCutoff("u2"), NotBefore: now, Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	check("subject cut off after issue", "j3", "u2", "c1", true)
	if err := s.SetCutoff(ctx, storage.Cutoff{Principal: storage.ClientCutoff("c3"), NotBefore: now, Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	check("client cut off after issue", "j4", "u1", "c3", true)
	if got, err := s.IsAccessRevoked(ctx, "j5", "u2", "c1", now.Add(time.Second)); err != nil || got {
		t.Fatalf("token issued after the cutoff: %v, %v; want false", got, err)
	}
}
