package storagetest

import (
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

func testCutoffs(t *testing.T, newStore NewStore) {
	t.Run("keep the later times", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		now := ms(time.Now())
		alice := storage.SubjectCutoff("alice")
		steps := []struct {
			name      string
			set       storage.Cutoff
			wantNBF   time.Time
			wantUntil time.Time
		}{
			{"first", storage.Cutoff{Principal: alice, NotBefore: now, Until: now.Add(time.Hour)}, now, now.Add(time.Hour)},
			{"earlier times change nothing", storage.Cutoff{Principal: alice, NotBefore: now.Add(-time.Minute), Until: now.Add(time.Minute)}, now, now.Add(time.Hour)},
			{"later times win", storage.Cutoff{Principal: alice, NotBefore: now.Add(time.Second), Until: now.Add(2 * time.Hour)}, now.Add(time.Second), now.Add(2 * time.Hour)},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				if err := s.SetCutoff(ctx, st.set); err != nil {
					t.Fatal(err)
				}
				all, err := s.Cutoffs(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got := all[alice]
				if len(all) != 1 || !got.NotBefore.Equal(st.wantNBF) || !got.Until.Equal(st.wantUntil) {
					t.Fatalf("Cutoffs = %+v, want nbf %v until %v", all, st.wantNBF, st.wantUntil)
				}
			})
		}
	})
	t.Run("reject incomplete", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		for name, c := range map[string]storage.Cutoff{
			"no principal": {NotBefore: time.Now(), Until: time.Now().Add(time.Hour)},
			"no time":      {Principal: "sub:x", Until: time.Now().Add(time.Hour)},
		} {
			t.Run(name, func(t *testing.T) {
				if err := s.SetCutoff(ctx, c); err == nil {
					t.Fatal("SetCutoff accepted an incomplete cutoff")
				}
			})
		}
	})
	t.Run("published to subscribers", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		ch, err := s.SubscribeCutoffs(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		nbf := ms(time.Now())
		want := storage.Cutoff{Principal: storage.ClientCutoff("web"), NotBefore: nbf, Until: nbf.Add(time.Hour)}
		if err := s.SetCutoff(ctx, want); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-ch:
			if got.Principal != want.Principal || !got.NotBefore.Equal(want.NotBefore) || !got.Until.Equal(want.Until) {
				t.Fatalf("received %+v, want %+v", got, want)
			}
		case <-ctx.Done():
			t.Fatal("no cutoff message")
		}
	})
}
