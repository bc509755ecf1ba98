package storagetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// family creates a family for user/client with one token and returns it
// with the token's hash.
func family(t *testing.T, s *storage.Store, userID, clientID string, life, sliding time.Duration) (storage.RefreshFamily, string) {
	t.Helper()
	now := time.Now()
	f := storage.RefreshFamily{
		ID: newID(), ClientID: clientID, UserID: userID, Scope: []string{"openid", "offline_access"},
		AuthTime: ms(now), CreatedAt: ms(now), ExpiresAt: ms(now.Add(life)),
		AccessJTI: newID(), AccessExpiresAt: ms(now.Add(5 * time.Minute)),
	}
	h := newHash()
	if err := s.CreateFamily(ctxFor(t), storage.NewRefresh{Family: f, TokenHash: h, Sliding: sliding}); err != nil {
		t.Fatal(err)
	}
	return f, h
}

func rotation(familyID, presented string, grace time.Duration) storage.Rotation {
	return storage.Rotation{
		FamilyID: familyID, PresentedHash: presented, NewHash: newHash(),
		Successor: []byte("successor-" + newID()), AccessJTI: newID(),
		AccessExpiresAt: ms(time.Now().Add(5 * time.Minute)), Now: time.Now(),
		Sliding: time.Hour, Grace: grace,
	}
}

func testRefresh(t *testing.T, newStore NewStore) {
	t.Run("create get check", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		f, h := family(t, s, "u1", "web", time.Hour, time.Hour)
		got, err := s.GetFamily(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != f.ID || got.ClientID != "web" || got.UserID != "u1" || got.Revoked ||
			!got.ExpiresAt.Equal(f.ExpiresAt) || got.AccessJTI != f.AccessJTI || !got.AccessExpiresAt.Equal(f.AccessExpiresAt) {
			t.Fatalf("GetFamily = %+v, want %+v", got, f)
		}
		if _, err := s.CheckRefresh(ctx, f.ID, h); err != nil {
			t.Fatalf("CheckRefresh(current) = %v", err)
		}
		if _, err := s.CheckRefresh(ctx, f.ID, newHash()); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("CheckRefresh(other hash) = %v, want ErrNotFound", err)
		}
		for _, id := range []string{newID(), "", "a{b}"} {
			if _, err := s.GetFamily(ctx, id); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("GetFamily(%q) = %v, want ErrNotFound", id, err)
			}
		}
		err = s.CreateFamily(ctx, storage.NewRefresh{Family: f, TokenHash: newHash(), Sliding: time.Hour})
		if !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("CreateFamily twice = %v, want ErrConflict", err)
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
		if _, err := s.CheckRefresh(ctx, f.ID, r2.NewHash); err != nil {
			t.Fatalf("newest token not current: %v", err)
		}
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
		if _, err := s.CheckRefresh(ctx, f.ID, r2.NewHash); !errors.Is(err, storage.ErrRevoked) {
			t.Fatalf("CheckRefresh after revocation = %v, want ErrRevoked", err)
		}
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
		f, _ := family(t, s, "u1", "web", time.Hour, time.Hour)
		if _, err := s.Rotate(ctx, rotation(f.ID, newHash(), 0)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("foreign hash = %v, want ErrNotFound", err)
		}
		if got, _ := s.GetFamily(ctx, f.ID); got == nil || got.Revoked {
			t.Fatalf("a foreign hash must not revoke the family: %+v", got)
		}
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
	t.Run("sliding expiry and rotation extends it", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		f, h0 := family(t, s, "u1", "web", time.Hour, 1500*time.Millisecond)
		time.Sleep(time.Second)
		r := rotation(f.ID, h0, 0)
		r.Now, r.Sliding = time.Now(), 1500*time.Millisecond
		if _, err := s.Rotate(ctx, r); err != nil {
			t.Fatalf("rotation inside the sliding window: %v", err)
		}
		time.Sleep(time.Second) // 2 s after creation, 1 s after rotation
		if _, err := s.CheckRefresh(ctx, f.ID, r.NewHash); err != nil {
			t.Fatalf("rotation did not extend the sliding window: %v", err)
		}
		time.Sleep(800 * time.Millisecond)
		if _, err := s.GetFamily(ctx, f.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("idle family still there after its sliding window: %v", err)
		}
	})
	t.Run("revoke family and user families", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		a, _ := family(t, s, "u1", "web", time.Hour, time.Hour)
		b, _ := family(t, s, "u1", "cli", time.Hour, time.Hour)
		c, _ := family(t, s, "u1", "web", time.Hour, time.Hour)
		other, _ := family(t, s, "u2", "web", time.Hour, time.Hour)
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
		if f, _ := s.GetFamily(ctx, b.ID); f == nil || f.Revoked {
			t.Fatal("family of another client was revoked")
		}
		revoked, err = s.RevokeUserFamilies(ctx, "u1", "")
		if err != nil || !sameIDs(revoked, a.ID, b.ID, c.ID) {
			t.Fatalf("RevokeUserFamilies(u1, all) = %v, %v", familyIDs(revoked), err)
		}
		if f, _ := s.GetFamily(ctx, other.ID); f == nil || f.Revoked {
			t.Fatal("family of another user was revoked")
		}
	})
	t.Run("revoke user families prunes dead entries", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		short, _ := family(t, s, "u1", "web", time.Hour, time.Second)
		long, _ := family(t, s, "u1", "web", time.Hour, time.Hour)
		time.Sleep(1200 * time.Millisecond)
		revoked, err := s.RevokeUserFamilies(ctx, "u1", "")
		if err != nil || !sameIDs(revoked, long.ID) {
			t.Fatalf("RevokeUserFamilies = %v, %v; want only %s (%s expired)", familyIDs(revoked), err, long.ID, short.ID)
		}
	})
	t.Run("50 concurrent rotations, no grace: one wins, family revoked", func(t *testing.T) {
		parallel(t)
		s, _ := newStore(t), ctxFor(t)
		f, h0 := family(t, s, "u1", "web", time.Hour, time.Hour)
		results, errs := rotateConcurrently(t, s, f.ID, h0, 0)
		ok, reused := 0, 0
		for i, err := range errs {
			switch {
			case err == nil && results[i].GraceSuccessor == nil:
				ok++
			case errors.Is(err, storage.ErrRefreshReused), errors.Is(err, storage.ErrRevoked):
				reused++
			default:
				t.Fatalf("rotation %d: %+v, %v", i, results[i], err)
			}
		}
		if ok != 1 || reused != len(errs)-1 {
			t.Fatalf("%d rotated, %d refused; want 1 and %d", ok, reused, len(errs)-1)
		}
		if got, err := s.GetFamily(ctxFor(t), f.ID); err != nil || !got.Revoked {
			t.Fatalf("family after concurrent reuse: %+v, %v; want revoked", got, err)
		}
	})
	t.Run("50 concurrent rotations with grace: one successor, not revoked", func(t *testing.T) {
		parallel(t)
		s, _ := newStore(t), ctxFor(t)
		f, h0 := family(t, s, "u1", "web", time.Hour, time.Hour)
		results, errs := rotateConcurrently(t, s, f.ID, h0, time.Minute)
		var winner []byte
		rotated := 0
		for i, err := range errs {
			if err != nil {
				t.Fatalf("rotation %d: %v", i, err)
			}
			if results[i].GraceSuccessor == nil {
				rotated++
			}
		}
		if rotated != 1 {
			t.Fatalf("%d rotations created a new token, want exactly 1", rotated)
		}
		for i, res := range results {
			if res.GraceSuccessor != nil {
				if winner == nil {
					winner = res.GraceSuccessor
				}
				if !bytes.Equal(res.GraceSuccessor, winner) {
					t.Fatalf("rotation %d got successor %q, others %q", i, res.GraceSuccessor, winner)
				}
			}
		}
		got, err := s.GetFamily(ctxFor(t), f.ID)
		if err != nil || got.Revoked {
			t.Fatalf("family after grace answers: %+v, %v; want not revoked", got, err)
		}
	})
}

// rotateConcurrently presents the same token 50 times at once; each
// attempt carries its own successor.
func rotateConcurrently(t *testing.T, s *storage.Store, familyID, presented string, grace time.Duration) ([]*storage.RotationResult, []error) {
	const n = 50
	results := make([]*storage.RotationResult, n)
	errs := make([]error, n)
	rots := make([]storage.Rotation, n)
	for i := range rots {
		rots[i] = rotation(familyID, presented, grace)
	}
	ctx := ctxFor(t)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.Rotate(ctx, rots[i])
		})
	}
	close(start)
	wg.Wait()
	// Every grace answer must carry the winner's successor.
	for i, res := range results {
		if errs[i] != nil || res.GraceSuccessor != nil {
			continue
		}
		for j, other := range results {
			if errs[j] == nil && other.GraceSuccessor != nil && !bytes.Equal(other.GraceSuccessor, rots[i].Successor) {
				t.Fatalf("grace answer %d is %q, not the winner's successor %q", j, other.GraceSuccessor, rots[i].Successor)
			}
		}
	}
	return results, errs
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
		if _, err := s.CheckRefresh(ctx, f.ID, h0); err != nil {
			t.Fatalf("another client's attempt touched the family: %v", err)
		}
		r.ClientID = "web"
		if _, err := s.Rotate(ctx, r); err != nil {
			t.Fatalf("rotation by the family's client: %v", err)
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
		if _, err := s.CheckRefresh(ctx, f.ID, h0); err != nil {
			t.Fatalf("a refused widening spent the token: %v", err)
		}
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
