package storagetest

import (
	"slices"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// testRevocationFeed: the history resource servers follow (a snapshot,
// then what changed after a cursor); see feed.go.
func testRevocationFeed(t *testing.T, newStore NewStore) {
	t.Run("snapshot then what changed", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		exp := ms(time.Now().Add(time.Hour))
		if err := s.RevokeJTI(ctx, "before", exp); err != nil {
			t.Fatal(err)
		}
		snap, cursor, err := s.RevocationSnapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.JTIs) != 1 || snap.JTIs[0].JTI != "before" || !snap.JTIs[0].ExpiresAt.Equal(exp) || len(snap.Cutoffs) != 0 {
			t.Fatalf("snapshot = %+v, want the jti before", snap)
		}
		wantSince(t, s, cursor, nil, nil)

		nbf := ms(time.Now())
		cut := storage.Cutoff{Principal: storage.SubjectCutoff("alice"), NotBefore: nbf, Until: nbf.Add(time.Hour)}
		if err := s.SetCutoff(ctx, cut); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeJTI(ctx, "after", exp); err != nil {
			t.Fatal(err)
		}
		next := wantSince(t, s, cursor, []string{"after"}, []storage.Cutoff{cut})
		if next == cursor {
			t.Fatal("the cursor did not move past what was reported")
		}
		if again := wantSince(t, s, next, nil, nil); again != next {
			t.Fatalf("nothing new moved the cursor from %s to %s", next, again)
		}
	})
	t.Run("an entry only when the state changed", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		_, cursor, err := s.RevocationSnapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		exp := ms(time.Now().Add(time.Hour))
		nbf := ms(time.Now())
		cut := storage.Cutoff{Principal: storage.ClientCutoff("web"), NotBefore: nbf, Until: nbf.Add(time.Hour)}
		// Each twice, as a re-sent script would be (redelivery.go); and
		// with earlier times, which change nothing.
		for range 2 {
			if err := s.RevokeJTI(ctx, "j1", exp); err != nil {
				t.Fatal(err)
			}
			if err := s.SetCutoff(ctx, cut); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RevokeJTI(ctx, "j1", exp.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCutoff(ctx, storage.Cutoff{Principal: cut.Principal, NotBefore: nbf.Add(-time.Second), Until: cut.Until}); err != nil {
			t.Fatal(err)
		}
		cursor = wantSince(t, s, cursor, []string{"j1"}, []storage.Cutoff{cut})
		// A later until alone is a change, reported with the kept nbf.
		later := storage.Cutoff{Principal: cut.Principal, NotBefore: nbf.Add(-time.Second), Until: cut.Until.Add(time.Hour)}
		if err := s.SetCutoff(ctx, later); err != nil {
			t.Fatal(err)
		}
		wantSince(t, s, cursor, nil, []storage.Cutoff{{Principal: cut.Principal, NotBefore: nbf, Until: later.Until}})
	})
	t.Run("a cursor it cannot follow asks for a snapshot", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		if err := s.RevokeJTI(ctx, "j1", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		_, cursor, err := s.RevocationSnapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]string{
			"empty":     "",
			"malformed": "not-a-cursor",
			"one part":  "1-0",
			"junk":      "1-0.x-0",
			// An id the stream never held, as after Redis lost its data.
			"unknown": "1-1.0-0",
		} {
			_, _, snapshot, err := s.RevocationsSince(ctx, c)
			if err != nil || !snapshot {
				t.Errorf("%s cursor %q: snapshot = %v, %v; want a snapshot", name, c, snapshot, err)
			}
		}
		if _, _, snapshot, err := s.RevocationsSince(ctx, cursor); err != nil || snapshot {
			t.Fatalf("a snapshot's own cursor: snapshot = %v, %v", snapshot, err)
		}
	})
}

// wantSince checks what RevocationsSince reports after cursor (in any
// order) and returns the next cursor.
func wantSince(t *testing.T, s storage.Storage, cursor string, jtis []string, cuts []storage.Cutoff) string {
	t.Helper()
	ev, next, snapshot, err := s.RevocationsSince(ctxFor(t), cursor)
	if err != nil || snapshot {
		t.Fatalf("RevocationsSince(%s): snapshot %v, %v", cursor, snapshot, err)
	}
	var got []string
	for _, r := range ev.JTIs {
		got = append(got, r.JTI)
	}
	slices.Sort(got)
	slices.Sort(jtis)
	if !slices.Equal(got, jtis) {
		t.Fatalf("RevocationsSince(%s) jtis = %v, want %v", cursor, got, jtis)
	}
	if len(ev.Cutoffs) != len(cuts) {
		t.Fatalf("RevocationsSince(%s) cutoffs = %+v, want %+v", cursor, ev.Cutoffs, cuts)
	}
	for i, c := range cuts {
		g := ev.Cutoffs[i]
		if g.Principal != c.Principal || !g.NotBefore.Equal(c.NotBefore) || !g.Until.Equal(c.Until) {
			t.Fatalf("RevocationsSince(%s) cutoff %d = %+v, want %+v", cursor, i, g, c)
		}
	}
	return next
}
