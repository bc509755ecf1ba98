package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// testSessionLogins: the sid index back-channel logout reads (OIDC
// Back-Channel Logout 1.0 §2.3).
func testSessionLogins(t *testing.T, newStore NewStore) {
	t.Run("a session remembers its clients until it is deleted", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		uid, sid := newID(), newID()
		l := &storage.SessionLogin{SID: sid, UserID: uid, SessionHash: newHash(), ExpiresAt: time.Now().Add(time.Hour)}
		if _, err := s.SaveSessionLogin(ctx, l); err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"b", "a", "b"} {
			if err := s.AddSessionClient(ctx, sid, c, "gen-"+c); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetSessionLogin(ctx, sid)
		if err != nil || got.UserID != uid || got.SessionHash != l.SessionHash || !slices.Equal(got.Clients, []string{"a", "b"}) {
			t.Fatalf("got %+v, %v", got, err)
		}
		// The clients' generations are kept: a deleted client of the same
		// id registered again did not sign in through the session.
		for _, tc := range []struct {
			client *storage.Client
			want   bool
		}{
			{&storage.Client{ID: "a", Generation: "gen-a"}, true},
			{&storage.Client{ID: "a", Generation: "gen-a2"}, false},
			{&storage.Client{ID: "a"}, false},
			{&storage.Client{ID: "c", Generation: "gen-c"}, false},
		} {
			if got.SignedIn(tc.client) != tc.want {
				t.Errorf("SignedIn(%+v) = %v, want %v", tc.client, !tc.want, tc.want)
			}
		}
		// An entry an older version wrote ("1") has no generation: it
		// counts as the current client's, as it did.
		rb := redisOf(t, s)
		if err := rb.Redis().HSet(ctx, rb.Prefix()+"login:"+sid, "c:old", "1").Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetSessionLogin(ctx, sid); err != nil || !got.SignedIn(&storage.Client{ID: "old", Generation: "any"}) {
			t.Fatalf("an older version's entry: %+v, %v", got, err)
		}
		all, err := s.UserSessionLogins(ctx, uid)
		if err != nil || len(all) != 1 || all[0].SID != sid {
			t.Fatalf("user sessions %+v, %v", all, err)
		}
		if err := s.DeleteSessionLogin(ctx, uid, sid); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetSessionLogin(ctx, sid); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := s.AddSessionClient(ctx, sid, "c", ""); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a client joined an ended session: %v", err)
		}
		if all, _ := s.UserSessionLogins(ctx, uid); len(all) != 0 {
			t.Fatalf("user sessions after delete: %+v", all)
		}
		if err := s.DeleteSessionLogin(ctx, uid, sid); err != nil {
			t.Fatalf("delete is not idempotent: %v", err)
		}
	})
	t.Run("an expired session is gone", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		uid, sid := newID(), newID()
		exp := time.Now().Add(300 * time.Millisecond)
		if _, err := s.SaveSessionLogin(ctx, &storage.SessionLogin{SID: sid, UserID: uid, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		sleepUntil(exp.Add(50 * time.Millisecond))
		if _, err := s.GetSessionLogin(ctx, sid); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("got %v", err)
		}
		if all, _ := s.UserSessionLogins(ctx, uid); len(all) != 0 {
			t.Fatalf("user sessions: %+v", all)
		}
	})
}

// testUserSessionIndex: the per-user index of signed-in sessions that the
// account page lists and "sign out everywhere" ends is bounded, pruned of
// ended sessions and expires with its latest one; GetSessions reads the
// sessions it points to in one step.
func testUserSessionIndex(t *testing.T, newStore NewStore) {
	t.Run("beyond the bound the oldest sessions are handed back to end", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		uid := newID()
		base := time.Now().Add(time.Hour)
		sids := make([]string, storage.MaxUserSessions+2)
		for i := range sids {
			sids[i] = newID()
			// Later sign-ins end later (the same absolute lifetime).
			over, err := s.SaveSessionLogin(ctx, &storage.SessionLogin{SID: sids[i], UserID: uid, ExpiresAt: base.Add(time.Duration(i) * time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case i < storage.MaxUserSessions && len(over) != 0:
				t.Fatalf("sign-in %d: %v over the bound", i, over)
			case i == storage.MaxUserSessions && !slices.Equal(over, sids[:1]):
				t.Fatalf("sign-in %d: over = %v, want the oldest %v", i, over, sids[:1])
			}
			if i == storage.MaxUserSessions {
				// The caller ends it, which takes it out of the index.
				if err := s.DeleteSessionLogin(ctx, uid, over[0]); err != nil {
					t.Fatal(err)
				}
			}
		}
		all, err := s.UserSessionLogins(ctx, uid)
		if err != nil || len(all) != storage.MaxUserSessions+1 {
			t.Fatalf("%d sessions listed, %v", len(all), err)
		}
		rb := redisOf(t, s)
		if n := rb.Redis().ZCard(ctx, rb.Prefix()+"user-logins:"+uid).Val(); n != int64(storage.MaxUserSessions+1) {
			t.Fatalf("index holds %d", n)
		}
	})
	t.Run("the index is pruned of ended sessions and expires with its latest", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		uid := newID()
		soon := time.Now().Add(300 * time.Millisecond)
		if _, err := s.SaveSessionLogin(ctx, &storage.SessionLogin{SID: newID(), UserID: uid, ExpiresAt: soon}); err != nil {
			t.Fatal(err)
		}
		rb := redisOf(t, s)
		key := rb.Prefix() + "user-logins:" + uid
		if ttl := rb.Redis().PTTL(ctx, key).Val(); ttl <= 0 || ttl > time.Second {
			t.Fatalf("index TTL %v, want the session's 300ms", ttl)
		}
		sleepUntil(soon.Add(50 * time.Millisecond))
		later := newID()
		if _, err := s.SaveSessionLogin(ctx, &storage.SessionLogin{SID: later, UserID: uid, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if got := rb.Redis().ZRange(ctx, key, 0, -1).Val(); !slices.Equal(got, []string{later}) {
			t.Fatalf("index %v, want only the live session", got)
		}
		if ttl := rb.Redis().PTTL(ctx, key).Val(); ttl < 59*time.Minute {
			t.Fatalf("index TTL %v, want the latest session's hour", ttl)
		}
	})
	t.Run("GetSessions reads each session or nil", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		live, gone := newHash(), newHash()
		sess := &storage.BrowserSession{UserID: newID(), Device: "Firefox on Linux", IP: "192.0.2.1", ExpiresAt: time.Now().Add(time.Hour)}
		if err := s.SaveSession(ctx, live, sess, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSessions(ctx, []string{gone, live})
		if err != nil || len(got) != 2 || got[0] != nil || got[1] == nil || got[1].Device != sess.Device || got[1].IP != sess.IP {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
}

// testLogoutQueue: deliveries are queued once, claimed by one caller at a
// time, retried and finished only by the lease holder, and claimed again
// when a lease runs out (its holder died).
func testLogoutQueue(t *testing.T, newStore NewStore) {
	delivery := func(client string) *storage.LogoutDelivery {
		return &storage.LogoutDelivery{ID: newID(), ClientID: client, Subject: "u1", SID: "s1", CreatedAt: ms(time.Now())}
	}
	t.Run("enqueue is idempotent and all-or-nothing", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		a, b := delivery("a"), delivery("b")
		now := time.Now()
		for range 2 {
			if err := s.EnqueueLogouts(ctx, []*storage.LogoutDelivery{a, b}, now); err != nil {
				t.Fatal(err)
			}
		}
		bad := []*storage.LogoutDelivery{delivery("c"), {ID: newID()}}
		if err := s.EnqueueLogouts(ctx, bad, now); err == nil {
			t.Fatal("a delivery without a client was queued")
		}
		got, err := s.ClaimLogouts(ctx, now, time.Minute, 10)
		if err != nil || len(got) != 2 {
			t.Fatalf("claimed %d, %v; want the 2 queued once", len(got), err)
		}
		for _, d := range got {
			if d.Attempts != 1 || d.Lease == "" || d.Subject != "u1" || d.SID != "s1" || !d.CreatedAt.Equal(a.CreatedAt) {
				t.Fatalf("claimed %+v", d)
			}
		}
	})
	t.Run("nothing is claimed before it is due", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		now := time.Now()
		if err := s.EnqueueLogouts(ctx, []*storage.LogoutDelivery{delivery("a")}, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ClaimLogouts(ctx, now, time.Minute, 10); err != nil || len(got) != 0 {
			t.Fatalf("claimed %d, %v", len(got), err)
		}
		if got, _ := s.ClaimLogouts(ctx, now.Add(time.Minute), time.Minute, 10); len(got) != 1 {
			t.Fatalf("claimed %d when due", len(got))
		}
	})
	t.Run("racing claimers never share a delivery", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		var ds []*storage.LogoutDelivery
		for range 40 {
			ds = append(ds, delivery("a"))
		}
		now := time.Now()
		if err := s.EnqueueLogouts(ctx, ds, now); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		race(8, func(int) {
			for {
				got, err := s.ClaimLogouts(ctx, now, time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		})
		if len(seen) != len(ds) {
			t.Fatalf("claimed %d distinct deliveries, want %d", len(seen), len(ds))
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("delivery %s claimed %d times", id, n)
			}
		}
	})
	t.Run("only the lease holder settles; a lapsed lease is claimed again", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		now := time.Now()
		if err := s.EnqueueLogouts(ctx, []*storage.LogoutDelivery{delivery("a")}, now); err != nil {
			t.Fatal(err)
		}
		first, _ := s.ClaimLogouts(ctx, now, time.Second, 1)
		if len(first) != 1 {
			t.Fatal("nothing claimed")
		}
		if got, _ := s.ClaimLogouts(ctx, now.Add(500*time.Millisecond), time.Second, 1); len(got) != 0 {
			t.Fatal("claimed during another's lease")
		}
		// The first holder "died": after its lease another claims it.
		second, _ := s.ClaimLogouts(ctx, now.Add(2*time.Second), time.Second, 1)
		if len(second) != 1 || second[0].Attempts != 2 || second[0].Lease == first[0].Lease {
			t.Fatalf("reclaimed %+v", second)
		}
		if err := s.FinishLogout(ctx, first[0]); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the old holder finished it: %v", err)
		}
		if err := s.RetryLogout(ctx, first[0], now); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the old holder retried it: %v", err)
		}
		d := second[0]
		d.LastError = "503"
		if err := s.RetryLogout(ctx, d, now.Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.ClaimLogouts(ctx, now.Add(5*time.Second), time.Second, 1); len(got) != 0 {
			t.Fatal("claimed before its retry is due")
		}
		third, _ := s.ClaimLogouts(ctx, now.Add(10*time.Second), time.Second, 1)
		if len(third) != 1 || third[0].Attempts != 3 || third[0].LastError != "503" {
			t.Fatalf("retried %+v", third)
		}
		if err := s.FinishLogout(ctx, third[0]); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.ClaimLogouts(ctx, now.Add(time.Hour), time.Second, 1); len(got) != 0 {
			t.Fatal("a finished delivery came back")
		}
	})
}

// testUserClients: the per-user memory of relying parties that may
// outlive the browser session they signed in through.
func testUserClients(t *testing.T, newStore NewStore) {
	t.Run("remembered until the latest until, sorted, then forgotten", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		uid := newID()
		later, sooner := ms(time.Now().Add(2*time.Hour)), ms(time.Now().Add(time.Hour))
		for _, c := range []storage.UserClient{{ClientID: "b", Until: sooner}, {ClientID: "a", Until: sooner}, {ClientID: "b", Until: later}, {ClientID: "a", Until: sooner.Add(-time.Minute)}} {
			if err := s.RememberUserClient(ctx, uid, c.ClientID, c.SID, c.Until); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.UserClients(ctx, uid)
		want := []storage.UserClient{{ClientID: "a", Until: sooner}, {ClientID: "b", Until: later}}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("UserClients = %+v, %v; want %+v", got, err, want)
		}
		if other, _ := s.UserClients(ctx, newID()); len(other) != 0 {
			t.Fatalf("another user's: %+v", other)
		}
		// b signed in again after it was read: forgetting what was read
		// keeps it.
		if err := s.RememberUserClient(ctx, uid, "b", "", later.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.ForgetUserClients(ctx, uid, got); err != nil {
			t.Fatal(err)
		}
		got, err = s.UserClients(ctx, uid)
		if err != nil || !slices.Equal(got, []storage.UserClient{{ClientID: "b", Until: later.Add(time.Minute)}}) {
			t.Fatalf("after forgetting: %+v, %v", got, err)
		}
	})
	t.Run("one entry per client and sid, sids kept apart", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		uid := newID()
		later, sooner := ms(time.Now().Add(2*time.Hour)), ms(time.Now().Add(time.Hour))
		// A client id may hold a space: the sid, which never does, is
		// what follows the last one.
		for _, c := range []storage.UserClient{
			{ClientID: "web", SID: "s2", Until: sooner}, {ClientID: "web", SID: "s1", Until: later},
			{ClientID: "web", Until: sooner}, {ClientID: "my app", SID: "s1", Until: sooner},
			{ClientID: "web", SID: "s2", Until: later}, {ClientID: "web", SID: "s1", Until: sooner},
		} {
			if err := s.RememberUserClient(ctx, uid, c.ClientID, c.SID, c.Until); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.UserClients(ctx, uid)
		want := []storage.UserClient{{ClientID: "my app", SID: "s1", Until: sooner},
			{ClientID: "web", Until: sooner}, {ClientID: "web", SID: "s1", Until: later}, {ClientID: "web", SID: "s2", Until: later}}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("UserClients = %+v, %v; want %+v", got, err, want)
		}
		// Forgetting one session's entry keeps the client's others, and
		// the same sid of another client.
		if err := s.ForgetUserClients(ctx, uid, []storage.UserClient{got[2]}); err != nil {
			t.Fatal(err)
		}
		got, err = s.UserClients(ctx, uid)
		if want := slices.Delete(slices.Clone(want), 2, 3); err != nil || !slices.Equal(got, want) {
			t.Fatalf("after forgetting (web, s1): %+v, %v; want %+v", got, err, want)
		}
		// The count bounds entries, not clients.
		base := time.Now().Add(3 * time.Hour)
		for i := range storage.MaxUserClients {
			if err := s.RememberUserClient(ctx, uid, "web", fmt.Sprintf("x%03d", i), base.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		got, _ = s.UserClients(ctx, uid)
		if len(got) != storage.MaxUserClients || slices.ContainsFunc(got, func(c storage.UserClient) bool { return c.SID == "s2" || c.ClientID == "my app" }) {
			t.Fatalf("%d entries %+v; want the %d ending last", len(got), got, storage.MaxUserClients)
		}
	})
	t.Run("bounded in time and number", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		uid := newID()
		if err := s.RememberUserClient(ctx, uid, "far", "", time.Now().Add(100*storage.MaxUserClientLife)); err != nil {
			t.Fatal(err)
		}
		if err := s.RememberUserClient(ctx, uid, "past", "", time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		got, _ := s.UserClients(ctx, uid)
		if len(got) != 1 || got[0].ClientID != "far" || got[0].Until.After(time.Now().Add(storage.MaxUserClientLife)) {
			t.Fatalf("UserClients = %+v, want far, capped", got)
		}
		rb := redisOf(t, s)
		ttl, err := rb.Redis().PTTL(ctx, rb.Prefix()+"user-clients:"+uid).Result()
		if err != nil || ttl <= 0 || ttl > storage.MaxUserClientLife {
			t.Fatalf("TTL %v, %v", ttl, err)
		}
		base := time.Now().Add(time.Hour)
		for i := range storage.MaxUserClients + 5 {
			if err := s.RememberUserClient(ctx, uid, fmt.Sprintf("c%03d", i), "", base.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		got, _ = s.UserClients(ctx, uid)
		if len(got) != storage.MaxUserClients || !slices.ContainsFunc(got, func(c storage.UserClient) bool { return c.ClientID == "far" }) ||
			slices.ContainsFunc(got, func(c storage.UserClient) bool { return c.ClientID == "c005" }) {
			t.Fatalf("%d entries %+v; want the %d ending last", len(got), got, storage.MaxUserClients)
		}
	})
	t.Run("an ended entry is gone and the key with it", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		uid := newID()
		until := time.Now().Add(300 * time.Millisecond)
		if err := s.RememberUserClient(ctx, uid, "a", "", until); err != nil {
			t.Fatal(err)
		}
		sleepUntil(until.Add(50 * time.Millisecond))
		if got, _ := s.UserClients(ctx, uid); len(got) != 0 {
			t.Fatalf("UserClients = %+v", got)
		}
		rb := redisOf(t, s)
		if !eventually(func() bool { return rb.Redis().Exists(ctx, rb.Prefix()+"user-clients:"+uid).Val() == 0 }) {
			t.Fatal("the key outlived its entries")
		}
	})
	t.Run("refused ids", func(t *testing.T) {
		parallel(t)
		s, ctx := newStore(t), ctxFor(t)
		if err := s.RememberUserClient(ctx, "", "a", "", time.Now().Add(time.Hour)); err == nil {
			t.Fatal("empty user accepted")
		}
		if err := s.RememberUserClient(ctx, "u", strings.Repeat("c", storage.MaxIDLen+1), "", time.Now().Add(time.Hour)); err == nil {
			t.Fatal("a client id longer than MaxIDLen accepted")
		}
		if err := s.RememberUserClient(ctx, "u", "a", strings.Repeat("s", storage.MaxIDLen+1), time.Now().Add(time.Hour)); err == nil {
			t.Fatal("a sid longer than MaxIDLen accepted")
		}
		if err := s.RememberUserClient(ctx, "u", "a", "s 1", time.Now().Add(time.Hour)); err == nil {
			t.Fatal("a sid with a space accepted")
		}
	})
}
