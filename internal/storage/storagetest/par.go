package storagetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// testPushedRequests: a pushed request is taken once, by one of many
// racing takers, and not after it expires.
func testPushedRequests(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), ctxFor(t)
	r := &storage.AuthRequest{ClientID: "web", RedirectURI: "https://web.example/cb", State: "st",
		DPoPJKT: "jkt", CreatedAt: ms(time.Now()), ExpiresAt: ms(time.Now().Add(time.Minute))}
	h := newHash()
	if err := s.SavePushedRequest(ctx, h, r); err != nil {
		t.Fatal(err)
	}
	if err := s.SavePushedRequest(ctx, h, r); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("second save = %v, want ErrConflict", err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			got, err := s.TakePushedRequest(ctx, h)
			switch {
			case err == nil:
				wins.Add(1)
				if got.ClientID != "web" || got.DPoPJKT != "jkt" || got.State != "st" {
					t.Errorf("taken %+v", got)
				}
			case !errors.Is(err, storage.ErrNotFound):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d takers got the request, want 1", wins.Load())
	}
	short := *r
	short.ExpiresAt = ms(time.Now().Add(150 * time.Millisecond))
	h2 := newHash()
	if err := s.SavePushedRequest(ctx, h2, &short); err != nil {
		t.Fatal(err)
	}
	sleepUntil(short.ExpiresAt.Add(10 * time.Millisecond))
	if _, err := s.TakePushedRequest(ctx, h2); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("expired request taken: %v", err)
	}
}
