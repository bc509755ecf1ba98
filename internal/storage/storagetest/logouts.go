package storagetest

import (
	"errors"
	"slices"
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
		if err := s.SaveSessionLogin(ctx, l); err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"b", "a", "b"} {
			if err := s.AddSessionClient(ctx, sid, c); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetSessionLogin(ctx, sid)
		if err != nil || got.UserID != uid || got.SessionHash != l.SessionHash || !slices.Equal(got.Clients, []string{"a", "b"}) {
			t.Fatalf("got %+v, %v", got, err)
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
		if err := s.AddSessionClient(ctx, sid, "c"); !errors.Is(err, storage.ErrNotFound) {
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
		if err := s.SaveSessionLogin(ctx, &storage.SessionLogin{SID: sid, UserID: uid, ExpiresAt: exp}); err != nil {
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
