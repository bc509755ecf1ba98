package storagetest

import (
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// testFamilyIndex checks the per-user family index beneath the contract
// (storage/keys.go: user-families:<uid>, a ZSET of family ids scored by
// absolute expiry): it holds only families that can still be
// alive, whatever the user did before, and an index an older version left
// (a HASH family -> client) keeps working. Time moves on the store's clock.
func testFamilyIndex(t *testing.T, newStoreAt NewStoreAt) {
	t.Run("expired families leave the index at the next login", func(t *testing.T) {
		parallel(t)
		c := newClock()
		s, ctx := newStoreAt(t, c.Now), ctxFor(t)
		rdb, key := indexOf(t, s, "u1")
		var dead []storage.RefreshFamily
		for range 30 {
			f, _ := familyAt(t, s, c, "u1", "web", time.Hour)
			dead = append(dead, f)
		}
		longWeb, longWebHash := familyAt(t, s, c, "u1", "web", 48*time.Hour)
		longCLI, longCLIHash := familyAt(t, s, c, "u1", "cli", 48*time.Hour)
		other, otherHash := familyAt(t, s, c, "u2", "web", 48*time.Hour)
		if n := indexLen(t, rdb, key); n != 32 {
			t.Fatalf("index of 32 live families holds %d", n)
		}
		c.add(2 * time.Hour) // the 30 are past their absolute expiry
		fresh, freshHash := familyAt(t, s, c, "u1", "web", time.Hour)
		if n := indexLen(t, rdb, key); n != 3 {
			t.Fatalf("index after a login holds %d, want the 3 live families", n)
		}
		if got, want := indexedIDs(t, rdb, key), sortedIDs(longWeb.ID, longCLI.ID, fresh.ID); !slices.Equal(got, want) {
			t.Fatalf("index after a login = %v, want only the live %v", got, want)
		}
		if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 45*time.Hour || ttl > 46*time.Hour {
			t.Fatalf("index TTL = %v, want the longest family's remaining 46h", ttl)
		}
		revoked, err := s.RevokeUserFamilies(ctx, "u1", "web")
		if err != nil || !sameIDs(revoked, longWeb.ID, fresh.ID) {
			t.Fatalf("RevokeUserFamilies(u1, web) = %v, %v; want %s %s", familyIDs(revoked), err, longWeb.ID, fresh.ID)
		}
		wantCheck(t, s, longWeb.ID, longWebHash, storage.ErrRevoked)
		wantCheck(t, s, fresh.ID, freshHash, storage.ErrRevoked)
		wantCheck(t, s, longCLI.ID, longCLIHash, nil) // another client's family
		revoked, err = s.RevokeUserFamilies(ctx, "u1", "")
		if err != nil || !sameIDs(revoked, longWeb.ID, fresh.ID, longCLI.ID) {
			t.Fatalf("RevokeUserFamilies(u1, all) = %v, %v", familyIDs(revoked), err)
		}
		wantCheck(t, s, other.ID, otherHash, nil) // another user's family
		// The dead families were not even looked at: their records (still
		// in Redis, whose TTLs run on real time) were never marked.
		for _, f := range dead {
			if r := rdb.HGet(ctx, redisOf(t, s).Prefix()+"rt:{"+f.ID+"}", "r").Val(); r != "" {
				t.Fatalf("expired family %s was revoked (r=%q)", f.ID, r)
			}
		}
	})
	t.Run("a daily login keeps the index at the families alive", func(t *testing.T) {
		parallel(t)
		c := newClock()
		s := newStoreAt(t, c.Now)
		rdb, key := indexOf(t, s, "u1")
		for day := range 20 {
			// Each login lives 3 days: the one of 3 days ago ends now.
			familyAt(t, s, c, "u1", "web", 72*time.Hour)
			if n, want := indexLen(t, rdb, key), int64(min(day+1, 3)); n != want {
				t.Fatalf("day %d: index holds %d families, want %d", day, n, want)
			}
			c.add(24 * time.Hour)
		}
	})
	t.Run("an older version's hash index is converted by a login", func(t *testing.T) {
		parallel(t)
		c := newClock()
		s, ctx := newStoreAt(t, c.Now), ctxFor(t)
		rdb, key := indexOf(t, s, "u1")
		a, aHash := familyAt(t, s, c, "u1", "web", 48*time.Hour)
		b, bHash := familyAt(t, s, c, "u1", "cli", 48*time.Hour)
		legacyIndex(t, rdb, key, 48*time.Hour, a.ID, "web", b.ID, "cli", newID(), "web")
		fresh, freshHash := familyAt(t, s, c, "u1", "web", time.Hour)
		if typ := rdb.Type(ctx, key).Val(); typ != "zset" {
			t.Fatalf("index is a %s after a login, want zset", typ)
		}
		if n := rdb.ZCard(ctx, key).Val(); n != 4 {
			t.Fatalf("converted index holds %d, want the 3 old entries and the new one", n)
		}
		// An old entry's bound is the old index's end: now + its PTTL,
		// here its family's end less the real time the test took since
		// legacyIndex (the store's clock stood still meanwhile).
		if score := rdb.ZScore(ctx, key, a.ID).Val(); score < float64(a.ExpiresAt.Add(-time.Second).UnixMilli()) {
			t.Fatalf("converted entry scored %v, before its family's expiry %d", score, a.ExpiresAt.UnixMilli())
		}
		if ttl := rdb.PTTL(ctx, key).Val(); ttl < 47*time.Hour {
			t.Fatalf("converted index TTL = %v, want the old one's (48h)", ttl)
		}
		revoked, err := s.RevokeUserFamilies(ctx, "u1", "web")
		if err != nil || !sameIDs(revoked, a.ID, fresh.ID) {
			t.Fatalf("RevokeUserFamilies(u1, web) = %v, %v; want %s %s", familyIDs(revoked), err, a.ID, fresh.ID)
		}
		wantCheck(t, s, a.ID, aHash, storage.ErrRevoked)
		wantCheck(t, s, fresh.ID, freshHash, storage.ErrRevoked)
		wantCheck(t, s, b.ID, bHash, nil)
		if n := rdb.ZCard(ctx, key).Val(); n != 3 {
			t.Fatalf("index holds %d after revoking, want 3 (the gone entry pruned)", n)
		}
	})
	t.Run("an older version's hash index is converted by a revocation", func(t *testing.T) {
		parallel(t)
		c := newClock()
		s, ctx := newStoreAt(t, c.Now), ctxFor(t)
		rdb, key := indexOf(t, s, "u1")
		a, aHash := familyAt(t, s, c, "u1", "web", 48*time.Hour)
		b, bHash := familyAt(t, s, c, "u1", "cli", 48*time.Hour)
		legacyIndex(t, rdb, key, 48*time.Hour, a.ID, "web", b.ID, "cli", newID(), "web")
		for i := range 2 { // the second call finds it converted
			revoked, err := s.RevokeUserFamilies(ctx, "u1", "")
			if err != nil || !sameIDs(revoked, a.ID, b.ID) {
				t.Fatalf("RevokeUserFamilies call %d = %v, %v; want %s %s", i+1, familyIDs(revoked), err, a.ID, b.ID)
			}
		}
		wantCheck(t, s, a.ID, aHash, storage.ErrRevoked)
		wantCheck(t, s, b.ID, bHash, storage.ErrRevoked)
		if typ, n := rdb.Type(ctx, key).Val(), rdb.ZCard(ctx, key).Val(); typ != "zset" || n != 2 {
			t.Fatalf("index is a %s of %d, want a zset of 2", typ, n)
		}
		if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 {
			t.Fatalf("converted index TTL = %v, want one", ttl)
		}
		// A hash without TTL (the older version always set one) keeps
		// its entries until they are found gone.
		nottl, nottlHash := familyAt(t, s, c, "u2", "web", 48*time.Hour)
		_, key2 := indexOf(t, s, "u2")
		legacyIndex(t, rdb, key2, 0, nottl.ID, "web", newID(), "web")
		c.add(72 * time.Hour)
		revoked, err := s.RevokeUserFamilies(ctx, "u2", "")
		if err != nil || len(revoked) != 0 {
			t.Fatalf("RevokeUserFamilies(u2) past every family = %v, %v; want none", familyIDs(revoked), err)
		}
		c.add(-72 * time.Hour)
		if n := rdb.Exists(ctx, key2).Val(); n != 0 {
			t.Fatalf("index of gone families still exists")
		}
		wantCheck(t, s, nottl.ID, nottlHash, nil)
	})
}

// familyAt is family on the store's clock c: it lives for life from now.
func familyAt(t *testing.T, s storage.RefreshStore, c *clock, userID, clientID string, life time.Duration) (storage.RefreshFamily, string) {
	t.Helper()
	now := c.Now()
	f := familyRecord(userID, clientID, life)
	f.AuthTime, f.CreatedAt, f.ExpiresAt = now, now, now.Add(life)
	f.AccessExpiresAt = now.Add(5 * time.Minute)
	h := newHash()
	if err := s.CreateFamily(ctxFor(t), storage.NewRefresh{Family: f, TokenHash: h, Sliding: life}); err != nil {
		t.Fatal(err)
	}
	return f, h
}

// indexOf returns the store's Redis and the key of the user's index.
func indexOf(t *testing.T, s storage.Storage, userID string) (redis.UniversalClient, string) {
	rb := redisOf(t, s)
	return rb.Redis(), rb.Prefix() + "user-families:" + userID
}

// indexedIDs returns the family ids in the index, sorted.
func indexedIDs(t *testing.T, rdb redis.UniversalClient, key string) []string {
	t.Helper()
	members, err := rdb.ZRange(ctxFor(t), key, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(members)
	return members
}

// indexLen counts the index's entries in either form, so that a test
// fails on the count, not on the type, where an index keeps dead entries.
func indexLen(t *testing.T, rdb redis.UniversalClient, key string) int64 {
	t.Helper()
	ctx := ctxFor(t)
	if rdb.Type(ctx, key).Val() == "hash" {
		return rdb.HLen(ctx, key).Val()
	}
	n, err := rdb.ZCard(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sortedIDs(ids ...string) []string { slices.Sort(ids); return ids }

// legacyIndex replaces the index at key with the form an older version
// wrote: a HASH family id -> client id whose TTL (0: none) was its
// longest family's life.
func legacyIndex(t *testing.T, rdb redis.UniversalClient, key string, ttl time.Duration, familyClient ...any) {
	t.Helper()
	ctx := ctxFor(t)
	if err := rdb.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, key, familyClient...).Err(); err != nil {
		t.Fatal(err)
	}
	if ttl > 0 {
		if err := rdb.PExpire(ctx, key, ttl).Err(); err != nil {
			t.Fatal(err)
		}
	}
}
