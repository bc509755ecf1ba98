package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// testChallengeSessions: an auth_session counts its attempts and ends
// after the last, is taken once by one of many racing takers, and Redis
// forgets it by itself.
func testChallengeSessions(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), ctxFor(t)
	cs := &storage.ChallengeSession{ClientID: "app", UserID: "u1", CodeChallenge: "ch", Scope: []string{"openid"}}
	h := newHash()
	if err := s.SaveChallenge(ctx, h, cs, time.Minute); err != nil {
		t.Fatal(err)
	}
	keys := keysUnder(t, ctx, s)
	if len(keys) != 1 {
		t.Fatalf("keys after one session = %q, want one", keys)
	}
	if ttl := redisOf(t, s).Redis().PTTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("session %s has ttl %v, want (0, 1m]", keys[0], ttl)
	}
	if err := s.SaveChallenge(ctx, h, &storage.ChallengeSession{ClientID: "other"}, time.Minute); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("overwrite = %v, want ErrConflict", err)
	}
	for i := range 3 {
		got, err := s.TryChallenge(ctx, h, 3)
		if err != nil || got.ClientID != "app" || got.CodeChallenge != "ch" {
			t.Fatalf("attempt %d = %+v, %v", i+1, got, err)
		}
	}
	if _, err := s.TryChallenge(ctx, h, 3); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("attempt past the last = %v, want ErrNotFound", err)
	}
	if err := s.TakeChallenge(ctx, h); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("take of an ended session = %v, want ErrNotFound", err)
	}

	h2 := newHash()
	if err := s.SaveChallenge(ctx, h2, cs, time.Minute); err != nil {
		t.Fatal(err)
	}
	wins := raceWins(t, 16, func() (bool, error) {
		err := s.TakeChallenge(ctx, h2)
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	if wins != 1 {
		t.Fatalf("%d takers got the session, want 1", wins)
	}
	if _, err := s.TryChallenge(ctx, h2, 3); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("attempt on a taken session = %v, want ErrNotFound", err)
	}

	h3 := newHash()
	if err := s.SaveChallenge(ctx, h3, cs, 150*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond)
	if _, err := s.TryChallenge(ctx, h3, 3); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("attempt on an expired session = %v, want ErrNotFound", err)
	}
}
