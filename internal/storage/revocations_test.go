package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

// The cutoffs' contract is checked by storagetest; this looks beneath it:
// an expired principal must also leave the not-before hash, which nobody
// reads by range.
func TestCutoffsExpire(t *testing.T) {
	s, ctx := open(t, testredis.New(t)), context.Background()
	now := time.Now()
	short := storage.Cutoff{Principal: "sub:short", NotBefore: now, Until: now.Add(300 * time.Millisecond)}
	for _, c := range []storage.Cutoff{
		short,
		{Principal: "sub:past", NotBefore: now, Until: now.Add(-time.Second)},
		{Principal: "client:long", NotBefore: now, Until: now.Add(time.Hour)},
	} {
		if err := s.SetCutoff(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Until(short.Until)) // the store decides expiry on this clock
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
