package storagetest

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// testFamilyIndex checks the per-user family index beneath the contract
// (storage/keys.go: user-fams:<uid>, a ZSET of family ids scored by
// absolute expiry): it holds only families that can still be alive,
// whatever the user did before, and the index older versions write
// (user-families:<uid>, a HASH family -> client) is left to them and
// honoured by revocations, as in a rolling upgrade where both run side by
// side. Time moves on the store's clock.
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
		wantRevoked(t, s, "u1", "web", longWeb.ID, fresh.ID)
		wantCheck(t, s, longWeb.ID, longWebHash, storage.ErrRevoked)
		wantCheck(t, s, fresh.ID, freshHash, storage.ErrRevoked)
		wantCheck(t, s, longCLI.ID, longCLIHash, nil) // another client's family
		wantRevoked(t, s, "u1", "", longWeb.ID, fresh.ID, longCLI.ID)
		wantCheck(t, s, other.ID, otherHash, nil) // another user's family
		// The dead families were not even looked at: their records (still
		// in Redis, whose TTLs run on real time) were never marked.
		for _, f := range dead {
			if r := rdb.HGet(ctx, redisOf(t, s).Prefix()+"rt:{"+f.ID+"}", "r").Val(); r != "" {
				t.Fatalf("expired family %s was revoked (r=%q)", f.ID, r)
			}
		}
	})
	t.Run("a revocation during a login leaves the new family indexed", func(t *testing.T) {
		parallel(t)
		c := newClock()
		s := newStoreAt(t, c.Now)
		rdb, _ := indexOf(t, s, "u1")
		f := familyRecord("u1", "web", time.Hour)
		now := c.Now()
		f.AuthTime, f.CreatedAt, f.ExpiresAt = now, now, now.Add(time.Hour)
		f.AccessExpiresAt = now.Add(5 * time.Minute)
		// An administrator's revocation runs just before the family's
		// record is written.
		var hits atomic.Int32
		rdb.AddHook(interleave{key: redisOf(t, s).Prefix() + "rt:{" + f.ID + "}", fn: func() {
			if hits.Add(1) == 1 {
				if _, err := s.RevokeUserFamilies(ctxFor(t), "u1", ""); err != nil {
					t.Error(err)
				}
			}
		}})
		h := newHash()
		if err := s.CreateFamily(ctxFor(t), storage.NewRefresh{Family: f, TokenHash: h, Sliding: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if hits.Load() == 0 {
			t.Fatal("the family's record was never written")
		}
		// The family the login made is found by the next revocation.
		wantRevoked(t, s, "u1", "", f.ID)
		wantCheck(t, s, f.ID, h, storage.ErrRevoked)
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
	t.Run("an older version's index is honoured by a revocation", func(t *testing.T) {
		parallel(t)
		c := newClock()
		s, ctx := newStoreAt(t, c.Now), ctxFor(t)
		rdb, key := indexOf(t, s, "u1")
		legacy := legacyKeyOf(t, s, "u1")
		a, aHash := oldLogin(t, s, c, "u1", "web", 48*time.Hour)
		b, bHash := oldLogin(t, s, c, "u1", "cli", 24*time.Hour)
		legacyHSet(t, rdb, legacy, time.Hour, newID(), "web") // its family is gone
		fresh, freshHash := familyAt(t, s, c, "u1", "web", time.Hour)
		if typ, n := rdb.Type(ctx, legacy).Val(), rdb.HLen(ctx, legacy).Val(); typ != "hash" || n != 3 {
			t.Fatalf("legacy index after a new login is a %s of %d, want the hash of 3 left alone", typ, n)
		}
		wantRevoked(t, s, "u1", "web", a.ID, fresh.ID)
		wantCheck(t, s, a.ID, aHash, storage.ErrRevoked)
		wantCheck(t, s, fresh.ID, freshHash, storage.ErrRevoked)
		wantCheck(t, s, b.ID, bHash, nil) // another client's family
		if n := rdb.Exists(ctx, legacy).Val(); n != 0 {
			t.Fatalf("legacy index left after a revocation: %v", rdb.HGetAll(ctx, legacy).Val())
		}
		// Its entries are in the index now (the gone one pruned), bounded
		// by the old hash's end: now + its PTTL, here the longest old
		// family's end less the real time the test took since (the
		// store's clock stood still meanwhile).
		if got, want := indexedIDs(t, rdb, key), sortedIDs(a.ID, b.ID, fresh.ID); !slices.Equal(got, want) {
			t.Fatalf("index after the revocation = %v, want %v", got, want)
		}
		for _, id := range []string{a.ID, b.ID} {
			if score := rdb.ZScore(ctx, key, id).Val(); score < float64(a.ExpiresAt.Add(-time.Second).UnixMilli()) {
				t.Fatalf("folded entry %s scored %v, before the old index's end %d", id, score, a.ExpiresAt.UnixMilli())
			}
		}
		if ttl := rdb.PTTL(ctx, key).Val(); ttl < 47*time.Hour {
			t.Fatalf("index TTL = %v, want the old index's (48h)", ttl)
		}
		wantRevoked(t, s, "u1", "", a.ID, b.ID, fresh.ID)
		wantCheck(t, s, b.ID, bHash, storage.ErrRevoked)
	})
	t.Run("an older instance logs in and revokes beside a new one", func(t *testing.T) {
		parallel(t)
		c := newClock()
		s, ctx := newStoreAt(t, c.Now), ctxFor(t)
		rdb, _ := indexOf(t, s, "u1")
		legacy := legacyKeyOf(t, s, "u1")
		fresh, freshHash := familyAt(t, s, c, "u1", "web", 48*time.Hour) // a new instance
		old1, old1Hash := oldLogin(t, s, c, "u1", "web", 24*time.Hour)   // then an older one
		// The older instance's revocation reads its hash as it always did.
		if got, err := rdb.HGetAll(ctx, legacy).Result(); err != nil || len(got) != 1 || got[old1.ID] != "web" {
			t.Fatalf("older instance's HGETALL = %v, %v; want its one entry", got, err)
		}
		wantRevoked(t, s, "u1", "", fresh.ID, old1.ID)
		// The older instance logs the user in again: the hash it
		// re-creates is honoured by the next revocation.
		old2, old2Hash := oldLogin(t, s, c, "u1", "cli", 24*time.Hour)
		wantRevoked(t, s, "u1", "", fresh.ID, old1.ID, old2.ID)
		wantCheck(t, s, fresh.ID, freshHash, storage.ErrRevoked)
		wantCheck(t, s, old1.ID, old1Hash, storage.ErrRevoked)
		wantCheck(t, s, old2.ID, old2Hash, storage.ErrRevoked)
		if n := rdb.Exists(ctx, legacy).Val(); n != 0 {
			t.Fatalf("legacy index left after a revocation: %v", rdb.HGetAll(ctx, legacy).Val())
		}
	})
	t.Run("an older version's index without TTL goes with its families", func(t *testing.T) {
		parallel(t)
		c := newClock()
		s, ctx := newStoreAt(t, c.Now), ctxFor(t)
		rdb, key := indexOf(t, s, "u2")
		legacy := legacyKeyOf(t, s, "u2")
		// A hash without TTL (the older version always set one) keeps
		// its entries until they are found gone.
		nottl, nottlHash := oldLogin(t, s, c, "u2", "web", 48*time.Hour)
		rdb.Persist(ctx, legacy)
		legacyHSet(t, rdb, legacy, 0, newID(), "web")
		c.add(72 * time.Hour)
		wantRevoked(t, s, "u2", "") // past every family: none
		c.add(-72 * time.Hour)
		if n := rdb.Exists(ctx, key, legacy).Val(); n != 0 {
			t.Fatalf("an index of gone families still exists")
		}
		wantCheck(t, s, nottl.ID, nottlHash, nil)
	})
	t.Run("an unbounded entry keeps the index from expiring", func(t *testing.T) {
		parallel(t)
		c := newClock()
		s, ctx := newStoreAt(t, c.Now), ctxFor(t)
		rdb, key := indexOf(t, s, "u3")
		old, _ := oldLogin(t, s, c, "u3", "web", 48*time.Hour)
		rdb.Persist(ctx, legacyKeyOf(t, s, "u3"))
		fresh, _ := familyAt(t, s, c, "u3", "web", time.Hour) // the index expires in 1h
		wantRevoked(t, s, "u3", "cli")                        // folds the old entry in, revokes nothing
		// The old family lives 48h: an index that expired in 1h would
		// forget it, and a later revocation would miss it.
		if ttl := rdb.PTTL(ctx, key).Val(); ttl >= 0 {
			t.Fatalf("index TTL = %v while it holds an unbounded entry, want none", ttl)
		}
		wantRevoked(t, s, "u3", "web", old.ID, fresh.ID)
	})
}

// oldLogin is a login on an older instance: the family as CreateFamily
// stores it, but indexed only in the legacy hash, the way the older
// indexFamily did it.
func oldLogin(t *testing.T, s storage.Storage, c *clock, userID, clientID string, life time.Duration) (storage.RefreshFamily, string) {
	t.Helper()
	f, h := familyAt(t, s, c, userID, clientID, life)
	rdb, key := indexOf(t, s, userID)
	if err := rdb.ZRem(ctxFor(t), key, f.ID).Err(); err != nil {
		t.Fatal(err)
	}
	legacyHSet(t, rdb, legacyKeyOf(t, s, userID), life, f.ID, clientID)
	return f, h
}

// legacyHSet writes to the legacy index at key what the older
// indexFamily wrote, with the same commands: HSET family id -> client id,
// then the TTL raised to ttl (0: left alone). It fails the test on any
// error, WRONGTYPE above all.
func legacyHSet(t *testing.T, rdb redis.UniversalClient, key string, ttl time.Duration, familyClient ...any) {
	t.Helper()
	ctx := ctxFor(t)
	if err := rdb.HSet(ctx, key, familyClient...).Err(); err != nil {
		t.Fatalf("older version's HSET: %v", err)
	}
	if ttl > 0 && rdb.PTTL(ctx, key).Val() < ttl {
		if err := rdb.PExpire(ctx, key, ttl).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// familyAt is family on the store's clock c: it lives for life from now,
// with scope when one is given.
func familyAt(t *testing.T, s storage.RefreshStore, c *clock, userID, clientID string, life time.Duration, scope ...string) (storage.RefreshFamily, string) {
	t.Helper()
	now := c.Now()
	f := familyRecord(userID, clientID, life)
	if len(scope) > 0 {
		f.Scope = scope
	}
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
	return rb.Redis(), rb.Prefix() + "user-fams:" + userID
}

// legacyKeyOf returns the key of the user's index as older versions
// wrote it (storage/keys.go: user-families:<uid>, a HASH).
func legacyKeyOf(t *testing.T, s storage.Storage, userID string) string {
	return redisOf(t, s).Prefix() + "user-families:" + userID
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

// indexLen counts the index's entries.
func indexLen(t *testing.T, rdb redis.UniversalClient, key string) int64 {
	t.Helper()
	n, err := rdb.ZCard(ctxFor(t), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sortedIDs(ids ...string) []string { slices.Sort(ids); return ids }

// wantRevoked revokes user's families at client ("" for every client) and
// checks that exactly want were revoked.
func wantRevoked(t *testing.T, s storage.Storage, user, client string, want ...string) {
	t.Helper()
	revoked, err := s.RevokeUserFamilies(ctxFor(t), user, client)
	if err != nil || !sameIDs(revoked, want...) {
		t.Fatalf("RevokeUserFamilies(%s, %q) = %v, %v; want %v", user, client, familyIDs(revoked), err, want)
	}
}

// interleave is a go-redis hook that calls fn before any command whose
// first key is key goes out: another request's work, run at that point.
type interleave struct {
	key string
	fn  func()
}

func (h interleave) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h interleave) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if args := cmd.Args(); len(args) > 3 && (args[0] == "evalsha" || args[0] == "eval") && args[3] == h.key {
			h.fn()
		}
		return next(ctx, cmd)
	}
}

func (h interleave) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
