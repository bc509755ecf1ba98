package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// testSelfRegistered: the cap on clients that registered themselves (RFC
// 7591) is counted in the same step as the create, a delete by any path
// frees a place, and an RFC 7592 update never brings back a deleted
// client.
func testSelfRegistered(t *testing.T, newStore NewStore) {
	selfReg := func(id string) *storage.Client {
		return &storage.Client{ID: id, Public: true, SelfRegistered: true, RedirectURIs: []string{"https://app.example/cb"},
			GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}, RegistrationTokenHash: "h-" + id}
	}
	t.Run("cap, conflict, delete frees a place", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		for _, id := range []string{"a", "b"} {
			if err := s.CreateSelfRegisteredClient(ctx, selfReg(id), 2); err != nil {
				t.Fatalf("create %s: %v", id, err)
			}
		}
		if err := s.CreateSelfRegisteredClient(ctx, selfReg("c"), 2); !errors.Is(err, storage.ErrTooManyClients) {
			t.Fatalf("third create under a cap of 2: %v, want ErrTooManyClients", err)
		}
		if _, err := s.GetClient(ctx, "c"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a refused create stored the client: %v", err)
		}
		if err := s.CreateSelfRegisteredClient(ctx, selfReg("a"), 10); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("create of an existing id: %v, want ErrConflict", err)
		}
		// An operator's client of the id is a conflict too, and does not count.
		if err := s.CreateClient(ctx, &storage.Client{ID: "op", GrantTypes: []string{"client_credentials"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSelfRegisteredClient(ctx, selfReg("op"), 10); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("create over an operator's client: %v, want ErrConflict", err)
		}
		if err := s.DeleteClient(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSelfRegisteredClient(ctx, selfReg("c"), 2); err != nil {
			t.Fatalf("create after a delete freed a place: %v", err)
		}
		if n, err := s.SelfRegisteredClients(ctx); err != nil || n != 2 {
			t.Fatalf("SelfRegisteredClients = %d, %v; want 2", n, err)
		}
		if err := s.CreateSelfRegisteredClient(ctx, &storage.Client{ID: "d", GrantTypes: []string{"authorization_code"}}, 10); err == nil {
			t.Fatal("a client without SelfRegistered was created as a self-registered one")
		}
	})
	t.Run("update keeps generation, never recreates", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		c := selfReg("u")
		if err := s.CreateSelfRegisteredClient(ctx, c, 5); err != nil {
			t.Fatal(err)
		}
		gen, created := c.Generation, c.CreatedAt
		next := selfReg("u")
		next.Scopes = []string{"openid", "profile"}
		if err := s.UpdateClient(ctx, next); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetClient(ctx, "u")
		if err != nil || got.Generation != gen || !got.CreatedAt.Equal(created) || len(got.Scopes) != 2 {
			t.Fatalf("after update: %+v, %v; want generation %s and two scopes", got, err, gen)
		}
		if err := s.DeleteClient(ctx, "u"); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateClient(ctx, selfReg("u")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("update of a deleted client: %v, want ErrNotFound", err)
		}
		if _, err := s.GetClient(ctx, "u"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("update brought a deleted client back: %v", err)
		}
	})
	t.Run("concurrent creates never pass the cap", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		var ok atomic.Int32
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() {
				err := s.CreateSelfRegisteredClient(ctx, selfReg(fmt.Sprintf("r%d", i)), 7)
				switch {
				case err == nil:
					ok.Add(1)
				case !errors.Is(err, storage.ErrTooManyClients):
					t.Errorf("create r%d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if n, err := s.SelfRegisteredClients(ctx); ok.Load() != 7 || n != 7 || err != nil {
			t.Fatalf("%d creates succeeded, %d counted (%v); want 7 under a cap of 7", ok.Load(), n, err)
		}
	})
}
