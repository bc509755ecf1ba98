package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

// startCache runs a ClientCache on s and waits until it serves from memory.
func startCache(t *testing.T, s *storage.Store) *storage.ClientCache {
	t.Helper()
	c := storage.NewClientCache(s, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	// Served from memory once a read survives a raw removal of its record.
	eventually(t, func() bool {
		_ = s.UpsertClient(ctx, &storage.Client{ID: "probe", Scopes: []string{"x"}})
		if _, err := c.GetClient(ctx, "probe"); err != nil {
			return false
		}
		s.Redis().HDel(ctx, s.ClientsKey(), "probe")
		_, err := c.GetClient(ctx, "probe")
		return err == nil
	})
	return c
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// drain returns once the cache has applied every announcement made
// before the call. Announcements arrive in order, so it suffices to see
// one made inside drain applied: barrier is first cached with a value
// Redis no longer holds, and only an invalidation can then reveal the
// next value.
func drain(t *testing.T, s *storage.Store, c *storage.ClientCache) {
	t.Helper()
	ctx := context.Background()
	marker := time.Now().Format(time.RFC3339Nano)
	eventually(t, func() bool {
		if err := s.UpsertClient(ctx, &storage.Client{ID: "barrier", Scopes: []string{marker + "a"}}); err != nil {
			t.Fatal(err)
		}
		if scopesOf(t, c, "barrier") != marker+"a" {
			return false
		}
		s.Redis().HSet(ctx, s.ClientsKey(), "barrier", `{"id":"barrier","scopes":["`+marker+`b"]}`)
		return scopesOf(t, c, "barrier") == marker+"a"
	})
	if err := s.UpsertClient(ctx, &storage.Client{ID: "barrier", Scopes: []string{marker + "c"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return scopesOf(t, c, "barrier") == marker+"c" })
}

func scopesOf(t *testing.T, c *storage.ClientCache, id string) string {
	t.Helper()
	cl, err := c.GetClient(context.Background(), id)
	if err != nil {
		return err.Error()
	}
	return cl.Scopes[0]
}

func TestClientCacheFollowsChanges(t *testing.T) {
	srv := testredis.New(t)
	s := open(t, srv)
	other := open(t, &testredis.Server{URL: srv.URL, Prefix: srv.Prefix}) // another instance or the CLI
	ctx := context.Background()
	cache := startCache(t, s)

	if err := s.CreateClient(ctx, &storage.Client{ID: "app", Scopes: []string{"v1"}}); err != nil {
		t.Fatal(err)
	}
	if got := scopesOf(t, cache, "app"); got != "v1" {
		t.Fatalf("got %q", got)
	}
	t.Run("change by this instance", func(t *testing.T) {
		if err := s.UpsertClient(ctx, &storage.Client{ID: "app", Scopes: []string{"v2"}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool { return scopesOf(t, cache, "app") == "v2" })
	})
	t.Run("change by another instance", func(t *testing.T) {
		if err := other.UpsertClient(ctx, &storage.Client{ID: "app", Scopes: []string{"v3"}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool { return scopesOf(t, cache, "app") == "v3" })
	})
	t.Run("delete by another instance", func(t *testing.T) {
		if err := other.DeleteClient(ctx, "app"); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool { return scopesOf(t, cache, "app") == storage.ErrNotFound.Error() })
	})
	t.Run("resubscription drops everything", func(t *testing.T) {
		if err := s.CreateClient(ctx, &storage.Client{ID: "quiet", Scopes: []string{"old"}}); err != nil {
			t.Fatal(err)
		}
		drain(t, s, cache) // the creation's own announcement must not count below
		if got := scopesOf(t, cache, "quiet"); got != "old" {
			t.Fatalf("got %q", got)
		}
		// Changed behind the cache's back: no announcement reaches it.
		s.Redis().HSet(ctx, s.ClientsKey(), "quiet", `{"id":"quiet","scopes":["new"]}`)
		if got := scopesOf(t, cache, "quiet"); got != "old" {
			t.Fatalf("expected the cached copy before the reconnect, got %q", got)
		}
		if srv.Kind == testredis.Embedded {
			t.Skip("the embedded server cannot kill connections")
		}
		if err := testredis.KillPubSub(ctx, s.Redis()); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool { return scopesOf(t, cache, "quiet") == "new" })
	})
}

// Before Run has subscribed, nothing is served from memory.
func TestClientCacheIsPassThroughUntilSubscribed(t *testing.T) {
	s := open(t, testredis.New(t))
	ctx := context.Background()
	cache := storage.NewClientCache(s, time.Minute)
	if err := s.CreateClient(ctx, &storage.Client{ID: "app", Scopes: []string{"v1"}}); err != nil {
		t.Fatal(err)
	}
	if got := scopesOf(t, cache, "app"); got != "v1" {
		t.Fatalf("got %q", got)
	}
	s.Redis().HDel(ctx, s.ClientsKey(), "app")
	if got := scopesOf(t, cache, "app"); got != storage.ErrNotFound.Error() {
		t.Fatalf("served %q from memory without a subscription", got)
	}
}

// The refresh grant reads users through the cache: a role change or a
// deletion anywhere must reach it at once.
func TestUserCacheFollowsChanges(t *testing.T) {
	srv := testredis.New(t)
	s := open(t, srv)
	other := open(t, &testredis.Server{URL: srv.URL, Prefix: srv.Prefix})
	ctx := context.Background()
	cache := storage.NewUserCache(s, time.Minute)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cache.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	u := &storage.User{Username: "carol", PasswordHash: "x", Roles: []string{"user"}}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	roles := func() string {
		got, err := cache.GetUser(ctx, u.ID)
		if err != nil {
			return err.Error()
		}
		return got.Roles[0]
	}
	// Served from memory once a raw change stays invisible.
	eventually(t, func() bool {
		if err := s.UpsertUser(ctx, &storage.User{Username: "carol", PasswordHash: "x", Roles: []string{"user"}}); err != nil {
			t.Fatal(err)
		}
		if roles() != "user" {
			return false
		}
		s.Redis().HSet(ctx, s.UsersByIDKey(), u.ID, `{"id":"`+u.ID+`","username":"carol","roles":["raw"]}`)
		return roles() == "user"
	})
	if err := other.UpsertUser(ctx, &storage.User{Username: "carol", PasswordHash: "x", Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return roles() == "admin" })
	if err := other.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return roles() == storage.ErrNotFound.Error() })
}

// The issuance policy reads the whole registry through the ResourceCache:
// a resource registered, changed or deleted through another instance (or
// the CLI) must reach it at once, not when the TTL runs out.
func TestResourceCacheFollowsChanges(t *testing.T) {
	srv := testredis.New(t)
	s := open(t, srv)
	other := open(t, &testredis.Server{URL: srv.URL, Prefix: srv.Prefix})
	ctx := context.Background()
	cache := storage.NewResourceCache(s, time.Hour)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cache.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	const id = "https://api.example"
	names := func() string {
		list, err := cache.ListResources(ctx)
		if err != nil {
			return err.Error()
		}
		var out []string
		for _, r := range list {
			out = append(out, r.ID+"="+r.Name)
		}
		return strings.Join(out, ",")
	}
	// Served from memory once a raw change stays invisible.
	eventually(t, func() bool {
		if err := s.UpsertResource(ctx, &storage.Resource{ID: id, Name: "v1"}); err != nil {
			t.Fatal(err)
		}
		if names() != id+"=v1" {
			return false
		}
		s.Redis().HSet(ctx, s.ResourcesKey(), id, `{"id":"`+id+`","name":"raw"}`)
		return names() == id+"=v1"
	})
	if err := other.UpsertResource(ctx, &storage.Resource{ID: id, Name: "v2"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return names() == id+"=v2" })
	if err := other.CreateResource(ctx, &storage.Resource{ID: "https://b.example", Name: "b"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return names() == id+"=v2,https://b.example=b" })
	if err := other.DeleteResource(ctx, id); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return names() == "https://b.example=b" })
}
