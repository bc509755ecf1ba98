package storage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

// A cursor whose entry was trimmed away cannot be followed: what came
// after it may be gone too. That holds for a cursor taken while the
// stream was empty as well, once its first entry is trimmed.
func TestFeedCursorTrimmedAway(t *testing.T) {
	s, ctx := open(t, testredis.New(t)), context.Background()
	_, empty, err := s.RevocationSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	if err := s.RevokeJTI(ctx, "j0", exp); err != nil {
		t.Fatal(err)
	}
	_, cursor, err := s.RevocationSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{empty, cursor} {
		if _, _, snapshot, err := s.RevocationsSince(ctx, c); err != nil || snapshot {
			t.Fatalf("before the trim, %s: snapshot = %v, %v", c, snapshot, err)
		}
	}
	for i := range 3 {
		if err := s.RevokeJTI(ctx, fmt.Sprint("j", i+1), exp); err != nil {
			t.Fatal(err)
		}
	}
	// As XADD MAXLEN does once the stream is full.
	if err := s.Redis().XTrimMaxLen(ctx, s.JTIFeedKey(), 1).Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{empty, cursor} {
		if _, _, snapshot, err := s.RevocationsSince(ctx, c); err != nil || !snapshot {
			t.Errorf("after the trim, %s: snapshot = %v, %v; want a snapshot", c, snapshot, err)
		}
	}
}

// One answer holds at most FeedBatch entries of a stream; the cursor
// then leads to the rest.
func TestFeedBatches(t *testing.T) {
	s, ctx := open(t, testredis.New(t)), context.Background()
	_, cursor, err := s.RevocationSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	n := storage.FeedBatch + 5
	for i := range n {
		if err := s.RevokeJTI(ctx, fmt.Sprint("j", i), exp); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, want := range []int{storage.FeedBatch, 5, 0} {
		ev, next, snapshot, err := s.RevocationsSince(ctx, cursor)
		if err != nil || snapshot || len(ev.JTIs) != want {
			t.Fatalf("RevocationsSince: %d jtis, snapshot %v, %v; want %d", len(ev.JTIs), snapshot, err, want)
		}
		for _, r := range ev.JTIs {
			seen[r.JTI] = true
		}
		cursor = next
	}
	if len(seen) != n {
		t.Fatalf("saw %d distinct jtis, want %d", len(seen), n)
	}
}
