package storagetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// testResources: the registry of resources (RFC 8707) keeps a record's
// creation time, refuses a second creation and a registry beyond
// MaxResources, and remembers what the bootstrap file declared.
func testResources(t *testing.T, newStore NewStore) {
	t.Run("create get list delete", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		created := ms(time.Now().Add(-time.Hour))
		want := &storage.Resource{ID: "https://api.example/v1", Name: "Orders", Scopes: []string{"orders:read"},
			AccessTokenTTL: 5 * time.Minute, RequireDPoP: true, CreatedAt: created, UpdatedAt: created}
		if err := s.CreateResource(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetResource(ctx, want.ID)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("GetResource = %+v, %v; want %+v", got, err, want)
		}
		if err := s.CreateResource(ctx, &storage.Resource{ID: want.ID}); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("second CreateResource err = %v, want ErrConflict", err)
		}
		if err := s.UpsertResource(ctx, &storage.Resource{ID: "https://a.example"}); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListResources(ctx)
		if err != nil || len(list) != 2 || list[0].ID != "https://a.example" || list[1].ID != want.ID {
			t.Fatalf("ListResources = %v, %v; want a.example then api.example", list, err)
		}
		if err := s.DeleteResource(ctx, want.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetResource(ctx, want.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetResource after delete err = %v, want ErrNotFound", err)
		}
		if err := s.DeleteResource(ctx, want.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("second DeleteResource err = %v, want ErrNotFound", err)
		}
	})
	t.Run("upsert keeps CreatedAt", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		created := ms(time.Now().Add(-24 * time.Hour))
		if err := s.CreateResource(ctx, &storage.Resource{ID: "https://api.example", CreatedAt: created}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertResource(ctx, &storage.Resource{ID: "https://api.example", Name: "renamed"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetResource(ctx, "https://api.example")
		if err != nil || !got.CreatedAt.Equal(created) || got.Name != "renamed" || !got.UpdatedAt.After(created) {
			t.Fatalf("after upsert: %+v, %v; want CreatedAt %v kept, the new name, a later UpdatedAt", got, err, created)
		}
	})
	t.Run("update never recreates a deleted resource", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		created := ms(time.Now().Add(-time.Hour))
		if err := s.CreateResource(ctx, &storage.Resource{ID: "https://api.example", CreatedAt: created}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateResource(ctx, &storage.Resource{ID: "https://api.example", Name: "changed"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetResource(ctx, "https://api.example")
		if err != nil || got.Name != "changed" || !got.CreatedAt.Equal(created) {
			t.Fatalf("after update: %+v, %v; want the new name, CreatedAt %v kept", got, err, created)
		}
		if err := s.DeleteResource(ctx, "https://api.example"); err != nil {
			t.Fatal(err)
		}
		// An update that read the record before the delete, as an admin's
		// PUT racing another's DELETE does.
		if err := s.UpdateResource(ctx, got); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("update of a deleted resource err = %v, want ErrNotFound", err)
		}
		if _, err := s.GetResource(ctx, "https://api.example"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the update brought the deleted resource back: %v", err)
		}
	})
	t.Run("at most MaxResources", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		for i := range storage.MaxResources {
			if err := s.CreateResource(ctx, &storage.Resource{ID: fmt.Sprintf("https://r%03d.example", i)}); err != nil {
				t.Fatal(err)
			}
		}
		extra := &storage.Resource{ID: "https://extra.example"}
		if err := s.CreateResource(ctx, extra); !errors.Is(err, storage.ErrRegistryFull) {
			t.Fatalf("CreateResource beyond the bound err = %v, want ErrRegistryFull", err)
		}
		if err := s.UpsertResource(ctx, extra); !errors.Is(err, storage.ErrRegistryFull) {
			t.Fatalf("UpsertResource of a new id beyond the bound err = %v, want ErrRegistryFull", err)
		}
		// A full registry still takes changes to what it holds.
		if err := s.UpsertResource(ctx, &storage.Resource{ID: "https://r000.example", Name: "changed"}); err != nil {
			t.Fatalf("UpsertResource of a stored id in a full registry: %v", err)
		}
	})
	t.Run("declared list", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		ids, err := s.BootstrapDeclaredResources(ctx)
		if err != nil || len(ids) != 0 {
			t.Fatalf("BootstrapDeclaredResources on an empty store = %v, %v; want none", ids, err)
		}
		if err := s.SetBootstrapDeclaredResources(ctx, []string{"https://a.example", "https://b.example"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetBootstrapDeclaredResources(ctx, []string{"https://b.example"}); err != nil {
			t.Fatal(err)
		}
		ids, err = s.BootstrapDeclaredResources(ctx)
		if err != nil || !slices.Equal(ids, []string{"https://b.example"}) {
			t.Fatalf("BootstrapDeclaredResources = %v, %v; want [https://b.example]", ids, err)
		}
		clients, users, err := s.BootstrapDeclared(ctx)
		if err != nil || len(clients) != 0 || len(users) != 0 {
			t.Fatalf("BootstrapDeclared = %v, %v, %v; the resource list must be a list of its own", clients, users, err)
		}
	})
}
