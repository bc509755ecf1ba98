package storage_test

import (
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

func TestCutoffsKeepTheLaterTimes(t *testing.T) {
	eachTopology(t, testCutoffsKeepTheLaterTimes)
}

func testCutoffsKeepTheLaterTimes(t *testing.T, rs *testredis.Server) {
	s, ctx := openStore(t, rs)
	now := time.Now().Truncate(time.Millisecond).UTC()
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
}

func TestCutoffsExpire(t *testing.T) {
	s, ctx := openStore(t, testredis.New(t))
	now := time.Now()
	if err := s.SetCutoff(ctx, storage.Cutoff{Principal: "sub:short", NotBefore: now, Until: now.Add(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCutoff(ctx, storage.Cutoff{Principal: "sub:past", NotBefore: now, Until: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCutoff(ctx, storage.Cutoff{Principal: "client:long", NotBefore: now, Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	all, err := s.Cutoffs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := all["client:long"]; !ok || len(all) != 1 {
		t.Fatalf("Cutoffs = %+v, want only client:long", all)
	}
	// The next write also prunes the expired principal from the hash.
	if err := s.SetCutoff(ctx, storage.Cutoff{Principal: "client:long", NotBefore: now, Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Redis().HLen(ctx, s.CutoffsNBFKey()).Result()
	if err != nil || n != 1 {
		t.Fatalf("nbf hash has %d entries (%v), want 1", n, err)
	}
}

func TestCutoffsRejectIncomplete(t *testing.T) {
	s, ctx := openStore(t, testredis.New(t))
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
}

func TestSubscribeCutoffs(t *testing.T) {
	eachTopology(t, testSubscribeCutoffs)
}

func testSubscribeCutoffs(t *testing.T, rs *testredis.Server) {
	pub, ctx := openStore(t, rs)
	sub, _ := openStore(t, rs)
	ch, err := sub.SubscribeCutoffs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	nbf := time.Now().Truncate(time.Millisecond).UTC()
	want := storage.Cutoff{Principal: storage.ClientCutoff("web"), NotBefore: nbf, Until: nbf.Add(time.Hour)}
	if err := pub.SetCutoff(ctx, want); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-ch:
		if got.Principal != want.Principal || !got.NotBefore.Equal(want.NotBefore) || !got.Until.Equal(want.Until) {
			t.Fatalf("received %+v, want %+v", got, want)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no cutoff message within 2s")
	}
}
