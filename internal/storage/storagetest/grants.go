package storagetest

import (
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// testGrants checks UserGrants: a user's grants by client, whatever made
// them (a remembered consent, live refresh families, or both), and only
// live ones. Time moves on the store's clock.
func testGrants(t *testing.T, newStoreAt NewStoreAt) {
	t.Run("nothing granted", func(t *testing.T) {
		parallel(t)
		s := newStoreAt(t, nil)
		wantGrants(t, s, "u1", false)
	})
	t.Run("consents and families by client", func(t *testing.T) {
		parallel(t)
		c := newClock()
		s, ctx := newStoreAt(t, c.Now), ctxFor(t)
		start := c.Now()
		// A remembered consent without any family (an app that never
		// asked for offline_access).
		consentOnly := &storage.Consent{UserID: "u1", ClientID: "consent-only", Scope: []string{"openid", "profile"}, GrantedAt: start}
		// A remembered consent whose families hold one scope more than it
		// (granted before the consent was narrowed).
		both := &storage.Consent{UserID: "u1", ClientID: "both", Scope: []string{"profile", "openid"}, GrantedAt: start.Add(-time.Hour)}
		for _, cs := range []*storage.Consent{consentOnly, both,
			{UserID: "u2", ClientID: "first-party", Scope: []string{"openid"}}} {
			if err := s.SaveConsent(ctx, cs); err != nil {
				t.Fatal(err)
			}
		}
		familyAt(t, s, c, "u1", "both", time.Hour, "openid", "offline_access")
		// A first-party app: families, no consent; two logins, the
		// second with one scope more.
		familyAt(t, s, c, "u1", "first-party", 2*time.Hour, "openid", "offline_access")
		c.add(time.Minute)
		familyAt(t, s, c, "u1", "first-party", time.Hour, "openid", "offline_access", "comments:read")
		later := c.Now()
		familyAt(t, s, c, "u2", "other-users", time.Hour, "openid")
		wantGrants(t, s, "u1", false,
			storage.Grant{ClientID: "both", Scope: []string{"profile", "openid", "offline_access"}, Remembered: true,
				GrantedAt: both.GrantedAt, Families: 1, LastAuth: start},
			storage.Grant{ClientID: "consent-only", Scope: []string{"openid", "profile"}, Remembered: true, GrantedAt: start},
			storage.Grant{ClientID: "first-party", Scope: []string{"openid", "offline_access", "comments:read"},
				GrantedAt: start, Families: 2, LastAuth: later},
		)
	})
	t.Run("an earlier registration's grants are not listed", func(t *testing.T) {
		parallel(t)
		c := newClock()
		s, ctx := newStoreAt(t, c.Now), ctxFor(t)
		app := &storage.Client{ID: "app", SecretHash: "x", GrantTypes: []string{"authorization_code"}}
		if err := s.CreateClient(ctx, app); err != nil {
			t.Fatal(err)
		}
		old, err := s.GetClient(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		cs := &storage.Consent{UserID: "u1", ClientID: "app", Scope: []string{"openid"}, GrantedAt: c.Now(), ClientGeneration: old.Generation}
		if err := s.SaveConsent(ctx, cs); err != nil {
			t.Fatal(err)
		}
		f := familyRecord("u1", "app", time.Hour)
		f.ClientGeneration = old.Generation
		if err := s.CreateFamily(ctx, storage.NewRefresh{Family: f, TokenHash: newHash()}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.UserGrants(ctx, "u1"); err != nil || len(got.Grants) != 1 || got.Grants[0].Families != 1 {
			t.Fatalf("before the client is deleted: %+v, %v", got, err)
		}
		// Deleted and registered again: a new registration, which holds
		// none of the old one's grants (RFC 6749 §10.4).
		if err := s.DeleteClient(ctx, "app"); err != nil {
			t.Fatal(err)
		}
		app.Generation = ""
		if err := s.CreateClient(ctx, app); err != nil {
			t.Fatal(err)
		}
		wantGrants(t, s, "u1", false)
	})
	t.Run("only live families count", func(t *testing.T) {
		parallel(t)
		c := newClock()
		s, ctx := newStoreAt(t, c.Now), ctxFor(t)
		rdb := redisOf(t, s).Redis()
		start := c.Now()
		revoked, _ := familyAt(t, s, c, "u1", "revoked", time.Hour, "openid")
		if _, err := s.RevokeFamily(ctx, revoked.ID); err != nil {
			t.Fatal(err)
		}
		gone, _ := familyAt(t, s, c, "u1", "gone", time.Hour, "openid")
		// Its record expired (sliding) while its index entry, scored by
		// the absolute expiry, stays.
		if err := rdb.Del(ctx, redisOf(t, s).Prefix()+"rt:{"+gone.ID+"}").Err(); err != nil {
			t.Fatal(err)
		}
		familyAt(t, s, c, "u1", "short", time.Minute, "openid")
		familyAt(t, s, c, "u1", "web", time.Minute, "openid")
		c.add(time.Second)
		web, _ := familyAt(t, s, c, "u1", "web", time.Hour, "profile")
		second := c.Now()
		wantGrants(t, s, "u1", false,
			storage.Grant{ClientID: "short", Scope: []string{"openid"}, GrantedAt: start, Families: 1, LastAuth: start},
			storage.Grant{ClientID: "web", Scope: []string{"openid", "profile"}, GrantedAt: start, Families: 2, LastAuth: second})
		c.add(2 * time.Minute) // past the absolute expiry of the short ones
		wantGrants(t, s, "u1", false,
			storage.Grant{ClientID: "web", Scope: []string{"profile"}, GrantedAt: second, Families: 1, LastAuth: second})
		wantRevoked(t, s, "u1", "web", web.ID)
		wantGrants(t, s, "u1", false)
	})
	t.Run("families an older version indexed count", func(t *testing.T) {
		parallel(t)
		c := newClock()
		s := newStoreAt(t, c.Now)
		start := c.Now()
		oldLogin(t, s, c, "u1", "web", time.Hour)
		familyAt(t, s, c, "u1", "web", time.Hour)
		wantGrants(t, s, "u1", false,
			storage.Grant{ClientID: "web", Scope: []string{"openid", "offline_access"}, GrantedAt: start, Families: 2, LastAuth: start})
	})
	t.Run("beyond MaxGrantFamilies the newest logins are read", func(t *testing.T) {
		parallel(t)
		c := newClock()
		s, ctx := newStoreAt(t, c.Now), ctxFor(t)
		rdb, key := indexOf(t, s, "u1")
		start := c.Now()
		familyAt(t, s, c, "u1", "oldest", 2*time.Hour, "openid")
		newest, _ := familyAt(t, s, c, "u1", "newest", 4*time.Hour, "openid")
		if err := s.SaveConsent(ctx, &storage.Consent{UserID: "u1", ClientID: "oldest", Scope: []string{"profile"}, GrantedAt: start}); err != nil {
			t.Fatal(err)
		}
		// Index entries that expire between the two (their records need
		// not exist: reading them is the work being bounded).
		members := make([]redis.Z, storage.MaxGrantFamilies)
		for i := range members {
			members[i] = redis.Z{Score: float64(start.Add(3 * time.Hour).UnixMilli()), Member: "filler" + strconv.Itoa(i)}
		}
		if err := rdb.ZAdd(ctx, key, members...).Err(); err != nil {
			t.Fatal(err)
		}
		// The oldest login is not read: its client is listed for its
		// remembered consent only.
		wantGrants(t, s, "u1", true,
			storage.Grant{ClientID: "newest", Scope: []string{"openid"}, GrantedAt: newest.CreatedAt, Families: 1, LastAuth: start},
			storage.Grant{ClientID: "oldest", Scope: []string{"profile"}, Remembered: true, GrantedAt: start})
	})
}

// wantGrants checks the user's grants, times compared to the millisecond.
func wantGrants(t *testing.T, s storage.GrantStore, userID string, partial bool, want ...storage.Grant) {
	t.Helper()
	got, err := s.UserGrants(ctxFor(t), userID)
	if err != nil {
		t.Fatalf("UserGrants(%s): %v", userID, err)
	}
	for i := range got.Grants {
		got.Grants[i].GrantedAt, got.Grants[i].LastAuth = ms(got.Grants[i].GrantedAt), ms(got.Grants[i].LastAuth)
	}
	for i := range want {
		want[i].GrantedAt, want[i].LastAuth = ms(want[i].GrantedAt), ms(want[i].LastAuth)
	}
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(got.Grants, want) || got.Partial != partial {
		t.Fatalf("UserGrants(%s) = %+v (partial %v)\nwant %+v (partial %v)", userID, got.Grants, got.Partial, want, partial)
	}
}
