package storagetest

import (
	"slices"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// testBootstrap: the owner mark of clients and users is stored, and the
// lists of what the bootstrap file declared are kept whole.
func testBootstrap(t *testing.T, newStore NewStore) {
	t.Run("managed_by is stored", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		if err := s.CreateClient(ctx, &storage.Client{ID: "web", ManagedBy: storage.ManagedByBootstrap}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertUser(ctx, &storage.User{Username: "alice", ManagedBy: storage.ManagedByBootstrap}); err != nil {
			t.Fatal(err)
		}
		c, err := s.GetClient(ctx, "web")
		if err != nil || c.ManagedBy != storage.ManagedByBootstrap {
			t.Fatalf("GetClient = %+v, %v; want managed by %q", c, err, storage.ManagedByBootstrap)
		}
		u, err := s.GetUserByUsername(ctx, "alice")
		if err != nil || u.ManagedBy != storage.ManagedByBootstrap {
			t.Fatalf("GetUserByUsername = %+v, %v; want managed by %q", u, err, storage.ManagedByBootstrap)
		}
	})
	t.Run("declared lists", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		clients, users, err := s.BootstrapDeclared(ctx)
		if err != nil || len(clients) != 0 || len(users) != 0 {
			t.Fatalf("BootstrapDeclared on an empty store = %v, %v, %v; want nothing", clients, users, err)
		}
		if err := s.SetBootstrapDeclared(ctx, []string{"web", "spa"}, []string{"alice"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetBootstrapDeclared(ctx, []string{"web"}, nil); err != nil {
			t.Fatal(err)
		}
		clients, users, err = s.BootstrapDeclared(ctx)
		if err != nil || !slices.Equal(clients, []string{"web"}) || len(users) != 0 {
			t.Fatalf("BootstrapDeclared = %v, %v, %v; want [web] and none", clients, users, err)
		}
	})
}
