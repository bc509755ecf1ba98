package storagetest

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/storage"
)

func testClients(t *testing.T, newStore NewStore) {
	t.Run("create get list delete", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		created := ms(time.Now().Add(-time.Hour))
		want := &storage.Client{
			ID: "web", Name: "Web", SecretHash: "$argon2id$x", RedirectURIs: []string{"https://a/cb"},
			PostLogoutRedirectURIs: []string{"https://a/bye"}, GrantTypes: []string{"authorization_code"},
			Scopes: []string{"openid"}, FirstParty: true, CreatedAt: created, UpdatedAt: created,
		}
		if err := s.CreateClient(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetClient(ctx, "web")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("GetClient = %+v, want %+v", got, want)
		}
		if err := s.CreateClient(ctx, &storage.Client{ID: "web"}); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("second CreateClient err = %v, want ErrConflict", err)
		}
		if err := s.CreateClient(ctx, &storage.Client{ID: "api", Public: true}); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListClients(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != "api" || list[1].ID != "web" {
			t.Fatalf("ListClients = %v, want [api web]", ids(list))
		}
		if err := s.DeleteClient(ctx, "web"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetClient(ctx, "web"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetClient after delete err = %v, want ErrNotFound", err)
		}
		if err := s.DeleteClient(ctx, "web"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("second DeleteClient err = %v, want ErrNotFound", err)
		}
	})
	t.Run("upsert keeps CreatedAt", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		if err := s.UpsertClient(ctx, &storage.Client{ID: "c", Name: "one"}); err != nil {
			t.Fatal(err)
		}
		first, _ := s.GetClient(ctx, "c")
		if err := s.UpsertClient(ctx, &storage.Client{ID: "c", Name: "two"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetClient(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "two" || !got.CreatedAt.Equal(first.CreatedAt) || got.CreatedAt.IsZero() {
			t.Fatalf("after upsert: %+v (first created %v)", got, first.CreatedAt)
		}
	})
	t.Run("generation kept by upsert, new after delete", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		c := &storage.Client{ID: "g", Name: "one"}
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		first := generationOf(t, s, "g")
		if first == "" || c.Generation != first {
			t.Fatalf("CreateClient: generation %q stored, %q on the caller's record", first, c.Generation)
		}
		// An update (admin PUT, bootstrap) names no generation, or a
		// wrong one: the stored one stays, so the client's grants hold.
		for _, g := range []string{"", "forged"} {
			if err := s.UpsertClient(ctx, &storage.Client{ID: "g", Name: "two", Generation: g}); err != nil {
				t.Fatal(err)
			}
			if got := generationOf(t, s, "g"); got != first {
				t.Fatalf("upsert with generation %q: stored %q, want %q kept", g, got, first)
			}
		}
		// Deleted and registered again, through either call: another
		// generation, so the deleted client's grants stay dead.
		seen := map[string]bool{first: true}
		for _, create := range []func(*storage.Client) error{
			func(c *storage.Client) error { return s.CreateClient(ctx, c) },
			func(c *storage.Client) error { return s.UpsertClient(ctx, c) },
		} {
			if err := s.DeleteClient(ctx, "g"); err != nil {
				t.Fatal(err)
			}
			if err := create(&storage.Client{ID: "g"}); err != nil {
				t.Fatal(err)
			}
			got := generationOf(t, s, "g")
			if got == "" || seen[got] {
				t.Fatalf("registered again: generation %q, seen before: %v", got, seen)
			}
			seen[got] = true
		}
	})
	t.Run("upsert keeps a record's missing generation", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		// Written before generations existed: no generation, as its
		// grants have none; an update must not take them away.
		legacy := &storage.Client{ID: "old", Name: "one"}
		rdb, key := clientsHash(t, s)
		raw, _ := json.Marshal(legacy)
		if err := rdb.HSet(ctx, key, "old", raw).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertClient(ctx, &storage.Client{ID: "old", Name: "two"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetClient(ctx, "old")
		if err != nil || got.Name != "two" || got.Generation != "" || !got.OwnsGrant("") {
			t.Fatalf("legacy client after upsert: %+v, %v", got, err)
		}
	})
	t.Run("unknown and invalid ids", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		if _, err := s.GetClient(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetClient(unknown) err = %v", err)
		}
		if err := s.CreateClient(ctx, &storage.Client{}); err == nil {
			t.Fatal("CreateClient accepted an empty id")
		}
		list, err := s.ListClients(ctx)
		if err != nil || len(list) != 0 {
			t.Fatalf("ListClients on empty store = %v, %v", list, err)
		}
	})
}

func generationOf(t *testing.T, s storage.Storage, id string) string {
	t.Helper()
	c, err := s.GetClient(ctxFor(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return c.Generation
}

func ids(cs []*storage.Client) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func testUsers(t *testing.T, newStore NewStore) {
	t.Run("create get by id and username", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		u := &storage.User{Username: "alice", PasswordHash: "h", Roles: []string{"user"}, Email: "a@x"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if u.ID == "" || u.CreatedAt.IsZero() {
			t.Fatalf("CreateUser did not fill ID/CreatedAt: %+v", u)
		}
		byID, err := s.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		byName, err := s.GetUserByUsername(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(byID, byName) || byID.Email != "a@x" || byID.Roles[0] != "user" {
			t.Fatalf("GetUser %+v, GetUserByUsername %+v", byID, byName)
		}
		err = s.CreateUser(ctx, &storage.User{Username: "alice", PasswordHash: "x"})
		if !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("duplicate username err = %v, want ErrConflict", err)
		}
		err = s.CreateUser(ctx, &storage.User{ID: u.ID, Username: "other"})
		if !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("duplicate id err = %v, want ErrConflict", err)
		}
		if _, err := s.GetUserByUsername(ctx, "other"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("rejected user left a username behind: %v", err)
		}
	})
	t.Run("upsert by username keeps id", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		first := &storage.User{Username: "bob", PasswordHash: "h1"}
		if err := s.UpsertUser(ctx, first); err != nil {
			t.Fatal(err)
		}
		second := &storage.User{ID: "ignored", Username: "bob", PasswordHash: "h2"}
		if err := s.UpsertUser(ctx, second); err != nil {
			t.Fatal(err)
		}
		if second.ID != first.ID {
			t.Fatalf("upsert changed the id: %q -> %q", first.ID, second.ID)
		}
		got, err := s.GetUserByUsername(ctx, "bob")
		if err != nil || got.PasswordHash != "h2" || got.ID != first.ID {
			t.Fatalf("after upsert: %+v, %v", got, err)
		}
		if _, err := s.GetUser(ctx, "ignored"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("upsert created a second record: %v", err)
		}
	})
	t.Run("rename through upsert releases the old name", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		u := &storage.User{Username: "carol", PasswordHash: "h"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.UpsertUser(ctx, &storage.User{ID: u.ID, Username: "caroline", PasswordHash: "h"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetUserByUsername(ctx, "carol"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("old username still resolves: %v", err)
		}
		got, err := s.GetUserByUsername(ctx, "caroline")
		if err != nil || got.ID != u.ID {
			t.Fatalf("new username: %+v, %v", got, err)
		}
	})
	t.Run("update never recreates a deleted user", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		u := &storage.User{Username: "erin", PasswordHash: "h", Roles: []string{"user"}}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		upd := *u
		upd.Roles = []string{"admin"}
		if err := s.UpdateUser(ctx, &upd); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetUser(ctx, u.ID); err != nil || got.Roles[0] != "admin" {
			t.Fatalf("after update: %+v, %v", got, err)
		}
		renamed := upd
		renamed.Username = "erina"
		if err := s.UpdateUser(ctx, &renamed); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("update with another username = %v, want ErrConflict", err)
		}
		if err := s.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateUser(ctx, &upd); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("update after delete = %v, want ErrNotFound", err)
		}
		if _, err := s.GetUser(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the update brought the user back: %v", err)
		}
	})
	t.Run("delete removes the username", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		u := &storage.User{Username: "dave", PasswordHash: "h"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveConsent(ctx, &storage.Consent{UserID: u.ID, ClientID: "c", Scope: []string{"openid"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetUserByUsername(ctx, "dave"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("username survives delete: %v", err)
		}
		if _, err := s.GetConsent(ctx, u.ID, "c"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("consent survives user delete: %v", err)
		}
		if err := s.DeleteUser(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("second delete err = %v", err)
		}
		if err := s.CreateUser(ctx, &storage.User{Username: "dave", PasswordHash: "h"}); err != nil {
			t.Fatalf("username not reusable after delete: %v", err)
		}
	})
	t.Run("list sorted by username", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		for _, name := range []string{"zoe", "amy", "max"} {
			if err := s.CreateUser(ctx, &storage.User{Username: name, PasswordHash: "h"}); err != nil {
				t.Fatal(err)
			}
		}
		list, err := s.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range list {
			names = append(names, u.Username)
		}
		if !reflect.DeepEqual(names, []string{"amy", "max", "zoe"}) {
			t.Fatalf("ListUsers = %v", names)
		}
	})
	t.Run("concurrent creates of one username: one wins", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		const n = 20
		errs := make([]error, n)
		users := make([]*storage.User, n)
		for i := range n {
			users[i] = &storage.User{Username: "eve", PasswordHash: "h"}
		}
		race(n, func(i int) { errs[i] = s.CreateUser(ctx, users[i]) })
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner == -1:
				winner = i
			case err == nil:
				t.Fatalf("two creates of one username succeeded (%d and %d)", winner, i)
			case !errors.Is(err, storage.ErrConflict):
				t.Fatalf("create %d: %v", i, err)
			}
		}
		if winner == -1 {
			t.Fatal("no create succeeded")
		}
		got, err := s.GetUserByUsername(ctx, "eve")
		if err != nil || got.ID != users[winner].ID {
			t.Fatalf("username resolves to %+v, %v; want the winner %q", got, err, users[winner].ID)
		}
		list, _ := s.ListUsers(ctx)
		if len(list) != 1 {
			t.Fatalf("%d user records after the race, want 1", len(list))
		}
	})
}

// clientsHash returns the store's Redis and the key of the clients hash.
func clientsHash(t *testing.T, s storage.Storage) (redis.UniversalClient, string) {
	rb := redisOf(t, s)
	return rb.Redis(), rb.Prefix() + "clients"
}
