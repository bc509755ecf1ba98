package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// testPushedRequests: a pushed request is read any number of times, taken
// once, by one of many racing takers, and not after it expires; Redis
// forgets it by itself.
func testPushedRequests(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), ctxFor(t)
	r := &storage.AuthRequest{ClientID: "web", RedirectURI: "https://web.example/cb", State: "st",
		DPoPJKT: "jkt", CreatedAt: ms(time.Now()), ExpiresAt: ms(time.Now().Add(time.Minute))}
	h := newHash()
	if err := s.SavePushedRequest(ctx, h, r); err != nil {
		t.Fatal(err)
	}
	// Taking checks ExpiresAt too, so only the key's own TTL shows that a
	// push nobody takes does not stay in Redis for ever.
	keys := keysUnder(t, ctx, s)
	if len(keys) != 1 {
		t.Fatalf("keys after one push = %q, want one", keys)
	}
	if ttl := redisOf(t, s).Redis().PTTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("pushed request %s has ttl %v, want (0, 1m]", keys[0], ttl)
	}
	if err := s.SavePushedRequest(ctx, h, r); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("second save = %v, want ErrConflict", err)
	}
	// Reading does not use it up: the authorization endpoint reads it to
	// check its presenter before it takes it.
	for range 2 {
		if got, err := s.GetPushedRequest(ctx, h); err != nil || got.ClientID != "web" || got.State != "st" {
			t.Fatalf("GetPushedRequest = %+v, %v; want the request", got, err)
		}
	}
	wins := raceWins(t, 16, func() (bool, error) {
		got, err := s.TakePushedRequest(ctx, h)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return false, nil
		case err == nil && (got.ClientID != "web" || got.DPoPJKT != "jkt" || got.State != "st"):
			t.Errorf("taken %+v", got)
		}
		return err == nil, err
	})
	if wins != 1 {
		t.Fatalf("%d takers got the request, want 1", wins)
	}
	if _, err := s.GetPushedRequest(ctx, h); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetPushedRequest of a taken request = %v, want ErrNotFound", err)
	}
	short := *r
	short.ExpiresAt = ms(time.Now().Add(150 * time.Millisecond))
	h2 := newHash()
	if err := s.SavePushedRequest(ctx, h2, &short); err != nil {
		t.Fatal(err)
	}
	sleepUntil(short.ExpiresAt.Add(10 * time.Millisecond))
	if _, err := s.GetPushedRequest(ctx, h2); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("expired request read: %v", err)
	}
	if _, err := s.TakePushedRequest(ctx, h2); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("expired request taken: %v", err)
	}
}
