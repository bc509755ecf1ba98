package storage_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

// fakeClock drives the store's expiry decisions; Redis TTLs still run
// on real time.
type fakeClock struct{ now atomic.Pointer[time.Time] }

func (c *fakeClock) Now() time.Time  { return *c.now.Load() }
func (c *fakeClock) Set(t time.Time) { c.now.Store(&t) }

// openWithClock opens a store on a fresh prefix whose clock stands at t0
// (now, to the millisecond, as records keep it) until the test moves it.
func openWithClock(t *testing.T) (s *storage.Store, clock *fakeClock, t0 time.Time) {
	t.Helper()
	clock = &fakeClock{}
	t0 = time.Now().UTC().Truncate(time.Millisecond)
	clock.Set(t0)
	rs := testredis.New(t)
	s, err := storage.Open(context.Background(), storage.Options{URL: rs.URL, Prefix: rs.Prefix, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, clock, t0
}

func TestBrowserSessions(t *testing.T) {
	s, clock, t0 := openWithClock(t)
	ctx := context.Background()
	sess := &storage.BrowserSession{UserID: "u1", AuthTime: t0, CSRFToken: "csrf", CreatedAt: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Hour)}

	t.Run("round trip", func(t *testing.T) {
		if err := s.SaveSession(ctx, "h1", sess, time.Minute); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSession(ctx, "h1")
		if err != nil {
			t.Fatal(err)
		}
		if got.UserID != "u1" || got.CSRFToken != "csrf" || !got.AuthTime.Equal(t0) {
			t.Fatalf("got %+v", got)
		}
		ttl := s.Redis().PTTL(ctx, s.SessionKey("h1")).Val()
		if ttl <= 0 || ttl > time.Minute {
			t.Fatalf("ttl = %v, want the idle ttl", ttl)
		}
	})
	t.Run("ttl capped by absolute expiry", func(t *testing.T) {
		short := *sess
		short.ExpiresAt = t0.Add(10 * time.Second)
		if err := s.SaveSession(ctx, "h2", &short, time.Hour); err != nil {
			t.Fatal(err)
		}
		if ttl := s.Redis().PTTL(ctx, s.SessionKey("h2")).Val(); ttl > 10*time.Second {
			t.Fatalf("ttl = %v, want at most 10s", ttl)
		}
	})
	t.Run("past absolute expiry is not found", func(t *testing.T) {
		clock.Set(t0.Add(2 * time.Hour))
		defer clock.Set(t0)
		if _, err := s.GetSession(ctx, "h1"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if err := s.SaveSession(ctx, "h3", sess, time.Hour); err == nil {
			t.Fatal("saved a session past its absolute expiry")
		}
	})
	t.Run("delete", func(t *testing.T) {
		if err := s.DeleteSession(ctx, "h1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetSession(ctx, "h1"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if err := s.DeleteSession(ctx, "h1"); err != nil {
			t.Fatalf("second delete: %v", err)
		}
	})
	t.Run("hash with a brace is refused", func(t *testing.T) {
		if err := s.SaveSession(ctx, "a{b}", sess, time.Minute); err == nil {
			t.Fatal("saved under a key with a hash tag")
		}
	})
}

func TestAuthRequests(t *testing.T) {
	s, clock, t0 := openWithClock(t)
	ctx := context.Background()
	maxAge := 0
	newReq := func(id string) *storage.AuthRequest {
		return &storage.AuthRequest{ID: id, ClientID: "c", RedirectURI: "http://localhost/cb",
			RequestedScope: []string{"openid"}, State: "st", MaxAge: &maxAge, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	}

	t.Run("save get update take", func(t *testing.T) {
		r := newReq("r1")
		if err := s.SaveAuthRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetAuthRequest(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != "st" || got.MaxAge == nil || *got.MaxAge != 0 {
			t.Fatalf("got %+v", got)
		}
		got.Decision, got.DecidedBy = "allow", "u1"
		if err := s.SaveAuthRequest(ctx, got); err != nil {
			t.Fatal(err)
		}
		taken, err := s.TakeAuthRequest(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if taken.Decision != "allow" {
			t.Fatalf("update lost: %+v", taken)
		}
		if _, err := s.GetAuthRequest(ctx, "r1"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("after take: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("unknown and malformed ids", func(t *testing.T) {
		for _, id := range []string{"nope", "", "x{y}"} {
			if _, err := s.GetAuthRequest(ctx, id); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("get %q: err = %v", id, err)
			}
			if _, err := s.TakeAuthRequest(ctx, id); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("take %q: err = %v", id, err)
			}
		}
	})
	t.Run("expired is not found", func(t *testing.T) {
		if err := s.SaveAuthRequest(ctx, newReq("r2")); err != nil {
			t.Fatal(err)
		}
		clock.Set(t0.Add(11 * time.Minute))
		defer clock.Set(t0)
		if _, err := s.GetAuthRequest(ctx, "r2"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if err := s.SaveAuthRequest(ctx, newReq("r3")); err == nil {
			t.Fatal("saved an expired request")
		}
	})
	t.Run("one taker wins", func(t *testing.T) {
		if err := s.SaveAuthRequest(ctx, newReq("r4")); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if _, err := s.TakeAuthRequest(ctx, "r4"); err == nil {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d takers won, want 1", wins.Load())
		}
	})
}
