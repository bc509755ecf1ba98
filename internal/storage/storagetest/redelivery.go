package storagetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// testRedelivery delivers the same call twice, as Redis sees it when a
// client re-sends a command or runs the copies queued during a stall
// (storage/redelivery.go): the second delivery must answer what the first
// did and change nothing.
func testRedelivery(t *testing.T, newStore NewStore) {
	t.Run("rotation delivered twice is not reuse", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		f, h := family(t, s, "u1", "web", time.Hour, time.Hour)
		r := rotation(f.ID, h, 0) // no grace: only the request's identity saves it
		first, err := s.Rotate(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		second, err := s.Rotate(ctx, r)
		if err != nil {
			t.Fatalf("second delivery of one rotation = %v, want the first answer", err)
		}
		if second.GraceSuccessor != nil || second.Family.AccessJTI != first.Family.AccessJTI || second.Family.Revoked {
			t.Fatalf("second delivery = %+v, want %+v", second, first)
		}
		// The family lives: the successor rotates, and only then is the
		// presented token reuse.
		next := rotate(t, s, f.ID, r.NewHash)
		wantCheck(t, s, f.ID, next, nil)
		if _, err := s.Rotate(ctx, rotation(f.ID, h, 0)); !errors.Is(err, storage.ErrRefreshReused) {
			t.Fatalf("old token after its successor was used = %v, want ErrRefreshReused", err)
		}
	})
	t.Run("passkey writes delivered twice", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		u := &storage.User{Username: "pk-" + newID(), PasswordHash: "h"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		p := newPasskey(u.ID)
		for i := range 2 {
			if err := s.AddPasskey(ctx, []byte("h"), p); err != nil {
				t.Fatalf("AddPasskey delivery %d = %v, want nil", i+1, err)
			}
		}
		used := *p
		used.SignCount = 3
		for i := range 2 {
			if err := s.UpdatePasskey(ctx, p, &used); err != nil {
				t.Fatalf("UpdatePasskey delivery %d = %v, want nil", i+1, err)
			}
		}
		if list, err := s.ListPasskeys(ctx, u.ID); err != nil || len(list) != 1 || list[0].SignCount != 3 {
			t.Fatalf("after the second deliveries: %+v, %v", list, err)
		}
	})
	t.Run("redemption delivered twice is not reuse", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		h, code := newHash(), newCode(time.Minute)
		if err := s.SaveCode(ctx, h, code); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveCode(ctx, h, code); err != nil {
			t.Fatalf("SaveCode delivered twice = %v, want nil", err)
		}
		red := newRedemption()
		if _, err := s.RedeemCode(ctx, h, red); err != nil {
			t.Fatal(err)
		}
		again, err := s.RedeemCode(ctx, h, red)
		if err != nil || again == nil || *again != red {
			t.Fatalf("same redemption delivered twice = %+v, %v; want the first answer", again, err)
		}
		if first, err := s.RedeemCode(ctx, h, newRedemption()); !errors.Is(err, storage.ErrCodeReused) || *first != red {
			t.Fatalf("another redemption = %+v, %v; want ErrCodeReused naming the first", first, err)
		}
	})
	t.Run("family created twice", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		now := time.Now()
		nr := storage.NewRefresh{Family: storage.RefreshFamily{
			ID: newID(), ClientID: "web", UserID: "u1", Scope: []string{"openid"},
			AuthTime: ms(now), CreatedAt: ms(now), ExpiresAt: ms(now.Add(time.Hour)),
		}, TokenHash: newHash(), Sliding: time.Hour}
		for i := range 2 {
			if err := s.CreateFamily(ctx, nr); err != nil {
				t.Fatalf("CreateFamily delivery %d = %v", i+1, err)
			}
		}
		other := nr
		other.TokenHash = newHash()
		if err := s.CreateFamily(ctx, other); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("another family with the same id = %v, want ErrConflict", err)
		}
		wantCheck(t, s, nr.Family.ID, nr.TokenHash, nil)
	})
	t.Run("family index delivered twice", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		rdb, key := indexOf(t, s, "u1")
		legacy := legacyKeyOf(t, s, "u1")
		now := time.Now()
		nr := storage.NewRefresh{Family: storage.RefreshFamily{
			ID: newID(), ClientID: "web", UserID: "u1", Scope: []string{"openid"},
			AuthTime: ms(now), CreatedAt: ms(now), ExpiresAt: ms(now.Add(time.Hour)),
		}, TokenHash: newHash(), Sliding: time.Hour}
		for i := range 2 { // indexFamily (and createFamily) twice
			if err := s.CreateFamily(ctx, nr); err != nil {
				t.Fatalf("CreateFamily delivery %d = %v", i+1, err)
			}
		}
		if got, want := indexedIDs(t, rdb, key), sortedIDs(nr.Family.ID); !slices.Equal(got, want) {
			t.Fatalf("index after a double delivery = %v, want %v", got, want)
		}
		// An older instance's families, in the legacy hash: one alive,
		// one gone.
		old, oldHash := oldLogin(t, s, newClock(), "u1", "web", time.Hour)
		gone := newID()
		legacyHSet(t, rdb, legacy, time.Hour, gone, "web")
		for i := range 2 { // the fold, the HDEL, the revocations and the prune twice
			revoked, err := s.RevokeUserFamilies(ctx, "u1", "")
			if err != nil || !sameIDs(revoked, nr.Family.ID, old.ID) {
				t.Fatalf("RevokeUserFamilies delivery %d = %v, %v; want %s %s", i+1, familyIDs(revoked), err, nr.Family.ID, old.ID)
			}
		}
		if got, want := indexedIDs(t, rdb, key), sortedIDs(nr.Family.ID, old.ID); !slices.Equal(got, want) {
			t.Fatalf("index after revoking twice = %v, want %v", got, want)
		}
		if n := rdb.Exists(ctx, legacy).Val(); n != 0 {
			t.Fatalf("legacy index left after revoking: %v", rdb.HGetAll(ctx, legacy).Val())
		}
		// The fold delivered again, its HDEL not (a crash between the
		// two, which are in different slots): the ids are in both keys,
		// and the next call folds them once more and empties the hash.
		legacyHSet(t, rdb, legacy, time.Hour, old.ID, "web", gone, "web")
		revoked, err := s.RevokeUserFamilies(ctx, "u1", "")
		if err != nil || !sameIDs(revoked, nr.Family.ID, old.ID) {
			t.Fatalf("RevokeUserFamilies after an unfinished one = %v, %v; want %s %s", familyIDs(revoked), err, nr.Family.ID, old.ID)
		}
		if got, want := indexedIDs(t, rdb, key), sortedIDs(nr.Family.ID, old.ID); !slices.Equal(got, want) {
			t.Fatalf("index after folding twice = %v, want %v", got, want)
		}
		// The HDEL delivered again after an older instance indexed
		// another family: it deletes only the fields it names.
		later, laterHash := oldLogin(t, s, newClock(), "u1", "cli", time.Hour)
		if err := rdb.HDel(ctx, legacy, old.ID, gone).Err(); err != nil {
			t.Fatal(err)
		}
		if got := rdb.HGetAll(ctx, legacy).Val(); len(got) != 1 || got[later.ID] != "cli" {
			t.Fatalf("legacy index after a second HDEL = %v, want the later family", got)
		}
		revoked, err = s.RevokeUserFamilies(ctx, "u1", "")
		if err != nil || !sameIDs(revoked, nr.Family.ID, old.ID, later.ID) {
			t.Fatalf("RevokeUserFamilies = %v, %v; want %s %s %s", familyIDs(revoked), err, nr.Family.ID, old.ID, later.ID)
		}
		wantCheck(t, s, nr.Family.ID, nr.TokenHash, storage.ErrRevoked)
		wantCheck(t, s, old.ID, oldHash, storage.ErrRevoked)
		wantCheck(t, s, later.ID, laterHash, storage.ErrRevoked)
	})
	t.Run("records created twice", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		c := &storage.Client{ID: "c-" + newID(), GrantTypes: []string{"client_credentials"}, Scopes: []string{"a"}}
		u := &storage.User{Username: "u-" + newID(), PasswordHash: "x", Roles: []string{"user"}}
		cm := &storage.Comment{UserID: "u1", Message: "once"}
		r := &storage.Resource{ID: "https://" + newID() + ".example", Scopes: []string{"a"}}
		for i := range 2 {
			if err := s.CreateClient(ctx, c); err != nil {
				t.Fatalf("CreateClient delivery %d = %v", i+1, err)
			}
			if err := s.CreateResource(ctx, r); err != nil {
				t.Fatalf("CreateResource delivery %d = %v", i+1, err)
			}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatalf("CreateUser delivery %d = %v", i+1, err)
			}
			if err := s.CreateComment(ctx, cm); err != nil {
				t.Fatalf("CreateComment delivery %d = %v", i+1, err)
			}
		}
		page, err := s.ListComments(ctx, 10, "")
		if err != nil || len(page.Comments) != 1 {
			t.Fatalf("comments after a double delivery = %+v, %v; want one", page, err)
		}
		u2 := *u
		u2.ID, u2.PasswordHash = "", "y"
		if err := s.CreateUser(ctx, &u2); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("another user with the same name = %v, want ErrConflict", err)
		}
	})
	t.Run("signing keys decided twice", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		now := ms(time.Now())
		proposal := []*storage.SigningKey{
			{ID: "next-" + newID(), Algorithm: "RS256", State: "next", Material: []byte{1}, CreatedAt: now},
			{ID: "active-" + newID(), Algorithm: "RS256", State: "active", Material: []byte{2}, CreatedAt: now, ActivatedAt: now},
		}
		for i := range 2 {
			if won, err := s.PutSigningKeysUnless(ctx, "RS256", "active", proposal...); err != nil || !won {
				t.Fatalf("delivery %d = %v, %v; want stored", i+1, won, err)
			}
		}
		if list, err := s.ListSigningKeys(ctx); err != nil || len(list) != 2 {
			t.Fatalf("keys after a double delivery = %+v, %v; want the two proposed", list, err)
		}
	})
	t.Run("revocations delivered twice", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		f, h := family(t, s, "u1", "web", time.Hour, time.Hour)
		for range 2 {
			if _, err := s.RevokeFamily(ctx, f.ID); err != nil {
				t.Fatal(err)
			}
		}
		wantCheck(t, s, f.ID, h, storage.ErrRevoked)
		jti, exp := newID(), time.Now().Add(time.Hour)
		c := storage.Cutoff{Principal: storage.SubjectCutoff("u-" + newID()), NotBefore: time.Now(), Until: exp}
		for range 2 {
			if err := s.RevokeJTI(ctx, jti, exp); err != nil {
				t.Fatal(err)
			}
			if err := s.SetCutoff(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		cuts, err := s.Cutoffs(ctx)
		if err != nil || !cuts[c.Principal].NotBefore.Equal(ms(c.NotBefore)) {
			t.Fatalf("cutoff after a double delivery = %+v, %v", cuts[c.Principal], err)
		}
	})
	t.Run("lost answer: a retry with the same token gets the same successor", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		f, h := family(t, s, "u1", "web", time.Hour, time.Hour)
		grace := 30 * time.Second
		r := rotation(f.ID, h, grace)
		if _, err := s.Rotate(ctx, r); err != nil {
			t.Fatal(err)
		}
		// The client never saw that answer and retries: a new request,
		// with a new successor of its own, and the same old token.
		retry := rotation(f.ID, h, grace)
		res, err := s.Rotate(ctx, retry)
		if err != nil || !bytes.Equal(res.GraceSuccessor, r.Successor) {
			t.Fatalf("retry = %+v, %v; want the first rotation's successor", res, err)
		}
		wantCheck(t, s, f.ID, r.NewHash, nil)
		next := rotate(t, s, f.ID, r.NewHash)
		// Once the successor was used, the old token is reuse again.
		if _, err := s.Rotate(ctx, rotation(f.ID, h, grace)); !errors.Is(err, storage.ErrRefreshReused) {
			t.Fatalf("old token after its successor was used = %v, want ErrRefreshReused", err)
		}
		wantCheck(t, s, f.ID, next, storage.ErrRevoked)
	})
	t.Run("logout settled twice", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		now := time.Now()
		d := &storage.LogoutDelivery{ID: newID(), ClientID: "web", Subject: "u1", CreatedAt: now.UTC()}
		if err := s.EnqueueLogouts(ctx, []*storage.LogoutDelivery{d}, now); err != nil {
			t.Fatal(err)
		}
		claimed, err := s.ClaimLogouts(ctx, now, time.Minute, 1)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim = %v, %v", claimed, err)
		}
		c := claimed[0]
		c.LastError = "503"
		for i := range 2 {
			if err := s.RetryLogout(ctx, c, now.Add(time.Second)); err != nil {
				t.Fatalf("retry delivery %d = %v, want the first answer", i+1, err)
			}
		}
		again, err := s.ClaimLogouts(ctx, now.Add(time.Second), time.Minute, 1)
		if err != nil || len(again) != 1 || again[0].Attempts != 2 || again[0].LastError != "503" {
			t.Fatalf("claim after a retry delivered twice = %+v, %v", again, err)
		}
		// The first holder's settling is refused now that another holds it.
		if err := s.RetryLogout(ctx, c, now.Add(time.Second)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("retry by the old holder = %v, want ErrNotFound", err)
		}
		for i := range 2 {
			if err := s.FinishLogout(ctx, again[0]); err != nil {
				t.Fatalf("finish delivery %d = %v, want the first answer", i+1, err)
			}
		}
		if got, _ := s.ClaimLogouts(ctx, now.Add(time.Hour), time.Minute, 1); len(got) != 0 {
			t.Fatalf("a finished delivery came back: %+v", got)
		}
	})
	t.Run("user clients remembered and forgotten twice", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		uid, until := newID(), ms(time.Now().Add(time.Hour))
		want := []storage.UserClient{{ClientID: "web", Until: until}, {ClientID: "web", SID: "s1", Until: until}}
		for _, c := range want {
			for range 2 {
				if err := s.RememberUserClient(ctx, uid, c.ClientID, c.SID, c.Until); err != nil {
					t.Fatalf("remember delivered again = %v", err)
				}
			}
		}
		got, err := s.UserClients(ctx, uid)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("after a double delivery = %+v, %v; want %+v", got, err, want)
		}
		for range 2 {
			if err := s.ForgetUserClients(ctx, uid, got); err != nil {
				t.Fatalf("forget delivered again = %v", err)
			}
		}
		if got, _ := s.UserClients(ctx, uid); len(got) != 0 {
			t.Fatalf("after forgetting twice = %+v", got)
		}
	})
}
