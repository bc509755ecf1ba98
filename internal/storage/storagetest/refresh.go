package storagetest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// family creates a family for user/client with one token and returns it
// with the token's hash.
func family(t *testing.T, s storage.RefreshStore, userID, clientID string, life, sliding time.Duration) (storage.RefreshFamily, string) {
	t.Helper()
	f := familyRecord(userID, clientID, life)
	h := newHash()
	if err := s.CreateFamily(ctxFor(t), storage.NewRefresh{Family: f, TokenHash: h, Sliding: sliding}); err != nil {
		t.Fatal(err)
	}
	return f, h
}

// familyRecord is a family of user/client that lives for life, not yet
// stored.
func familyRecord(userID, clientID string, life time.Duration) storage.RefreshFamily {
	now := time.Now()
	return storage.RefreshFamily{
		ID: newID(), ClientID: clientID, UserID: userID, Scope: []string{"openid", "offline_access"},
		AuthTime: ms(now), CreatedAt: ms(now), ExpiresAt: ms(now.Add(life)),
		AccessJTI: newID(), AccessExpiresAt: ms(now.Add(5 * time.Minute)),
	}
}

func rotation(familyID, presented string, grace time.Duration) storage.Rotation {
	return storage.Rotation{
		FamilyID: familyID, PresentedHash: presented, NewHash: newHash(),
		Successor: []byte("successor-" + newID()), AccessJTI: newID(),
		AccessExpiresAt: ms(time.Now().Add(5 * time.Minute)), Now: time.Now(),
		Sliding: time.Hour, Grace: grace,
	}
}

// rotate rotates the family from presented and returns the successor's
// hash; any error fails t.
func rotate(t *testing.T, s storage.RefreshStore, familyID, presented string) string {
	t.Helper()
	r := rotation(familyID, presented, 0)
	if _, err := s.Rotate(ctxFor(t), r); err != nil {
		t.Fatalf("rotate %s: %v", familyID, err)
	}
	return r.NewHash
}

// wantCheck asserts what CheckRefresh answers for the family's token: the
// suite observes families only as the server does, through their tokens.
func wantCheck(t *testing.T, s storage.RefreshStore, familyID, hash string, want error) {
	t.Helper()
	if _, err := s.CheckRefresh(ctxFor(t), familyID, hash); !errors.Is(err, want) {
		t.Fatalf("CheckRefresh(%s) = %v, want %v", familyID, err, want)
	}
}

// waitExpired polls until the family's token is unknown: the family has
// expired on Redis's own clock.
func waitExpired(t *testing.T, s storage.RefreshStore, familyID, hash string) {
	t.Helper()
	expired := eventually(func() bool {
		_, err := s.CheckRefresh(ctxFor(t), familyID, hash)
		return errors.Is(err, storage.ErrNotFound)
	})
	if !expired {
		t.Fatalf("family %s never expired", familyID)
	}
}

func testRefresh(t *testing.T, newStore NewStore) {
	t.Run("create and check", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		f, h := family(t, s, "u1", "web", time.Hour, time.Hour)
		got, err := s.CheckRefresh(ctx, f.ID, h)
		if err != nil {
			t.Fatalf("CheckRefresh(current) = %v", err)
		}
		if got.ID != f.ID || got.ClientID != "web" || got.UserID != "u1" || got.Revoked ||
			!got.ExpiresAt.Equal(f.ExpiresAt) || got.AccessJTI != f.AccessJTI || !got.AccessExpiresAt.Equal(f.AccessExpiresAt) {
			t.Fatalf("CheckRefresh = %+v, want %+v", got, f)
		}
		wantCheck(t, s, f.ID, newHash(), storage.ErrNotFound)
		wantCheck(t, s, f.ID, "", storage.ErrNotFound)
		for _, id := range []string{newID(), "", "a{b}"} {
			wantCheck(t, s, id, h, storage.ErrNotFound)
		}
		err = s.CreateFamily(ctx, storage.NewRefresh{Family: f, TokenHash: newHash(), Sliding: time.Hour})
		if !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("CreateFamily twice = %v, want ErrConflict", err)
		}
	})
	t.Run("family ids up to MaxIDLen, none longer", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		for _, tc := range []struct {
			id   string
			want error // of CheckRefresh after CreateFamily
		}{
			{strings.Repeat("a", storage.MaxIDLen), nil},
			{strings.Repeat("b", storage.MaxIDLen+1), storage.ErrNotFound},
		} {
			f, h := familyRecord("u1", "web", time.Hour), newHash()
			f.ID = tc.id
			err := s.CreateFamily(ctx, storage.NewRefresh{Family: f, TokenHash: h, Sliding: time.Hour})
			if (err == nil) != (tc.want == nil) {
				t.Fatalf("CreateFamily(id of %d bytes) = %v", len(tc.id), err)
			}
			wantCheck(t, s, tc.id, h, tc.want)
		}
	})
	t.Run("rotate chain then reuse revokes", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		f, h0 := family(t, s, "u1", "web", time.Hour, time.Hour)
		r1 := rotation(f.ID, h0, 0)
		res, err := s.Rotate(ctx, r1)
		if err != nil {
			t.Fatal(err)
		}
		if res.GraceSuccessor != nil || res.Family.AccessJTI != r1.AccessJTI || res.Family.Revoked {
			t.Fatalf("first rotation = %+v", res)
		}
		r2 := rotation(f.ID, r1.NewHash, 0)
		if _, err := s.Rotate(ctx, r2); err != nil {
			t.Fatal(err)
		}
		wantCheck(t, s, f.ID, r2.NewHash, nil)
		// h0 is two rotations old: only the used-hash set still knows it.
		res, err = s.Rotate(ctx, rotation(f.ID, h0, time.Minute))
		if !errors.Is(err, storage.ErrRefreshReused) {
			t.Fatalf("reuse of an old token = %v, want ErrRefreshReused", err)
		}
		if res == nil || !res.Family.Revoked || res.Family.AccessJTI != r2.AccessJTI {
			t.Fatalf("reuse result %+v: want the revoked family naming the newest access token", res)
		}
		if _, err := s.Rotate(ctx, rotation(f.ID, r2.NewHash, 0)); !errors.Is(err, storage.ErrRevoked) {
			t.Fatalf("current token after revocation = %v, want ErrRevoked", err)
		}
		wantCheck(t, s, f.ID, r2.NewHash, storage.ErrRevoked)
		wantCheck(t, s, f.ID, newHash(), storage.ErrRevoked)
	})
	t.Run("reuse detected across the used-hash cap", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		f, h0 := family(t, s, "u1", "web", time.Hour, time.Hour)
		hashes := []string{h0}
		for range storage.MaxUsedHashes + 1 {
			hashes = append(hashes, rotate(t, s, f.ID, hashes[len(hashes)-1]))
		}
		current := hashes[len(hashes)-1]
		// The first token is beyond the cap: forgotten, it is unknown and
		// must not revoke the family.
		if _, err := s.Rotate(ctx, rotation(f.ID, h0, 0)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("token older than the cap = %v, want ErrNotFound", err)
		}
		wantCheck(t, s, f.ID, current, nil)
		// One rotated out just now, after the set reached its cap, is still
		// known: reuse, and the family ends.
		recent := hashes[len(hashes)-3]
		res, err := s.Rotate(ctx, rotation(f.ID, recent, 0))
		if !errors.Is(err, storage.ErrRefreshReused) || res == nil || !res.Family.Revoked {
			t.Fatalf("recent token after %d rotations = %+v, %v; want ErrRefreshReused and a revoked family",
				len(hashes)-1, res, err)
		}
		wantCheck(t, s, f.ID, current, storage.ErrRevoked)
	})
	t.Run("previous token outside grace revokes", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		f, h0 := family(t, s, "u1", "web", time.Hour, time.Hour)
		r1 := rotation(f.ID, h0, time.Second)
		if _, err := s.Rotate(ctx, r1); err != nil {
			t.Fatal(err)
		}
		late := rotation(f.ID, h0, time.Second)
		late.Now = r1.Now.Add(2 * time.Second)
		if _, err := s.Rotate(ctx, late); !errors.Is(err, storage.ErrRefreshReused) {
			t.Fatalf("previous token after the grace window = %v, want ErrRefreshReused", err)
		}
	})
	t.Run("unknown hash and unknown family", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		f, h0 := family(t, s, "u1", "web", time.Hour, time.Hour)
		if _, err := s.Rotate(ctx, rotation(f.ID, newHash(), 0)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("foreign hash = %v, want ErrNotFound", err)
		}
		wantCheck(t, s, f.ID, h0, nil) // a foreign hash must not revoke the family
		if _, err := s.Rotate(ctx, rotation(newID(), newHash(), 0)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("unknown family = %v, want ErrNotFound", err)
		}
	})
	t.Run("absolute expiry beats a longer TTL", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		f, h0 := family(t, s, "u1", "web", time.Minute, time.Hour)
		r := rotation(f.ID, h0, 0)
		r.Now = f.ExpiresAt.Add(time.Millisecond) // the key is still there
		if _, err := s.Rotate(ctx, r); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("rotation after ExpiresAt = %v, want ErrNotFound", err)
		}
	})
	t.Run("an idle family expires after its sliding window", func(t *testing.T) {
		parallel(t)
		s := newStore(t)
		const window = time.Second
		start := time.Now()
		f, h0 := family(t, s, "u1", "web", time.Hour, window)
		waitExpired(t, s, f.ID, h0)
		// Redis expires keys on its own clock; allow for a little skew.
		if took := time.Since(start); took < window-20*time.Millisecond {
			t.Fatalf("family gone after %v, before its %v window", took, window)
		}
	})
	t.Run("rotation restarts the sliding window", func(t *testing.T) {
		parallel(t)
		s := newStore(t)
		const window = 2 * time.Second // only the rotation must come within it
		f, h0 := family(t, s, "u1", "web", time.Hour, window)
		current := rotate(t, s, f.ID, h0) // sliding: an hour from now
		// A twin created later and never rotated: once it is gone, f's
		// first window has certainly ended too.
		twin, twinHash := family(t, s, "u1", "web", time.Hour, window)
		waitExpired(t, s, twin.ID, twinHash)
		wantCheck(t, s, f.ID, current, nil)
	})
	t.Run("revoke family and user families", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		a, _ := family(t, s, "u1", "web", time.Hour, time.Hour)
		b, bHash := family(t, s, "u1", "cli", time.Hour, time.Hour)
		c, _ := family(t, s, "u1", "web", time.Hour, time.Hour)
		other, otherHash := family(t, s, "u2", "web", time.Hour, time.Hour)
		got, err := s.RevokeFamily(ctx, a.ID)
		if err != nil || !got.Revoked || got.ID != a.ID {
			t.Fatalf("RevokeFamily = %+v, %v", got, err)
		}
		if _, err := s.RevokeFamily(ctx, a.ID); err != nil {
			t.Fatalf("RevokeFamily is not idempotent: %v", err)
		}
		if _, err := s.RevokeFamily(ctx, newID()); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("RevokeFamily(unknown) = %v", err)
		}
		revoked, err := s.RevokeUserFamilies(ctx, "u1", "web")
		if err != nil {
			t.Fatal(err)
		}
		if !sameIDs(revoked, a.ID, c.ID) {
			t.Fatalf("RevokeUserFamilies(u1, web) = %v, want %s %s", familyIDs(revoked), a.ID, c.ID)
		}
		wantCheck(t, s, b.ID, bHash, nil) // another client's family
		revoked, err = s.RevokeUserFamilies(ctx, "u1", "")
		if err != nil || !sameIDs(revoked, a.ID, b.ID, c.ID) {
			t.Fatalf("RevokeUserFamilies(u1, all) = %v, %v", familyIDs(revoked), err)
		}
		wantCheck(t, s, other.ID, otherHash, nil) // another user's family
	})
	t.Run("revoke user families prunes dead entries", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		short, shortHash := family(t, s, "u1", "web", time.Hour, time.Second)
		long, _ := family(t, s, "u1", "web", time.Hour, time.Hour)
		waitExpired(t, s, short.ID, shortHash)
		revoked, err := s.RevokeUserFamilies(ctx, "u1", "")
		if err != nil || !sameIDs(revoked, long.ID) {
			t.Fatalf("RevokeUserFamilies = %v, %v; want only %s (%s expired)", familyIDs(revoked), err, long.ID, short.ID)
		}
	})
	t.Run("50 concurrent rotations, no grace: one wins, family revoked", func(t *testing.T) {
		parallel(t)
		s := newStore(t)
		f, h0 := family(t, s, "u1", "web", time.Hour, time.Hour)
		attempts := rotateConcurrently(t, s, f.ID, h0, 0)
		ok, reused := 0, 0
		for i, a := range attempts {
			switch {
			case a.err == nil && a.res.GraceSuccessor == nil:
				ok++
			case errors.Is(a.err, storage.ErrRefreshReused), errors.Is(a.err, storage.ErrRevoked):
				reused++
			default:
				t.Fatalf("rotation %d: %+v, %v", i, a.res, a.err)
			}
		}
		if ok != 1 || reused != len(attempts)-1 {
			t.Fatalf("%d rotated, %d refused; want 1 and %d", ok, reused, len(attempts)-1)
		}
		wantCheck(t, s, f.ID, h0, storage.ErrRevoked)
	})
	t.Run("50 concurrent rotations with grace: one successor, not revoked", func(t *testing.T) {
		parallel(t)
		s := newStore(t)
		f, h0 := family(t, s, "u1", "web", time.Hour, time.Hour)
		attempts := rotateConcurrently(t, s, f.ID, h0, time.Minute)
		var winner *attempt
		for i, a := range attempts {
			if a.err != nil {
				t.Fatalf("rotation %d: %v", i, a.err)
			}
			if a.res.GraceSuccessor == nil {
				if winner != nil {
					t.Fatal("two rotations created a new token, want exactly 1")
				}
				winner = &attempts[i]
			}
		}
		if winner == nil {
			t.Fatal("no rotation created a new token")
		}
		for i, a := range attempts {
			if a.res.GraceSuccessor != nil && !bytes.Equal(a.res.GraceSuccessor, winner.rot.Successor) {
				t.Fatalf("grace answer %d is %q, not the winner's successor %q", i, a.res.GraceSuccessor, winner.rot.Successor)
			}
		}
		wantCheck(t, s, f.ID, winner.rot.NewHash, nil)
	})
}

// attempt is one of rotateConcurrently's rotations and its outcome.
type attempt struct {
	rot storage.Rotation
	res *storage.RotationResult
	err error
}

// rotateConcurrently presents the same token 50 times at once; each
// attempt carries its own successor.
func rotateConcurrently(t *testing.T, s storage.RefreshStore, familyID, presented string, grace time.Duration) []attempt {
	attempts := make([]attempt, 50)
	for i := range attempts {
		attempts[i].rot = rotation(familyID, presented, grace)
	}
	ctx := ctxFor(t)
	race(len(attempts), func(i int) {
		a := &attempts[i]
		a.res, a.err = s.Rotate(ctx, a.rot)
	})
	return attempts
}

func familyIDs(fs []*storage.RefreshFamily) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.ID
	}
	return out
}

func sameIDs(fs []*storage.RefreshFamily, want ...string) bool {
	if len(fs) != len(want) {
		return false
	}
	seen := map[string]bool{}
	for _, f := range fs {
		seen[f.ID] = true
	}
	for _, id := range want {
		if !seen[id] {
			return false
		}
	}
	return true
}

func testRotationChecks(t *testing.T, newStore NewStore) {
	t.Run("another client cannot rotate", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		f, h0 := family(t, s, "u1", "web", time.Hour, time.Hour)
		r := rotation(f.ID, h0, 0)
		r.ClientID = "other"
		if _, err := s.Rotate(ctx, r); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("rotation by another client = %v, want ErrNotFound", err)
		}
		wantCheck(t, s, f.ID, h0, nil) // another client's attempt left the family alone
		r.ClientID = "web"
		if _, err := s.Rotate(ctx, r); err != nil {
			t.Fatalf("rotation by the family's client: %v", err)
		}
	})
	t.Run("a deleted client's family stays dead when its id returns", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		f := familyRecord("u1", "web", time.Hour)
		f.ClientGeneration = "gen-1"
		h0 := newHash()
		if err := s.CreateFamily(ctx, storage.NewRefresh{Family: f, TokenHash: h0, Sliding: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.CheckRefresh(ctx, f.ID, h0); err != nil || got.ClientGeneration != "gen-1" {
			t.Fatalf("CheckRefresh = %+v, %v; want generation gen-1", got, err)
		}
		// "web" deleted and registered again: another generation.
		for _, gen := range []string{"gen-2", ""} {
			r := rotation(f.ID, h0, 0)
			r.ClientID, r.ClientGeneration = "web", gen
			if _, err := s.Rotate(ctx, r); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("rotation under generation %q = %v, want ErrNotFound", gen, err)
			}
		}
		wantCheck(t, s, f.ID, h0, nil) // left alone: a stale copy of the client must not revoke it
		r := rotation(f.ID, h0, 0)
		r.ClientID, r.ClientGeneration = "web", "gen-1"
		res, err := s.Rotate(ctx, r)
		if err != nil || res.Family.ClientGeneration != "gen-1" {
			t.Fatalf("rotation by the family's own generation: %+v, %v", res, err)
		}
		// A family written without a generation (older versions) belongs
		// to a client record without one.
		legacy, hl := family(t, s, "u1", "web", time.Hour, time.Hour)
		r = rotation(legacy.ID, hl, 0)
		r.ClientID = "web"
		if _, err := s.Rotate(ctx, r); err != nil {
			t.Fatalf("rotation of a family without generation by a client without one: %v", err)
		}
	})
	t.Run("scope may narrow, never widen", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		f, h0 := family(t, s, "u1", "web", time.Hour, time.Hour) // scope: openid offline_access
		wide := rotation(f.ID, h0, 0)
		wide.ClientID, wide.Scope = "web", []string{"openid", "admin"}
		if _, err := s.Rotate(ctx, wide); !errors.Is(err, storage.ErrScopeExceedsGrant) {
			t.Fatalf("widening = %v, want ErrScopeExceedsGrant", err)
		}
		wantCheck(t, s, f.ID, h0, nil) // a refused widening did not spend the token
		narrow := rotation(f.ID, h0, 0)
		narrow.ClientID, narrow.Scope = "web", []string{"openid"}
		res, err := s.Rotate(ctx, narrow)
		if err != nil {
			t.Fatalf("narrowing: %v", err)
		}
		if len(res.Family.Scope) != 2 {
			t.Fatalf("the family's own scope changed: %v", res.Family.Scope)
		}
	})
}
