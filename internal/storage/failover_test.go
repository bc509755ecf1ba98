package storage_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

// A Cluster master is killed and its replica promoted: a command the store
// sends straight to a slot's master (noResend, redelivery.go) reaches the
// promoted replica soon after, with no other traffic to refresh the slot
// map, and Ping says not ready until the promotion and ready after it.
// go-redis alone kept the dead master for its slots for up to a minute.
func TestClusterFollowsPromotion(t *testing.T) {
	c := testredis.NewFailoverCluster(t, 2*time.Second, 1)
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Options{URL: c.URL, Prefix: c.Prefix, Timeout: faultTimeout, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// DeleteClient's HDEL of the clients hash is never re-sent: noResend.
	slot, err := c.Client(t).ClusterKeySlot(ctx, c.Prefix+"clients").Result()
	if err != nil {
		t.Fatal(err)
	}
	deleted := func() error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		err := s.DeleteClient(ctx, "nobody")
		if errors.Is(err, storage.ErrNotFound) {
			return nil // it ran
		}
		if err == nil {
			err = errors.New("deleted a client that never was")
		}
		return err
	}
	if err := deleted(); err != nil {
		t.Fatal(err)
	}
	old, err := c.MasterOf(ctx, int(slot))
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(t, old)
	killedAt := time.Now()
	if err := s.Ping(ctx); err == nil {
		t.Errorf("Ping right after the master of slot %d was killed: ready, want an error", slot)
	}
	var promotedAt time.Time
	for {
		if time.Since(killedAt) > 20*time.Second {
			t.Fatalf("no replica promoted 20s after the kill of %s", old)
		}
		if promotedAt.IsZero() {
			if addr, err := c.MasterOf(ctx, int(slot)); err == nil && addr != old {
				promotedAt = time.Now()
			}
		}
		err := deleted()
		if err == nil && !promotedAt.IsZero() {
			break
		}
		if !promotedAt.IsZero() && time.Since(promotedAt) > 2*time.Second {
			t.Fatalf("HDEL on slot %d still fails %v after the promotion: %v", slot, time.Since(promotedAt), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("promoted %v after the kill; a noResend command served %v after the promotion",
		promotedAt.Sub(killedAt).Round(10*time.Millisecond), time.Since(promotedAt).Round(10*time.Millisecond))
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after the promotion: %v", err)
	}
}

// With MinReplicasAck a write the replicas do not acknowledge in time is
// not answered as done, and the store is not ready while its master has
// too few replicas; a master with enough replicas is served as usual.
func TestMinReplicasAck(t *testing.T) {
	srv := testredis.NewPrivate(t)
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Options{URL: srv.URL, Prefix: srv.Prefix, Timeout: faultTimeout,
		Logger: slog.New(slog.DiscardHandler), MinReplicasAck: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	start := time.Now()
	consent := &storage.Consent{UserID: "u1", ClientID: "web", Scope: []string{"openid"}}
	if err := s.SaveConsent(ctx, consent); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("SaveConsent on a master without replicas = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > faultTimeout {
		t.Errorf("SaveConsent took %v, want at most the command timeout %v", took, faultTimeout)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping of a master without replicas: ready, want an error")
	}

	c := testredis.NewFailoverCluster(t, 2*time.Second, 1)
	// A generous timeout (WAIT gets half of it): what is tested here is
	// that a write with its replicas succeeds, not how fast a loaded
	// machine replicates it.
	acked, err := storage.Open(ctx, storage.Options{URL: c.URL, Prefix: c.Prefix, Timeout: 8 * time.Second,
		Logger: slog.New(slog.DiscardHandler), MinReplicasAck: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = acked.Close() })
	// Replicas that have just joined are still syncing: wait until every
	// master reports its replica, as /readyz would.
	for deadline := time.Now().Add(20 * time.Second); acked.Ping(ctx) != nil && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if err := acked.SaveConsent(ctx, consent); err != nil {
		t.Errorf("SaveConsent with a replica per master: %v", err)
	}
	if err := acked.Ping(ctx); err != nil {
		t.Errorf("Ping with a replica per master: %v", err)
	}
}
